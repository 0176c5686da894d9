#include "titanctl/maps_commands.h"

#include <unistd.h>

#include <cstring>
#include <ostream>

#include "common/identity/identity.h"
#include "common/sql/connection.h"

namespace titan::ctl {
namespace {

int fail(Context& ctx, const std::string& message, int code = 1) {
    ctx.err << "titanctl: " << message << "\n";
    return code;
}

int usageError(Context& ctx, const std::string& message) {
    ctx.err << "titanctl: " << message << "\n" << mapsUsage();
    return 2;
}

// Tells the local authd to drop its cached map entries. Best effort.
void flushAuthdMaps(Context& ctx) { (void)authdAdminCommand(ctx, "maps-flush"); }

struct Source {
    std::string key;     // canonical address or "@domain"
    std::string domain;  // its domain
};

// An address or "@domain" (catch-all / domain-wide grant), canonical.
Result<Source> parseSource(Context& ctx, const std::string& raw) {
    if (!raw.empty() && raw.front() == '@') {
        auto d = identity::canonicalDomain(std::string_view(raw).substr(1));
        if (!d) return Error::invalidInput("invalid domain in '" + raw + "': " + d.error().message);
        return Source{"@" + *d, *d};
    }
    auto a = identity::canonicalUser(raw, ctx.config.identity);
    if (!a) return Error::invalidInput("invalid address '" + raw + "': " + a.error().message);
    return Source{*a, std::string(identity::domainOf(*a))};
}

Result<std::string> parseAddress(Context& ctx, const std::string& raw) {
    auto a = identity::canonicalUser(raw, ctx.config.identity);
    if (!a) return Error::invalidInput("invalid address '" + raw + "': " + a.error().message);
    return *a;
}

// The domains row an alias of `domain` belongs to: the domain itself, or the target of
// an alias domain.
Result<std::string> aliasDomainId(sql::Connection& db, const std::string& domain) {
    auto r = db.execute(
        "SELECT id FROM domains WHERE name = ? UNION ALL"
        " SELECT target_domain_id FROM alias_domains WHERE name = ? LIMIT 1",
        {domain, domain});
    if (!r) return std::move(r).error();
    if (r->rows.empty() || !r->rows[0][0]) return Error::invalidInput("no such domain: " + domain);
    return *r->rows[0][0];
}

int aliasAdd(Context& ctx, const std::vector<std::string>& pos) {
    if (pos.size() < 2) return usageError(ctx, "usage: titanctl alias add SOURCE DESTINATION...");
    auto src = parseSource(ctx, pos[0]);
    if (!src) return fail(ctx, src.error().message, 2);
    std::vector<std::string> dests;
    for (size_t i = 1; i < pos.size(); ++i) {
        auto d = parseAddress(ctx, pos[i]);
        if (!d) return fail(ctx, d.error().message, 2);
        dests.push_back(*d);
    }
    sql::Connection db(ctx.config.database);
    auto domain_id = aliasDomainId(db, src->domain);
    if (!domain_id) return fail(ctx, domain_id.error().message);
    size_t added = 0;
    for (const auto& d : dests) {
        auto r = db.execute("INSERT INTO aliases (domain_id, source, destination) VALUES (?, ?, ?)",
                            {*domain_id, src->key, d}, false);
        if (!r) {
            if (sql::errnoOf(r.error()) == 1062) {
                ctx.err << "titanctl: " << src->key << " -> " << d << " exists already\n";
                continue;
            }
            return fail(ctx, r.error().message);
        }
        ++added;
    }
    flushAuthdMaps(ctx);
    ctx.out << "alias " << src->key << ": " << added << " destination(s) added\n";
    return 0;
}

int aliasDelete(Context& ctx, const std::vector<std::string>& pos) {
    if (pos.empty() || pos.size() > 2) return usageError(ctx, "usage: titanctl alias delete SOURCE [DESTINATION]");
    auto src = parseSource(ctx, pos[0]);
    if (!src) return fail(ctx, src.error().message, 2);
    sql::Connection db(ctx.config.database);
    Result<sql::QueryResult> r = Error::internal("unset");
    if (pos.size() == 2) {
        auto d = parseAddress(ctx, pos[1]);
        if (!d) return fail(ctx, d.error().message, 2);
        r = db.execute("DELETE FROM aliases WHERE source = ? AND destination = ?", {src->key, *d}, false);
    } else {
        r = db.execute("DELETE FROM aliases WHERE source = ?", {src->key}, false);
    }
    if (!r) return fail(ctx, r.error().message);
    if (r->affected_rows == 0) return fail(ctx, "no such alias: " + src->key);
    flushAuthdMaps(ctx);
    ctx.out << "alias " << src->key << ": " << r->affected_rows << " destination(s) deleted\n";
    return 0;
}

int aliasList(Context& ctx, const std::vector<std::string>& pos) {
    if (pos.size() > 1) return usageError(ctx, "usage: titanctl alias list [DOMAIN]");
    sql::Connection db(ctx.config.database);
    Result<sql::QueryResult> r = Error::internal("unset");
    const char* kSelect = "SELECT a.source, a.destination, a.active FROM aliases a JOIN domains d ON d.id = a.domain_id";
    if (pos.empty()) {
        r = db.execute(std::string(kSelect) + " ORDER BY a.source, a.id");
    } else {
        auto d = identity::canonicalDomain(pos[0]);
        if (!d) return fail(ctx, "invalid domain '" + pos[0] + "'", 2);
        r = db.execute(std::string(kSelect) + " WHERE d.name = ? OR a.source LIKE CONCAT('%@', ?)"
                                              " ORDER BY a.source, a.id",
                       {*d, *d});
    }
    if (!r) return fail(ctx, r.error().message);
    for (const auto& row : r->rows) {
        ctx.out << row[0].value_or("") << " -> " << row[1].value_or("")
                << (row[2].value_or("1") == "0" ? "  (inactive)" : "") << "\n";
    }
    return 0;
}

int aliasDomainAdd(Context& ctx, const std::vector<std::string>& pos) {
    if (pos.size() != 2) return usageError(ctx, "usage: titanctl alias-domain add ALIAS_DOMAIN TARGET_DOMAIN");
    auto alias = identity::canonicalDomain(pos[0]);
    auto target = identity::canonicalDomain(pos[1]);
    if (!alias || !target) return fail(ctx, "invalid domain name", 2);
    if (*alias == *target) return fail(ctx, "a domain cannot be an alias of itself", 2);
    sql::Connection db(ctx.config.database);
    auto local = db.execute("SELECT id FROM domains WHERE name = ?", {*alias});
    if (!local) return fail(ctx, local.error().message);
    if (!local->rows.empty()) return fail(ctx, *alias + " is a local domain already");
    auto r = db.execute("INSERT INTO alias_domains (name, target_domain_id) SELECT ?, id FROM domains WHERE name = ?",
                        {*alias, *target}, false);
    if (!r) {
        if (sql::errnoOf(r.error()) == 1062) return fail(ctx, "alias domain " + *alias + " exists already");
        return fail(ctx, r.error().message);
    }
    if (r->affected_rows == 0) return fail(ctx, "no such domain: " + *target);
    flushAuthdMaps(ctx);
    ctx.out << "alias domain " << *alias << " -> " << *target << " added\n";
    return 0;
}

int aliasDomainDelete(Context& ctx, const std::vector<std::string>& pos) {
    if (pos.size() != 1) return usageError(ctx, "usage: titanctl alias-domain delete ALIAS_DOMAIN");
    auto alias = identity::canonicalDomain(pos[0]);
    if (!alias) return fail(ctx, "invalid domain name", 2);
    sql::Connection db(ctx.config.database);
    auto r = db.execute("DELETE FROM alias_domains WHERE name = ?", {*alias}, false);
    if (!r) return fail(ctx, r.error().message);
    if (r->affected_rows == 0) return fail(ctx, "no such alias domain: " + *alias);
    flushAuthdMaps(ctx);
    ctx.out << "alias domain " << *alias << " deleted\n";
    return 0;
}

int aliasDomainList(Context& ctx, const std::vector<std::string>& pos) {
    if (!pos.empty()) return usageError(ctx, "usage: titanctl alias-domain list");
    sql::Connection db(ctx.config.database);
    auto r = db.execute(
        "SELECT a.name, d.name, a.active FROM alias_domains a JOIN domains d ON d.id = a.target_domain_id"
        " ORDER BY a.name");
    if (!r) return fail(ctx, r.error().message);
    for (const auto& row : r->rows) {
        ctx.out << row[0].value_or("") << " -> " << row[1].value_or("")
                << (row[2].value_or("1") == "0" ? "  (inactive)" : "") << "\n";
    }
    return 0;
}

int senderAdd(Context& ctx, const std::vector<std::string>& pos) {
    if (pos.size() != 2) return usageError(ctx, "usage: titanctl sender add ADDRESS|@DOMAIN LOGIN");
    auto addr = parseSource(ctx, pos[0]);
    if (!addr) return fail(ctx, addr.error().message, 2);
    auto login = parseAddress(ctx, pos[1]);
    if (!login) return fail(ctx, login.error().message, 2);
    sql::Connection db(ctx.config.database);
    auto r = db.execute("INSERT INTO sender_logins (address, login) VALUES (?, ?)", {addr->key, *login}, false);
    if (!r) {
        if (sql::errnoOf(r.error()) == 1062) return fail(ctx, *login + " may send as " + addr->key + " already");
        return fail(ctx, r.error().message);
    }
    flushAuthdMaps(ctx);
    ctx.out << *login << " may now send as " << addr->key << "\n";
    return 0;
}

int senderDelete(Context& ctx, const std::vector<std::string>& pos) {
    if (pos.size() != 2) return usageError(ctx, "usage: titanctl sender delete ADDRESS|@DOMAIN LOGIN");
    auto addr = parseSource(ctx, pos[0]);
    if (!addr) return fail(ctx, addr.error().message, 2);
    auto login = parseAddress(ctx, pos[1]);
    if (!login) return fail(ctx, login.error().message, 2);
    sql::Connection db(ctx.config.database);
    auto r = db.execute("DELETE FROM sender_logins WHERE address = ? AND login = ?", {addr->key, *login}, false);
    if (!r) return fail(ctx, r.error().message);
    if (r->affected_rows == 0) return fail(ctx, "no such grant: " + *login + " for " + addr->key);
    flushAuthdMaps(ctx);
    ctx.out << *login << " may no longer send as " << addr->key << " (by grant)\n";
    return 0;
}

int senderList(Context& ctx, const std::vector<std::string>& pos) {
    if (pos.size() > 1) return usageError(ctx, "usage: titanctl sender list [ADDRESS|@DOMAIN]");
    sql::Connection db(ctx.config.database);
    Result<sql::QueryResult> r = Error::internal("unset");
    if (pos.empty()) {
        r = db.execute("SELECT address, login, active FROM sender_logins ORDER BY address, id");
    } else {
        auto addr = parseSource(ctx, pos[0]);
        if (!addr) return fail(ctx, addr.error().message, 2);
        r = db.execute("SELECT address, login, active FROM sender_logins WHERE address = ? ORDER BY id", {addr->key});
    }
    if (!r) return fail(ctx, r.error().message);
    for (const auto& row : r->rows) {
        ctx.out << row[0].value_or("") << " <- " << row[1].value_or("")
                << (row[2].value_or("1") == "0" ? "  (inactive)" : "") << "\n";
    }
    return 0;
}

}  // namespace

std::string mapsUsage() {
    return "  alias add SOURCE DEST...         SOURCE: address, or @domain for a catch-all\n"
           "  alias delete SOURCE [DEST]\n"
           "  alias list [DOMAIN]\n"
           "  alias-domain add ALIAS TARGET    every local@ALIAS is local@TARGET\n"
           "  alias-domain delete ALIAS\n"
           "  alias-domain list\n"
           "  sender add ADDRESS|@DOMAIN LOGIN allow a SASL login to send as ADDRESS\n"
           "  sender delete ADDRESS|@DOMAIN LOGIN\n"
           "  sender list [ADDRESS|@DOMAIN]\n";
}

int runMaps(Context& ctx, const std::vector<std::string>& args) {
    if (args.size() < 2) return usageError(ctx, "missing command");
    const std::string& noun = args[0];
    const std::string& verb = args[1];
    if (verb == "help") {
        ctx.out << mapsUsage();
        return 0;
    }
    std::vector<std::string> pos;
    for (size_t i = 2; i < args.size(); ++i) {
        if (args[i].rfind("--", 0) == 0) return usageError(ctx, "unknown option " + args[i]);
        pos.push_back(args[i]);
    }
    if (noun == "alias" && verb == "add") return aliasAdd(ctx, pos);
    if (noun == "alias" && verb == "delete") return aliasDelete(ctx, pos);
    if (noun == "alias" && verb == "list") return aliasList(ctx, pos);
    if (noun == "alias-domain" && verb == "add") return aliasDomainAdd(ctx, pos);
    if (noun == "alias-domain" && verb == "delete") return aliasDomainDelete(ctx, pos);
    if (noun == "alias-domain" && verb == "list") return aliasDomainList(ctx, pos);
    if (noun == "sender" && verb == "add") return senderAdd(ctx, pos);
    if (noun == "sender" && verb == "delete") return senderDelete(ctx, pos);
    if (noun == "sender" && verb == "list") return senderList(ctx, pos);
    return usageError(ctx, "unknown command '" + noun + " " + verb + "'");
}

}  // namespace titan::ctl
