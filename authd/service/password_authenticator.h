// The Authenticator behind SASL, the Dovecot auth policy API and the FTP and
// Dovecot 2.4 front ends: throttle check → user lookup → password (and scoped app
// passwords) verified on the hashing pool → per-service access → audit, with the
// failure recorded locally at once and in MariaDB asynchronously.
// Loop thread only. Layer: authd service.
#pragma once

#include <memory>

#include "authd/core/throttle.h"
#include "authd/service/authenticator.h"
#include "authd/service/user_lookup.h"
#include "authd/store/security_store.h"
#include "common/event/work_pool.h"
#include "common/metrics/metrics.h"

namespace titan::authd {

class PasswordAuthenticator : public Authenticator {
public:
    using NowFn = std::function<core::TimePoint()>;
    PasswordAuthenticator(UserLookup& lookup, event::WorkPool& hashing, core::Throttle& throttle,
                          store::SecurityStore* security, metrics::Registry& metrics, NowFn now = nullptr);

    void authenticate(AuthRequest request, Done done) override;

    // A failure reported by a front end that verified the password elsewhere
    // (Dovecot's auth policy "report"): counts toward the same budget.
    void recordExternalFailure(const std::string& service, const std::string& ip, const std::string& raw_user);
    // Whether a login attempt must be refused before it is tried (auth policy "allow").
    std::optional<std::string> throttled(const std::string& ip, const std::string& raw_user);
    void recordExternalSuccess(const std::string& service, const std::string& ip, const std::string& raw_user);

    void setFailureWindow(std::chrono::milliseconds w) { window_ = w; }

private:
    void finish(const AuthRequest& req, const AuthOutcome& outcome, const Done& done);
    std::string canonicalOrEmpty(const std::string& raw) const;

    UserLookup& lookup_;
    event::WorkPool& hashing_;
    core::Throttle& throttle_;
    store::SecurityStore* security_;
    metrics::Registry& metrics_;
    NowFn now_;
    std::chrono::milliseconds window_{600000};
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace titan::authd
