// Quota warnings: when a commit makes a mailbox reach a configured threshold (decided once,
// inside the database transaction, so exactly one node sees each crossing), log an event
// and run the threshold's command with posix_spawn: an argv vector, no shell, a clean
// environment, stdin/stdout/stderr on /dev/null, every other descriptor closed. Children
// are reaped by polling and killed after a timeout; at most max_running run at once.
// Loop thread only. Layer: quotad/service.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "common/event/loop.h"
#include "common/metrics/metrics.h"
#include "quotad/core/usage.h"

namespace titan::quotad {

struct WarningRule {
    core::Threshold threshold;
    // argv; argv[0] an absolute path. In every element: %u user, %r resource
    // (storage/messages), %p threshold percent, %v usage, %l limit, %% a '%'.
    std::vector<std::string> command;
};

struct WarningSettings {
    std::vector<WarningRule> rules;
    std::chrono::milliseconds timeout{30000};  // a command still running is killed (SIGKILL)
    std::size_t max_running = 16;              // more crossings at once: logged, not run
    std::shared_ptr<const core::WarningRules> coreRules() const;
};

// Expands the %-placeholders of one argv element (unknown %x stays as is).
std::string expandWarningArg(std::string_view arg, const core::WarningEvent& event, std::uint32_t percent);

class WarningRunner {
public:
    WarningRunner(event::Loop& loop, metrics::Registry& registry);
    ~WarningRunner();
    WarningRunner(const WarningRunner&) = delete;
    WarningRunner& operator=(const WarningRunner&) = delete;

    void setSettings(std::shared_ptr<const WarningSettings> settings) { settings_ = std::move(settings); }

    // Logs the crossing and starts its command (if the rule has one).
    void fire(const core::WarningEvent& event);

    std::size_t running() const noexcept { return children_.size(); }

private:
    struct Child {
        pid_t pid;
        std::string user;
        std::chrono::steady_clock::time_point deadline;
        bool killed = false;
    };
    void reap();
    void scheduleReap();

    event::Loop& loop_;
    std::shared_ptr<const WarningSettings> settings_ = std::make_shared<WarningSettings>();
    std::vector<Child> children_;
    bool reap_scheduled_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    metrics::Counter& started_;
    metrics::Counter& succeeded_;
    metrics::Counter& failed_;
    metrics::Counter& skipped_;
};

}  // namespace titan::quotad
