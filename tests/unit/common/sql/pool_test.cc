// sql::Pool against a real private MariaDB (see mariadb_fixture.h).
#include "common/sql/pool.h"

#include <event2/event.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/common/sql/mariadb_fixture.h"

using titan::ErrorCode;
using titan::Result;
using namespace titan::sql;
using titan::sql::test::msSince;
using titan::sql::test::testDb;
using Clock = std::chrono::steady_clock;

namespace {

struct Loop {
    Loop() {
        initThreads();
        base = event_base_new();
        REQUIRE(base != nullptr);
    }
    ~Loop() { event_base_free(base); }
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    // Runs the loop until pred() holds or `limit` passes; returns pred().
    template <class Pred>
    bool runUntil(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
        event* tick = evtimer_new(base, [](evutil_socket_t, short, void*) {}, nullptr);
        const auto deadline = Clock::now() + limit;
        while (!pred() && Clock::now() < deadline) {
            const timeval tv{0, 10000};
            evtimer_add(tick, &tv);
            event_base_loop(base, EVLOOP_ONCE);
        }
        event_free(tick);
        return pred();
    }

    event_base* base = nullptr;
};

// Runs one query through the pool and waits for its completion.
Result<QueryResult> query(Loop& loop, Pool& pool, std::string sql, std::vector<Value> params = {}) {
    std::optional<Result<QueryResult>> out;
    pool.execute(std::move(sql), std::move(params), [&](Result<QueryResult> r) { out.emplace(std::move(r)); });
    REQUIRE(loop.runUntil([&] { return out.has_value(); }));
    return std::move(*out);
}

// A job that blocks its worker until release() (or the gate is destroyed).
struct Gate {
    std::promise<void> promise;
    std::shared_future<void> future = promise.get_future().share();
    std::atomic<bool> entered{false};
    void release() { promise.set_value(); }
};

}  // namespace

TEST_CASE("Pool: done runs on the loop thread, later, never inside submit()", "[sql][integration]") {
    Loop loop;
    Options o = testDb().tcpOptions();
    o.pool_size = 3;
    Pool pool(loop.base, o);
    const auto loop_thread = std::this_thread::get_id();
    bool in_submit = false;
    int done = 0, wrong_thread = 0, reentrant = 0, ok = 0;
    std::atomic<int> worker_on_loop_thread{0};
    constexpr int kJobs = 30;
    for (int i = 0; i < kJobs; ++i) {
        in_submit = true;
        pool.submit<std::string>(
            [i, loop_thread, &worker_on_loop_thread](Connection& c) -> Result<std::string> {
                if (std::this_thread::get_id() == loop_thread) ++worker_on_loop_thread;
                auto r = c.execute("SELECT CONCAT('job-', ?)", {std::to_string(i)});
                if (!r) return std::move(r).error();
                return *r->rows.at(0).at(0);
            },
            [&, i](Result<std::string> r) {
                ++done;
                if (std::this_thread::get_id() != loop_thread) ++wrong_thread;
                if (in_submit) ++reentrant;
                if (r.ok() && *r == "job-" + std::to_string(i)) ++ok;
            });
        in_submit = false;
    }
    CHECK(done == 0);
    REQUIRE(loop.runUntil([&] { return done == kJobs; }));
    CHECK(ok == kJobs);
    CHECK(wrong_thread == 0);
    CHECK(reentrant == 0);
    CHECK(worker_on_loop_thread == 0);
    CHECK(pool.queued() == 0);
    CHECK(pool.inFlight() == 0);
    const auto s = pool.stats();
    CHECK(s.jobs == kJobs);
    CHECK(s.failures == 0);

    SECTION("event_base_dispatch stays up while jobs are outstanding, then returns") {
        bool got = false;
        pool.execute("SELECT SLEEP(0.2)", {}, [&](Result<QueryResult> r) { got = r.ok(); });
        const auto t0 = Clock::now();
        REQUIRE(event_base_dispatch(loop.base) == 1);  // 1: returned because no events were left
        CHECK(got);
        CHECK(msSince(t0) >= 150);
        CHECK(msSince(t0) < 2000);
    }
    SECTION("an exception in work becomes Internal; one in done is contained") {
        std::optional<titan::Status> st;
        pool.submit<void>([](Connection&) -> titan::Status { throw std::runtime_error("boom"); },
                          [&](titan::Status r) { st.emplace(std::move(r)); });
        REQUIRE(loop.runUntil([&] { return st.has_value(); }));
        REQUIRE_FALSE(st->ok());
        CHECK(st->error().code == ErrorCode::Internal);
        CHECK_THAT(st->error().message, Catch::Contains("boom"));

        bool after = false;
        pool.submit<int>([](Connection&) -> Result<int> { return 1; },
                         [](Result<int>) { throw std::runtime_error("thrown by done (expected in this test)"); });
        pool.submit<int>([](Connection&) -> Result<int> { return 2; }, [&](Result<int> r) { after = r.ok(); });
        CHECK(loop.runUntil([&] { return after; }));
    }
}

TEST_CASE("Pool: a full queue fails Unavailable at once, without blocking", "[sql][integration]") {
    Loop loop;
    Options o = testDb().tcpOptions();
    o.pool_size = 1;
    o.max_queue = 2;
    Pool pool(loop.base, o);
    Gate gate;
    bool in_submit = false;
    std::vector<std::optional<Result<int>>> results(5);
    int reentrant = 0;
    auto submitOne = [&](size_t i) {
        in_submit = true;
        pool.submit<int>(
            [&gate, i](Connection&) -> Result<int> {
                if (i == 0) {
                    gate.entered = true;
                    gate.future.wait();
                }
                return static_cast<int>(i);
            },
            [&, i](Result<int> r) {
                if (in_submit) ++reentrant;
                results[i].emplace(std::move(r));
            });
        in_submit = false;
    };
    submitOne(0);
    REQUIRE(loop.runUntil([&] { return gate.entered.load(); }));
    CHECK(pool.inFlight() == 1);
    submitOne(1);
    submitOne(2);
    CHECK(pool.queued() == 2);
    const auto t0 = Clock::now();
    submitOne(3);
    submitOne(4);
    CHECK(msSince(t0) < 50);
    CHECK_FALSE(results[3].has_value());  // not inside submit()
    REQUIRE(loop.runUntil([&] { return results[3].has_value() && results[4].has_value(); }));
    CHECK(results[3]->error().code == ErrorCode::Unavailable);
    CHECK_THAT(results[4]->error().message, Catch::Contains("queue full"));
    CHECK_FALSE(results[1].has_value());
    gate.release();
    REQUIRE(loop.runUntil([&] { return results[0] && results[1] && results[2]; }));
    for (size_t i = 0; i < 3; ++i) CHECK(*results[i]->operator->() == static_cast<int>(i));
    CHECK(reentrant == 0);
    const auto s = pool.stats();
    CHECK(s.jobs == 5);
    CHECK(s.queue_full == 2);
    CHECK(s.failures == 2);
}

TEST_CASE("Pool: a job waiting longer than queue_timeout fails without running", "[sql][integration]") {
    Loop loop;
    Options o = testDb().tcpOptions();
    o.pool_size = 1;
    o.queue_timeout = std::chrono::milliseconds(200);
    Pool pool(loop.base, o);
    Gate gate;
    std::optional<Result<int>> first, second;
    std::atomic<bool> second_ran{false};
    pool.submit<int>(
        [&](Connection&) -> Result<int> {
            gate.entered = true;
            gate.future.wait();
            return 1;
        },
        [&](Result<int> r) { first.emplace(std::move(r)); });
    REQUIRE(loop.runUntil([&] { return gate.entered.load(); }));
    const auto t0 = Clock::now();
    pool.submit<int>(
        [&](Connection&) -> Result<int> {
            second_ran = true;
            return 2;
        },
        [&](Result<int> r) { second.emplace(std::move(r)); });
    REQUIRE(loop.runUntil([&] { return second.has_value(); }));
    CHECK(msSince(t0) >= 190);
    CHECK(msSince(t0) < 1000);  // expired by the loop, although the only worker is still busy
    CHECK(second->error().code == ErrorCode::Unavailable);
    CHECK_FALSE(second_ran);
    gate.release();
    REQUIRE(loop.runUntil([&] { return first.has_value(); }));
    CHECK(first->ok());
    CHECK(pool.stats().queue_timeouts == 1);
}

TEST_CASE("Pool: shutdown fails pending jobs, lets running ones finish", "[sql][integration]") {
    Loop loop;
    Options o = testDb().tcpOptions();
    o.pool_size = 1;
    auto pool = std::make_unique<Pool>(loop.base, o);
    Gate gate;
    std::vector<std::optional<Result<int>>> results(5);
    for (size_t i = 0; i < 4; ++i) {
        pool->submit<int>(
            [&gate, i](Connection&) -> Result<int> {
                if (i == 0) {
                    gate.entered = true;
                    gate.future.wait();
                }
                return static_cast<int>(i);
            },
            [&, i](Result<int> r) { results[i].emplace(std::move(r)); });
    }
    REQUIRE(loop.runUntil([&] { return gate.entered.load(); }));
    CHECK(pool->queued() == 3);
    pool->shutdown();
    CHECK(pool->queued() == 0);
    CHECK_FALSE(results[1].has_value());
    pool->submit<int>([](Connection&) -> Result<int> { return 4; },
                      [&](Result<int> r) { results[4].emplace(std::move(r)); });
    REQUIRE(loop.runUntil([&] { return results[1] && results[2] && results[3] && results[4]; }));
    for (size_t i = 1; i < 5; ++i) {
        CHECK(results[i]->error().code == ErrorCode::Unavailable);
        CHECK_THAT(results[i]->error().message, Catch::Contains("shutting down"));
    }
    CHECK_FALSE(results[0].has_value());
    gate.release();
    REQUIRE(loop.runUntil([&] { return results[0].has_value(); }));
    CHECK(results[0]->ok());
    pool->shutdown();  // idempotent

    SECTION("destroying the Pool from inside done is safe") {
        bool called = false;
        auto p2 = std::make_unique<Pool>(loop.base, o);
        p2->submit<int>([](Connection&) -> Result<int> { return 1; },
                        [&](Result<int>) {
                            called = true;
                            p2.reset();
                        });
        p2->submit<int>([](Connection&) -> Result<int> { return 2; }, [](Result<int>) {});
        REQUIRE(loop.runUntil([&] { return called; }));
        CHECK_FALSE(p2);
    }
    pool.reset();
}

TEST_CASE("Pool: server stopped fails fast, restarted server is used again by the same Pool",
          "[sql][integration]") {
    Loop loop;
    Options o = testDb().tcpOptions();
    o.pool_size = 1;
    o.retry_interval = std::chrono::milliseconds(500);
    Pool pool(loop.base, o);
    REQUIRE(query(loop, pool, "SELECT 1").ok());

    SECTION("stopped: Unavailable in under 3 s, then immediately while marked down") {
        testDb().stop();
        auto t0 = Clock::now();
        auto r = query(loop, pool, "SELECT 1");
        CHECK(msSince(t0) < 3000);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ErrorCode::Unavailable);

        t0 = Clock::now();
        auto fast = query(loop, pool, "SELECT 1");
        CHECK(msSince(t0) < 100);
        REQUIRE_FALSE(fast.ok());
        CHECK(fast.error().code == ErrorCode::Unavailable);
        CHECK_THAT(fast.error().message, Catch::Contains("marked down"));

        testDb().start();
        std::this_thread::sleep_for(o.retry_interval + std::chrono::milliseconds(100));
        auto back = query(loop, pool, "SELECT 1");
        INFO((back.ok() ? "" : back.error().message));
        CHECK(back.ok());
        CHECK(pool.stats().reconnects == 1);
    }
    SECTION("restarted between two queries: the next query reconnects and succeeds") {
        const std::string id = query(loop, pool, "SELECT CONNECTION_ID()")->rows.at(0).at(0).value();
        testDb().stop();
        testDb().start();
        auto r = query(loop, pool, "SELECT CONNECTION_ID()");
        INFO((r.ok() ? "" : r.error().message));
        REQUIRE(r.ok());
        CHECK(pool.stats().reconnects == 1);
        CHECK(pool.stats().failures == 0);
    }
}

TEST_CASE("Pool: host list fails over from a dead first host", "[sql][integration]") {
    Loop loop;
    Options o = testDb().tcpOptions();
    o.hosts.insert(o.hosts.begin(), HostSpec{"127.0.0.1", titan::sql::test::deadPort(), ""});
    o.pool_size = 2;
    Pool pool(loop.base, o);
    std::string host;
    std::optional<titan::Status> st;
    pool.submit<void>(
        [&host](Connection& c) -> titan::Status {
            auto r = c.execute("SELECT 1");
            if (!r) return std::move(r).error();
            host = c.currentHost();
            return {};
        },
        [&](titan::Status s) { st.emplace(std::move(s)); });
    REQUIRE(loop.runUntil([&] { return st.has_value(); }));
    INFO((st->ok() ? "" : st->error().message));
    REQUIRE(st->ok());
    CHECK(host == "127.0.0.1:" + std::to_string(testDb().port()));
}
