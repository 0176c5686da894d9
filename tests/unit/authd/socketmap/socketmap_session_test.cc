#include "authd/server/socketmap_session.h"

#include <catch2/catch.hpp>
#include <event2/event.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "authd/store/memory_maps_store.h"

using namespace titan;
using namespace titan::authd;
using namespace std::chrono_literals;
namespace sm = titan::proto::socketmap;

namespace {

// A real LineServer with the netstring framer on a private unix socket, and a client.
struct Server {
    explicit Server(event::ServerLimits limits = defaultLimits()) {
        store.addDomain("example.test");
        store.addMailbox("bob@example.test");
        store.addAlias("sales@example.test", "bob@example.test");
        store.addAlias("sales@example.test", "carol@example.test");
        store.addMailbox("carol@example.test");
        char tmpl[] = "/tmp/titan-smap-test-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        path = dir + "/socketmap.sock";
        server = std::make_unique<event::LineServer>(
            loop, "socketmap", limits,
            [this](event::LineConnection& conn) {
                return std::make_unique<SocketmapSession>(conn, lookup, settings, metrics);
            },
            socketmapFramer());
        event::ListenSpec spec;
        spec.path = path;
        REQUIRE(server->listen(spec));
    }
    ~Server() {
        server.reset();
        rmdir(dir.c_str());
    }

    static event::ServerLimits defaultLimits() {
        event::ServerLimits l;
        l.max_line_bytes = sm::maxRequestBytes(sm::Limits{});
        return l;
    }

    int connect() {
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        REQUIRE(fd >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
        REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        pump();
        return fd;
    }

    void pump() {
        for (int i = 0; i < 5; ++i) event_base_loop(loop.base(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
    }

    void send(int fd, std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n > 0) bytes.remove_prefix(static_cast<size_t>(n));
            pump();
        }
    }

    // Reads `n` reply payloads (fewer if the server closes). *closed tells whether it did.
    std::vector<std::string> replies(int fd, size_t n, bool* closed = nullptr) {
        std::vector<std::string> out;
        bool eof = false;
        auto deadline = std::chrono::steady_clock::now() + 3s;
        while (out.size() < n && !eof && std::chrono::steady_clock::now() < deadline) {
            pump();
            char buf[65536];
            ssize_t got = ::recv(fd, buf, sizeof(buf), 0);
            if (got == 0) eof = true;
            if (got > 0) in.append(buf, static_cast<size_t>(got));
            for (;;) {
                auto r = sm::nextNetstring(in, sm::kPostfixMaxReplyBytes);
                const auto* ns = std::get_if<sm::Netstring>(&r);
                if (ns == nullptr) break;
                out.emplace_back(ns->payload);
                in.erase(0, ns->consumed);
            }
        }
        if (closed != nullptr) {
            // A close follows the answers at once; 300 ms without one means it stays open.
            auto until = std::chrono::steady_clock::now() + 300ms;
            while (!eof && std::chrono::steady_clock::now() < until) {
                pump();
                char c;
                ssize_t got = ::recv(fd, &c, 1, 0);
                if (got == 0) eof = true;
                if (got > 0) in.push_back(c);
            }
            *closed = eof;
        }
        return out;
    }

    event::Loop loop;
    metrics::Registry registry;
    store::MemoryMapsStore store{&loop};
    MapLookup lookup{store, core::CacheOptions{}, core::maps::Settings{}, registry};
    SocketmapMetrics metrics{registry};
    std::shared_ptr<const SocketmapSettings> settings = std::make_shared<SocketmapSettings>();
    std::unique_ptr<event::LineServer> server;
    std::string dir, path, in;
};

}  // namespace

TEST_CASE("socketmap server: each map, pipelined, answered in order", "[glue]") {
    Server s;
    int fd = s.connect();
    s.send(fd, sm::encodeRequest("domains", "Example.TEST") + sm::encodeRequest("mailboxes", "bob+x@example.test") +
                   sm::encodeRequest("mailboxes", "nobody@example.test") +
                   sm::encodeRequest("aliases", "sales@example.test") +
                   sm::encodeRequest("senders", "sales@example.test") + sm::encodeRequest("domains", "remote.test"));
    auto got = s.replies(fd, 6);
    const std::vector<std::string> want = {"OK example.test", "OK bob@example.test", "NOTFOUND ",
                                           "OK bob@example.test,carol@example.test",
                                           "OK bob@example.test,carol@example.test", "NOTFOUND "};
    CHECK(got == want);
    ::close(fd);
}

TEST_CASE("socketmap server: a request split at every byte", "[glue]") {
    Server s;
    int fd = s.connect();
    const std::string req = sm::encodeRequest("mailboxes", "bob@example.test");
    for (char c : req) s.send(fd, std::string_view(&c, 1));
    CHECK(s.replies(fd, 1) == std::vector<std::string>{"OK bob@example.test"});
    ::close(fd);
}

TEST_CASE("socketmap server: malformed requests and unknown maps get PERM, the connection stays", "[glue]") {
    Server s;
    int fd = s.connect();
    s.send(fd, sm::encodeRequest("virtual", "bob@example.test") + sm::encodeNetstring("no-space") +
                   sm::encodeNetstring("") + sm::encodeNetstring(std::string("mailboxes a\0b", 13)) +
                   sm::encodeRequest("mailboxes", "bob@example.test"));
    const std::vector<std::string> want = {"PERM unknown map name", "PERM no space between map name and key",
                                           "PERM no space between map name and key", "PERM NUL byte in request",
                                           "OK bob@example.test"};
    CHECK(s.replies(fd, 5) == want);
    CHECK(s.metrics.protocol_errors.value() == 4);
    ::close(fd);
}

TEST_CASE("socketmap server: broken framing is a logged disconnect", "[glue]") {
    struct Case { const char* name; std::string bytes; event::DisconnectReason reason; };
    const Case cases[] = {
        {"not a netstring", "GET / HTTP/1.0\r\n\r\n", event::DisconnectReason::ProtocolError},
        {"bad terminator", "5:hello;", event::DisconnectReason::ProtocolError},
        {"too many digits", "00000000001:a,", event::DisconnectReason::ProtocolError},
        {"announced length over the limit", "999999:", event::DisconnectReason::LineTooLong},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        Server s;
        int fd = s.connect();
        // A good request first, answered; then the garbage closes the connection.
        s.send(fd, sm::encodeRequest("domains", "example.test"));
        CHECK(s.replies(fd, 1) == std::vector<std::string>{"OK example.test"});
        s.send(fd, c.bytes);
        bool closed = false;
        CHECK(s.replies(fd, 0, &closed).empty());
        CHECK(closed);
        CHECK(s.server->disconnects(c.reason) == 1);
        ::close(fd);
    }
}

TEST_CASE("socketmap server: the request size limit at -1, 0 and +1", "[glue]") {
    event::ServerLimits limits = Server::defaultLimits();
    limits.max_line_bytes = 64;
    for (size_t size : {size_t{63}, size_t{64}, size_t{65}}) {
        INFO("payload bytes " << size);
        Server s(limits);
        int fd = s.connect();
        const std::string key = std::string(size - 10 - 13, 'a') + "@example.test";  // "mailboxes " is 10
        REQUIRE(10 + key.size() == size);
        s.send(fd, sm::encodeRequest("mailboxes", key));
        bool closed = false;
        auto got = s.replies(fd, 1, &closed);
        if (size <= 64) {
            CHECK(got == std::vector<std::string>{"NOTFOUND "});
            CHECK_FALSE(closed);
        } else {
            CHECK(got.empty());
            CHECK(closed);
            CHECK(s.server->disconnects(event::DisconnectReason::LineTooLong) == 1);
        }
        ::close(fd);
    }
}

TEST_CASE("socketmap server: database down gives TEMP, not NOTFOUND", "[glue]") {
    Server s;
    s.store.setDownForTest(true);
    int fd = s.connect();
    s.send(fd, sm::encodeRequest("mailboxes", "bob@example.test") + sm::encodeRequest("domains", "example.test"));
    auto got = s.replies(fd, 2);
    REQUIRE(got.size() == 2);
    for (const auto& r : got) CHECK(sm::parseReply(r).status == sm::Status::Temp);
    s.store.setDownForTest(false);
    s.send(fd, sm::encodeRequest("mailboxes", "bob@example.test"));
    CHECK(s.replies(fd, 1) == std::vector<std::string>{"OK bob@example.test"});
    ::close(fd);
}

TEST_CASE("socketmap server: configured map names", "[glue]") {
    Server s;
    auto custom = std::make_shared<SocketmapSettings>();
    custom->map_names = {"vdomains", "vmailbox", "valias", "vsender"};
    s.settings = custom;
    int fd = s.connect();
    s.send(fd, sm::encodeRequest("vmailbox", "bob@example.test") + sm::encodeRequest("mailboxes", "bob@example.test"));
    CHECK(s.replies(fd, 2) == std::vector<std::string>{"OK bob@example.test", "PERM unknown map name"});
    ::close(fd);
}
