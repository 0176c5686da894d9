// authd's HTTP interface on loopback (libevent evhttp): a small router that other
// front ends register JSON endpoints with (Dovecot auth policy, Dovecot 2.4 Lua,
// the FTP module). Handlers may answer later (after an asynchronous lookup) through
// the Responder; a request whose client went away is answered into the void.
// Request bodies are bounded (64 KiB). Loop thread only. Layer: authd/server.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "common/metrics/metrics.h"

struct evhttp;
struct evhttp_request;
struct evhttp_connection;
struct event_base;

namespace titan::authd {

struct HttpRequest {
    std::string method;                        // "GET", "POST"
    std::string path;                          // without the query
    std::map<std::string, std::string> query;  // decoded query parameters
    std::string body;
    std::string peer;                          // client address
    std::string authorization;                 // the Authorization header ("" if none)
};

struct HttpResponse {
    int status = 200;
    std::string body;  // JSON
};

// Answers one request exactly once; copies share the request. Safe to call after
// the client disconnected.
class Responder {
public:
    void operator()(HttpResponse response) const;
    struct State;
    std::shared_ptr<State> state;
};

class HttpApi {
public:
    using Handler = std::function<void(const HttpRequest&, Responder)>;

    HttpApi(event_base* base, metrics::Registry& metrics);
    ~HttpApi();
    HttpApi(const HttpApi&) = delete;
    HttpApi& operator=(const HttpApi&) = delete;

    // Register a handler for an exact path, any method (the handler checks it).
    void route(const std::string& path, Handler handler);
    // "127.0.0.1:9151". Errors: Config.
    Status listen(const std::string& address);

private:
    static void onRequest(evhttp_request* req, void* arg) noexcept;
    static void onConnectionClose(evhttp_connection* conn, void* arg) noexcept;
    event_base* base_;
    // Requests still waiting for an answer, by connection: a connection that closes
    // first detaches them, so a late answer never touches a freed request.
    std::map<evhttp_connection*, std::vector<std::weak_ptr<Responder::State>>> pending_;
    metrics::Registry& metrics_;
    evhttp* http_ = nullptr;
    std::map<std::string, Handler> routes_;
};

}  // namespace titan::authd
