#include "authd/core/cache.h"

#include <catch2/catch.hpp>

using namespace titan::authd::core;
using namespace std::chrono_literals;

namespace {
Mailbox box(const std::string& user) {
    Mailbox m;
    m.username = user;
    m.password_hash = "{PLAIN}x";
    return m;
}
}  // namespace

TEST_CASE("cache: fresh, stale and expired positive entries", "[core]") {
    UserCache cache({60s, 5s, 3600s, 100});
    TimePoint t0{};
    cache.put("bob@example.test", box("bob@example.test"), t0);
    struct Case { const char* name; std::chrono::milliseconds age; UserCache::State want; };
    const Case cases[] = {
        {"just stored", 0ms, UserCache::State::Fresh},
        {"at ttl", 60s, UserCache::State::Fresh},
        {"just past ttl", 60001ms, UserCache::State::Stale},
        {"at ttl + stale bound", 3660s, UserCache::State::Stale},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        auto hit = cache.get("bob@example.test", t0 + c.age);
        CHECK(hit.state == c.want);
        REQUIRE(hit.mailbox);
        CHECK(hit.mailbox->username == "bob@example.test");
    }
    CHECK(cache.get("bob@example.test", t0 + 3660s + 1ms).state == UserCache::State::Missing);
    CHECK(cache.size() == 0);
}

TEST_CASE("cache: negative entries use the negative TTL and are never served stale", "[core]") {
    UserCache cache({60s, 5s, 3600s, 100});
    TimePoint t0{};
    cache.put("ghost@example.test", std::nullopt, t0);
    auto fresh = cache.get("ghost@example.test", t0 + 5s);
    CHECK(fresh.state == UserCache::State::Fresh);
    CHECK_FALSE(fresh.mailbox);
    CHECK(cache.get("ghost@example.test", t0 + 5001ms).state == UserCache::State::Missing);
}

TEST_CASE("cache: bounded by max_entries, least recently used out first", "[core]") {
    UserCache cache({60s, 5s, 3600s, 2});
    TimePoint t0{};
    cache.put("a", box("a"), t0);
    cache.put("b", box("b"), t0);
    CHECK(cache.get("a", t0).state == UserCache::State::Fresh);  // a is now most recent
    cache.put("c", box("c"), t0);
    CHECK(cache.size() == 2);
    CHECK(cache.evictions() == 1);
    CHECK(cache.get("b", t0).state == UserCache::State::Missing);
    CHECK(cache.get("a", t0).state == UserCache::State::Fresh);
    CHECK(cache.get("c", t0).state == UserCache::State::Fresh);
}

TEST_CASE("cache: erase, clear and max_entries 0", "[core]") {
    UserCache cache({60s, 5s, 3600s, 10});
    TimePoint t0{};
    cache.put("a", box("a"), t0);
    cache.erase("a");
    CHECK(cache.get("a", t0).state == UserCache::State::Missing);
    cache.put("b", box("b"), t0);
    cache.clear();
    CHECK(cache.size() == 0);
    UserCache off({60s, 5s, 3600s, 0});
    off.put("a", box("a"), t0);
    CHECK(off.size() == 0);
}
