// A small bounded thread pool for CPU work that must not run on the event loop
// (password hashing: SHA512-CRYPT, BLF-CRYPT, Argon2). Completions are posted back
// and run on the loop thread, never inside submit(). A full queue fails at once.
// Database work has its own pool (common/sql/pool.h), which owns connections.
// Layer: common/event.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

struct event_base;
struct event;

namespace titan::event {

class WorkPool {
public:
    // `threads` workers (at least 1); at most `max_queue` jobs waiting.
    WorkPool(event_base* base, unsigned threads, size_t max_queue);
    ~WorkPool();  // stops the workers; queued jobs are dropped without completion
    WorkPool(const WorkPool&) = delete;
    WorkPool& operator=(const WorkPool&) = delete;

    // Run `work` on a worker, then `done(true)` on the loop thread. When the queue is
    // full, `work` never runs and `done(false)` runs on the next loop turn.
    // Loop thread only.
    void submit(std::function<void()> work, std::function<void(bool ran)> done);

    size_t queued() const;

private:
    struct Job {
        std::function<void()> work;
        std::function<void(bool)> done;
        bool ran = false;
    };
    void workerLoop();
    void post(std::unique_ptr<Job> job);
    static void onCompleted(int fd, short what, void* arg) noexcept;

    event_base* base_;
    size_t max_queue_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::unique_ptr<Job>> queue_;
    std::vector<std::unique_ptr<Job>> completed_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
    struct event* completion_ev_ = nullptr;
};

}  // namespace titan::event
