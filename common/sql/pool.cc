// Pool: job queue, worker threads, completion queue drained on the loop thread.
//
// Threads: the loop thread owns the Pool and every Job before it is queued and
// after it is delivered. Workers only move Jobs from `queue` to `completed`
// (both under `mu`) and call event_active() on `completion_ev`, which libevent
// allows from any thread once evthread_use_pthreads() ran before the base was made.
#include "common/sql/pool.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <mysql.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>

namespace titan::sql {
namespace {

using Clock = std::chrono::steady_clock;

std::once_flag g_threads_once;

// Runs before main() in any program that links Pool, so no event_base can be
// created before libevent knows about threads.
[[maybe_unused]] const bool g_threads_ready = (initThreads(), true);

timeval toTimeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

}  // namespace

void initThreads() {
    std::call_once(g_threads_once, [] {
        evthread_use_pthreads();
        initClientLibrary();
    });
}

struct Pool::State {
    event_base* base = nullptr;
    Options options;
    Status options_ok;
    std::shared_ptr<HostHealth> health;
    event* completion_ev = nullptr;  // activated by workers; drains `completed`
    event* sweep_ev = nullptr;       // loop timer: expires queued jobs, keeps the loop alive while busy
    std::chrono::milliseconds sweep_every{};

    mutable std::mutex mu;
    std::condition_variable wake;
    std::deque<std::unique_ptr<detail::Job>> queue;      // guarded by mu
    std::deque<std::unique_ptr<detail::Job>> completed;  // guarded by mu
    bool stopping = false;                               // guarded by mu
    size_t in_flight = 0;                                // guarded by mu

    std::vector<std::thread> workers;
    std::atomic<unsigned long long> reconnects{0};
    std::atomic<unsigned long long> queue_timeouts{0};

    // Loop thread only.
    size_t outstanding = 0;  // submitted, not yet delivered
    unsigned long long jobs = 0, failures = 0, queue_full = 0;
    bool* destroyed = nullptr;  // set while delivering, so ~Pool inside done is noticed

    void workerMain();
    void complete(std::unique_ptr<detail::Job> job);  // caller holds mu
    void armSweep();
    static void onCompletion(evutil_socket_t, short, void* arg) noexcept;
    static void onSweep(evutil_socket_t, short, void* arg) noexcept;
};

void Pool::State::complete(std::unique_ptr<detail::Job> job) {
    completed.push_back(std::move(job));
}

void Pool::State::workerMain() {
    // A write to a socket the server closed must not kill the process.
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
    mysql_thread_init();
    {
        Connection connection(options, health);
        unsigned long long seen_reconnects = 0;
        for (;;) {
            std::unique_ptr<detail::Job> job;
            bool expired = false;
            {
                std::unique_lock lock(mu);
                wake.wait(lock, [this] { return stopping || !queue.empty(); });
                if (queue.empty()) break;  // stopping; shutdown() already failed what was queued
                job = std::move(queue.front());
                queue.pop_front();
                expired = Clock::now() - job->enqueued > options.queue_timeout;
                if (!expired) {
                    job->ran = true;
                    ++in_flight;
                }
            }
            if (expired) {
                job->fail(Error::unavailable("sql: job waited more than " +
                                             std::to_string(options.queue_timeout.count()) +
                                             " ms for a database worker"));
                queue_timeouts.fetch_add(1, std::memory_order_relaxed);
            } else if (!options_ok) {
                job->fail(options_ok.error());
            } else {
                job->run(connection);
            }
            if (const auto r = connection.reconnects(); r != seen_reconnects) {
                reconnects.fetch_add(r - seen_reconnects, std::memory_order_relaxed);
                seen_reconnects = r;
            }
            {
                std::lock_guard lock(mu);
                complete(std::move(job));
            }
            event_active(completion_ev, EV_TIMEOUT, 0);
        }
    }
    mysql_thread_end();
}

void Pool::State::armSweep() {
    if (outstanding == 0 || evtimer_pending(sweep_ev, nullptr)) return;
    const timeval tv = toTimeval(sweep_every);
    evtimer_add(sweep_ev, &tv);
}

void Pool::State::onSweep(evutil_socket_t, short, void* arg) noexcept {
    auto* s = static_cast<State*>(arg);
    bool any = false;
    {
        std::lock_guard lock(s->mu);
        const auto limit = Clock::now() - s->options.queue_timeout;
        while (!s->queue.empty() && s->queue.front()->enqueued < limit) {
            auto job = std::move(s->queue.front());
            s->queue.pop_front();
            job->fail(Error::unavailable("sql: job waited more than " +
                                         std::to_string(s->options.queue_timeout.count()) +
                                         " ms for a database worker"));
            s->queue_timeouts.fetch_add(1, std::memory_order_relaxed);
            s->complete(std::move(job));
            any = true;
        }
    }
    if (any) event_active(s->completion_ev, EV_TIMEOUT, 0);
    s->armSweep();
}

void Pool::State::onCompletion(evutil_socket_t, short, void* arg) noexcept {
    auto* s = static_cast<State*>(arg);
    std::deque<std::unique_ptr<detail::Job>> batch;
    {
        std::lock_guard lock(s->mu);
        batch.swap(s->completed);
    }
    bool destroyed = false;
    s->destroyed = &destroyed;
    while (!batch.empty()) {
        auto job = std::move(batch.front());
        batch.pop_front();
        if (job->ran) {
            std::lock_guard lock(s->mu);
            --s->in_flight;
        }
        --s->outstanding;
        if (job->failed()) ++s->failures;
        try {
            job->deliver();
        } catch (const std::bad_alloc&) {
            std::terminate();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "sql: exception escaped a completion callback: %s\n", e.what());
        } catch (...) {
            std::fprintf(stderr, "sql: non-std exception escaped a completion callback\n");
        }
        job.reset();  // work, done and their captures die here, on the loop thread
        if (destroyed) return;  // ~Pool ran inside done; `s` is gone
    }
    s->destroyed = nullptr;
    if (s->outstanding == 0) evtimer_del(s->sweep_ev);  // let an idle loop exit
}

struct event_base* Pool::base() const noexcept { return s_->base; }

Pool::Pool(struct event_base* base, Options options) : s_(std::make_unique<State>()) {
    initThreads();
    s_->base = base;
    s_->options = std::move(options);
    s_->options_ok = validateOptions(s_->options);
    s_->health = std::make_shared<HostHealth>(s_->options.hosts.size(), s_->options.retry_interval);
    s_->sweep_every = std::clamp(s_->options.queue_timeout / 4, std::chrono::milliseconds(10),
                                 std::chrono::milliseconds(250));
    s_->completion_ev = event_new(base, -1, 0, &State::onCompletion, s_.get());
    s_->sweep_ev = evtimer_new(base, &State::onSweep, s_.get());
    const unsigned n = std::max(1u, s_->options.pool_size);
    s_->workers.reserve(n);
    for (unsigned i = 0; i < n; ++i) s_->workers.emplace_back([s = s_.get()] { s->workerMain(); });
}

Pool::~Pool() {
    if (!s_) return;
    shutdown();
    for (auto& t : s_->workers) t.join();
    if (s_->destroyed != nullptr) *s_->destroyed = true;
    event_free(s_->completion_ev);
    event_free(s_->sweep_ev);
    s_.reset();  // undelivered jobs are destroyed here, on the loop thread
}

void Pool::enqueue(std::unique_ptr<detail::Job> job) {
    ++s_->jobs;
    ++s_->outstanding;
    job->enqueued = Clock::now();
    bool rejected = false;
    {
        std::lock_guard lock(s_->mu);
        if (s_->stopping) {
            job->fail(Error::unavailable("sql: shutting down"));
            s_->complete(std::move(job));
            rejected = true;
        } else if (s_->queue.size() >= s_->options.max_queue) {
            job->fail(Error::unavailable("sql: database queue full (" + std::to_string(s_->options.max_queue) +
                                         " jobs waiting)"));
            ++s_->queue_full;
            s_->complete(std::move(job));
            rejected = true;
        } else {
            s_->queue.push_back(std::move(job));
        }
    }
    if (rejected) {
        event_active(s_->completion_ev, EV_TIMEOUT, 0);  // runs done later, never inside submit()
    } else {
        s_->wake.notify_one();
    }
    s_->armSweep();
}

void Pool::execute(std::string sql, std::vector<Value> params, std::function<void(Result<QueryResult>)> done,
                   bool idempotent) {
    submit<QueryResult>(
        [sql = std::move(sql), params = std::move(params), idempotent](Connection& c) {
            return c.execute(sql, params, idempotent);
        },
        std::move(done));
}

size_t Pool::queued() const {
    std::lock_guard lock(s_->mu);
    return s_->queue.size();
}

size_t Pool::inFlight() const {
    std::lock_guard lock(s_->mu);
    return s_->in_flight;
}

Pool::Stats Pool::stats() const {
    return Stats{s_->jobs, s_->failures, s_->reconnects.load(std::memory_order_relaxed), s_->queue_full,
                 s_->queue_timeouts.load(std::memory_order_relaxed)};
}

void Pool::shutdown() {
    bool any = false;
    {
        std::lock_guard lock(s_->mu);
        if (s_->stopping) return;
        s_->stopping = true;
        while (!s_->queue.empty()) {
            auto job = std::move(s_->queue.front());
            s_->queue.pop_front();
            job->fail(Error::unavailable("sql: shutting down"));
            s_->complete(std::move(job));
            any = true;
        }
    }
    s_->wake.notify_all();
    if (any) event_active(s_->completion_ev, EV_TIMEOUT, 0);
}

}  // namespace titan::sql
