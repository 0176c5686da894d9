// Dovecot's authentication policy API (auth_policy_server_url), which puts IMAP
// and POP3 logins under the same brute-force budget as SMTP AUTH:
//   POST /policy?command=allow   JSON {"login","remote","protocol",...}
//        → {"status":0} allow, or {"status":-1,"msg":...} refuse
//   POST /policy?command=report  JSON {... ,"success":bool,"policy_reject":bool,"fail_type"}
//        → {"status":0}; a failed login is counted, a successful one audited
// Malformed JSON gets 400. Loop thread only. Layer: authd/server.
#pragma once

#include "authd/server/http_api.h"
#include "authd/service/password_authenticator.h"

namespace titan::authd {

// The answer for one request (pure apart from the authenticator's counters).
HttpResponse handlePolicy(PasswordAuthenticator& auth, metrics::Registry& metrics, const std::string& command,
                          const std::string& body);

// Registers POST /policy on `api`.
void addPolicyRoutes(HttpApi& api, PasswordAuthenticator& auth, metrics::Registry& metrics);

}  // namespace titan::authd
