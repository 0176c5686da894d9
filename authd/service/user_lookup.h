// User lookups shared by every authd front end (dict, and later SASL, socketmap,
// HTTP): canonical name → cache → store, with request coalescing (one database
// query per user however many connections ask at once) and stale-if-error.
// Loop thread only. Layer: authd service (core + store).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "authd/core/cache.h"
#include "authd/store/store.h"
#include "common/identity/identity.h"
#include "common/metrics/metrics.h"

namespace titan::authd {

class UserLookup {
public:
    enum class Outcome { Found, NotFound, Unavailable };
    struct Answer {
        Outcome outcome = Outcome::NotFound;
        std::optional<core::Mailbox> mailbox;  // set when Found
        bool stale = false;                    // served from cache while the database failed
        std::string error;                     // set when Unavailable
    };
    using Done = std::function<void(const Answer&)>;
    using NowFn = std::function<core::TimePoint()>;

    UserLookup(store::Store& store, core::CacheOptions cache, identity::Options identity,
               metrics::Registry& metrics, NowFn now = nullptr);

    // Resolve a user name as typed. A malformed name is NotFound (logged at debug).
    // `done` may run before lookup() returns (cache hit) or later on the loop thread.
    void lookup(std::string_view raw_user, Done done);

    void invalidate(const std::string& canonical_user) { cache_.erase(canonical_user); }
    void flush() { cache_.clear(); }
    void reconfigure(const core::CacheOptions& cache, const identity::Options& identity);
    size_t cacheSize() const noexcept { return cache_.size(); }
    const identity::Options& identityOptions() const noexcept { return identity_; }

private:
    void onFetched(const std::string& user, Result<std::optional<core::Mailbox>> result);

    store::Store& store_;
    core::UserCache cache_;
    identity::Options identity_;
    NowFn now_;
    std::unordered_map<std::string, std::vector<Done>> in_flight_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    metrics::Counter& hits_;
    metrics::Counter& misses_;
    metrics::Counter& stale_served_;
    metrics::Counter& coalesced_;
    metrics::Counter& backend_errors_;
    metrics::Counter& invalid_names_;
};

}  // namespace titan::authd
