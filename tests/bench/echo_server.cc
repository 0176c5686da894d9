#include "tests/bench/echo_server.h"

#include <errno.h>
#include <event2/event.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/event/loop.h"

namespace titan::bench {

namespace {

class EchoServer {
public:
    EchoServer(const Protocol& protocol, const EchoOptions& options) : protocol_(protocol), opt_(options) {}

    ~EchoServer() {
        for (auto& [fd, conn] : conns_) {
            event_free(conn->ev);
            ::close(fd);
        }
        if (accept_ev_ != nullptr) event_free(accept_ev_);
        if (listen_fd_ >= 0) ::close(listen_fd_);
        if (opt_.endpoint.isUnix() && listen_fd_ >= 0) ::unlink(opt_.endpoint.path.c_str());
    }

    int run() {
        if (!listen()) return 1;
        loop_.onStopSignal([this] { loop_.stop(); });
        auto cap = loop_.after(std::chrono::milliseconds(std::llround(opt_.max_seconds * 1000)), [this] {
            std::fprintf(stderr, "titan-bench echo: stopping after %.0f s (the --duration bound)\n", opt_.max_seconds);
            loop_.stop();
        });
        std::fprintf(stderr, "titan-bench echo: %s server listening on %s\n", protocol_.name(), opt_.endpoint.text.c_str());
        loop_.run();
        return 0;
    }

private:
    struct Conn {
        EchoServer* server = nullptr;
        int fd = -1;
        ::event* ev = nullptr;
        bool writing = false;  // output pending: waiting for room, not reading
        std::unique_ptr<EchoSession> session;
        std::string in;
        std::string out;
        std::size_t out_off = 0;
    };

    bool listen() {
        const Endpoint& ep = opt_.endpoint;
        if (ep.isUnix()) {
            struct stat st {};
            if (::lstat(ep.path.c_str(), &st) == 0) {
                if (!S_ISSOCK(st.st_mode)) {
                    std::fprintf(stderr, "titan-bench echo: %s exists and is not a socket\n", ep.path.c_str());
                    return false;
                }
                ::unlink(ep.path.c_str());
            }
        }
        listen_fd_ = openSocket(ep);
        if (listen_fd_ < 0) return fail("socket");
        if (!ep.isUnix()) {
            int one = 1;
            setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        }
        if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&ep.addr), ep.addr_len) != 0) return fail("bind");
        if (::listen(listen_fd_, SOMAXCONN) != 0) return fail("listen");
        accept_ev_ = event_new(loop_.base(), listen_fd_, EV_READ | EV_PERSIST, &EchoServer::onAccept, this);
        event_add(accept_ev_, nullptr);
        return true;
    }

    bool fail(const char* what) {
        std::fprintf(stderr, "titan-bench echo: %s %s: %s\n", what, opt_.endpoint.text.c_str(), std::strerror(errno));
        if (listen_fd_ >= 0) ::close(listen_fd_);
        listen_fd_ = -1;
        return false;
    }

    static void onAccept(evutil_socket_t fd, short /*what*/, void* arg) noexcept {
        auto* self = static_cast<EchoServer*>(arg);
        for (int i = 0; i < 64; ++i) {
            int c = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c < 0) return;  // EAGAIN, or a transient error: the next readiness retries
            auto conn = std::make_unique<Conn>();
            conn->server = self;
            conn->fd = c;
            conn->session = self->protocol_.newEchoSession(self->opt_.reply_bytes);
            conn->ev = event_new(self->loop_.base(), c, EV_READ | EV_PERSIST, &EchoServer::onReady, conn.get());
            event_add(conn->ev, nullptr);
            self->conns_.emplace(c, std::move(conn));
        }
    }

    void drop(Conn& c) {
        int fd = c.fd;
        event_free(c.ev);
        ::close(fd);
        conns_.erase(fd);  // destroys c
    }

    // Write what is pending. Returns false if the connection was dropped.
    bool flush(Conn& c) {
        while (c.out_off < c.out.size()) {
            ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
            if (n > 0) {
                c.out_off += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                if (!c.writing) {
                    // Back-pressure: stop reading until the peer takes its answers.
                    c.writing = true;
                    event_del(c.ev);
                    event_assign(c.ev, loop_.base(), c.fd, EV_WRITE | EV_PERSIST, &EchoServer::onReady, &c);
                    event_add(c.ev, nullptr);
                }
                return true;
            }
            drop(c);
            return false;
        }
        c.out.clear();
        c.out_off = 0;
        if (c.writing) {
            c.writing = false;
            event_del(c.ev);
            event_assign(c.ev, loop_.base(), c.fd, EV_READ | EV_PERSIST, &EchoServer::onReady, &c);
            event_add(c.ev, nullptr);
        }
        return true;
    }

    static void onReady(evutil_socket_t /*fd*/, short /*what*/, void* arg) noexcept {
        auto& c = *static_cast<Conn*>(arg);
        EchoServer& s = *c.server;
        if (c.writing) {
            s.flush(c);
            return;
        }
        ssize_t n = ::read(c.fd, s.buf_, sizeof(s.buf_));
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        if (n <= 0) {
            s.drop(c);
            return;
        }
        std::size_t used;
        if (c.in.empty()) {
            // Common case: whole requests in one read, no copy.
            std::string_view data(s.buf_, static_cast<std::size_t>(n));
            used = c.session->consume(data, c.out);
            if (used != std::string_view::npos && used < data.size()) c.in.assign(data.substr(used));
        } else {
            c.in.append(s.buf_, static_cast<std::size_t>(n));
            used = c.session->consume(c.in, c.out);
            if (used != std::string_view::npos) c.in.erase(0, used);
        }
        if (used == std::string_view::npos) {
            s.drop(c);
            return;
        }
        if (!c.out.empty()) s.flush(c);
    }

    const Protocol& protocol_;
    EchoOptions opt_;
    event::Loop loop_;
    int listen_fd_ = -1;
    ::event* accept_ev_ = nullptr;
    std::unordered_map<int, std::unique_ptr<Conn>> conns_;
    char buf_[65536];
};

}  // namespace

int serveEcho(const Protocol& protocol, const EchoOptions& options) {
    auto server = std::make_unique<EchoServer>(protocol, options);
    return server->run();
}

}  // namespace titan::bench
