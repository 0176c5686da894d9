#include "titanctl/ftp_commands.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <optional>
#include <ostream>

#include "authd/core/ftp.h"
#include "authd/store/mysql_store.h"
#include "common/base/strings.h"
#include "common/identity/identity.h"
#include "common/sql/connection.h"

namespace titan::ctl {
namespace {

int fail(Context& ctx, const std::string& message, int code = 1) {
    ctx.err << "titanctl: " << message << "\n";
    return code;
}

struct Parsed {
    std::vector<std::string> positional;
    std::map<std::string, std::string> options;
};

const char* const kOptions[] = {"--home",     "--uid",       "--gid",       "--bytes-in",   "--bytes-out",
                                "--bytes-xfer", "--files-in", "--files-out", "--files-xfer", "--limit-type",
                                "--per-session"};

// Every option of the ftp commands takes a value.
Result<Parsed> parse(const std::vector<std::string>& args, size_t from) {
    Parsed p;
    for (size_t i = from; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.rfind("--", 0) != 0) {
            p.positional.push_back(a);
            continue;
        }
        bool known = false;
        for (const char* o : kOptions) known = known || a == o;
        if (!known) return Error::invalidInput("unknown option " + a);
        if (i + 1 >= args.size()) return Error::invalidInput(a + " needs a value");
        p.options[a] = args[++i];
    }
    return p;
}

Result<unsigned long long> parseSize(const std::string& v) {
    size_t i = 0;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
    auto n = base::parseUnsigned(v.substr(0, i));
    if (!n) return Error::invalidInput("bad size '" + v + "' (e.g. 500M, 2G, 0 = unlimited)");
    std::string unit = base::asciiLower(v.substr(i));
    unsigned long long mul = 1;
    if (unit.empty() || unit == "b") mul = 1;
    else if (unit == "k" || unit == "kib" || unit == "kb") mul = 1ULL << 10;
    else if (unit == "m" || unit == "mib" || unit == "mb") mul = 1ULL << 20;
    else if (unit == "g" || unit == "gib" || unit == "gb") mul = 1ULL << 30;
    else if (unit == "t" || unit == "tib" || unit == "tb") mul = 1ULL << 40;
    else return Error::invalidInput("bad size unit in '" + v + "'");
    if (*n > (1ULL << 62) / mul) return Error::invalidInput("size too large: " + v);
    return *n * mul;
}

std::string human(unsigned long long bytes) {
    static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < std::size(kUnits)) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, kUnits[u]);
    return buf;
}

// A uid/gid as a number or a name; "default" clears it (SQL NULL).
Result<sql::Value> parseId(const std::string& v, bool group) {
    if (v == "default") return sql::Value{};
    if (auto n = base::parseUnsigned(v); n && *n > 0 && *n < 0xFFFFFFFFULL) return sql::Value{std::to_string(*n)};
    if (group) {
        if (struct group* g = getgrnam(v.c_str())) return sql::Value{std::to_string(g->gr_gid)};
    } else {
        if (struct passwd* p = getpwnam(v.c_str())) return sql::Value{std::to_string(p->pw_uid)};
    }
    return Error::invalidInput(std::string("unknown ") + (group ? "group" : "user") + " '" + v + "'");
}

int ftpShow(Context& ctx, const Parsed& p) {
    if (p.positional.size() != 1 || !p.options.empty()) return fail(ctx, "usage: titanctl ftp show USER", 2);
    auto user = identity::canonicalUser(p.positional[0], ctx.config.identity);
    if (!user) return fail(ctx, "invalid user name: " + user.error().message, 2);
    sql::Connection db(ctx.config.database);
    auto r = db.execute(
        "SELECT m.ftp, (m.active AND d.active) FROM mailboxes m JOIN domains d ON d.id = m.domain_id"
        " WHERE m.username = ?",
        {*user});
    if (!r) return fail(ctx, r.error().message);
    if (r->rows.empty()) return fail(ctx, "no such mailbox: " + *user);
    authd::core::Mailbox m;
    m.username = *user;
    m.ftp = r->rows[0][0].value_or("0") == "1";
    m.active = r->rows[0][1].value_or("0") == "1";
    auto row = authd::store::MysqlStore::fetchFtpAccount(db, *user);
    if (!row) return fail(ctx, row.error().message);
    m.ftp_account = *row;

    ctx.out << "user         " << *user << "\n";
    ctx.out << "ftp          " << (m.ftp ? "on" : "off") << (m.active ? "" : " (account disabled)") << "\n";
    const auto& d = ctx.config.dict.userdb_defaults;
    auto resolved = authd::core::resolveFtpUser(m, ctx.config.ftp, d.uid, d.gid);
    if (!resolved) {
        ctx.out << "unusable     " << resolved.error().message << "\n";
    } else {
        const authd::core::FtpAccount acct = m.ftp_account.value_or(authd::core::FtpAccount{});
        ctx.out << "home         " << resolved->home << (acct.home ? "" : "  (ftp.home template)") << "\n";
        ctx.out << "uid          " << resolved->uid << (acct.uid ? "" : "  (default)") << "\n";
        ctx.out << "gid          " << resolved->gid << (acct.gid ? "" : "  (default)") << "\n";
    }
    const authd::core::FtpAccount l = m.ftp_account.value_or(authd::core::FtpAccount{});
    std::string limits;
    auto add = [&](const char* name, unsigned long long v, bool bytes) {
        if (v == 0) return;
        limits += (limits.empty() ? "" : ", ") + std::string(name) + " " + (bytes ? human(v) : std::to_string(v));
    };
    add("bytes in", l.bytes_in, true);
    add("bytes out", l.bytes_out, true);
    add("bytes in+out", l.bytes_xfer, true);
    add("files in", l.files_in, false);
    add("files out", l.files_out, false);
    add("files in+out", l.files_xfer, false);
    if (limits.empty()) {
        ctx.out << "limits       none\n";
    } else {
        ctx.out << "limits       " << limits << " (" << (l.hard_limit ? "hard" : "soft") << ", "
                << (l.per_session ? "per session" : "in total") << ")\n";
    }
    auto t = db.execute(
        "SELECT bytes_in_used, bytes_out_used, bytes_xfer_used, files_in_used, files_out_used, files_xfer_used,"
        " updated_at FROM ftp_quota_tallies WHERE username = ?",
        {*user});
    if (!t) return fail(ctx, t.error().message);
    if (t->rows.empty()) {
        ctx.out << "used         nothing counted\n";
    } else {
        const auto& u = t->rows[0];
        auto n = [&](size_t i) { return base::parseSigned(u[i].value_or("0")).value_or(0); };
        ctx.out << "used         bytes in " << human(static_cast<unsigned long long>(std::max(0LL, n(0))))
                << ", out " << human(static_cast<unsigned long long>(std::max(0LL, n(1)))) << ", files in " << n(3)
                << ", out " << n(4) << " (since " << u[6].value_or("?") << ")\n";
    }
    return 0;
}

int ftpSet(Context& ctx, const Parsed& p) {
    if (p.positional.size() != 1 || p.options.empty()) {
        return fail(ctx, "usage: titanctl ftp set USER [--home PATH|default] [--uid N|NAME|default]"
                         " [--gid N|NAME|default] [--bytes-in SIZE] [--bytes-out SIZE] [--bytes-xfer SIZE]"
                         " [--files-in N] [--files-out N] [--files-xfer N] [--limit-type hard|soft]"
                         " [--per-session on|off]", 2);
    }
    auto user = identity::canonicalUser(p.positional[0], ctx.config.identity);
    if (!user) return fail(ctx, "invalid user name: " + user.error().message, 2);
    std::vector<std::string> columns;
    std::vector<sql::Value> values;
    auto set = [&](const std::string& column, sql::Value v) {
        columns.push_back(column);
        values.push_back(std::move(v));
    };
    for (const auto& [option, value] : p.options) {
        if (option == "--home") {
            if (value == "default") {
                set("home", std::nullopt);
            } else if (!authd::core::isCleanAbsolutePath(value)) {
                return fail(ctx, "--home must be a clean absolute path (or default)", 2);
            } else {
                set("home", value);
            }
        } else if (option == "--uid" || option == "--gid") {
            auto id = parseId(value, option == "--gid");
            if (!id) return fail(ctx, id.error().message, 2);
            set(option.substr(2), *id);
        } else if (option == "--bytes-in" || option == "--bytes-out" || option == "--bytes-xfer") {
            auto n = parseSize(value);
            if (!n) return fail(ctx, n.error().message, 2);
            set(option.substr(2, 5) + "_" + option.substr(8) + "_avail", std::to_string(*n));
        } else if (option == "--files-in" || option == "--files-out" || option == "--files-xfer") {
            auto n = base::parseUnsigned(value);
            if (!n || *n > 0xFFFFFFFFULL) return fail(ctx, option + " takes a number (0 = unlimited)", 2);
            set(option.substr(2, 5) + "_" + option.substr(8) + "_avail", std::to_string(*n));
        } else if (option == "--limit-type") {
            if (value != "hard" && value != "soft") return fail(ctx, "--limit-type takes hard or soft", 2);
            set("limit_type", value);
        } else if (option == "--per-session") {
            if (value != "on" && value != "off") return fail(ctx, "--per-session takes on or off", 2);
            set("per_session", std::string(value == "on" ? "1" : "0"));
        }
    }
    // Column names come from the fixed option list above, never from input.
    std::string insert_cols = "mailbox_id", insert_vals = "m.id", update;
    for (const auto& c : columns) {
        insert_cols += ", " + c;
        insert_vals += ", ?";
        update += (update.empty() ? "" : ", ") + c + " = VALUES(" + c + ")";
    }
    values.push_back(*user);
    sql::Connection db(ctx.config.database);
    auto r = db.execute("INSERT INTO ftp_accounts (" + insert_cols + ") SELECT " + insert_vals +
                            " FROM mailboxes m WHERE m.username = ? ON DUPLICATE KEY UPDATE " + update,
                        values, false);
    if (!r) return fail(ctx, r.error().message);
    if (r->affected_rows == 0) {
        auto exists = db.execute("SELECT 1 FROM mailboxes WHERE username = ?", {*user});
        if (exists && exists->rows.empty()) return fail(ctx, "no such mailbox: " + *user);
    }
    notifyAuthd(ctx, *user);
    ctx.out << "ftp settings of " << *user << " updated\n";
    return 0;
}

int ftpTallyReset(Context& ctx, const Parsed& p) {
    if (p.positional.size() != 1 || !p.options.empty()) return fail(ctx, "usage: titanctl ftp tally-reset USER", 2);
    auto user = identity::canonicalUser(p.positional[0], ctx.config.identity);
    if (!user) return fail(ctx, "invalid user name: " + user.error().message, 2);
    sql::Connection db(ctx.config.database);
    auto r = db.execute("DELETE FROM ftp_quota_tallies WHERE username = ?", {*user}, false);
    if (!r) return fail(ctx, r.error().message);
    ctx.out << "ftp tally of " << *user << (r->affected_rows ? " reset" : " was empty") << "\n";
    return 0;
}

}  // namespace

std::string ftpUsage() {
    return "  ftp show USER                   FTP home, uid/gid (row or defaults), limits, usage\n"
           "  ftp set USER [options]          FTP settings (table ftp_accounts); sizes like 500M, 0 = unlimited\n"
           "      --home PATH|default --uid N|NAME|default --gid N|NAME|default\n"
           "      --bytes-in SIZE --bytes-out SIZE --bytes-xfer SIZE --files-in N --files-out N --files-xfer N\n"
           "      --limit-type hard|soft --per-session on|off\n"
           "  ftp tally-reset USER            forget the transfers counted against the limits\n";
}

int runFtp(Context& ctx, const std::vector<std::string>& args) {
    if (args.size() < 2) {
        ctx.err << ftpUsage();
        return 2;
    }
    auto p = parse(args, 2);
    if (!p) return fail(ctx, p.error().message, 2);
    const std::string& verb = args[1];
    if (verb == "help") {
        ctx.out << ftpUsage();
        return 0;
    }
    if (verb == "show") return ftpShow(ctx, *p);
    if (verb == "set") return ftpSet(ctx, *p);
    if (verb == "tally-reset") return ftpTallyReset(ctx, *p);
    ctx.err << "titanctl: unknown command 'ftp " << verb << "'\n" << ftpUsage();
    return 2;
}

}  // namespace titan::ctl
