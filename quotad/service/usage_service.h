// Usage reads and dict commits from every connection, grouped into few database round
// trips: lookups arriving while a read is in flight share the next SELECT; commits arriving
// while a write transaction is in flight share the next one (application-level group
// commit: each caller still gets its answer only after its own data is durable). Commits
// of one user are applied in arrival order and never in two concurrent batches, so an
// increment can never be overtaken by an earlier recount. Warning crossings and clamps
// reported by the store are logged, counted and handed to the warning runner.
// A failed lookup or commit, or a commit whose outcome is unknown, may leave the stored
// usage wrong (Dovecot delivers without a quota update when its lookup fails, and drops a
// failed update), so the user is marked unknown as soon as the database answers again:
// the next Dovecot access on any node recounts.
// Loop thread only. Layer: quotad/service.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <set>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "common/event/loop.h"
#include "common/metrics/metrics.h"
#include "quotad/store/store.h"

namespace titan::quotad {

struct BatchSettings {
    std::size_t max_batch = 128;        // commits (or users read) per database transaction
    std::size_t max_write_inflight = 2; // write transactions in flight at once
    std::size_t max_read_inflight = 2;  // read queries in flight at once
    std::size_t max_queued = 100000;    // waiting lookups + commits; beyond: fail at once
    std::chrono::milliseconds recount_retry{2000};  // retry marking users for recount
    std::size_t max_recount_pending = 100000;       // users remembered for recount
};

// The answer to one dict commit.
struct CommitReply {
    enum class Kind { Ok, NotFound, Failed, Uncertain };
    Kind kind = Kind::Ok;
    std::string message;  // Failed / Uncertain
};

class UsageService {
public:
    using LookupDone = std::function<void(Result<std::optional<core::Row>>)>;
    using CommitDone = std::function<void(const CommitReply&)>;
    using WarningSink = std::function<void(const core::WarningEvent&)>;

    UsageService(event::Loop& loop, store::Store& store, BatchSettings settings, metrics::Registry& registry);
    UsageService(const UsageService&) = delete;
    UsageService& operator=(const UsageService&) = delete;

    // The stored row of `user` (canonical), nullopt when it has none. `done` runs later on
    // the loop thread, never inside the call; Unavailable when the database failed.
    void lookup(const std::string& user, LookupDone done);

    // Applies one committed dict transaction; `done` runs (later, on the loop thread) once
    // it is durable (Ok / NotFound), failed (nothing written), or uncertain (the database
    // connection broke during COMMIT).
    void commit(core::CommitRequest request, CommitDone done);

    // Reloadable settings. New rules apply to batches formed afterwards.
    void setRules(std::shared_ptr<const core::WarningRules> rules) { rules_ = std::move(rules); }
    void setSettings(const BatchSettings& s) { settings_ = s; }
    // Where warning crossings go (after they are logged).
    void onWarning(WarningSink sink) { warning_sink_ = std::move(sink); }

    std::size_t queuedCommits() const noexcept { return commits_.size(); }
    std::size_t queuedLookups() const noexcept { return lookups_.size(); }
    std::size_t inflightWrites() const noexcept { return write_inflight_; }
    // Users whose usage still has to be marked unknown (the database was unreachable).
    std::size_t pendingRecounts() const noexcept { return recount_.size() + recount_inflight_.size(); }

private:
    struct PendingCommit {
        core::CommitRequest request;
        CommitDone done;
    };
    struct PendingLookup {
        std::string user;
        LookupDone done;
    };
    void pumpWrites();
    void pumpReads();
    void finishWrites(std::vector<PendingCommit> batch, std::variant<core::BatchResult, store::CommitFailure> outcome);

    void later(std::function<void()> fn, std::chrono::milliseconds delay = std::chrono::milliseconds(0));
    void needRecount(const std::string& user);
    void flushRecounts();

    event::Loop& loop_;
    store::Store& store_;
    BatchSettings settings_;
    std::shared_ptr<const core::WarningRules> rules_;
    WarningSink warning_sink_;
    std::deque<PendingCommit> commits_;
    std::deque<PendingLookup> lookups_;
    std::map<std::string, std::size_t> busy_users_;  // users with a commit in flight
    std::size_t write_inflight_ = 0;
    std::size_t read_inflight_ = 0;
    std::set<std::string> recount_;           // waiting to be marked unknown
    std::set<std::string> recount_inflight_;  // being marked right now
    bool recount_scheduled_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

    metrics::Counter& commits_total_;
    metrics::Counter& commit_notfound_;
    metrics::Counter& commit_failed_;
    metrics::Counter& commit_uncertain_;
    metrics::Counter& commit_rejected_;
    metrics::Counter& lookups_total_;
    metrics::Counter& lookup_failed_;
    metrics::Counter& clamped_;
    metrics::Counter& warnings_;
    metrics::Counter& recounts_marked_;
    metrics::Counter& recounts_dropped_;
    metrics::Histogram& write_batch_size_;
    metrics::Histogram& read_batch_size_;
    metrics::Histogram& write_seconds_;
    metrics::Histogram& read_seconds_;

public:
    ~UsageService() { *alive_ = false; }
};

}  // namespace titan::quotad
