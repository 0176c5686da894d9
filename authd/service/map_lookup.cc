#include "authd/service/map_lookup.h"

#include "common/log/log.h"

namespace titan::authd {

namespace maps = core::maps;

namespace {
// Rounds of fetching one resolution may take (the resolvers need at most 3 or 4).
constexpr int kMaxRounds = 8;
}  // namespace

struct MapLookup::Request {
    maps::Query query;
    Done done;
    std::unordered_map<std::string, Known> facts;  // fetched for this request
    size_t outstanding = 0;
    int rounds = 0;
    bool in_step = false;
    bool finished = false;
};

// Facts for one resolve() call: those fetched for the request first (they may be stale
// entries served because the database failed, or uncacheable with max_entries 0), then
// fresh cache entries.
class MapLookup::Source : public maps::FactSource {
public:
    Source(MapLookup& self, Request& r, core::TimePoint now) : self_(self), r_(r), now_(now) {}

    const maps::FactValue* find(maps::FactKind kind, std::string_view key, bool* stale) override {
        key_ = maps::factCacheKey(kind, key);
        if (auto it = r_.facts.find(key_); it != r_.facts.end()) {
            *stale = it->second.stale;
            return &it->second.value;
        }
        auto hit = self_.cache_.get(key_, now_);
        if (hit.state == core::TtlCache<std::vector<std::string>>::State::Fresh) {
            self_.hits_.inc();
            *stale = false;
            return hit.value;
        }
        return nullptr;
    }

private:
    MapLookup& self_;
    Request& r_;
    core::TimePoint now_;
    std::string key_;
};

MapLookup::MapLookup(store::MapsStore& store, core::CacheOptions cache, maps::Settings settings,
                     metrics::Registry& metrics, NowFn now)
    : store_(store),
      cache_(cache, /*serve_negative_stale=*/true),
      settings_(std::move(settings)),
      now_(now ? std::move(now) : [] { return std::chrono::steady_clock::now(); }),
      hits_(metrics.counter("authd_maps_cache_lookups_total", "Map facts looked up in the cache, by result",
                            "result=\"hit\"")),
      misses_(metrics.counter("authd_maps_cache_lookups_total", "Map facts looked up in the cache, by result",
                              "result=\"miss\"")),
      stale_served_(metrics.counter("authd_maps_cache_stale_served_total",
                                    "Map facts served from a stale cache entry because the database failed")),
      coalesced_(metrics.counter("authd_maps_fetches_coalesced_total",
                                 "Map fact fetches that joined a database query already in flight")),
      backend_errors_(metrics.counter("authd_maps_backend_errors_total", "Map fact database queries that failed")),
      invalid_keys_(metrics.counter("authd_maps_invalid_keys_total",
                                    "Map keys answered not found because they cannot be canonicalised")),
      uncertain_(metrics.counter("authd_maps_uncertain_total",
                                 "Map lookups answered temporarily failed because a not-found rested on stale facts")) {
    metrics.gaugeFunction("authd_maps_cache_entries", "Entries in the map fact cache", "",
                          [this] { return static_cast<double>(cache_.size()); });
}

MapLookup::~MapLookup() { *alive_ = false; }

void MapLookup::reconfigure(const core::CacheOptions& cache, const maps::Settings& settings) {
    cache_.setOptions(cache);
    settings_ = settings;
}

void MapLookup::invalidate(const std::string& user_or_domain) {
    if (user_or_domain.empty()) return;
    if (user_or_domain.front() == '@') {
        cache_.clear();
        return;
    }
    cache_.erase(maps::factCacheKey(maps::FactKind::Mailbox, user_or_domain));
}

void MapLookup::lookup(maps::MapKind map, std::string_view key, Done done) {
    auto parsed = maps::parseQuery(map, key, settings_);
    if (std::holds_alternative<maps::Answer>(parsed)) {
        invalid_keys_.inc();
        done(Answer{});
        return;
    }
    // Most lookups are answered from fresh cache entries: try that without allocating.
    Request probe;
    probe.query = std::move(std::get<maps::Query>(parsed));
    Source source(*this, probe, now_());
    auto first = maps::resolve(probe.query, source, settings_);
    if (auto* a = std::get_if<maps::Answer>(&first); a != nullptr && (a->found || !a->uncertain)) {
        done(Answer{a->found ? Outcome::Found : Outcome::NotFound, std::move(a->data), a->stale, {}});
        return;
    }
    auto r = std::make_shared<Request>();
    r->query = std::move(probe.query);
    r->done = std::move(done);
    step(r);
}

void MapLookup::step(const std::shared_ptr<Request>& r) {
    r->in_step = true;
    while (!r->finished) {
        if (++r->rounds > kMaxRounds) {
            log::error("map resolution did not finish", {{"map", maps::mapKindName(r->query.map)}});
            finish(r, Answer{Outcome::Unavailable, {}, false, "internal: map resolution did not finish"});
            break;
        }
        Source source(*this, *r, now_());
        auto next = maps::resolve(r->query, source, settings_);
        if (auto* a = std::get_if<maps::Answer>(&next)) {
            if (a->found) {
                finish(r, Answer{Outcome::Found, std::move(a->data), a->stale, {}});
            } else if (a->uncertain) {
                uncertain_.inc();
                finish(r, Answer{Outcome::Unavailable, {}, true,
                                 "not found in stale cache entries while the database is unavailable"});
            } else {
                finish(r, Answer{Outcome::NotFound, {}, a->stale, {}});
            }
            break;
        }
        const auto& need = std::get<maps::Need>(next).facts;
        r->outstanding = need.size();
        for (const auto& fact : need) {
            if (r->finished) break;
            fetch(r, fact);
        }
        if (r->outstanding > 0) break;  // onFetched continues
    }
    r->in_step = false;
}

void MapLookup::fetch(const std::shared_ptr<Request>& r, const maps::FactKey& fact) {
    std::string key = maps::factCacheKey(fact.kind, fact.key);
    auto [it, inserted] = in_flight_.try_emplace(key);
    it->second.push_back(r);
    if (!inserted) {
        coalesced_.inc();
        return;
    }
    misses_.inc();
    std::weak_ptr<bool> alive = alive_;
    auto done = [this, alive, key](Result<maps::FactValue> result) {
        if (alive.expired() || !*alive.lock()) return;
        onFetched(key, std::move(result));
    };
    using List = std::optional<std::vector<std::string>>;
    switch (fact.kind) {
        case maps::FactKind::Domain:
            store_.fetchDomain(fact.key, [done](Result<std::optional<store::DomainEntry>> row) {
                if (!row) return done(std::move(row).error());
                if (!*row) return done(maps::FactValue{});
                done(maps::FactValue(std::vector<std::string>{(*row)->alias_for}));
            });
            break;
        case maps::FactKind::Mailbox:
            store_.fetchMailbox(fact.key, [done](Result<std::optional<std::string>> row) {
                if (!row) return done(std::move(row).error());
                if (!*row) return done(maps::FactValue{});
                done(maps::FactValue(std::vector<std::string>{std::move(**row)}));
            });
            break;
        case maps::FactKind::Aliases:
            store_.fetchAliases(fact.key, [done](Result<List> rows) { done(std::move(rows)); });
            break;
        case maps::FactKind::SenderLogins:
            store_.fetchSenderLogins(fact.key, [done](Result<List> rows) { done(std::move(rows)); });
            break;
    }
}

void MapLookup::onFetched(const std::string& cache_key, Result<maps::FactValue> result) {
    auto node = in_flight_.extract(cache_key);
    if (node.empty()) return;
    std::vector<std::shared_ptr<Request>> waiters = std::move(node.mapped());
    Known known;
    std::string error;
    bool ok = true;
    if (result.ok()) {
        known.value = *result;
        cache_.put(cache_key, std::move(*result), now_());
    } else {
        backend_errors_.inc();
        auto hit = cache_.get(cache_key, now_());
        if (hit.state != core::TtlCache<std::vector<std::string>>::State::Missing) {
            stale_served_.inc();
            known.value = *hit.value;
            known.stale = hit.state == core::TtlCache<std::vector<std::string>>::State::Stale;
            log::warning("database failed, serving cached map entry",
                         {{"fact", cache_key}, {"error", result.error().message}});
        } else {
            ok = false;
            error = result.error().message;
            log::warning("database failed, map lookup unavailable", {{"fact", cache_key}, {"error", error}});
        }
    }
    for (const auto& r : waiters) deliver(r, cache_key, ok ? &known : nullptr, error);
}

void MapLookup::deliver(const std::shared_ptr<Request>& r, const std::string& cache_key, const Known* known,
                        const std::string& error) {
    if (r->finished) return;
    if (known == nullptr) {
        finish(r, Answer{Outcome::Unavailable, {}, false, error});
        return;
    }
    r->facts[cache_key] = *known;
    if (r->outstanding > 0) --r->outstanding;
    if (r->outstanding == 0 && !r->in_step) step(r);
}

void MapLookup::finish(const std::shared_ptr<Request>& r, Answer answer) {
    if (r->finished) return;
    r->finished = true;
    Done done = std::move(r->done);
    done(answer);
}

}  // namespace titan::authd
