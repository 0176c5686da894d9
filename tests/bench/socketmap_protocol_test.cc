// Unit tests for titan-bench's socketmap module: request encoding from key lines, reply
// recognition split at every byte, and the echo side.
#include <catch2/catch.hpp>

#include <string>

#include "common/proto/socketmap/socketmap.h"
#include "tests/bench/socketmap_protocol.h"

using namespace titan::bench;
namespace sm = titan::proto::socketmap;

TEST_CASE("socketmap bench: key lines become Postfix's requests") {
    SocketmapProtocol p;
    std::string error;
    CHECK(p.prepareRequest("mailboxes bob@example.test", &error) == "26:mailboxes bob@example.test,");
    CHECK(p.prepareRequest("aliases a b", &error) == "11:aliases a b,");
    CHECK(p.prepareRequest("no-space", &error).empty());
    CHECK_FALSE(error.empty());
    CHECK(p.prepareRequest(" key", &error).empty());  // empty map name
}

TEST_CASE("socketmap bench: replies recognised whole, split at every byte") {
    SocketmapProtocol p;
    auto session = p.newSession();
    const std::string stream = sm::encodeOk("bob@example.test") + sm::encodeNotFound() + sm::encodeTemp("down");
    const Outcome want[] = {Outcome::Found, Outcome::NotFound, Outcome::Fail};
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
        std::string in = stream.substr(0, cut);
        size_t got = 0;
        for (size_t fed = cut;;) {
            Scan s = session->scanReply(in);
            REQUIRE(s.status != Scan::Status::Invalid);
            if (s.status == Scan::Status::NeedMore) {
                if (fed == stream.size()) break;
                in += stream.substr(fed);
                fed = stream.size();
                continue;
            }
            REQUIRE(got < 3);
            CHECK(s.outcome == want[got++]);
            in.erase(0, s.consumed);
        }
        CHECK(got == 3);
    }
    CHECK(session->scanReply("x:").status == Scan::Status::Invalid);
    CHECK(session->scanReply("999999:").status == Scan::Status::Invalid);
}

TEST_CASE("socketmap bench: the echo server answers every request, refuses garbage") {
    SocketmapProtocol p;
    auto echo = p.newEchoSession(32);
    std::string out;
    const std::string two = sm::encodeRequest("mailboxes", "a@b.test") + sm::encodeRequest("domains", "b.test");
    CHECK(echo->consume(two + "5:par", out) == two.size());
    auto r1 = sm::nextNetstring(out, sm::kPostfixMaxReplyBytes);
    REQUIRE(std::holds_alternative<sm::Netstring>(r1));
    CHECK(sm::parseReply(std::get<sm::Netstring>(r1).payload).status == sm::Status::Ok);
    CHECK(out.size() == 2 * std::get<sm::Netstring>(r1).consumed);
    std::string junk;
    CHECK(echo->consume("GET /", junk) == std::string_view::npos);
}
