#include "tests/bench/policy_protocol.h"

#include <catch2/catch.hpp>

using namespace titan::bench;

TEST_CASE("policy bench module: requests, replies, echo", "[bench]") {
    PolicyProtocol p;
    std::string error;
    const std::string req = p.prepareRequest("client_address=10.0.0.7\tsender=a@b.example\tx-new=1", &error);
    REQUIRE(error.empty());
    CHECK(req.find("client_address=10.0.0.7\n") != std::string::npos);
    CHECK(req.find("protocol_state=RCPT\n") != std::string::npos);
    CHECK(req.find("x-new=1\n") != std::string::npos);
    CHECK(req.size() > 2);
    CHECK(req.substr(req.size() - 2) == "\n\n");
    CHECK(p.prepareRequest("", &error).find("request=smtpd_access_policy\n") == 0);
    CHECK(p.prepareRequest("novalue", &error).empty());

    auto s = p.newSession();
    CHECK(s->scanReply("action=DUN").status == Scan::Status::NeedMore);
    auto ok = s->scanReply("action=DUNNO\n\nrest");
    CHECK(ok.status == Scan::Status::Complete);
    CHECK(ok.consumed == 14);
    CHECK(ok.outcome == Outcome::Found);
    CHECK(s->scanReply("action=450 4.7.1 slow down\n\n").outcome == Outcome::NotFound);
    CHECK(s->scanReply("action=DEFER_IF_PERMIT Greylisted\n\n").outcome == Outcome::NotFound);
    CHECK(s->scanReply("\n").outcome == Outcome::Fail);
    CHECK(s->scanReply("garbage\n\n").status == Scan::Status::Invalid);

    auto echo = p.newEchoSession(64);
    std::string out;
    CHECK(echo->consume(req + req.substr(0, 10), out) == req.size() + 10);
    CHECK(out.size() == 64);
    CHECK(echo->consume(req.substr(10), out) == req.size() - 10);
    CHECK(out.size() == 128);
}
