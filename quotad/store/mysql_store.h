// MariaDB-backed quotad Store (tables quota_usage, mailboxes, aliases, alias_domains,
// domains; contrib/sql/migrations/0004_quota.sql). Prepared statements on common/sql's
// worker pool, so the event loop never waits on the database. A batch of dict commits is
// one InnoDB transaction: SELECT ... FOR UPDATE of the batch's rows, core::applyBatch,
// one multi-row upsert, COMMIT; deadlocks and lost connections before COMMIT are retried
// (the server rolled the attempt back). IN lists are padded to powers of two so only a
// handful of statements is ever prepared. Layer: quotad/store.
#pragma once

#include "common/sql/pool.h"
#include "quotad/store/store.h"

namespace titan::quotad::store {

class MysqlStore : public Store {
public:
    // `retries`: extra attempts of a batch whose transaction failed before COMMIT.
    explicit MysqlStore(sql::Pool& pool, unsigned retries = 2) : pool_(pool), retries_(retries) {}

    void fetchRows(std::vector<std::string> users, RowsDone done) override;
    void applyCommits(std::vector<core::CommitRequest> batch, std::shared_ptr<const core::WarningRules> rules,
                      CommitDone done) override;
    void markUnknown(std::vector<std::string> users, StatusDone done) override;
    void fetchAddressFacts(std::vector<std::string> addresses, FactsDone done) override;

    // Synchronous building blocks, run on a worker's Connection (exposed for titanctl and
    // tests). readRows: the rows of `users`, locking them when `for_update` (inside a
    // transaction). writeRows: upsert every row.
    static Result<std::map<std::string, core::Row>> readRows(sql::Connection& c, const std::vector<std::string>& users,
                                                             bool for_update);
    static Status writeRows(sql::Connection& c, const std::map<std::string, core::Row>& rows);
    static Result<std::map<std::string, core::Limits>> readLimits(sql::Connection& c,
                                                                  const std::vector<std::string>& users);

private:
    sql::Pool& pool_;
    unsigned retries_;
};

}  // namespace titan::quotad::store
