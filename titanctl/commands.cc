#include "titanctl/commands.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <openssl/rand.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>

#include "common/base/strings.h"
#include "common/identity/identity.h"
#include "common/net/cidr.h"
#include "common/password/password.h"
#include "common/sql/pool.h"
#include "titanctl/ftp_commands.h"
#include "titanctl/migrations.h"
#include "titanctl/policy_commands.h"
#include "titanctl/quota_commands.h"
#include "titanctl/maps_commands.h"
#include "titanctl/replication_commands.h"

namespace titan::ctl {
namespace {

// ---- argument handling ------------------------------------------------------------

struct Args {
    std::vector<std::string> positional;
    std::map<std::string, std::string> options;  // "--quota" -> "1G"; flags -> ""
};

// Options that take a value; anything else starting with "--" is a flag.
const char* const kValueOptions[] = {"--quota", "--quota-messages", "--home", "--uid", "--gid", "--home-site",
                                     "--password-file", "--reason", "--imap", "--pop3", "--smtp", "--ftp",
                                     "--services", "--networks", "--expires"};

Result<Args> parseArgs(const std::vector<std::string>& in, size_t from) {
    Args a;
    for (size_t i = from; i < in.size(); ++i) {
        const std::string& s = in[i];
        if (s.rfind("--", 0) != 0) {
            a.positional.push_back(s);
            continue;
        }
        bool takes_value = false;
        for (const char* o : kValueOptions) takes_value = takes_value || s == o;
        if (takes_value) {
            if (i + 1 >= in.size()) return Error::invalidInput(s + " needs a value");
            a.options[s] = in[++i];
        } else {
            a.options[s] = "";
        }
    }
    return a;
}

Result<bool> onOff(const std::string& v, const std::string& option) {
    if (v == "on" || v == "yes" || v == "1") return true;
    if (v == "off" || v == "no" || v == "0") return false;
    return Error::invalidInput(option + " takes on or off");
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
    if (*n > (~0ULL) / mul) return Error::invalidInput("size too large: " + v);
    return *n * mul;
}

// ---- passwords --------------------------------------------------------------------

std::string readLine(std::istream& in) {
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

std::string promptHidden(Context& ctx, const char* prompt) {
    ctx.err << prompt << std::flush;
    termios old{};
    bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    std::string line = readLine(ctx.in);
    if (tty) tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    ctx.err << "\n";
    return line;
}

// The new password: from --password-file, from a terminal (asked twice), or the
// first line of standard input. Never from the command line, where `ps` shows it.
Result<std::string> newPassword(Context& ctx, const Args& a) {
    std::string pw;
    if (auto it = a.options.find("--password-file"); it != a.options.end()) {
        std::ifstream f(it->second);
        if (!f) return Error::invalidInput("cannot read password file " + it->second);
        std::getline(f, pw);
    } else if (ctx.stdin_is_tty) {
        pw = promptHidden(ctx, "New password: ");
        if (promptHidden(ctx, "Repeat password: ") != pw) return Error::invalidInput("passwords do not match");
    } else {
        pw = readLine(ctx.in);
    }
    if (pw.empty()) return Error::invalidInput("empty password refused");
    if (pw.size() > 1024) return Error::invalidInput("password longer than 1024 bytes refused");
    // One normalisation policy: the hash is of the NFC form (authd also tries NFC at login).
    if (auto nfc = identity::nfcIfDifferent(pw)) pw = std::move(*nfc);
    return pw;
}

// ---- database -----------------------------------------------------------------------

sql::Connection connect(Context& ctx) { return sql::Connection(ctx.config.database); }

int fail(Context& ctx, const std::string& message, int code = 1) {
    ctx.err << "titanctl: " << message << "\n";
    return code;
}

std::string expandHome(const std::string& tmpl, const std::string& user) {
    std::string out;
    std::string domain(identity::domainOf(user));
    std::string local(identity::localPartOf(user));
    for (size_t i = 0; i < tmpl.size(); ++i) {
        if (tmpl[i] == '%' && i + 1 < tmpl.size()) {
            char c = tmpl[++i];
            if (c == 'd') out += domain;
            else if (c == 'n') out += local;
            else if (c == 'u') out += user;
            else if (c == '%') out += '%';
            else {
                out += '%';
                out += c;
            }
        } else {
            out += tmpl[i];
        }
    }
    return out;
}

Result<std::string> canonical(Context& ctx, const std::string& raw) {
    auto u = identity::canonicalUser(raw, ctx.config.identity);
    if (!u) return Error::invalidInput("invalid user name '" + raw + "': " + u.error().message);
    return *u;
}

// ---- commands -------------------------------------------------------------------------

int dbMigrate(Context& ctx) {
    auto db = connect(ctx);
    auto st = db.executeScript(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INT UNSIGNED NOT NULL PRIMARY KEY,"
        " name VARCHAR(255) NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin");
    if (!st) return fail(ctx, "cannot reach the database: " + st.error().message);
    auto applied = db.execute("SELECT version FROM schema_migrations");
    if (!applied) return fail(ctx, applied.error().message);
    std::vector<unsigned> done;
    for (const auto& row : applied->rows) {
        if (row[0]) done.push_back(static_cast<unsigned>(base::parseUnsigned(*row[0]).value_or(0)));
    }
    int count = 0;
    for (const auto& m : migrations()) {
        if (std::find(done.begin(), done.end(), m.version) != done.end()) continue;
        if (auto r = db.executeScript(m.sql); !r) {
            return fail(ctx, std::string("migration ") + m.name + " failed: " + r.error().message);
        }
        auto rec = db.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                              {std::to_string(m.version), std::string(m.name)}, false);
        if (!rec) return fail(ctx, rec.error().message);
        ctx.out << "applied " << m.name << "\n";
        ++count;
    }
    ctx.out << (count == 0 ? "schema is up to date\n" : "migrations applied: " + std::to_string(count) + "\n");
    return 0;
}

int domainAdd(Context& ctx, const Args& a) {
    if (a.positional.size() != 1) return fail(ctx, "usage: titanctl domain add DOMAIN", 2);
    auto d = identity::canonicalDomain(a.positional[0]);
    if (!d) return fail(ctx, "invalid domain '" + a.positional[0] + "': " + d.error().message, 2);
    auto db = connect(ctx);
    auto r = db.execute("INSERT INTO domains (name) VALUES (?)", {*d}, false);
    if (!r) {
        if (db.lastErrno() == 1062) return fail(ctx, "domain " + *d + " already exists");
        return fail(ctx, r.error().message);
    }
    ctx.out << "domain " << *d << " added\n";
    return 0;
}

int domainList(Context& ctx) {
    auto db = connect(ctx);
    auto r = db.execute(
        "SELECT d.name, d.active, COUNT(m.id) FROM domains d LEFT JOIN mailboxes m ON m.domain_id = d.id"
        " GROUP BY d.id, d.name, d.active ORDER BY d.name");
    if (!r) return fail(ctx, r.error().message);
    for (const auto& row : r->rows) {
        ctx.out << row[0].value_or("") << "\t" << (row[1].value_or("0") == "1" ? "active" : "disabled") << "\t"
                << row[2].value_or("0") << " mailboxes\n";
    }
    return 0;
}

int userAdd(Context& ctx, const Args& a) {
    if (a.positional.size() != 1) {
        return fail(ctx, "usage: titanctl user add USER [--password-file F] [--quota SIZE] [--quota-messages N]"
                         " [--home PATH] [--uid N] [--gid N] [--imap on|off] [--pop3 on|off] [--smtp on|off]"
                         " [--ftp on|off] [--home-site SITE]", 2);
    }
    auto user = canonical(ctx, a.positional[0]);
    if (!user) return fail(ctx, user.error().message, 2);
    std::map<std::string, std::string> flags = {{"--imap", "1"}, {"--pop3", "1"}, {"--smtp", "1"}, {"--ftp", "0"}};
    for (auto& [opt, val] : flags) {
        if (auto it = a.options.find(opt); it != a.options.end()) {
            auto b = onOff(it->second, opt);
            if (!b) return fail(ctx, b.error().message, 2);
            val = *b ? "1" : "0";
        }
    }
    unsigned long long quota = 0, quota_messages = 0;
    if (auto it = a.options.find("--quota"); it != a.options.end()) {
        auto q = parseSize(it->second);
        if (!q) return fail(ctx, q.error().message, 2);
        quota = *q;
    }
    if (auto it = a.options.find("--quota-messages"); it != a.options.end()) {
        auto q = base::parseUnsigned(it->second);
        if (!q) return fail(ctx, "--quota-messages takes a number", 2);
        quota_messages = *q;
    }
    sql::Value uid, gid, site;
    if (auto it = a.options.find("--uid"); it != a.options.end()) {
        if (!base::parseUnsigned(it->second)) return fail(ctx, "--uid takes a number", 2);
        uid = it->second;
    }
    if (auto it = a.options.find("--gid"); it != a.options.end()) {
        if (!base::parseUnsigned(it->second)) return fail(ctx, "--gid takes a number", 2);
        gid = it->second;
    }
    if (auto it = a.options.find("--home-site"); it != a.options.end()) site = it->second;
    std::string home = expandHome(ctx.config.accounts.home, *user);
    if (auto it = a.options.find("--home"); it != a.options.end()) home = it->second;
    if (home.empty() || home.front() != '/') return fail(ctx, "home must be an absolute path", 2);

    auto pw = newPassword(ctx, a);
    if (!pw) return fail(ctx, pw.error().message, 2);
    auto hash = password::generate(ctx.config.accounts.password_scheme, *pw);
    if (!hash) return fail(ctx, "cannot hash the password: " + hash.error().message);

    auto db = connect(ctx);
    std::string domain(identity::domainOf(*user));
    auto dom = db.execute("SELECT id FROM domains WHERE name = ?", {domain});
    if (!dom) return fail(ctx, dom.error().message);
    if (dom->rows.empty()) {
        return fail(ctx, "domain " + domain + " does not exist (add it with: titanctl domain add " + domain + ")");
    }
    auto r = db.execute(
        "INSERT INTO mailboxes (domain_id, username, local_part, password_hash, imap, pop3, smtp, ftp,"
        " quota_bytes, quota_messages, uid, gid, home, home_site) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        {dom->rows[0][0], *user, std::string(identity::localPartOf(*user)), *hash, flags["--imap"], flags["--pop3"],
         flags["--smtp"], flags["--ftp"], std::to_string(quota), std::to_string(quota_messages), uid, gid, home, site},
        false);
    if (!r) {
        if (db.lastErrno() == 1062) return fail(ctx, "mailbox " + *user + " already exists");
        return fail(ctx, r.error().message);
    }
    notifyAuthd(ctx, *user);
    ctx.out << "mailbox " << *user << " added (home " << home << ")\n";
    return 0;
}

// Run one UPDATE on a mailbox; report a missing user.
int updateUser(Context& ctx, const std::string& user, const std::string& set_clause, std::vector<sql::Value> params,
               const std::string& done) {
    auto db = connect(ctx);
    params.push_back(user);
    auto r = db.execute("UPDATE mailboxes SET " + set_clause + " WHERE username = ?", params, false);
    if (!r) return fail(ctx, r.error().message);
    if (r->affected_rows == 0) {
        auto exists = db.execute("SELECT 1 FROM mailboxes WHERE username = ?", {user});
        if (exists && exists->rows.empty()) return fail(ctx, "no such mailbox: " + user);
    }
    notifyAuthd(ctx, user);
    ctx.out << done << "\n";
    return 0;
}

int userPasswd(Context& ctx, const Args& a) {
    if (a.positional.size() != 1) return fail(ctx, "usage: titanctl user passwd USER [--password-file F]", 2);
    auto user = canonical(ctx, a.positional[0]);
    if (!user) return fail(ctx, user.error().message, 2);
    auto pw = newPassword(ctx, a);
    if (!pw) return fail(ctx, pw.error().message, 2);
    auto hash = password::generate(ctx.config.accounts.password_scheme, *pw);
    if (!hash) return fail(ctx, "cannot hash the password: " + hash.error().message);
    return updateUser(ctx, *user, "password_hash = ?", {*hash}, "password changed for " + *user);
}

int userEnable(Context& ctx, const Args& a, bool enable) {
    if (a.positional.size() != 1) {
        return fail(ctx, enable ? "usage: titanctl user enable USER" : "usage: titanctl user disable USER [--reason TEXT]", 2);
    }
    auto user = canonical(ctx, a.positional[0]);
    if (!user) return fail(ctx, user.error().message, 2);
    sql::Value reason;
    if (auto it = a.options.find("--reason"); it != a.options.end() && !enable) reason = it->second;
    return updateUser(ctx, *user, "active = ?, disabled_reason = ?", {std::string(enable ? "1" : "0"), reason},
                      *user + (enable ? " enabled" : " disabled"));
}

int userSet(Context& ctx, const Args& a) {
    if (a.positional.size() != 1 || a.options.empty()) {
        return fail(ctx, "usage: titanctl user set USER [--imap on|off] [--pop3 on|off] [--smtp on|off] [--ftp on|off]"
                         " [--quota SIZE] [--quota-messages N] [--home PATH] [--home-site SITE]", 2);
    }
    auto user = canonical(ctx, a.positional[0]);
    if (!user) return fail(ctx, user.error().message, 2);
    std::string set;
    std::vector<sql::Value> params;
    auto add = [&](const std::string& column, sql::Value v) {
        set += (set.empty() ? "" : ", ") + column + " = ?";
        params.push_back(std::move(v));
    };
    for (const char* svc : {"imap", "pop3", "smtp", "ftp"}) {
        if (auto it = a.options.find(std::string("--") + svc); it != a.options.end()) {
            auto b = onOff(it->second, it->first);
            if (!b) return fail(ctx, b.error().message, 2);
            add(svc, std::string(*b ? "1" : "0"));
        }
    }
    if (auto it = a.options.find("--quota"); it != a.options.end()) {
        auto q = parseSize(it->second);
        if (!q) return fail(ctx, q.error().message, 2);
        add("quota_bytes", std::to_string(*q));
    }
    if (auto it = a.options.find("--quota-messages"); it != a.options.end()) {
        auto q = base::parseUnsigned(it->second);
        if (!q) return fail(ctx, "--quota-messages takes a number", 2);
        add("quota_messages", std::to_string(*q));
    }
    if (auto it = a.options.find("--home"); it != a.options.end()) {
        if (it->second.empty() || it->second.front() != '/') return fail(ctx, "home must be an absolute path", 2);
        add("home", it->second);
    }
    if (auto it = a.options.find("--home-site"); it != a.options.end()) add("home_site", it->second);
    if (set.empty()) return fail(ctx, "nothing to change", 2);
    return updateUser(ctx, *user, set, params, *user + " updated");
}

int userShow(Context& ctx, const Args& a) {
    if (a.positional.size() != 1) return fail(ctx, "usage: titanctl user show USER", 2);
    auto user = canonical(ctx, a.positional[0]);
    if (!user) return fail(ctx, user.error().message, 2);
    auto db = connect(ctx);
    auto r = db.execute(
        "SELECT m.username, m.active, d.active, m.disabled_reason, m.imap, m.pop3, m.smtp, m.ftp, m.quota_bytes,"
        " m.quota_messages, m.uid, m.gid, m.home, m.home_site, m.password_hash, m.created_at, m.updated_at"
        " FROM mailboxes m JOIN domains d ON d.id = m.domain_id WHERE m.username = ?",
        {*user});
    if (!r) return fail(ctx, r.error().message);
    if (r->rows.empty()) return fail(ctx, "no such mailbox: " + *user);
    const auto& row = r->rows[0];
    auto yn = [](const sql::Value& v) { return v.value_or("0") == "1" ? "yes" : "no"; };
    std::string hash = row[14].value_or("");
    std::string scheme = hash.empty() ? "(none: logins always fail)" : password::schemeOf(hash, "CRYPT");
    ctx.out << "user:            " << row[0].value_or("") << "\n"
            << "active:          " << yn(row[1]) << (yn(row[2])[0] == 'n' ? " (domain disabled)" : "") << "\n";
    if (row[3]) ctx.out << "disabled reason: " << *row[3] << "\n";
    ctx.out << "imap:            " << yn(row[4]) << "\n"
            << "pop3:            " << yn(row[5]) << "\n"
            << "smtp:            " << yn(row[6]) << "\n"
            << "ftp:             " << yn(row[7]) << "\n"
            << "quota bytes:     " << (row[8].value_or("0") == "0" ? "unlimited" : *row[8]) << "\n"
            << "quota messages:  " << (row[9].value_or("0") == "0" ? "unlimited" : *row[9]) << "\n"
            << "uid:             " << row[10].value_or("(default)") << "\n"
            << "gid:             " << row[11].value_or("(default)") << "\n"
            << "home:            " << row[12].value_or("") << "\n"
            << "home site:       " << row[13].value_or("(none)") << "\n"
            << "password scheme: " << scheme << "\n"
            << "created:         " << row[15].value_or("") << "\n"
            << "updated:         " << row[16].value_or("") << "\n";
    return 0;
}

int userList(Context& ctx, const Args& a) {
    auto db = connect(ctx);
    Result<sql::QueryResult> r = Error::internal("unset");
    if (a.positional.empty()) {
        r = db.execute("SELECT username, active FROM mailboxes ORDER BY username");
    } else {
        auto d = identity::canonicalDomain(a.positional[0]);
        if (!d) return fail(ctx, "invalid domain: " + d.error().message, 2);
        r = db.execute(
            "SELECT m.username, m.active FROM mailboxes m JOIN domains d ON d.id = m.domain_id WHERE d.name = ?"
            " ORDER BY m.username",
            {*d});
    }
    if (!r) return fail(ctx, r.error().message);
    for (const auto& row : r->rows) {
        ctx.out << row[0].value_or("") << (row[1].value_or("0") == "1" ? "" : "\t(disabled)") << "\n";
    }
    return 0;
}

int userDelete(Context& ctx, const Args& a) {
    if (a.positional.size() != 1) return fail(ctx, "usage: titanctl user delete USER", 2);
    auto user = canonical(ctx, a.positional[0]);
    if (!user) return fail(ctx, user.error().message, 2);
    auto db = connect(ctx);
    auto r = db.execute("DELETE FROM mailboxes WHERE username = ?", {*user}, false);
    if (!r) return fail(ctx, r.error().message);
    if (r->affected_rows == 0) return fail(ctx, "no such mailbox: " + *user);
    notifyAuthd(ctx, *user);
    ctx.out << "mailbox " << *user << " deleted (its mail files are left in place)\n";
    return 0;
}

// ---- app passwords ----------------------------------------------------------------

// 24 characters from an alphabet without look-alikes; about 138 bits.
std::string randomAppPassword() {
    static const char kAlphabet[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    unsigned char raw[24];
    if (RAND_bytes(raw, sizeof(raw)) != 1) return {};
    std::string out;
    for (unsigned char b : raw) out += kAlphabet[b % (sizeof(kAlphabet) - 1)];
    return out;
}

int appPasswordAdd(Context& ctx, const Args& a) {
    if (a.positional.size() != 2) {
        return fail(ctx, "usage: titanctl app-password add USER NAME [--services smtp,imap,pop3,ftp]"
                         " [--networks CIDR,...] [--expires 30d|YYYY-MM-DD]", 2);
    }
    auto user = canonical(ctx, a.positional[0]);
    if (!user) return fail(ctx, user.error().message, 2);
    const std::string& name = a.positional[1];
    if (name.empty() || name.size() > 64 || base::hasControlBytes(name)) return fail(ctx, "bad app password name", 2);
    std::string services = "smtp";
    if (auto it = a.options.find("--services"); it != a.options.end()) services = base::asciiLower(it->second);
    for (auto svc : base::split(services, ',')) {
        if (svc != "smtp" && svc != "imap" && svc != "pop3" && svc != "ftp") {
            return fail(ctx, "--services takes a comma list of smtp, imap, pop3, ftp", 2);
        }
    }
    sql::Value networks;
    if (auto it = a.options.find("--networks"); it != a.options.end()) {
        std::vector<std::string> list;
        for (auto n : base::split(it->second, ',')) list.emplace_back(n);
        if (auto parsed = net::CidrList::parse(list); !parsed) return fail(ctx, parsed.error().message, 2);
        networks = it->second;
    }
    std::string expires_sql = "NULL";
    std::vector<sql::Value> params;
    sql::Value expires_param;
    if (auto it = a.options.find("--expires"); it != a.options.end()) {
        const std::string& e = it->second;
        if (!e.empty() && (e.back() == 'd' || e.back() == 'h')) {
            auto n = base::parseUnsigned(e.substr(0, e.size() - 1));
            if (!n || *n == 0 || *n > 36500) return fail(ctx, "bad --expires (e.g. 30d, 12h, 2027-01-31)", 2);
            expires_sql = "NOW() + INTERVAL ? SECOND";
            expires_param = std::to_string(*n * (e.back() == 'd' ? 86400 : 3600));
        } else if (e.size() == 10 && e[4] == '-' && e[7] == '-') {
            expires_sql = "CAST(? AS DATETIME)";
            expires_param = e;
        } else {
            return fail(ctx, "bad --expires (e.g. 30d, 12h, 2027-01-31)", 2);
        }
    }
    std::string secret = randomAppPassword();
    if (secret.empty()) return fail(ctx, "no randomness available");
    auto hash = password::generate(ctx.config.accounts.password_scheme, secret);
    if (!hash) return fail(ctx, "cannot hash the password: " + hash.error().message);
    auto db = connect(ctx);
    params = {*hash, services, networks};
    if (expires_param) params.push_back(expires_param);
    params.push_back(name);
    params.push_back(*user);
    auto r = db.execute("INSERT INTO app_passwords (mailbox_id, password_hash, services, allowed_networks, expires_at, name)"
                        " SELECT m.id, ?, ?, ?, " + expires_sql + ", ? FROM mailboxes m WHERE m.username = ?",
                        params, false);
    if (!r) {
        if (db.lastErrno() == 1062) return fail(ctx, "app password '" + name + "' already exists for " + *user);
        return fail(ctx, r.error().message);
    }
    if (r->affected_rows == 0) return fail(ctx, "no such mailbox: " + *user);
    notifyAuthd(ctx, *user);
    ctx.out << "app password '" << name << "' for " << *user << " (" << services << "): " << secret << "\n"
            << "It is shown only now; store it in the application.\n";
    return 0;
}

int appPasswordList(Context& ctx, const Args& a) {
    if (a.positional.size() != 1) return fail(ctx, "usage: titanctl app-password list USER", 2);
    auto user = canonical(ctx, a.positional[0]);
    if (!user) return fail(ctx, user.error().message, 2);
    auto db = connect(ctx);
    auto r = db.execute(
        "SELECT a.name, a.services, COALESCE(a.allowed_networks, 'anywhere'), COALESCE(a.expires_at, 'never'),"
        " a.created_at FROM app_passwords a JOIN mailboxes m ON m.id = a.mailbox_id WHERE m.username = ?"
        " ORDER BY a.name",
        {*user});
    if (!r) return fail(ctx, r.error().message);
    for (const auto& row : r->rows) {
        ctx.out << row[0].value_or("") << "\tservices=" << row[1].value_or("") << "\tnetworks=" << row[2].value_or("")
                << "\texpires=" << row[3].value_or("") << "\tcreated=" << row[4].value_or("") << "\n";
    }
    return 0;
}

int appPasswordDelete(Context& ctx, const Args& a) {
    if (a.positional.size() != 2) return fail(ctx, "usage: titanctl app-password delete USER NAME", 2);
    auto user = canonical(ctx, a.positional[0]);
    if (!user) return fail(ctx, user.error().message, 2);
    auto db = connect(ctx);
    auto r = db.execute(
        "DELETE a FROM app_passwords a JOIN mailboxes m ON m.id = a.mailbox_id WHERE m.username = ? AND a.name = ?",
        {*user, a.positional[1]}, false);
    if (!r) return fail(ctx, r.error().message);
    if (r->affected_rows == 0) return fail(ctx, "no app password '" + a.positional[1] + "' for " + *user);
    notifyAuthd(ctx, *user);
    ctx.out << "app password '" << a.positional[1] << "' of " << *user << " deleted\n";
    return 0;
}

int passwordHash(Context& ctx, const Args& a) {
    std::string scheme = ctx.config.accounts.password_scheme;
    if (!a.positional.empty()) scheme = a.positional[0];
    auto pw = newPassword(ctx, a);
    if (!pw) return fail(ctx, pw.error().message, 2);
    auto hash = password::generate(scheme, *pw);
    if (!hash) return fail(ctx, hash.error().message, 2);
    ctx.out << *hash << "\n";
    return 0;
}

}  // namespace

// ---- the local authd's admin socket -----------------------------------------------

bool authdAdminCommand(Context& ctx, const std::string& command) {
    const auto& admin = ctx.config.common.admin;
    if (!admin || admin->path.empty()) return false;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strncpy(sun.sun_path, admin->path.c_str(), sizeof(sun.sun_path) - 1);
    timeval tv{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    bool answered = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) == 0) {
        std::string line = command + "\n";
        if (::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
            char buf[256];
            answered = ::read(fd, buf, sizeof(buf)) > 0;
        }
    }
    ::close(fd);
    return answered;
}

void notifyAuthd(Context& ctx, const std::string& user) { (void)authdAdminCommand(ctx, "cache-flush " + user); }

std::string usage() {
    return "usage: titanctl [--config PATH] COMMAND ...\n"
           "  db migrate                      create or upgrade the schema\n"
           "  domain add DOMAIN               add a mail domain\n"
           "  domain list\n"
           "  user add USER [options]         add a mailbox; the password is read from the terminal,\n"
           "                                  --password-file F, or the first line of stdin\n"
           "      --quota SIZE --quota-messages N --home PATH --uid N --gid N --home-site SITE\n"
           "      --imap on|off --pop3 on|off --smtp on|off --ftp on|off\n"
           "  user passwd USER [--password-file F]\n"
           "  user disable USER [--reason TEXT]\n"
           "  user enable USER\n"
           "  user set USER [same options as add]\n"
           "  user show USER\n"
           "  user list [DOMAIN]\n"
           "  user delete USER\n"
           "  password hash [SCHEME]          print a hash of the password read as for user add\n"
           "  app-password add USER NAME [--services smtp,imap,pop3,ftp] [--networks CIDR,...]\n"
           "                   [--expires 30d|YYYY-MM-DD]   create one; the password is printed once\n"
           "  app-password list USER\n"
           "  app-password delete USER NAME\n"
           "  alias, alias-domain, sender ...  Postfix maps (aliases, alias domains, sender logins):\n"
           "                                  titanctl alias help\n"
           "  quota show|set|recalc ...       mailbox quota usage and limits: titanctl quota help\n"
           "  ftp show|set|tally-reset ...    FTP home, uid/gid, transfer limits: titanctl ftp help\n"
           "  policy ...                      titan-policyd counters, greylist, holds, lists:\n"
           "                                  titanctl policy help\n"
           "  replication ...                 sites, replicas, queue, peers: titanctl replication help\n"
           "The database settings come from titan-authd's config (default /etc/titan/authd.yaml).\n";
}

int run(Context& ctx, const std::vector<std::string>& args) {
    if (args.size() == 1 && args[0] == "help") {
        ctx.out << usage();
        return 0;
    }
    if (args.size() < 2) {
        ctx.err << usage();
        return 2;
    }
    auto parsed = parseArgs(args, 2);
    if (!parsed) return fail(ctx, parsed.error().message, 2);
    const std::string& noun = args[0];
    const std::string& verb = args[1];
    if (noun == "db" && verb == "migrate") return dbMigrate(ctx);
    if (noun == "domain" && verb == "add") return domainAdd(ctx, *parsed);
    if (noun == "domain" && verb == "list") return domainList(ctx);
    if (noun == "user" && verb == "add") return userAdd(ctx, *parsed);
    if (noun == "user" && verb == "passwd") return userPasswd(ctx, *parsed);
    if (noun == "user" && verb == "disable") return userEnable(ctx, *parsed, false);
    if (noun == "user" && verb == "enable") return userEnable(ctx, *parsed, true);
    if (noun == "user" && verb == "set") return userSet(ctx, *parsed);
    if (noun == "user" && verb == "show") return userShow(ctx, *parsed);
    if (noun == "user" && verb == "list") return userList(ctx, *parsed);
    if (noun == "user" && verb == "delete") return userDelete(ctx, *parsed);
    if (noun == "password" && verb == "hash") return passwordHash(ctx, *parsed);
    if (noun == "app-password" && verb == "add") return appPasswordAdd(ctx, *parsed);
    if (noun == "app-password" && verb == "list") return appPasswordList(ctx, *parsed);
    if (noun == "app-password" && verb == "delete") return appPasswordDelete(ctx, *parsed);
    if (noun == "quota") return runQuota(ctx, args);
    if (noun == "ftp") return runFtp(ctx, args);
    if (noun == "replication") return runReplication(ctx, args);
    if (noun == "policy") return runPolicy(ctx, args);
    if (noun == "alias" || noun == "alias-domain" || noun == "sender") return runMaps(ctx, args);
    ctx.err << "titanctl: unknown command '" << noun << " " << verb << "'\n" << usage();
    return 2;
}

}  // namespace titan::ctl
