// AuthClientSession and SaslServer on a real event loop and a unix socket, with a
// test double of the Authenticator interface (unit tests only; the integration tests
// use the real one behind Postfix).
#include "authd/server/auth_client_session.h"

#include <event2/event.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "common/proto/dovecot_auth/base64.h"

using namespace titan;
using namespace titan::authd;
using namespace std::chrono_literals;
namespace da = titan::proto::dovecot_auth;

namespace {

// Answers each request on a later loop turn (never inside authenticate(), as the
// interface promises), from `answer`, or holds it when `hold` is set.
struct FakeAuthenticator : Authenticator {
    explicit FakeAuthenticator(event::Loop& l) : loop(l) {}
    event::Loop& loop;
    std::vector<AuthRequest> seen;
    std::function<AuthOutcome(const AuthRequest&)> answer = [](const AuthRequest& r) {
        AuthOutcome o;
        o.status = r.password == "secret" ? AuthStatus::Ok : AuthStatus::Failed;
        o.user = "john@example.com";
        return o;
    };
    bool hold = false;
    std::vector<Done> held;
    std::vector<std::unique_ptr<event::Timer>> timers;

    void authenticate(AuthRequest request, Done done) override {
        seen.push_back(request);
        if (hold) {
            held.push_back(std::move(done));
            return;
        }
        AuthOutcome out = answer(request);
        timers.push_back(loop.after(0ms, [done, out] { done(out); }));
    }
    void release(size_t i, AuthOutcome out) {
        auto d = held.at(i);
        timers.push_back(loop.after(0ms, [d, out] { d(out); }));
    }
};

SaslSettings fastSettings(std::chrono::milliseconds delay = 0ms) {
    SaslSettings s;
    s.failure_delay = delay;
    return s;
}

struct Client {
    int fd = -1;
    std::string in;
    bool eof = false;
    ~Client() {
        if (fd >= 0) ::close(fd);
    }
    void send(const std::string& s) const { REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size())); }
    void drain() {
        char buf[4096];
        for (;;) {
            ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (n > 0) {
                in.append(buf, static_cast<size_t>(n));
                continue;
            }
            if (n == 0) eof = true;
            return;
        }
    }
    // Everything after the handshake (up to and including DONE) is dropped.
    std::string afterHandshake() const {
        auto p = in.find("DONE\n");
        return p == std::string::npos ? in : in.substr(p + 5);
    }
};

struct Rig {
    event::Loop loop;
    metrics::Registry registry;
    FakeAuthenticator auth{loop};
    std::unique_ptr<SaslServer> server;
    std::string dir;
    std::string path;

    explicit Rig(SaslSettings settings = fastSettings(), event::ServerLimits limits = defaultSaslLimits()) {
        char tmpl[] = "/tmp/titan-sasl-test-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        path = dir + "/sasl.sock";
        server = std::make_unique<SaslServer>(loop, auth, registry, settings);
        event::ListenSpec spec;
        spec.path = path;
        spec.mode = 0600;
        auto st = server->listen({spec}, limits);
        REQUIRE(st.ok());
    }
    ~Rig() {
        server.reset();
        ::unlink(path.c_str());
        ::rmdir(dir.c_str());
    }

    std::unique_ptr<Client> connect() {
        auto c = std::make_unique<Client>();
        c->fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
        REQUIRE(::connect(c->fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
        return c;
    }

    // Runs the loop until pred() holds or `timeout` passes; returns pred().
    bool until(Client& c, const std::function<bool()>& pred, std::chrono::milliseconds timeout = 3000ms) {
        bool timed_out = false;
        auto guard = loop.after(timeout, [&] { timed_out = true; });
        c.drain();
        while (!pred() && !timed_out) {
            event_base_loop(loop.base(), EVLOOP_ONCE);
            c.drain();
        }
        return pred();
    }
    bool untilContains(Client& c, const std::string& text, std::chrono::milliseconds timeout = 3000ms) {
        return until(c, [&] { return c.in.find(text) != std::string::npos; }, timeout);
    }
    // Runs the loop for `d` (nothing else may be expected meanwhile).
    void idle(Client& c, std::chrono::milliseconds d) {
        bool done = false;
        auto guard = loop.after(d, [&] { done = true; });
        while (!done) {
            event_base_loop(loop.base(), EVLOOP_ONCE);
            c.drain();
        }
    }
    double counter(const std::string& series) const {
        // "name{labels} value" lines of the Prometheus text.
        const std::string text = registry.render();
        auto p = text.find("\n" + series + " ");
        if (p == std::string::npos) return -1;
        return std::atof(text.c_str() + p + series.size() + 2);
    }
};

const std::string kHello = "VERSION\t1\t0\nCPID\t20411\n";
const std::string kPlainJohn =
    "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=192.0.2.10\trip=198.51.100.7\tsecured\t"
    "resp=AGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0\n";

}  // namespace

TEST_CASE("sasl session: handshake on connect", "[glue]") {
    Rig rig;
    auto c = rig.connect();
    REQUIRE(rig.untilContains(*c, "DONE\n"));
    const std::string want_prefix = "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nSPID\t" +
                                    std::to_string(getpid()) + "\nCUID\t1\nCOOKIE\t";
    REQUIRE(c->in.size() == want_prefix.size() + 32 + 1 + 5);
    CHECK(c->in.substr(0, want_prefix.size()) == want_prefix);
    const std::string cookie = c->in.substr(want_prefix.size(), 32);
    CHECK(cookie.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(c->in.substr(want_prefix.size() + 32) == "\nDONE\n");
    // A second connection gets its own id and cookie.
    auto c2 = rig.connect();
    REQUIRE(rig.untilContains(*c2, "DONE\n"));
    CHECK(c2->in.find("CUID\t2\n") != std::string::npos);
    CHECK(c2->in.find(cookie) == std::string::npos);
}

TEST_CASE("sasl session: only the configured mechanisms are offered", "[glue]") {
    SaslSettings s = fastSettings();
    s.mechanisms = {da::Mechanism::Login};
    Rig rig(s);
    auto c = rig.connect();
    REQUIRE(rig.untilContains(*c, "DONE\n"));
    CHECK(c->in.find("MECH\tLOGIN\tplaintext\n") != std::string::npos);
    CHECK(c->in.find("PLAIN") == std::string::npos);
}

TEST_CASE("sasl session: protocols.md 4.6 A, PLAIN as Postfix sends it", "[glue]") {
    Rig rig;
    auto c = rig.connect();
    c->send(kHello + kPlainJohn);
    REQUIRE(rig.untilContains(*c, "OK\t1\t"));
    CHECK(c->afterHandshake() == "OK\t1\tuser=john@example.com\n");
    REQUIRE(rig.auth.seen.size() == 1);
    const AuthRequest& r = rig.auth.seen[0];
    CHECK(r.service == "smtp");
    CHECK(r.user == "john@example.com");
    CHECK(r.password == "secret");
    CHECK(r.remote_ip == "198.51.100.7");
    CHECK(r.local_ip == "192.0.2.10");
    CHECK(rig.counter("authd_sasl_requests_total{mechanism=\"plain\",result=\"ok\"}") == 1);
}

TEST_CASE("sasl session: OK carries the canonical user from the authenticator", "[glue]") {
    Rig rig;
    rig.auth.answer = [](const AuthRequest&) {
        AuthOutcome o;
        o.status = AuthStatus::Ok;
        o.user = "john@example.com";
        return o;
    };
    auto c = rig.connect();
    c->send(kHello + "AUTH\t5\tPLAIN\tservice=smtp\tresp=" + da::base64Encode(std::string("\0John@EXAMPLE.com\0pw", 20)) + "\n");
    REQUIRE(rig.untilContains(*c, "OK\t5\t"));
    CHECK(c->afterHandshake() == "OK\t5\tuser=john@example.com\n");
    CHECK(rig.auth.seen.at(0).user == "John@EXAMPLE.com");
}

TEST_CASE("sasl session: protocols.md 4.6 B, LOGIN with a wrong password fails after the delay", "[glue]") {
    Rig rig(fastSettings(300ms));
    auto c = rig.connect();
    c->send(kHello + "AUTH\t2\tLOGIN\tservice=smtp\tnologin\tlip=192.0.2.10\trip=198.51.100.7\n");
    REQUIRE(rig.untilContains(*c, "CONT\t2\tVXNlcm5hbWU6\n"));
    c->send("CONT\t2\tam9obkBleGFtcGxlLmNvbQ==\n");
    REQUIRE(rig.untilContains(*c, "CONT\t2\tUGFzc3dvcmQ6\n"));
    const auto sent = std::chrono::steady_clock::now();
    c->send("CONT\t2\td3Jvbmc=\n");  // "wrong"
    REQUIRE(rig.untilContains(*c, "FAIL\t2"));
    const auto waited = std::chrono::steady_clock::now() - sent;
    CHECK(waited >= 290ms);
    CHECK(waited < 2000ms);
    CHECK(c->afterHandshake() ==
          "CONT\t2\tVXNlcm5hbWU6\nCONT\t2\tUGFzc3dvcmQ6\nFAIL\t2\tuser=john@example.com\n");
    CHECK(rig.auth.seen.at(0).password == "wrong");
    CHECK(rig.counter("authd_sasl_requests_total{mechanism=\"login\",result=\"failed\"}") == 1);
    CHECK(rig.counter("authd_sasl_delayed_fails_total") == 1);
}

TEST_CASE("sasl session: protocols.md 4.6 C, invalid base64 fails at once", "[glue]") {
    Rig rig(fastSettings(5000ms));
    auto c = rig.connect();
    c->send(kHello + "AUTH\t3\tPLAIN\tservice=smtp\tresp=@@@\n");
    REQUIRE(rig.untilContains(*c, "FAIL\t3", 1000ms));
    CHECK(c->afterHandshake() == "FAIL\t3\tcode=invalid_base64\treason=Invalid base64 data in initial response\n");
    CHECK(rig.auth.seen.empty());
    CHECK(rig.counter("authd_sasl_rejected_total{reason=\"invalid_base64\"}") == 1);
}

TEST_CASE("sasl session: disabled account, disabled service and throttling", "[glue]") {
    struct Case {
        AuthStatus status;
        std::string reason;
        std::string want;
    };
    const Case cases[] = {
        {AuthStatus::AccountDisabled, "Account on hold:\tunpaid",
         "FAIL\t1\tuser=john@example.com\tcode=user_disabled\treason=Account on hold: unpaid\n"},
        {AuthStatus::AccountDisabled, "", "FAIL\t1\tuser=john@example.com\tcode=user_disabled\treason=Account disabled\n"},
        {AuthStatus::ServiceDisabled, "SMTP access is disabled for this account",
         "FAIL\t1\tuser=john@example.com\tcode=user_disabled\treason=SMTP access is disabled for this account\n"},
        {AuthStatus::ServiceDisabled, "",
         "FAIL\t1\tuser=john@example.com\tcode=user_disabled\treason=This service is disabled for the account\n"},
        {AuthStatus::Throttled, "", "FAIL\t1\tuser=john@example.com\treason=Too many failed login attempts, try again later\n"},
        {AuthStatus::Throttled, "Blocked for 15 minutes", "FAIL\t1\tuser=john@example.com\treason=Blocked for 15 minutes\n"},
    };
    for (const auto& cs : cases) {
        INFO(cs.want);
        Rig rig;
        rig.auth.answer = [&](const AuthRequest&) {
            AuthOutcome o;
            o.status = cs.status;
            o.user = "john@example.com";
            o.reason = cs.reason;
            return o;
        };
        auto c = rig.connect();
        c->send(kHello + kPlainJohn);
        REQUIRE(rig.untilContains(*c, "FAIL\t1"));
        CHECK(c->afterHandshake() == cs.want);
    }
}

TEST_CASE("sasl session: FAIL for an unknown user names the user as typed", "[glue]") {
    Rig rig;
    rig.auth.answer = [](const AuthRequest&) { return AuthOutcome{AuthStatus::Failed, "", "", false}; };
    auto c = rig.connect();
    c->send(kHello + "AUTH\t4\tPLAIN\tservice=smtp\tresp=" + da::base64Encode(std::string("\0nobody@x.test\0pw", 17)) + "\n");
    REQUIRE(rig.untilContains(*c, "FAIL\t4"));
    CHECK(c->afterHandshake() == "FAIL\t4\tuser=nobody@x.test\n");
}

TEST_CASE("sasl session: backend failure closes the connection instead of FAIL", "[glue]") {
    Rig rig;
    rig.auth.answer = [](const AuthRequest&) { return AuthOutcome{AuthStatus::TempFail, "", "", false}; };
    auto c = rig.connect();
    c->send(kHello + kPlainJohn);
    REQUIRE(rig.until(*c, [&] { return c->eof; }));
    CHECK(c->afterHandshake().empty());
    CHECK(rig.counter("authd_sasl_tempfail_disconnects_total") == 1);
    CHECK(rig.counter("authd_sasl_requests_total{mechanism=\"plain\",result=\"tempfail\"}") == 1);
    CHECK(rig.server->connections() == 0);
}

TEST_CASE("sasl session: before closing for a backend failure, answers already owed are sent", "[glue]") {
    Rig rig(fastSettings(200ms));
    rig.auth.hold = true;
    auto c = rig.connect();
    c->send(kHello + kPlainJohn +
            "AUTH\t2\tPLAIN\tservice=smtp\tresp=" + da::base64Encode(std::string("\0john@example.com\0bad", 21)) + "\n" +
            "AUTH\t3\tPLAIN\tservice=smtp\tresp=" + da::base64Encode(std::string("\0other@example.com\0x", 20)) + "\n" +
            "AUTH\t4\tLOGIN\tservice=smtp\n");
    REQUIRE(rig.until(*c, [&] { return rig.auth.held.size() == 3; }));
    REQUIRE(rig.untilContains(*c, "CONT\t4\t"));
    // 2 fails (its FAIL waits for the delay), then 3 hits the backend outage, then 1 succeeds.
    rig.auth.release(1, AuthOutcome{AuthStatus::Failed, "john@example.com", "", false});
    rig.idle(*c, 50ms);
    rig.auth.release(2, AuthOutcome{AuthStatus::TempFail, "", "", false});
    rig.idle(*c, 50ms);
    CHECK_FALSE(c->eof);  // 1 and 2 are still owed
    // Input after the outage starts no new work.
    c->send("AUTH\t9\tPLAIN\tservice=smtp\tresp=" + da::base64Encode(std::string("\0a@b.test\0pw", 12)) + "\n");
    rig.auth.release(0, AuthOutcome{AuthStatus::Ok, "john@example.com", "", false});
    REQUIRE(rig.until(*c, [&] { return c->eof; }));
    CHECK(c->afterHandshake() ==
          "CONT\t4\tVXNlcm5hbWU6\n"
          "OK\t1\tuser=john@example.com\n"
          "FAIL\t2\tuser=john@example.com\n");
    CHECK(rig.auth.seen.size() == 3);
}

TEST_CASE("sasl session: an OK without a user name is treated as a backend failure", "[glue]") {
    Rig rig;
    rig.auth.answer = [](const AuthRequest&) { return AuthOutcome{AuthStatus::Ok, "", "", false}; };
    auto c = rig.connect();
    c->send(kHello + kPlainJohn);
    REQUIRE(rig.until(*c, [&] { return c->eof; }));
    CHECK(c->afterHandshake().empty());
}

TEST_CASE("sasl session: CANCEL drops the answer of a request being checked", "[glue]") {
    Rig rig;
    rig.auth.hold = true;
    auto c = rig.connect();
    c->send(kHello + kPlainJohn + "CANCEL\t1\n");
    REQUIRE(rig.until(*c, [&] { return rig.auth.held.size() == 1; }));
    rig.idle(*c, 20ms);
    rig.auth.release(0, AuthOutcome{AuthStatus::Ok, "john@example.com", "", false});
    rig.idle(*c, 50ms);
    CHECK(c->afterHandshake().empty());
    CHECK_FALSE(c->eof);
    CHECK(rig.counter("authd_sasl_cancelled_total") == 1);
    // The id is free again.
    rig.auth.hold = false;
    c->send(kPlainJohn);
    REQUIRE(rig.untilContains(*c, "OK\t1\t"));
}

TEST_CASE("sasl session: a cancelled request that hits a backend failure does not close", "[glue]") {
    Rig rig;
    rig.auth.hold = true;
    auto c = rig.connect();
    c->send(kHello + kPlainJohn + "CANCEL\t1\n");
    REQUIRE(rig.until(*c, [&] { return rig.auth.held.size() == 1; }));
    rig.auth.release(0, AuthOutcome{AuthStatus::TempFail, "", "", false});
    rig.idle(*c, 50ms);
    CHECK_FALSE(c->eof);
}

TEST_CASE("sasl session: malformed input is a logged disconnect", "[glue]") {
    const std::string bad[] = {
        "VERSION\t2\t0\n",
        "CPID\t1\n",
        kHello + "AUTH\t1\tPLAIN\n",
        kHello + "AUTH\t1\tCRAM-MD5\tservice=smtp\n",
        kHello + "HELLO\n",
        kHello + "AUTH\t1\tPLAIN\tservice=smtp" + std::string(1, '\0') + "\n",
    };
    for (const auto& b : bad) {
        Rig rig;
        auto c = rig.connect();
        c->send(b);
        REQUIRE(rig.until(*c, [&] { return c->eof; }));
        CHECK(c->afterHandshake().empty());
        CHECK(rig.counter("authd_sasl_protocol_errors_total") == 1);
    }
}

TEST_CASE("sasl session: line limit at -1/0/+1", "[glue]") {
    event::ServerLimits limits = defaultSaslLimits();
    limits.max_line_bytes = 256;
    for (size_t n : {size_t{255}, size_t{256}, size_t{257}}) {
        INFO(n);
        Rig rig(fastSettings(), limits);
        auto c = rig.connect();
        // A CONT for an unknown id, padded with leading zeros to n bytes.
        std::string line = "CONT\t";
        line += std::string(n - 5 - 2 - 4, '0') + "7\tZm9v";
        REQUIRE(line.size() == n);
        c->send(kHello + line + "\n");
        if (n <= 256) {
            REQUIRE(rig.untilContains(*c, "FAIL\t7"));
            CHECK(c->afterHandshake() == "FAIL\t7\treason=Authentication request timed out\n");
        } else {
            REQUIRE(rig.until(*c, [&] { return c->eof; }));
            CHECK(c->afterHandshake().empty());
        }
    }
}

TEST_CASE("sasl session: requests per connection follow limits.max_pending", "[glue]") {
    event::ServerLimits limits = defaultSaslLimits();
    limits.max_pending = 2;
    Rig rig(fastSettings(), limits);
    auto c = rig.connect();
    c->send(kHello + "AUTH\t1\tLOGIN\tservice=smtp\nAUTH\t2\tLOGIN\tservice=smtp\nAUTH\t3\tLOGIN\tservice=smtp\n");
    REQUIRE(rig.untilContains(*c, "FAIL\t3"));
    CHECK(c->afterHandshake() ==
          "CONT\t1\tVXNlcm5hbWU6\nCONT\t2\tVXNlcm5hbWU6\n"
          "FAIL\t3\tcode=temp_fail\treason=Too many concurrent authentication requests\n");
    CHECK(effectiveSaslSettings(SaslSettings{}, limits).limits.max_requests == 2);
    CHECK(defaultSaslLimits().max_line_bytes == 16384);
}

TEST_CASE("sasl session: a delayed FAIL counts as in progress; shutdown sends it first", "[glue]") {
    Rig rig(fastSettings(300ms));
    auto c = rig.connect();
    c->send(kHello + "AUTH\t1\tPLAIN\tservice=smtp\tresp=" +
            da::base64Encode(std::string("\0john@example.com\0bad", 21)) + "\n");
    REQUIRE(rig.until(*c, [&] { return rig.auth.seen.size() == 1; }));
    rig.idle(*c, 30ms);  // the check is done; the FAIL waits
    bool stopped = false;
    rig.server->shutdown(5000ms, [&] { stopped = true; });
    CHECK_FALSE(stopped);
    REQUIRE(rig.until(*c, [&] { return stopped && c->eof; }));
    CHECK(c->afterHandshake() == "FAIL\t1\tuser=john@example.com\n");
}

TEST_CASE("sasl session: closing with a FAIL still delayed is safe", "[glue]") {
    Rig rig(fastSettings(100ms));
    {
        auto c = rig.connect();
        c->send(kHello + "AUTH\t1\tPLAIN\tservice=smtp\tresp=" + da::base64Encode(std::string("\0nul", 4)) + "\n");
        REQUIRE(rig.until(*c, [&] { return rig.server->connections() == 1; }));
        rig.idle(*c, 20ms);
    }  // the client goes away with the mechanism FAIL still delayed
    auto c2 = rig.connect();
    rig.idle(*c2, 200ms);
    CHECK(rig.server->connections() == 1);
    CHECK(rig.counter("authd_sasl_rejected_total{reason=\"mechanism_failed\"}") == 1);
}

TEST_CASE("SaslServer without listeners binds nothing", "[glue]") {
    event::Loop loop;
    metrics::Registry registry;
    FakeAuthenticator auth(loop);
    SaslServer server(loop, auth, registry, SaslSettings{});
    CHECK(server.listen({}, defaultSaslLimits()).ok());
    CHECK_FALSE(server.enabled());
    bool done = false;
    server.shutdown(1000ms, [&] { done = true; });
    CHECK(done);
}
