#include "policyd/service/shared_state.h"

#include "common/log/log.h"

namespace titan::policyd {

SharedState::SharedState(store::Store& store, std::function<std::int64_t()> monotonic_ms)
    : store_(store), now_(std::move(monotonic_ms)) {}

void SharedState::configure(const CacheSettings& settings, const core::AddressOptions& address) {
    settings_ = settings;
    address_ = address;
}

void SharedState::refreshLists(std::function<void(bool)> done) {
    std::weak_ptr<bool> alive = alive_;
    store_.fetchLists([this, alive, done = std::move(done)](Result<std::vector<store::ListRow>> rows) {
        if (alive.expired()) return;
        if (!rows) {
            // Logged once per outage, not at every refresh.
            if (!lists_failing_) {
                log::warning("cannot load policy lists, keeping the previous ones", {{"error", rows.error().message}});
            }
            lists_failing_ = true;
            if (done) done(false);
            return;
        }
        if (lists_failing_) log::info("policy lists loaded again");
        lists_failing_ = false;
        auto snap = std::make_shared<ListSnapshot>();
        for (const auto& row : *rows) {
            core::ListEntries& target = row.list == "allow" ? snap->allow : snap->deny;
            if (auto st = core::addListEntry(target, row.kind, row.value, address_); !st) {
                log::warning("ignoring invalid policy_lists row",
                             {{"list", row.list}, {"kind", row.kind}, {"error", st.error().message}});
                continue;
            }
            ++snap->rows;
        }
        snap->loaded = true;
        lists_ = std::move(snap);
        if (done) done(true);
    });
}

void SharedState::refreshHolds(std::function<void(bool)> done) {
    std::weak_ptr<bool> alive = alive_;
    store_.fetchHolds([this, alive, done = std::move(done)](Result<std::vector<store::HoldRow>> rows) {
        if (alive.expired()) return;
        if (!rows) {
            if (done) done(false);
            return;
        }
        std::unordered_map<std::string, store::HoldRow> next;
        for (auto& row : *rows) next[row.user] = std::move(row);
        holds_ = std::move(next);
        if (done) done(true);
    });
}

void SharedState::senderLogins(const std::string& user, OwnedDone done) {
    const std::int64_t now = now_();
    auto it = owned_.find(user);
    if (it != owned_.end() && now - it->second.fetched < settings_.sender_login_ttl.count()) {
        done(it->second.addresses, false);
        return;
    }
    std::weak_ptr<bool> alive = alive_;
    store_.fetchSenderLogins(user, [this, alive, user, done = std::move(done)](Result<std::vector<std::string>> r) {
        if (alive.expired()) return;
        const std::int64_t at = now_();
        if (!r) {
            auto cached = owned_.find(user);
            if (cached != owned_.end() &&
                at - cached->second.fetched < settings_.sender_login_ttl.count() + settings_.sender_login_stale.count()) {
                done(cached->second.addresses, true);
                return;
            }
            done(std::move(r).error(), false);
            return;
        }
        auto addresses = std::make_shared<std::vector<std::string>>();
        for (const auto& a : *r) {
            if (a.empty()) continue;
            if (a.front() == '@') {
                addresses->push_back("@" + core::domainKey("x" + a));
            } else {
                addresses->push_back(core::addressKey(a, address_));
            }
        }
        if (owned_.size() >= settings_.sender_login_max_entries) owned_.clear();
        owned_[user] = Owned{addresses, at};
        done(std::shared_ptr<const std::vector<std::string>>(addresses), false);
    });
}

void SharedState::flushSenderLogins(const std::string& user) {
    if (user.empty()) owned_.clear();
    else owned_.erase(user);
}

}  // namespace titan::policyd

namespace titan::policyd {

std::optional<std::map<core::CounterKey, core::CounterState>> SharedState::cachedCounters(
    const std::vector<core::CounterKey>& keys) {
    if (settings_.counter_ttl.count() <= 0) return std::nullopt;
    const std::int64_t now = now_();
    std::map<core::CounterKey, core::CounterState> out;
    for (const auto& k : keys) {
        auto it = counters_.find(k);
        if (it == counters_.end() || now - it->second.fetched >= settings_.counter_ttl.count()) return std::nullopt;
        out[k] = it->second.state;
    }
    return out;
}

void SharedState::putCounters(const std::vector<core::CounterKey>& keys,
                              const std::map<core::CounterKey, core::CounterState>& states) {
    if (settings_.counter_ttl.count() <= 0) return;
    if (counters_.size() + keys.size() > settings_.max_cached_entries) counters_.clear();
    const std::int64_t now = now_();
    for (const auto& k : keys) {
        auto it = states.find(k);
        counters_[k] = CachedCounter{it == states.end() ? core::CounterState{} : it->second, now};
    }
}

void SharedState::putCounters(const std::map<core::CounterKey, core::CounterState>& states) {
    if (settings_.counter_ttl.count() <= 0) return;
    if (counters_.size() + states.size() > settings_.max_cached_entries) counters_.clear();
    const std::int64_t now = now_();
    for (const auto& [k, s] : states) counters_[k] = CachedCounter{s, now};
}

bool SharedState::greylistPassed(const std::string& triplet, const std::string& network, std::int64_t wall_now) {
    const std::int64_t now = now_();
    const std::int64_t ttl = settings_.greylist_pass_ttl.count();
    if (ttl <= 0) return false;
    if (auto it = allowed_.find(network); it != allowed_.end()) {
        if (now - it->second.first < ttl && it->second.second > wall_now) return true;
        allowed_.erase(it);
    }
    if (auto it = passed_.find(triplet); it != passed_.end()) {
        if (now - it->second < ttl) return true;
        passed_.erase(it);
    }
    return false;
}

void SharedState::putGreylistPass(const std::string& triplet) {
    if (settings_.greylist_pass_ttl.count() <= 0) return;
    if (passed_.size() >= settings_.max_cached_entries) passed_.clear();
    passed_[triplet] = now_();
}

void SharedState::putNetworkAllowed(const std::string& network, std::int64_t allowed_until) {
    if (settings_.greylist_pass_ttl.count() <= 0) return;
    if (allowed_.size() >= settings_.max_cached_entries) allowed_.clear();
    allowed_[network] = {now_(), allowed_until};
}

void SharedState::flushPolicyCaches() {
    counters_.clear();
    passed_.clear();
    allowed_.clear();
}

}  // namespace titan::policyd
