// What policyd keeps in memory between requests, all of it refreshed from the Store:
// the SQL allow/deny lists (reloaded every lists_refresh), the current holds (every
// holds_refresh, and at once when this node writes one), and a sender-login cache (TTL,
// stale-if-error). These bounds are the consistency bound of the cached facts across nodes.
// Counters and greylist triplets are never cached: they are read from the database on
// every request. Loop thread only. Layer: policyd/service.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
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
    bool lists_failing_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace titan::policyd
