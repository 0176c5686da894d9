// contrib/proftpd/titan_client.c: mod_titan's HTTP client and JSON reader, tested on
// their own (codec tables, every split of a response, limits) and against a real
// loopback socket (answers, refusals, timeouts, oversized answers).
#include "titan_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Parsed {
    int count = -1;
    std::vector<titan_member> members = std::vector<titan_member>(TITAN_MAX_MEMBERS);
    std::string store;
    const char* get(const char* key) const { return titan_json_get(members.data(), count, key); }
};

Parsed parse(const std::string& text, size_t store_len = 4096, int max_members = TITAN_MAX_MEMBERS) {
    Parsed p;
    p.store.assign(store_len, '\0');
    p.count = titan_json_parse_object(text.data(), text.size(), p.members.data(), max_members, p.store.data(),
                                      p.store.size());
    return p;
}

std::string jsonString(const std::string& in) {
    char buf[256];
    titan_buf b;
    titan_buf_init(&b, buf, sizeof(buf));
    titan_buf_json_string(&b, in.data(), in.size());
    REQUIRE_FALSE(b.failed);
    return std::string(b.data, b.len);
}

std::string base64(const std::string& in) {
    char buf[256];
    titan_buf b;
    titan_buf_init(&b, buf, sizeof(buf));
    titan_buf_base64(&b, reinterpret_cast<const unsigned char*>(in.data()), in.size());
    REQUIRE_FALSE(b.failed);
    return std::string(b.data, b.len);
}

}  // namespace

TEST_CASE("json: flat objects as authd sends them", "[codec]") {
    auto p = parse(R"({"status":"found","user":"bob@example.test","uid":5000,"quota_hard":true,)"
                   R"("quota_per_session":false,"bytes_in_avail":1.5e3,"gone":null, "neg": -1 })");
    REQUIRE(p.count == 7);  // "gone" is null: dropped
    CHECK(std::string(p.get("status")) == "found");
    CHECK(std::string(p.get("user")) == "bob@example.test");
    CHECK(std::string(p.get("uid")) == "5000");
    CHECK(std::string(p.get("quota_hard")) == "true");
    CHECK(std::string(p.get("quota_per_session")) == "false");
    CHECK(std::string(p.get("bytes_in_avail")) == "1.5e3");
    CHECK(std::string(p.get("neg")) == "-1");
    CHECK(p.get("gone") == nullptr);
    CHECK(p.get("missing") == nullptr);
    CHECK(parse("{}").count == 0);
    CHECK(parse(" \n{ } \r\n").count == 0);
}

TEST_CASE("json: string escapes", "[codec]") {
    struct Case {
        const char* json;
        const char* want;
    } cases[] = {
        {R"({"k":"a\"b"})", "a\"b"},
        {R"({"k":"a\\b"})", "a\\b"},
        {R"({"k":"a\/b"})", "a/b"},
        {R"({"k":"\b\f\n\r\t"})", "\b\f\n\r\t"},
        {R"({"k":"\u00e9"})", "\xc3\xa9"},
        {R"({"k":"\u20AC"})", "\xe2\x82\xac"},
        {R"({"k":"\ud83d\ude00"})", "\xf0\x9f\x98\x80"},
        {"{\"k\":\"\xc3\xa9 raw\"}", "\xc3\xa9 raw"},
    };
    for (const auto& c : cases) {
        INFO(c.json);
        auto p = parse(c.json);
        REQUIRE(p.count == 1);
        CHECK(std::string(p.get("k")) == c.want);
    }
}

TEST_CASE("json: malformed, nested or oversized input is refused", "[codec]") {
    const char* bad[] = {
        "",          "[]",          "{",           "{\"a\"}",       "{\"a\":}",       "{\"a\":1,}",
        "{\"a\":1 \"b\":2}",        "{\"a\":{}}",  "{\"a\":[1]}",   "{\"a\":tru}",    "{\"a\":01}",
        "{\"a\":-}", "{\"a\":1.}",  "{\"a\":1e}",  "{a:1}",         "{\"a\":1} x",    "{\"a\":\"x}",
        "{\"a\":\"\\x\"}",          "{\"a\":\"\\u12\"}",            "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\ud800\"}",      "{\"a\":\"\\udc00\"}",          "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"tab\there\"}",    "{\"a\":1}{",
    };
    for (const char* b : bad) {
        INFO(b);
        CHECK(parse(b).count == -1);
    }
    // Member limit at -1/0/+1.
    auto members = [](int n) {
        std::string s = "{";
        for (int i = 0; i < n; ++i) s += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":1";
        return s + "}";
    };
    CHECK(parse(members(3), 4096, 4).count == 3);
    CHECK(parse(members(4), 4096, 4).count == 4);
    CHECK(parse(members(5), 4096, 4).count == -1);
    // Store limit: "k" NUL "abc" NUL = 6 bytes; the store also needs room to stop.
    CHECK(parse(R"({"k":"abc"})", 7).count == 1);
    CHECK(parse(R"({"k":"abc"})", 6).count == -1);
    CHECK(parse(R"({"k":"abc"})", 1).count == -1);
    // Every truncation of a valid object is refused, never read past its end.
    std::string full = R"({"status":"found","home":"/srv/\u00e9","uid":5000,"ok":true})";
    for (size_t n = 0; n < full.size(); ++n) {
        INFO("prefix " << n);
        CHECK(parse(full.substr(0, n)).count == -1);
    }
    CHECK(parse(full).count == 4);
}

TEST_CASE("request bodies: JSON strings and base64", "[codec]") {
    CHECK(jsonString("bob@example.test") == "\"bob@example.test\"");
    CHECK(jsonString("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(jsonString(std::string("\x01\n\x7f", 3)) == "\"\\u0001\\u000a\\u007f\"");
    CHECK(jsonString("\xc3\xa9") == "\"\xc3\xa9\"");
    // RFC 4648 test vectors.
    CHECK(base64("") == "");
    CHECK(base64("f") == "Zg==");
    CHECK(base64("fo") == "Zm8=");
    CHECK(base64("foo") == "Zm9v");
    CHECK(base64("foob") == "Zm9vYg==");
    CHECK(base64("fooba") == "Zm9vYmE=");
    CHECK(base64("foobar") == "Zm9vYmFy");
    CHECK(base64(std::string("\xff\xfe\x00", 3)) == "//4A");
    // The buffer bound: what does not fit fails, never overflows.
    char small[5];
    titan_buf b;
    titan_buf_init(&b, small, sizeof(small));
    titan_buf_adds(&b, "abcd");
    CHECK_FALSE(b.failed);
    titan_buf_adds(&b, "e");
    CHECK(b.failed);
    CHECK(std::string(small) == "abcd");
}

TEST_CASE("utf8 validation", "[codec]") {
    struct Case {
        std::string text;
        int want;
    } cases[] = {
        {"bob@example.test", 1},     {"\xc3\xa9", 1},         {"\xe2\x82\xac", 1},        {"\xf0\x9f\x98\x80", 1},
        {"", 1},                     {"\xc3", 0},             {"\xc0\xaf", 0},            {"\xe0\x80\xaf", 0},
        {"\xed\xa0\x80", 0},         {"\xf4\x90\x80\x80", 0}, {"\xff", 0},                {"a\nb", 0},
        {std::string("a\0b", 3), 0}, {"\x7f", 0},             {"\xe2\x82", 0},
    };
    for (const auto& c : cases) {
        INFO(c.text);
        CHECK(titan_utf8_valid(c.text.data(), c.text.size()) == c.want);
    }
}

TEST_CASE("endpoint and duration parsing", "[codec]") {
    titan_endpoint ep;
    char err[128];
    REQUIRE(titan_endpoint_parse(&ep, "127.0.0.1:9151", err, sizeof(err)) == 0);
    CHECK(std::string(ep.host_header) == "127.0.0.1:9151");
    CHECK(ep.addr.ss_family == AF_INET);
    REQUIRE(titan_endpoint_parse(&ep, "[::1]:9151", err, sizeof(err)) == 0);
    CHECK(std::string(ep.host_header) == "[::1]:9151");
    CHECK(ep.addr.ss_family == AF_INET6);
    for (const char* bad : {"", "localhost:9151", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                            "127.0.0.1:12x", "::1:9151", "[::1]9151", "[]:1", "[zz]:1", ":9151"}) {
        INFO(bad);
        CHECK(titan_endpoint_parse(&ep, bad, err, sizeof(err)) == -1);
    }
    CHECK(titan_endpoint_parse(&ep, "127.0.0.1:65535", err, sizeof(err)) == 0);

    CHECK(titan_parse_duration_ms("250ms") == 250);
    CHECK(titan_parse_duration_ms("2s") == 2000);
    CHECK(titan_parse_duration_ms("5") == 5000);
    CHECK(titan_parse_duration_ms("600s") == 600000);
    CHECK(titan_parse_duration_ms("601s") == -1);
    CHECK(titan_parse_duration_ms("1ms") == 1);
    CHECK(titan_parse_duration_ms("0ms") == -1);
    CHECK(titan_parse_duration_ms("0") == -1);
    CHECK(titan_parse_duration_ms("-1s") == -1);
    CHECK(titan_parse_duration_ms("5m") == -1);
    CHECK(titan_parse_duration_ms("") == -1);
}

TEST_CASE("http: responses split at every byte", "[codec]") {
    const std::string body = R"({"status":"ok"})";
    const std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: " +
                             std::to_string(body.size()) + "\r\n\r\n" + body;
    int status = 0;
    size_t off = 0, len = 0;
    for (size_t n = 0; n < resp.size(); ++n) {
        INFO("prefix " << n);
        CHECK(titan_http_parse(resp.data(), n, 0, &status, &off, &len) == 1);
        CHECK(titan_http_parse(resp.data(), n, 1, &status, &off, &len) == -1);
    }
    REQUIRE(titan_http_parse(resp.data(), resp.size(), 0, &status, &off, &len) == 0);
    CHECK(status == 200);
    CHECK(resp.substr(off, len) == body);
    // Without Content-Length the body ends when the peer closes.
    const std::string closed = "HTTP/1.0 503 Unavailable\r\nServer: x\r\n\r\n{}";
    CHECK(titan_http_parse(closed.data(), closed.size(), 0, &status, &off, &len) == 1);
    REQUIRE(titan_http_parse(closed.data(), closed.size(), 1, &status, &off, &len) == 0);
    CHECK(status == 503);
    CHECK(closed.substr(off, len) == "{}");
}

TEST_CASE("http: malformed responses", "[codec]") {
    int status = 0;
    size_t off = 0, len = 0;
    const char* bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 600 X\r\n\r\n",
        "SSH-2.0-OpenSSH\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",
    };
    for (const char* b : bad) {
        INFO(b);
        CHECK(titan_http_parse(b, strlen(b), 1, &status, &off, &len) == -1);
    }
}

namespace {

// A one-shot loopback server: accepts one connection, reads the request (until the
// blank line and Content-Length bytes), then runs `behave`.
class OneShotServer {
public:
    explicit OneShotServer(std::function<void(int fd, const std::string& request)> behave) {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
        socklen_t alen = sizeof(a);
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &alen);
        port_ = ntohs(a.sin_port);
        REQUIRE(listen(fd_, 4) == 0);
        thread_ = std::thread([this, behave] {
            int c = accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            std::string req;
            char buf[4096];
            size_t need = std::string::npos;
            while (true) {
                auto head = req.find("\r\n\r\n");
                if (head != std::string::npos && need == std::string::npos) {
                    auto cl = req.find("Content-Length: ");
                    need = head + 4 + std::stoul(req.substr(cl + 16));
                }
                if (need != std::string::npos && req.size() >= need) break;
                ssize_t n = recv(c, buf, sizeof(buf), 0);
                if (n <= 0) break;
                req.append(buf, static_cast<size_t>(n));
            }
            request = req;
            behave(c, req);
            close(c);
        });
    }
    ~OneShotServer() {
        shutdown(fd_, SHUT_RDWR);
        if (thread_.joinable()) thread_.join();
        close(fd_);
    }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    std::string request;

private:
    int fd_ = -1;
    unsigned short port_ = 0;
    std::thread thread_;
};

struct Call {
    int rc = 0;
    int status = 0;
    std::string body;
    long elapsed_ms = 0;
};

Call post(const std::string& address, const std::string& body, long connect_ms = 1000, long total_ms = 2000,
          const char* key = nullptr) {
    titan_endpoint ep;
    char err[128];
    REQUIRE(titan_endpoint_parse(&ep, address.c_str(), err, sizeof(err)) == 0);
    static char resp[TITAN_MAX_RESPONSE];
    const char* rb = nullptr;
    size_t rl = 0;
    Call c;
    auto t0 = std::chrono::steady_clock::now();
    c.rc = titan_http_post(&ep, "/ftp/v1/lookup", key, body.data(), body.size(), connect_ms, total_ms, nullptr,
                           resp, sizeof(resp), &c.status, &rb, &rl);
    c.elapsed_ms = static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
    if (c.rc == TITAN_HTTP_OK) c.body.assign(rb, rl);
    return c;
}

void sendAll(int fd, const std::string& s) { (void)send(fd, s.data(), s.size(), MSG_NOSIGNAL); }

}  // namespace

TEST_CASE("http client: a request and its answer over loopback", "[glue]") {
    OneShotServer server([](int fd, const std::string&) {
        std::string body = R"({"status":"not_found"})";
        // Dribble the answer out in small pieces.
        std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        for (size_t i = 0; i < resp.size(); i += 7) {
            sendAll(fd, resp.substr(i, 7));
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    auto c = post(server.address(), R"({"user":"bob@example.test"})");
    REQUIRE(c.rc == TITAN_HTTP_OK);
    CHECK(c.status == 200);
    CHECK(c.body == R"({"status":"not_found"})");
    CHECK(server.request.rfind("POST /ftp/v1/lookup HTTP/1.0\r\n", 0) == 0);
    CHECK(server.request.find("Content-Length: 27\r\n") != std::string::npos);
    CHECK(server.request.find("\r\n\r\n{\"user\":\"bob@example.test\"}") != std::string::npos);
    CHECK(server.request.find("Authorization") == std::string::npos);
}

TEST_CASE("http client: the bearer key travels in the Authorization header", "[glue]") {
    OneShotServer server([](int fd, const std::string&) { sendAll(fd, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\n{}"); });
    auto c = post(server.address(), "{}", 1000, 2000, "s3cret-Key");
    REQUIRE(c.rc == TITAN_HTTP_OK);
    CHECK(c.status == 401);
    CHECK(server.request.find("\r\nAuthorization: Bearer s3cret-Key\r\n") != std::string::npos);
    // Over the limit: refused before anything is sent.
    std::string too_long(TITAN_MAX_KEY + 1, 'k');
    CHECK(post("127.0.0.1:9", "{}", 100, 100, too_long.c_str()).rc == TITAN_HTTP_MALFORMED);
}

TEST_CASE("http client: refused, silent, early close and oversized answers", "[glue]") {
    SECTION("nobody listens") {
        int probe = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof(a));
        socklen_t alen = sizeof(a);
        getsockname(probe, reinterpret_cast<sockaddr*>(&a), &alen);
        close(probe);  // a port that was just free
        auto c = post("127.0.0.1:" + std::to_string(ntohs(a.sin_port)), "{}");
        CHECK(c.rc == TITAN_HTTP_CONNECT);
    }
    SECTION("the server never answers: the deadline holds") {
        std::atomic<bool> release{false};
        OneShotServer server([&](int, const std::string&) {
            for (int i = 0; i < 300 && !release; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        });
        auto c = post(server.address(), "{}", 1000, 300);
        release = true;
        CHECK(c.rc == TITAN_HTTP_TIMEOUT);
        CHECK(c.elapsed_ms >= 250);
        CHECK(c.elapsed_ms < 2000);
    }
    SECTION("the server closes before the body is complete") {
        OneShotServer server([](int fd, const std::string&) { sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"); });
        CHECK(post(server.address(), "{}").rc == TITAN_HTTP_MALFORMED);
    }
    SECTION("the server closes without a word") {
        OneShotServer server([](int, const std::string&) {});
        CHECK(post(server.address(), "{}").rc == TITAN_HTTP_IO);
    }
    SECTION("an answer larger than the limit") {
        OneShotServer server([](int fd, const std::string&) {
            sendAll(fd, "HTTP/1.1 200 OK\r\n\r\n" + std::string(TITAN_MAX_RESPONSE + 10, 'x'));
        });
        CHECK(post(server.address(), "{}").rc == TITAN_HTTP_TOO_LARGE);
    }
    SECTION("not HTTP") {
        OneShotServer server([](int fd, const std::string&) { sendAll(fd, "+OK POP3 ready\r\n\r\n"); });
        CHECK(post(server.address(), "{}").rc == TITAN_HTTP_MALFORMED);
    }
}
