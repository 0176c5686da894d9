#include "replicator/server/event_http.h"

#include <event2/buffer.h>
#include <event2/http.h>

#include <cstdlib>
#include <new>
#include <string_view>

#include "common/base/strings.h"
#include "common/log/log.h"

namespace titan::replicator::server {

EventHttpServer::EventHttpServer(event_base* base, const EventTarget& target, std::size_t max_body_bytes)
    : base_(base), target_(target), max_body_bytes_(max_body_bytes) {}

EventHttpServer::~EventHttpServer() {
    if (http_ != nullptr) evhttp_free(http_);
}

Status EventHttpServer::listen(const std::string& address) {
    auto colon = address.rfind(':');
    if (colon == std::string::npos) return Error::config("events address '" + address + "' needs host:port");
    std::string host = address.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    auto port = base::parseUnsigned(address.substr(colon + 1));
    if (!port || *port == 0 || *port > 65535) return Error::config("events address '" + address + "' has a bad port");
    http_ = evhttp_new(base_);
    if (http_ == nullptr) return Error::internal("evhttp_new failed");
    evhttp_set_allowed_methods(http_, EVHTTP_REQ_POST | EVHTTP_REQ_GET);
    evhttp_set_max_headers_size(http_, 8192);
    evhttp_set_max_body_size(http_, static_cast<ev_ssize_t>(max_body_bytes_));
    evhttp_set_timeout(http_, 60);
    evhttp_set_gencb(http_, &EventHttpServer::onRequest, this);
    if (evhttp_bind_socket(http_, host.c_str(), static_cast<ev_uint16_t>(*port)) != 0) {
        return Error::config("cannot bind the events listener " + address);
    }
    return {};
}

void EventHttpServer::onRequest(evhttp_request* req, void* arg) noexcept {
    auto* self = static_cast<EventHttpServer*>(arg);
    try {
        const char* uri = evhttp_request_get_uri(req);
        std::string_view path = uri != nullptr ? std::string_view(uri) : std::string_view();
        path = path.substr(0, path.find('?'));
        if (path != "/events") {
            evhttp_send_error(req, HTTP_NOTFOUND, "not found");
            return;
        }
        if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
            evhttp_send_error(req, HTTP_BADMETHOD, "POST only");
            return;
        }
        evbuffer* in = evhttp_request_get_input_buffer(req);
        std::size_t n = evbuffer_get_length(in);
        std::string body(n, '\0');
        if (n > 0 && evbuffer_copyout(in, body.data(), n) != static_cast<ev_ssize_t>(n)) {
            evhttp_send_error(req, HTTP_INTERNAL, "internal error");
            return;
        }
        // One event per request; a trailing line end is tolerated.
        while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
        auto parsed = proto::parseEventLine(body);
        if (const auto* err = std::get_if<proto::EventError>(&parsed)) {
            if (self->target_.bad_line) self->target_.bad_line(err->reason);
            evhttp_send_error(req, HTTP_BADREQUEST, "not one exported event");
            return;
        }
        if (self->target_.event) self->target_.event(std::get<proto::ChangeEvent>(parsed));
        evhttp_send_reply(req, HTTP_NOCONTENT, "No Content", nullptr);
    } catch (const std::bad_alloc&) {
        std::abort();  // out of memory: no way to answer sensibly
    } catch (const std::exception& e) {
        log::error("events HTTP: internal error", {{"error", e.what()}});
        evhttp_send_error(req, HTTP_INTERNAL, "internal error");
    }
}

}  // namespace titan::replicator::server
