// The replication queue: which user must be synced to which peer site, how urgently,
// since when, and which syncs are running. One entry per user (deduplicated), with one
// task per peer, so a peer that is down never holds back the others.
// Pure: no I/O, no clock reads (every call takes `now`), no randomness, no logging; the
// caller persists what the queue says must be journaled and turns results into logs
// and metrics. Not thread-safe. Layer: replicator/queue (standard library only).
//
// Life of a user:
//   change()    -> the user is dirty at a priority; placement unknown
//   takeUnresolved()/setPeers() -> the caller looked up the user's sites: one task per peer
//   next()      -> a task starts (its pending priority is cleared: a change arriving
//                  while it runs makes it pending again, so it runs one more round)
//   finish()    -> success, run again, failed (retry later) or peer down
//   when no task is pending or running, the user leaves the queue (journal: clean).
// Order of next(): priority sync > high > low > full; a task waiting longer than
// starvation_after ranks as high; within a rank, never-synced (user, peer) pairs
// first, then the oldest unreplicated change first.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace titan::replicator::queue {

// Wall-clock milliseconds: change times survive restarts through the journal.
using Time = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

enum class Priority : std::uint8_t { None = 0, Full = 1, Low = 2, High = 3, Sync = 4 };
inline constexpr std::size_t kPriorityCount = 5;

// "none", "full", "low", "high", "sync".
const char* priorityName(Priority p) noexcept;
// The inverse of priorityName (exact, lower case); nullopt otherwise.
std::optional<Priority> parsePriority(std::string_view name) noexcept;
constexpr Priority maxPriority(Priority a, Priority b) noexcept { return a < b ? b : a; }

struct Limits {
    std::size_t max_users = 1000000;  // users in the queue; change() refuses new ones beyond
    std::chrono::milliseconds starvation_after{std::chrono::minutes(5)};
};

// What the caller knows about one of the user's peers when it resolves the placement.
struct PeerInfo {
    std::string peer;
    bool ever_synced = false;  // a sync of this (user, peer) pair succeeded before
};

// One sync to run: user to peer. `started` is `now` of next(); `oldest` the oldest
// change it covers; failures/again count the consecutive failed / run-again rounds
// before this one.
struct Job {
    std::string user;
    std::string peer;
    Priority priority = Priority::None;
    bool full = false;
    Time oldest{};
    Time started{};
    unsigned failures = 0;
    unsigned again = 0;
    bool ever_synced = false;
};

enum class Outcome {
    Success,   // the peer has every change up to job.started
    RunAgain,  // dsync exit 2 (or a repaired conflict): run again now
    Failed,    // this user failed: retry at retry_at (caller's backoff)
    PeerDown,  // the peer failed: pending again, the peer's breaker decides when
};

struct ChangeResult {
    bool accepted = false;  // false: queue full (max_users) and the user was not queued
    bool journal = false;   // write the user's durable record (dirtyState) now
};

// The durable part of a queued user: what a restart must restore.
struct DirtyState {
    std::string user;
    Priority priority = Priority::None;
    Time oldest{};
    bool full = false;
};

struct PeerDepth {
    std::array<std::size_t, kPriorityCount> ready{};  // by pending priority
    std::size_t delayed = 0;                          // waiting for a retry time
    std::size_t running = 0;
    std::optional<Time> oldest;  // oldest unreplicated change among its tasks
};

// One task as seen by status commands.
struct TaskView {
    std::string peer;
    Priority pending = Priority::None;
    bool full = false;
    bool running = false;
    Priority running_priority = Priority::None;
    std::optional<Time> oldest;
    unsigned failures = 0;
    Time not_before{};
    bool ever_synced = false;
};

struct UserView {
    std::string user;
    Priority unresolved = Priority::None;  // pending before the placement is known
    bool resolving = false;
    std::vector<TaskView> tasks;
};

class Queue {
public:
    explicit Queue(Limits limits = {});

    void setLimits(const Limits& limits) { limits_ = limits; }
    const Limits& limits() const noexcept { return limits_; }

    // A change for `user` (canonical name) at `priority` (not None). A new user starts
    // with its placement unknown; a known one gets the priority on every task. `full`
    // asks for a full (not incremental) sync. `journal` is true when the durable record
    // must be written: a new user, a higher priority, or full newly requested, except
    // for Priority::Full, which the caller's sweep re-creates after a restart.
    ChangeResult change(const std::string& user, Priority priority, Time now, bool full = false);

    // Re-creates a user from the journal at start-up (journal record already written).
    // False when the queue is full or the priority is None.
    bool restore(const DirtyState& state);

    // Up to `max` users whose placement must be looked up (oldest change first, retry
    // time passed); they are marked resolving until setPeers() or resolveFailed().
    std::vector<std::string> takeUnresolved(Time now, std::size_t max);

    // The user's peers (its sites other than the local one). Its pending work moves to
    // one task per peer; tasks of peers no longer listed are dropped (a running one
    // when it finishes). Returns true when the user left the queue with a journal
    // record to clear (no peer: nothing to do). Ignored (false) for a user not queued.
    bool setPeers(const std::string& user, const std::vector<PeerInfo>& peers, Time now);

    // The placement lookup failed: try again at retry_at.
    void resolveFailed(const std::string& user, Time retry_at);

    // Removes the user (deleted, not replicated). A running job's finish() is then
    // ignored. Returns false when the user was not queued.
    bool drop(const std::string& user);

    // The next task to run, or nullopt. can_run(peer, priority) says whether the peer
    // may start a sync of that priority now (breaker, pause, concurrency limits).
    // The task is marked running until finish().
    std::optional<Job> next(Time now, const std::function<bool(const std::string&, Priority)>& can_run);

    // Result of a job from next(). retry_at is used for Outcome::Failed. Returns true
    // when the user left the queue and its journal record must be cleared (it had one).
    bool finish(const Job& job, Outcome outcome, Time now, Time retry_at);

    // ---- introspection ----------------------------------------------------------
    bool contains(const std::string& user) const { return users_.count(user) != 0; }
    std::size_t users() const noexcept { return users_.size(); }
    std::size_t running() const noexcept { return running_; }
    // Users whose placement is not known yet, by pending priority.
    std::array<std::size_t, kPriorityCount> unresolvedDepth() const;
    // Per peer that has or had tasks.
    std::map<std::string, PeerDepth> depthByPeer() const;
    // Oldest unreplicated change of any queued user (also unresolved ones).
    std::optional<Time> oldestChange() const;
    // The earliest time a delayed task or placement retry becomes due.
    std::optional<Time> nextWakeup() const;
    std::optional<UserView> view(const std::string& user) const;
    // Every queued user's durable record (for journal compaction), in no set order.
    void forEachDirty(const std::function<void(const DirtyState&)>& fn) const;
    // The durable record of one queued user.
    std::optional<DirtyState> dirtyState(const std::string& user) const;
    // The peers of a user whose placement is known (empty otherwise).
    std::vector<std::string> peersOf(const std::string& user) const;
    // True when the user's placement is known.
    bool resolved(const std::string& user) const;

private:
    struct ReadyKey {
        bool synced;  // false sorts first: never-synced pairs go first
        Time oldest;
        std::uint64_t seq;
        std::string user;
        auto operator<=>(const ReadyKey&) const = default;
    };
    struct Task {
        Priority pending = Priority::None;
        bool full = false;
        Time oldest{};  // oldest change pending (valid when pending != None)
        bool running = false;
        Priority running_priority = Priority::None;
        bool running_full = false;
        Time running_oldest{};
        bool removed = false;  // peer left the placement while running
        bool ever_synced = false;
        unsigned failures = 0;
        unsigned again = 0;
        Time not_before{};
        std::uint64_t seq = 0;
        // Index membership, so the entry can be found and erased.
        enum class Slot : std::uint8_t { None, Ready, Delayed } slot = Slot::None;
        Priority slot_priority = Priority::None;
        ReadyKey ready_key{};
        Time delayed_key{};
        std::optional<Time> lag_key;
    };
    enum class Placement : std::uint8_t { Unknown, Resolving, Known };
    struct Entry {
        std::string user;
        Priority pending = Priority::None;  // not yet given to tasks (placement unknown)
        bool full = false;
        Time oldest{};
        Placement placement = Placement::Unknown;
        Time resolve_at{};
        Priority journaled = Priority::None;
        bool journaled_full = false;
        std::map<std::string, Task> tasks;
        // Unresolved index membership: 0 none, 1 ready (key oldest), 2 delayed (key resolve_at).
        int unresolved_slot = 0;
        Time unresolved_key{};
        std::optional<Time> unresolved_lag;
    };
    struct PeerIndex {
        std::array<std::set<ReadyKey>, kPriorityCount> ready;
        std::set<std::tuple<Time, std::uint64_t, std::string>> delayed;
        std::set<std::pair<Time, std::string>> lag;  // (oldest change, user) of dirty tasks
        std::size_t running = 0;
    };

    void addPending(Entry& e, Task& t, Priority p, Time oldest, bool full);
    void reindex(Entry& e, const std::string& peer, Task& t, Time now);
    void unindex(const std::string& user, const std::string& peer, Task& t);
    void reindexUnresolved(Entry& e);
    void unindexUnresolved(Entry& e);
    bool settle(const std::string& user);  // erases a clean entry; true if it had a journal record
    void promoteUnresolved(Time now);
    Priority effective(Priority p, Time oldest, Time now) const;
    void promote(PeerIndex& index, const std::string& peer, Time now);

    Limits limits_;
    std::unordered_map<std::string, Entry> users_;
    std::map<std::string, PeerIndex> peers_;
    // Users with pending work and unknown placement: ready (by oldest change) and
    // waiting for their lookup time; resolving ones are in neither.
    std::set<std::pair<Time, std::string>> unresolved_ready_;
    std::set<std::pair<Time, std::string>> unresolved_delayed_;
    std::set<std::pair<Time, std::string>> unresolved_lag_;  // every unresolved user, by oldest change
    std::size_t running_ = 0;
    std::uint64_t seq_ = 0;
};

}  // namespace titan::replicator::queue
