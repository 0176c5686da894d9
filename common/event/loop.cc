#include "common/event/loop.h"

#include <event2/event.h>
#include <event2/thread.h>

#include <csignal>
#include <exception>

#include "common/log/log.h"

namespace titan::event {

Loop::Loop() {
    evthread_use_pthreads();
    base_ = event_base_new();
    if (base_ == nullptr) std::terminate();
    std::signal(SIGPIPE, SIG_IGN);
}

Loop::~Loop() {
    for (auto* ev : {sigterm_, sigint_, sighup_}) {
        if (ev != nullptr) event_free(ev);
    }
    event_base_free(base_);
}

void Loop::onSignal(int fd, short /*what*/, void* arg) noexcept {
    auto* self = static_cast<Loop*>(arg);
    try {
        if (fd == SIGHUP) {
            if (self->on_reload_) self->on_reload_();
        } else if (self->on_stop_) {
            self->on_stop_();
        } else {
            self->stop();
        }
    } catch (const std::exception& e) {
        log::error("signal handler failed", {{"error", e.what()}});
    }
}

void Loop::onStopSignal(std::function<void()> cb) {
    on_stop_ = std::move(cb);
    if (sigterm_ == nullptr) {
        sigterm_ = evsignal_new(base_, SIGTERM, &Loop::onSignal, this);
        sigint_ = evsignal_new(base_, SIGINT, &Loop::onSignal, this);
        event_add(sigterm_, nullptr);
        event_add(sigint_, nullptr);
    }
}

void Loop::onReloadSignal(std::function<void()> cb) {
    on_reload_ = std::move(cb);
    if (sighup_ == nullptr) {
        sighup_ = evsignal_new(base_, SIGHUP, &Loop::onSignal, this);
        event_add(sighup_, nullptr);
    }
}

int Loop::run() { return event_base_dispatch(base_); }

void Loop::stop() { event_base_loopbreak(base_); }

std::unique_ptr<Timer> Loop::every(std::chrono::milliseconds interval, std::function<void()> cb) {
    return std::make_unique<Timer>(base_, interval, true, std::move(cb));
}

std::unique_ptr<Timer> Loop::after(std::chrono::milliseconds delay, std::function<void()> cb) {
    return std::make_unique<Timer>(base_, delay, false, std::move(cb));
}

Timer::Timer(event_base* base, std::chrono::milliseconds interval, bool repeat, std::function<void()> cb)
    : cb_(std::move(cb)) {
    ev_ = event_new(base, -1, repeat ? EV_PERSIST : 0, &Timer::onFire, this);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(interval.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((interval.count() % 1000) * 1000);
    event_add(ev_, &tv);
}

Timer::~Timer() {
    if (ev_ != nullptr) event_free(ev_);
}

void Timer::onFire(int /*fd*/, short /*what*/, void* arg) noexcept {
    auto* self = static_cast<Timer*>(arg);
    try {
        self->cb_();
    } catch (const std::exception& e) {
        log::error("timer callback failed", {{"error", e.what()}});
    }
}

}  // namespace titan::event
