// The RCPT-time quota check behind quotad's Postfix policy service: normalise the
// recipient, expand it through alias domains, aliases and catch-alls with the store (one
// database round trip per alias level), and decide with core::decide. It never says
// whether an address exists: an address that reaches no mailbox is NoMailbox (DUNNO).
// Loop thread only. Layer: quotad/service.
#pragma once

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

    explicit PolicyService(store::Store& store) : store_(store) {}

    // Checks `recipient` (the raw Postfix value) for a message of `size` bytes (0 = unknown).
    // A malformed recipient is answered inside the call (malformed = true, NoMailbox);
    // otherwise `done` runs later on the loop thread. Unavailable when the database failed.
    void check(const std::string& recipient, std::uint64_t size, std::shared_ptr<const CheckSettings> settings,
               Done done);

private:
    struct Job;
    void step(std::shared_ptr<Job> job);

    store::Store& store_;
};

}  // namespace titan::quotad
