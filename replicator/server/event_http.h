// Dovecot 2.4's change events over HTTP: its event_exporter driver `http-post` (format
// json) POSTs one event per request; each body is parsed as one exported event line
// (replicator/proto/dovecot_event.h) and handed to the same EventTarget as the unix
// socket's lines. Answers: 204 accepted (whatever the target does with it), 400 a body
// that is not one event, 404 another path, 405 another method, 413 over max_body_bytes.
// Dovecot's HTTP client keeps the connection alive and notices when it closes, so a
// restarted replicator loses no event here (the unix driver drops the first one after
// a restart). Loopback only; no authentication. Loop thread only. Layer: replicator/server.
#pragma once

#include <cstddef>
#include <string>

#include "common/base/result.h"
#include "replicator/server/event_session.h"

struct event_base;
struct evhttp;
struct evhttp_request;

namespace titan::replicator::server {

class EventHttpServer {
public:
    // `target` must outlive the server.
    EventHttpServer(event_base* base, const EventTarget& target, std::size_t max_body_bytes);
    ~EventHttpServer();
    EventHttpServer(const EventHttpServer&) = delete;
    EventHttpServer& operator=(const EventHttpServer&) = delete;

    // address "127.0.0.1:9156"; requests go to path /events. Errors: Config.
    Status listen(const std::string& address);

private:
    static void onRequest(evhttp_request* req, void* arg) noexcept;

    event_base* base_;
    const EventTarget& target_;
    std::size_t max_body_bytes_;
    evhttp* http_ = nullptr;
};

}  // namespace titan::replicator::server
