#include "common/event/line_server.h"

#include <catch2/catch.hpp>
#include <event2/event.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

using namespace titan;
using namespace std::chrono_literals;

namespace {

// Answers every line with a copy of itself.
class Echo : public event::LineHandler {
public:
    explicit Echo(event::LineConnection& conn) : conn_(conn) {}
    void onLine(std::string_view line) override {
        std::string out(line);
        out += '\n';
        conn_.write(out);
    }

private:
    event::LineConnection& conn_;
};

struct Rig {
    explicit Rig(event::ServerLimits limits) {
        char tmpl[] = "/tmp/titan-linesrv-test-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        path = dir + "/echo.sock";
        server = std::make_unique<event::LineServer>(
            loop, "echo", limits, [](event::LineConnection& conn) { return std::make_unique<Echo>(conn); });
        event::ListenSpec spec;
        spec.path = path;
        REQUIRE(server->listen(spec));
    }
    ~Rig() {
        server.reset();
        rmdir(dir.c_str());
    }

    int connect() {
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        REQUIRE(fd >= 0);
        int small = 4096;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
        REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        runFor(20ms);
        return fd;
    }

    void runFor(std::chrono::milliseconds ms) {
        timeval tv{static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
        event_base_loopexit(loop.base(), &tv);
        event_base_dispatch(loop.base());
    }

    event::Loop loop;
    std::string dir, path;
    std::unique_ptr<event::LineServer> server;
};

}  // namespace

TEST_CASE("line server: a peer that reads none of its answers for an idle period is disconnected", "[event]") {
    event::ServerLimits limits;
    limits.idle_timeout = 300ms;
    limits.max_output_bytes = 64 * 1024;
    Rig rig(limits);
    int fd = rig.connect();
    REQUIRE(rig.server->connections() == 1);
    // Commands until the server stops reading them: its answers fill the socket and
    // then its output buffer, and the peer never reads one.
    std::string chunk;
    for (int i = 0; i < 64; ++i) chunk += std::string(1000, 'a') + "\n";
    size_t sent = 0;
    for (int stalls = 0; stalls < 20;) {
        ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<size_t>(n);
            stalls = 0;
        } else {
            ++stalls;
        }
        rig.runFor(5ms);
    }
    REQUIRE(sent > limits.max_output_bytes);
    CHECK(rig.server->connections() == 1);
    // Three idle periods without one byte of progress: the connection is gone.
    rig.runFor(900ms);
    CHECK(rig.server->connections() == 0);
    CHECK(rig.server->disconnects(event::DisconnectReason::IdleTimeout) == 1);
    ::close(fd);
}

TEST_CASE("line server: a peer that keeps reading its answers slowly stays connected", "[event]") {
    event::ServerLimits limits;
    limits.idle_timeout = 300ms;
    limits.max_output_bytes = 64 * 1024;
    Rig rig(limits);
    int fd = rig.connect();
    std::string chunk;
    for (int i = 0; i < 64; ++i) chunk += std::string(1000, 'a') + "\n";
    size_t sent = 0, received = 0;
    char buf[4096];
    auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < 1200ms) {
        ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (n > 0) sent += static_cast<size_t>(n);
        // Half as fast as it sends: the server's output grows and its reading pauses,
        // but its answers keep leaving.
        for (int i = 0; i < 8; ++i) {
            ssize_t r = ::recv(fd, buf, sizeof(buf), 0);
            if (r > 0) received += static_cast<size_t>(r);
        }
        rig.runFor(20ms);
    }
    CHECK(received > limits.max_output_bytes);
    CHECK(sent > received);
    CHECK(rig.server->connections() == 1);
    CHECK(rig.server->disconnects(event::DisconnectReason::IdleTimeout) == 0);
    ::close(fd);
}
