#include "titanctl/policy_commands.h"

#include <ctime>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "common/base/strings.h"
#include "common/identity/identity.h"
#include "common/sql/connection.h"
#include "policyd/core/engine.h"

namespace titan::ctl {
namespace {

struct Args {
    std::vector<std::string> positional;
    std::map<std::string, std::string> options;
};

const char* const kValueOptions[] = {"--rule", "--subject", "--client", "--sender", "--recipient", "--limit",
                                     "--comment"};

Result<Args> parse(const std::vector<std::string>& in, std::size_t from) {
    Args a;
    for (std::size_t i = from; i < in.size(); ++i) {
        const std::string& s = in[i];
        if (s.rfind("--", 0) != 0) {
            a.positional.push_back(s);
            continue;
        }
        bool takes_value = false;
        for (const char* o : kValueOptions) takes_value = takes_value || s == o;
        if (!takes_value && s != "--all") return Error::invalidInput("unknown option " + s);
        if (takes_value) {
            if (i + 1 >= in.size()) return Error::invalidInput(s + " needs a value");
            a.options[s] = in[++i];
        } else {
            a.options[s] = "";
        }
    }
    return a;
}

int fail(Context& ctx, const std::string& message, int code = 1) {
    ctx.err << "titanctl: " << message << "\n";
    return code;
}

std::string opt(const Args& a, const char* name, const std::string& def = "") {
    auto it = a.options.find(name);
    return it == a.options.end() ? def : it->second;
}

std::int64_t nowMs() { return static_cast<std::int64_t>(std::time(nullptr)) * 1000; }

// "2026-01-02 03:04:05" (UTC) for a millisecond timestamp; "-" for 0.
std::string when(const sql::Value& v) {
    const auto ms = v ? base::parseSigned(*v).value_or(0) : 0;
    if (ms <= 0) return "-";
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

std::string units(const sql::Value& milli) {
    const auto m = milli ? base::parseUnsigned(*milli).value_or(0) : 0;
    std::ostringstream s;
    s << m / 1000;
    if (m % 1000 != 0) s << "." << std::setw(3) << std::setfill('0') << m % 1000;
    return s.str();
}

void audit(sql::Connection& db, const std::string& event, const std::string& subject, const std::string& rule,
           const std::string& detail) {
    // Best effort: the change itself is what matters.
    (void)db.execute("INSERT INTO policy_audit (created_at, event, subject, rule, detail, actor) VALUES (?, ?, ?, ?, ?,"
                     " 'titanctl')",
                     {std::to_string(nowMs()), event, subject, rule, detail}, false);
}

std::string limitClause(const Args& a) {
    auto n = base::parseUnsigned(opt(a, "--limit", "100")).value_or(100);
    if (n == 0 || n > 100000) n = 100;
    return " LIMIT " + std::to_string(n);  // our own number, never text from the command line
}

int counters(Context& ctx, sql::Connection& db, const Args& a) {
    std::string where = " WHERE 1 = 1";
    std::vector<sql::Value> params;
    if (auto r = opt(a, "--rule"); !r.empty()) {
        where += " AND rule = ?";
        params.emplace_back(r);
    }
    if (auto s = opt(a, "--subject"); !s.empty()) {
        where += " AND subject = ?";
        params.emplace_back(s);
    }
    auto r = db.execute("SELECT rule, win, subject, used, previous, window_start, updated_at, expires_at"
                        " FROM policy_counters" + where + " ORDER BY rule, subject, win" + limitClause(a),
                        params);
    if (!r) return fail(ctx, r.error().message);
    ctx.out << "rule\twindow\tsubject\tused\tprevious\twindow_start\tupdated\texpires\n";
    for (const auto& row : r->rows) {
        ctx.out << row[0].value_or("") << "\t" << row[1].value_or("") << "\t" << row[2].value_or("") << "\t"
                << units(row[3]) << "\t" << units(row[4]) << "\t" << when(row[5]) << "\t" << when(row[6]) << "\t"
                << when(row[7]) << "\n";
    }
    return 0;
}

int counterReset(Context& ctx, sql::Connection& db, const Args& a) {
    if (a.positional.empty() || a.positional.size() > 2) {
        return fail(ctx, "usage: titanctl policy counter-reset RULE [SUBJECT]", 2);
    }
    std::string sql = "DELETE FROM policy_counters WHERE rule = ?";
    std::vector<sql::Value> params{a.positional[0]};
    if (a.positional.size() == 2) {
        sql += " AND subject = ?";
        params.emplace_back(a.positional[1]);
    }
    auto r = db.execute(sql, params, false);
    if (!r) return fail(ctx, r.error().message);
    audit(db, "counter_reset", a.positional.size() == 2 ? a.positional[1] : "*", a.positional[0], "");
    ctx.out << "reset " << r->affected_rows << " counter rows\n";
    return 0;
}

int greylist(Context& ctx, sql::Connection& db, const Args& a) {
    std::string where = " WHERE 1 = 1";
    std::vector<sql::Value> params;
    if (auto c = opt(a, "--client"); !c.empty()) {
        where += " AND client_net = ?";
        params.emplace_back(c);
    }
    if (auto s = opt(a, "--sender"); !s.empty()) {
        where += " AND sender = ?";
        params.emplace_back(s);
    }
    if (auto s = opt(a, "--recipient"); !s.empty()) {
        where += " AND recipient = ?";
        params.emplace_back(s);
    }
    auto r = db.execute("SELECT rule, client_net, sender, recipient, first_seen, last_seen, passed_at, attempts"
                        " FROM policy_greylist" + where + " ORDER BY last_seen DESC" + limitClause(a),
                        params);
    if (!r) return fail(ctx, r.error().message);
    ctx.out << "rule\tclient\tsender\trecipient\tfirst_seen\tlast_seen\tpassed\tattempts\n";
    for (const auto& row : r->rows) {
        ctx.out << row[0].value_or("") << "\t" << row[1].value_or("") << "\t" << row[2].value_or("") << "\t"
                << row[3].value_or("") << "\t" << when(row[4]) << "\t" << when(row[5]) << "\t" << when(row[6]) << "\t"
                << row[7].value_or("0") << "\n";
    }
    auto allowed = db.execute("SELECT rule, client_net, passes, allowed_until FROM policy_greylist_clients"
                              " WHERE allowed_until > ? ORDER BY client_net" + limitClause(a),
                              {std::to_string(nowMs())});
    if (allowed && !allowed->rows.empty()) {
        ctx.out << "\nauto-allowed networks\nrule\tclient\tpasses\tuntil\n";
        for (const auto& row : allowed->rows) {
            ctx.out << row[0].value_or("") << "\t" << row[1].value_or("") << "\t" << row[2].value_or("0") << "\t"
                    << when(row[3]) << "\n";
        }
    }
    return 0;
}

int greylistFlush(Context& ctx, sql::Connection& db, const Args& a) {
    const std::string client = opt(a, "--client");
    const std::string sender = opt(a, "--sender");
    if (client.empty() && sender.empty() && !a.options.count("--all")) {
        return fail(ctx, "usage: titanctl policy greylist-flush (--client NET | --sender S | --all)", 2);
    }
    std::string where = " WHERE 1 = 1";
    std::vector<sql::Value> params;
    if (!client.empty()) {
        where += " AND client_net = ?";
        params.emplace_back(client);
    }
    if (!sender.empty()) {
        where += " AND sender = ?";
        params.emplace_back(sender);
    }
    auto r = db.execute("DELETE FROM policy_greylist" + where, params, false);
    if (!r) return fail(ctx, r.error().message);
    unsigned long long clients = 0;
    if (sender.empty()) {
        std::string cw = client.empty() ? "" : " WHERE client_net = ?";
        std::vector<sql::Value> cp;
        if (!client.empty()) cp.emplace_back(client);
        auto c = db.execute("DELETE FROM policy_greylist_clients" + cw, cp, false);
        if (!c) return fail(ctx, c.error().message);
        clients = c->affected_rows;
    }
    audit(db, "greylist_flush", client.empty() ? (sender.empty() ? "*" : sender) : client, "", "");
    ctx.out << "flushed " << r->affected_rows << " greylist entries and " << clients << " auto-allow records\n";
    return 0;
}

int holds(Context& ctx, sql::Connection& db) {
    auto r = db.execute("SELECT user, rule, reason, node, created_at FROM policy_holds ORDER BY created_at");
    if (!r) return fail(ctx, r.error().message);
    if (r->rows.empty()) ctx.out << "no accounts on hold\n";
    for (const auto& row : r->rows) {
        ctx.out << row[0].value_or("") << "\t" << when(row[4]) << "\trule " << row[1].value_or("") << " on "
                << row[3].value_or("") << ": " << row[2].value_or("") << "\n";
    }
    return 0;
}

int release(Context& ctx, sql::Connection& db, const Args& a) {
    if (a.positional.size() != 1) return fail(ctx, "usage: titanctl policy release USER", 2);
    auto user = identity::canonicalUser(a.positional[0], ctx.config.identity);
    if (!user) return fail(ctx, "invalid user name: " + user.error().message, 2);
    auto r = db.execute("DELETE FROM policy_holds WHERE user = ?", {*user}, false);
    if (!r) return fail(ctx, r.error().message);
    if (r->affected_rows == 0) return fail(ctx, *user + " is not on hold");
    audit(db, "release", *user, "", "");
    ctx.out << *user << " released (policyd nodes notice within cache.holds_refresh)\n";
    return 0;
}

int listShow(Context& ctx, sql::Connection& db) {
    auto r = db.execute("SELECT list, kind, value, COALESCE(comment, ''), created_at FROM policy_lists"
                        " ORDER BY list, kind, value");
    if (!r) return fail(ctx, r.error().message);
    for (const auto& row : r->rows) {
        ctx.out << row[0].value_or("") << "\t" << row[1].value_or("") << "\t" << row[2].value_or("") << "\t"
                << row[3].value_or("") << "\n";
    }
    return 0;
}

int listChange(Context& ctx, sql::Connection& db, const Args& a, bool add) {
    if (a.positional.size() != 3) {
        return fail(ctx, std::string("usage: titanctl policy list ") + (add ? "add" : "delete") +
                             " allow|deny client|client_name|sender|recipient VALUE" + (add ? " [--comment TEXT]" : ""),
                    2);
    }
    const std::string& list = a.positional[0];
    const std::string& kind = a.positional[1];
    const std::string& value = a.positional[2];
    if (list != "allow" && list != "deny") return fail(ctx, "the list is allow or deny", 2);
    policyd::core::ListEntries probe;
    policyd::core::AddressOptions address;
    address.identity = ctx.config.identity;
    if (auto st = policyd::core::addListEntry(probe, kind, value, address); !st) {
        return fail(ctx, "invalid entry: " + st.error().message, 2);
    }
    // Store the normalised form, so `list delete` finds what `list add` stored.
    std::string normal = value;
    if (!probe.clients.empty()) normal = probe.clients[0].str();
    else if (!probe.client_names.empty()) normal = probe.client_names[0];
    else if (!probe.senders.empty()) normal = probe.senders[0];
    else if (!probe.recipients.empty()) normal = probe.recipients[0];
    if (add) {
        sql::Value comment;
        if (auto c = opt(a, "--comment"); !c.empty()) comment = c;
        auto r = db.execute("INSERT INTO policy_lists (list, kind, value, comment) VALUES (?, ?, ?, ?)",
                            {list, kind, normal, comment}, false);
        if (!r) {
            if (db.lastErrno() == 1062) return fail(ctx, list + " " + kind + " " + normal + " is already listed");
            return fail(ctx, r.error().message);
        }
        audit(db, "list_add", normal, "", list + " " + kind);
        ctx.out << "added " << list << " " << kind << " " << normal << "\n";
        return 0;
    }
    auto r = db.execute("DELETE FROM policy_lists WHERE list = ? AND kind = ? AND value = ?", {list, kind, normal}, false);
    if (!r) return fail(ctx, r.error().message);
    if (r->affected_rows == 0) return fail(ctx, list + " " + kind + " " + normal + " is not listed");
    audit(db, "list_delete", normal, "", list + " " + kind);
    ctx.out << "deleted " << list << " " << kind << " " << normal << "\n";
    return 0;
}

int auditLog(Context& ctx, sql::Connection& db, const Args& a) {
    std::string where;
    std::vector<sql::Value> params;
    if (!a.positional.empty()) {
        where = " WHERE subject = ?";
        params.emplace_back(a.positional[0]);
    }
    auto r = db.execute("SELECT created_at, event, subject, rule, detail, actor FROM policy_audit" + where +
                            " ORDER BY id DESC" + limitClause(a),
                        params);
    if (!r) return fail(ctx, r.error().message);
    for (const auto& row : r->rows) {
        ctx.out << when(row[0]) << "\t" << row[1].value_or("") << "\t" << row[2].value_or("") << "\t"
                << row[3].value_or("") << "\t" << row[4].value_or("") << "\t" << row[5].value_or("") << "\n";
    }
    return 0;
}

}  // namespace

std::string policyUsage() {
    return "titanctl policy commands (titan-policyd's shared state in MariaDB):\n"
           "  policy counters [--rule R] [--subject S] [--limit N]   rate counters (used in units)\n"
           "  policy counter-reset RULE [SUBJECT]                   forget a rule's counters (or one subject's)\n"
           "  policy greylist [--client NET] [--sender S] [--recipient R] [--limit N]\n"
           "  policy greylist-flush (--client NET | --sender S | --all)\n"
           "  policy holds                                          accounts on hold\n"
           "  policy release USER                                   lift a hold\n"
           "  policy list show\n"
           "  policy list add allow|deny client|client_name|sender|recipient VALUE [--comment TEXT]\n"
           "  policy list delete allow|deny KIND VALUE\n"
           "  policy audit [SUBJECT] [--limit N]                    holds, releases, resets, list changes\n";
}

int runPolicy(Context& ctx, const std::vector<std::string>& args) {
    if (args.size() < 2 || args[1] == "help") {
        ctx.out << policyUsage();
        return args.size() < 2 ? 2 : 0;
    }
    const std::string& verb = args[1];
    const bool list = verb == "list";
    if (list && args.size() < 3) return fail(ctx, "usage: titanctl policy list show|add|delete ...", 2);
    auto a = parse(args, list ? 3 : 2);
    if (!a) return fail(ctx, a.error().message, 2);
    sql::Connection db(ctx.config.database);
    if (verb == "counters") return counters(ctx, db, *a);
    if (verb == "counter-reset") return counterReset(ctx, db, *a);
    if (verb == "greylist") return greylist(ctx, db, *a);
    if (verb == "greylist-flush") return greylistFlush(ctx, db, *a);
    if (verb == "holds") return holds(ctx, db);
    if (verb == "release") return release(ctx, db, *a);
    if (verb == "audit") return auditLog(ctx, db, *a);
    if (list && args[2] == "show") return listShow(ctx, db);
    if (list && args[2] == "add") return listChange(ctx, db, *a, true);
    if (list && args[2] == "delete") return listChange(ctx, db, *a, false);
    ctx.err << "titanctl: unknown policy command '" << verb << "'\n" << policyUsage();
    return 2;
}

}  // namespace titan::ctl
