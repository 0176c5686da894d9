#include "quotad/service/usage_service.h"

#include <event2/event.h>

#include <chrono>
#include <set>

#include "common/log/log.h"

namespace titan::quotad {
namespace {

std::vector<double> batchBuckets() { return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512}; }

double secondsSince(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

UsageService::UsageService(event::Loop& loop, store::Store& store, BatchSettings settings, metrics::Registry& r)
    : loop_(loop),
      store_(store),
      settings_(settings),
      commits_total_(r.counter("quotad_commits_total", "Dict commits answered, by result", "result=\"ok\"")),
      commit_notfound_(r.counter("quotad_commits_total", "Dict commits answered, by result", "result=\"notfound\"")),
      commit_failed_(r.counter("quotad_commits_total", "Dict commits answered, by result", "result=\"failed\"")),
      commit_uncertain_(r.counter("quotad_commits_total", "Dict commits answered, by result", "result=\"uncertain\"")),
      commit_rejected_(r.counter("quotad_commits_total", "Dict commits answered, by result", "result=\"overload\"")),
      lookups_total_(r.counter("quotad_usage_reads_total", "Usage reads, by result", "result=\"ok\"")),
      lookup_failed_(r.counter("quotad_usage_reads_total", "Usage reads, by result", "result=\"failed\"")),
      clamped_(r.counter("quotad_clamped_total", "Usage values that would have gone below 0 and were stored as 0")),
      warnings_(r.counter("quotad_warning_crossings_total", "Warning thresholds reached by a commit")),
      recounts_marked_(r.counter("quotad_recounts_requested_total",
                                 "Users marked for a Dovecot recount after a failed or uncertain commit")),
      recounts_dropped_(r.counter("quotad_recounts_dropped_total",
                                  "Users not remembered for recount because too many were pending")),
      write_batch_size_(r.histogram("quotad_write_batch_commits", "Dict commits per database transaction", "",
                                    batchBuckets())),
      read_batch_size_(r.histogram("quotad_read_batch_users", "Users per usage read query", "", batchBuckets())),
      write_seconds_(r.histogram("quotad_write_batch_duration_seconds", "Time of one write transaction")),
      read_seconds_(r.histogram("quotad_read_batch_duration_seconds", "Time of one usage read query")) {}

void UsageService::later(std::function<void()> fn, std::chrono::milliseconds delay) {
    auto* heap = new std::function<void()>(std::move(fn));
    timeval now{static_cast<time_t>(delay.count() / 1000), static_cast<suseconds_t>((delay.count() % 1000) * 1000)};
    std::weak_ptr<bool> alive = alive_;
    auto* ctx = new std::pair<std::function<void()>*, std::weak_ptr<bool>>(heap, alive);
    event_base_once(
        loop_.base(), -1, EV_TIMEOUT,
        [](evutil_socket_t, short, void* arg) {
            std::unique_ptr<std::pair<std::function<void()>*, std::weak_ptr<bool>>> c(
                static_cast<std::pair<std::function<void()>*, std::weak_ptr<bool>>*>(arg));
            std::unique_ptr<std::function<void()>> f(c->first);
            if (!c->second.expired()) (*f)();
        },
        ctx, &now);
}

void UsageService::lookup(const std::string& user, LookupDone done) {
    if (commits_.size() + lookups_.size() >= settings_.max_queued) {
        lookup_failed_.inc();
        later([done = std::move(done)] { done(Error::unavailable("quotad overloaded: too many queued requests")); });
        return;
    }
    lookups_.push_back({user, std::move(done)});
    pumpReads();
}

void UsageService::pumpReads() {
    while (!lookups_.empty() && read_inflight_ < std::max<std::size_t>(settings_.max_read_inflight, 1)) {
        std::vector<PendingLookup> batch;
        std::set<std::string> users;
        while (!lookups_.empty() && (users.size() < settings_.max_batch || users.count(lookups_.front().user) != 0)) {
            users.insert(lookups_.front().user);
            batch.push_back(std::move(lookups_.front()));
            lookups_.pop_front();
        }
        ++read_inflight_;
        read_batch_size_.observe(static_cast<double>(users.size()));
        auto started = std::chrono::steady_clock::now();
        std::weak_ptr<bool> alive = alive_;
        store_.fetchRows(std::vector<std::string>(users.begin(), users.end()),
                         [this, alive, started, batch = std::move(batch)](Result<std::map<std::string, core::Row>> rows) {
                             if (alive.expired()) return;
                             --read_inflight_;
                             read_seconds_.observe(secondsSince(started));
                             for (const auto& p : batch) {
                                 if (!rows) {
                                     lookup_failed_.inc();
                                     // Dovecot saves mail without a quota update when its
                                     // lookup fails ("copying mail anyway").
                                     needRecount(p.user);
                                     p.done(rows.error());
                                     continue;
                                 }
                                 lookups_total_.inc();
                                 auto it = rows->find(p.user);
                                 p.done(it == rows->end() ? std::optional<core::Row>() : std::optional<core::Row>(it->second));
                             }
                             pumpReads();
                         });
    }
}

void UsageService::commit(core::CommitRequest request, CommitDone done) {
    if (commits_.size() + lookups_.size() >= settings_.max_queued) {
        commit_rejected_.inc();
        // Nothing was written: a plain failure, answered after this call returns.
        later([done = std::move(done)] {
            done({CommitReply::Kind::Failed, "quotad overloaded: too many queued requests"});
        });
        return;
    }
    commits_.push_back({std::move(request), std::move(done)});
    pumpWrites();
}

void UsageService::pumpWrites() {
    while (!commits_.empty() && write_inflight_ < std::max<std::size_t>(settings_.max_write_inflight, 1)) {
        // Take commits in arrival order, skipping users that have a commit in flight (and
        // every later commit of a skipped user, so one user's commits never reorder).
        std::vector<PendingCommit> batch;
        std::set<std::string> skipped;
        for (auto it = commits_.begin(); it != commits_.end() && batch.size() < settings_.max_batch;) {
            const std::string& user = it->request.user;
            if (busy_users_.count(user) != 0 || skipped.count(user) != 0) {
                skipped.insert(user);
                ++it;
                continue;
            }
            batch.push_back(std::move(*it));
            it = commits_.erase(it);
        }
        if (batch.empty()) return;
        std::vector<core::CommitRequest> requests;
        requests.reserve(batch.size());
        for (auto& p : batch) {
            ++busy_users_[p.request.user];
            requests.push_back({p.request.user, std::move(p.request.ops)});  // the ops go to the store
        }
        ++write_inflight_;
        write_batch_size_.observe(static_cast<double>(batch.size()));
        auto started = std::chrono::steady_clock::now();
        std::weak_ptr<bool> alive = alive_;
        store_.applyCommits(std::move(requests), rules_,
                            [this, alive, started, batch = std::move(batch)](
                                std::variant<core::BatchResult, store::CommitFailure> outcome) mutable {
                                if (alive.expired()) return;
                                write_seconds_.observe(secondsSince(started));
                                finishWrites(std::move(batch), std::move(outcome));
                            });
    }
}

void UsageService::finishWrites(std::vector<PendingCommit> batch,
                                std::variant<core::BatchResult, store::CommitFailure> outcome) {
    --write_inflight_;
    for (const auto& p : batch) {
        auto it = busy_users_.find(p.request.user);
        if (it != busy_users_.end() && --it->second == 0) busy_users_.erase(it);
    }
    if (auto* failure = std::get_if<store::CommitFailure>(&outcome)) {
        log::warning(failure->uncertain ? "usage transaction outcome unknown" : "usage transaction failed",
                     {{"commits", static_cast<unsigned long long>(batch.size())}, {"error", failure->error.message}});
        CommitReply reply{failure->uncertain ? CommitReply::Kind::Uncertain : CommitReply::Kind::Failed,
                          failure->uncertain ? "quota database: commit outcome unknown"
                                             : "quota database temporarily unavailable"};
        for (const auto& p : batch) {
            (failure->uncertain ? commit_uncertain_ : commit_failed_).inc();
            needRecount(p.request.user);
            p.done(reply);
        }
    } else {
        auto& result = std::get<core::BatchResult>(outcome);
        for (const auto& c : result.clamps) {
            clamped_.inc();
            log::warning("usage below zero clamped to 0",
                         {{"user", c.user}, {"resource", core::resourceName(c.resource)}, {"attempted", static_cast<long long>(c.attempted)}});
        }
        for (const auto& w : result.warnings) {
            warnings_.inc();
            if (warning_sink_) warning_sink_(w);
        }
        for (std::size_t i = 0; i < batch.size(); ++i) {
            const bool found = i < result.statuses.size() && result.statuses[i] == core::CommitStatus::Ok;
            (found ? commits_total_ : commit_notfound_).inc();
            batch[i].done({found ? CommitReply::Kind::Ok : CommitReply::Kind::NotFound, {}});
        }
    }
    pumpWrites();
}

void UsageService::needRecount(const std::string& user) {
    if (recount_.count(user) == 0 && pendingRecounts() >= settings_.max_recount_pending) {
        recounts_dropped_.inc();
        log::error("too many users waiting for a recount, forgetting one: run titanctl quota recalc for it",
                   {{"user", user}});
        return;
    }
    recount_.insert(user);
    if (!recount_scheduled_) {
        recount_scheduled_ = true;
        // The database just failed: give it a moment before asking again.
        later([this] { flushRecounts(); }, settings_.recount_retry);
    }
}

void UsageService::flushRecounts() {
    recount_scheduled_ = false;
    if (recount_.empty() || !recount_inflight_.empty()) return;
    std::vector<std::string> users;
    for (auto it = recount_.begin(); it != recount_.end() && users.size() < settings_.max_batch * 8;) {
        users.push_back(*it);
        recount_inflight_.insert(*it);
        it = recount_.erase(it);
    }
    std::weak_ptr<bool> alive = alive_;
    store_.markUnknown(users, [this, alive, users](Status st) {
        if (alive.expired()) return;
        recount_inflight_.clear();
        if (!st) {
            // Still unreachable: keep them and try again later.
            recount_.insert(users.begin(), users.end());
        } else {
            recounts_marked_.inc(users.size());
            log::warning("usage marked unknown after failed commits: Dovecot recounts at the next access",
                         {{"users", static_cast<unsigned long long>(users.size())}, {"first", users.front()}});
        }
        if (!recount_.empty() && !recount_scheduled_) {
            recount_scheduled_ = true;
            later([this] { flushRecounts(); }, st ? std::chrono::milliseconds(0) : settings_.recount_retry);
        }
    });
}

}  // namespace titan::quotad
