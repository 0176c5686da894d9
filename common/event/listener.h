// Listening sockets: a unix socket with mode and group, or a TCP address.
// Binding happens before privileges are dropped; accepting is done by libevent's
// evconnlistener owned by the caller. Layer: common/event.
#pragma once

#include <sys/socket.h>

#include <string>

#include "common/base/result.h"

namespace titan::event {

struct ListenSpec {
    // Exactly one of path (unix socket) or address ("127.0.0.1:10000", "[::1]:10000").
    std::string path;
    unsigned mode = 0660;  // unix sockets only
    std::string group;     // unix sockets only; empty = keep the process's group
    std::string address;
    int backlog = 128;

    std::string describe() const { return path.empty() ? "tcp:" + address : "unix:" + path; }
};

// Create, bind and listen. For a unix path, a stale socket file is removed first (any
// other kind of file at that path is an error), then mode and group are applied.
// Returns the listening fd (non-blocking, close-on-exec). Errors: Config.
Result<int> bindListener(const ListenSpec& spec);

// Split "host:port" / "[v6]:port" into a sockaddr. Errors: Config.
Result<int> parseAddress(const std::string& address, ::sockaddr_storage* out, int* len);

}  // namespace titan::event
