#include "authd/service/map_lookup.h"

#include <catch2/catch.hpp>
#include <event2/event.h>

#include "authd/store/memory_maps_store.h"

using namespace titan;
using namespace titan::authd;
using namespace std::chrono_literals;
using core::maps::MapKind;

namespace {

struct Fixture {
    explicit Fixture(core::CacheOptions cache = core::CacheOptions{60s, 5s, 3600s, 1000},
                     store::MemoryMapsStore::Completion completion = store::MemoryMapsStore::Completion::NextLoopTurn)
        : store(&loop, completion),
          lookup(store, cache, core::maps::Settings{}, registry, [this] { return now; }) {
        store.addDomain("example.test");
        store.addMailbox("bob@example.test");
        store.addAlias("sales@example.test", "bob@example.test");
    }

    MapLookup::Answer ask(MapKind map, const std::string& key) {
        std::optional<MapLookup::Answer> got;
        int calls = 0;
        lookup.lookup(map, key, [&](const MapLookup::Answer& a) {
            got = a;
            ++calls;
        });
        for (int i = 0; i < 100 && !got; ++i) event_base_loop(loop.base(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
        REQUIRE(got);
        CHECK(calls == 1);
        return *got;
    }

    event::Loop loop;
    metrics::Registry registry;
    store::MemoryMapsStore store;
    core::TimePoint now{};
    MapLookup lookup;
};

}  // namespace

TEST_CASE("map lookup: answers, then served from the fact cache", "[glue]") {
    Fixture f;
    auto a = f.ask(MapKind::Aliases, "Sales@Example.TEST");
    CHECK(a.outcome == MapLookup::Outcome::Found);
    CHECK(a.data == "bob@example.test");
    CHECK(f.ask(MapKind::Mailboxes, "bob+x@example.test").data == "bob@example.test");
    CHECK(f.ask(MapKind::Domains, "example.test").outcome == MapLookup::Outcome::Found);
    CHECK(f.ask(MapKind::Mailboxes, "nobody@example.test").outcome == MapLookup::Outcome::NotFound);
    auto calls = f.store.calls();
    CHECK(f.ask(MapKind::Aliases, "sales@example.test").data == "bob@example.test");
    CHECK(f.ask(MapKind::Mailboxes, "bob+x@example.test").outcome == MapLookup::Outcome::Found);
    CHECK(f.ask(MapKind::Mailboxes, "nobody@example.test").outcome == MapLookup::Outcome::NotFound);
    CHECK(f.store.calls() == calls);
    // A cached answer arrives before lookup() returns.
    bool sync = false;
    f.lookup.lookup(MapKind::Domains, "example.test", [&](const MapLookup::Answer&) { sync = true; });
    CHECK(sync);
}

TEST_CASE("map lookup: malformed keys are not found and never reach the store", "[glue]") {
    Fixture f;
    for (std::string bad : {std::string("no-at-sign"), std::string("a\0b@example.test", 16), std::string("\xff@x.test"),
                            std::string(400, 'a') + "@example.test"}) {
        CHECK(f.ask(MapKind::Aliases, bad).outcome == MapLookup::Outcome::NotFound);
    }
    CHECK(f.ask(MapKind::Domains, "bad domain").outcome == MapLookup::Outcome::NotFound);
    CHECK(f.store.calls() == 0);
}

TEST_CASE("map lookup: concurrent lookups of the same facts share one query each", "[glue]") {
    Fixture f;
    int answered = 0;
    for (int i = 0; i < 5; ++i) {
        f.lookup.lookup(MapKind::Mailboxes, "bob@example.test", [&](const MapLookup::Answer& a) {
            CHECK(a.outcome == MapLookup::Outcome::Found);
            ++answered;
        });
    }
    for (int i = 0; i < 100 && answered < 5; ++i) event_base_loop(f.loop.base(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
    CHECK(answered == 5);
    CHECK(f.store.calls() == 1);
}

TEST_CASE("map lookup: database down -> stale facts for known addresses, TEMP otherwise", "[glue]") {
    Fixture f;
    REQUIRE(f.ask(MapKind::Mailboxes, "bob@example.test").outcome == MapLookup::Outcome::Found);
    REQUIRE(f.ask(MapKind::Aliases, "bob@example.test").outcome == MapLookup::Outcome::NotFound);
    REQUIRE(f.ask(MapKind::Aliases, "nobody@example.test").outcome == MapLookup::Outcome::NotFound);
    f.store.setDownForTest(true);
    f.now += 120s;  // past every TTL, within stale_if_error
    auto known = f.ask(MapKind::Mailboxes, "bob@example.test");
    CHECK(known.outcome == MapLookup::Outcome::Found);
    CHECK(known.stale);
    // No alias for a known mailbox: still a plain NOTFOUND, so Postfix accepts it.
    CHECK(f.ask(MapKind::Aliases, "bob@example.test").outcome == MapLookup::Outcome::NotFound);
    // Previously unknown: cannot be vouched for from stale entries -> TEMP.
    CHECK(f.ask(MapKind::Aliases, "nobody@example.test").outcome == MapLookup::Outcome::Unavailable);
    // Never seen: TEMP, with the error.
    auto never = f.ask(MapKind::Mailboxes, "new@example.test");
    CHECK(never.outcome == MapLookup::Outcome::Unavailable);
    CHECK_FALSE(never.error.empty());
    // Past the stale bound: TEMP even for bob.
    f.now += 3600s;
    CHECK(f.ask(MapKind::Mailboxes, "bob@example.test").outcome == MapLookup::Outcome::Unavailable);
    // Back up: fresh answers, new rows visible once the old ones expire.
    f.store.setDownForTest(false);
    f.store.addMailbox("new@example.test");
    CHECK(f.ask(MapKind::Mailboxes, "new@example.test").outcome == MapLookup::Outcome::Found);
    CHECK_FALSE(f.ask(MapKind::Mailboxes, "bob@example.test").stale);
}

TEST_CASE("map lookup: flush forgets cached facts", "[glue]") {
    Fixture f;
    REQUIRE(f.ask(MapKind::Mailboxes, "carol@example.test").outcome == MapLookup::Outcome::NotFound);
    f.store.addMailbox("carol@example.test");
    CHECK(f.ask(MapKind::Mailboxes, "carol@example.test").outcome == MapLookup::Outcome::NotFound);  // negative TTL
    CHECK(f.lookup.cacheSize() > 0);
    f.lookup.flush();
    CHECK(f.lookup.cacheSize() == 0);
    CHECK(f.ask(MapKind::Mailboxes, "carol@example.test").outcome == MapLookup::Outcome::Found);
}

TEST_CASE("map lookup: invalidating one mailbox, or a whole domain", "[glue]") {
    Fixture f;
    REQUIRE(f.ask(MapKind::Mailboxes, "dave@example.test").outcome == MapLookup::Outcome::NotFound);
    REQUIRE(f.ask(MapKind::Mailboxes, "bob@example.test").outcome == MapLookup::Outcome::Found);
    f.store.addMailbox("dave@example.test");
    f.store.removeMailbox("bob@example.test");
    f.lookup.invalidate("dave@example.test");
    CHECK(f.ask(MapKind::Mailboxes, "dave@example.test").outcome == MapLookup::Outcome::Found);
    CHECK(f.ask(MapKind::Mailboxes, "bob@example.test").outcome == MapLookup::Outcome::Found);  // still cached
    f.lookup.invalidate("@example.test");
    CHECK(f.ask(MapKind::Mailboxes, "bob@example.test").outcome == MapLookup::Outcome::NotFound);
    f.lookup.invalidate("");
}

TEST_CASE("map lookup: immediate store completions and a disabled cache", "[glue]") {
    Fixture f(core::CacheOptions{60s, 5s, 3600s, 0}, store::MemoryMapsStore::Completion::Immediate);
    CHECK(f.ask(MapKind::Aliases, "sales+x@example.test").data == "bob+x@example.test");
    CHECK(f.ask(MapKind::Aliases, "bob@example.test").outcome == MapLookup::Outcome::NotFound);
    CHECK(f.lookup.cacheSize() == 0);
    f.store.failNextForTest(1);
    CHECK(f.ask(MapKind::Domains, "example.test").outcome == MapLookup::Outcome::Unavailable);
    CHECK(f.ask(MapKind::Domains, "example.test").outcome == MapLookup::Outcome::Found);
}

TEST_CASE("map lookup: a pending answer is dropped when the service goes away", "[glue]") {
    event::Loop loop;
    metrics::Registry registry;
    store::MemoryMapsStore store(&loop);
    store.addDomain("example.test");
    bool called = false;
    {
        MapLookup lookup(store, core::CacheOptions{}, core::maps::Settings{}, registry);
        lookup.lookup(MapKind::Domains, "example.test", [&](const MapLookup::Answer&) { called = true; });
    }
    for (int i = 0; i < 10; ++i) event_base_loop(loop.base(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
    CHECK_FALSE(called);
}
