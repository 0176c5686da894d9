#include "authd/store/mysql_maps_store.h"

#include <string>

namespace titan::authd::store {
namespace {

// A local domain wins over an alias domain of the same name.
constexpr const char* kDomainSql =
    "SELECT 0 AS kind, '' AS target FROM domains WHERE name = ? AND active = 1"
    " UNION ALL"
    " SELECT 1, t.name FROM alias_domains a JOIN domains t ON t.id = a.target_domain_id"
    " WHERE a.name = ? AND a.active = 1 AND t.active = 1"
    " ORDER BY kind LIMIT 1";

constexpr const char* kMailboxSql =
    "SELECT m.username FROM mailboxes m JOIN domains d ON d.id = m.domain_id"
    " WHERE m.username = ? AND m.active = 1 AND d.active = 1";

// The row limit is a constant of ours, never peer input.
const std::string kAliasesSql =
    "SELECT a.destination FROM aliases a JOIN domains d ON d.id = a.domain_id"
    " WHERE a.source = ? AND a.active = 1 AND d.active = 1 ORDER BY a.id LIMIT " +
    std::to_string(MysqlMapsStore::kMaxRows);

const std::string kSenderLoginsSql = "SELECT login FROM sender_logins WHERE address = ? AND active = 1 ORDER BY id LIMIT " +
                                     std::to_string(MysqlMapsStore::kMaxRows);

}  // namespace

void MysqlMapsStore::fetchDomain(const std::string& domain, DomainDone done) {
    pool_.submit<std::optional<DomainEntry>>(
        [domain](sql::Connection& c) -> Result<std::optional<DomainEntry>> {
            auto r = c.execute(kDomainSql, {domain, domain});
            if (!r) return std::move(r).error();
            if (r->rows.empty()) return std::optional<DomainEntry>{};
            const auto& row = r->rows.front();
            if (row.size() != 2) return Error::internal("domain lookup returned the wrong number of columns");
            DomainEntry e;
            if (row[0].value_or("0") != "0") {
                e.alias_for = row[1].value_or("");
                if (e.alias_for.empty()) return Error::internal("alias domain row without a target");
            }
            return std::optional<DomainEntry>(std::move(e));
        },
        std::move(done));
}

void MysqlMapsStore::fetchMailbox(const std::string& address, MailboxDone done) {
    pool_.submit<std::optional<std::string>>(
        [address](sql::Connection& c) -> Result<std::optional<std::string>> {
            auto r = c.execute(kMailboxSql, {address});
            if (!r) return std::move(r).error();
            if (r->rows.empty() || r->rows.front().empty() || !r->rows.front()[0]) return std::optional<std::string>{};
            return std::optional<std::string>(*r->rows.front()[0]);
        },
        std::move(done));
}

void MysqlMapsStore::fetchList(const char* sql, const std::string& key, ListDone done) {
    pool_.submit<std::optional<std::vector<std::string>>>(
        [sql, key](sql::Connection& c) -> Result<std::optional<std::vector<std::string>>> {
            auto r = c.execute(sql, {key});
            if (!r) return std::move(r).error();
            std::vector<std::string> values;
            values.reserve(r->rows.size());
            for (const auto& row : r->rows) {
                if (!row.empty() && row[0] && !row[0]->empty()) values.push_back(*row[0]);
            }
            if (values.empty()) return std::optional<std::vector<std::string>>{};
            return std::optional<std::vector<std::string>>(std::move(values));
        },
        std::move(done));
}

void MysqlMapsStore::fetchAliases(const std::string& source, ListDone done) {
    fetchList(kAliasesSql.c_str(), source, std::move(done));
}

void MysqlMapsStore::fetchSenderLogins(const std::string& address, ListDone done) {
    fetchList(kSenderLoginsSql.c_str(), address, std::move(done));
}

}  // namespace titan::authd::store
