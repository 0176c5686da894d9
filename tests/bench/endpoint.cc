#include "tests/bench/endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>

#include "common/base/strings.h"

namespace titan::bench {

Result<Endpoint> unixEndpoint(const std::string& path) {
    Endpoint ep;
    sockaddr_un sun{};
    if (path.empty() || path.size() >= sizeof(sun.sun_path)) {
        return Error::invalidInput("unix socket path is empty or longer than " +
                                   std::to_string(sizeof(sun.sun_path) - 1) + " bytes");
    }
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.data(), path.size());
    std::memcpy(&ep.addr, &sun, sizeof(sun));
    ep.addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    ep.path = path;
    ep.text = "unix:" + path;
    return ep;
}

Result<Endpoint> tcpEndpoint(const std::string& host_port) {
    std::size_t colon = host_port.rfind(':');
    if (colon == std::string::npos || colon == 0) return Error::invalidInput("--tcp wants HOST:PORT");
    std::string host = host_port.substr(0, colon);
    auto port = base::parseUnsigned(std::string_view(host_port).substr(colon + 1));
    if (!port || *port == 0 || *port > 65535) return Error::invalidInput("--tcp: bad port");
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host == "localhost") host = "127.0.0.1";
    Endpoint ep;
    sockaddr_in v4{};
    sockaddr_in6 v6{};
    if (inet_pton(AF_INET, host.c_str(), &v4.sin_addr) == 1) {
        if ((ntohl(v4.sin_addr.s_addr) >> 24) != 127) return Error::invalidInput("--tcp: only loopback addresses (127.0.0.0/8, ::1)");
        v4.sin_family = AF_INET;
        v4.sin_port = htons(static_cast<uint16_t>(*port));
        std::memcpy(&ep.addr, &v4, sizeof(v4));
        ep.addr_len = sizeof(v4);
        ep.text = "tcp:" + host + ":" + std::to_string(*port);
    } else if (inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&v6.sin6_addr)) return Error::invalidInput("--tcp: only loopback addresses (127.0.0.0/8, ::1)");
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(static_cast<uint16_t>(*port));
        std::memcpy(&ep.addr, &v6, sizeof(v6));
        ep.addr_len = sizeof(v6);
        ep.text = "tcp:[" + host + "]:" + std::to_string(*port);
    } else {
        return Error::invalidInput("--tcp: HOST must be a numeric loopback address or localhost");
    }
    return ep;
}

int openSocket(const Endpoint& ep) {
    return ::socket(ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

}  // namespace titan::bench
