#include "replicator/queue/queue.h"

#include <catch2/catch.hpp>

using namespace titan::replicator::queue;
using namespace std::chrono_literals;

namespace {

Time at(long long ms) { return Time(std::chrono::milliseconds(ms)); }

auto always = [](const std::string&, Priority) { return true; };

// Resolves every unresolved user to the same peers.
void resolveAll(Queue& q, Time now, const std::vector<PeerInfo>& peers) {
    for (const auto& u : q.takeUnresolved(now, 1000)) q.setPeers(u, peers, now);
}

std::vector<PeerInfo> peersOf(std::initializer_list<const char*> names) {
    std::vector<PeerInfo> out;
    for (const char* n : names) out.push_back({n, true});
    return out;
}

// Runs next() until empty, finishing each job with success; returns "user>peer" in order.
std::vector<std::string> drain(Queue& q, Time now) {
    std::vector<std::string> order;
    while (auto job = q.next(now, always)) {
        order.push_back(job->user + ">" + job->peer);
        q.finish(*job, Outcome::Success, now, now);
    }
    return order;
}

}  // namespace

TEST_CASE("queue: one entry per user; the journal record only when something new", "[core]") {
    Queue q;
    auto r1 = q.change("bob@x", Priority::Low, at(1000));
    CHECK(r1.accepted);
    CHECK(r1.journal);
    auto r2 = q.change("bob@x", Priority::Low, at(1100));
    CHECK(r2.accepted);
    CHECK_FALSE(r2.journal);  // already journaled at this priority
    auto r3 = q.change("bob@x", Priority::High, at(1200));
    CHECK(r3.journal);  // higher priority
    auto r4 = q.change("bob@x", Priority::Low, at(1300), true);
    CHECK(r4.journal);  // full newly requested
    CHECK(q.users() == 1);
    auto d = q.dirtyState("bob@x");
    REQUIRE(d);
    CHECK(d->priority == Priority::High);
    CHECK(d->oldest == at(1000));
    CHECK(d->full);
    // full-sync sweep requests are not journaled (the sweep re-creates them)
    CHECK_FALSE(q.change("carol@x", Priority::Full, at(1000), true).journal);
    CHECK_FALSE(q.change("carol@x", Priority::None, at(1000)).accepted);
}

TEST_CASE("queue: priorities sync > high > low > full, oldest first within one", "[core]") {
    Queue q;
    q.change("full@x", Priority::Full, at(1));
    q.change("low-old@x", Priority::Low, at(2));
    q.change("low-new@x", Priority::Low, at(3));
    q.change("high@x", Priority::High, at(4));
    q.change("sync@x", Priority::Sync, at(5));
    resolveAll(q, at(10), peersOf({"dc2"}));
    CHECK(drain(q, at(10)) ==
          std::vector<std::string>{"sync@x>dc2", "high@x>dc2", "low-old@x>dc2", "low-new@x>dc2", "full@x>dc2"});
    CHECK(q.users() == 0);
}

TEST_CASE("queue: never-synced pairs go first within a priority", "[core]") {
    Queue q;
    q.change("old@x", Priority::Low, at(1));
    q.change("new@x", Priority::Low, at(2));
    q.setPeers(q.takeUnresolved(at(3), 1).at(0), {{"dc2", true}}, at(3));   // old@x synced before
    q.setPeers(q.takeUnresolved(at(3), 1).at(0), {{"dc2", false}}, at(3));  // new@x never
    CHECK(drain(q, at(3)) == std::vector<std::string>{"new@x>dc2", "old@x>dc2"});
}

TEST_CASE("queue: a change during a running sync makes one more round", "[core]") {
    Queue q;
    q.change("bob@x", Priority::High, at(1));
    resolveAll(q, at(1), peersOf({"dc2"}));
    auto job = q.next(at(2), always);
    REQUIRE(job);
    CHECK_FALSE(q.next(at(2), always));  // running: not offered twice
    q.change("bob@x", Priority::Low, at(3));
    CHECK_FALSE(q.finish(*job, Outcome::Success, at(4), at(4)));  // still dirty
    auto again = q.next(at(5), always);
    REQUIRE(again);
    CHECK(again->priority == Priority::Low);
    CHECK(again->oldest == at(3));
    CHECK(q.finish(*again, Outcome::Success, at(6), at(6)));  // clean now: clear its journal record
    CHECK_FALSE(q.contains("bob@x"));
}

TEST_CASE("queue: outcomes", "[core]") {
    Queue q;
    q.change("bob@x", Priority::Sync, at(100));
    resolveAll(q, at(100), peersOf({"dc2"}));

    SECTION("failed waits for its retry time and keeps its priority and oldest change") {
        auto job = q.next(at(200), always);
        REQUIRE(job);
        q.finish(*job, Outcome::Failed, at(300), at(5300));
        CHECK_FALSE(q.next(at(5299), always));
        REQUIRE(q.nextWakeup() == at(5300));
        auto retry = q.next(at(5300), always);
        REQUIRE(retry);
        CHECK(retry->priority == Priority::Sync);
        CHECK(retry->oldest == at(100));
        CHECK(retry->failures == 1);
    }
    SECTION("run again is offered at once and counted") {
        auto job = q.next(at(200), always);
        q.finish(*job, Outcome::RunAgain, at(300), at(300));
        auto again = q.next(at(300), always);
        REQUIRE(again);
        CHECK(again->again == 1);
        CHECK(again->failures == 0);
    }
    SECTION("peer down is pending again at once; the caller's breaker gates it") {
        auto job = q.next(at(200), always);
        q.finish(*job, Outcome::PeerDown, at(300), at(300));
        CHECK_FALSE(q.next(at(300), [](const std::string&, Priority) { return false; }));
        auto again = q.next(at(300), always);
        REQUIRE(again);
        CHECK(again->failures == 0);
    }
    SECTION("success after failures resets the count") {
        auto job = q.next(at(200), always);
        q.finish(*job, Outcome::Failed, at(300), at(300));
        job = q.next(at(300), always);
        CHECK(job->failures == 1);
        q.change("bob@x", Priority::Low, at(350));
        q.finish(*job, Outcome::Success, at(400), at(400));
        job = q.next(at(400), always);
        REQUIRE(job);
        CHECK(job->failures == 0);
    }
}

TEST_CASE("queue: one peer that cannot run does not hold back the others", "[core]") {
    Queue q;
    q.change("bob@x", Priority::High, at(1));
    resolveAll(q, at(1), peersOf({"dc2", "dc3"}));
    auto only_dc3 = [](const std::string& peer, Priority) { return peer == "dc3"; };
    auto job = q.next(at(2), only_dc3);
    REQUIRE(job);
    CHECK(job->peer == "dc3");
    CHECK_FALSE(q.next(at(2), only_dc3));
    CHECK_FALSE(q.finish(*job, Outcome::Success, at(3), at(3)));  // dc2 still pending
    auto d = q.depthByPeer();
    CHECK(d["dc2"].ready[static_cast<std::size_t>(Priority::High)] == 1);
    CHECK(d["dc2"].oldest == at(1));
    CHECK_FALSE(d["dc3"].oldest);
    auto dc2 = q.next(at(4), always);
    REQUIRE(dc2);
    CHECK(dc2->peer == "dc2");
    CHECK(q.finish(*dc2, Outcome::Success, at(5), at(5)));
}

TEST_CASE("queue: a waiting low change outranks high after starvation_after", "[core]") {
    Queue q(Limits{100, 60s});
    q.change("low@x", Priority::Low, at(0));
    q.change("high@x", Priority::High, at(30000));
    resolveAll(q, at(30000), peersOf({"dc2"}));
    auto j1 = q.next(at(59999), always);
    REQUIRE(j1);
    CHECK(j1->user == "high@x");
    q.finish(*j1, Outcome::Success, at(59999), at(59999));
    q.change("high@x", Priority::High, at(60000));
    auto j2 = q.next(at(60000), always);
    REQUIRE(j2);
    CHECK(j2->user == "low@x");  // waited 60 s: ranks as high, and is older
}

TEST_CASE("queue: placement lookups", "[core]") {
    Queue q;
    q.change("b@x", Priority::Low, at(20));
    q.change("a@x", Priority::Low, at(10));
    auto first = q.takeUnresolved(at(30), 1);
    CHECK(first == std::vector<std::string>{"a@x"});  // oldest change first
    CHECK(q.takeUnresolved(at(30), 10) == std::vector<std::string>{"b@x"});
    CHECK(q.takeUnresolved(at(30), 10).empty());  // both resolving
    q.resolveFailed("a@x", at(2030));
    CHECK(q.takeUnresolved(at(2029), 10).empty());
    CHECK(q.nextWakeup() == at(2030));
    CHECK(q.takeUnresolved(at(2030), 10) == std::vector<std::string>{"a@x"});
    // a change while resolving is kept and given to every peer
    q.change("a@x", Priority::High, at(2040));
    q.setPeers("a@x", peersOf({"dc2", "dc3"}), at(2050));
    auto view = q.view("a@x");
    REQUIRE(view);
    REQUIRE(view->tasks.size() == 2);
    for (const auto& t : view->tasks) {
        CHECK(t.pending == Priority::High);
        CHECK(t.oldest == at(10));
    }
    CHECK(q.unresolvedDepth()[static_cast<std::size_t>(Priority::Low)] == 1);  // b@x
    CHECK(q.oldestChange() == at(10));
}

TEST_CASE("queue: a user with no peer leaves at once; dropped users are forgotten", "[core]") {
    Queue q;
    q.change("alone@x", Priority::High, at(1));
    CHECK(q.setPeers(q.takeUnresolved(at(1), 1).at(0), {}, at(1)));
    CHECK_FALSE(q.contains("alone@x"));

    q.change("gone@x", Priority::High, at(1));
    resolveAll(q, at(1), peersOf({"dc2"}));
    auto job = q.next(at(2), always);
    REQUIRE(job);
    CHECK(q.drop("gone@x"));
    CHECK_FALSE(q.drop("gone@x"));
    CHECK_FALSE(q.finish(*job, Outcome::Success, at(3), at(3)));  // ignored
    CHECK(q.running() == 0);
    CHECK(q.users() == 0);
}

TEST_CASE("queue: a peer removed from the placement while running is dropped when it ends", "[core]") {
    Queue q;
    q.change("bob@x", Priority::High, at(1));
    resolveAll(q, at(1), peersOf({"dc2", "dc3"}));
    auto job = q.next(at(2), [](const std::string& p, Priority) { return p == "dc2"; });
    REQUIRE(job);
    q.change("bob@x", Priority::Low, at(3));
    CHECK_FALSE(q.setPeers("bob@x", peersOf({"dc3"}), at(3)));
    CHECK(q.peersOf("bob@x") == std::vector<std::string>{"dc3"});
    CHECK_FALSE(q.finish(*job, Outcome::Success, at(4), at(4)));
    auto next = q.next(at(5), always);
    REQUIRE(next);
    CHECK(next->peer == "dc3");
    CHECK(q.finish(*next, Outcome::Success, at(6), at(6)));
}

TEST_CASE("queue: bounded by max_users", "[core]") {
    Queue q(Limits{2, 60s});
    CHECK(q.change("a@x", Priority::Low, at(1)).accepted);
    CHECK(q.change("b@x", Priority::Low, at(1)).accepted);
    CHECK_FALSE(q.change("c@x", Priority::Low, at(1)).accepted);
    CHECK(q.change("a@x", Priority::High, at(2)).accepted);  // known users still merge
    CHECK_FALSE(q.restore({"c@x", Priority::Low, at(1), false}));
}

TEST_CASE("queue: restored users keep their priority, oldest change and full flag", "[core]") {
    Queue q;
    REQUIRE(q.restore({"bob@x", Priority::High, at(500), true}));
    CHECK_FALSE(q.restore({"carol@x", Priority::None, at(1), false}));
    // already journaled: the same change needs no new record
    CHECK_FALSE(q.change("bob@x", Priority::Low, at(600)).journal);
    resolveAll(q, at(700), peersOf({"dc2"}));
    auto job = q.next(at(700), always);
    REQUIRE(job);
    CHECK(job->priority == Priority::High);
    CHECK(job->full);
    CHECK(job->oldest == at(500));
    std::vector<DirtyState> all;
    q.forEachDirty([&](const DirtyState& d) { all.push_back(d); });
    REQUIRE(all.size() == 1);  // running users stay durable until they finish
    CHECK(all[0].priority == Priority::High);
    CHECK(q.finish(*job, Outcome::Success, at(800), at(800)));
}

TEST_CASE("queue: priority names", "[core]") {
    for (auto p : {Priority::None, Priority::Full, Priority::Low, Priority::High, Priority::Sync}) {
        CHECK(parsePriority(priorityName(p)) == p);
    }
    CHECK_FALSE(parsePriority("HIGH"));
    CHECK_FALSE(parsePriority(""));
}
