// MariaDB-backed MapsStore: one prepared statement per lookup on common/sql's worker
// pool, so the event loop never waits on the database. Layer: authd/store.
#pragma once

#include "authd/store/maps_store.h"
#include "common/sql/pool.h"

namespace titan::authd::store {

class MysqlMapsStore : public MapsStore {
public:
    // Rows returned per alias or sender-login lookup, at most (a reply Postfix accepts
    // is 100000 bytes, far fewer addresses than this).
    static constexpr int kMaxRows = 5000;

    explicit MysqlMapsStore(sql::Pool& pool) : pool_(pool) {}

    void fetchDomain(const std::string& domain, DomainDone done) override;
    void fetchMailbox(const std::string& address, MailboxDone done) override;
    void fetchAliases(const std::string& source, ListDone done) override;
    void fetchSenderLogins(const std::string& address, ListDone done) override;

private:
    void fetchList(const char* sql, const std::string& key, ListDone done);
    sql::Pool& pool_;
};

}  // namespace titan::authd::store
