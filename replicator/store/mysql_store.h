// MariaDB-backed replicator Store: prepared statements on common/sql's worker pool,
// so the event loop never waits on the database. Password files named by the sites
// table are read on the worker too. Layer: replicator/store.
#pragma once

#include "common/sql/pool.h"
#include "replicator/store/store.h"

namespace titan::replicator::store {

class MysqlStore : public Store {
public:
    explicit MysqlStore(sql::Pool& pool) : pool_(pool) {}

    void fetchSites(SitesDone done) override;
    void fetchPlacement(const std::string& user, const std::string& source, PlacementDone done) override;
    void storeSyncResult(const SyncRecord& record, StatusDone done) override;
    void fetchSiteUsers(const std::string& site, const std::string& after, std::size_t limit, PageDone done) override;

private:
    sql::Pool& pool_;
};

// Reads a secret file (first line, trailing CR/LF removed, at most 4 KiB). Errors:
// Config naming the file (never its content).
Result<std::string> readSecretFile(const std::string& path);

}  // namespace titan::replicator::store
