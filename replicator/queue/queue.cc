#include "replicator/queue/queue.h"

#include <algorithm>
#include <tuple>

namespace titan::replicator::queue {

const char* priorityName(Priority p) noexcept {
    switch (p) {
        case Priority::None: return "none";
        case Priority::Full: return "full";
        case Priority::Low: return "low";
        case Priority::High: return "high";
        case Priority::Sync: return "sync";
    }
    return "none";
}

std::optional<Priority> parsePriority(std::string_view name) noexcept {
    for (auto p : {Priority::None, Priority::Full, Priority::Low, Priority::High, Priority::Sync}) {
        if (name == priorityName(p)) return p;
    }
    return std::nullopt;
}

namespace {
std::size_t idx(Priority p) { return static_cast<std::size_t>(p); }
}  // namespace

Queue::Queue(Limits limits) : limits_(limits) {}

// ---- indexes ------------------------------------------------------------------------

void Queue::unindex(const std::string& user, const std::string& peer, Task& t) {
    auto pit = peers_.find(peer);
    if (pit == peers_.end()) return;
    PeerIndex& pi = pit->second;
    if (t.slot == Task::Slot::Ready) {
        pi.ready[idx(t.slot_priority)].erase(t.ready_key);
    } else if (t.slot == Task::Slot::Delayed) {
        pi.delayed.erase({t.delayed_key, t.seq, user});
    }
    t.slot = Task::Slot::None;
    if (t.lag_key) {
        pi.lag.erase({*t.lag_key, user});
        t.lag_key.reset();
    }
}

void Queue::reindex(Entry& e, const std::string& peer, Task& t, Time now) {
    unindex(e.user, peer, t);
    PeerIndex& pi = peers_[peer];
    if (t.pending != Priority::None || t.running) {
        Time lag = t.running ? t.running_oldest : t.oldest;
        if (t.running && t.pending != Priority::None) lag = std::min(t.oldest, t.running_oldest);
        pi.lag.insert({lag, e.user});
        t.lag_key = lag;
    }
    if (t.pending == Priority::None || t.running) return;
    if (t.not_before > now) {
        t.slot = Task::Slot::Delayed;
        t.delayed_key = t.not_before;
        pi.delayed.insert({t.not_before, t.seq, e.user});
    } else {
        t.slot = Task::Slot::Ready;
        t.slot_priority = t.pending;
        t.ready_key = ReadyKey{t.ever_synced, t.oldest, t.seq, e.user};
        pi.ready[idx(t.pending)].insert(t.ready_key);
    }
}

void Queue::unindexUnresolved(Entry& e) {
    if (e.unresolved_slot == 1) {
        unresolved_ready_.erase({e.unresolved_key, e.user});
    } else if (e.unresolved_slot == 2) {
        unresolved_delayed_.erase({e.unresolved_key, e.user});
    }
    e.unresolved_slot = 0;
    if (e.unresolved_lag) {
        unresolved_lag_.erase({*e.unresolved_lag, e.user});
        e.unresolved_lag.reset();
    }
}

void Queue::reindexUnresolved(Entry& e) {
    unindexUnresolved(e);
    if (e.pending == Priority::None || e.placement == Placement::Known) return;
    unresolved_lag_.insert({e.oldest, e.user});
    e.unresolved_lag = e.oldest;
    if (e.placement == Placement::Unknown) {
        // Every lookup waits in the delayed set until its time; takeUnresolved()
        // promotes the due ones and orders them by their oldest change.
        e.unresolved_slot = 2;
        e.unresolved_key = e.resolve_at;
        unresolved_delayed_.insert({e.resolve_at, e.user});
    }
}

void Queue::promoteUnresolved(Time now) {
    while (!unresolved_delayed_.empty() && unresolved_delayed_.begin()->first <= now) {
        std::string user = unresolved_delayed_.begin()->second;
        unresolved_delayed_.erase(unresolved_delayed_.begin());
        auto it = users_.find(user);
        if (it == users_.end()) continue;
        Entry& e = it->second;
        e.unresolved_slot = 1;
        e.unresolved_key = e.oldest;
        unresolved_ready_.insert({e.oldest, user});
    }
}

void Queue::promote(PeerIndex& pi, const std::string& peer, Time now) {
    while (!pi.delayed.empty() && std::get<0>(*pi.delayed.begin()) <= now) {
        std::string user = std::get<2>(*pi.delayed.begin());
        auto it = users_.find(user);
        if (it == users_.end()) {
            pi.delayed.erase(pi.delayed.begin());
            continue;
        }
        auto tit = it->second.tasks.find(peer);
        if (tit == it->second.tasks.end()) {
            pi.delayed.erase(pi.delayed.begin());
            continue;
        }
        reindex(it->second, peer, tit->second, now);
    }
}

void Queue::addPending(Entry& /*e*/, Task& t, Priority p, Time oldest, bool full) {
    if (p == Priority::None) return;
    if (t.pending == Priority::None) {
        t.oldest = oldest;
        t.seq = ++seq_;
    } else {
        t.oldest = std::min(t.oldest, oldest);
    }
    t.pending = maxPriority(t.pending, p);
    t.full = t.full || full;
}

bool Queue::settle(const std::string& user) {
    auto it = users_.find(user);
    if (it == users_.end()) return false;
    Entry& e = it->second;
    if (e.pending != Priority::None || e.placement == Placement::Resolving) return false;
    for (const auto& [peer, t] : e.tasks) {
        if (t.pending != Priority::None || t.running) return false;
    }
    for (auto& [peer, t] : e.tasks) unindex(user, peer, t);
    unindexUnresolved(e);
    bool journaled = e.journaled != Priority::None || e.journaled_full;
    users_.erase(it);
    return journaled;
}

Priority Queue::effective(Priority p, Time oldest, Time now) const {
    if (p == Priority::None || p >= Priority::High) return p;
    if (now - oldest >= limits_.starvation_after) return Priority::High;
    return p;
}

// ---- changes ------------------------------------------------------------------------

ChangeResult Queue::change(const std::string& user, Priority priority, Time now, bool full) {
    ChangeResult r;
    if (priority == Priority::None) return r;
    auto it = users_.find(user);
    if (it == users_.end()) {
        if (users_.size() >= limits_.max_users) return r;
        it = users_.emplace(user, Entry{}).first;
        it->second.user = user;
        it->second.resolve_at = now;
    }
    Entry& e = it->second;
    r.accepted = true;
    bool live_task = false;
    for (const auto& [peer, t] : e.tasks) live_task = live_task || !t.removed;
    if (e.placement == Placement::Known && !live_task) e.placement = Placement::Unknown;
    if (e.placement == Placement::Known) {
        for (auto& [peer, t] : e.tasks) {
            if (t.removed) continue;
            addPending(e, t, priority, now, full);
            reindex(e, peer, t, now);
        }
    } else {
        if (e.pending == Priority::None) e.oldest = now;
        e.pending = maxPriority(e.pending, priority);
        e.full = e.full || full;
        if (e.placement == Placement::Unknown && e.unresolved_slot == 0) e.resolve_at = std::min(e.resolve_at, now);
        reindexUnresolved(e);
    }
    if (priority != Priority::Full && (priority > e.journaled || (full && !e.journaled_full))) {
        r.journal = true;
        e.journaled = maxPriority(e.journaled, priority);
        e.journaled_full = e.journaled_full || full;
    }
    return r;
}

bool Queue::restore(const DirtyState& state) {
    if (state.priority == Priority::None) return false;
    auto it = users_.find(state.user);
    if (it == users_.end()) {
        if (users_.size() >= limits_.max_users) return false;
        it = users_.emplace(state.user, Entry{}).first;
        it->second.user = state.user;
        it->second.resolve_at = state.oldest;
        it->second.oldest = state.oldest;
    }
    Entry& e = it->second;
    if (e.pending == Priority::None) {
        e.oldest = state.oldest;
    } else {
        e.oldest = std::min(e.oldest, state.oldest);
    }
    e.pending = maxPriority(e.pending, state.priority);
    e.full = e.full || state.full;
    e.journaled = maxPriority(e.journaled, state.priority);
    e.journaled_full = e.journaled_full || state.full;
    reindexUnresolved(e);
    return true;
}

std::vector<std::string> Queue::takeUnresolved(Time now, std::size_t max) {
    promoteUnresolved(now);
    std::vector<std::string> out;
    while (out.size() < max && !unresolved_ready_.empty()) {
        std::string user = unresolved_ready_.begin()->second;
        auto it = users_.find(user);
        if (it == users_.end()) {
            unresolved_ready_.erase(unresolved_ready_.begin());
            continue;
        }
        it->second.placement = Placement::Resolving;
        reindexUnresolved(it->second);
        out.push_back(std::move(user));
    }
    return out;
}

bool Queue::setPeers(const std::string& user, const std::vector<PeerInfo>& peers, Time now) {
    auto it = users_.find(user);
    if (it == users_.end()) return false;
    Entry& e = it->second;
    e.placement = Placement::Known;
    std::set<std::string> listed;
    for (const auto& info : peers) {
        if (!listed.insert(info.peer).second) continue;
        auto [tit, created] = e.tasks.try_emplace(info.peer);
        Task& t = tit->second;
        if (created) t.seq = ++seq_;
        t.removed = false;
        t.ever_synced = t.ever_synced || info.ever_synced;
        addPending(e, t, e.pending, e.oldest, e.full);
        reindex(e, info.peer, t, now);
    }
    for (auto tit = e.tasks.begin(); tit != e.tasks.end();) {
        if (listed.count(tit->first) != 0) {
            ++tit;
            continue;
        }
        Task& t = tit->second;
        if (t.running) {
            t.removed = true;
            t.pending = Priority::None;
            t.full = false;
            reindex(e, tit->first, t, now);
            ++tit;
        } else {
            unindex(user, tit->first, t);
            tit = e.tasks.erase(tit);
        }
    }
    e.pending = Priority::None;
    e.full = false;
    reindexUnresolved(e);
    return settle(user);
}

void Queue::resolveFailed(const std::string& user, Time retry_at) {
    auto it = users_.find(user);
    if (it == users_.end()) return;
    Entry& e = it->second;
    if (e.placement != Placement::Resolving) return;
    e.placement = Placement::Unknown;
    e.resolve_at = retry_at;
    reindexUnresolved(e);
}

bool Queue::drop(const std::string& user) {
    auto it = users_.find(user);
    if (it == users_.end()) return false;
    Entry& e = it->second;
    for (auto& [peer, t] : e.tasks) {
        if (t.running) {
            auto pit = peers_.find(peer);
            if (pit != peers_.end() && pit->second.running > 0) --pit->second.running;
            if (running_ > 0) --running_;
        }
        unindex(user, peer, t);
    }
    unindexUnresolved(e);
    users_.erase(it);
    return true;
}

// ---- running ------------------------------------------------------------------------

std::optional<Job> Queue::next(Time now, const std::function<bool(const std::string&, Priority)>& can_run) {
    // Rank: effective priority (a long-waiting task is boosted), then never-synced
    // first, then the oldest change, then the real priority. Age before real priority,
    // so a boosted task is not starved by a steady stream of fresh high ones.
    struct Candidate {
        Priority eff;
        Priority level;
        bool never_synced;
        Time oldest;
        std::uint64_t seq;
        const std::string* peer;
        std::string user;
    };
    auto better = [](const Candidate& a, const Candidate& b) {
        if (a.eff != b.eff) return a.eff > b.eff;
        if (a.never_synced != b.never_synced) return a.never_synced;
        if (a.oldest != b.oldest) return a.oldest < b.oldest;
        if (a.level != b.level) return a.level > b.level;
        return a.seq < b.seq;
    };
    std::optional<Candidate> best;
    for (auto& [peer, pi] : peers_) {
        promote(pi, peer, now);
        for (std::size_t l = kPriorityCount - 1; l >= 1; --l) {
            const auto& set = pi.ready[l];
            if (set.empty()) continue;
            auto level = static_cast<Priority>(l);
            const ReadyKey& head = *set.begin();
            Candidate c{effective(level, head.oldest, now), level, !head.synced, head.oldest, head.seq, &peer,
                        head.user};
            if (best && !better(c, *best)) continue;
            if (!can_run(peer, level)) continue;
            best = std::move(c);
        }
    }
    if (!best) return std::nullopt;
    Entry& e = users_.at(best->user);
    Task& t = e.tasks.at(*best->peer);
    Job job;
    job.user = e.user;
    job.peer = *best->peer;
    job.priority = t.pending;
    job.full = t.full;
    job.oldest = t.oldest;
    job.started = now;
    job.failures = t.failures;
    job.again = t.again;
    job.ever_synced = t.ever_synced;
    t.running = true;
    t.running_priority = t.pending;
    t.running_full = t.full;
    t.running_oldest = t.oldest;
    t.pending = Priority::None;
    t.full = false;
    reindex(e, job.peer, t, now);
    ++peers_[job.peer].running;
    ++running_;
    return job;
}

bool Queue::finish(const Job& job, Outcome outcome, Time now, Time retry_at) {
    auto it = users_.find(job.user);
    if (it == users_.end()) return false;
    Entry& e = it->second;
    auto tit = e.tasks.find(job.peer);
    if (tit == e.tasks.end() || !tit->second.running) return false;
    Task& t = tit->second;
    t.running = false;
    auto& pi = peers_[job.peer];
    if (pi.running > 0) --pi.running;
    if (running_ > 0) --running_;
    if (t.removed) {
        unindex(e.user, job.peer, t);
        e.tasks.erase(tit);
        return settle(job.user);
    }
    switch (outcome) {
        case Outcome::Success:
            t.ever_synced = true;
            t.failures = 0;
            t.again = 0;
            t.not_before = now;
            break;
        case Outcome::RunAgain:
            addPending(e, t, t.running_priority, t.running_oldest, t.running_full);
            ++t.again;
            t.not_before = now;
            break;
        case Outcome::Failed:
            addPending(e, t, t.running_priority, t.running_oldest, t.running_full);
            ++t.failures;
            t.again = 0;
            t.not_before = retry_at;
            break;
        case Outcome::PeerDown:
            addPending(e, t, t.running_priority, t.running_oldest, t.running_full);
            t.not_before = now;
            break;
    }
    t.running_priority = Priority::None;
    t.running_full = false;
    reindex(e, job.peer, t, now);
    return settle(job.user);
}

// ---- introspection ------------------------------------------------------------------

std::array<std::size_t, kPriorityCount> Queue::unresolvedDepth() const {
    std::array<std::size_t, kPriorityCount> out{};
    for (const auto& [time, user] : unresolved_lag_) {
        auto it = users_.find(user);
        if (it != users_.end()) ++out[idx(it->second.pending)];
    }
    return out;
}

std::map<std::string, PeerDepth> Queue::depthByPeer() const {
    std::map<std::string, PeerDepth> out;
    for (const auto& [peer, pi] : peers_) {
        PeerDepth d;
        for (std::size_t l = 0; l < kPriorityCount; ++l) d.ready[l] = pi.ready[l].size();
        d.delayed = pi.delayed.size();
        d.running = pi.running;
        if (!pi.lag.empty()) d.oldest = pi.lag.begin()->first;
        out.emplace(peer, d);
    }
    return out;
}

std::optional<Time> Queue::oldestChange() const {
    std::optional<Time> out;
    if (!unresolved_lag_.empty()) out = unresolved_lag_.begin()->first;
    for (const auto& [peer, pi] : peers_) {
        if (pi.lag.empty()) continue;
        Time t = pi.lag.begin()->first;
        if (!out || t < *out) out = t;
    }
    return out;
}

std::optional<Time> Queue::nextWakeup() const {
    std::optional<Time> out;
    if (!unresolved_delayed_.empty()) out = unresolved_delayed_.begin()->first;
    for (const auto& [peer, pi] : peers_) {
        if (pi.delayed.empty()) continue;
        Time t = std::get<0>(*pi.delayed.begin());
        if (!out || t < *out) out = t;
    }
    return out;
}

std::optional<UserView> Queue::view(const std::string& user) const {
    auto it = users_.find(user);
    if (it == users_.end()) return std::nullopt;
    const Entry& e = it->second;
    UserView v;
    v.user = e.user;
    v.unresolved = e.placement == Placement::Known ? Priority::None : e.pending;
    v.resolving = e.placement == Placement::Resolving;
    for (const auto& [peer, t] : e.tasks) {
        if (t.removed) continue;
        TaskView tv;
        tv.peer = peer;
        tv.pending = t.pending;
        tv.full = t.full;
        tv.running = t.running;
        tv.running_priority = t.running_priority;
        if (t.lag_key) tv.oldest = *t.lag_key;
        tv.failures = t.failures;
        tv.not_before = t.not_before;
        tv.ever_synced = t.ever_synced;
        v.tasks.push_back(std::move(tv));
    }
    return v;
}

std::optional<DirtyState> Queue::dirtyState(const std::string& user) const {
    auto it = users_.find(user);
    if (it == users_.end()) return std::nullopt;
    const Entry& e = it->second;
    DirtyState d;
    d.user = e.user;
    std::optional<Time> oldest;
    auto take = [&](Priority p, Time t, bool full) {
        if (p == Priority::None) return;
        d.priority = maxPriority(d.priority, p);
        d.full = d.full || full;
        if (!oldest || t < *oldest) oldest = t;
    };
    take(e.pending, e.oldest, e.full);
    for (const auto& [peer, t] : e.tasks) {
        if (t.removed) continue;
        take(t.pending, t.oldest, t.full);
        if (t.running) take(t.running_priority, t.running_oldest, t.running_full);
    }
    if (d.priority == Priority::None) return std::nullopt;
    d.oldest = *oldest;
    return d;
}

void Queue::forEachDirty(const std::function<void(const DirtyState&)>& fn) const {
    for (const auto& [user, e] : users_) {
        if (auto d = dirtyState(user)) fn(*d);
    }
}

std::vector<std::string> Queue::peersOf(const std::string& user) const {
    std::vector<std::string> out;
    auto it = users_.find(user);
    if (it == users_.end() || it->second.placement != Placement::Known) return out;
    for (const auto& [peer, t] : it->second.tasks) {
        if (!t.removed) out.push_back(peer);
    }
    return out;
}

bool Queue::resolved(const std::string& user) const {
    auto it = users_.find(user);
    return it != users_.end() && it->second.placement == Placement::Known;
}

}  // namespace titan::replicator::queue
