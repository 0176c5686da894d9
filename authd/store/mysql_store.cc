#include "authd/store/mysql_store.h"

#include "common/base/strings.h"

namespace titan::authd::store {
namespace {

constexpr const char* kSelect =
    "SELECT m.username, m.password_hash, (m.active AND d.active) AS active, m.disabled_reason,"
    " m.imap, m.pop3, m.smtp, m.ftp, m.quota_bytes, m.quota_messages, m.uid, m.gid, m.home, m.home_site"
    " FROM mailboxes m JOIN domains d ON d.id = m.domain_id";

bool flag(const sql::Value& v) { return v && *v != "0" && !v->empty(); }

Result<uint64_t> number(const sql::Value& v, const char* column) {
    if (!v) return uint64_t{0};
    auto n = base::parseUnsigned(*v);
    if (!n) return Error::internal(std::string("non-numeric ") + column + " in mailboxes row");
    return static_cast<uint64_t>(*n);
}

}  // namespace

Result<Mailbox> MysqlStore::decodeRow(const sql::Row& row) {
    if (row.size() != 14) return Error::internal("mailboxes row has the wrong number of columns");
    Mailbox m;
    m.username = row[0].value_or("");
    m.password_hash = row[1].value_or("");
    m.active = flag(row[2]);
    m.disabled_reason = row[3].value_or("");
    m.imap = flag(row[4]);
    m.pop3 = flag(row[5]);
    m.smtp = flag(row[6]);
    m.ftp = flag(row[7]);
    auto qb = number(row[8], "quota_bytes");
    if (!qb) return std::move(qb).error();
    m.quota_bytes = *qb;
    auto qm = number(row[9], "quota_messages");
    if (!qm) return std::move(qm).error();
    m.quota_messages = *qm;
    if (row[10]) {
        auto uid = number(row[10], "uid");
        if (!uid) return std::move(uid).error();
        m.uid = static_cast<uint32_t>(*uid);
    }
    if (row[11]) {
        auto gid = number(row[11], "gid");
        if (!gid) return std::move(gid).error();
        m.gid = static_cast<uint32_t>(*gid);
    }
    m.home = row[12].value_or("");
    m.home_site = row[13].value_or("");
    return m;
}

Result<std::vector<core::AppPassword>> MysqlStore::fetchAppPasswords(sql::Connection& c, const std::string& user) {
    auto r = c.execute(
        "SELECT a.name, a.password_hash, a.services, a.allowed_networks, UNIX_TIMESTAMP(a.expires_at)"
        " FROM app_passwords a JOIN mailboxes m ON m.id = a.mailbox_id WHERE m.username = ? ORDER BY a.name",
        {user});
    if (!r) return std::move(r).error();
    std::vector<core::AppPassword> out;
    for (const auto& row : r->rows) {
        core::AppPassword a;
        a.name = row[0].value_or("");
        a.password_hash = row[1].value_or("");
        // Named: split() returns views into its argument, and a temporary in a range-for
        // initializer is gone before the loop body runs.
        const std::string services = row[2].value_or("");
        const std::string networks = row[3].value_or("");
        for (auto s : base::split(services, ',')) {
            if (!s.empty()) a.services.push_back(base::asciiLower(s));
        }
        for (auto n : base::split(networks, ',')) {
            while (!n.empty() && n.front() == ' ') n.remove_prefix(1);
            while (!n.empty() && n.back() == ' ') n.remove_suffix(1);
            if (!n.empty()) a.networks.emplace_back(n);
        }
        if (row[4]) {
            if (auto secs = base::parseSigned(*row[4])) a.expires_at = *secs;
        }
        out.push_back(std::move(a));
    }
    return out;
}

Result<std::optional<core::FtpAccount>> MysqlStore::fetchFtpAccount(sql::Connection& c, const std::string& user) {
    auto r = c.execute(
        "SELECT f.home, f.uid, f.gid, f.per_session, f.limit_type, f.bytes_in_avail, f.bytes_out_avail,"
        " f.bytes_xfer_avail, f.files_in_avail, f.files_out_avail, f.files_xfer_avail"
        " FROM ftp_accounts f JOIN mailboxes m ON m.id = f.mailbox_id WHERE m.username = ?",
        {user});
    if (!r) return std::move(r).error();
    if (r->rows.empty()) return std::optional<core::FtpAccount>{};
    const auto& row = r->rows.front();
    if (row.size() != 11) return Error::internal("ftp_accounts row has the wrong number of columns");
    core::FtpAccount f;
    f.home = row[0];
    for (auto [index, field] : {std::pair{1, &f.uid}, std::pair{2, &f.gid}}) {
        if (!row[static_cast<size_t>(index)]) continue;
        auto id = number(row[static_cast<size_t>(index)], "ftp_accounts id");
        if (!id || *id > 0xFFFFFFFEULL) return Error::internal("bad uid/gid in ftp_accounts row");
        *field = static_cast<uint32_t>(*id);
    }
    f.per_session = flag(row[3]);
    f.hard_limit = row[4].value_or("hard") != "soft";
    uint64_t* limits[] = {&f.bytes_in, &f.bytes_out, &f.bytes_xfer, &f.files_in, &f.files_out, &f.files_xfer};
    for (size_t i = 0; i < 6; ++i) {
        auto n = number(row[5 + i], "ftp_accounts limit");
        if (!n) return std::move(n).error();
        *limits[i] = *n;
    }
    return std::optional<core::FtpAccount>(std::move(f));
}

void MysqlStore::fetchMailbox(const std::string& user, MailboxDone done) {
    pool_.submit<std::optional<Mailbox>>(
        [user](sql::Connection& c) -> Result<std::optional<Mailbox>> {
            auto r = c.execute(std::string(kSelect) + " WHERE m.username = ?", {user});
            if (!r) return std::move(r).error();
            if (r->rows.empty()) return std::optional<Mailbox>{};
            auto m = decodeRow(r->rows.front());
            if (!m) return std::move(m).error();
            auto apps = fetchAppPasswords(c, user);
            if (!apps) return std::move(apps).error();
            m->app_passwords = std::move(*apps);
            auto ftp = fetchFtpAccount(c, user);
            if (!ftp) return std::move(ftp).error();
            m->ftp_account = std::move(*ftp);
            return std::optional<Mailbox>(std::move(*m));
        },
        std::move(done));
}

void MysqlStore::fetchUserPage(const std::string& after, size_t limit, PageDone done) {
    pool_.submit<std::vector<Mailbox>>(
        [after, limit](sql::Connection& c) -> Result<std::vector<Mailbox>> {
            // The limit is our own number, never peer input; the cursor is bound.
            auto r = c.execute(std::string(kSelect) + " WHERE m.username > ? ORDER BY m.username LIMIT " +
                                   std::to_string(limit),
                               {after});
            if (!r) return std::move(r).error();
            std::vector<Mailbox> page;
            page.reserve(r->rows.size());
            for (const auto& row : r->rows) {
                auto m = decodeRow(row);
                if (!m) return std::move(m).error();
                page.push_back(std::move(*m));
            }
            return page;
        },
        std::move(done));
}

}  // namespace titan::authd::store
