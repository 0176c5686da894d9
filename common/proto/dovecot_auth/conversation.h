// The server side of one Dovecot auth-client connection as a pure state machine:
// handshake order, the table of running requests (unique ids, who waits for whom),
// mechanism steps and the replies that follow from them. It turns each client line
// into a Step (lines to send now, credentials to check, a FAIL to delay, or a
// protocol error). It does not check passwords, keep time, or do I/O: the caller
// (authd/server/auth_client_session) owns the socket, the timers and the backend.
// Layer: common/proto (titan_base only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/proto/dovecot_auth/auth_client.h"
#include "common/proto/dovecot_auth/mechanisms.h"

namespace titan::proto::dovecot_auth {

// ---------------------------------------------------------------------------------------
// Behaviour (Dovecot 2.3.19's auth server is the model; differences are marked *):
//   * The first line must be VERSION (major 1), the second CPID; anything else, a
//     second VERSION, or an AUTH before CPID is a protocol error.
//   * AUTH: a malformed line, a duplicate running id, or a mechanism that is not offered
//     is a protocol error. A request beyond limits.max_requests* gets at once
//     FAIL code=temp_fail reason="Too many concurrent authentication requests".
//     Invalid base64 in resp= gets at once
//     FAIL code=invalid_base64 reason="Invalid base64 data in initial response".
//   * Mechanism results: a Challenge is sent as CONT and the request waits for the
//     client; Credentials become a Verify (the request is busy until finish());
//     failures become a DelayedFail (busy until finish()), except TooLong*, which gets
//     at once FAIL reason="Credentials too long". AuthzidMismatch carries
//     reason="Logging in as another user is not supported"*. Malformed and EmptyUser
//     carry no reason, as in Dovecot.
//   * CONT for an id that is not running: at once FAIL reason="Authentication request
//     timed out". CONT for a request that is not waiting for the client (busy): at
//     once FAIL reason="Unexpected continuation", and the request ends (its pending
//     answer is dropped by finish()). Invalid base64: at once
//     FAIL code=invalid_base64 reason="Invalid base64 data in continued response",
//     and the request ends.
//   * CANCEL ends a running request silently (its pending answer is dropped); an
//     unknown id is ignored. A request ended (CANCEL, or CONT while busy) while its
//     check runs frees its id at once but keeps counting against max_requests and
//     busy() until finish(ticket), so ending requests cannot start unbounded checks.
//   * Immediate FAILs carry user= when the mechanism had read a user name.
// Secrets: passwords leave only inside Verify; intermediate buffers are wiped.
// ---------------------------------------------------------------------------------------

struct ConversationOptions {
    std::vector<Mechanism> mechanisms{Mechanism::Plain, Mechanism::Login};  // offered
    AuthLimits limits;
};

// Complete credentials: check them, then call finish(ticket) and answer OK or FAIL.
struct Verify {
    std::uint64_t ticket = 0;
    std::uint32_t id = 0;
    Mechanism mechanism = Mechanism::Plain;
    std::string service;
    std::string user;      // authentication identity as typed
    std::string password;  // secret: the caller wipes it after use
    std::string remote_ip;
    std::string local_ip;
    bool secured = false;
};

// A failure the caller sends after its failure delay, once finish(ticket) agrees.
struct DelayedFail {
    std::uint64_t ticket = 0;
    Fail fail;
    MechanismError error = MechanismError::Malformed;
};

// What a line did, for logs and metrics.
enum class Event {
    None,                    // nothing to report (handshake line, CANCEL of an unknown id)
    Challenge,               // CONT sent
    Verify,                  // credentials complete
    MechanismFailed,         // DelayedFail
    CredentialsTooLong,      // immediate FAIL
    InvalidBase64,           // immediate FAIL
    UnexpectedContinuation,  // immediate FAIL
    UnknownRequest,          // immediate FAIL ("timed out")
    TooManyRequests,         // immediate FAIL
    Cancelled,               // a running request ended by CANCEL
    ProtocolError,           // close the connection
};

// "challenge", "verify", "mechanism_failed", ... (snake case of the names above).
const char* eventName(Event e) noexcept;

struct Step {
    Event event = Event::None;
    std::string reply;                        // lines to send now (may be empty)
    std::optional<Verify> verify;             // set with Event::Verify
    std::optional<DelayedFail> delayed_fail;  // set with Event::MechanismFailed
    std::optional<ProtocolError> error;       // set with Event::ProtocolError
    std::string user;                         // the user name read so far, if any (logs)
    std::optional<Mechanism> mechanism;       // the request's mechanism, when known
};

class Conversation {
public:
    explicit Conversation(ConversationOptions options);

    // One client line without its LF. After a ProtocolError the conversation is dead:
    // every further line gives the same error.
    Step onLine(std::string_view line);

    // The caller is about to send the answer for `ticket` (from a Verify or a
    // DelayedFail). Returns the request id and ends the request when it is still
    // running; nullopt when the client cancelled or ended it meanwhile (drop the answer).
    std::optional<std::uint32_t> finish(std::uint64_t ticket);

    // Running requests (waiting for the client or busy).
    std::size_t requests() const noexcept { return requests_.size(); }
    // Requests the server owes an answer for: Verify or DelayedFail not yet finished.
    std::size_t busy() const noexcept;
    bool handshakeDone() const noexcept { return stage_ == Stage::Ready; }
    std::uint32_t clientMinor() const noexcept { return client_minor_; }
    const ConversationOptions& options() const noexcept { return options_; }

private:
    enum class Stage { AwaitVersion, AwaitCpid, Ready, Dead };
    struct Request {
        std::uint32_t id = 0;
        std::uint64_t ticket = 0;
        bool busy = false;
        // Ended by the client (CANCEL, or CONT while busy) while its check still runs:
        // the id is free again and the answer is dropped, but the request keeps counting
        // against max_requests (and busy()) until finish(), so CANCEL cannot start
        // unbounded credential checks.
        bool ended = false;
        MechanismState mech;
        std::string service;
        std::string remote_ip;
        std::string local_ip;
        bool secured = false;
    };

    Step fail(std::string reason);
    Step handleAuth(Auth& auth);
    Step handleCont(Cont& cont);
    Step handleCancel(const Cancel& cancel);
    Step advance(Request& request, MechanismStep step);
    Request* find(std::uint32_t id) noexcept;
    void erase(std::uint32_t id) noexcept;
    void end(std::uint32_t id) noexcept;  // erase, or mark ended when busy

    ConversationOptions options_;
    Stage stage_ = Stage::AwaitVersion;
    std::uint32_t client_minor_ = 0;
    std::uint64_t next_ticket_ = 1;
    std::vector<Request> requests_;  // at most limits.max_requests: a vector is fastest
    ProtocolError dead_reason_;
};

}  // namespace titan::proto::dovecot_auth
