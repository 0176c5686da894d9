#include "authd/service/user_lookup.h"

#include "common/log/log.h"

namespace titan::authd {

UserLookup::UserLookup(store::Store& store, core::CacheOptions cache, identity::Options identity,
                       metrics::Registry& metrics, NowFn now)
    : store_(store),
      cache_(cache),
      identity_(identity),
      now_(now ? std::move(now) : [] { return std::chrono::steady_clock::now(); }),
      hits_(metrics.counter("authd_cache_lookups_total", "User lookups by cache result", "result=\"hit\"")),
      misses_(metrics.counter("authd_cache_lookups_total", "User lookups by cache result", "result=\"miss\"")),
      stale_served_(metrics.counter("authd_cache_stale_served_total",
                                    "Lookups answered from a stale cache entry because the database failed")),
      coalesced_(metrics.counter("authd_lookups_coalesced_total",
                                 "Lookups that joined a database query already in flight for the same user")),
      backend_errors_(metrics.counter("authd_backend_errors_total", "Database lookups that failed")),
      invalid_names_(metrics.counter("authd_invalid_user_names_total",
                                     "Lookups refused because the user name was malformed")) {
    metrics.gaugeFunction("authd_cache_entries", "Entries in the user cache", "",
                          [this] { return static_cast<double>(cache_.size()); });
}

void UserLookup::reconfigure(const core::CacheOptions& cache, const identity::Options& identity) {
    cache_.setOptions(cache);
    identity_ = identity;
}

void UserLookup::lookup(std::string_view raw_user, Done done) {
    auto canonical = identity::canonicalUser(raw_user, identity_);
    if (!canonical) {
        invalid_names_.inc();
        log::debug("malformed user name", {{"error", canonical.error().message}});
        done(Answer{Outcome::NotFound, std::nullopt, false, {}});
        return;
    }
    const std::string& user = *canonical;
    auto hit = cache_.get(user, now_());
    if (hit.state == core::UserCache::State::Fresh) {
        hits_.inc();
        done(hit.mailbox ? Answer{Outcome::Found, hit.mailbox, false, {}} : Answer{});
        return;
    }
    misses_.inc();
    auto [it, inserted] = in_flight_.try_emplace(user);
    it->second.push_back(std::move(done));
    if (!inserted) {
        coalesced_.inc();
        return;
    }
    std::weak_ptr<bool> alive = alive_;
    store_.fetchMailbox(user, [this, alive, user](Result<std::optional<core::Mailbox>> result) {
        if (alive.expired()) return;
        onFetched(user, std::move(result));
    });
}

void UserLookup::onFetched(const std::string& user, Result<std::optional<core::Mailbox>> result) {
    auto node = in_flight_.extract(user);
    if (node.empty()) return;
    std::vector<Done> waiters = std::move(node.mapped());
    Answer answer;
    if (result.ok()) {
        cache_.put(user, *result, now_());
        if (*result) answer = Answer{Outcome::Found, *result, false, {}};
    } else {
        backend_errors_.inc();
        auto hit = cache_.get(user, now_());
        if (hit.state != core::UserCache::State::Missing && hit.mailbox) {
            stale_served_.inc();
            log::warning("database failed, serving cached user",
                         {{"user", user}, {"error", result.error().message}});
            answer = Answer{Outcome::Found, hit.mailbox, true, {}};
        } else {
            log::warning("database failed, user lookup unavailable",
                         {{"user", user}, {"error", result.error().message}});
            answer = Answer{Outcome::Unavailable, std::nullopt, false, result.error().message};
        }
    }
    for (auto& w : waiters) w(answer);
}

}  // namespace titan::authd

