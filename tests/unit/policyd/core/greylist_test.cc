#include "policyd/core/greylist.h"

#include <catch2/catch.hpp>

using namespace titan::policyd::core;
using namespace std::chrono_literals;

namespace {
constexpr std::int64_t kT = 1'700'000'000'000;
GreylistParams params() {
    GreylistParams p;
    p.delay = 300s;
    p.retry_window = 48h;
    p.expire = 35 * 24h;
    p.auto_allow_after = 2;
    p.auto_allow_ttl = 24h;
    return p;
}
}  // namespace

TEST_CASE("greylist: new, early, retry, known, restarted, expired", "[core]") {
    const auto p = params();
    auto first = decideGreylist(p, std::nullopt, {}, kT);
    CHECK(first.verdict == GreylistVerdict::Defer);
    CHECK(std::string(first.reason) == "new");
    CHECK(first.retry_in == 300s);
    auto early = decideGreylist(p, first.triplet, {}, kT + 299'999);
    CHECK(early.verdict == GreylistVerdict::Defer);
    CHECK(std::string(early.reason) == "early");
    CHECK(early.retry_in == 1ms);
    CHECK(early.triplet.first_seen == kT);
    auto retry = decideGreylist(p, early.triplet, {}, kT + 300'000);
    CHECK(retry.verdict == GreylistVerdict::Pass);
    CHECK(retry.first_pass);
    auto again = decideGreylist(p, retry.triplet, {}, kT + 400'000);
    CHECK(again.verdict == GreylistVerdict::Pass);
    CHECK_FALSE(again.first_pass);
    CHECK(std::string(again.reason) == "known");
    // A first retry later than delay + retry_window starts over.
    auto late = decideGreylist(p, first.triplet, {}, kT + 300'000 + 48 * 3'600'000 + 1);
    CHECK(late.verdict == GreylistVerdict::Defer);
    CHECK(std::string(late.reason) == "restarted");
    // A passed triplet unseen longer than expire is new again.
    auto expired = decideGreylist(p, retry.triplet, {}, kT + 300'000 + 35LL * 86'400'000 + 1);
    CHECK(expired.verdict == GreylistVerdict::Defer);
    CHECK(std::string(expired.reason) == "new");
}

TEST_CASE("greylist: auto-allow after N passes, for its TTL", "[core]") {
    const auto p = params();
    ClientState c;
    c = recordPass(p, c, kT);
    CHECK(c.allowed_until == 0);
    c = recordPass(p, c, kT);
    CHECK(c.allowed_until == kT + 24 * 3'600'000);
    auto d = decideGreylist(p, std::nullopt, c, kT + 1);
    CHECK(d.verdict == GreylistVerdict::AutoAllowed);
    CHECK_FALSE(d.write_triplet);
    CHECK(decideGreylist(p, std::nullopt, c, kT + 24 * 3'600'000).verdict == GreylistVerdict::Defer);
    GreylistParams never = p;
    never.auto_allow_after = 0;
    CHECK(recordPass(never, recordPass(never, {}, kT), kT).allowed_until == 0);
}
