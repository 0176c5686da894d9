// What keeps authd nodes in step through MariaDB: it follows the auth_changes log
// (filled by triggers, so direct SQL edits count too) and drops changed users from
// the cache, and it merges the shared failure counters into the local throttle.
// Both poll on timers; a database outage only delays them. Loop thread only.
// Layer: authd service.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "authd/core/throttle.h"
#include "authd/service/user_lookup.h"
#include "authd/store/security_store.h"
#include "common/event/loop.h"

namespace titan::authd {

struct ClusterSyncOptions {
    std::chrono::milliseconds change_poll{500};
    std::chrono::milliseconds failure_poll{1000};
    std::chrono::milliseconds change_retention{3600000};
};

class ClusterSync {
public:
    ClusterSync(event::Loop& loop, store::SecurityStore& store, UserLookup& lookup, core::Throttle& throttle,
                ClusterSyncOptions options, metrics::Registry& metrics);
    ~ClusterSync();

    // Also told of every change applied: a canonical user, or "@domain" (other caches
    // keyed by users, e.g. the socketmap maps, drop their entries too). Loop thread.
    using ChangeListener = std::function<void(const std::string& user_or_domain)>;
    void addChangeListener(ChangeListener listener) { listeners_.push_back(std::move(listener)); }

private:
    void pollChanges();
    void pollFailures();

    event::Loop& loop_;
    store::SecurityStore& store_;
    UserLookup& lookup_;
    core::Throttle& throttle_;
    ClusterSyncOptions options_;
    bool started_ = false;          // the starting point in the change log is known
    unsigned long long last_id_ = 0;
    std::set<unsigned long long> seen_;  // ids near last_id_ already applied
    bool changes_busy_ = false;
    bool failures_busy_ = false;
    unsigned polls_ = 0;
    std::unique_ptr<event::Timer> change_timer_;
    std::unique_ptr<event::Timer> failure_timer_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    std::vector<ChangeListener> listeners_;
    metrics::Counter& invalidations_;
    metrics::Counter& poll_errors_;
};

}  // namespace titan::authd
