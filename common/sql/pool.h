// Database access that never blocks the event loop: a bounded pool of worker
// threads, each owning one sql::Connection; every job's completion runs later
// on the libevent loop thread. It does not know schemas or retry jobs itself
// (Connection reconnects; callers decide what Unavailable means to them).
// Layer: common/sql (base + MariaDB Connector/C + libevent).
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/base/result.h"
#include "common/sql/connection.h"

struct event_base;

namespace titan::sql {

// Makes libevent thread-aware (evthread_use_pthreads) and initialises the
// MariaDB client library, once per process; thread-safe. An event_base used
// with Pool must be created after this ran. pool.cc also runs it during static
// initialisation, so a program linking Pool normally needs no call of its own.
void initThreads();

namespace detail {

// A submitted job with its result slot, type-erased for the queues.
class Job {
public:
    virtual ~Job() = default;
    virtual void run(Connection& connection) noexcept = 0;  // worker thread
    virtual void fail(titan::Error error) noexcept = 0;     // instead of run()
    virtual void deliver() = 0;                             // loop thread: calls done
    virtual bool failed() const noexcept = 0;

    std::chrono::steady_clock::time_point enqueued{};
    bool ran = false;  // taken by a worker (counts in inFlight until delivered)
};

template <class T>
class TypedJob final : public Job {
public:
    TypedJob(std::function<titan::Result<T>(Connection&)> work, std::function<void(titan::Result<T>)> done)
        : work_(std::move(work)), done_(std::move(done)) {}

    void run(Connection& connection) noexcept override {
        try {
            result_.emplace(work_(connection));
        } catch (const std::bad_alloc&) {
            std::terminate();  // out of memory aborts the process (STYLE 3.4)
        } catch (const std::exception& e) {
            result_.emplace(titan::Error::internal(std::string("sql: job threw: ") + e.what()));
        } catch (...) {
            result_.emplace(titan::Error::internal("sql: job threw a non-std exception"));
        }
    }
    void fail(titan::Error error) noexcept override { result_.emplace(std::move(error)); }
    void deliver() override {
        if (done_) done_(std::move(*result_));
    }
    bool failed() const noexcept override { return !result_ || !result_->ok(); }

private:
    std::function<titan::Result<T>(Connection&)> work_;
    std::function<void(titan::Result<T>)> done_;
    std::optional<titan::Result<T>> result_;
};

}  // namespace detail

class Pool {
public:
    // Starts pool_size worker threads (0 is treated as 1); each connects lazily,
    // on its first job. `base` must outlive the Pool and have been created after
    // initThreads(). Invalid options make every job fail with Config.
    Pool(struct event_base* base, Options options);
    // Shuts down, joins the workers (waiting for running jobs to return) and
    // frees everything. Completions not yet delivered are dropped without
    // calling their done. May be called from inside a done callback.
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    // All public methods: loop thread only.

    // The event base completions run on (for callers that also need timers there).
    struct event_base* base() const noexcept;

    // Runs `work` on a worker with its Connection; `done` runs later on the loop
    // thread, exactly once, and never inside submit(). Without running `work`,
    // done gets Unavailable when the queue is full (max_queue), when the job
    // waited longer than queue_timeout, or after shutdown(). An exception from
    // `work` becomes Internal. `work`, `done` and what they capture are
    // destroyed on the loop thread. An exception escaping `done` is caught and
    // reported on stderr.
    template <class T>
    void submit(std::function<titan::Result<T>(Connection&)> work, std::function<void(titan::Result<T>)> done) {
        enqueue(std::make_unique<detail::TypedJob<T>>(std::move(work), std::move(done)));
    }

    // Shorthand for submit<QueryResult> of Connection::execute(sql, params, idempotent).
    void execute(std::string sql, std::vector<Value> params, std::function<void(titan::Result<QueryResult>)> done,
                 bool idempotent = true);

    // Jobs waiting for a worker.
    size_t queued() const;
    // Jobs taken by a worker whose done has not run yet.
    size_t inFlight() const;

    struct Stats {
        unsigned long long jobs;            // submitted
        unsigned long long failures;        // delivered with an error (any cause)
        unsigned long long reconnects;      // connections re-established after being lost
        unsigned long long queue_full;      // rejected because max_queue jobs were waiting
        unsigned long long queue_timeouts;  // expired in the queue after queue_timeout
    };
    Stats stats() const;

    // Stops taking jobs: queued and later-submitted jobs complete with
    // Unavailable("shutting down"); running jobs finish and deliver normally.
    // Does not block. Idempotent.
    void shutdown();

private:
    void enqueue(std::unique_ptr<detail::Job> job);

    struct State;
    std::unique_ptr<State> s_;
};

}  // namespace titan::sql
