// Per-user cache of mailbox lookups with a TTL, a short negative TTL and
// stale-if-error: an entry past its TTL is refetched, but may still be served
// (up to `stale_if_error` longer) while the database is failing. Bounded by
// max_entries (least recently used first out). Pure: `now` is always a parameter.
// Loop thread only. Layer: authd/core.
#pragma once

#include <chrono>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>

#include "authd/core/mailbox.h"

namespace titan::authd::core {

using TimePoint = std::chrono::steady_clock::time_point;

struct CacheOptions {
    std::chrono::milliseconds ttl{60000};
    std::chrono::milliseconds negative_ttl{5000};
    std::chrono::milliseconds stale_if_error{3600000};
    size_t max_entries = 1000000;
};

class UserCache {
public:
    enum class State { Fresh, Stale, Missing };
    struct Hit {
        State state = State::Missing;
        std::optional<Mailbox> mailbox;  // empty optional with Fresh = cached "no such user"
    };

    explicit UserCache(CacheOptions options) : options_(options) {}

    // Fresh: within TTL (negative TTL for "no such user"). Stale: a positive entry
    // past its TTL but within TTL + stale_if_error; serve it only if a refetch fails.
    // Missing: nothing usable (expired entries are dropped).
    Hit get(const std::string& user, TimePoint now);
    void put(const std::string& user, std::optional<Mailbox> mailbox, TimePoint now);
    void erase(const std::string& user);
    void clear();
    void setOptions(const CacheOptions& options) { options_ = options; }
    size_t size() const noexcept { return map_.size(); }
    unsigned long long evictions() const noexcept { return evictions_; }

private:
    struct Entry {
        std::optional<Mailbox> mailbox;
        TimePoint fetched;
        std::list<std::string>::iterator lru;
    };
    CacheOptions options_;
    std::unordered_map<std::string, Entry> map_;
    std::list<std::string> lru_;  // front = most recently used
    unsigned long long evictions_ = 0;
};

}  // namespace titan::authd::core
