// quotad's storage interface: usage rows shared by every node, batched and durable.
// Asynchronous: each completion runs on the loop thread, never inside the call (STYLE
// 3.3). Failures are Errors (Unavailable when the database cannot answer); a user without
// a row is simply absent from a result map. Implementations: MysqlStore (production,
// MariaDB/Galera), MemoryStore (unit tests). Layer: quotad/store.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "common/base/result.h"
#include "quotad/core/policy.h"
#include "quotad/core/usage.h"

namespace titan::quotad::store {

// How a failed batch of commits ended, for the dict reply: Failed (F: nothing was written)
// or Uncertain (W: the database connection broke during COMMIT, so the outcome is unknown).
struct CommitFailure {
    bool uncertain = false;
    Error error;
};

class Store {
public:
    virtual ~Store() = default;

    using RowsDone = std::function<void(Result<std::map<std::string, core::Row>>)>;
    // The stored rows of `users` (canonical names, no duplicates); users without a row are
    // absent. A plain read: never waits for other nodes' transactions.
    virtual void fetchRows(std::vector<std::string> users, RowsDone done) = 0;

    using CommitDone = std::function<void(std::variant<core::BatchResult, CommitFailure>)>;
    // Applies `batch` (in order) as ONE database transaction with core::applyBatch, the
    // rows locked for its duration, and completes only after the transaction committed:
    // a BatchResult means every commit of the batch is durable. `rules` decides warning
    // crossings (the mailboxes' limits are read inside the transaction when it has rules).
    virtual void applyCommits(std::vector<core::CommitRequest> batch, std::shared_ptr<const core::WarningRules> rules,
                              CommitDone done) = 0;

    using StatusDone = std::function<void(Status)>;
    // Marks the usage of `users` unknown (both values unset, warning levels kept), so the
    // next Dovecot access on any node recounts. Used after commits that may not have been
    // recorded. Users without a row are left alone.
    virtual void markUnknown(std::vector<std::string> users, StatusDone done) = 0;

    using FactsDone = std::function<void(Result<std::map<std::string, core::AddressFacts>>)>;
    // What is stored about each address (canonical "local@domain"): its mailbox with limits
    // and usage, its active alias rows, its domain's catch-all rows and alias-domain target.
    virtual void fetchAddressFacts(std::vector<std::string> addresses, FactsDone done) = 0;
};

}  // namespace titan::quotad::store
