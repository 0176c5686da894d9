// Password authentication shared by every authd front end that checks passwords
// itself (Postfix SASL over the Dovecot auth-client protocol, Dovecot's auth
// policy API, the HTTP API for Dovecot 2.4 and the FTP module): brute-force
// throttling, user lookup, per-service access, the mailbox password and scoped app
// passwords, hashing off the event loop, and audit of the result.
// Loop thread only; the completion never runs inside authenticate().
// Layer: authd service.
#pragma once

#include <functional>
#include <string>

namespace titan::authd {

struct AuthRequest {
    std::string service;    // "smtp", "imap", "pop3", "ftp", ... (lower case)
    std::string user;       // as the client typed it; canonicalised inside
    std::string password;   // the plaintext; never logged, wiped after use
    std::string remote_ip;  // the client's address as the frontend reports it (may be empty)
    std::string local_ip;
};

enum class AuthStatus {
    Ok,               // password (or a scoped app password) matched; access allowed
    Failed,           // wrong password, unknown user, malformed name: one answer for all
    AccountDisabled,  // correct password, but the account or domain is disabled
    ServiceDisabled,  // correct password, but this service is off for the account
    Throttled,        // too many recent failures for this client address or user
    TempFail,         // the database could not answer and nothing usable was cached
};

const char* authStatusName(AuthStatus s) noexcept;

struct AuthOutcome {
    AuthStatus status = AuthStatus::Failed;
    std::string user;    // canonical name when known (also on Failed for an existing user)
    std::string reason;  // text safe to show the client (e.g. the disabled reason)
    bool app_password = false;
};

class Authenticator {
public:
    virtual ~Authenticator() = default;
    using Done = std::function<void(const AuthOutcome&)>;
    // Authenticate one request. `done` runs later on the loop thread, exactly once.
    virtual void authenticate(AuthRequest request, Done done) = 0;
};

}  // namespace titan::authd
