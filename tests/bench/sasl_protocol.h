// titan-bench module for Dovecot's auth-client protocol as Postfix's smtpd speaks it
// (smtpd_sasl_type = dovecot; protocols.md section 4): on connect `VERSION 1 0` and
// `CPID <pid>`, then it waits for the server's handshake up to `DONE` (VERSION, MECH...,
// SPID, CUID, COOKIE) and sends one SASL PLAIN authentication per request with the
// initial response on the AUTH line:
//   AUTH <id> PLAIN service=smtp nologin lip=127.0.0.1 rip=127.0.0.1 resp=<base64>
// answered by `OK <id> user=...` (found) or `FAIL <id> ...` (failure; a server delays
// it, by default 2 s). A `CONT` reply is a protocol error: PLAIN with an initial
// response needs no continuation. Ids count from 1 per connection, as Postfix's do.
// Replies are matched by id, so a server may answer requests in flight in any order
// (--pipeline > 1 then still counts correctly, but a latency sample belongs to the
// oldest request, not necessarily to the one answered). Uses the project codec
// (common/proto/dovecot_auth). Layer: tests/bench.
#pragma once

#include <string_view>

#include "tests/bench/protocol.h"

namespace titan::bench {

class SaslProtocol : public Protocol {
public:
    // The password of a key line without one: what the tests/bench scripts give every
    // benchmark user.
    static constexpr std::string_view kDefaultPassword = "bench-password";
    // Longest handshake (VERSION up to DONE) and longest reply line accepted before the
    // server counts as broken. Dovecot's own limit for a line is 16384 bytes.
    static constexpr std::size_t kMaxHandshakeBytes = 1 << 16;
    static constexpr std::size_t kMaxReplyBytes = 1 << 16;

    SaslProtocol();

    const char* name() const override { return "sasl"; }
    // A key line is USER or USER<TAB>PASSWORD (without a password: kDefaultPassword).
    // The request is the AUTH line after its id; the PLAIN response is
    // NUL USER NUL PASSWORD (no authorization identity, as Postfix relays it).
    std::string prepareRequest(std::string_view key, std::string* error) const override;
    std::unique_ptr<ClientSession> newSession() const override;
    // The echo server sends a handshake offering PLAIN and LOGIN when it reads the
    // client's VERSION line, and answers every AUTH with `OK <id> user=echo`.
    std::unique_ptr<EchoSession> newEchoSession(std::size_t reply_bytes) const override;

private:
    std::uint32_t pid_;  // CPID: this process, never 0
};

}  // namespace titan::bench
