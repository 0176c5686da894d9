#include "common/event/work_pool.h"

#include <event2/event.h>

#include <exception>

#include "common/log/log.h"

namespace titan::event {

WorkPool::WorkPool(event_base* base, unsigned threads, size_t max_queue) : base_(base), max_queue_(max_queue) {
    completion_ev_ = event_new(base_, -1, 0, &WorkPool::onCompleted, this);
    if (threads == 0) threads = 1;
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { workerLoop(); });
}

WorkPool::~WorkPool() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
        queue_.clear();
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    event_free(completion_ev_);
}

size_t WorkPool::queued() const {
    std::lock_guard lock(mu_);
    return queue_.size();
}

void WorkPool::submit(std::function<void()> work, std::function<void(bool)> done) {
    auto job = std::make_unique<Job>();
    job->work = std::move(work);
    job->done = std::move(done);
    {
        std::lock_guard lock(mu_);
        if (queue_.size() < max_queue_ && !stopping_) {
            queue_.push_back(std::move(job));
            cv_.notify_one();
            return;
        }
    }
    post(std::move(job));  // refused: completes with ran == false
}

void WorkPool::workerLoop() {
    for (;;) {
        std::unique_ptr<Job> job;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        try {
            job->work();
        } catch (const std::bad_alloc&) {
            std::terminate();
        } catch (const std::exception& e) {
            log::error("work pool job failed", {{"error", e.what()}});
        }
        job->ran = true;
        post(std::move(job));
    }
}

void WorkPool::post(std::unique_ptr<Job> job) {
    {
        std::lock_guard lock(mu_);
        completed_.push_back(std::move(job));
    }
    event_active(completion_ev_, EV_READ, 0);
}

void WorkPool::onCompleted(int /*fd*/, short /*what*/, void* arg) noexcept {
    auto* self = static_cast<WorkPool*>(arg);
    std::vector<std::unique_ptr<Job>> batch;
    {
        std::lock_guard lock(self->mu_);
        batch.swap(self->completed_);
    }
    for (auto& job : batch) {
        try {
            if (job->done) job->done(job->ran);
        } catch (const std::bad_alloc&) {
            std::terminate();
        } catch (const std::exception& e) {
            log::error("work pool completion failed", {{"error", e.what()}});
        }
    }
}

}  // namespace titan::event
