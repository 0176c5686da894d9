// titan-replicator's service: joins the notifications, the durable queue, the sites
// and placements from the database, the per-peer health and the doveadm runs.
// Decisions live in queue/ and core/; this class only moves facts between them,
// journals, logs and counts. Loop thread only. Layer: replicator/service.
//
// A change is accepted once its journal record is written and synced (group commit
// at the end of the loop turn that received it; admin commands sync before they
// answer). Sync requests (the Dovecot plugin's `user<TAB>sync`) are answered "+"
// once every usable peer of the user has completed a sync started after the request,
// and "-" at once when the user has no usable peer (all down or paused), when a sync
// fails, or after sync_wait.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/base/result.h"
#include "common/event/loop.h"
#include "common/identity/identity.h"
#include "common/metrics/metrics.h"
#include "replicator/core/dsync.h"
#include "replicator/core/peer_health.h"
#include "replicator/queue/journal_format.h"
#include "replicator/queue/queue.h"
#include "replicator/runner/process.h"
#include "replicator/store/journal.h"
#include "replicator/store/store.h"

namespace titan::replicator {

struct ServiceSettings {
    std::string site;  // this replicator's site (sites.name)
    identity::Options identity;
    core::DoveadmSettings doveadm;
    std::chrono::milliseconds sync_timeout{120000};  // one doveadm run, then SIGTERM/SIGKILL
    std::string state_dir;                           // generated per-site doveadm client configs
    std::size_t max_running = 10;
    std::size_t max_running_per_peer = 10;  // lower it when many peers must share max_running
    std::size_t max_running_full = 2;
    std::size_t max_resolving = 8;  // placement lookups in flight
    core::BreakerSettings breaker;
    std::chrono::milliseconds retry_initial{5000};
    std::chrono::milliseconds retry_max{300000};
    double retry_jitter = 0.2;
    unsigned max_run_again = 3;  // consecutive exit-2 rounds before it counts as a failure
    std::chrono::milliseconds sync_wait{1500};
    std::size_t max_waiters = 10000;
    std::size_t max_waiters_per_user = 16;
    std::chrono::milliseconds placement_ttl{60000};
    std::chrono::milliseconds placement_stale{3600000};  // serve an expired placement while the DB fails
    std::size_t placement_cache_entries = 100000;
    std::chrono::milliseconds resolve_retry{2000};
    std::chrono::milliseconds sites_refresh{30000};
    std::chrono::milliseconds full_sync_interval{std::chrono::hours(24)};  // 0: no periodic full sync
    std::size_t full_sync_batch = 100;
    queue::Limits queue;
};

class Replicator {
public:
    enum class Source { Fifo, Socket, Events, Admin };

    // `replay` is the journal's content at start: its users are queued again, its
    // paused peers stay paused. Nothing runs before start().
    Replicator(event::Loop& loop, store::Store& store, store::Journal& journal, runner::ProcessRunner& runner,
               metrics::Registry& registry, ServiceSettings settings, const queue::Replay& replay);
    ~Replicator();
    Replicator(const Replicator&) = delete;
    Replicator& operator=(const Replicator&) = delete;

    // Loads the sites, starts the timers and the queue.
    void start();
    // Settings that apply without a restart (everything but site and state_dir).
    void reconfigure(const ServiceSettings& settings);
    // Stops starting syncs; `done` runs when the running ones finished or at `deadline`
    // (the rest are killed by the runner's destructor; their users stay journaled).
    void shutdown(std::chrono::milliseconds deadline, std::function<void()> done);

    // A low/high change notification. Invalid user names are logged and counted.
    void notify(std::string_view raw_user, queue::Priority priority, Source source);
    // A sync request; `reply(true)` = "+", `reply(false)` = "-". reply may run inside
    // this call (immediate "-") or later on the loop thread, exactly once.
    void syncRequest(std::string_view raw_user, std::function<void(bool)> reply);

    // Admin commands. Errors: InvalidInput (bad user, peer or priority), Unavailable
    // (the journal could not be written).
    Result<std::string> replicate(std::string_view raw_user, queue::Priority priority, bool full);
    Result<std::string> setPaused(const std::string& peer, bool paused);
    std::string status();
    Result<std::string> statusUser(std::string_view raw_user);
    // Reload the sites table now.
    void refreshSites();

    // Writes and syncs the buffered journal records now (also done after every loop
    // turn that buffered some). Errors are logged and counted.
    bool commit();

private:
    using Time = queue::Time;
    struct SiteEntry {
        core::Site site;
        std::string config;  // -c for doveadm (generated file or the local config)
    };
    struct Cached {
        store::Placement placement;
        Time fetched{};
    };
    struct Waiter {
        std::uint64_t id = 0;
        std::uint64_t after_seq = 0;  // only syncs started later count
        std::chrono::steady_clock::time_point deadline;
        std::function<void(bool)> reply;
        bool evaluated = false;
        std::set<std::string> needed;
    };
    struct PeerRuntime {
        core::PeerHealth health;
        std::size_t running = 0;
        bool paused = false;
        std::uint64_t syncs_ok = 0;
        std::uint64_t syncs_failed = 0;
        std::string last_error;
    };
    struct RunningJob {
        queue::Job job;
        std::uint64_t seq = 0;
        std::string config;
        core::Site site;
        int step = 0;  // 0 sync, 1 GUID status, 2 GUID update
        std::string guid;
        bool local_wins = true;
        std::string home_site;
    };

    Time now() const;
    void pump();
    void armCommit();
    void journalUser(const std::string& user);
    void journalClean(const std::string& user);
    void maybeCompact();
    bool canRun(const std::string& peer, queue::Priority priority, Time now);
    bool peerUsable(const std::string& peer, Time now) const;
    PeerRuntime& peer(const std::string& name);
    Result<std::string> canonical(std::string_view raw) const;
    bool accept(const std::string& user, queue::Priority priority, bool full, Source source);

    void resolve(const std::string& user);
    void applyPlacement(const std::string& user, const store::Placement& placement);
    void dropUser(const std::string& user, const char* reason);

    void startJob(queue::Job job);
    void runStep(std::shared_ptr<RunningJob> rj);
    void onStepDone(std::shared_ptr<RunningJob> rj, runner::ProcessResult result);
    void endJob(const RunningJob& rj, queue::Outcome outcome, const std::string& error,
                const std::optional<std::string>& state);
    void releaseJob(const RunningJob& rj);
    void afterJob();

    void evaluateWaiters(const std::string& user, const std::vector<std::string>* peers);
    void waitersJobDone(const std::string& user, const std::string& peer, std::uint64_t seq, bool ok);
    void failWaiters(const std::string& user);
    void failWaitersOfPeer(const std::string& peer);
    void expireWaiters();
    void replyWaiter(const std::string& user, std::uint64_t id, bool ok);
    void noteRefused(const std::string& user);

    void onSites(std::vector<store::SiteRow> rows);
    std::string writeSiteConfig(const core::Site& site, const std::string& password);

    void sweepTick();
    void tick();

    event::Loop& loop_;
    store::Store& store_;
    store::Journal& journal_;
    runner::ProcessRunner& runner_;
    metrics::Registry& registry_;
    ServiceSettings settings_;
    queue::Queue queue_;

    std::map<std::string, SiteEntry> sites_;
    bool sites_loaded_ = false;
    bool sites_loading_ = false;
    std::map<std::string, PeerRuntime> peers_;
    std::set<std::string> warned_unknown_sites_;
    std::unordered_map<std::string, Cached> placements_;
    std::size_t resolving_ = 0;
    std::size_t running_ = 0;
    std::size_t running_full_ = 0;
    std::uint64_t job_seq_ = 0;
    std::map<std::uint64_t, std::shared_ptr<RunningJob>> jobs_;

    std::unordered_map<std::string, std::vector<Waiter>> waiters_;
    // Users whose sync request was answered "-" lately: the plugin's fifo fallback
    // ("high") that follows is already covered by the queue.
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> refused_syncs_;
    std::size_t waiter_count_ = 0;
    std::uint64_t waiter_id_ = 0;

    struct Sweep {
        std::string cursor;
        Time pass_started{};
        bool active = false;
        bool fetching = false;
    } sweep_;

    bool stopping_ = false;
    std::function<void()> stopped_;
    std::unique_ptr<event::Timer> tick_timer_;
    std::unique_ptr<event::Timer> sites_timer_;
    std::unique_ptr<event::Timer> sweep_timer_;
    std::unique_ptr<event::Timer> stop_timer_;
    struct event* commit_ev_ = nullptr;
    std::mt19937_64 rng_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

    // metrics
    metrics::Counter* journal_errors_;
    metrics::Counter* rejected_full_;
    metrics::Counter* invalid_users_;
    metrics::Counter* dropped_users_;
    metrics::Counter* resolve_errors_;
    metrics::Counter* store_errors_;
    metrics::Counter* guid_repairs_;
    metrics::Counter* coalesced_;
    metrics::Histogram* journal_sync_seconds_;
    metrics::Histogram* sync_request_seconds_;
    std::map<std::string, metrics::Counter*> counters_;  // lazily registered labelled counters
    metrics::Counter& counter(const std::string& name, const std::string& help, const std::string& labels);
    void registerPeerMetrics(const std::string& peer);
    std::set<std::string> peer_metrics_;
};

}  // namespace titan::replicator
