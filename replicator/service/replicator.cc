#include "replicator/service/replicator.h"

#include <event2/event.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <fstream>
#include <sstream>

#include "common/base/strings.h"
#include "common/log/log.h"

namespace titan::replicator {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr queue::Priority kPriorities[] = {queue::Priority::Sync, queue::Priority::High, queue::Priority::Low,
                                           queue::Priority::Full};

const char* sourceName(Replicator::Source s) {
    switch (s) {
        case Replicator::Source::Fifo: return "fifo";
        case Replicator::Source::Socket: return "socket";
        case Replicator::Source::Events: return "events";
        case Replicator::Source::Admin: return "admin";
    }
    return "fifo";
}

std::string seconds(milliseconds d) {
    std::ostringstream o;
    o.setf(std::ios::fixed);
    o.precision(3);
    o << static_cast<double>(d.count()) / 1000.0 << "s";
    return o.str();
}

std::string quoteConfigValue(const std::string& v) {
    std::string out = "\"";
    for (char c : v) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

void onCommitEvent(int /*fd*/, short /*what*/, void* arg) noexcept {
    try {
        static_cast<Replicator*>(arg)->commit();
    } catch (const std::exception& e) {
        log::error("journal commit failed", {{"error", e.what()}});
    }
}

// At most one line per key every 10 s: a failing peer or database must not flood the log.
bool rateLimited(const std::string& key) {
    static std::map<std::string, Clock::time_point> last;
    auto now = Clock::now();
    auto it = last.find(key);
    if (it != last.end() && now - it->second < std::chrono::seconds(10)) return true;
    if (last.size() > 10000) last.clear();
    last[key] = now;
    return false;
}

}  // namespace

Replicator::Replicator(event::Loop& loop, store::Store& store, store::Journal& journal,
                       runner::ProcessRunner& runner, metrics::Registry& registry, ServiceSettings settings,
                       const queue::Replay& replay)
    : loop_(loop),
      store_(store),
      journal_(journal),
      runner_(runner),
      registry_(registry),
      settings_(std::move(settings)),
      queue_(settings_.queue),
      rng_(std::random_device{}()) {
    commit_ev_ = event_new(loop_.base(), -1, 0, &onCommitEvent, this);
    std::size_t restored = 0;
    for (const auto& [user, state] : replay.dirty) {
        if (queue_.restore(state)) ++restored;
    }
    for (const auto& [name, paused] : replay.paused) {
        if (paused) peer(name).paused = true;
    }
    if (replay.sweep) {
        sweep_.cursor = replay.sweep->cursor;
        sweep_.pass_started = replay.sweep->pass_started;
        sweep_.active = !sweep_.cursor.empty();
    } else {
        // A new installation starts its first full pass one interval from now.
        sweep_.pass_started = now();
        journal_.append(queue::SweepRecord{"", sweep_.pass_started});
        armCommit();
    }
    if (restored > 0 || replay.bad_lines > 0 || replay.torn_tail) {
        log::info("replication queue restored from the journal",
                  {{"users", static_cast<unsigned long long>(restored)},
                   {"bad_lines", static_cast<unsigned long long>(replay.bad_lines)},
                   {"torn_tail", replay.torn_tail},
                   {"journal", journal_.path()}});
    }

    journal_errors_ = &registry_.counter("replicator_journal_errors_total", "Journal writes or syncs that failed");
    rejected_full_ = &registry_.counter("replicator_queue_rejected_total",
                                        "Changes refused because the queue held queue.max_users users");
    invalid_users_ = &registry_.counter("replicator_invalid_users_total", "Notifications with an invalid user name");
    dropped_users_ = &registry_.counter("replicator_users_dropped_total",
                                        "Users removed from the queue because they no longer exist");
    resolve_errors_ = &registry_.counter("replicator_placement_errors_total", "Placement lookups that failed");
    store_errors_ = &registry_.counter("replicator_store_errors_total", "Sync results that could not be recorded");
    coalesced_ = &registry_.counter("replicator_notifications_coalesced_total",
                                    "Fifo fallbacks for sync requests answered \"-\", already queued");
    guid_repairs_ = &registry_.counter("replicator_guid_repairs_total",
                                       "INBOX GUIDs aligned after INBOX was created on both sides");
    journal_sync_seconds_ = &registry_.histogram("replicator_journal_sync_seconds", "Journal write + fdatasync time");
    sync_request_seconds_ = &registry_.histogram("replicator_sync_request_seconds",
                                                 "Time from a sync request to its answer");
    registry_.gaugeFunction("replicator_queue_users", "Users in the replication queue", "",
                            [this] { return static_cast<double>(queue_.users()); });
    registry_.gaugeFunction("replicator_running_syncs", "doveadm runs in progress", "",
                            [this] { return static_cast<double>(running_); });
    registry_.gaugeFunction("replicator_sync_waiters", "Sync requests waiting for their answer", "",
                            [this] { return static_cast<double>(waiter_count_); });
    registry_.gaugeFunction("replicator_journal_bytes", "Size of the queue journal", "",
                            [this] { return static_cast<double>(journal_.bytes()); });
    registry_.gaugeFunction("replicator_oldest_change_age_seconds",
                            "Age of the oldest change not yet replicated anywhere (0 when none)", "", [this] {
                                auto t = queue_.oldestChange();
                                if (!t) return 0.0;
                                return std::max(0.0, static_cast<double>((now() - *t).count()) / 1000.0);
                            });
    for (auto p : kPriorities) {
        registry_.gaugeFunction("replicator_queue_unresolved", "Queued users whose placement is being looked up",
                                std::string("priority=\"") + queue::priorityName(p) + "\"",
                                [this, p] { return static_cast<double>(queue_.unresolvedDepth()[static_cast<std::size_t>(p)]); });
    }
}

Replicator::~Replicator() {
    *alive_ = false;
    if (commit_ev_ != nullptr) event_free(commit_ev_);
    if (journal_.hasBuffered()) (void)journal_.flush(true);
}

Replicator::Time Replicator::now() const {
    return std::chrono::time_point_cast<milliseconds>(std::chrono::system_clock::now());
}

metrics::Counter& Replicator::counter(const std::string& name, const std::string& help, const std::string& labels) {
    std::string key = name + "{" + labels + "}";
    auto it = counters_.find(key);
    if (it != counters_.end()) return *it->second;
    metrics::Counter& c = registry_.counter(name, help, labels);
    counters_[key] = &c;
    return c;
}

void Replicator::registerPeerMetrics(const std::string& name) {
    if (!peer_metrics_.insert(name).second) return;
    std::string labels = "peer=\"" + name + "\"";
    registry_.gaugeFunction("replicator_peer_up",
                            "1 while syncs to the peer may run (breaker closed or due for a probe), else 0", labels,
                            [this, name] {
                                auto it = peers_.find(name);
                                return it != peers_.end() && it->second.health.up(now()) ? 1.0 : 0.0;
                            });
    registry_.gaugeFunction("replicator_peer_paused", "1 while an operator paused the peer", labels, [this, name] {
        auto it = peers_.find(name);
        return it != peers_.end() && it->second.paused ? 1.0 : 0.0;
    });
    registry_.gaugeFunction("replicator_peer_running_syncs", "doveadm syncs to the peer in progress", labels,
                            [this, name] {
                                auto it = peers_.find(name);
                                return it != peers_.end() ? static_cast<double>(it->second.running) : 0.0;
                            });
    registry_.gaugeFunction("replicator_replication_lag_seconds",
                            "Age of the oldest change not yet replicated to the peer (0 when none)", labels,
                            [this, name] {
                                auto d = queue_.depthByPeer();
                                auto it = d.find(name);
                                if (it == d.end() || !it->second.oldest) return 0.0;
                                return std::max(0.0, static_cast<double>((now() - *it->second.oldest).count()) / 1000.0);
                            });
    registry_.gaugeFunction("replicator_queue_delayed", "Tasks waiting for their retry time", labels, [this, name] {
        auto d = queue_.depthByPeer();
        auto it = d.find(name);
        return it == d.end() ? 0.0 : static_cast<double>(it->second.delayed);
    });
    for (auto p : kPriorities) {
        registry_.gaugeFunction("replicator_queue_depth", "Tasks ready to run, by peer and priority",
                                labels + ",priority=\"" + queue::priorityName(p) + "\"", [this, name, p] {
                                    auto d = queue_.depthByPeer();
                                    auto it = d.find(name);
                                    return it == d.end() ? 0.0
                                                         : static_cast<double>(it->second.ready[static_cast<std::size_t>(p)]);
                                });
    }
}

Replicator::PeerRuntime& Replicator::peer(const std::string& name) {
    auto it = peers_.find(name);
    if (it != peers_.end()) return it->second;
    PeerRuntime pr;
    pr.health = core::PeerHealth(settings_.breaker);
    return peers_.emplace(name, std::move(pr)).first->second;
}

// ---- lifecycle ------------------------------------------------------------------------

void Replicator::start() {
    tick_timer_ = loop_.every(milliseconds(100), [this] { tick(); });
    sites_timer_ = loop_.every(settings_.sites_refresh, [this] { refreshSites(); });
    sweep_timer_ = loop_.every(milliseconds(1000), [this] { sweepTick(); });
    refreshSites();
}

void Replicator::reconfigure(const ServiceSettings& next) {
    std::string site = settings_.site;
    std::string state_dir = settings_.state_dir;
    auto refresh = settings_.sites_refresh;
    settings_ = next;
    settings_.site = site;
    settings_.state_dir = state_dir;
    queue_.setLimits(settings_.queue);
    for (auto& [name, pr] : peers_) pr.health.setSettings(settings_.breaker);
    if (refresh != settings_.sites_refresh) {
        sites_timer_ = loop_.every(settings_.sites_refresh, [this] { refreshSites(); });
    }
    refreshSites();
}

void Replicator::shutdown(milliseconds deadline, std::function<void()> done) {
    stopping_ = true;
    std::vector<std::string> users;
    for (const auto& [user, list] : waiters_) users.push_back(user);
    for (const auto& u : users) failWaiters(u);
    commit();
    if (running_ == 0) {
        done();
        return;
    }
    log::info("stopping: waiting for running syncs", {{"running", static_cast<unsigned long long>(running_)}});
    stopped_ = std::move(done);
    stop_timer_ = loop_.after(deadline, [this] {
        log::warning("stopping: syncs still running are killed; their users stay queued",
                     {{"running", static_cast<unsigned long long>(running_)}});
        auto d = std::move(stopped_);
        stopped_ = nullptr;
        if (d) d();
    });
}

void Replicator::noteRefused(const std::string& user) {
    if (refused_syncs_.size() >= 100000) refused_syncs_.clear();
    refused_syncs_[user] = Clock::now();
}

void Replicator::tick() {
    expireWaiters();
    if (!refused_syncs_.empty()) {
        auto limit = Clock::now() - std::chrono::seconds(10);
        for (auto it = refused_syncs_.begin(); it != refused_syncs_.end();) {
            it = it->second < limit ? refused_syncs_.erase(it) : std::next(it);
        }
    }
    if (!sites_loaded_ && !sites_loading_) refreshSites();
    pump();
}

// ---- journal --------------------------------------------------------------------------

void Replicator::armCommit() {
    if (commit_ev_ == nullptr || event_pending(commit_ev_, EV_TIMEOUT, nullptr) != 0) return;
    timeval zero{};
    event_add(commit_ev_, &zero);
}

bool Replicator::commit() {
    if (!journal_.hasBuffered()) return true;
    auto t0 = Clock::now();
    auto st = journal_.flush(true);
    journal_sync_seconds_->observe(std::chrono::duration<double>(Clock::now() - t0).count());
    if (!st) {
        journal_errors_->inc();
        if (!rateLimited("journal")) log::error("journal write failed", {{"error", st.error().message}});
        armCommit();
        return false;
    }
    maybeCompact();
    return true;
}

void Replicator::journalUser(const std::string& user) {
    if (auto d = queue_.dirtyState(user)) {
        journal_.append(queue::DirtyRecord{*d});
        armCommit();
    }
}

void Replicator::journalClean(const std::string& user) {
    journal_.append(queue::CleanRecord{user});
    armCommit();
}

void Replicator::maybeCompact() {
    std::size_t paused = 0;
    for (const auto& [name, pr] : peers_) paused += pr.paused ? 1 : 0;
    if (!journal_.wantsCompaction(queue_.users() + paused + 1)) return;
    std::vector<queue::Record> records;
    records.reserve(queue_.users() + paused + 1);
    queue_.forEachDirty([&](const queue::DirtyState& d) {
        if (d.priority != queue::Priority::Full) records.emplace_back(queue::DirtyRecord{d});
    });
    for (const auto& [name, pr] : peers_) {
        if (pr.paused) records.emplace_back(queue::PauseRecord{name, true});
    }
    records.emplace_back(queue::SweepRecord{sweep_.cursor, sweep_.pass_started});
    auto before = journal_.bytes();
    if (auto st = journal_.compact(records); !st) {
        journal_errors_->inc();
        log::error("journal compaction failed", {{"error", st.error().message}});
        return;
    }
    log::info("journal compacted", {{"bytes_before", static_cast<unsigned long long>(before)},
                                    {"bytes_after", static_cast<unsigned long long>(journal_.bytes())},
                                    {"records", static_cast<unsigned long long>(records.size())}});
}

// ---- notifications --------------------------------------------------------------------

Result<std::string> Replicator::canonical(std::string_view raw) const {
    auto u = identity::canonicalUser(raw, settings_.identity);
    if (!u) return Error::invalidInput("invalid user name: " + u.error().message);
    return std::move(*u);
}

bool Replicator::accept(const std::string& user, queue::Priority priority, bool full, Source source) {
    auto r = queue_.change(user, priority, now(), full);
    if (!r.accepted) {
        rejected_full_->inc();
        if (!rateLimited("queue-full")) {
            log::error("replication queue full: change refused (raise queue.max_users)",
                       {{"user", user}, {"max_users", static_cast<unsigned long long>(settings_.queue.max_users)}});
        }
        return false;
    }
    if (r.journal) journalUser(user);
    counter("replicator_notifications_total", "Changes accepted, by source and priority",
            std::string("source=\"") + sourceName(source) + "\",priority=\"" + queue::priorityName(priority) + "\"")
        .inc();
    return true;
}

void Replicator::notify(std::string_view raw_user, queue::Priority priority, Source source) {
    auto user = canonical(raw_user);
    if (!user) {
        invalid_users_->inc();
        if (!rateLimited("invalid-user")) {
            log::warning("notification with an invalid user name ignored",
                         {{"source", sourceName(source)}, {"error", user.error().message}});
        }
        return;
    }
    log::debug("change notified", {{"user", *user}, {"priority", queue::priorityName(priority)},
                                    {"source", sourceName(source)}});
    if (source == Source::Fifo && priority == queue::Priority::High) {
        // Dovecot's plugin writes "high" to the fifo after a sync request was answered
        // "-" (or timed out). That change is queued already; counting it again would make
        // a running sync run once more and, under load, feed the overload that caused it.
        auto it = refused_syncs_.find(*user);
        if (it != refused_syncs_.end()) {
            bool recent = Clock::now() - it->second < std::chrono::seconds(10);
            refused_syncs_.erase(it);
            if (recent) {
                coalesced_->inc();
                return;
            }
        }
    }
    if (accept(*user, priority, false, source)) pump();
}

void Replicator::syncRequest(std::string_view raw_user, std::function<void(bool)> reply) {
    auto started = Clock::now();
    auto answer = [this, started, reply = std::move(reply)](bool ok, const char* result) {
        sync_request_seconds_->observe(std::chrono::duration<double>(Clock::now() - started).count());
        counter("replicator_sync_requests_total", "Sync requests, by answer", std::string("result=\"") + result + "\"")
            .inc();
        reply(ok);
    };
    auto user = canonical(raw_user);
    if (!user) {
        invalid_users_->inc();
        if (!rateLimited("invalid-user")) {
            log::warning("sync request with an invalid user name", {{"error", user.error().message}});
        }
        answer(false, "invalid");
        return;
    }
    if (stopping_) {
        answer(false, "stopping");
        return;
    }
    if (!accept(*user, queue::Priority::Sync, false, Source::Socket)) {
        answer(false, "rejected");
        return;
    }
    auto& list = waiters_[*user];
    if (waiter_count_ >= settings_.max_waiters || list.size() >= settings_.max_waiters_per_user) {
        if (list.empty()) waiters_.erase(*user);
        noteRefused(*user);
        answer(false, "overflow");
        pump();
        return;
    }
    Waiter w;
    w.id = ++waiter_id_;
    w.after_seq = job_seq_;
    w.deadline = Clock::now() + settings_.sync_wait;
    w.reply = [this, answer, u = *user](bool ok) {
        if (!ok) noteRefused(u);
        answer(ok, ok ? "ok" : "failed");
    };
    list.push_back(std::move(w));
    ++waiter_count_;
    evaluateWaiters(*user, nullptr);
    pump();
}

// ---- waiters ----------------------------------------------------------------------------

void Replicator::replyWaiter(const std::string& user, std::uint64_t id, bool ok) {
    auto it = waiters_.find(user);
    if (it == waiters_.end()) return;
    auto& list = it->second;
    auto wit = std::find_if(list.begin(), list.end(), [id](const Waiter& w) { return w.id == id; });
    if (wit == list.end()) return;
    auto reply = std::move(wit->reply);
    list.erase(wit);
    --waiter_count_;
    if (list.empty()) waiters_.erase(it);
    if (reply) reply(ok);
}

void Replicator::evaluateWaiters(const std::string& user, const std::vector<std::string>* peers) {
    auto it = waiters_.find(user);
    if (it == waiters_.end()) return;
    std::vector<std::string> list;
    if (peers != nullptr) {
        list = *peers;
    } else if (queue_.resolved(user)) {
        list = queue_.peersOf(user);
    } else {
        return;
    }
    Time t = now();
    std::vector<std::pair<std::uint64_t, bool>> answers;
    for (auto& w : it->second) {
        if (w.evaluated) continue;
        w.evaluated = true;
        for (const auto& p : list) {
            if (peerUsable(p, t)) w.needed.insert(p);
        }
        if (list.empty()) {
            answers.emplace_back(w.id, true);  // not replicated anywhere: nothing to wait for
        } else if (w.needed.empty()) {
            answers.emplace_back(w.id, false);  // every peer is down or paused: answer at once
        }
    }
    for (auto [id, ok] : answers) replyWaiter(user, id, ok);
}

void Replicator::waitersJobDone(const std::string& user, const std::string& peer_name, std::uint64_t seq, bool ok) {
    auto it = waiters_.find(user);
    if (it == waiters_.end()) return;
    evaluateWaiters(user, nullptr);
    it = waiters_.find(user);
    if (it == waiters_.end()) return;
    std::vector<std::pair<std::uint64_t, bool>> answers;
    for (auto& w : it->second) {
        if (!w.evaluated || seq <= w.after_seq || w.needed.count(peer_name) == 0) continue;
        if (!ok) {
            answers.emplace_back(w.id, false);
            continue;
        }
        w.needed.erase(peer_name);
        if (w.needed.empty()) answers.emplace_back(w.id, true);
    }
    for (auto [id, result] : answers) replyWaiter(user, id, result);
}

void Replicator::failWaiters(const std::string& user) {
    auto it = waiters_.find(user);
    if (it == waiters_.end()) return;
    std::vector<std::uint64_t> ids;
    for (const auto& w : it->second) ids.push_back(w.id);
    for (auto id : ids) replyWaiter(user, id, false);
}

void Replicator::failWaitersOfPeer(const std::string& peer_name) {
    std::vector<std::pair<std::string, std::uint64_t>> ids;
    for (const auto& [user, list] : waiters_) {
        for (const auto& w : list) {
            if (w.needed.count(peer_name) != 0) ids.emplace_back(user, w.id);
        }
    }
    for (const auto& [user, id] : ids) replyWaiter(user, id, false);
}

void Replicator::expireWaiters() {
    if (waiter_count_ == 0) return;
    auto t = Clock::now();
    std::vector<std::pair<std::string, std::uint64_t>> ids;
    for (const auto& [user, list] : waiters_) {
        for (const auto& w : list) {
            if (w.deadline <= t) ids.emplace_back(user, w.id);
        }
    }
    for (const auto& [user, id] : ids) replyWaiter(user, id, false);
}

// ---- scheduling -------------------------------------------------------------------------

bool Replicator::peerUsable(const std::string& name, Time t) const {
    auto sit = sites_.find(name);
    if (sit == sites_.end() || !sit->second.site.active) return false;
    auto pit = peers_.find(name);
    if (pit == peers_.end()) return true;
    return !pit->second.paused && pit->second.health.up(t);
}

bool Replicator::canRun(const std::string& name, queue::Priority priority, Time t) {
    auto sit = sites_.find(name);
    if (sit == sites_.end() || !sit->second.site.active) return false;
    PeerRuntime& pr = peer(name);
    if (pr.paused || pr.running >= settings_.max_running_per_peer) return false;
    if (priority == queue::Priority::Full && running_full_ >= settings_.max_running_full) return false;
    return pr.health.allows(t, pr.running);
}

void Replicator::pump() {
    if (stopping_ || !sites_loaded_) return;
    Time t = now();
    while (resolving_ < settings_.max_resolving) {
        auto users = queue_.takeUnresolved(t, settings_.max_resolving - resolving_);
        if (users.empty()) break;
        for (const auto& u : users) resolve(u);
    }
    while (running_ < settings_.max_running) {
        auto job = queue_.next(t, [&](const std::string& p, queue::Priority pr) { return canRun(p, pr, t); });
        if (!job) break;
        startJob(std::move(*job));
    }
}

// ---- placement --------------------------------------------------------------------------

void Replicator::resolve(const std::string& user) {
    Time t = now();
    auto it = placements_.find(user);
    if (it != placements_.end() && t - it->second.fetched < settings_.placement_ttl) {
        applyPlacement(user, it->second.placement);
        return;
    }
    ++resolving_;
    std::weak_ptr<bool> alive = alive_;
    store_.fetchPlacement(user, settings_.site, [this, alive, user](Result<std::optional<store::Placement>> r) {
        if (alive.expired()) return;
        --resolving_;
        Time at = now();
        if (!r) {
            resolve_errors_->inc();
            auto cached = placements_.find(user);
            if (cached != placements_.end() &&
                at - cached->second.fetched < settings_.placement_ttl + settings_.placement_stale) {
                applyPlacement(user, cached->second.placement);
            } else {
                if (!rateLimited("placement")) {
                    log::warning("placement lookup failed; retrying",
                                 {{"user", user}, {"error", r.error().message}});
                }
                queue_.resolveFailed(user, at + settings_.resolve_retry);
                failWaiters(user);
            }
        } else if (!r->has_value()) {
            placements_.erase(user);
            dropUser(user, "no such mailbox in the database");
        } else {
            if (placements_.size() >= settings_.placement_cache_entries) {
                for (auto pit = placements_.begin(); pit != placements_.end();) {
                    if (at - pit->second.fetched >= settings_.placement_ttl) {
                        pit = placements_.erase(pit);
                    } else {
                        ++pit;
                    }
                }
                if (placements_.size() >= settings_.placement_cache_entries) placements_.clear();
            }
            Cached& c = placements_[user];
            // Keep the dsync states learnt since the row was read: ours are newer.
            std::map<std::string, store::PeerStatus> known;
            for (auto& s : c.placement.status) known[s.peer] = s;
            c.placement = std::move(**r);
            c.fetched = at;
            for (auto& s : c.placement.status) {
                auto k = known.find(s.peer);
                if (k != known.end() && !k->second.dsync_state.empty()) s = k->second;
                known.erase(s.peer);
            }
            for (auto& [peer_name, s] : known) c.placement.status.push_back(s);
            applyPlacement(user, c.placement);
        }
        pump();
    });
}

void Replicator::applyPlacement(const std::string& user, const store::Placement& placement) {
    if (!queue_.contains(user)) return;
    std::set<std::string> sites;
    if (!placement.home_site.empty()) sites.insert(placement.home_site);
    for (const auto& r : placement.replicas) sites.insert(r);
    std::vector<queue::PeerInfo> infos;
    std::vector<std::string> names;
    for (const auto& s : sites) {
        if (s == settings_.site) continue;
        auto sit = sites_.find(s);
        if (sit == sites_.end() || !sit->second.site.active) {
            if (warned_unknown_sites_.insert(s).second) {
                log::warning("user placed at a site that is unknown or inactive here; skipped",
                             {{"user", user}, {"site", s}});
            }
            continue;
        }
        bool ever = false;
        for (const auto& st : placement.status) ever = ever || (st.peer == s && st.ever_synced);
        infos.push_back({s, ever});
        names.push_back(s);
    }
    if (!sites.empty() && sites.count(settings_.site) == 0) {
        log::debug("change at a site outside the user's placement; pushing it to the user's sites",
                   {{"user", user}, {"site", settings_.site}});
    }
    if (queue_.setPeers(user, infos, now())) journalClean(user);
    evaluateWaiters(user, &names);
}

void Replicator::dropUser(const std::string& user, const char* reason) {
    if (queue_.drop(user)) {
        journalClean(user);
        dropped_users_->inc();
        log::info("user dropped from the replication queue", {{"user", user}, {"reason", reason}});
    }
    failWaiters(user);
}

// ---- sites -------------------------------------------------------------------------------

void Replicator::refreshSites() {
    if (sites_loading_) return;
    sites_loading_ = true;
    std::weak_ptr<bool> alive = alive_;
    store_.fetchSites([this, alive](Result<std::vector<store::SiteRow>> r) {
        if (alive.expired()) return;
        sites_loading_ = false;
        if (!r) {
            if (!rateLimited("sites")) {
                log::warning(sites_loaded_ ? "sites reload failed; keeping the known sites"
                                           : "cannot load the sites table; retrying",
                             {{"error", r.error().message}});
            }
            return;
        }
        onSites(std::move(*r));
    });
}

std::string Replicator::writeSiteConfig(const core::Site& site, const std::string& password) {
    std::string path = settings_.state_dir + "/doveadm-" + site.name + ".conf";
    // A generated file can only include a file: with doveadm.config naming Dovecot's
    // config socket, the sites' files include doveadm.config_file.
    std::string base = settings_.doveadm.config_file;
    if (base.empty()) {
        struct stat st{};
        bool is_file = !settings_.doveadm.config.empty() && ::stat(settings_.doveadm.config.c_str(), &st) == 0 &&
                       S_ISREG(st.st_mode);
        base = is_file ? settings_.doveadm.config : "/etc/dovecot/dovecot.conf";
    }
    std::string content = "# Generated by titan-replicator: doveadm client settings for site " + site.name +
                          ". Do not edit.\n!include " + base + "\ndoveadm_password = " + quoteConfigValue(password) +
                          "\n";
    {
        std::ifstream in(path);
        std::stringstream cur;
        if (in) cur << in.rdbuf();
        if (in && cur.str() == content) return path;
    }
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        log::error("cannot write a site's doveadm config", {{"site", site.name}, {"path", tmp}, {"error", std::strerror(errno)}});
        return "";
    }
    ::fchmod(fd, 0600);
    bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
    ok = ::fsync(fd) == 0 && ok;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        log::error("cannot write a site's doveadm config", {{"site", site.name}, {"path", path}, {"error", std::strerror(errno)}});
        ::unlink(tmp.c_str());
        return "";
    }
    return path;
}

void Replicator::onSites(std::vector<store::SiteRow> rows) {
    std::map<std::string, SiteEntry> next;
    for (auto& row : rows) {
        if (!core::validSiteName(row.name)) {
            if (!rateLimited("site-name:" + row.name)) log::warning("invalid site name in the sites table", {{"site", row.name}});
            continue;
        }
        auto ep = core::parseEndpoint(row.endpoint);
        if (!ep) {
            if (!rateLimited("site-endpoint:" + row.name)) {
                log::warning("invalid doveadm endpoint; site skipped", {{"site", row.name}, {"error", ep.error().message}});
            }
            continue;
        }
        SiteEntry e;
        e.site = core::Site{row.name, *ep, row.tls, row.password_file, row.active};
        e.config = settings_.doveadm.config;
        if (!row.password_file.empty() && row.name != settings_.site) {
            if (!row.password_error.empty()) {
                if (!rateLimited("site-password:" + row.name)) {
                    log::error("cannot read the site's doveadm password file; site inactive",
                               {{"site", row.name}, {"error", row.password_error}});
                }
                e.site.active = false;
            } else {
                e.config = writeSiteConfig(e.site, row.password);
                if (e.config.empty()) e.site.active = false;
            }
        }
        next.emplace(row.name, std::move(e));
    }
    bool first = !sites_loaded_;
    sites_ = std::move(next);
    sites_loaded_ = true;
    for (const auto& [name, e] : sites_) {
        if (name == settings_.site) continue;
        peer(name);
        registerPeerMetrics(name);
    }
    if (first) {
        log::info("sites loaded", {{"sites", static_cast<unsigned long long>(sites_.size())}, {"site", settings_.site}});
        if (sites_.count(settings_.site) == 0) {
            log::warning("this replicator's site is not in the sites table", {{"site", settings_.site}});
        }
    }
    pump();
}

// ---- jobs --------------------------------------------------------------------------------

void Replicator::startJob(queue::Job job) {
    auto rj = std::make_shared<RunningJob>();
    auto sit = sites_.find(job.peer);
    rj->site = sit->second.site;
    rj->config = sit->second.config;
    rj->seq = ++job_seq_;
    if (auto pit = placements_.find(job.user); pit != placements_.end()) rj->home_site = pit->second.placement.home_site;
    rj->job = std::move(job);
    PeerRuntime& pr = peer(rj->job.peer);
    ++pr.running;
    ++running_;
    if (rj->job.priority == queue::Priority::Full) ++running_full_;
    jobs_[rj->seq] = rj;
    log::debug("sync starting", {{"user", rj->job.user},
                                 {"peer", rj->job.peer},
                                 {"priority", queue::priorityName(rj->job.priority)},
                                 {"full", rj->job.full}});
    runStep(rj);
}

void Replicator::runStep(std::shared_ptr<RunningJob> rj) {
    const auto& d = settings_.doveadm;
    const std::string& user = rj->job.user;
    std::vector<std::string> argv;
    if (rj->step == 0) {
        std::string state;
        if (auto pit = placements_.find(user); pit != placements_.end() && !rj->job.full) {
            for (const auto& s : pit->second.placement.status) {
                if (s.peer == rj->job.peer) state = s.dsync_state;
            }
        }
        argv = core::syncArgv(d, rj->config, user, rj->site, rj->job.full, state);
    } else if (rj->step == 1) {
        argv = rj->local_wins ? core::guidStatusArgv(d, d.config, user, nullptr)
                              : core::guidStatusArgv(d, rj->config, user, &rj->site);
    } else {
        argv = rj->local_wins ? core::guidUpdateArgv(d, rj->config, user, &rj->site, rj->guid)
                              : core::guidUpdateArgv(d, d.config, user, nullptr, rj->guid);
    }
    runner::SpawnRequest req;
    req.argv = std::move(argv);
    req.timeout = settings_.sync_timeout;
    std::weak_ptr<bool> alive = alive_;
    runner_.start(std::move(req), [this, alive, rj](runner::ProcessResult r) {
        if (alive.expired()) return;
        onStepDone(rj, std::move(r));
    });
}

void Replicator::onStepDone(std::shared_ptr<RunningJob> rj, runner::ProcessResult r) {
    const queue::Job& job = rj->job;
    std::string summary = r.spawn_failed ? r.spawn_error
                          : r.timed_out  ? "timed out after " + seconds(settings_.sync_timeout)
                          : r.signal != 0 ? "killed by signal " + std::to_string(r.signal)
                                          : core::errorSummary(r.err) + " (exit " + std::to_string(r.exit_code) + ")";
    if (rj->step == 1) {
        auto guid = core::parseGuid(r.out);
        if (r.exit_code != 0 || !guid) {
            endJob(*rj, queue::Outcome::Failed, "INBOX GUID lookup failed: " + summary, std::nullopt);
            return;
        }
        rj->guid = *guid;
        rj->step = 2;
        runStep(rj);
        return;
    }
    if (rj->step == 2) {
        if (r.exit_code != 0) {
            endJob(*rj, queue::Outcome::Failed, "INBOX GUID update failed: " + summary, std::nullopt);
            return;
        }
        guid_repairs_->inc();
        log::info("INBOX GUIDs aligned; syncing again",
                  {{"user", job.user}, {"peer", job.peer}, {"guid", rj->guid}, {"kept", rj->local_wins ? "local" : "peer"}});
        endJob(*rj, queue::Outcome::RunAgain, "", std::nullopt);
        return;
    }

    core::ExitInfo exit{r.spawn_failed, r.timed_out, r.signal, r.exit_code, r.err};
    auto outcome = core::classify(exit);
    std::string labels = "peer=\"" + job.peer + "\",result=\"" + core::syncOutcomeName(outcome) + "\"";
    counter("replicator_syncs_total", "doveadm sync runs, by peer and result", labels).inc();
    registry_.histogram("replicator_sync_duration_seconds", "doveadm sync run time", "peer=\"" + job.peer + "\"")
        .observe(static_cast<double>(r.duration.count()) / 1000.0);
    PeerRuntime& pr = peer(job.peer);
    Time t = now();
    switch (outcome) {
        case core::SyncOutcome::Success:
            pr.health.onSuccess();
            endJob(*rj, queue::Outcome::Success, "", core::parseState(r.out));
            return;
        case core::SyncOutcome::RunAgain:
            pr.health.onSuccess();
            if (job.again + 1 >= settings_.max_run_again) {
                endJob(*rj, queue::Outcome::Failed, "dsync keeps asking for another run: " + summary, std::nullopt);
            } else {
                endJob(*rj, queue::Outcome::RunAgain, "", std::nullopt);
            }
            return;
        case core::SyncOutcome::GuidConflict:
            pr.health.onSuccess();
            if (job.again + 1 >= settings_.max_run_again) {
                endJob(*rj, queue::Outcome::Failed, "INBOX GUID conflict persists: " + summary, std::nullopt);
                return;
            }
            rj->local_wins = core::localGuidWins(settings_.site, job.peer, rj->home_site);
            log::warning("INBOX was created independently on both sites; aligning its GUID",
                         {{"user", job.user}, {"peer", job.peer}, {"kept", rj->local_wins ? "local" : "peer"}});
            rj->step = 1;
            runStep(rj);
            return;
        case core::SyncOutcome::NoUser: {
            std::string user = job.user;
            releaseJob(*rj);
            dropUser(user, "unknown to the local Dovecot (doveadm exit 67)");
            afterJob();
            return;
        }
        case core::SyncOutcome::PeerDown: {
            bool was_open = pr.health.state() == core::PeerHealth::State::Open;
            pr.health.onFailure(t, std::uniform_real_distribution<double>(0.0, 1.0)(rng_));
            bool open = pr.health.state() == core::PeerHealth::State::Open;
            if (open && !was_open) {
                log::warning("peer marked down; syncs to it pause",
                             {{"peer", job.peer},
                              {"error", summary},
                              {"retry_in", seconds(std::chrono::duration_cast<milliseconds>(pr.health.openUntil() - t))}});
            }
            endJob(*rj, queue::Outcome::PeerDown, summary, std::nullopt);
            if (open) failWaitersOfPeer(job.peer);
            return;
        }
        case core::SyncOutcome::Failed:
            endJob(*rj, queue::Outcome::Failed, summary, std::nullopt);
            return;
    }
}

void Replicator::releaseJob(const RunningJob& rj) {
    PeerRuntime& pr = peer(rj.job.peer);
    if (pr.running > 0) --pr.running;
    if (running_ > 0) --running_;
    if (rj.job.priority == queue::Priority::Full && running_full_ > 0) --running_full_;
    jobs_.erase(rj.seq);  // may destroy rj: callers copy what they need first
}

void Replicator::afterJob() {
    if (stopping_) {
        if (running_ == 0 && stopped_) {
            commit();
            auto d = std::move(stopped_);
            stopped_ = nullptr;
            stop_timer_.reset();
            d();
        }
        return;
    }
    pump();
}

void Replicator::endJob(const RunningJob& running, queue::Outcome outcome, const std::string& error,
                        const std::optional<std::string>& state) {
    const queue::Job job = running.job;
    std::uint64_t seq = running.seq;
    releaseJob(running);
    PeerRuntime& pr = peer(job.peer);

    Time t = now();
    Time retry = t;
    if (outcome == queue::Outcome::Success) {
        ++pr.syncs_ok;
        Cached& c = placements_[job.user];
        bool found = false;
        for (auto& s : c.placement.status) {
            if (s.peer != job.peer) continue;
            found = true;
            s.ever_synced = true;
            if (state) s.dsync_state = *state;
        }
        if (!found) c.placement.status.push_back({job.peer, true, state.value_or("")});
        log::debug("sync done", {{"user", job.user}, {"peer", job.peer}});
    } else if (outcome == queue::Outcome::Failed) {
        ++pr.syncs_failed;
        pr.last_error = error;
        auto delay = core::retryDelay(job.failures + 1, settings_.retry_initial, settings_.retry_max,
                                      settings_.retry_jitter, std::uniform_real_distribution<double>(0.0, 1.0)(rng_));
        retry = t + delay;
        log::warning("sync failed", {{"user", job.user},
                                     {"peer", job.peer},
                                     {"error", error},
                                     {"failures", job.failures + 1},
                                     {"retry_in", seconds(delay)}});
    } else if (outcome == queue::Outcome::PeerDown) {
        ++pr.syncs_failed;
        pr.last_error = error;
        log::debug("sync failed: peer unavailable", {{"user", job.user}, {"peer", job.peer}, {"error", error}});
    }
    if (queue_.finish(job, outcome, t, retry)) journalClean(job.user);

    if (outcome != queue::Outcome::RunAgain && !stopping_) {
        store::SyncRecord rec;
        rec.user = job.user;
        rec.source = settings_.site;
        rec.peer = job.peer;
        rec.success = outcome == queue::Outcome::Success;
        rec.full = job.full;
        rec.at = t;
        rec.error = error;
        rec.state = state;
        std::weak_ptr<bool> alive = alive_;
        store_.storeSyncResult(rec, [this, alive](Status st) {
            if (alive.expired() || st) return;
            store_errors_->inc();
            if (!rateLimited("store-result")) log::warning("cannot record a sync result", {{"error", st.error().message}});
        });
    }
    if (outcome != queue::Outcome::RunAgain) waitersJobDone(job.user, job.peer, seq, outcome == queue::Outcome::Success);
    afterJob();
}

// ---- periodic full sync --------------------------------------------------------------------

void Replicator::sweepTick() {
    if (stopping_ || !sites_loaded_ || settings_.full_sync_interval.count() == 0) return;
    Time t = now();
    if (!sweep_.active) {
        if (t < sweep_.pass_started + settings_.full_sync_interval) return;
        sweep_.active = true;
        sweep_.pass_started = t;
        sweep_.cursor.clear();
        journal_.append(queue::SweepRecord{"", t});
        armCommit();
        log::info("periodic full sync pass started", {{"site", settings_.site}});
    }
    if (sweep_.fetching) return;
    std::size_t queued = queue_.unresolvedDepth()[static_cast<std::size_t>(queue::Priority::Full)];
    for (const auto& [p, d] : queue_.depthByPeer()) queued += d.ready[static_cast<std::size_t>(queue::Priority::Full)];
    if (queued >= settings_.full_sync_batch) return;
    sweep_.fetching = true;
    std::weak_ptr<bool> alive = alive_;
    std::size_t batch = settings_.full_sync_batch;
    store_.fetchSiteUsers(settings_.site, sweep_.cursor, batch, [this, alive, batch](Result<std::vector<std::string>> r) {
        if (alive.expired()) return;
        sweep_.fetching = false;
        if (!r) {
            if (!rateLimited("sweep")) log::warning("full sync pass: cannot list users", {{"error", r.error().message}});
            return;
        }
        Time at = now();
        for (const auto& u : *r) {
            auto c = queue_.change(u, queue::Priority::Full, at, true);
            if (!c.accepted) break;
            sweep_.cursor = u;
        }
        if (r->size() < batch) {
            sweep_.active = false;
            sweep_.cursor.clear();
            log::info("periodic full sync pass queued every user", {{"site", settings_.site}});
        }
        journal_.append(queue::SweepRecord{sweep_.cursor, sweep_.pass_started});
        armCommit();
        pump();
    });
}

// ---- admin --------------------------------------------------------------------------------

Result<std::string> Replicator::replicate(std::string_view raw_user, queue::Priority priority, bool full) {
    auto user = canonical(raw_user);
    if (!user) return std::move(user).error();
    if (priority == queue::Priority::None) return Error::invalidInput("priority none is not a request");
    if (!accept(*user, priority, full, Source::Admin)) return Error::unavailable("replication queue is full");
    if (!commit()) return Error::unavailable("journal write failed; see the log");
    pump();
    return "queued " + *user + " priority=" + queue::priorityName(priority) + (full ? " full" : "") + "\n";
}

Result<std::string> Replicator::setPaused(const std::string& name, bool paused) {
    if (!core::validSiteName(name)) return Error::invalidInput("invalid site name '" + name + "'");
    if (name == settings_.site) return Error::invalidInput(name + " is this replicator's own site");
    PeerRuntime& pr = peer(name);
    pr.paused = paused;
    journal_.append(queue::PauseRecord{name, paused});
    bool ok = commit();
    if (paused) failWaitersOfPeer(name);
    log::info(paused ? "peer paused" : "peer resumed", {{"peer", name}});
    pump();
    std::string note = sites_.count(name) == 0 ? " (not in the sites table)" : "";
    if (!ok) return Error::unavailable("journal write failed; the change holds until a restart");
    return "peer " + name + (paused ? " paused" : " resumed") + note + "\n";
}

std::string Replicator::status() {
    Time t = now();
    std::ostringstream o;
    auto unresolved = queue_.unresolvedDepth();
    auto depth = queue_.depthByPeer();
    std::array<std::size_t, queue::kPriorityCount> ready{};
    for (const auto& [p, d] : depth) {
        for (std::size_t i = 0; i < queue::kPriorityCount; ++i) ready[i] += d.ready[i];
    }
    auto oldest = queue_.oldestChange();
    o << "site: " << settings_.site << "\n";
    o << "queue: users=" << queue_.users() << " running=" << running_ << " resolving=" << resolving_
      << " waiters=" << waiter_count_ << " oldest_change_age="
      << (oldest ? seconds(std::max(milliseconds(0), t - *oldest)) : std::string("0.000s")) << "\n";
    o << "depth:";
    for (auto p : kPriorities) {
        auto i = static_cast<std::size_t>(p);
        o << " " << queue::priorityName(p) << "=" << ready[i] + unresolved[i];
    }
    o << "\n";
    for (const auto& [name, pr] : peers_) {
        if (name == settings_.site) continue;
        auto sit = sites_.find(name);
        auto dit = depth.find(name);
        queue::PeerDepth d = dit == depth.end() ? queue::PeerDepth{} : dit->second;
        o << "peer " << name << ": state=" << core::stateName(pr.health.state());
        if (pr.health.state() == core::PeerHealth::State::Open) {
            o << " retry_in=" << seconds(std::max(milliseconds(0), pr.health.openUntil() - t));
        }
        o << " paused=" << (pr.paused ? "yes" : "no")
          << " endpoint=" << (sit == sites_.end() ? std::string("(unknown)") : core::destination(sit->second.site))
          << (sit != sites_.end() && !sit->second.site.active ? " (inactive)" : "") << " running=" << pr.running
          << " ready=";
        bool firstp = true;
        for (auto p : kPriorities) {
            o << (firstp ? "" : ",") << queue::priorityName(p) << ":" << d.ready[static_cast<std::size_t>(p)];
            firstp = false;
        }
        o << " delayed=" << d.delayed
          << " lag=" << (d.oldest ? seconds(std::max(milliseconds(0), t - *d.oldest)) : std::string("0.000s"))
          << " consecutive_failures=" << pr.health.consecutiveFailures() << " ok=" << pr.syncs_ok
          << " failed=" << pr.syncs_failed;
        if (!pr.last_error.empty()) o << " last_error=" << base::logfmtQuote(pr.last_error);
        o << "\n";
    }
    o << "journal: " << journal_.path() << " bytes=" << journal_.bytes() << "\n";
    if (settings_.full_sync_interval.count() == 0) {
        o << "full_sync: off\n";
    } else if (sweep_.active) {
        o << "full_sync: running cursor=" << (sweep_.cursor.empty() ? "(start)" : sweep_.cursor) << "\n";
    } else {
        auto next = sweep_.pass_started + settings_.full_sync_interval;
        o << "full_sync: next_pass_in=" << seconds(std::max(milliseconds(0), next - t)) << "\n";
    }
    return o.str();
}

Result<std::string> Replicator::statusUser(std::string_view raw_user) {
    auto user = canonical(raw_user);
    if (!user) return std::move(user).error();
    auto v = queue_.view(*user);
    if (!v) return "user " + *user + ": not queued (replicated)\n";
    Time t = now();
    std::ostringstream o;
    o << "user " << v->user << ": queued";
    if (v->unresolved != queue::Priority::None) {
        o << " placement=" << (v->resolving ? "resolving" : "pending") << " priority=" << queue::priorityName(v->unresolved);
    }
    o << "\n";
    for (const auto& task : v->tasks) {
        o << "  peer " << task.peer << ": pending=" << queue::priorityName(task.pending) << (task.full ? " full" : "")
          << " running=" << (task.running ? queue::priorityName(task.running_priority) : "no")
          << " failures=" << task.failures << " ever_synced=" << (task.ever_synced ? "yes" : "no");
        if (task.oldest) o << " lag=" << seconds(std::max(milliseconds(0), t - *task.oldest));
        if (task.not_before > t) o << " retry_in=" << seconds(task.not_before - t);
        o << "\n";
    }
    return o.str();
}

}  // namespace titan::replicator
