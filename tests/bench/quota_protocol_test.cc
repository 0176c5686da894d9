#include "tests/bench/quota_protocol.h"

#include <catch2/catch.hpp>

using namespace titan::bench;

TEST_CASE("dict-quota bench module: transactions, commit replies, echo", "[bench]") {
    QuotaProtocol p;
    std::string error;
    const std::string prepared = p.prepareRequest("bob@example.test\t2350", &error);
    REQUIRE(error.empty());
    CHECK(p.prepareRequest("carol@example.test", &error) == "carol@example.test\t1024");
    CHECK(p.prepareRequest("a\tb\x01@x.test\t-5", &error).empty());  // BYTES is not a number
    CHECK(p.prepareRequest("\t5", &error).empty());

    auto s = p.newSession();
    std::string out;
    s->appendGreeting(out);
    CHECK(out == "H3\t2\t0\t\tquota\n");
    out.clear();
    s->appendRequest(out, prepared);
    s->appendRequest(out, prepared);
    CHECK(out ==
          "B1\tbob@example.test\nA1\tpriv/quota/storage\t2350\nA1\tpriv/quota/messages\t1\nC1\n"
          "B2\tbob@example.test\nA2\tpriv/quota/storage\t2350\nA2\tpriv/quota/messages\t1\nC2\n");

    CHECK(s->scanReply("O").status == Scan::Status::NeedMore);
    auto ok = s->scanReply("O1\nO2\n");
    CHECK(ok.status == Scan::Status::Complete);
    CHECK(ok.consumed == 3);
    CHECK(ok.outcome == Outcome::Found);
    CHECK(s->scanReply("N3\n").outcome == Outcome::NotFound);
    CHECK(s->scanReply("F4\tdatabase down\n").outcome == Outcome::Fail);
    CHECK(s->scanReply("W5\tuncertain\n").outcome == Outcome::Fail);
    CHECK(s->scanReply("\n").status == Scan::Status::Invalid);
    // Dovecot's own server, asynchronous style, with timing fields.
    CHECK(s->scanReply("*1\n").status == Scan::Status::NeedMore);
    auto async = s->scanReply("*1\n+1\tO6\t1700000000\t1\t1700000000\t2\nO7\n");
    CHECK(async.status == Scan::Status::Complete);
    CHECK(async.consumed == 35);
    CHECK(async.outcome == Outcome::Found);
    CHECK(s->scanReply("+2\tN8\n").outcome == Outcome::NotFound);

    auto echo = p.newEchoSession(4);
    std::string replies;
    const std::string hello = "H3\t2\t0\t\tquota\n";
    CHECK(echo->consume(hello + out.substr(0, 30), replies) == hello.size() + 20);  // hello + the B1 line
    CHECK(replies.empty());
    const std::string rest = out.substr(20);
    CHECK(echo->consume(rest, replies) == rest.size());
    CHECK(replies == "O1\nO2\n");
}
