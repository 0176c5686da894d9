// The RCPT-time quota check behind quotad's Postfix policy service: normalise the
// recipient, expand it through alias domains, aliases and catch-alls with the store (one
// database round trip per alias level, shared by the checks that arrive meanwhile), and
// decide with core::decide. It never says
// whether an address exists: an address that reaches no mailbox is NoMailbox (DUNNO).
// Loop thread only. Layer: quotad/service.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "common/base/result.h"
#include "common/identity/identity.h"
#include "common/metrics/metrics.h"
#include "quotad/core/policy.h"
#include "quotad/store/store.h"

namespace titan::quotad {

struct CheckSettings {
    core::Grace grace;
    std::string recipient_delimiter = "+";  // characters; empty = no address extensions
    core::ExpanderLimits expansion;
    identity::Options identity;
};

struct CheckResult {
    core::Decision decision;
    std::string address;  // the canonical recipient key (empty when malformed)
    bool malformed = false;
    bool truncated = false;  // alias expansion hit a limit
};

class PolicyService {
public:
    using Done = std::function<void(Result<CheckResult>)>;

    // At most `max_inflight` queries at once; checks arriving meanwhile share the next
    // query (up to `max_batch_addresses` addresses in it).
    explicit PolicyService(store::Store& store, std::size_t max_inflight = 2, std::size_t max_batch_addresses = 100);
    ~PolicyService();
    PolicyService(const PolicyService&) = delete;
    PolicyService& operator=(const PolicyService&) = delete;

    // Checks `recipient` (the raw Postfix value) for a message of `size` bytes (0 = unknown).
    // A malformed recipient is answered inside the call (malformed = true, NoMailbox);
    // otherwise `done` runs later on the loop thread. Unavailable when the database failed.
    void check(const std::string& recipient, std::uint64_t size, std::shared_ptr<const CheckSettings> settings,
               Done done);

private:
    struct Job;
    void pump();
    void finish(const std::shared_ptr<Job>& job);

    store::Store& store_;
    std::size_t max_inflight_;
    std::size_t max_batch_addresses_;
    std::deque<std::shared_ptr<Job>> waiting_;
    std::size_t inflight_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace titan::quotad
