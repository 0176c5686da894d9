// Where titan-bench connects or listens: a unix socket path or a loopback TCP address.
// Non-loopback addresses are refused: the tool is for measuring a local daemon, not for
// loading somebody else's. Layer: tests/bench.
#pragma once

#include <sys/socket.h>

#include <string>

#include "common/base/result.h"

namespace titan::bench {

struct Endpoint {
    std::string path;  // unix socket, or empty for TCP
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    std::string text;  // "unix:/run/x.sock" or "tcp:127.0.0.1:10000"

    bool isUnix() const noexcept { return !path.empty(); }
};

// A unix socket path (shorter than sun_path). Errors: InvalidInput.
Result<Endpoint> unixEndpoint(const std::string& path);

// "HOST:PORT" with HOST 127.0.0.0/8, "localhost", "::1" or "[::1]". Errors: InvalidInput.
Result<Endpoint> tcpEndpoint(const std::string& host_port);

// Opens a non-blocking, close-on-exec stream socket for `ep`'s address family.
// Returns -1 with errno set on failure.
int openSocket(const Endpoint& ep);

}  // namespace titan::bench
