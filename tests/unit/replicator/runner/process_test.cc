#include "replicator/runner/process.h"

#include <catch2/catch.hpp>
#include <csignal>
#include <chrono>
#include <optional>

#include "common/event/loop.h"

using namespace titan;
using namespace titan::replicator::runner;
using namespace std::chrono_literals;

namespace {

// Runs one program to completion on a fresh loop.
ProcessResult runOne(SpawnRequest req, bool* called_inside = nullptr) {
    event::Loop loop;
    ProcessRunner runner(loop);
    std::optional<ProcessResult> got;
    bool inside = true;
    runner.start(std::move(req), [&](ProcessResult r) {
        got = std::move(r);
        loop.stop();
    });
    inside = got.has_value();
    if (called_inside != nullptr) *called_inside = inside;
    auto guard = loop.after(20000ms, [&] { loop.stop(); });
    if (!got) loop.run();
    REQUIRE(got);
    CHECK(runner.running() == 0);
    return std::move(*got);
}

SpawnRequest req(std::vector<std::string> argv, std::chrono::milliseconds timeout = 10000ms) {
    SpawnRequest r;
    r.argv = std::move(argv);
    r.timeout = timeout;
    return r;
}

}  // namespace

TEST_CASE("runner: output, exit code and an empty environment", "[glue]") {
    auto r = runOne(req({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}));
    CHECK(r.exit_code == 3);
    CHECK(r.signal == 0);
    CHECK_FALSE(r.timed_out);
    CHECK(r.out == "out\n");
    CHECK(r.err == "err\n");
    auto env = runOne(req({"/usr/bin/env"}));
    CHECK(env.exit_code == 0);
    CHECK(env.out.empty());
    auto with = req({"/usr/bin/env"});
    with.env = {"A=1"};
    CHECK(runOne(with).out == "A=1\n");
}

TEST_CASE("runner: stdin is /dev/null and no descriptor leaks into the child", "[glue]") {
    auto r = runOne(req({"/bin/sh", "-c", "cat; ls /proc/self/fd | tr '\\n' ' '"}));
    CHECK(r.exit_code == 0);
    // 0, 1, 2 and the one ls opens to read the directory
    CHECK(r.out == "0 1 2 3 ");
}

TEST_CASE("runner: a program past its deadline is killed", "[glue]") {
    auto t0 = std::chrono::steady_clock::now();
    auto r = runOne(req({"/bin/sleep", "30"}, 200ms));
    CHECK(r.timed_out);
    CHECK(r.signal == SIGTERM);
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    // one that ignores SIGTERM gets SIGKILL after the grace period
    auto stubborn = req({"/bin/sh", "-c", "trap '' TERM; sleep 30"}, 200ms);
    stubborn.kill_grace = 200ms;
    auto s = runOne(stubborn);
    CHECK(s.timed_out);
    CHECK(s.signal == SIGKILL);
}

TEST_CASE("runner: spawn failures are reported asynchronously", "[glue]") {
    bool inside = true;
    auto r = runOne(req({"/nonexistent/doveadm", "sync"}), &inside);
    CHECK_FALSE(inside);
    CHECK(r.spawn_failed);
    CHECK(r.spawn_error.find("/nonexistent/doveadm") != std::string::npos);
    auto rel = runOne(req({"doveadm"}));
    CHECK(rel.spawn_failed);
    auto none = runOne(req({}));
    CHECK(none.spawn_failed);
}

TEST_CASE("runner: captured output is bounded", "[glue]") {
    auto big = req({"/usr/bin/head", "-c", "200000", "/dev/zero"});
    big.max_output = 1000;
    auto r = runOne(big);
    CHECK(r.exit_code == 0);
    CHECK(r.out.size() == 1000);
    CHECK(r.out_truncated);
    CHECK_FALSE(r.err_truncated);
}

TEST_CASE("runner: several children at once, cancel", "[glue]") {
    event::Loop loop;
    ProcessRunner runner(loop);
    int done = 0;
    std::optional<ProcessResult> cancelled;
    for (int i = 0; i < 5; ++i) {
        runner.start(req({"/bin/sh", "-c", "exit " + std::to_string(i)}), [&, i](ProcessResult r) {
            CHECK(r.exit_code == i);
            ++done;
        });
    }
    auto id = runner.start(req({"/bin/sleep", "30"}), [&](ProcessResult r) { cancelled = std::move(r); });
    CHECK(runner.running() == 6);
    runner.cancel(id);
    auto stop = loop.every(20ms, [&] {
        if (done == 5 && cancelled) loop.stop();
    });
    auto guard = loop.after(10000ms, [&] { loop.stop(); });
    loop.run();
    CHECK(done == 5);
    REQUIRE(cancelled);
    CHECK(cancelled->signal == SIGTERM);
    CHECK_FALSE(cancelled->timed_out);
}
