#include "common/event/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/base/strings.h"

namespace titan::event {
namespace {

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

Result<int> finishListen(int fd, const ListenSpec& spec) {
    if (listen(fd, spec.backlog) != 0) {
        auto e = errnoText("listen " + spec.describe());
        close(fd);
        return Error::config(e);
    }
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

}  // namespace

Result<int> parseAddress(const std::string& address, sockaddr_storage* out, int* len) {
    std::memset(out, 0, sizeof(*out));
    std::string host;
    std::string port;
    if (!address.empty() && address.front() == '[') {
        auto close_br = address.find(']');
        if (close_br == std::string::npos || close_br + 1 >= address.size() || address[close_br + 1] != ':') {
            return Error::config("bad address '" + address + "' (want [v6]:port)");
        }
        host = address.substr(1, close_br - 1);
        port = address.substr(close_br + 2);
    } else {
        auto colon = address.rfind(':');
        if (colon == std::string::npos) return Error::config("bad address '" + address + "' (want host:port)");
        host = address.substr(0, colon);
        port = address.substr(colon + 1);
    }
    auto p = base::parseUnsigned(port);
    if (!p || *p > 65535) return Error::config("bad port in '" + address + "'");
    auto* v4 = reinterpret_cast<sockaddr_in*>(out);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<uint16_t>(*p));
        *len = sizeof(sockaddr_in);
        return AF_INET;
    }
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<uint16_t>(*p));
        *len = sizeof(sockaddr_in6);
        return AF_INET6;
    }
    return Error::config("bad address '" + address + "' (numeric IPv4 or [IPv6] wanted)");
}

Result<int> bindListener(const ListenSpec& spec) {
    if (spec.path.empty() == spec.address.empty()) {
        return Error::config("listener needs exactly one of 'path' or 'address'");
    }
    if (!spec.path.empty()) {
        sockaddr_un sun{};
        if (spec.path.size() >= sizeof(sun.sun_path)) return Error::config("socket path too long: " + spec.path);
        struct stat st{};
        if (lstat(spec.path.c_str(), &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) return Error::config(spec.path + " exists and is not a socket");
            unlink(spec.path.c_str());
        }
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return Error::config(errnoText("socket"));
        sun.sun_family = AF_UNIX;
        std::memcpy(sun.sun_path, spec.path.c_str(), spec.path.size() + 1);
        mode_t old = umask(0177);
        int rc = bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun));
        umask(old);
        if (rc != 0) {
            auto e = errnoText("bind " + spec.path);
            close(fd);
            return Error::config(e);
        }
        if (!spec.group.empty()) {
            struct group* g = getgrnam(spec.group.c_str());
            if (g == nullptr) {
                close(fd);
                return Error::config("unknown group '" + spec.group + "' for " + spec.path);
            }
            if (chown(spec.path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
                auto e = errnoText("chown " + spec.path);
                close(fd);
                return Error::config(e);
            }
        }
        if (chmod(spec.path.c_str(), static_cast<mode_t>(spec.mode)) != 0) {
            auto e = errnoText("chmod " + spec.path);
            close(fd);
            return Error::config(e);
        }
        return finishListen(fd, spec);
    }
    sockaddr_storage ss{};
    int len = 0;
    auto family = parseAddress(spec.address, &ss, &len);
    if (!family) return std::move(family).error();
    int fd = socket(*family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Error::config(errnoText("socket"));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), static_cast<socklen_t>(len)) != 0) {
        auto e = errnoText("bind " + spec.address);
        close(fd);
        return Error::config(e);
    }
    return finishListen(fd, spec);
}

}  // namespace titan::event
