#include "authd/service/password_authenticator.h"

#include <openssl/crypto.h>

#include <ctime>

#include "authd/core/auth_dict.h"
#include "common/log/log.h"
#include "common/base/strings.h"
#include "common/identity/identity.h"
#include "common/net/cidr.h"
#include "common/password/password.h"

namespace titan::authd {
namespace {

// Verified against unknown users so that "no such user" costs as much as a wrong
// password (no user enumeration by timing).
constexpr const char* kDummyHash =
    "{SHA512-CRYPT}$6$ogDcKs.pLJsWq1CM$dtGPaDVXa0/bnGr1Rk47OTPSQz2Y/BTuVhfQ83wAxEeNuOm1BeXWksPduj4PfXnXFUmJvEPgxHh9Ld0uBfuyB/";

std::string serviceFlagName(const std::string& service) {
    return service == "submission" ? "smtp" : service;
}

bool appPasswordUsable(const core::AppPassword& a, const std::string& service, const std::string& ip, int64_t now) {
    if (a.expires_at && *a.expires_at <= now) return false;
    bool scoped = false;
    for (const auto& s : a.services) scoped = scoped || s == serviceFlagName(service);
    if (!scoped) return false;
    if (a.networks.empty()) return true;
    auto nets = net::CidrList::parse(a.networks);
    return nets.ok() && nets->contains(ip);
}

struct VerifyResult {
    bool matched = false;
    bool app_password = false;
};

}  // namespace

const char* authStatusName(AuthStatus s) noexcept {
    switch (s) {
        case AuthStatus::Ok: return "ok";
        case AuthStatus::Failed: return "failed";
        case AuthStatus::AccountDisabled: return "disabled";
        case AuthStatus::ServiceDisabled: return "service_disabled";
        case AuthStatus::Throttled: return "throttled";
        case AuthStatus::TempFail: return "tempfail";
    }
    return "failed";
}

PasswordAuthenticator::PasswordAuthenticator(UserLookup& lookup, event::WorkPool& hashing, core::Throttle& throttle,
                                             store::SecurityStore* security, metrics::Registry& metrics, NowFn now)
    : lookup_(lookup),
      hashing_(hashing),
      throttle_(throttle),
      security_(security),
      metrics_(metrics),
      now_(now ? std::move(now) : [] { return std::chrono::steady_clock::now(); }) {}

std::string PasswordAuthenticator::canonicalOrEmpty(const std::string& raw) const {
    auto c = identity::canonicalUser(raw, lookup_.identityOptions());
    return c ? *c : std::string();
}

std::optional<std::string> PasswordAuthenticator::throttled(const std::string& ip, const std::string& raw_user) {
    return throttle_.blocked(ip, canonicalOrEmpty(raw_user), now_());
}

void PasswordAuthenticator::recordExternalFailure(const std::string& service, const std::string& ip,
                                                  const std::string& raw_user) {
    std::string user = canonicalOrEmpty(raw_user);
    throttle_.recordFailure(ip, user, now_());
    if (security_ != nullptr) {
        security_->recordFailure(throttle_.exempt(ip) ? std::string() : ip, user, window_);
        security_->audit({service, user.empty() ? raw_user.substr(0, 320) : user, ip, "failed", ""});
    }
}

void PasswordAuthenticator::recordExternalSuccess(const std::string& service, const std::string& ip,
                                                  const std::string& raw_user) {
    std::string user = canonicalOrEmpty(raw_user);
    if (security_ == nullptr || user.empty()) return;
    security_->audit({service, user, ip, "ok", ""});
    security_->lastLogin(user, service, ip);
}

void PasswordAuthenticator::finish(const AuthRequest& req, const AuthOutcome& outcome, const Done& done) {
    metrics_
        .counter("authd_auth_results_total", "Password authentications by service and result",
                 "service=\"" + serviceFlagName(req.service) + "\",result=\"" + authStatusName(outcome.status) + "\"")
        .inc();
    std::string user = outcome.user.empty() ? canonicalOrEmpty(req.user) : outcome.user;
    if (outcome.status == AuthStatus::Failed) {
        throttle_.recordFailure(req.remote_ip, user, now_());
        if (security_ != nullptr) security_->recordFailure(throttle_.exempt(req.remote_ip) ? "" : req.remote_ip, user, window_);
    }
    if (security_ != nullptr) {
        security_->audit({req.service, user.empty() ? req.user.substr(0, 320) : user, req.remote_ip,
                          authStatusName(outcome.status), outcome.reason});
        if (outcome.status == AuthStatus::Ok) security_->lastLogin(user, req.service, req.remote_ip);
    }
    log::info("authentication", {{"service", req.service}, {"user", user.empty() ? "(invalid)" : user},
                                 {"client.address", req.remote_ip}, {"result", authStatusName(outcome.status)},
                                 {"app_password", outcome.app_password}});
    done(outcome);
}

void PasswordAuthenticator::authenticate(AuthRequest request, Done done) {
    auto req = std::make_shared<AuthRequest>(std::move(request));
    req->service = base::asciiLower(req->service);
    std::string canonical = canonicalOrEmpty(req->user);
    if (auto why = throttle_.blocked(req->remote_ip, canonical, now_())) {
        OPENSSL_cleanse(req->password.data(), req->password.size());
        // Deferred so the completion never runs inside authenticate().
        hashing_.submit([] {}, [this, req, canonical, why = *why, done, alive = std::weak_ptr<bool>(alive_)](bool) {
            if (alive.expired()) return;
            finish(*req, {AuthStatus::Throttled, canonical, why, false}, done);
        });
        return;
    }
    std::weak_ptr<bool> alive = alive_;
    lookup_.lookup(req->user, [this, req, done, alive](const UserLookup::Answer& a) {
        if (alive.expired()) return;
        if (a.outcome == UserLookup::Outcome::Unavailable) {
            OPENSSL_cleanse(req->password.data(), req->password.size());
            hashing_.submit([] {}, [this, req, done, alive](bool) {
                if (alive.expired()) return;
                finish(*req, {AuthStatus::TempFail, "", "user database temporarily unavailable", false}, done);
            });
            return;
        }
        auto mailbox = a.mailbox;  // empty for an unknown user
        auto result = std::make_shared<VerifyResult>();
        hashing_.submit(
            [req, mailbox, result] {
                if (!mailbox) {
                    (void)password::verify(kDummyHash, req->password);
                } else {
                    // The bytes as received, then their NFC form (what titanctl hashes),
                    // so a password typed in NFD (as macOS keyboards may) still matches.
                    auto nfc = identity::nfcIfDifferent(req->password);
                    auto verify = [&](const std::string& hash) {
                        auto m = password::verify(hash, req->password, "CRYPT");
                        if (!(m && *m) && nfc) m = password::verify(hash, *nfc, "CRYPT");
                        return m && *m;
                    };
                    if (verify(mailbox->password_hash)) {
                        result->matched = true;
                    } else {
                        int64_t now = static_cast<int64_t>(std::time(nullptr));
                        for (const auto& app : mailbox->app_passwords) {
                            if (!appPasswordUsable(app, req->service, req->remote_ip, now)) continue;
                            if (verify(app.password_hash)) {
                                result->matched = true;
                                result->app_password = true;
                                break;
                            }
                        }
                    }
                    if (nfc) OPENSSL_cleanse(nfc->data(), nfc->size());
                }
                OPENSSL_cleanse(req->password.data(), req->password.size());
            },
            [this, req, mailbox, result, done, alive](bool ran) {
                if (alive.expired()) return;
                if (!ran) {
                    finish(*req, {AuthStatus::TempFail, "", "authentication service overloaded", false}, done);
                    return;
                }
                if (!mailbox || !result->matched) {
                    finish(*req, {AuthStatus::Failed, mailbox ? mailbox->username : "", "", false}, done);
                    return;
                }
                AuthOutcome out{AuthStatus::Ok, mailbox->username, "", result->app_password};
                switch (core::checkAccess(*mailbox, req->service)) {
                    case core::Access::Allowed: break;
                    case core::Access::AccountDisabled:
                        out.status = AuthStatus::AccountDisabled;
                        out.reason = mailbox->disabled_reason.empty() ? "Account disabled" : mailbox->disabled_reason;
                        break;
                    case core::Access::ServiceDisabled:
                        // An app password scoped to this service does not override the
                        // account's own service switch.
                        out.status = AuthStatus::ServiceDisabled;
                        out.reason = "service " + serviceFlagName(req->service) + " is disabled for this account";
                        break;
                }
                finish(*req, out, done);
            });
    });
}

}  // namespace titan::authd
