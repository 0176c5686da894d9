// policyd's shared state, kept in MariaDB so every policyd node enforces one limit:
// rate counters, greylist triplets and auto-allowed networks, list entries, sender logins,
// account-guard activity, holds and their audit trail. Asynchronous: every completion runs
// later on the loop thread, never inside the call (STYLE 3.3). Errors: Unavailable when the
// database cannot answer (the evaluator then applies the rule's fail action), Internal for
// bugs. Implementations: MysqlStore (production), MemoryStore (unit tests).
// Layer: policyd/store.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "policyd/core/engine.h"

namespace titan::policyd::store {

using core::CounterKey;
using core::CounterState;

template <class T>
using Done = std::function<void(Result<T>)>;

struct GreylistRequest {
    std::string rule;
    std::string client_network;  // "192.0.2.0/24"
    std::string sender;          // greylistSenderKey
    std::string recipient;       // addressKey
    core::GreylistParams params;
    std::int64_t now = 0;
};

struct GreylistResult {
    core::GreylistDecision decision;
    core::ClientState client;  // after this request
};

// One account-guard rule's part of an end-of-message job.
struct GuardPlan {
    std::size_t rule_index = 0;
    core::Rule rule;
    std::string user;                  // canonical SASL login
    std::vector<std::string> domains;  // distinct recipient domains of this message
    std::string network;               // client network key ("" when unknown)
    std::string node;                  // this policyd's name, for the audit trail
};

struct GuardOutcome {
    core::GuardCounts counts;
    std::optional<std::string> trigger;  // threshold passed (dry-run rules too)
    bool held = false;                   // a hold was written (never for dry-run rules)
};

struct EomJob {
    std::int64_t now = 0;
    std::vector<core::RatePlan> rates;
    std::vector<GuardPlan> guards;
};

struct EomResult {
    core::ChargeDecision charge;
    std::vector<GuardOutcome> guards;  // one per EomJob::guards; empty when !charge.accepted
};

// A row of policy_lists.
struct ListRow {
    std::string list;  // "allow" / "deny"
    std::string kind;  // client / client_name / sender / recipient
    std::string value;
};

struct HoldRow {
    std::string user;
    std::string rule;
    std::string reason;
    std::int64_t created = 0;  // ms
};

class Store {
public:
    virtual ~Store() = default;

    // Counter states for the keys (missing rows are absent from the map). No locks.
    virtual void fetchCounters(std::vector<CounterKey> keys, Done<std::map<CounterKey, CounterState>> done) = 0;

    // One RCPT through a greylist rule, atomically on the triplet row: reads the triplet
    // and the network's auto-allow record, decides (core::decideGreylist), stores both.
    virtual void greylist(GreylistRequest request, Done<GreylistResult> done) = 0;

    // END-OF-MESSAGE in one database transaction: locks every counter row of the plans,
    // decides all-or-nothing (core::decideCharges), writes the charges; then, only when
    // accepted, records each guard's message and activity, counts the window and writes a
    // hold (and an audit row) when a non-dry-run guard's threshold is passed.
    virtual void endOfMessage(EomJob job, Done<EomResult> done) = 0;

    // Addresses `user` may send as: its mailbox, active alias sources that deliver to it,
    // and its sender_logins rows ("@domain" entries allow a whole domain). Raw texts.
    virtual void fetchSenderLogins(std::string user, Done<std::vector<std::string>> done) = 0;

    // Every row of policy_lists.
    virtual void fetchLists(Done<std::vector<ListRow>> done) = 0;

    // Every current hold.
    virtual void fetchHolds(Done<std::vector<HoldRow>> done) = 0;

    // Deletes rows that no longer affect decisions (expired counters, greylist triplets
    // and auto-allow records, activity older than `activity_before`). Returns rows deleted.
    virtual void cleanup(std::int64_t now, std::int64_t activity_before, Done<std::uint64_t> done) = 0;
};

}  // namespace titan::policyd::store
