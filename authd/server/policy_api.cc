#include "authd/server/policy_api.h"

#include <nlohmann/json.hpp>

#include "common/base/strings.h"

namespace titan::authd {
namespace {

std::string field(const nlohmann::json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return {};
    return it->get<std::string>();
}

// A boolean field; anything else (missing, null, "yes", 1) is false, never an exception.
bool flag(const nlohmann::json& j, const char* name) {
    auto it = j.find(name);
    return it != j.end() && it->is_boolean() && it->get<bool>();
}

void count(metrics::Registry& m, const std::string& labels) {
    m.counter("authd_policy_requests_total", "Dovecot auth policy requests", labels).inc();
}

}  // namespace

HttpResponse handlePolicy(PasswordAuthenticator& auth, metrics::Registry& metrics, const std::string& command,
                          const std::string& body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        count(metrics, "command=\"invalid\"");
        return {400, R"({"status":0,"msg":"malformed request"})"};
    }
    std::string login = field(j, "login");
    std::string remote = field(j, "remote");
    std::string protocol = base::asciiLower(field(j, "protocol"));
    if (command == "allow") {
        auto why = auth.throttled(remote, login);
        count(metrics, std::string("command=\"allow\",result=\"") + (why ? "refuse" : "allow") + "\"");
        if (why) {
            nlohmann::json out{{"status", -1}, {"msg", "Too many failed logins, try again later"}};
            return {200, out.dump()};
        }
        return {200, R"({"status":0})"};
    }
    if (command == "report") {
        bool success = flag(j, "success");
        bool policy_reject = flag(j, "policy_reject");
        const char* result = "success";
        if (!success && !policy_reject) {
            // Internal errors are not the client's fault; everything else counts.
            if (field(j, "fail_type") == "internal") {
                result = "internal";
            } else {
                result = "failure";
                auth.recordExternalFailure(protocol, remote, login);
            }
        } else if (success) {
            auth.recordExternalSuccess(protocol, remote, login);
        } else {
            result = "policy_reject";
        }
        count(metrics, std::string("command=\"report\",result=\"") + result + "\"");
        return {200, R"({"status":0})"};
    }
    return {404, R"({"status":0,"msg":"unknown command"})"};
}

void addPolicyRoutes(HttpApi& api, PasswordAuthenticator& auth, metrics::Registry& metrics) {
    api.route("/policy", [&auth, &metrics](const HttpRequest& r, Responder respond) {
        if (r.method != "POST") {
            respond({405, R"({"error":"POST only"})"});
            return;
        }
        auto it = r.query.find("command");
        respond(handlePolicy(auth, metrics, it == r.query.end() ? "" : it->second, r.body));
    });
}

}  // namespace titan::authd
