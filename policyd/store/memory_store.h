// In-memory policyd Store for unit tests: the same decisions as MysqlStore (it calls the
// same core functions), completions queued until runPending() so tests control when they
// arrive, and an outage switch. Single-threaded. Layer: policyd/store.
#pragma once

#include <deque>
#include <map>
#include <set>
#include <tuple>

#include "policyd/store/store.h"

namespace titan::policyd::store {

class MemoryStore : public Store {
public:
    void fetchCounters(std::vector<CounterKey> keys, Done<std::map<CounterKey, CounterState>> done) override;
    void greylist(GreylistRequest request, Done<GreylistResult> done) override;
    void endOfMessage(EomJob job, Done<EomResult> done) override;
    void fetchSenderLogins(std::string user, Done<std::vector<std::string>> done) override;
    void fetchLists(Done<std::vector<ListRow>> done) override;
    void fetchHolds(Done<std::vector<HoldRow>> done) override;
    void cleanup(std::int64_t now, std::int64_t activity_before, Done<std::uint64_t> done) override;

    // Delivers queued completions (and those they queue) in order; returns how many ran.
    std::size_t runPending();
    std::size_t queued() const { return queue_.size(); }
    // While false, every operation completes with Unavailable.
    void setAvailable(bool available) { available_ = available; }

    // Test data.
    std::map<CounterKey, CounterState> counters;
    std::map<std::string, std::vector<std::string>> sender_logins;  // user -> addresses
    std::vector<ListRow> lists;
    std::map<std::string, HoldRow> holds;
    std::map<std::tuple<std::string, std::string, std::string, std::string>, core::TripletState> triplets;
    std::map<std::pair<std::string, std::string>, core::ClientState> clients;
    // (rule, user, kind, value) -> last seen
    std::map<std::tuple<std::string, std::string, int, std::string>, std::int64_t> activity;
    std::size_t operations = 0;

private:
    template <class T>
    void complete(Done<T> done, Result<T> result);
    std::deque<std::function<void()>> queue_;
    bool available_ = true;
};

}  // namespace titan::policyd::store
