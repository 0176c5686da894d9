// titan-bench's protocol modules: how one request is written and how a complete reply
// is recognised, for the client side, plus a minimal answering side for the echo
// ceiling server. One small class per protocol (dict now; Postfix policy, socketmap and
// Dovecot auth-client fit the same shape). No I/O here: the load generator and the echo
// server own the sockets. Layer: tests/bench (titan_proto, titan_base).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace titan::bench {

// How a complete reply answered the lookup.
enum class Outcome { Found, NotFound, Fail };

// What the front of the received bytes holds.
struct Scan {
    enum class Status { NeedMore, Complete, Invalid };
    Status status = Status::NeedMore;
    std::size_t consumed = 0;  // Complete: bytes of the reply, terminator included
    Outcome outcome = Outcome::Found;
    std::string error;  // Invalid: why (no peer data quoted)

    static Scan needMore() { return {}; }
    static Scan complete(std::size_t n, Outcome o) { return {Status::Complete, n, o, {}}; }
    static Scan invalid(std::string why) { return {Status::Invalid, 0, Outcome::Fail, std::move(why)}; }
};

// Client state of one connection. The load generator may keep several requests in
// flight on a connection (--pipeline) and matches replies to them in order; a protocol
// whose server may answer out of order must be run with one request in flight.
class ClientSession {
public:
    virtual ~ClientSession() = default;
    // Bytes sent once, right after the connection is established (dict: the hello).
    virtual void appendGreeting(std::string& out) { (void)out; }
    // True if the server answers the greeting and requests must wait for that answer
    // (Dovecot auth-client's handshake). Then scanGreeting() recognises the answer.
    virtual bool awaitsGreetingReply() const { return false; }
    virtual Scan scanGreeting(std::string_view in) { (void)in; return Scan::complete(0, Outcome::Found); }
    // One request. `prepared` is Protocol::prepareRequest(key); sessions whose requests
    // carry per-connection state (ids) add it here.
    virtual void appendRequest(std::string& out, std::string_view prepared) { out.append(prepared); }
    // Recognise one complete reply at the front of `in`.
    virtual Scan scanReply(std::string_view in) = 0;
};

// Answering side of the echo ceiling server for one connection: consumes complete
// requests from `in`, appends one fixed reply per request to `out`, and returns the
// bytes consumed. Returns std::string_view::npos when the peer must be disconnected.
class EchoSession {
public:
    virtual ~EchoSession() = default;
    virtual std::size_t consume(std::string_view in, std::string& out) = 0;
};

class Protocol {
public:
    virtual ~Protocol() = default;
    virtual const char* name() const = 0;
    // Encodes the request for one key line (from --keys or --key-template) once, before
    // the run. Returns an empty string and sets *error if the key is unusable.
    virtual std::string prepareRequest(std::string_view key, std::string* error) const = 0;
    virtual std::unique_ptr<ClientSession> newSession() const = 0;
    // `reply_bytes`: total size of each fixed reply, terminator included (clamped to
    // what the protocol can express).
    virtual std::unique_ptr<EchoSession> newEchoSession(std::size_t reply_bytes) const = 0;
};

// "dict" (Dovecot dict proxy protocol, lookups). Returns nullptr for an unknown name.
std::unique_ptr<Protocol> makeProtocol(std::string_view name);

// Names accepted by makeProtocol, for --help.
std::vector<std::string> protocolNames();

}  // namespace titan::bench
