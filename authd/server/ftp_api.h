// FTP virtual users over authd's loopback HTTP API, for ProFTPd's mod_titan
// (contrib/proftpd). Routes, all POST with a JSON object body (docs/protocols/ftp.md):
//   /ftp/v1/lookup  {"user"}                              → found (home, uid, gid, limits)
//                                                           | not_found | unavailable | invalid
//   /ftp/v1/auth    {"user","password_base64","remote_ip","local_ip"}
//                   → ok | failed | disabled | service_disabled | throttled | tempfail
//   /ftp/v1/tally   {"user","op":"read"|"add", deltas}    → the user's transfer tally
// With ftp.key_file set, every request must carry "Authorization: Bearer <key>" (else
// 401), so local users who can reach the loopback port cannot use the routes.
// Passwords go through the shared PasswordAuthenticator (service "ftp"): the same
// brute-force budget, app passwords scoped to ftp, audit. Malformed requests get 400.
// Loop thread only. Layer: authd/server.
#pragma once

#include <memory>

#include "authd/core/auth_dict.h"
#include "authd/core/ftp.h"
#include "authd/server/http_api.h"
#include "authd/service/password_authenticator.h"
#include "authd/service/user_lookup.h"
#include "authd/store/ftp_tally_store.h"
#include "common/metrics/metrics.h"

namespace titan::authd {

// Input bounds of the FTP routes (the body as a whole is bounded by HttpApi).
inline constexpr size_t kFtpMaxUserBytes = 512;
inline constexpr size_t kFtpMaxPasswordBytes = 1024;  // ProFTPd's MaxPasswordSize default
inline constexpr size_t kFtpMaxAddressBytes = 64;

class FtpApi {
public:
    // `tally` may be null: /ftp/v1/tally then answers "unavailable".
    FtpApi(UserLookup& lookup, PasswordAuthenticator& auth, store::FtpTallyStore* tally, metrics::Registry& metrics,
           core::FtpSettings settings, core::UserdbDefaults fallback);
    ~FtpApi();
    FtpApi(const FtpApi&) = delete;
    FtpApi& operator=(const FtpApi&) = delete;

    // Registers the /ftp/v1/ routes on `api`; `api` must not outlive this object.
    void addRoutes(HttpApi& api);
    // New settings for requests that start from now on (SIGHUP).
    void reconfigure(core::FtpSettings settings, core::UserdbDefaults fallback);

    // Whether an Authorization header value is acceptable (constant-time compare).
    bool authorized(std::string_view authorization) const;

    // The handlers, callable without HTTP (tests). `reply` runs exactly once, maybe
    // before the call returns, never after this object is destroyed.
    using Reply = std::function<void(HttpResponse)>;
    void handleLookup(const std::string& body, Reply reply);
    void handleAuth(const std::string& body, Reply reply);
    void handleTally(const std::string& body, Reply reply);

private:
    void count(const char* route, const std::string& status);

    UserLookup& lookup_;
    PasswordAuthenticator& auth_;
    store::FtpTallyStore* tally_;
    metrics::Registry& metrics_;
    core::FtpSettings settings_;
    core::UserdbDefaults fallback_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace titan::authd
