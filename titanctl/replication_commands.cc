#include "titanctl/replication_commands.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <set>

#include "common/base/strings.h"
#include "common/identity/identity.h"
#include "common/sql/connection.h"
#include "replicator/core/dsync.h"

namespace titan::ctl {
namespace {

constexpr const char* kDefaultSocket = "/run/titan/replicator-admin.sock";

struct Parsed {
    std::vector<std::string> positional;
    std::map<std::string, std::string> options;
};

// Options with a value; other "--x" words are flags.
Result<Parsed> parse(const std::vector<std::string>& args, std::size_t from) {
    static const std::set<std::string> with_value = {"--socket", "--password-file", "--endpoint", "--active"};
    Parsed p;
    for (std::size_t i = from; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.rfind("--", 0) != 0) {
            p.positional.push_back(a);
        } else if (with_value.count(a) != 0) {
            if (i + 1 >= args.size()) return Error::invalidInput(a + " needs a value");
            p.options[a] = args[++i];
        } else {
            p.options[a] = "";
        }
    }
    return p;
}

int fail(Context& ctx, const std::string& message, int code = 1) {
    ctx.err << "titanctl: " << message << "\n";
    return code;
}

// One admin command; the reply body (without the final OK) or the ERR text.
Result<std::string> adminCall(const std::string& path, const std::string& command) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Error::unavailable(std::string("socket: ") + std::strerror(errno));
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (path.size() >= sizeof(sun.sun_path)) {
        ::close(fd);
        return Error::invalidInput("socket path too long: " + path);
    }
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0) {
        std::string e = std::strerror(errno);
        ::close(fd);
        return Error::unavailable("cannot connect to titan-replicator at " + path + ": " + e);
    }
    std::string line = command + "\n";
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        ::close(fd);
        return Error::unavailable("cannot send to titan-replicator");
    }
    std::string buf;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
        // The reply ends with a line "OK" or "ERR <message>".
        if (!buf.empty() && buf.back() == '\n') {
            auto prev = buf.size() >= 2 ? buf.find_last_of('\n', buf.size() - 2) : std::string::npos;
            std::size_t start = prev == std::string::npos ? 0 : prev + 1;
            std::string last = buf.substr(start, buf.size() - 1 - start);
            if (last == "OK") {
                ::close(fd);
                return buf.substr(0, start);
            }
            if (last.rfind("ERR ", 0) == 0) {
                ::close(fd);
                return Error::invalidInput(last.substr(4));
            }
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
        char chunk[4096];
        ssize_t n = ::read(fd, chunk, sizeof(chunk));
        if (n <= 0) break;
        buf.append(chunk, static_cast<std::size_t>(n));
        if (buf.size() > (16u << 20)) break;
    }
    ::close(fd);
    return Error::unavailable("no complete answer from titan-replicator");
}

std::string socketOf(const Parsed& p) {
    auto it = p.options.find("--socket");
    return it == p.options.end() ? kDefaultSocket : it->second;
}

Result<std::string> canonicalUser(Context& ctx, const std::string& raw) {
    auto u = identity::canonicalUser(raw, ctx.config.identity);
    if (!u) return Error::invalidInput("invalid user name '" + raw + "': " + u.error().message);
    return *u;
}

int status(Context& ctx, const Parsed& p) {
    if (p.positional.size() > 1) return fail(ctx, "usage: titanctl replication status [USER] [--socket PATH]", 2);
    if (p.positional.empty()) {
        auto r = adminCall(socketOf(p), "status");
        if (!r) return fail(ctx, r.error().message);
        ctx.out << *r;
        return 0;
    }
    auto user = canonicalUser(ctx, p.positional[0]);
    if (!user) return fail(ctx, user.error().message, 2);
    int rc = 0;
    auto r = adminCall(socketOf(p), "status " + *user);
    if (r) {
        ctx.out << *r;
    } else {
        ctx.err << "titanctl: " << r.error().message << "\n";
        rc = 1;
    }
    sql::Connection db(ctx.config.database);
    auto rows = db.execute(
        "SELECT source_site, peer_site, last_success, last_failure, failures, last_error, last_full_sync"
        " FROM replication_state WHERE username = ? ORDER BY source_site, peer_site",
        {*user});
    if (!rows) return fail(ctx, rows.error().message);
    if (rows->rows.empty()) ctx.out << "no sync recorded for " << *user << "\n";
    for (const auto& row : rows->rows) {
        ctx.out << row[0].value_or("") << " -> " << row[1].value_or("")
                << ": last_success=" << row[2].value_or("never") << " last_failure=" << row[3].value_or("never")
                << " failures=" << row[4].value_or("0");
        if (row[6]) ctx.out << " last_full_sync=" << *row[6];
        if (row[5] && row[4].value_or("0") != "0") ctx.out << " last_error=" << base::logfmtQuote(*row[5]);
        ctx.out << "\n";
    }
    return rc;
}

int replicate(Context& ctx, const Parsed& p) {
    if (p.positional.empty() || p.positional.size() > 2) {
        return fail(ctx, "usage: titanctl replication replicate USER [sync|high|low] [--full] [--socket PATH]", 2);
    }
    auto user = canonicalUser(ctx, p.positional[0]);
    if (!user) return fail(ctx, user.error().message, 2);
    std::string cmd = "replicate " + *user;
    if (p.positional.size() == 2) cmd += " " + p.positional[1];
    if (p.options.count("--full") != 0) cmd += " full";
    auto r = adminCall(socketOf(p), cmd);
    if (!r) return fail(ctx, r.error().message);
    ctx.out << *r;
    return 0;
}

int pauseResume(Context& ctx, const Parsed& p, bool pause) {
    if (p.positional.size() != 1) {
        return fail(ctx, std::string("usage: titanctl replication ") + (pause ? "pause" : "resume") +
                             " PEER [--socket PATH]", 2);
    }
    auto r = adminCall(socketOf(p), std::string(pause ? "pause " : "resume ") + p.positional[0]);
    if (!r) return fail(ctx, r.error().message);
    ctx.out << *r;
    return 0;
}

int sites(Context& ctx) {
    sql::Connection db(ctx.config.database);
    auto r = db.execute(
        "SELECT s.name, s.doveadm_endpoint, s.doveadm_tls, s.active, s.doveadm_password_file,"
        " (SELECT COUNT(*) FROM mailboxes m WHERE m.home_site = s.name),"
        " (SELECT COUNT(*) FROM mailbox_replicas r WHERE r.site = s.name) FROM sites s ORDER BY s.name");
    if (!r) return fail(ctx, r.error().message);
    for (const auto& row : r->rows) {
        ctx.out << row[0].value_or("") << "\t" << (row[2].value_or("0") == "1" ? "tcps:" : "tcp:")
                << row[1].value_or("") << "\t" << (row[3].value_or("0") == "1" ? "active" : "inactive")
                << "\thome of " << row[5].value_or("0") << ", replica of " << row[6].value_or("0")
                << "\tpassword " << row[4].value_or("(local doveadm_password)") << "\n";
    }
    return 0;
}

int siteAdd(Context& ctx, const Parsed& p) {
    if (p.positional.size() != 2) {
        return fail(ctx, "usage: titanctl replication site-add NAME HOST:PORT [--password-file F] [--tls]", 2);
    }
    const std::string& name = p.positional[0];
    if (!replicator::core::validSiteName(name)) return fail(ctx, "invalid site name '" + name + "'", 2);
    auto ep = replicator::core::parseEndpoint(p.positional[1]);
    if (!ep) return fail(ctx, ep.error().message, 2);
    sql::Value pwfile;
    if (auto it = p.options.find("--password-file"); it != p.options.end()) {
        if (it->second.empty() || it->second.front() != '/') return fail(ctx, "--password-file must be absolute", 2);
        pwfile = it->second;
    }
    sql::Connection db(ctx.config.database);
    auto r = db.execute(
        "INSERT INTO sites (name, doveadm_endpoint, doveadm_tls, doveadm_password_file) VALUES (?, ?, ?, ?)",
        {name, p.positional[1], std::string(p.options.count("--tls") != 0 ? "1" : "0"), pwfile}, false);
    if (!r) {
        if (db.lastErrno() == 1062) return fail(ctx, "site " + name + " already exists");
        return fail(ctx, r.error().message);
    }
    ctx.out << "site " << name << " added (doveadm " << p.positional[1] << ")\n";
    return 0;
}

int siteSet(Context& ctx, const Parsed& p) {
    if (p.positional.size() != 1 || p.options.empty()) {
        return fail(ctx, "usage: titanctl replication site-set NAME [--endpoint HOST:PORT] [--password-file F|none]"
                         " [--tls|--no-tls] [--active on|off]", 2);
    }
    std::string set;
    std::vector<sql::Value> params;
    auto add = [&](const char* column, sql::Value v) {
        set += std::string(set.empty() ? "" : ", ") + column + " = ?";
        params.push_back(std::move(v));
    };
    if (auto it = p.options.find("--endpoint"); it != p.options.end()) {
        auto ep = replicator::core::parseEndpoint(it->second);
        if (!ep) return fail(ctx, ep.error().message, 2);
        add("doveadm_endpoint", it->second);
    }
    if (auto it = p.options.find("--password-file"); it != p.options.end()) {
        if (it->second == "none") {
            add("doveadm_password_file", std::nullopt);
        } else if (it->second.empty() || it->second.front() != '/') {
            return fail(ctx, "--password-file must be absolute (or none)", 2);
        } else {
            add("doveadm_password_file", it->second);
        }
    }
    if (p.options.count("--tls") != 0) add("doveadm_tls", std::string("1"));
    if (p.options.count("--no-tls") != 0) add("doveadm_tls", std::string("0"));
    if (auto it = p.options.find("--active"); it != p.options.end()) {
        if (it->second != "on" && it->second != "off") return fail(ctx, "--active takes on or off", 2);
        add("active", std::string(it->second == "on" ? "1" : "0"));
    }
    if (set.empty()) return fail(ctx, "nothing to change", 2);
    params.push_back(p.positional[0]);
    sql::Connection db(ctx.config.database);
    auto r = db.execute("UPDATE sites SET " + set + " WHERE name = ?", params, false);
    if (!r) return fail(ctx, r.error().message);
    auto exists = db.execute("SELECT 1 FROM sites WHERE name = ?", {p.positional[0]});
    if (exists && exists->rows.empty()) return fail(ctx, "no such site: " + p.positional[0]);
    ctx.out << "site " << p.positional[0] << " updated (replicators re-read sites within placement.sites_refresh)\n";
    return 0;
}

int replicas(Context& ctx, const Parsed& p) {
    if (p.positional.empty() || p.positional.size() > 2) {
        return fail(ctx, "usage: titanctl replication replicas USER [SITE,SITE...|none]", 2);
    }
    auto user = canonicalUser(ctx, p.positional[0]);
    if (!user) return fail(ctx, user.error().message, 2);
    sql::Connection db(ctx.config.database);
    auto m = db.execute("SELECT id, home_site FROM mailboxes WHERE username = ?", {*user});
    if (!m) return fail(ctx, m.error().message);
    if (m->rows.empty()) return fail(ctx, "no such mailbox: " + *user);
    std::string id = m->rows[0][0].value_or("");
    if (p.positional.size() == 2) {
        std::vector<std::string> list;
        if (p.positional[1] != "none") {
            for (auto s : base::split(p.positional[1], ',')) {
                if (!replicator::core::validSiteName(s)) return fail(ctx, "invalid site name '" + std::string(s) + "'", 2);
                list.emplace_back(s);
            }
        }
        if (auto st = db.begin(); !st) return fail(ctx, st.error().message);
        auto del = db.execute("DELETE FROM mailbox_replicas WHERE mailbox_id = ?", {id}, false);
        if (!del) {
            (void)db.rollback();
            return fail(ctx, del.error().message);
        }
        for (const auto& s : list) {
            auto ins = db.execute("INSERT INTO mailbox_replicas (mailbox_id, site) VALUES (?, ?)", {id, s}, false);
            if (!ins) {
                (void)db.rollback();
                if (db.lastErrno() == 1452) return fail(ctx, "no such site: " + s + " (add it with replication site-add)");
                return fail(ctx, ins.error().message);
            }
        }
        if (auto st = db.commit(); !st) return fail(ctx, st.error().message);
    }
    auto r = db.execute("SELECT site FROM mailbox_replicas WHERE mailbox_id = ? ORDER BY site", {id});
    if (!r) return fail(ctx, r.error().message);
    std::string sites;
    for (const auto& row : r->rows) sites += (sites.empty() ? "" : ",") + row[0].value_or("");
    ctx.out << *user << ": home " << m->rows[0][1].value_or("(none)") << ", replicas "
            << (sites.empty() ? "(none)" : sites) << "\n";
    return 0;
}

}  // namespace

std::string replicationUsage() {
    return "usage: titanctl replication COMMAND ...   (titan-replicator)\n"
           "  status [USER] [--socket PATH]        queue depth, per-peer health and lag; or one user's\n"
           "                                       queued tasks and last sync results\n"
           "  replicate USER [sync|high|low] [--full] [--socket PATH]\n"
           "  pause PEER [--socket PATH]           stop syncing to a peer (kept across restarts)\n"
           "  resume PEER [--socket PATH]\n"
           "  sites                                list the sites\n"
           "  site-add NAME HOST:PORT [--password-file F] [--tls]\n"
           "  site-set NAME [--endpoint HOST:PORT] [--password-file F|none] [--tls|--no-tls] [--active on|off]\n"
           "  replicas USER [SITE,SITE...|none]    show or set a mailbox's replica sites (home: user set\n"
           "                                       --home-site)\n"
           "The admin socket defaults to " + std::string(kDefaultSocket) + ".\n";
}

int runReplication(Context& ctx, const std::vector<std::string>& args) {
    if (args.size() < 2 || args[1] == "help" || args[1] == "--help") {
        (args.size() < 2 ? ctx.err : ctx.out) << replicationUsage();
        return args.size() < 2 ? 2 : 0;
    }
    auto p = parse(args, 2);
    if (!p) return fail(ctx, p.error().message, 2);
    const std::string& verb = args[1];
    if (verb == "status") return status(ctx, *p);
    if (verb == "replicate") return replicate(ctx, *p);
    if (verb == "pause") return pauseResume(ctx, *p, true);
    if (verb == "resume") return pauseResume(ctx, *p, false);
    if (verb == "sites") return sites(ctx);
    if (verb == "site-add") return siteAdd(ctx, *p);
    if (verb == "site-set") return siteSet(ctx, *p);
    if (verb == "replicas") return replicas(ctx, *p);
    ctx.err << "titanctl: unknown command 'replication " << verb << "'\n" << replicationUsage();
    return 2;
}

}  // namespace titan::ctl
