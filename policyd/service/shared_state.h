// What policyd keeps in memory between requests, all of it refreshed from the Store:
// the SQL allow/deny lists (reloaded every lists_refresh), the current holds (every
// holds_refresh, and at once when this node writes one), a sender-login cache (TTL,
// stale-if-error), counter states for RCPT/DATA checks (counter_ttl; this node's own
// charges are written through) and greylist passes (greylist_pass_ttl). These TTLs are
// the consistency bounds of cached facts across nodes; END-OF-MESSAGE charges always
// lock and read the database. Loop thread only. Layer: policyd/service.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "policyd/core/rules.h"
#include "policyd/store/store.h"

namespace titan::policyd {

struct CacheSettings {
    std::chrono::milliseconds lists_refresh{10000};
    std::chrono::milliseconds holds_refresh{2000};
    std::chrono::milliseconds sender_login_ttl{60000};
    std::chrono::milliseconds sender_login_stale{3600000};  // served when the database fails
    std::size_t sender_login_max_entries = 100000;
    // RCPT/DATA rate checks read counters through this cache (END-OF-MESSAGE charges are
    // always exact and update it); 0 reads the database every time.
    std::chrono::milliseconds counter_ttl{1000};
    // A greylist triplet (or auto-allowed network) that passed is answered from memory
    // for this long before the database is asked (and its last_seen refreshed) again.
    std::chrono::milliseconds greylist_pass_ttl{600000};
    std::size_t max_cached_entries = 1000000;  // per cache; a full cache is emptied
};

struct ListSnapshot {
    core::ListEntries allow;
    core::ListEntries deny;
    std::size_t rows = 0;
    bool loaded = false;  // at least one successful load
};

class SharedState {
public:
    // `now` returns monotonic milliseconds (cache ages).
    SharedState(store::Store& store, std::function<std::int64_t()> monotonic_ms);

    void configure(const CacheSettings& settings, const core::AddressOptions& address);

    // Reloads lists / holds from the store; `done(ok)` runs when the answer is in.
    void refreshLists(std::function<void(bool)> done = {});
    void refreshHolds(std::function<void(bool)> done = {});

    std::shared_ptr<const ListSnapshot> lists() const { return lists_; }
    bool held(const std::string& user) const { return holds_.count(user) != 0; }
    void addHold(const store::HoldRow& row) { holds_[row.user] = row; }
    std::size_t holdCount() const { return holds_.size(); }

    // Owned sender addresses of a canonical login (addressKey-normalised, "@domain" kept),
    // from the cache or the store. `done` may run inside the call (cache hit). On a store
    // failure a stale entry is served up to sender_login_stale; otherwise the error.
    using OwnedDone = std::function<void(Result<std::shared_ptr<const std::vector<std::string>>>, bool stale)>;
    void senderLogins(const std::string& user, OwnedDone done);
    void flushSenderLogins(const std::string& user = {});

    // Counter states fresh within counter_ttl, for every key, or nullopt (then fetch all).
    std::optional<std::map<core::CounterKey, core::CounterState>> cachedCounters(
        const std::vector<core::CounterKey>& keys);
    // Remember states read or written; keys absent from `states` are stored as unused.
    void putCounters(const std::vector<core::CounterKey>& keys,
                     const std::map<core::CounterKey, core::CounterState>& states);
    void putCounters(const std::map<core::CounterKey, core::CounterState>& states);

    // Greylisting passes: a triplet key ("rule\nnet\nsender\nrecipient") or a network key
    // ("rule\nnet") that passed within greylist_pass_ttl (networks: and are still allowed).
    bool greylistPassed(const std::string& triplet, const std::string& network, std::int64_t wall_now);
    void putGreylistPass(const std::string& triplet);
    void putNetworkAllowed(const std::string& network, std::int64_t allowed_until);
    void flushPolicyCaches();

private:
    struct Owned {
        std::shared_ptr<const std::vector<std::string>> addresses;
        std::int64_t fetched = 0;
    };
    store::Store& store_;
    std::function<std::int64_t()> now_;
    CacheSettings settings_;
    core::AddressOptions address_;
    std::shared_ptr<const ListSnapshot> lists_ = std::make_shared<ListSnapshot>();
    std::unordered_map<std::string, store::HoldRow> holds_;
    std::unordered_map<std::string, Owned> owned_;
    struct CachedCounter {
        core::CounterState state;
        std::int64_t fetched = 0;
    };
    std::map<core::CounterKey, CachedCounter> counters_;
    std::unordered_map<std::string, std::int64_t> passed_;           // triplet -> cached at
    std::unordered_map<std::string, std::pair<std::int64_t, std::int64_t>> allowed_;  // net -> (cached at, until)
    bool lists_failing_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace titan::policyd
