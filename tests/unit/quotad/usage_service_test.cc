#include "quotad/service/usage_service.h"

#include <catch2/catch.hpp>
#include <event2/event.h>

#include <thread>

#include "quotad/service/policy_service.h"
#include "quotad/store/memory_store.h"

using namespace titan;
using namespace titan::quotad;
using core::Op;
using core::Resource;

namespace {

struct Fixture {
    event::Loop loop;
    metrics::Registry registry;
    store::MemoryStore store{loop};
    UsageService usage{loop, store, BatchSettings{4, 1, 1, 1000}, registry};

    void spin(int turns = 50) {
        for (int i = 0; i < turns; ++i) event_base_loop(loop.base(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
    }
    // Runs the loop (timers included) until `done` or one second passed.
    template <class F>
    bool spinUntil(F done) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        while (!done() && std::chrono::steady_clock::now() < deadline) {
            event_base_loop(loop.base(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        return done();
    }
    core::Row row(std::optional<std::int64_t> b, std::optional<std::int64_t> m) {
        core::Row r;
        r.usage[Resource::Storage] = b;
        r.usage[Resource::Messages] = m;
        return r;
    }
};

core::CommitRequest incBoth(const std::string& user, std::int64_t bytes) {
    return {user, {{Op::Kind::Inc, Resource::Storage, bytes}, {Op::Kind::Inc, Resource::Messages, 1}}};
}

}  // namespace

TEST_CASE("usage service: commits while one is in flight share the next transaction", "[glue]") {
    Fixture f;
    for (int i = 0; i < 10; ++i) f.store.putRow("u" + std::to_string(i) + "@x.test", f.row(0, 0));
    std::vector<CommitReply::Kind> replies;
    for (int i = 0; i < 10; ++i) {
        f.usage.commit(incBoth("u" + std::to_string(i) + "@x.test", 100), [&](const CommitReply& r) { replies.push_back(r.kind); });
    }
    CHECK(replies.empty());  // never answered inside the call
    f.spin();
    REQUIRE(replies.size() == 10);
    for (auto k : replies) CHECK(k == CommitReply::Kind::Ok);
    // one in flight at a time, max_batch 4: 1 + 4 + 4 + 1
    CHECK(f.store.commitBatchSizes == std::vector<std::size_t>{1, 4, 4, 1});
    CHECK(f.store.rows().at("u9@x.test") == f.row(100, 1));
}

TEST_CASE("usage service: one user's commits are never reordered across batches", "[glue]") {
    Fixture f;
    metrics::Registry registry;
    // Two write lanes: the second commit of a user must wait for the first's batch.
    UsageService usage{f.loop, f.store, BatchSettings{8, 2, 2, 1000}, registry};
    f.store.putRow("a@x.test", f.row(500, 5));
    std::vector<std::string> order;
    f.store.holdForTest(true);
    usage.commit({"a@x.test", {{Op::Kind::Unset, Resource::Storage, 0}, {Op::Kind::Set, Resource::Storage, 1000}}},
                 [&](const CommitReply&) { order.push_back("recount"); });
    usage.commit(incBoth("a@x.test", 100), [&](const CommitReply&) { order.push_back("inc"); });
    usage.commit(incBoth("b@x.test", 1), [&](const CommitReply& r) {
        order.push_back("b");
        CHECK(r.kind == CommitReply::Kind::NotFound);
    });
    // Batch 1: the recount. Batch 2 (second lane): only b, a is busy.
    CHECK(f.store.commitBatchSizes == std::vector<std::size_t>{1, 1});
    f.store.releaseForTest();
    f.spin();
    CHECK(f.store.commitBatchSizes == std::vector<std::size_t>{1, 1, 1});
    CHECK(order == std::vector<std::string>{"recount", "b", "inc"});
    CHECK(f.store.rows().at("a@x.test").usage[Resource::Storage] == 1100);
}

TEST_CASE("usage service: failed and uncertain transactions", "[glue]") {
    Fixture f;
    f.store.putRow("a@x.test", f.row(1, 1));
    std::optional<CommitReply> got;
    f.store.setDownForTest(true);
    f.usage.commit(incBoth("a@x.test", 5), [&](const CommitReply& r) { got = r; });
    f.spin();
    REQUIRE(got);
    CHECK(got->kind == CommitReply::Kind::Failed);
    CHECK(f.store.rows().at("a@x.test") == f.row(1, 1));
    f.store.setDownForTest(false);
    f.store.uncertainNextCommitForTest();
    got.reset();
    f.usage.commit(incBoth("a@x.test", 5), [&](const CommitReply& r) { got = r; });
    f.spin();
    REQUIRE(got);
    CHECK(got->kind == CommitReply::Kind::Uncertain);
}

TEST_CASE("usage service: users of failed commits are marked for recount when the database is back", "[glue]") {
    Fixture f;
    metrics::Registry registry;
    BatchSettings settings;
    settings.recount_retry = std::chrono::milliseconds(1);
    UsageService usage{f.loop, f.store, settings, registry};
    f.store.putRow("a@x.test", f.row(100, 1));
    f.store.putRow("b@x.test", f.row(200, 2));
    f.store.setDownForTest(true);
    usage.commit(incBoth("a@x.test", 5), [](const CommitReply&) {});
    f.spin();
    CHECK(usage.pendingRecounts() == 1);
    f.spin();  // still down: kept
    CHECK(usage.pendingRecounts() == 1);
    CHECK(f.store.rows().at("a@x.test") == f.row(100, 1));
    f.store.setDownForTest(false);
    CHECK(f.spinUntil([&] { return usage.pendingRecounts() == 0; }));
    CHECK(f.store.rows().at("a@x.test") == f.row(std::nullopt, std::nullopt));
    CHECK(f.store.rows().at("b@x.test") == f.row(200, 2));
    // An uncertain commit is marked too.
    f.store.uncertainNextCommitForTest();
    usage.commit(incBoth("b@x.test", 5), [](const CommitReply&) {});
    CHECK(f.spinUntil([&] { return !f.store.rows().at("b@x.test").usage[Resource::Storage].has_value(); }));
    CHECK(f.store.rows().at("b@x.test") == f.row(std::nullopt, std::nullopt));
}

TEST_CASE("usage service: lookups are batched and deduplicated", "[glue]") {
    Fixture f;
    f.store.putRow("a@x.test", f.row(10, 1));
    int answered = 0;
    f.store.holdForTest(true);
    for (const char* u : {"a@x.test", "b@x.test", "a@x.test", "c@x.test"}) {
        f.usage.lookup(u, [&, u](Result<std::optional<core::Row>> r) {
            REQUIRE(r.ok());
            CHECK(r->has_value() == (std::string(u) == "a@x.test"));
            ++answered;
        });
    }
    f.store.releaseForTest();
    f.spin();
    CHECK(answered == 4);
    CHECK(f.store.readBatchSizes == std::vector<std::size_t>{1, 3});  // a alone, then b, a, c in one query
    f.store.setDownForTest(true);
    bool failed = false;
    f.usage.lookup("a@x.test", [&](Result<std::optional<core::Row>> r) { failed = !r.ok(); });
    f.spin();
    CHECK(failed);
    CHECK(f.usage.pendingRecounts() == 1);  // Dovecot may deliver without accounting now
}

TEST_CASE("usage service: overload answers at once with a failure", "[glue]") {
    Fixture f;
    metrics::Registry registry;
    UsageService small{f.loop, f.store, BatchSettings{1, 1, 1, 2}, registry};
    f.store.holdForTest(true);
    std::vector<CommitReply::Kind> replies;
    for (int i = 0; i < 4; ++i) {
        small.commit(incBoth("a@x.test", 1), [&](const CommitReply& r) { replies.push_back(r.kind); });
    }
    // 1 in flight + 2 queued; the 4th is refused (answered on the next loop turn).
    f.spin();
    REQUIRE(replies.size() == 1);
    CHECK(replies[0] == CommitReply::Kind::Failed);
    f.store.releaseForTest();
    f.spin();
    CHECK(replies.size() == 4);
}

TEST_CASE("usage service: warning crossings reach the sink", "[glue]") {
    Fixture f;
    f.store.putRow("a@x.test", f.row(700, 1));
    f.store.putMailbox("a@x.test", core::Limits{1000, 0});
    f.usage.setRules(std::make_shared<const core::WarningRules>(std::vector<core::Threshold>{{Resource::Storage, 80}}));
    std::vector<core::WarningEvent> events;
    f.usage.onWarning([&](const core::WarningEvent& e) { events.push_back(e); });
    f.usage.commit(incBoth("a@x.test", 200), [](const CommitReply&) {});
    f.usage.commit(incBoth("a@x.test", 10), [](const CommitReply&) {});
    f.spin();
    REQUIRE(events.size() == 1);
    CHECK(events[0].used == 900);
}

TEST_CASE("policy service: expansion through the store, malformed answered inline", "[glue]") {
    Fixture f;
    PolicyService policy(f.store);
    f.store.putMailbox("bob@example.test", core::Limits{1000, 0});
    f.store.putRow("bob@example.test", f.row(1000, 3));
    f.store.putMailbox("ann@example.test", core::Limits{1000, 0});
    f.store.putAlias("team@example.test", "ann@example.test");
    f.store.putAlias("team@example.test", "bob@example.test");
    f.store.putAliasDomain("alias.test", "example.test");
    auto settings = std::make_shared<const CheckSettings>();
    auto run = [&](const std::string& rcpt, std::uint64_t size) {
        std::optional<Result<CheckResult>> got;
        policy.check(rcpt, size, settings, [&](Result<CheckResult> r) { got = std::move(r); });
        f.spin();
        REQUIRE(got);
        REQUIRE(got->ok());
        return **got;
    };
    CHECK(run("Bob+tag@Example.TEST", 0).decision.verdict == core::Verdict::OverQuota);
    CHECK(run("team@alias.test", 10).decision.verdict == core::Verdict::OverQuota);
    CHECK(run("ann@example.test", 10).decision.verdict == core::Verdict::Accept);
    CHECK(run("ann@example.test", 5000).decision.verdict == core::Verdict::TooLarge);
    CHECK(run("nobody@example.test", 10).decision.verdict == core::Verdict::NoMailbox);

    // Checks arriving while a query runs share the next one.
    f.store.factsBatchSizes.clear();
    f.store.holdForTest(true);
    int answered = 0;
    for (const char* rcpt : {"ann@example.test", "bob@example.test", "team@example.test", "x@example.test"}) {
        policy.check(rcpt, 1, settings, [&](Result<CheckResult> r) {
            CHECK(r.ok());
            ++answered;
        });
    }
    CHECK(f.store.factsBatchSizes == std::vector<std::size_t>{1, 1});  // two queries in flight: ann, bob
    f.store.releaseForTest();
    f.spin();
    CHECK(answered == 4);
    // then team and x share one query, and team's aliases (ann, bob) are the last level
    CHECK(f.store.factsBatchSizes == std::vector<std::size_t>{1, 1, 2, 2});

    bool inline_answer = false;
    policy.check("not an address", 0, settings, [&](Result<CheckResult> r) {
        inline_answer = true;
        CHECK(r->malformed);
    });
    CHECK(inline_answer);
    f.store.setDownForTest(true);
    std::optional<Result<CheckResult>> got;
    policy.check("bob@example.test", 0, settings, [&](Result<CheckResult> r) { got = std::move(r); });
    f.spin();
    REQUIRE(got);
    CHECK_FALSE(got->ok());
}
