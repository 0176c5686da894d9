#include "authd/server/http_api.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/base/strings.h"
#include "common/log/log.h"

namespace titan::authd {
namespace {
constexpr size_t kMaxBody = 64 * 1024;

void send(evhttp_request* req, const HttpResponse& r) {
    evbuffer* buf = evbuffer_new();
    evbuffer_add(buf, r.body.data(), r.body.size());
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, r.status, r.status == 200 ? "OK" : "Error", buf);
    evbuffer_free(buf);
}
}  // namespace

// The pending evhttp request, or null once answered or once the client closed.
struct Responder::State {
    evhttp_request* req = nullptr;
    bool answered = false;
};

void Responder::operator()(HttpResponse response) const {
    if (!state || state->answered) return;
    state->answered = true;
    if (state->req != nullptr) send(state->req, response);
    state->req = nullptr;
}

HttpApi::HttpApi(event_base* base, metrics::Registry& metrics) : base_(base), metrics_(metrics) {}

HttpApi::~HttpApi() {
    if (http_ != nullptr) evhttp_free(http_);
}

void HttpApi::route(const std::string& path, Handler handler) { routes_[path] = std::move(handler); }

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

void HttpApi::onConnectionClose(evhttp_connection* conn, void* arg) noexcept {
    auto* self = static_cast<HttpApi*>(arg);
    auto it = self->pending_.find(conn);
    if (it == self->pending_.end()) return;
    for (auto& w : it->second) {
        if (auto s = w.lock()) s->req = nullptr;
    }
    self->pending_.erase(it);
}

void HttpApi::onRequest(evhttp_request* req, void* arg) noexcept {
    auto* self = static_cast<HttpApi*>(arg);
    try {
        const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
        HttpRequest r;
        const char* path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
        r.path = path != nullptr ? path : "";
        r.method = evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "GET";
        auto it = self->routes_.find(r.path);
        if (it == self->routes_.end()) {
            self->metrics_.counter("authd_http_requests_total", "HTTP API requests by path", "path=\"unknown\"").inc();
            send(req, {404, R"({"error":"not found"})"});
            return;
        }
        self->metrics_.counter("authd_http_requests_total", "HTTP API requests by path", "path=\"" + r.path + "\"").inc();
        if (const char* q = uri != nullptr ? evhttp_uri_get_query(uri) : nullptr) {
            evkeyvalq params;
            if (evhttp_parse_query_str(q, &params) == 0) {
                for (evkeyval* kv = params.tqh_first; kv != nullptr; kv = kv->next.tqe_next) {
                    r.query[kv->key] = kv->value;
                }
                evhttp_clear_headers(&params);
            }
        }
        evbuffer* in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        r.body.resize(len);
        if (len > 0) evbuffer_copyout(in, r.body.data(), len);
        if (const char* a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization")) {
            r.authorization = a;
        }
        if (evhttp_connection* conn = evhttp_request_get_connection(req)) {
            char* addr = nullptr;
            uint16_t port = 0;
            evhttp_connection_get_peer(conn, &addr, &port);
            if (addr != nullptr) r.peer = addr;
        }
        Responder responder{std::make_shared<Responder::State>()};
        responder.state->req = req;
        if (evhttp_connection* conn = evhttp_request_get_connection(req)) {
            auto& list = self->pending_[conn];
            // Drop entries of requests already answered (keep-alive connections).
            std::erase_if(list, [](const std::weak_ptr<Responder::State>& w) {
                auto s = w.lock();
                return !s || s->answered;
            });
            list.push_back(responder.state);
            evhttp_connection_set_closecb(conn, &HttpApi::onConnectionClose, self);
        }
        it->second(r, responder);
    } catch (const std::bad_alloc&) {
        std::terminate();
    } catch (const std::exception& e) {
        log::error("http request failed", {{"error", e.what()}});
        evhttp_send_error(req, HTTP_INTERNAL, "internal error");
    }
}

}  // namespace titan::authd
