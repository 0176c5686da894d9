#include "authd/core/ttl_cache.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace titan::authd::core;
using namespace std::chrono_literals;

namespace {
using Cache = TtlCache<std::vector<std::string>>;
using State = Cache::State;
const std::vector<std::string> kRow{"x"};
}  // namespace

TEST_CASE("ttl cache: positive entries fresh, stale, then gone", "[core]") {
    Cache cache({60s, 5s, 3600s, 100}, false);
    TimePoint t0{};
    cache.put("k", kRow, t0);
    struct Case { const char* name; std::chrono::milliseconds age; State want; };
    const Case cases[] = {
        {"just stored", 0ms, State::Fresh},
        {"at ttl", 60s, State::Fresh},
        {"just past ttl", 60001ms, State::Stale},
        {"at ttl + stale bound", 3660s, State::Stale},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        auto hit = cache.get("k", t0 + c.age);
        CHECK(hit.state == c.want);
        REQUIRE(hit.value != nullptr);
        CHECK(**hit.value == kRow);
    }
    CHECK(cache.get("k", t0 + 3660s + 1ms).state == State::Missing);
    CHECK(cache.size() == 0);
}

TEST_CASE("ttl cache: negative entries, stale only when the cache allows it", "[core]") {
    TimePoint t0{};
    Cache strict({60s, 5s, 3600s, 100}, false);
    Cache lenient({60s, 5s, 3600s, 100}, true);
    for (Cache* c : {&strict, &lenient}) c->put("ghost", std::nullopt, t0);
    auto fresh = strict.get("ghost", t0 + 5s);
    CHECK(fresh.state == State::Fresh);
    REQUIRE(fresh.value != nullptr);
    CHECK_FALSE(fresh.value->has_value());
    CHECK(strict.get("ghost", t0 + 5001ms).state == State::Missing);
    CHECK(lenient.get("ghost", t0 + 5001ms).state == State::Stale);
    CHECK(lenient.get("ghost", t0 + 3605s).state == State::Stale);
    CHECK(lenient.get("ghost", t0 + 3605s + 1ms).state == State::Missing);
}

TEST_CASE("ttl cache: bounded, least recently used out first; erase, clear, max 0", "[core]") {
    Cache cache({60s, 5s, 3600s, 2}, true);
    TimePoint t0{};
    cache.put("a", kRow, t0);
    cache.put("b", kRow, t0);
    CHECK(cache.get("a", t0).state == State::Fresh);
    cache.put("c", kRow, t0);
    CHECK(cache.size() == 2);
    CHECK(cache.evictions() == 1);
    CHECK(cache.get("b", t0).state == State::Missing);
    cache.put("a", std::nullopt, t0 + 1s);  // overwrite keeps one entry
    CHECK(cache.size() == 2);
    CHECK_FALSE(cache.get("a", t0 + 1s).value->has_value());
    cache.erase("a");
    CHECK(cache.get("a", t0).state == State::Missing);
    cache.clear();
    CHECK(cache.size() == 0);
    Cache off({60s, 5s, 3600s, 0}, true);
    off.put("a", kRow, t0);
    CHECK(off.size() == 0);
}
