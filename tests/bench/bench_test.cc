// Unit tests for titan-bench's pieces that need no sockets: the latency histogram and
// the dict protocol module (request encoding, reply recognition split at every byte,
// the echo side).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "tests/bench/dict_protocol.h"
#include "tests/bench/latency_histogram.h"

using namespace titan::bench;

TEST_CASE("histogram buckets are contiguous and within 1/128") {
    for (std::size_t b = 0; b + 1 < LatencyHistogram::kBuckets; ++b) {
        REQUIRE(LatencyHistogram::bucketHigh(b) + 1 == LatencyHistogram::bucketLow(b + 1));
    }
    REQUIRE(LatencyHistogram::bucketHigh(LatencyHistogram::kBuckets - 1) == UINT64_MAX);
    for (std::uint64_t v : std::vector<std::uint64_t>{0, 1, 127, 128, 129, 255, 256, 1000, 123456789,
                            (std::uint64_t{1} << 40) + 12345, UINT64_MAX}) {
        std::size_t b = LatencyHistogram::bucketOf(v);
        REQUIRE(LatencyHistogram::bucketLow(b) <= v);
        REQUIRE(v <= LatencyHistogram::bucketHigh(b));
        double width = static_cast<double>(LatencyHistogram::bucketHigh(b) - LatencyHistogram::bucketLow(b));
        REQUIRE(width <= static_cast<double>(v) / 128.0 + 1);
    }
}

TEST_CASE("histogram percentiles match sorted samples within the bucket error") {
    LatencyHistogram h;
    REQUIRE(h.percentile(0.5) == 0);
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> dist(11.0, 1.0);  // around 60 us
    std::vector<std::uint64_t> samples;
    for (int i = 0; i < 100000; ++i) {
        auto v = static_cast<std::uint64_t>(dist(rng));
        samples.push_back(v);
        h.record(v);
    }
    std::sort(samples.begin(), samples.end());
    REQUIRE(h.count() == samples.size());
    REQUIRE(h.min() == samples.front());
    REQUIRE(h.max() == samples.back());
    REQUIRE(h.percentile(1.0) == samples.back());
    REQUIRE(h.percentile(0.0) == samples.front());
    for (double q : {0.5, 0.9, 0.99, 0.999}) {
        auto exact = samples[static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size()))) - 1];
        auto got = h.percentile(q);
        REQUIRE(got >= exact);
        REQUIRE(static_cast<double>(got) <= static_cast<double>(exact) * (1.0 + 1.0 / 128.0) + 1);
    }
    h.reset();
    REQUIRE(h.count() == 0);
    REQUIRE(h.max() == 0);
}

TEST_CASE("dict requests are Dovecot's lookup lines") {
    DictProtocol p;
    std::string err;
    REQUIRE(p.prepareRequest("shared/userdb/bob@example.test", &err) ==
            "Lshared/userdb/bob@example.test\tbob@example.test\n");
    REQUIRE(p.prepareRequest("shared/passdb/imap/bob@example.test", &err) ==
            "Lshared/passdb/imap/bob@example.test\tbob@example.test\n");
    REQUIRE(p.prepareRequest("shared/userdb/x\tother", &err) == "Lshared/userdb/x\tother\n");
    REQUIRE(p.prepareRequest("userdb/no-prefix", &err).empty());
    REQUIRE_FALSE(err.empty());

    auto session = p.newSession();
    std::string hello;
    session->appendGreeting(hello);
    REQUIRE(hello == "H3\t2\t0\t\tauth\n");
    REQUIRE_FALSE(session->awaitsGreetingReply());
}

TEST_CASE("dict replies are recognised whole, split at every byte") {
    DictProtocol p;
    struct Case {
        std::string bytes;
        Scan::Status status;
        Outcome outcome;
    };
    std::vector<Case> cases = {
        {"O{\"user\":\"bob@example.test\"}\n", Scan::Status::Complete, Outcome::Found},
        {"Ma\001tb\n", Scan::Status::Complete, Outcome::Found},
        {"N\n", Scan::Status::Complete, Outcome::NotFound},
        {"Fuser database temporarily unavailable\n", Scan::Status::Complete, Outcome::Fail},
        {"\n", Scan::Status::Invalid, Outcome::Fail},
        {"AO1\n", Scan::Status::Invalid, Outcome::Fail},
        {"W1\terr\n", Scan::Status::Invalid, Outcome::Fail},
        {"Xnonsense\n", Scan::Status::Invalid, Outcome::Fail},
    };
    for (const auto& c : cases) {
        CAPTURE(c.bytes);
        auto session = p.newSession();
        for (std::size_t cut = 0; cut < c.bytes.size(); ++cut) {
            REQUIRE(session->scanReply(std::string_view(c.bytes).substr(0, cut)).status == Scan::Status::NeedMore);
        }
        std::string two = c.bytes + "N\n";
        Scan s = session->scanReply(two);
        REQUIRE(s.status == c.status);
        if (s.status == Scan::Status::Complete) {
            REQUIRE(s.consumed == c.bytes.size());
            REQUIRE(s.outcome == c.outcome);
        }
    }
}

TEST_CASE("dict reply recognition agrees with the codec's parseReply") {
    DictProtocol p;
    auto session = p.newSession();
    std::vector<std::string> lines = {"O", "Ovalue", "O\001tx", "O\001", std::string("Oa\0b", 4), "Oa\tb",
                                      "N", "Nx", "F", "Ferr", "M", "Ma\tb", std::string("N\0", 2), "AO1",
                                      "W1", "*1", "+1", "X", "", "\r"};
    for (const auto& line : lines) {
        CAPTURE(line);
        auto parsed = titan::proto::dict::parseReply(line);
        Scan s = session->scanReply(line + "\n");
        const auto* reply = std::get_if<titan::proto::dict::Reply>(&parsed);
        bool lookup_answer = reply != nullptr && !reply->async &&
                             reply->kind != titan::proto::dict::ReplyKind::WriteUncertain &&
                             reply->kind != titan::proto::dict::ReplyKind::IterEnd;
        REQUIRE((s.status == Scan::Status::Complete) == lookup_answer);
        if (lookup_answer) {
            Outcome want = reply->kind == titan::proto::dict::ReplyKind::NotFound ? Outcome::NotFound
                           : reply->kind == titan::proto::dict::ReplyKind::Fail   ? Outcome::Fail
                                                                                  : Outcome::Found;
            REQUIRE(s.outcome == want);
        }
    }
}

TEST_CASE("dict reply lines beyond the limit are refused") {
    DictProtocol p;
    auto session = p.newSession();
    std::string at_limit = "O" + std::string(DictProtocol::kMaxReplyBytes - 1, 'x');
    REQUIRE(session->scanReply(at_limit).status == Scan::Status::NeedMore);
    REQUIRE(session->scanReply(at_limit + "x").status == Scan::Status::Invalid);
}

TEST_CASE("dict echo answers every line after the hello with the fixed reply") {
    DictProtocol p;
    auto echo = p.newEchoSession(128);
    std::string out;
    std::string in = "H3\t2\t0\t\tauth\nLshared/userdb/a\ta\nLshared/userdb/b";
    REQUIRE(echo->consume(in, out) == in.find("Lshared/userdb/b"));
    REQUIRE(out.size() == 128);
    REQUIRE(out.front() == 'O');
    REQUIRE(out.back() == '\n');
    out.clear();
    REQUIRE(echo->consume("Lshared/userdb/b\tb\n", out) == 19);
    REQUIRE(out.size() == 128);

    auto bad = p.newEchoSession(128);
    out.clear();
    REQUIRE(bad->consume("Lshared/userdb/a\ta\n", out) == std::string_view::npos);
}
