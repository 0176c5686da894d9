// A string-keyed cache of lookup results with a TTL, a short negative TTL and
// stale-if-error, bounded by max_entries (least recently used first out): the rules of
// UserCache (cache.h), generalised over the cached value. `std::nullopt` is a cached
// "no such row". Whether a negative entry may be served stale is chosen per cache:
// recipient maps need it (a known mailbox keeps receiving while the database is down),
// user logins do not. Pure: `now` is always a parameter. Loop thread only.
// Layer: authd/core.
#pragma once

#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "authd/core/cache.h"

namespace titan::authd::core {

template <typename V>
class TtlCache {
public:
    enum class State { Fresh, Stale, Missing };
    struct Hit {
        State state = State::Missing;
        // Fresh or Stale: the cached value (nullopt = cached "not found"). Points into the
        // cache: valid until the next put(), erase(), clear() or get() of another key.
        const std::optional<V>* value = nullptr;
    };

    TtlCache(CacheOptions options, bool serve_negative_stale)
        : options_(options), serve_negative_stale_(serve_negative_stale) {}

    // Fresh: within TTL (negative_ttl for "not found"). Stale: past its TTL but within
    // TTL + stale_if_error (negative entries only with serve_negative_stale); serve it
    // only if a refetch fails. Missing: nothing usable (an expired entry is dropped).
    Hit get(const std::string& key, TimePoint now) {
        auto it = map_.find(key);
        if (it == map_.end()) return {};
        Entry& e = it->second;
        const auto age = now - e.fetched;
        const bool negative = !e.value.has_value();
        const auto ttl = negative ? options_.negative_ttl : options_.ttl;
        if (age <= ttl) {
            lru_.splice(lru_.begin(), lru_, e.lru);
            return {State::Fresh, &e.value};
        }
        if ((!negative || serve_negative_stale_) && age <= ttl + options_.stale_if_error) {
            return {State::Stale, &e.value};
        }
        lru_.erase(e.lru);
        map_.erase(it);
        return {};
    }

    void put(const std::string& key, std::optional<V> value, TimePoint now) {
        if (options_.max_entries == 0) return;
        auto it = map_.find(key);
        if (it != map_.end()) {
            it->second.value = std::move(value);
            it->second.fetched = now;
            lru_.splice(lru_.begin(), lru_, it->second.lru);
            return;
        }
        while (map_.size() >= options_.max_entries && !lru_.empty()) {
            map_.erase(lru_.back());
            lru_.pop_back();
            ++evictions_;
        }
        lru_.push_front(key);
        map_.emplace(key, Entry{std::move(value), now, lru_.begin()});
    }

    void erase(const std::string& key) {
        auto it = map_.find(key);
        if (it == map_.end()) return;
        lru_.erase(it->second.lru);
        map_.erase(it);
    }

    void clear() {
        map_.clear();
        lru_.clear();
    }

    void setOptions(const CacheOptions& options) { options_ = options; }
    size_t size() const noexcept { return map_.size(); }
    unsigned long long evictions() const noexcept { return evictions_; }

private:
    struct Entry {
        std::optional<V> value;
        TimePoint fetched;
        std::list<std::string>::iterator lru;
    };
    CacheOptions options_;
    bool serve_negative_stale_;
    std::unordered_map<std::string, Entry> map_;
    std::list<std::string> lru_;  // front = most recently used
    unsigned long long evictions_ = 0;
};

}  // namespace titan::authd::core
