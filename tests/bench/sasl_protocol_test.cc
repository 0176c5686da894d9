// Unit tests for titan-bench's SASL module (Dovecot auth-client, AUTH PLAIN): request
// encoding from key lines, the handshake and replies recognised split at every byte,
// replies matched by id, the echo side; and the hash-rate mode.
#include <catch2/catch.hpp>

#include <string>
#include <variant>

#include "common/password/password.h"
#include "common/proto/dovecot_auth/auth_client.h"
#include "common/proto/dovecot_auth/base64.h"
#include "tests/bench/hash_rate.h"
#include "tests/bench/sasl_protocol.h"

using namespace titan::bench;
namespace da = titan::proto::dovecot_auth;

namespace {

const std::string kHandshake =
    "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nSPID\t812\nCUID\t9\n"
    "COOKIE\t5e0f1c2d3b4a69788796a5b4c3d2e1f0\nDONE\n";

// A literal with NUL bytes in it.
template <std::size_t N>
std::string bin(const char (&s)[N]) {
    return std::string(s, N - 1);
}

// What a server sees of one AUTH line the module wrote.
da::Auth parseAuth(const std::string& line) {
    REQUIRE(!line.empty());
    REQUIRE(line.back() == '\n');
    auto parsed = da::parseCommand(std::string_view(line).substr(0, line.size() - 1), 0);
    REQUIRE(std::holds_alternative<da::Command>(parsed));
    const auto& cmd = std::get<da::Command>(parsed);
    REQUIRE(std::holds_alternative<da::Auth>(cmd));
    return std::get<da::Auth>(cmd);
}

}  // namespace

TEST_CASE("sasl bench: key lines become Postfix's AUTH PLAIN requests", "[bench]") {
    SaslProtocol p;
    std::string error;
    const std::string bob = p.prepareRequest("bob@example.test", &error);
    REQUIRE(error.empty());
    CHECK(bob == "PLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=127.0.0.1\tresp=" +
                     da::base64Encode(bin("\0bob@example.test\0bench-password")) + "\n");
    const std::string carol = p.prepareRequest("carol@example.test\tse cret\t2", &error);
    REQUIRE_FALSE(carol.empty());

    auto s = p.newSession();
    std::string out;
    s->appendRequest(out, bob);
    const std::size_t first = out.size();
    s->appendRequest(out, carol);
    const da::Auth a1 = parseAuth(out.substr(0, first));
    const da::Auth a2 = parseAuth(out.substr(first));
    CHECK(a1.id == 1);
    CHECK(a2.id == 2);
    CHECK(a1.mechanism == "PLAIN");
    CHECK(a1.service == "smtp");
    CHECK(a1.remote_ip == "127.0.0.1");
    CHECK(a1.response == da::Response::Present);
    CHECK(a1.initial_response == bin("\0bob@example.test\0bench-password"));
    CHECK(a2.initial_response == bin("\0carol@example.test\0se cret\t2"));

    CHECK(p.prepareRequest("", &error).empty());
    CHECK_FALSE(error.empty());
    CHECK(p.prepareRequest("\tpassword", &error).empty());
    CHECK(p.prepareRequest(std::string("a\0b", 3), &error).empty());
}

TEST_CASE("sasl bench: greeting and the server's handshake, split at every byte", "[bench]") {
    SaslProtocol p;
    auto s = p.newSession();
    std::string greeting;
    s->appendGreeting(greeting);
    CHECK(greeting.rfind("VERSION\t1\t0\nCPID\t", 0) == 0);
    CHECK(greeting.back() == '\n');
    CHECK(s->awaitsGreetingReply());

    const std::string stream = kHandshake + "OK\t1\tuser=bob\n";
    for (std::size_t cut = 0; cut < kHandshake.size(); ++cut) {
        CHECK(s->scanGreeting(stream.substr(0, cut)).status == Scan::Status::NeedMore);
    }
    for (std::size_t cut = kHandshake.size(); cut <= stream.size(); ++cut) {
        Scan done = s->scanGreeting(stream.substr(0, cut));
        REQUIRE(done.status == Scan::Status::Complete);
        CHECK(done.consumed == kHandshake.size());
    }

    auto invalid = [&](const std::string& h) { return s->scanGreeting(h).status == Scan::Status::Invalid; };
    CHECK(invalid("VERSION\t2\t0\nMECH\tPLAIN\nDONE\n"));                     // major 2
    CHECK(invalid("MECH\tPLAIN\nDONE\n"));                                    // no VERSION first
    CHECK(invalid("VERSION\t1\t2\nMECH\tLOGIN\tplaintext\nDONE\n"));          // no PLAIN
    CHECK(invalid("VERSION\t1\t2\nMECH\tPLAIN\tprivate\nDONE\n"));            // PLAIN only private
    CHECK(invalid("VERSION\t1\t2\nSPID\t1\nMECH\tPLAIN\nDONE\n"));            // auth-master socket
    CHECK_FALSE(invalid("VERSION\t1\t2\nMECH\tplain\nX-NEW\tfield\nDONE\n"));  // case, unknown lines
    CHECK(invalid("VERSION\t1\t2\n" + std::string(SaslProtocol::kMaxHandshakeBytes, 'x')));
}

TEST_CASE("sasl bench: OK and FAIL matched by id, in any order", "[bench]") {
    SaslProtocol p;
    std::string error;
    const std::string req = p.prepareRequest("bob@example.test", &error);
    auto s = p.newSession();
    std::string out;
    for (int i = 0; i < 3; ++i) s->appendRequest(out, req);

    const std::string replies = "OK\t2\tuser=bob@example.test\nFAIL\t1\tuser=bob@example.test\treason=no\nOK\t3\tuser=b\n";
    const Outcome want[] = {Outcome::Found, Outcome::Fail, Outcome::Found};
    std::size_t at = 0;
    for (int r = 0; r < 3; ++r) {
        const std::size_t lf = replies.find('\n', at);
        for (std::size_t cut = at; cut <= lf; ++cut) {
            CHECK(s->scanReply(std::string_view(replies).substr(at, cut - at)).status == Scan::Status::NeedMore);
        }
        Scan got = s->scanReply(std::string_view(replies).substr(at));
        REQUIRE(got.status == Scan::Status::Complete);
        CHECK(got.consumed == lf + 1 - at);
        CHECK(got.outcome == want[r]);
        at = lf + 1;
    }
    // Nothing is in flight any more.
    CHECK(s->scanReply("OK\t3\tuser=b\n").status == Scan::Status::Invalid);
    s->appendRequest(out, req);  // id 4
    CHECK(s->scanReply("OK\t5\tuser=b\n").status == Scan::Status::Invalid);  // not in flight
    CHECK(s->scanReply("CONT\t4\t\n").status == Scan::Status::Invalid);      // PLAIN needs no CONT
    CHECK(s->scanReply("OK\t4\n").status == Scan::Status::Invalid);          // no user=
    CHECK(s->scanReply("HELLO\n").status == Scan::Status::Invalid);
    CHECK(s->scanReply(std::string(SaslProtocol::kMaxReplyBytes + 1, 'x')).status == Scan::Status::Invalid);
}

TEST_CASE("sasl bench: the echo server greets, answers every AUTH, refuses garbage", "[bench]") {
    SaslProtocol p;
    std::string error;
    const std::string req = p.prepareRequest("bob@example.test", &error);
    auto client = p.newSession();
    std::string sent;
    client->appendGreeting(sent);
    client->appendRequest(sent, req);
    client->appendRequest(sent, req);

    auto echo = p.newEchoSession(64);
    std::string out;
    CHECK(echo->consume(sent.substr(0, 5), out) == 0);
    CHECK(out.empty());
    CHECK(echo->consume(sent, out) == sent.size());
    Scan hs = client->scanGreeting(out);
    REQUIRE(hs.status == Scan::Status::Complete);
    std::string_view rest = std::string_view(out).substr(hs.consumed);
    for (int i = 0; i < 2; ++i) {
        Scan r = client->scanReply(rest);
        REQUIRE(r.status == Scan::Status::Complete);
        CHECK(r.outcome == Outcome::Found);
        CHECK(r.consumed == 64);
        rest.remove_prefix(r.consumed);
    }
    CHECK(rest.empty());

    auto small = p.newEchoSession(1);  // shorter than the reply itself: no padding
    std::string o2;
    CHECK(small->consume("VERSION\t1\t0\nCPID\t7\nAUTH\t12\tPLAIN\tservice=smtp\n", o2) > 0);
    const std::string tail = "DONE\nOK\t12\tuser=echo\n";
    REQUIRE(o2.size() > tail.size());
    CHECK(o2.substr(o2.size() - tail.size()) == tail);

    std::string junk;
    CHECK(p.newEchoSession(64)->consume("GET / HTTP/1.0\r\n", junk) == std::string_view::npos);
    CHECK(p.newEchoSession(64)->consume("VERSION\t1\t0\nAUTH\t1\tPLAIN\n", junk) == std::string_view::npos);
}

TEST_CASE("hash rate: both APIs verify the same SHA512-CRYPT hash", "[bench]") {
    auto stored = titan::password::generate("SHA512-CRYPT", "bench-password");
    REQUIRE(stored);
    for (HashApi api : {HashApi::Crypt, HashApi::Verify}) {
        HashRateOptions o;
        o.stored = *stored;
        o.threads = 2;
        o.duration_s = 0.05;
        o.api = api;
        auto r = measureHashRate(o);
        REQUIRE(r);
        CHECK(r->scheme == "SHA512-CRYPT");
        CHECK(r->verified > 0);
        CHECK(r->mismatches == 0);
        CHECK(r->per_thread.size() == 2);
        CHECK(r->elapsed_s >= 0.05);
    }
    HashRateOptions fresh;  // no hash given: one is made from the password
    fresh.threads = 1;
    fresh.duration_s = 0.02;
    auto r = measureHashRate(fresh);
    REQUIRE(r);
    CHECK(r->stored.rfind("{SHA512-CRYPT}$6$", 0) == 0);

    HashRateOptions wrong;
    wrong.stored = *stored;
    wrong.password = "other";
    wrong.duration_s = 0.02;
    CHECK_FALSE(measureHashRate(wrong));
    HashRateOptions plain;
    plain.stored = "{PLAIN}bench-password";
    plain.duration_s = 0.02;
    CHECK_FALSE(measureHashRate(plain));  // not a crypt(3) hash
    plain.api = HashApi::Verify;
    CHECK(measureHashRate(plain));
    plain.threads = 0;
    CHECK_FALSE(measureHashRate(plain));
}
