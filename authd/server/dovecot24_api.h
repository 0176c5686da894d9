// authd for Dovecot 2.4: the HTTP JSON endpoints that contrib/dovecot-2.4/titan-auth.lua
// (passdb/userdb `lua`, dovecot.http client) calls, since 2.4 removed passdb/userdb
// `dict`. Passwords are verified inside authd by the PasswordAuthenticator (same
// per-service flags, canonical names, app passwords, brute-force budget and audit as
// SASL), so hashes never leave authd. Not here: the HTTP server (http_api.h).
// Loop thread only. Layer: authd/server.
//
// Endpoints (exact paths; parameters in the query string, or for POST in the body as
// application/x-www-form-urlencoded or a JSON object of strings):
//
//   POST /dovecot/verify   user, password, protocol (imap, pop3, submission, ...),
//                          remote_ip, local_ip (optional)
//     200 {"result":"ok","user":C}                          C: the canonical name
//     200 {"result":"fail"}                                  wrong password, unknown user,
//                                                            malformed name: one answer
//     200 {"result":"disabled","user":C,"reason":R}          right password; the account,
//                                                            its domain or that service is off
//     200 {"result":"throttled","reason":R}                  too many failures (address/user)
//     503 {"result":"tempfail","reason":R}                   database down and the user not
//                                                            cached, or hashing overloaded
//   GET  /dovecot/passdb?user=U&protocol=P   (lookup without a password, for doveadm)
//     200 {"user":C}  or  {"user":C,"nologin":"y","reason":R}     404 unknown    503 tempfail
//   GET  /dovecot/userdb?user=U
//     200 {"user":C,"home":H,"uid":"N","gid":"N"[,"quota_storage_size":"NB"]
//          [,"quota_message_count":"N"]}                           404 unknown    503 tempfail
//   GET  /dovecot/users?after=A&limit=N   (N 1..10000; default dict.iterate_page)
//     200 {"users":[C,...],"more":bool}   canonical names > A in ascending order   503 tempfail
//
// With http.dovecot_key_file set, a request without "Authorization: Bearer <key>" gets
// 401 (the script's titan_key). Malformed requests get 400 with {"error":...}; a wrong
// method 405. Field bounds:
// user 1024 bytes, password 4096, protocol 32, addresses 64.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "authd/core/auth_dict.h"
#include "authd/core/mailbox.h"
#include "authd/server/http_api.h"
#include "authd/service/authenticator.h"
#include "authd/service/user_lookup.h"
#include "authd/store/store.h"
#include "common/base/result.h"
#include "common/metrics/metrics.h"

namespace titan::authd {

inline constexpr size_t kDovecot24MaxUser = 1024;
inline constexpr size_t kDovecot24MaxPassword = 4096;
inline constexpr size_t kDovecot24MaxProtocol = 32;
inline constexpr size_t kDovecot24MaxAddress = 64;
inline constexpr size_t kDovecot24MaxPage = 10000;

// Decode an application/x-www-form-urlencoded string ("a=1&b=x%20y", '+' is a space).
// Every byte survives (%00 included). A repeated name keeps the first value. Errors:
// InvalidInput for a bad %-escape. Pure.
Result<std::map<std::string, std::string>> parseFormBody(std::string_view body);

// The fields of a POST body: a JSON object (first non-blank byte '{'; values must be
// strings) or else a form body. Errors: InvalidInput. Pure.
Result<std::map<std::string, std::string>> parseRequestFields(std::string_view body);

// The 2.4 userdb answer: user, home, uid/gid (row or default), and the quota limits
// as 2.4 settings (quota_storage_size in bytes "NB", quota_message_count) when set.
std::string userdb24Json(const core::Mailbox& mailbox, const core::UserdbDefaults& defaults);

// The passdb lookup answer for `protocol`: the canonical user, plus nologin/reason
// when access is not allowed (the same rule and texts as the 2.3 dict path). Never
// a password or hash.
std::string passdb24Json(const core::Mailbox& mailbox, std::string_view protocol);

// The HTTP answer for one verification outcome of a login over `protocol` (see the
// table above). A disabled service reads "<PROTOCOL> access is disabled for this
// account", as on the 2.3 dict path.
HttpResponse verifyResponse(const AuthOutcome& outcome, std::string_view protocol);

struct Dovecot24Metrics {
    explicit Dovecot24Metrics(metrics::Registry& r) : registry(r) {}
    metrics::Registry& registry;
    // authd_dovecot24_requests_total{kind=verify|passdb|userdb|users,result=...}
    void count(const char* kind, const char* result);
};

// What the endpoints read from the configuration (per request, so reloads apply).
struct Dovecot24Settings {
    core::UserdbDefaults userdb_defaults;
    size_t page = 1000;  // users per /dovecot/users page when the client names no limit
    std::string key;     // when set, every request needs "Authorization: Bearer <key>"
};

// Whether `authorization` (the request's header) carries `key`: true when no key is
// configured; otherwise "Bearer <key>" exactly, compared in constant time. Pure.
bool dovecot24Authorized(std::string_view authorization, std::string_view key);

// Registers the four endpoints on `api`. `settings` is called at every request.
// Every referenced object must outlive `api`.
void addDovecot24Routes(HttpApi& api, UserLookup& lookup, store::Store& store, Authenticator& auth,
                        std::function<Dovecot24Settings()> settings, Dovecot24Metrics& metrics);

}  // namespace titan::authd
