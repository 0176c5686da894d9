// Postfix map lookups (domains, mailboxes, aliases, senders) for authd's socketmap
// server: canonical key -> the pure resolver in core/maps.h -> facts from a cache or the
// MapsStore. Each fact (one database row set, e.g. "aliases of @example.com") is cached
// once with TTL, negative TTL and stale-if-error, and shared by every map and every
// connection; concurrent fetches of the same fact are coalesced into one query.
// Loop thread only. Layer: authd service (core + store).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "authd/core/maps.h"
#include "authd/core/ttl_cache.h"
#include "authd/store/maps_store.h"
#include "common/metrics/metrics.h"

namespace titan::authd {

class MapLookup {
public:
    enum class Outcome { Found, NotFound, Unavailable };
    struct Answer {
        Outcome outcome = Outcome::NotFound;
        std::string data;    // Found: the value (never empty)
        bool stale = false;  // answered from cache entries past their TTL (database failing)
        std::string error;   // Unavailable: why, for the log
    };
    using Done = std::function<void(const Answer&)>;
    using NowFn = std::function<core::TimePoint()>;

    MapLookup(store::MapsStore& store, core::CacheOptions cache, core::maps::Settings settings,
              metrics::Registry& metrics, NowFn now = nullptr);
    ~MapLookup();
    MapLookup(const MapLookup&) = delete;
    MapLookup& operator=(const MapLookup&) = delete;

    // Answers `key` (as Postfix sent it) for `map`. A key that cannot be canonicalised is
    // NotFound. Unavailable when a needed fact could not be fetched and is not cached
    // (also when a NOTFOUND would rest on stale facts, see core/maps.h). `done` runs
    // exactly once: before lookup() returns when every fact is cached, else later on the
    // loop thread. Never called after the MapLookup is destroyed.
    void lookup(core::maps::MapKind map, std::string_view key, Done done);

    // Forget every cached fact (titanctl changes, `maps-flush` on the admin socket).
    void flush() { cache_.clear(); }
    // A mailbox row (canonical user) or a domain ("@domain") changed, as the auth_changes
    // log reports it: drop the mailbox fact, or everything for a domain (its mailboxes
    // depend on the domain being active).
    void invalidate(const std::string& user_or_domain);
    void reconfigure(const core::CacheOptions& cache, const core::maps::Settings& settings);
    size_t cacheSize() const noexcept { return cache_.size(); }
    const core::maps::Settings& settings() const noexcept { return settings_; }

private:
    struct Request;
    struct Known {
        core::maps::FactValue value;
        bool stale = false;
    };
    class Source;
    void step(const std::shared_ptr<Request>& r);
    void fetch(const std::shared_ptr<Request>& r, const core::maps::FactKey& fact);
    void onFetched(const std::string& cache_key, Result<core::maps::FactValue> result);
    void deliver(const std::shared_ptr<Request>& r, const std::string& cache_key, const Known* known,
                 const std::string& error);
    void finish(const std::shared_ptr<Request>& r, Answer answer);

    store::MapsStore& store_;
    core::TtlCache<std::vector<std::string>> cache_;
    core::maps::Settings settings_;
    NowFn now_;
    // cache key -> requests waiting for that fact
    std::unordered_map<std::string, std::vector<std::shared_ptr<Request>>> in_flight_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    metrics::Counter& hits_;
    metrics::Counter& misses_;
    metrics::Counter& stale_served_;
    metrics::Counter& coalesced_;
    metrics::Counter& backend_errors_;
    metrics::Counter& invalid_keys_;
    metrics::Counter& uncertain_;
};

}  // namespace titan::authd
