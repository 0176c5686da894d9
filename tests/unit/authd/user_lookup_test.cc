#include "authd/service/user_lookup.h"

#include <catch2/catch.hpp>
#include <event2/event.h>

#include "authd/store/memory_store.h"

using namespace titan;
using namespace titan::authd;
using namespace std::chrono_literals;

namespace {

struct Fixture {
    event::Loop loop;
    metrics::Registry registry;
    store::MemoryStore store{&loop};
    core::TimePoint now{};
    UserLookup lookup{store, core::CacheOptions{60s, 5s, 3600s, 1000}, identity::Options{}, registry,
                      [this] { return now; }};

    Fixture() {
        core::Mailbox m;
        m.username = "bob@example.test";
        m.password_hash = "{PLAIN}pw";
        store.put(m);
    }

    UserLookup::Answer ask(const std::string& user) {
        std::optional<UserLookup::Answer> got;
        lookup.lookup(user, [&](const UserLookup::Answer& a) { got = a; });
        for (int i = 0; i < 100 && !got; ++i) event_base_loop(loop.base(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
        REQUIRE(got);
        return *got;
    }
};

}  // namespace

TEST_CASE("lookup: canonical name, found, not found, cache hit", "[core]") {
    Fixture f;
    auto a = f.ask("Bob@Example.TEST");
    CHECK(a.outcome == UserLookup::Outcome::Found);
    CHECK(a.mailbox->username == "bob@example.test");
    auto calls = f.store.calls();
    CHECK(f.ask("bob@example.test").outcome == UserLookup::Outcome::Found);
    CHECK(f.store.calls() == calls);  // served from the cache
    CHECK(f.ask("nobody@example.test").outcome == UserLookup::Outcome::NotFound);
}

TEST_CASE("lookup: malformed names are not found and never reach the store", "[core]") {
    Fixture f;
    for (std::string bad : {std::string("no-at-sign"), std::string("a\0b@example.test", 16), std::string("\xff@x.test")}) {
        CHECK(f.ask(bad).outcome == UserLookup::Outcome::NotFound);
    }
    CHECK(f.store.calls() == 0);
}

TEST_CASE("lookup: database failure → stale entry if known, Unavailable otherwise", "[core]") {
    Fixture f;
    REQUIRE(f.ask("bob@example.test").outcome == UserLookup::Outcome::Found);
    f.store.setDownForTest(true);
    f.now += 61s;  // past the TTL: a refetch is attempted and fails
    auto stale = f.ask("bob@example.test");
    CHECK(stale.outcome == UserLookup::Outcome::Found);
    CHECK(stale.stale);
    auto unknown = f.ask("carol@example.test");
    CHECK(unknown.outcome == UserLookup::Outcome::Unavailable);
    f.now += 3600s;  // beyond TTL + stale bound
    CHECK(f.ask("bob@example.test").outcome == UserLookup::Outcome::Unavailable);
    f.store.setDownForTest(false);
    CHECK(f.ask("bob@example.test").outcome == UserLookup::Outcome::Found);
}

TEST_CASE("lookup: concurrent requests for one user share one database query", "[core]") {
    Fixture f;
    int answered = 0;
    for (int i = 0; i < 5; ++i) {
        f.lookup.lookup("bob@example.test", [&](const UserLookup::Answer& a) {
            CHECK(a.outcome == UserLookup::Outcome::Found);
            ++answered;
        });
    }
    for (int i = 0; i < 100 && answered < 5; ++i) event_base_loop(f.loop.base(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
    CHECK(answered == 5);
    CHECK(f.store.calls() == 1);
}

TEST_CASE("lookup: invalidate forces a refetch", "[core]") {
    Fixture f;
    REQUIRE(f.ask("bob@example.test").outcome == UserLookup::Outcome::Found);
    f.store.remove("bob@example.test");
    CHECK(f.ask("bob@example.test").outcome == UserLookup::Outcome::Found);  // cached
    f.lookup.invalidate("bob@example.test");
    CHECK(f.ask("bob@example.test").outcome == UserLookup::Outcome::NotFound);
}
