#include "authd/server/http_api.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <nlohmann/json.hpp>

#include "common/base/strings.h"
#include "common/log/log.h"

namespace titan::authd {
namespace {

constexpr size_t kMaxBody = 64 * 1024;

std::string field(const nlohmann::json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return {};
    return it->get<std::string>();
}

void reply(evhttp_request* req, int code, const std::string& body) {
    evbuffer* buf = evbuffer_new();
    evbuffer_add(buf, body.data(), body.size());
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", buf);
    evbuffer_free(buf);
}

}  // namespace

HttpApi::HttpApi(event_base* base, PasswordAuthenticator& auth, metrics::Registry& metrics)
    : base_(base), auth_(auth), metrics_(metrics) {}

HttpApi::~HttpApi() {
    if (http_ != nullptr) evhttp_free(http_);
}

Status HttpApi::listen(const std::string& address) {
    auto colon = address.rfind(':');
    if (colon == std::string::npos) return Error::config("http address '" + address + "' needs host:port");
    std::string host = address.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    auto port = base::parseUnsigned(address.substr(colon + 1));
    if (!port || *port > 65535) return Error::config("http address '" + address + "' has a bad port");
    http_ = evhttp_new(base_);
    evhttp_set_allowed_methods(http_, EVHTTP_REQ_POST | EVHTTP_REQ_GET);
    evhttp_set_max_headers_size(http_, 16384);
    evhttp_set_max_body_size(http_, kMaxBody);
    evhttp_set_timeout(http_, 30);
    evhttp_set_gencb(http_, &HttpApi::onRequest, this);
    if (evhttp_bind_socket(http_, host.c_str(), static_cast<uint16_t>(*port)) != 0) {
        return Error::config("cannot bind http listener " + address);
    }
    log::info("listening", {{"server", "http"}, {"on", "tcp:" + address}});
    return {};
}

std::pair<int, std::string> HttpApi::handlePolicy(const std::string& command, const std::string& body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        metrics_.counter("authd_policy_requests_total", "Dovecot auth policy requests", "command=\"invalid\"").inc();
        return {400, R"({"status":0,"msg":"malformed request"})"};
    }
    std::string login = field(j, "login");
    std::string remote = field(j, "remote");
    std::string protocol = base::asciiLower(field(j, "protocol"));
    if (command == "allow") {
        auto why = auth_.throttled(remote, login);
        metrics_
            .counter("authd_policy_requests_total", "Dovecot auth policy requests",
                     std::string("command=\"allow\",result=\"") + (why ? "refuse" : "allow") + "\"")
            .inc();
        if (why) {
            nlohmann::json out{{"status", -1}, {"msg", "Too many failed logins, try again later"}};
            return {200, out.dump()};
        }
        return {200, R"({"status":0})"};
    }
    if (command == "report") {
        bool success = j.value("success", false);
        bool policy_reject = j.value("policy_reject", false);
        std::string fail_type = field(j, "fail_type");
        const char* result = "success";
        if (!success && !policy_reject) {
            // Internal errors are not the client's fault; everything else counts.
            if (fail_type == "internal") {
                result = "internal";
            } else {
                result = "failure";
                auth_.recordExternalFailure(protocol, remote, login);
            }
        } else if (success) {
            auth_.recordExternalSuccess(protocol, remote, login);
        } else {
            result = "policy_reject";
        }
        metrics_
            .counter("authd_policy_requests_total", "Dovecot auth policy requests",
                     std::string("command=\"report\",result=\"") + result + "\"")
            .inc();
        return {200, R"({"status":0})"};
    }
    return {404, R"({"status":0,"msg":"unknown command"})"};
}

void HttpApi::onRequest(evhttp_request* req, void* arg) noexcept {
    auto* self = static_cast<HttpApi*>(arg);
    try {
        const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
        const char* path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
        if (path == nullptr || std::string_view(path) != "/policy" ||
            evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
            reply(req, 404, R"({"error":"not found"})");
            return;
        }
        std::string command;
        if (const char* q = evhttp_uri_get_query(uri)) {
            evkeyvalq params;
            if (evhttp_parse_query_str(q, &params) == 0) {
                if (const char* c = evhttp_find_header(&params, "command")) command = c;
                evhttp_clear_headers(&params);
            }
        }
        evbuffer* in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        std::string body(len, '\0');
        if (len > 0) evbuffer_copyout(in, body.data(), len);
        auto [code, out] = self->handlePolicy(command, body);
        reply(req, code, out);
    } catch (const std::bad_alloc&) {
        std::terminate();
    } catch (const std::exception& e) {
        log::error("http request failed", {{"error", e.what()}});
        evhttp_send_error(req, HTTP_INTERNAL, "internal error");
    }
}

}  // namespace titan::authd
