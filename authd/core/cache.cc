#include "authd/core/cache.h"

namespace titan::authd::core {

UserCache::Hit UserCache::get(const std::string& user, TimePoint now) {
    auto it = map_.find(user);
    if (it == map_.end()) return {};
    Entry& e = it->second;
    auto age = now - e.fetched;
    bool negative = !e.mailbox.has_value();
    auto ttl = negative ? options_.negative_ttl : options_.ttl;
    if (age <= ttl) {
        lru_.splice(lru_.begin(), lru_, e.lru);
        return {State::Fresh, e.mailbox};
    }
    if (!negative && age <= ttl + options_.stale_if_error) {
        return {State::Stale, e.mailbox};
    }
    lru_.erase(e.lru);
    map_.erase(it);
    return {};
}

void UserCache::put(const std::string& user, std::optional<Mailbox> mailbox, TimePoint now) {
    if (options_.max_entries == 0) return;
    auto it = map_.find(user);
    if (it != map_.end()) {
        it->second.mailbox = std::move(mailbox);
        it->second.fetched = now;
        lru_.splice(lru_.begin(), lru_, it->second.lru);
        return;
    }
    while (map_.size() >= options_.max_entries && !lru_.empty()) {
        map_.erase(lru_.back());
        lru_.pop_back();
        ++evictions_;
    }
    lru_.push_front(user);
    map_.emplace(user, Entry{std::move(mailbox), now, lru_.begin()});
}

void UserCache::erase(const std::string& user) {
    auto it = map_.find(user);
    if (it == map_.end()) return;
    lru_.erase(it->second.lru);
    map_.erase(it);
}

void UserCache::clear() {
    map_.clear();
    lru_.clear();
}

}  // namespace titan::authd::core
