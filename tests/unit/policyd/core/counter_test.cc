#include "policyd/core/counter.h"

#include <catch2/catch.hpp>

using namespace titan::policyd::core;
using namespace std::chrono_literals;

namespace {
constexpr std::int64_t kT0 = 1'700'000'000'000;  // aligned to the minute below
const std::int64_t kMinute = 60'000;
std::int64_t minuteStart() { return kT0 - kT0 % kMinute; }
}  // namespace

TEST_CASE("every algorithm: used + amount <= limit fits, one more does not (B4)", "[core]") {
    for (Algorithm a : {Algorithm::FixedWindow, Algorithm::SlidingWindow, Algorithm::TokenBucket}) {
        INFO(algorithmName(a));
        const WindowSpec w{10, 1h};
        const std::int64_t now = minuteStart();
        CounterState s;
        for (int i = 0; i < 9; ++i) s = charge(a, w, s, now, 1);
        CHECK(remaining(a, w, s, now) == 1);
        CHECK(fits(a, w, s, now, 1));   // the 10th
        CHECK_FALSE(fits(a, w, s, now, 2));
        s = charge(a, w, s, now, 1);
        CHECK_FALSE(fits(a, w, s, now, 1));  // the 11th
        CHECK(remaining(a, w, s, now) == 0);
        // Larger than the whole limit: never.
        CHECK_FALSE(fits(a, w, CounterState{}, now, 11));
        CHECK(fits(a, w, CounterState{}, now, 10));
        CHECK(retryAfter(a, w, CounterState{}, now, 11) == 1h);
    }
}

TEST_CASE("fixed window: aligned windows, the boundary belongs to the new window", "[core]") {
    const WindowSpec w{2, 1min};
    const std::int64_t start = minuteStart();
    CounterState s = charge(Algorithm::FixedWindow, w, {}, start + 10, 2);
    CHECK_FALSE(fits(Algorithm::FixedWindow, w, s, start + kMinute - 1, 1));
    CHECK(retryAfter(Algorithm::FixedWindow, w, s, start + 30'000, 1) == 30s - 0ms);
    CHECK(fits(Algorithm::FixedWindow, w, s, start + kMinute, 1));
    auto next = charge(Algorithm::FixedWindow, w, s, start + kMinute, 1);
    CHECK(next.window_start == start + kMinute);
    CHECK(next.used == 1 * kMilli);
    CHECK(next.previous == 2 * kMilli);
    CHECK(expiresAt(Algorithm::FixedWindow, w, next) == start + 3 * kMinute);
}

TEST_CASE("sliding window: the previous window fades out linearly", "[core]") {
    const WindowSpec w{10, 1min};
    const std::int64_t start = minuteStart();
    CounterState s = charge(Algorithm::SlidingWindow, w, {}, start + 59'000, 10);
    const std::int64_t next = start + kMinute;
    CHECK(usageAt(Algorithm::SlidingWindow, w, s, next) == 10 * kMilli);
    CHECK_FALSE(fits(Algorithm::SlidingWindow, w, s, next, 1));
    // Half-way through the next window half of the previous one counts.
    CHECK(usageAt(Algorithm::SlidingWindow, w, s, next + 30'000) == 5 * kMilli);
    CHECK(fits(Algorithm::SlidingWindow, w, s, next + 30'000, 5));
    CHECK_FALSE(fits(Algorithm::SlidingWindow, w, s, next + 30'000, 6));
    const auto retry = retryAfter(Algorithm::SlidingWindow, w, s, next, 1);
    CHECK(retry > 0ms);
    CHECK(retry <= 6s);
    CHECK(fits(Algorithm::SlidingWindow, w, s, next + retry.count(), 1));
    CHECK_FALSE(fits(Algorithm::SlidingWindow, w, s, next + retry.count() - 1, 1));
    // Two windows later nothing is left.
    CHECK(usageAt(Algorithm::SlidingWindow, w, s, start + 2 * kMinute) == 0);
}

TEST_CASE("token bucket: capacity and continuous refill (15000/1d is 15000 per day, not per second)", "[core]") {
    const WindowSpec w{15000, 24h};
    CounterState s = charge(Algorithm::TokenBucket, w, {}, kT0, 15000);
    CHECK_FALSE(fits(Algorithm::TokenBucket, w, s, kT0, 1));
    // One unit drains in 86400 s / 15000 = 5.76 s.
    CHECK_FALSE(fits(Algorithm::TokenBucket, w, s, kT0 + 5'759, 1));
    CHECK(fits(Algorithm::TokenBucket, w, s, kT0 + 5'760, 1));
    CHECK(retryAfter(Algorithm::TokenBucket, w, s, kT0, 1) == 5760ms);
    CHECK(usageAt(Algorithm::TokenBucket, w, s, kT0 + 86'400'000) == 0);
    // B8(b): burst 10, level 5, a 4-recipient message: 5 + 4 = 9 <= 10.
    const WindowSpec burst{10, 1min};
    CounterState five = charge(Algorithm::TokenBucket, burst, {}, kT0, 5);
    CHECK(fits(Algorithm::TokenBucket, burst, five, kT0, 4));
    CHECK(charge(Algorithm::TokenBucket, burst, five, kT0, 4).used == 9 * kMilli);
    CHECK(expiresAt(Algorithm::TokenBucket, burst, five) <= kT0 + kMinute);
}

TEST_CASE("counters saturate instead of wrapping", "[core]") {
    const WindowSpec w{1ULL << 40, 1min};
    CounterState s;
    s.used = UINT64_MAX - 5;
    s.window_start = minuteStart();
    auto after = charge(Algorithm::FixedWindow, w, s, minuteStart(), 1ULL << 40);
    CHECK(after.used == UINT64_MAX);
    CHECK_FALSE(fits(Algorithm::FixedWindow, w, after, minuteStart(), 1));
}
