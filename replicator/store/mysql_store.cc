#include "replicator/store/mysql_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "common/base/strings.h"

namespace titan::replicator::store {
namespace {

bool flag(const sql::Value& v) { return v && !v->empty() && *v != "0"; }

// "YYYY-MM-DD HH:MM:SS.mmm" in UTC for TIMESTAMP(3) columns (sessions run with time_zone '+00:00').
std::string sqlTime(Time t) {
    auto ms = t.time_since_epoch().count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    return buf;
}

}  // namespace

Result<std::string> readSecretFile(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Error::config("cannot read " + path + ": " + std::strerror(errno));
    char buf[4097];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    int e = errno;
    ::close(fd);
    if (n < 0) return Error::config("cannot read " + path + ": " + std::strerror(e));
    if (n > 4096) return Error::config(path + " is larger than 4 KiB");
    std::string s(buf, static_cast<std::size_t>(n));
    auto lf = s.find('\n');
    if (lf != std::string::npos) s.resize(lf);
    if (!s.empty() && s.back() == '\r') s.pop_back();
    if (s.empty()) return Error::config(path + " is empty");
    return s;
}

void MysqlStore::fetchSites(SitesDone done) {
    pool_.submit<std::vector<SiteRow>>(
        [](sql::Connection& c) -> Result<std::vector<SiteRow>> {
            auto r = c.execute(
                "SELECT name, doveadm_endpoint, doveadm_tls, active, doveadm_password_file FROM sites ORDER BY name");
            if (!r) return std::move(r).error();
            std::vector<SiteRow> out;
            for (const auto& row : r->rows) {
                if (row.size() != 5) return Error::internal("sites row has the wrong number of columns");
                SiteRow s;
                s.name = row[0].value_or("");
                s.endpoint = row[1].value_or("");
                s.tls = flag(row[2]);
                s.active = flag(row[3]);
                s.password_file = row[4].value_or("");
                if (!s.password_file.empty()) {
                    auto pw = readSecretFile(s.password_file);
                    if (pw) {
                        s.password = std::move(*pw);
                    } else {
                        s.password_error = pw.error().message;
                    }
                }
                out.push_back(std::move(s));
            }
            return out;
        },
        std::move(done));
}

void MysqlStore::fetchPlacement(const std::string& user, const std::string& source, PlacementDone done) {
    pool_.submit<std::optional<Placement>>(
        [user, source](sql::Connection& c) -> Result<std::optional<Placement>> {
            auto m = c.execute(
                "SELECT m.id, m.home_site FROM mailboxes m WHERE m.username = ?", {user});
            if (!m) return std::move(m).error();
            if (m->rows.empty()) return std::optional<Placement>{};
            Placement p;
            p.user = user;
            p.home_site = m->rows[0][1].value_or("");
            auto reps = c.execute("SELECT site FROM mailbox_replicas WHERE mailbox_id = ? ORDER BY site",
                                  {m->rows[0][0]});
            if (!reps) return std::move(reps).error();
            for (const auto& row : reps->rows) {
                if (row[0]) p.replicas.push_back(*row[0]);
            }
            auto st = c.execute(
                "SELECT peer_site, last_success IS NOT NULL, dsync_state FROM replication_state"
                " WHERE username = ? AND source_site = ?",
                {user, source});
            if (!st) return std::move(st).error();
            for (const auto& row : st->rows) {
                PeerStatus s;
                s.peer = row[0].value_or("");
                s.ever_synced = flag(row[1]);
                s.dsync_state = row[2].value_or("");
                p.status.push_back(std::move(s));
            }
            return std::optional<Placement>(std::move(p));
        },
        std::move(done));
}

void MysqlStore::storeSyncResult(const SyncRecord& rec, StatusDone done) {
    pool_.submit<bool>(
        [rec](sql::Connection& c) -> Result<bool> {
            // Times are passed as UTC text; the session's time zone must agree.
            if (auto tz = c.execute("SET time_zone = '+00:00'"); !tz) return std::move(tz).error();
            std::string at = sqlTime(rec.at);
            Result<sql::QueryResult> r = Error::internal("unset");
            if (rec.success) {
                r = c.execute(
                    "INSERT INTO replication_state (username, source_site, peer_site, last_success, failures,"
                    " last_full_sync, dsync_state) VALUES (?, ?, ?, ?, 0, ?, ?)"
                    " ON DUPLICATE KEY UPDATE last_success = VALUES(last_success), failures = 0,"
                    " last_full_sync = COALESCE(VALUES(last_full_sync), last_full_sync),"
                    " dsync_state = COALESCE(VALUES(dsync_state), dsync_state)",
                    {rec.user, rec.source, rec.peer, at, rec.full ? sql::Value(at) : sql::Value(),
                     rec.state ? sql::Value(*rec.state) : sql::Value()});
            } else {
                std::string err = rec.error.substr(0, 255);
                r = c.execute(
                    "INSERT INTO replication_state (username, source_site, peer_site, last_failure, last_error,"
                    " failures) VALUES (?, ?, ?, ?, ?, 1)"
                    " ON DUPLICATE KEY UPDATE last_failure = VALUES(last_failure), last_error = VALUES(last_error),"
                    " failures = failures + 1",
                    {rec.user, rec.source, rec.peer, at, err}, false);
            }
            if (!r) return std::move(r).error();
            return true;
        },
        [done = std::move(done)](Result<bool> r) {
            if (!done) return;
            if (!r) {
                done(std::move(r).error());
            } else {
                done(Status{});
            }
        });
}

void MysqlStore::fetchSiteUsers(const std::string& site, const std::string& after, std::size_t limit,
                                PageDone done) {
    pool_.submit<std::vector<std::string>>(
        [site, after, limit](sql::Connection& c) -> Result<std::vector<std::string>> {
            // The limit is our own number, never peer input; the values are bound.
            auto r = c.execute(
                "SELECT m.username FROM mailboxes m WHERE m.username > ? AND (m.home_site = ? OR EXISTS"
                " (SELECT 1 FROM mailbox_replicas r WHERE r.mailbox_id = m.id AND r.site = ?))"
                " ORDER BY m.username LIMIT " + std::to_string(limit),
                {after, site, site});
            if (!r) return std::move(r).error();
            std::vector<std::string> out;
            for (const auto& row : r->rows) {
                if (row[0]) out.push_back(*row[0]);
            }
            return out;
        },
        std::move(done));
}

}  // namespace titan::replicator::store
