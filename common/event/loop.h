// The process's single libevent loop, its signals and timers.
// One Loop per process; everything here runs on the loop thread. Worker threads
// reach the loop only through common/sql's completion queue.
// Layer: common/event (base + libevent).
#pragma once

#include <chrono>
#include <functional>
#include <memory>

struct event_base;
struct event;

namespace titan::event {

class Timer;

class Loop {
public:
    Loop();  // enables libevent's pthread support before creating the base
    ~Loop();
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    event_base* base() const noexcept { return base_; }

    // Install SIGTERM/SIGINT (stop) and SIGHUP (reload) handlers; SIGPIPE is ignored.
    void onStopSignal(std::function<void()> cb);
    void onReloadSignal(std::function<void()> cb);

    // Runs until stop() or until no events are left.
    int run();
    void stop();

    // A repeating timer; the returned object cancels it when destroyed.
    std::unique_ptr<Timer> every(std::chrono::milliseconds interval, std::function<void()> cb);
    // A one-shot timer; the returned object cancels it when destroyed.
    std::unique_ptr<Timer> after(std::chrono::milliseconds delay, std::function<void()> cb);

private:
    event_base* base_ = nullptr;
    struct event* sigterm_ = nullptr;
    struct event* sigint_ = nullptr;
    struct event* sighup_ = nullptr;
    std::function<void()> on_stop_;
    std::function<void()> on_reload_;
    static void onSignal(int fd, short what, void* arg) noexcept;
};

class Timer {
public:
    Timer(event_base* base, std::chrono::milliseconds interval, bool repeat, std::function<void()> cb);
    ~Timer();
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

private:
    struct event* ev_ = nullptr;
    std::function<void()> cb_;
    static void onFire(int fd, short what, void* arg) noexcept;
};

// Wall-clock seconds as a double (for logs and cache ages), and a monotonic clock.
using Clock = std::chrono::steady_clock;

}  // namespace titan::event
