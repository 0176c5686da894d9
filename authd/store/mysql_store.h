// MariaDB-backed Store: prepared statements run on common/sql's worker pool, so the
// event loop never waits on the database. Layer: authd/store.
#pragma once

#include "authd/store/store.h"
#include "common/sql/pool.h"

namespace titan::authd::store {

class MysqlStore : public Store {
public:
    explicit MysqlStore(sql::Pool& pool) : pool_(pool) {}

    void fetchMailbox(const std::string& user, MailboxDone done) override;
    void fetchUserPage(const std::string& after, size_t limit, PageDone done) override;

    // Decode one row of kSelectColumns (exposed for tests).
    static Result<Mailbox> decodeRow(const sql::Row& row);
    // App passwords of one mailbox (worker thread, inside a pool job).
    static Result<std::vector<core::AppPassword>> fetchAppPasswords(sql::Connection& c, const std::string& user);
    // The ftp_accounts row of one mailbox, if any (worker thread, inside a pool job).
    static Result<std::optional<core::FtpAccount>> fetchFtpAccount(sql::Connection& c, const std::string& user);

private:
    sql::Pool& pool_;
};

}  // namespace titan::authd::store
