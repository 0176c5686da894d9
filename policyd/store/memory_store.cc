#include "policyd/store/memory_store.h"

#include <limits>
#include <memory>

namespace titan::policyd::store {

namespace {

core::WindowSpec guardWindow(const core::GuardRule& g) {
    return core::WindowSpec{std::numeric_limits<std::uint64_t>::max() / core::kMilli, g.window};
}

}  // namespace

template <class T>
void MemoryStore::complete(Done<T> done, Result<T> result) {
    ++operations;
    if (!available_) result = Error::unavailable("memory store: unavailable (test outage)");
    auto shared = std::make_shared<Result<T>>(std::move(result));
    queue_.push_back([done = std::move(done), shared]() mutable { done(std::move(*shared)); });
}

std::size_t MemoryStore::runPending() {
    std::size_t n = 0;
    while (!queue_.empty()) {
        auto f = std::move(queue_.front());
        queue_.pop_front();
        f();
        ++n;
    }
    return n;
}

void MemoryStore::fetchCounters(std::vector<CounterKey> keys, Done<std::map<CounterKey, CounterState>> done) {
    std::map<CounterKey, CounterState> out;
    for (const auto& k : keys) {
        if (auto it = counters.find(k); it != counters.end()) out[k] = it->second;
    }
    complete<std::map<CounterKey, CounterState>>(std::move(done), std::move(out));
}

void MemoryStore::greylist(GreylistRequest q, Done<GreylistResult> done) {
    if (!available_) return complete<GreylistResult>(std::move(done), Error::unavailable("outage"));
    auto key = std::make_tuple(q.rule, q.client_network, q.sender, q.recipient);
    std::optional<core::TripletState> triplet;
    if (auto it = triplets.find(key); it != triplets.end()) triplet = it->second;
    core::ClientState& client = clients[{q.rule, q.client_network}];
    GreylistResult out;
    out.decision = core::decideGreylist(q.params, triplet, client, q.now);
    if (out.decision.write_triplet) triplets[key] = out.decision.triplet;
    if (out.decision.first_pass) client = core::recordPass(q.params, client, q.now);
    out.client = client;
    complete<GreylistResult>(std::move(done), std::move(out));
}

void MemoryStore::endOfMessage(EomJob job, Done<EomResult> done) {
    if (!available_) return complete<EomResult>(std::move(done), Error::unavailable("outage"));
    EomResult out;
    out.charge = core::decideCharges(job.rates, counters, job.now);
    if (out.charge.accepted) {
        for (const auto& [k, s] : out.charge.updates) counters[k] = s;
        for (const auto& g : job.guards) {
            const auto& spec = std::get<core::GuardRule>(g.rule.spec);
            CounterKey k{g.rule.name, 0, g.user};
            counters[k] = core::charge(core::Algorithm::SlidingWindow, guardWindow(spec), counters[k], job.now, 1);
            for (const auto& d : g.domains) activity[{g.rule.name, g.user, 1, d}] = job.now;
            if (!g.network.empty()) activity[{g.rule.name, g.user, 2, g.network}] = job.now;
            GuardOutcome o;
            o.counts.messages =
                core::usageAt(core::Algorithm::SlidingWindow, guardWindow(spec), counters[k], job.now) / core::kMilli;
            for (const auto& [ak, seen] : activity) {
                if (std::get<0>(ak) != g.rule.name || std::get<1>(ak) != g.user) continue;
                if (seen <= job.now - spec.window.count()) continue;
                if (std::get<2>(ak) == 1) ++o.counts.recipient_domains;
                if (std::get<2>(ak) == 2) ++o.counts.client_networks;
            }
            o.trigger = core::guardTrigger(spec, o.counts);
            if (o.trigger && !g.rule.dry_run) {
                holds.try_emplace(g.user, HoldRow{g.user, g.rule.name, *o.trigger, job.now});
                o.held = true;
            }
            out.guards.push_back(std::move(o));
        }
    }
    complete<EomResult>(std::move(done), std::move(out));
}

void MemoryStore::fetchSenderLogins(std::string user, Done<std::vector<std::string>> done) {
    auto it = sender_logins.find(user);
    complete<std::vector<std::string>>(std::move(done),
                                       it == sender_logins.end() ? std::vector<std::string>{} : it->second);
}

void MemoryStore::fetchLists(Done<std::vector<ListRow>> done) {
    complete<std::vector<ListRow>>(std::move(done), lists);
}

void MemoryStore::fetchHolds(Done<std::vector<HoldRow>> done) {
    std::vector<HoldRow> out;
    for (const auto& [u, h] : holds) out.push_back(h);
    complete<std::vector<HoldRow>>(std::move(done), std::move(out));
}

void MemoryStore::cleanup(std::int64_t /*now*/, std::int64_t activity_before, Done<std::uint64_t> done) {
    std::uint64_t n = 0;
    for (auto it = activity.begin(); it != activity.end();) {
        if (it->second < activity_before) {
            it = activity.erase(it);
            ++n;
        } else {
            ++it;
        }
    }
    complete<std::uint64_t>(std::move(done), n);
}

}  // namespace titan::policyd::store
