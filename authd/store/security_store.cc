#include "authd/store/security_store.h"

#include <algorithm>
#include <iterator>

#include "common/base/strings.h"
#include "common/log/log.h"

namespace titan::authd::store {

SecurityStore::SecurityStore(sql::Pool& pool, metrics::Registry& metrics, std::string node,
                             size_t max_writes_in_flight)
    : pool_(pool),
      node_(std::move(node)),
      max_in_flight_(max_writes_in_flight),
      dropped_(metrics.counter("authd_security_writes_dropped_total",
                               "Failure-counter, audit and last-login writes dropped because too many were in flight")),
      failed_(metrics.counter("authd_security_writes_failed_total",
                              "Failure-counter, audit and last-login writes the database refused")) {}

void SecurityStore::write(std::string sql, std::vector<sql::Value> params) {
    if (in_flight_ >= max_in_flight_) {
        dropped_.inc();
        return;
    }
    ++in_flight_;
    pool_.submit<sql::QueryResult>(
        [sql = std::move(sql), params = std::move(params)](sql::Connection& c) { return c.execute(sql, params, false); },
        [this](Result<sql::QueryResult> r) {
            --in_flight_;
            if (!r) {
                failed_.inc();
                log::debug("security write failed", {{"error", r.error().message}});
            }
        });
}

void SecurityStore::recordFailure(const std::string& ip, const std::string& user, std::chrono::milliseconds window) {
    // One window per key: a failure after the window restarts the count at 1.
    // (Assignments in ON DUPLICATE KEY UPDATE run left to right: `failures` still
    // sees the old window_start.)
    static const std::string kUpsert =
        "INSERT INTO auth_failures (scope, subject, window_start, failures, last_failure)"
        " VALUES (?, ?, NOW(3), 1, NOW(3)) ON DUPLICATE KEY UPDATE"
        " failures = IF(window_start < NOW(3) - INTERVAL ? SECOND, 1, failures + 1),"
        " window_start = IF(window_start < NOW(3) - INTERVAL ? SECOND, NOW(3), window_start),"
        " last_failure = NOW(3)";
    std::string secs = std::to_string(std::max<long long>(1, window.count() / 1000));
    if (!ip.empty()) write(kUpsert, {std::string("ip"), ip, secs, secs});
    if (!user.empty()) write(kUpsert, {std::string("user"), user, secs, secs});
}

void SecurityStore::audit(const AuthEvent& e) {
    if (!audit_enabled_) return;
    if (audit_pending_.size() >= kMaxPendingLogins) {
        dropped_.inc();
        return;
    }
    audit_pending_.push_back({e.service.substr(0, 32), e.user.substr(0, 320), e.remote_ip.substr(0, 45), e.result,
                              e.reason.substr(0, 255)});
    flushLogins();
}

void SecurityStore::lastLogin(const std::string& user, const std::string& service, const std::string& ip) {
    auto key = std::make_pair(user, service.substr(0, 32));
    auto it = last_pending_.find(key);
    if (it != last_pending_.end()) {
        it->second = ip.substr(0, 45);  // the latest login wins, as the upsert would
    } else if (last_pending_.size() >= kMaxPendingLogins) {
        dropped_.inc();
        return;
    } else {
        last_pending_.emplace(std::move(key), ip.substr(0, 45));
    }
    flushLogins();
}

namespace {

// "(?, ?), (?, ?)" for `rows` rows of `row`.
std::string rowsOf(size_t rows, const char* row) {
    std::string out;
    for (size_t i = 0; i < rows; ++i) {
        if (i) out += ", ";
        out += row;
    }
    return out;
}

// Splits n into powers of two (37 -> 32, 4, 1): statements of those sizes only, so the
// connection's prepared-statement cache holds a few shapes, not one per batch size.
std::vector<size_t> powerChunks(size_t n) {
    std::vector<size_t> out;
    for (size_t bit = size_t{1} << 20; bit > 0; bit >>= 1) {
        if (n & bit) out.push_back(bit);
    }
    return out;
}

}  // namespace

void SecurityStore::flushLogins() {
    if (logins_in_flight_ || (audit_pending_.empty() && last_pending_.empty())) return;
    if (audit_pending_.size() >= kMaxBatchRows || last_pending_.size() >= kMaxBatchRows) {
        linger_armed_ = false;
        linger_.reset();  // never called from the timer's own callback
        writeLogins();
        return;
    }
    if (!linger_armed_) {
        linger_armed_ = true;
        linger_ = std::make_unique<event::Timer>(pool_.base(), kLoginLinger, false, [this] {
            linger_armed_ = false;
            writeLogins();
        });
    }
}

void SecurityStore::writeLogins() {
    if (logins_in_flight_ || (audit_pending_.empty() && last_pending_.empty())) return;
    std::vector<AuthEvent> audit;
    size_t n = std::min(audit_pending_.size(), kMaxBatchRows);
    audit.assign(std::make_move_iterator(audit_pending_.begin()), std::make_move_iterator(audit_pending_.begin() + n));
    audit_pending_.erase(audit_pending_.begin(), audit_pending_.begin() + n);
    std::vector<std::pair<std::pair<std::string, std::string>, std::string>> last;
    while (!last_pending_.empty() && last.size() < kMaxBatchRows) {
        auto node = last_pending_.extract(last_pending_.begin());
        last.emplace_back(std::move(node.key()), std::move(node.mapped()));
    }
    logins_in_flight_ = true;
    pool_.submit<bool>(
        [audit = std::move(audit), last = std::move(last), node = node_](sql::Connection& c) -> Result<bool> {
            if (auto st = c.begin(); !st) return std::move(st).error();
            auto fail = [&c](Error e) -> Result<bool> {
                (void)c.rollback();
                return e;
            };
            size_t at = 0;
            for (size_t rows : powerChunks(audit.size())) {
                std::vector<sql::Value> params;
                params.reserve(rows * 6);
                for (size_t i = at; i < at + rows; ++i) {
                    const auto& e = audit[i];
                    params.insert(params.end(), {node, e.service, e.user, e.remote_ip, e.result, e.reason});
                }
                at += rows;
                auto r = c.execute("INSERT INTO auth_events (node, service, username, remote_ip, result, reason) VALUES " +
                                       rowsOf(rows, "(?, ?, ?, ?, ?, ?)"),
                                   params, false);
                if (!r) return fail(std::move(r).error());
            }
            at = 0;
            for (size_t rows : powerChunks(last.size())) {
                std::vector<sql::Value> params;
                params.reserve(rows * 3);
                for (size_t i = at; i < at + rows; ++i) {
                    params.insert(params.end(), {last[i].first.first, last[i].first.second, last[i].second});
                }
                at += rows;
                auto r = c.execute("INSERT INTO last_logins (username, service, at, remote_ip) VALUES " +
                                       rowsOf(rows, "(?, ?, NOW(), ?)") +
                                       " ON DUPLICATE KEY UPDATE at = NOW(), remote_ip = VALUES(remote_ip)",
                                   params, false);
                if (!r) return fail(std::move(r).error());
            }
            if (auto st = c.commit(); !st) return std::move(st).error();
            return true;
        },
        [this](Result<bool> r) {
            logins_in_flight_ = false;
            if (!r) {
                failed_.inc();
                log::debug("audit/last-login write failed", {{"error", r.error().message}});
            }
            flushLogins();
        });
}

void SecurityStore::fetchFailures(unsigned min_failures, std::chrono::milliseconds recent, FailuresDone done) {
    pool_.submit<std::vector<SharedFailure>>(
        [min_failures, recent](sql::Connection& c) -> Result<std::vector<SharedFailure>> {
            auto r = c.execute(
                "SELECT scope, subject, failures, TIMESTAMPDIFF(MICROSECOND, last_failure, NOW(3)) DIV 1000"
                " FROM auth_failures WHERE failures >= ? AND last_failure > NOW(3) - INTERVAL ? SECOND LIMIT 100000",
                {std::to_string(min_failures), std::to_string(std::max<long long>(1, recent.count() / 1000))});
            if (!r) return std::move(r).error();
            std::vector<SharedFailure> out;
            for (const auto& row : r->rows) {
                SharedFailure f{row[0].value_or("") == "ip" ? core::Scope::Ip : core::Scope::User,
                                row[1].value_or(""),
                                static_cast<unsigned>(base::parseUnsigned(row[2].value_or("0")).value_or(0)),
                                base::parseSigned(row[3].value_or("0")).value_or(0)};
                out.push_back(std::move(f));
            }
            return out;
        },
        std::move(done));
}

void SecurityStore::fetchChanges(unsigned long long after, size_t limit, ChangesDone done) {
    pool_.submit<std::vector<Change>>(
        [after, limit](sql::Connection& c) -> Result<std::vector<Change>> {
            auto r = c.execute("SELECT id, username FROM auth_changes WHERE id > ? ORDER BY id LIMIT " +
                                   std::to_string(limit),
                               {std::to_string(after)});
            if (!r) return std::move(r).error();
            std::vector<Change> out;
            for (const auto& row : r->rows) {
                out.push_back({base::parseUnsigned(row[0].value_or("0")).value_or(0), row[1].value_or("")});
            }
            return out;
        },
        std::move(done));
}

void SecurityStore::fetchLastChangeId(MaxIdDone done) {
    pool_.submit<unsigned long long>(
        [](sql::Connection& c) -> Result<unsigned long long> {
            auto r = c.execute("SELECT COALESCE(MAX(id), 0) FROM auth_changes");
            if (!r) return std::move(r).error();
            if (r->rows.empty()) return 0ULL;
            return static_cast<unsigned long long>(base::parseUnsigned(r->rows[0][0].value_or("0")).value_or(0));
        },
        std::move(done));
}

void SecurityStore::pruneChanges(std::chrono::milliseconds age) {
    write("DELETE FROM auth_changes WHERE changed_at < NOW(3) - INTERVAL ? SECOND LIMIT 10000",
          {std::to_string(std::max<long long>(60, age.count() / 1000))});
}

}  // namespace titan::authd::store
