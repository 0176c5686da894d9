#include "authd/service/cluster_sync.h"

#include "common/log/log.h"

namespace titan::authd {
namespace {
// Auto-increment ids can commit out of order under concurrent writers: re-read a
// window behind the highest id seen and skip ids already applied.
constexpr unsigned long long kReread = 1000;
constexpr size_t kBatch = 5000;
}  // namespace

ClusterSync::ClusterSync(event::Loop& loop, store::SecurityStore& store, UserLookup& lookup, core::Throttle& throttle,
                         ClusterSyncOptions options, metrics::Registry& metrics)
    : loop_(loop),
      store_(store),
      lookup_(lookup),
      throttle_(throttle),
      options_(options),
      invalidations_(metrics.counter("authd_cache_invalidations_total",
                                     "Cache entries dropped because the change log named them")),
      poll_errors_(metrics.counter("authd_cluster_poll_errors_total",
                                   "Change-log or shared-counter polls that failed")) {
    change_timer_ = loop_.every(options_.change_poll, [this] { pollChanges(); });
    failure_timer_ = loop_.every(options_.failure_poll, [this] { pollFailures(); });
    pollChanges();
}

ClusterSync::~ClusterSync() { *alive_ = false; }

void ClusterSync::pollChanges() {
    if (changes_busy_) return;
    changes_busy_ = true;
    std::weak_ptr<bool> alive = alive_;
    if (!started_) {
        store_.fetchLastChangeId([this, alive](Result<unsigned long long> r) {
            if (alive.expired() || !*alive.lock()) return;
            changes_busy_ = false;
            if (!r) {
                poll_errors_.inc();
                return;
            }
            last_id_ = *r;
            started_ = true;
            // Anything cached before we knew where the log stood may be stale.
            lookup_.flush();
        });
        return;
    }
    unsigned long long from = last_id_ > kReread ? last_id_ - kReread : 0;
    store_.fetchChanges(from, kBatch, [this, alive](Result<std::vector<store::Change>> r) {
        if (alive.expired() || !*alive.lock()) return;
        changes_busy_ = false;
        if (!r) {
            poll_errors_.inc();
            return;
        }
        bool flush_all = false;
        for (const auto& c : *r) {
            if (!seen_.insert(c.id).second) continue;
            if (c.id > last_id_) last_id_ = c.id;
            invalidations_.inc();
            for (const auto& listener : listeners_) listener(c.user);
            if (!c.user.empty() && c.user.front() == '@') {
                flush_all = true;  // a domain changed: its users are not indexed, drop all
            } else {
                lookup_.invalidate(c.user);
            }
        }
        if (flush_all) lookup_.flush();
        while (!seen_.empty() && *seen_.begin() + kReread < last_id_) seen_.erase(seen_.begin());
        if (++polls_ % 7200 == 0) store_.pruneChanges(options_.change_retention);
    });
}

void ClusterSync::pollFailures() {
    if (failures_busy_) return;
    failures_busy_ = true;
    const auto& o = throttle_.options();
    unsigned min = std::min(o.max_ip_failures == 0 ? o.max_user_failures : o.max_ip_failures,
                            o.max_user_failures == 0 ? o.max_ip_failures : o.max_user_failures);
    if (min == 0) {
        failures_busy_ = false;
        return;
    }
    std::weak_ptr<bool> alive = alive_;
    store_.fetchFailures(min, o.block_time, [this, alive](Result<std::vector<store::SharedFailure>> r) {
        if (alive.expired() || !*alive.lock()) return;
        failures_busy_ = false;
        if (!r) {
            poll_errors_.inc();
            return;
        }
        auto now = std::chrono::steady_clock::now();
        for (const auto& f : *r) {
            throttle_.merge(f.scope, f.subject, f.failures, std::chrono::milliseconds(f.age_ms), now);
        }
        throttle_.prune(now);
    });
}

}  // namespace titan::authd
