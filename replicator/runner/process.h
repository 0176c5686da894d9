// Runs external programs for the replicator (doveadm) without a shell: posix_spawn
// with an argv vector and an explicit (normally empty) environment, stdin from
// /dev/null, stdout and stderr captured up to a bound, every other descriptor closed,
// its own process group, and a deadline after which the group gets SIGTERM and, after
// a grace period, SIGKILL. Exits are noticed through a pidfd on the event loop (no
// SIGCHLD handler, no blocking wait). Loop thread only. Layer: replicator/runner.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/event/loop.h"

struct event;

namespace titan::replicator::runner {

struct SpawnRequest {
    std::vector<std::string> argv;  // argv[0] is an absolute path (no PATH search)
    std::vector<std::string> env;   // "NAME=value"; empty: an empty environment
    std::chrono::milliseconds timeout{120000};
    std::chrono::milliseconds kill_grace{2000};  // SIGTERM -> SIGKILL
    std::size_t max_output = 64 * 1024;          // per stream; the rest is read and dropped
};

struct ProcessResult {
    bool spawn_failed = false;
    std::string spawn_error;
    bool timed_out = false;
    int exit_code = -1;  // when it exited normally
    int signal = 0;      // when a signal ended it
    std::string out;
    std::string err;
    bool out_truncated = false;
    bool err_truncated = false;
    std::chrono::milliseconds duration{0};
};

class ProcessRunner {
public:
    using Done = std::function<void(ProcessResult)>;

    explicit ProcessRunner(event::Loop& loop);
    // Kills (SIGKILL to the process groups) and reaps every child still running;
    // their done callbacks are not called.
    ~ProcessRunner();
    ProcessRunner(const ProcessRunner&) = delete;
    ProcessRunner& operator=(const ProcessRunner&) = delete;

    // Starts the program. `done` runs later on the loop thread, exactly once, never
    // inside start() (a spawn failure is reported on the next loop turn). Returns an
    // id for cancel().
    std::uint64_t start(SpawnRequest request, Done done);

    // Sends SIGTERM to the process group now (the normal kill sequence follows);
    // done still runs, with timed_out = false and the signal that ended it.
    void cancel(std::uint64_t id);

    std::size_t running() const noexcept { return children_.size(); }

private:
    struct Child;
    void onEvent(Child& child);
    void check(std::uint64_t id);
    void finish(std::uint64_t id);
    static void onIo(int fd, short what, void* arg) noexcept;
    static void onTimer(int fd, short what, void* arg) noexcept;

    event::Loop& loop_;
    std::uint64_t next_id_ = 1;
    std::map<std::uint64_t, std::unique_ptr<Child>> children_;
};

}  // namespace titan::replicator::runner
