#include "quotad/store/mysql_store.h"

#include <algorithm>
#include <set>

#include "common/base/strings.h"
#include "common/identity/identity.h"

namespace titan::quotad::store {
namespace {

// Largest IN list in one statement; longer lists are split.
constexpr std::size_t kMaxInList = 256;

// "?, ?, ?" for n placeholders, n padded up to a power of two by the caller.
std::string placeholders(std::size_t n, const char* each = "?") {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        if (i) s += ", ";
        s += each;
    }
    return s;
}

std::size_t padded(std::size_t n) {
    std::size_t p = 1;
    while (p < n) p <<= 1;
    return p;
}

// Splits `items` into chunks of at most kMaxInList, each padded (by repeating its last
// element) to a power of two, so the statement text, and thus the prepared statement,
// only depends on the padded size.
std::vector<std::vector<std::string>> chunks(const std::vector<std::string>& items) {
    std::vector<std::vector<std::string>> out;
    for (std::size_t i = 0; i < items.size(); i += kMaxInList) {
        std::vector<std::string> c(items.begin() + static_cast<std::ptrdiff_t>(i),
                                   items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), i + kMaxInList)));
        c.resize(padded(c.size()), c.back());
        out.push_back(std::move(c));
    }
    return out;
}

std::vector<sql::Value> values(const std::vector<std::string>& v) {
    return std::vector<sql::Value>(v.begin(), v.end());
}

Result<std::optional<std::int64_t>> signedColumn(const sql::Value& v, const char* column) {
    if (!v) return std::optional<std::int64_t>{};
    auto n = base::parseSigned(*v);
    if (!n) return Error::internal(std::string("non-numeric ") + column + " in quota_usage row");
    return std::optional<std::int64_t>(*n);
}

Result<std::uint64_t> unsignedColumn(const sql::Value& v, const char* column) {
    if (!v) return std::uint64_t{0};
    auto n = base::parseUnsigned(*v);
    if (!n) return Error::internal(std::string("non-numeric ") + column);
    return static_cast<std::uint64_t>(*n);
}

std::vector<std::string> uniqueUsers(const std::vector<core::CommitRequest>& batch) {
    std::set<std::string> s;
    for (const auto& c : batch) s.insert(c.user);
    return {s.begin(), s.end()};
}

// A COMMIT that failed with an error the server sent (deadlock, certification conflict on
// Galera, ...) was rolled back; any other failure (connection lost) leaves it unknown.
bool commitOutcomeKnown(unsigned err) { return err != 0 && err < 2000; }

// Errors worth another attempt of the whole transaction (the server rolled it back).
bool retryable(const Error& e) { return e.code == ErrorCode::Unavailable; }

}  // namespace

Result<std::map<std::string, core::Row>> MysqlStore::readRows(sql::Connection& c, const std::vector<std::string>& users,
                                                              bool for_update) {
    std::map<std::string, core::Row> rows;
    if (users.empty()) return rows;
    for (const auto& chunk : chunks(users)) {
        std::string q = "SELECT username, bytes, messages, warn_storage, warn_messages FROM quota_usage WHERE username IN (" +
                        placeholders(chunk.size()) + ")";
        if (for_update) q += " FOR UPDATE";
        auto r = c.execute(q, values(chunk));
        if (!r) return std::move(r).error();
        for (const auto& row : r->rows) {
            if (row.size() != 5 || !row[0]) return Error::internal("quota_usage row has the wrong shape");
            core::Row out;
            auto bytes = signedColumn(row[1], "bytes");
            if (!bytes) return std::move(bytes).error();
            auto messages = signedColumn(row[2], "messages");
            if (!messages) return std::move(messages).error();
            out.usage[core::Resource::Storage] = *bytes;
            out.usage[core::Resource::Messages] = *messages;
            for (std::size_t i = 0; i < core::kResourceCount; ++i) {
                auto w = unsignedColumn(row[3 + i], "warn level");
                if (!w) return std::move(w).error();
                out.warn_level[i] = static_cast<std::uint8_t>(std::min<std::uint64_t>(*w, 255));
            }
            rows[*row[0]] = out;
        }
    }
    return rows;
}

Result<std::map<std::string, core::Limits>> MysqlStore::readLimits(sql::Connection& c,
                                                                   const std::vector<std::string>& users) {
    std::map<std::string, core::Limits> limits;
    for (const auto& chunk : chunks(users)) {
        auto r = c.execute("SELECT username, quota_bytes, quota_messages FROM mailboxes WHERE username IN (" +
                               placeholders(chunk.size()) + ")",
                           values(chunk));
        if (!r) return std::move(r).error();
        for (const auto& row : r->rows) {
            if (row.size() != 3 || !row[0]) return Error::internal("mailboxes row has the wrong shape");
            auto b = unsignedColumn(row[1], "quota_bytes");
            if (!b) return std::move(b).error();
            auto m = unsignedColumn(row[2], "quota_messages");
            if (!m) return std::move(m).error();
            limits[*row[0]] = core::Limits{*b, *m};
        }
    }
    return limits;
}

Status MysqlStore::writeRows(sql::Connection& c, const std::map<std::string, core::Row>& rows) {
    std::vector<std::pair<std::string, core::Row>> all(rows.begin(), rows.end());
    for (std::size_t i = 0; i < all.size(); i += kMaxInList) {
        std::size_t n = std::min(all.size() - i, kMaxInList);
        std::size_t p = padded(n);
        std::vector<sql::Value> params;
        params.reserve(p * 5);
        for (std::size_t k = 0; k < p; ++k) {
            // Padding repeats the last row: writing it twice is harmless.
            const auto& [user, row] = all[i + std::min(k, n - 1)];
            params.emplace_back(user);
            for (core::Resource r : core::kResources) {
                const auto& v = row.usage[r];
                params.push_back(v ? sql::Value(std::to_string(*v)) : sql::Value());
            }
            for (std::size_t w = 0; w < core::kResourceCount; ++w) params.emplace_back(std::to_string(row.warn_level[w]));
        }
        auto r = c.execute(
            "INSERT INTO quota_usage (username, bytes, messages, warn_storage, warn_messages) VALUES " +
                placeholders(p, "(?, ?, ?, ?, ?)") +
                " ON DUPLICATE KEY UPDATE bytes = VALUES(bytes), messages = VALUES(messages),"
                " warn_storage = VALUES(warn_storage), warn_messages = VALUES(warn_messages)",
            params, false);
        if (!r) return std::move(r).error();
    }
    return {};
}

void MysqlStore::fetchRows(std::vector<std::string> users, RowsDone done) {
    pool_.submit<std::map<std::string, core::Row>>(
        [users = std::move(users)](sql::Connection& c) { return readRows(c, users, false); }, std::move(done));
}

void MysqlStore::applyCommits(std::vector<core::CommitRequest> batch, std::shared_ptr<const core::WarningRules> rules,
                              CommitDone done) {
    using Outcome = std::variant<core::BatchResult, CommitFailure>;
    const unsigned attempts = retries_ + 1;
    pool_.submit<Outcome>(
        [batch = std::move(batch), rules = std::move(rules), attempts](sql::Connection& c) -> Result<Outcome> {
            const auto users = uniqueUsers(batch);
            Error last = Error::internal("no attempt made");
            for (unsigned attempt = 0; attempt < attempts; ++attempt) {
                if (c.inTransaction()) (void)c.rollback();
                if (auto st = c.begin(); !st) {
                    last = st.error();
                    if (retryable(last)) continue;
                    break;
                }
                auto fail = [&](Error e) {
                    (void)c.rollback();
                    last = std::move(e);
                };
                auto rows = readRows(c, users, true);
                if (!rows) {
                    fail(rows.error());
                    if (retryable(last)) continue;
                    break;
                }
                std::map<std::string, core::Limits> limits;
                if (rules && !rules->empty()) {
                    auto l = readLimits(c, users);
                    if (!l) {
                        fail(l.error());
                        if (retryable(last)) continue;
                        break;
                    }
                    limits = std::move(*l);
                }
                static const core::WarningRules kNoRules;
                core::BatchResult result = core::applyBatch(batch, *rows, limits, rules ? *rules : kNoRules);
                if (!result.changed.empty()) {
                    if (auto st = writeRows(c, result.changed); !st) {
                        fail(st.error());
                        if (retryable(last)) continue;
                        break;
                    }
                }
                if (auto st = c.commit(); !st) {
                    const unsigned err = c.lastErrno();
                    if (!commitOutcomeKnown(err)) return Outcome(CommitFailure{true, st.error()});
                    last = st.error();
                    if (retryable(last)) continue;
                    break;
                }
                return Outcome(std::move(result));
            }
            if (c.inTransaction()) (void)c.rollback();
            return Outcome(CommitFailure{false, std::move(last)});
        },
        [done = std::move(done)](Result<Outcome> r) {
            if (!r) {
                done(CommitFailure{false, r.error()});
                return;
            }
            done(std::move(*r));
        });
}

void MysqlStore::markUnknown(std::vector<std::string> users, StatusDone done) {
    pool_.submit<bool>(
        [users = std::move(users)](sql::Connection& c) -> Result<bool> {
            for (const auto& chunk : chunks(users)) {
                auto r = c.execute("UPDATE quota_usage SET bytes = NULL, messages = NULL WHERE username IN (" +
                                       placeholders(chunk.size()) + ")",
                                   values(chunk), true);
                if (!r) return std::move(r).error();
            }
            return true;
        },
        [done = std::move(done)](Result<bool> r) {
            if (!r) {
                done(r.error());
                return;
            }
            done(Status{});
        });
}

void MysqlStore::fetchAddressFacts(std::vector<std::string> addresses, FactsDone done) {
    pool_.submit<std::map<std::string, core::AddressFacts>>(
        [addresses = std::move(addresses)](sql::Connection& c) -> Result<std::map<std::string, core::AddressFacts>> {
            std::map<std::string, core::AddressFacts> facts;
            if (addresses.empty()) return facts;
            // One round trip per level: alias rows of the addresses and of their domains'
            // catch-alls, mailbox rows with usage, and alias-domain targets.
            std::set<std::string> source_set, domain_set;
            for (const auto& a : addresses) {
                facts[a];
                source_set.insert(a);
                std::string d(identity::domainOf(a));
                source_set.insert("@" + d);
                domain_set.insert(d);
            }
            const std::vector<std::string> sources(source_set.begin(), source_set.end());
            const std::vector<std::string> domains(domain_set.begin(), domain_set.end());
            auto src = chunks(sources);
            auto mbx = chunks(addresses);
            auto dom = chunks(domains);
            if (src.size() != 1 || mbx.size() != 1 || dom.size() != 1) {
                return Error::internal("too many addresses in one alias expansion step");
            }
            std::vector<sql::Value> params = values(src[0]);
            auto m = values(mbx[0]);
            params.insert(params.end(), m.begin(), m.end());
            auto d = values(dom[0]);
            params.insert(params.end(), d.begin(), d.end());
            auto r = c.execute(
                "SELECT 'a', a.source, a.destination, NULL, NULL, NULL, NULL FROM aliases a"
                " JOIN domains ad ON ad.id = a.domain_id"
                " WHERE a.active = 1 AND ad.active = 1 AND a.source IN (" + placeholders(src[0].size()) + ")"
                " UNION ALL SELECT 'm', m.username, NULL, m.quota_bytes, m.quota_messages, u.bytes, u.messages"
                " FROM mailboxes m LEFT JOIN quota_usage u ON u.username = m.username"
                " WHERE m.username IN (" + placeholders(mbx[0].size()) + ")"
                " UNION ALL SELECT 'd', x.name, t.name, NULL, NULL, NULL, NULL FROM alias_domains x"
                " JOIN domains t ON t.id = x.target_domain_id"
                " WHERE x.active = 1 AND t.active = 1 AND x.name IN (" + placeholders(dom[0].size()) + ")",
                params);
            if (!r) return std::move(r).error();
            std::map<std::string, std::vector<std::string>> alias_rows;
            std::map<std::string, std::string> targets;
            for (const auto& row : r->rows) {
                if (row.size() != 7 || !row[0] || !row[1]) return Error::internal("address facts row has the wrong shape");
                const std::string& kind = *row[0];
                if (kind == "a" && row[2]) {
                    alias_rows[*row[1]].push_back(*row[2]);
                } else if (kind == "m") {
                    core::MailboxQuota q;
                    q.user = *row[1];
                    auto b = unsignedColumn(row[3], "quota_bytes");
                    if (!b) return std::move(b).error();
                    auto msg = unsignedColumn(row[4], "quota_messages");
                    if (!msg) return std::move(msg).error();
                    q.limits = {*b, *msg};
                    auto ub = signedColumn(row[5], "bytes");
                    if (!ub) return std::move(ub).error();
                    auto um = signedColumn(row[6], "messages");
                    if (!um) return std::move(um).error();
                    q.usage[core::Resource::Storage] = *ub;
                    q.usage[core::Resource::Messages] = *um;
                    if (auto it = facts.find(q.user); it != facts.end()) it->second.mailbox = std::move(q);
                } else if (kind == "d" && row[2]) {
                    targets[*row[1]] = *row[2];
                }
            }
            for (auto& [address, f] : facts) {
                if (auto it = alias_rows.find(address); it != alias_rows.end()) f.aliases = it->second;
                std::string domain(identity::domainOf(address));
                if (auto it = alias_rows.find("@" + domain); it != alias_rows.end()) f.catch_all = it->second;
                if (auto it = targets.find(domain); it != targets.end()) f.alias_target = it->second;
            }
            return facts;
        },
        std::move(done));
}

}  // namespace titan::quotad::store
