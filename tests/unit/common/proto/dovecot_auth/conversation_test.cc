#include "common/proto/dovecot_auth/conversation.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "common/proto/dovecot_auth/base64.h"
#include "common/proto/line_framer.h"

using namespace titan::proto;
using namespace titan::proto::dovecot_auth;
using namespace std::string_literals;

namespace {

std::string visible(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '\n') out += "\\n\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\0') out += "\\0";
        else if (c == '\x01') out += "\\001";
        else out += c;
    }
    return out;
}

// Drives a Conversation the way the daemon does, answering every Verify at once from a
// table of passwords (the backend) and every DelayedFail at once (no delay). Output is
// the transcript of server bytes; a protocol error appends "<close: reason>".
struct Harness {
    Conversation conv;
    std::map<std::string, std::string> passwords{{"john@example.com", "secret"}};
    std::string out;
    bool closed = false;
    std::vector<Event> events;
    bool answer_at_once = true;
    std::vector<Verify> held;  // answer_at_once == false: Verifies waiting for the test
    std::vector<DelayedFail> held_fails;

    explicit Harness(ConversationOptions o = {}) : conv(std::move(o)) {}

    void answer(const Verify& v) {
        auto id = conv.finish(v.ticket);
        if (!id) return;
        auto it = passwords.find(v.user);
        if (it != passwords.end() && it->second == v.password) out += encodeOk(*id, v.user);
        else out += encodeFail(Fail{*id, v.user, "", ""});
    }
    void answer(const DelayedFail& d) {
        if (auto id = conv.finish(d.ticket)) out += encodeFail(d.fail);
    }

    void line(std::string_view text) {
        if (closed) return;
        Step s = conv.onLine(text);
        events.push_back(s.event);
        out += s.reply;
        if (s.error) {
            out += "<close: " + s.error->reason + ">";
            closed = true;
            return;
        }
        if (s.verify) {
            if (answer_at_once) answer(*s.verify);
            else held.push_back(*s.verify);
        }
        if (s.delayed_fail) {
            if (answer_at_once) answer(*s.delayed_fail);
            else held_fails.push_back(*s.delayed_fail);
        }
    }

    // Feeds raw bytes split at the given offsets, framed as the LineServer does.
    void feed(std::string_view bytes, const std::vector<std::size_t>& cuts = {}) {
        std::string buffer;
        std::size_t from = 0;
        auto pump = [&] {
            for (;;) {
                if (closed) return;
                auto r = nextLine(buffer, FramerLimits{AuthLimits{}.max_line_bytes, false});
                if (auto* l = std::get_if<Line>(&r)) {
                    std::string text(l->text);
                    buffer.erase(0, l->consumed);
                    line(text);
                    continue;
                }
                if (std::holds_alternative<LineTooLong>(r)) {
                    out += "<close: line too long>";
                    closed = true;
                }
                return;
            }
        };
        for (std::size_t cut : cuts) {
            buffer.append(bytes.substr(from, cut - from));
            from = cut;
            pump();
        }
        buffer.append(bytes.substr(from));
        pump();
    }
};

const std::string kHandshake = "VERSION\t1\t0\nCPID\t20411\n";

std::string run(const std::string& client, ConversationOptions o = {}) {
    Harness h(std::move(o));
    h.feed(client);
    return h.out;
}

}  // namespace

TEST_CASE("protocols.md 4.6 A: handshake and PLAIN with an initial response", "[codec]") {
    Handshake hs{{Mechanism::Plain, Mechanism::Login}, 812, 9, "5e0f1c2d3b4a69788796a5b4c3d2e1f0"};
    CHECK(encodeHandshake(hs) ==
          "VERSION\t1\t2\n"
          "MECH\tPLAIN\tplaintext\n"
          "MECH\tLOGIN\tplaintext\n"
          "SPID\t812\n"
          "CUID\t9\n"
          "COOKIE\t5e0f1c2d3b4a69788796a5b4c3d2e1f0\n"
          "DONE\n");
    Harness h;
    h.feed(kHandshake +
           "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=192.0.2.10\trip=198.51.100.7\tsecured\t"
           "resp=AGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0\n");
    CHECK(h.out == "OK\t1\tuser=john@example.com\n");
    CHECK(h.conv.handshakeDone());
    CHECK(h.conv.clientMinor() == 0);
    CHECK(h.conv.requests() == 0);
}

TEST_CASE("protocols.md 4.6 A: the Verify carries what the backend needs", "[codec]") {
    Conversation c{ConversationOptions{}};
    c.onLine("VERSION\t1\t0");
    c.onLine("CPID\t20411");
    Step s = c.onLine(
        "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=192.0.2.10\trip=198.51.100.7\tsecured\t"
        "resp=AGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0");
    CHECK(s.event == Event::Verify);
    CHECK(s.reply.empty());
    REQUIRE(s.verify);
    CHECK(s.verify->id == 1);
    CHECK(s.verify->mechanism == Mechanism::Plain);
    CHECK(s.verify->service == "smtp");
    CHECK(s.verify->user == "john@example.com");
    CHECK(s.verify->password == "secret");
    CHECK(s.verify->local_ip == "192.0.2.10");
    CHECK(s.verify->remote_ip == "198.51.100.7");
    CHECK(s.verify->secured);
    CHECK(c.busy() == 1);
    CHECK(c.requests() == 1);
    CHECK(c.finish(s.verify->ticket) == 1u);
    CHECK(c.busy() == 0);
    CHECK_FALSE(c.finish(s.verify->ticket));  // only once
}

TEST_CASE("protocols.md 4.6 B: LOGIN without initial response, wrong password", "[codec]") {
    const std::string client = kHandshake +
                               "AUTH\t2\tLOGIN\tservice=smtp\tnologin\tlip=192.0.2.10\trip=198.51.100.7\n"
                               "CONT\t2\tam9obkBleGFtcGxlLmNvbQ==\n"
                               "CONT\t2\tc2VjcmV0\n";
    Harness h;
    h.passwords["john@example.com"] = "other";
    h.feed(client);
    CHECK(visible(h.out) == visible("CONT\t2\tVXNlcm5hbWU6\n"
                                    "CONT\t2\tUGFzc3dvcmQ6\n"
                                    "FAIL\t2\tuser=john@example.com\n"));
}

TEST_CASE("protocols.md 4.6 C: early failure on invalid base64", "[codec]") {
    CHECK(run(kHandshake + "AUTH\t3\tPLAIN\tservice=smtp\tresp=@@@\n") ==
          "FAIL\t3\tcode=invalid_base64\treason=Invalid base64 data in initial response\n");
}

TEST_CASE("a whole session split at every byte gives the same transcript", "[codec]") {
    const std::string client =
        "VERSION\t1\t2\nCPID\t77\n"
        "AUTH\t1\tPLAIN\tservice=smtp\tresp=AGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0\n"
        "AUTH\t2\tLOGIN\tservice=smtp\n"
        "CONT\t2\tam9obkBleGFtcGxlLmNvbQ==\n"
        "CONT\t2\td3Jvbmc=\n"
        "AUTH\t3\tPLAIN\tservice=smtp\n"
        "CONT\t3\tAGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0\n"
        "AUTH\t4\tPLAIN\tservice=smtp\tresp=\n"
        "CONT\t9\tZm9v\n"
        "AUTH\t5\tLOGIN\tservice=smtp\tresp=am9obkBleGFtcGxlLmNvbQ==\n"
        "CANCEL\t5\n"
        "AUTH\t6\tPLAIN\tservice=smtp\tresp=@\n"
        "BOGUS\n"
        "AUTH\t7\tPLAIN\tservice=smtp\tresp=AGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0\n";
    const std::string want =
        "OK\t1\tuser=john@example.com\n"
        "CONT\t2\tVXNlcm5hbWU6\n"
        "CONT\t2\tUGFzc3dvcmQ6\n"
        "FAIL\t2\tuser=john@example.com\n"
        "CONT\t3\t\n"
        "OK\t3\tuser=john@example.com\n"
        "FAIL\t4\n"  // minor 2: empty resp= is an empty PLAIN message (malformed)
        "FAIL\t9\treason=Authentication request timed out\n"
        "CONT\t5\tUGFzc3dvcmQ6\n"
        "FAIL\t6\tcode=invalid_base64\treason=Invalid base64 data in initial response\n"
        "<close: unknown command BOGUS>";
    CHECK(visible(run(client)) == visible(want));
    for (std::size_t cut = 0; cut <= client.size(); ++cut) {
        Harness h;
        h.feed(client, {cut});
        if (h.out != want) {
            INFO("split at " << cut);
            CHECK(visible(h.out) == visible(want));
        }
    }
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i <= client.size(); ++i) every.push_back(i);
    Harness one;
    one.feed(client, every);
    CHECK(visible(one.out) == visible(want));
}

TEST_CASE("handshake: each protocol error closes", "[codec]") {
    const std::pair<std::string, std::string> bad[] = {
        {"CPID\t1\n", "expected VERSION first"},
        {"AUTH\t1\tPLAIN\tservice=smtp\n", "expected VERSION first"},
        {"VERSION\t2\t0\n", "protocol major 2"},
        {"VERSION\t1\t0\nVERSION\t1\t0\n", "expected CPID"},
        {"VERSION\t1\t0\nAUTH\t1\tPLAIN\tservice=smtp\n", "expected CPID"},
        {"VERSION\t1\t0\nCPID\t0\n", "pid 0"},
        {"VERSION\t1\t0\nCPID\t1\nCPID\t1\n", "unknown command CPID"},
        {"VERSION\t1\t0\nCPID\t1\nVERSION\t1\t0\n", "unknown command VERSION"},
    };
    for (const auto& [client, want] : bad) {
        INFO(visible(client));
        Harness h;
        h.feed(client);
        CHECK(h.closed);
        CHECK_THAT(h.out, Catch::StartsWith("<close: ") && Catch::Contains(want));
        // A dead conversation stays dead.
        CHECK(h.conv.onLine("VERSION\t1\t0").event == Event::ProtocolError);
    }
}

TEST_CASE("AUTH: protocol errors close the connection", "[codec]") {
    const std::pair<std::string, std::string> bad[] = {
        {"AUTH\t1\tCRAM-MD5\tservice=smtp\n", "mechanism not offered"},
        {"AUTH\t1\tPLAIN\n", "missing service"},
        {"AUTH\t0\tPLAIN\tservice=smtp\n", "request id 0"},
        {"AUTH\t1\tPLAIN\tresp=Zm9v\tservice=smtp\n", "after resp="},
        {"AUTH\t1\tLOGIN\tservice=smtp\nAUTH\t1\tPLAIN\tservice=smtp\n", "duplicate request id 1"},
        {"CANCEL\tx\n", "malformed request id"},
        {"CONT\n", "expected id and data"},
    };
    for (const auto& [client, want] : bad) {
        INFO(visible(client));
        Harness h;
        h.feed(kHandshake + client);
        CHECK(h.closed);
        CHECK_THAT(h.out, Catch::Contains(want));
    }
}

TEST_CASE("AUTH: only configured mechanisms are accepted", "[codec]") {
    ConversationOptions only_plain;
    only_plain.mechanisms = {Mechanism::Plain};
    Harness h(only_plain);
    h.feed(kHandshake + "AUTH\t1\tLOGIN\tservice=smtp\n");
    CHECK(h.out == "<close: AUTH: mechanism not offered>");
    CHECK(run(kHandshake + "AUTH\t1\tplain\tservice=smtp\tresp=AGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0\n", only_plain) ==
          "OK\t1\tuser=john@example.com\n");
}

TEST_CASE("AUTH: a finished id may be reused", "[codec]") {
    CHECK(run(kHandshake + "AUTH\t1\tPLAIN\tservice=smtp\tresp=AGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0\n"
                           "AUTH\t1\tPLAIN\tservice=smtp\tresp=AGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0\n") ==
          "OK\t1\tuser=john@example.com\nOK\t1\tuser=john@example.com\n");
}

TEST_CASE("mechanism failures are delayed, bad input is answered at once", "[codec]") {
    Harness h;
    h.answer_at_once = false;
    h.feed(kHandshake +
           "AUTH\t1\tPLAIN\tservice=smtp\tresp=" + base64Encode("admin\0john\0secret"s) + "\n" +
           "AUTH\t2\tPLAIN\tservice=smtp\tresp=" + base64Encode("nonul") + "\n" +
           "AUTH\t3\tPLAIN\tservice=smtp\tresp=" + base64Encode("\0"s + std::string(513, 'u') + "\0pw"s) + "\n" +
           "AUTH\t4\tLOGIN\tservice=smtp\tresp=\n");  // minor 0: no initial response
    // Only the too-long credentials and the LOGIN challenge are answered at once.
    CHECK(visible(h.out) == visible("FAIL\t3\treason=Credentials too long\nCONT\t4\tVXNlcm5hbWU6\n"));
    REQUIRE(h.held_fails.size() == 2);
    CHECK(h.held_fails[0].error == MechanismError::AuthzidMismatch);
    CHECK(h.held_fails[0].fail == Fail{1, "john", "", "Logging in as another user is not supported"});
    CHECK(h.held_fails[1].error == MechanismError::Malformed);
    CHECK(h.held_fails[1].fail == Fail{2, "", "", ""});
    CHECK(h.conv.busy() == 2);
    CHECK(h.conv.requests() == 3);
    h.out.clear();
    for (const auto& d : h.held_fails) h.answer(d);
    CHECK(visible(h.out) ==
          visible("FAIL\t1\tuser=john\treason=Logging in as another user is not supported\nFAIL\t2\n"));
    CHECK(h.conv.busy() == 0);
    CHECK(h.conv.requests() == 1);
}

TEST_CASE("CONT: unknown id, unexpected continuation, invalid base64", "[codec]") {
    Harness h;
    h.answer_at_once = false;
    h.feed(kHandshake +
           "CONT\t5\tZm9v\n"                                                   // unknown
           "AUTH\t1\tPLAIN\tservice=smtp\tresp=AGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0\n"  // busy
           "CONT\t1\tZm9v\n"                                                   // unexpected
           "AUTH\t2\tLOGIN\tservice=smtp\n"
           "CONT\t2\t!!!!\n"                                                   // invalid
           "CONT\t2\tZm9v\n");                                                 // ended: unknown
    CHECK(visible(h.out) == visible("FAIL\t5\treason=Authentication request timed out\n"
                                    "FAIL\t1\treason=Unexpected continuation\n"
                                    "CONT\t2\tVXNlcm5hbWU6\n"
                                    "FAIL\t2\tcode=invalid_base64\treason=Invalid base64 data in continued response\n"
                                    "FAIL\t2\treason=Authentication request timed out\n"));
    // Request 1's check still runs: it counts against max_requests until finish().
    CHECK(h.conv.requests() == 1);
    // The answer the backend gives later for request 1 is dropped.
    REQUIRE(h.held.size() == 1);
    CHECK_FALSE(h.conv.finish(h.held[0].ticket));
    CHECK(h.conv.requests() == 0);
}

TEST_CASE("CONT after the LOGIN user name carries it in an early FAIL", "[codec]") {
    CHECK(run(kHandshake + "AUTH\t2\tLOGIN\tservice=smtp\tresp=am9obkBleGFtcGxlLmNvbQ==\nCONT\t2\t@\n") ==
          "CONT\t2\tUGFzc3dvcmQ6\n"
          "FAIL\t2\tuser=john@example.com\tcode=invalid_base64\treason=Invalid base64 data in continued response\n");
}

TEST_CASE("CANCEL: ends a request silently; its late answer is dropped; the id is free again", "[codec]") {
    Harness h;
    h.answer_at_once = false;
    h.feed(kHandshake +
           "AUTH\t5\tPLAIN\tservice=smtp\tresp=AGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0\n"
           "CANCEL\t5\n"
           "CANCEL\t6\n"
           "AUTH\t5\tPLAIN\tservice=smtp\tresp=AGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0\n");
    CHECK(h.out.empty());
    CHECK(h.events.back() == Event::Verify);
    CHECK(h.events[h.events.size() - 2] == Event::None);       // unknown id: nothing
    CHECK(h.events[h.events.size() - 3] == Event::Cancelled);
    REQUIRE(h.held.size() == 2);
    CHECK(h.held[0].ticket != h.held[1].ticket);
    CHECK_FALSE(h.conv.finish(h.held[0].ticket));  // the cancelled request's answer
    CHECK(h.conv.finish(h.held[1].ticket) == 5u);
}

TEST_CASE("max_requests at -1/0/+1", "[codec]") {
    ConversationOptions o;
    o.limits.max_requests = 3;
    Harness h(o);
    h.answer_at_once = false;
    std::string client = kHandshake;
    // Two waiting for the client, one busy: the limit counts both kinds.
    client += "AUTH\t1\tLOGIN\tservice=smtp\n";
    client += "AUTH\t2\tPLAIN\tservice=smtp\tresp=AGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0\n";
    h.feed(client);
    CHECK(h.conv.requests() == 2);  // limit - 1
    h.feed("AUTH\t3\tLOGIN\tservice=smtp\n");
    CHECK(h.conv.requests() == 3);  // limit
    h.out.clear();
    h.feed("AUTH\t4\tLOGIN\tservice=smtp\n");  // limit + 1
    CHECK(h.out == "FAIL\t4\tcode=temp_fail\treason=Too many concurrent authentication requests\n");
    CHECK(h.conv.requests() == 3);
    CHECK(h.events.back() == Event::TooManyRequests);
    // Once one finishes there is room again.
    REQUIRE(h.held.size() == 1);
    CHECK(h.conv.finish(h.held[0].ticket) == 2u);
    h.out.clear();
    h.feed("AUTH\t4\tLOGIN\tservice=smtp\n");
    CHECK(h.out == "CONT\t4\tVXNlcm5hbWU6\n");
    CHECK(AuthLimits{}.max_requests == 64);
}

TEST_CASE("CANCEL or CONT of a request being checked does not free its max_requests slot", "[codec]") {
    // The check keeps running after CANCEL: were the slot freed at once, a client could
    // start any number of credential checks (AUTH, CANCEL, AUTH, ...) past the limit.
    ConversationOptions o;
    o.limits.max_requests = 2;
    Harness h(o);
    h.answer_at_once = false;
    const std::string plain = "\tPLAIN\tservice=smtp\tresp=AGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0\n";
    h.feed(kHandshake + "AUTH\t1" + plain + "CANCEL\t1\n" + "AUTH\t2" + plain + "CONT\t2\tAA==\n");
    REQUIRE(h.held.size() == 2);
    CHECK(h.conv.busy() == 2);
    h.out.clear();
    h.feed("AUTH\t1" + plain);  // the id is free again, but no slot is
    CHECK(h.out == "FAIL\t1\tcode=temp_fail\treason=Too many concurrent authentication requests\n");
    CHECK(h.held.size() == 2);
    // The first check ends: its answer is dropped and its slot is free.
    CHECK_FALSE(h.conv.finish(h.held[0].ticket));
    CHECK(h.conv.busy() == 1);
    h.out.clear();
    h.feed("AUTH\t1" + plain);
    CHECK(h.out.empty());
    REQUIRE(h.held.size() == 3);
    CHECK_FALSE(h.conv.finish(h.held[1].ticket));
    CHECK(h.conv.finish(h.held[2].ticket) == 1u);
    CHECK(h.conv.requests() == 0);
}

TEST_CASE("line limit at -1/0/+1 through the framer", "[codec]") {
    const std::size_t max = AuthLimits{}.max_line_bytes;
    CHECK(max == 16384);
    auto line_of = [](std::size_t n) {
        // A CONT line of exactly n bytes: valid base64 ("AAAA" groups), the id padded
        // with leading zeros to make up the length.
        const std::size_t body = (n - 7) / 4 * 4;
        return "CONT\t" + std::string(n - 7 - body, '0') + "9\t" + std::string(body, 'A');
    };
    for (std::size_t n : {max - 1, max}) {
        std::string l = line_of(n);
        REQUIRE(l.size() == n);
        Harness h;
        h.feed(kHandshake + l + "\n");
        CHECK(h.out == "FAIL\t9\treason=Authentication request timed out\n");
    }
    Harness over;
    over.feed(kHandshake + line_of(max + 1) + "\n");
    CHECK(over.out == "<close: line too long>");
}

TEST_CASE("eventName names every event", "[codec]") {
    for (Event e : {Event::None, Event::Challenge, Event::Verify, Event::MechanismFailed, Event::CredentialsTooLong,
                    Event::InvalidBase64, Event::UnexpectedContinuation, Event::UnknownRequest, Event::TooManyRequests,
                    Event::Cancelled, Event::ProtocolError}) {
        CHECK(std::string(eventName(e)).size() > 2);
    }
    CHECK(std::string(eventName(Event::UnexpectedContinuation)) == "unexpected_continuation");
}
