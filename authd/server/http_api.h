// authd's HTTP interface on loopback (libevent evhttp). Today it serves Dovecot's
// authentication policy API (auth_policy_server_url), which puts IMAP and POP3
// logins under the same brute-force budget as SMTP AUTH:
//   POST /policy?command=allow   JSON {"login","remote","protocol",...}
//        → {"status":0} allow, or {"status":-1,"msg":...} refuse
//   POST /policy?command=report  JSON {... ,"success":bool,"policy_reject":bool}
//        → {"status":0}; a failed login is counted, a successful one audited
// Request bodies are bounded; malformed JSON gets 400. Loop thread only.
// Layer: authd/server.
#pragma once

#include <string>

#include "authd/service/password_authenticator.h"
#include "common/base/result.h"
#include "common/metrics/metrics.h"

struct evhttp;
struct evhttp_request;
struct event_base;

namespace titan::authd {

class HttpApi {
public:
    HttpApi(event_base* base, PasswordAuthenticator& auth, metrics::Registry& metrics);
    ~HttpApi();
    HttpApi(const HttpApi&) = delete;
    HttpApi& operator=(const HttpApi&) = delete;

    // "127.0.0.1:9151". Errors: Config.
    Status listen(const std::string& address);

    // The JSON answer for one policy request (exposed for tests). `command` is
    // "allow" or "report"; returns the HTTP status and body.
    std::pair<int, std::string> handlePolicy(const std::string& command, const std::string& body);

private:
    static void onRequest(evhttp_request* req, void* arg) noexcept;
    event_base* base_;
    PasswordAuthenticator& auth_;
    metrics::Registry& metrics_;
    evhttp* http_ = nullptr;
};

}  // namespace titan::authd
