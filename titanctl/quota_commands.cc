#include "titanctl/quota_commands.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <iomanip>
#include <map>
#include <optional>
#include <ostream>
#include <sstream>

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

// Every option of the quota commands takes a value.
Result<Parsed> parse(const std::vector<std::string>& args, std::size_t from) {
    static const char* const kOptions[] = {"--quota", "--quota-messages", "--used", "--used-messages",
                                           "--dovecot-config", "--doveadm"};
    Parsed p;
    for (std::size_t i = from; i < args.size(); ++i) {
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
    std::size_t i = 0;
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
    if (*n > static_cast<unsigned long long>(INT64_MAX) / mul) return Error::invalidInput("size too large: " + v);
    return *n * mul;
}

Result<unsigned long long> parseCount(const std::string& v, const std::string& option) {
    auto n = base::parseUnsigned(v);
    if (!n || *n > static_cast<unsigned long long>(INT64_MAX)) return Error::invalidInput(option + " takes a number");
    return *n;
}

Result<std::string> canonical(Context& ctx, const std::string& raw) {
    auto u = identity::canonicalUser(raw, ctx.config.identity);
    if (!u) return Error::invalidInput("invalid user name '" + raw + "': " + u.error().message);
    return *u;
}

std::string percentOf(long long used, unsigned long long limit) {
    if (limit == 0) return "";
    std::ostringstream s;
    s << std::fixed << std::setprecision(1) << (100.0 * static_cast<double>(used) / static_cast<double>(limit)) << "%";
    return s.str();
}

int quotaShow(Context& ctx, const Parsed& a) {
    if (a.positional.size() != 1) return fail(ctx, "usage: titanctl quota show USER", 2);
    auto user = canonical(ctx, a.positional[0]);
    if (!user) return fail(ctx, user.error().message, 2);
    sql::Connection db(ctx.config.database);
    auto mbx = db.execute("SELECT quota_bytes, quota_messages FROM mailboxes WHERE username = ?", {*user});
    if (!mbx) return fail(ctx, mbx.error().message);
    auto use = db.execute("SELECT bytes, messages, warn_storage, warn_messages, updated_at FROM quota_usage"
                          " WHERE username = ?",
                          {*user});
    if (!use) return fail(ctx, use.error().message);
    if (mbx->rows.empty() && use->rows.empty()) return fail(ctx, "no such mailbox: " + *user);
    const unsigned long long limit_bytes =
        mbx->rows.empty() ? 0 : base::parseUnsigned(mbx->rows[0][0].value_or("0")).value_or(0);
    const unsigned long long limit_messages =
        mbx->rows.empty() ? 0 : base::parseUnsigned(mbx->rows[0][1].value_or("0")).value_or(0);
    auto line = [&](const char* what, const sql::Value& used, unsigned long long limit) {
        ctx.out << std::left << std::setw(17) << (std::string(what) + " used:");
        if (use->rows.empty()) {
            ctx.out << "unknown (no usage recorded yet)\n";
        } else if (!used) {
            ctx.out << "unknown (Dovecot recounts at the next access)\n";
        } else {
            ctx.out << *used << "\n";
        }
        ctx.out << std::left << std::setw(17) << (std::string(what) + " limit:")
                << (limit == 0 ? std::string("unlimited") : std::to_string(limit));
        if (limit != 0 && !use->rows.empty() && used) {
            ctx.out << " (" << percentOf(base::parseSigned(*used).value_or(0), limit) << " used)";
        }
        ctx.out << "\n";
    };
    ctx.out << "user:            " << *user << (mbx->rows.empty() ? " (no mailbox: usage left over)" : "") << "\n";
    const sql::Row none(5);
    const sql::Row& row = use->rows.empty() ? none : use->rows[0];
    line("storage", row[0], limit_bytes);
    line("messages", row[1], limit_messages);
    if (!use->rows.empty()) {
        ctx.out << "warning levels:  storage " << row[2].value_or("0") << ", messages " << row[3].value_or("0") << "\n"
                << "updated:         " << row[4].value_or("") << "\n";
    }
    return 0;
}

int quotaSet(Context& ctx, const Parsed& a) {
    if (a.positional.size() != 1 || a.options.empty()) {
        return fail(ctx, "usage: titanctl quota set USER [--quota SIZE] [--quota-messages N] [--used SIZE]"
                         " [--used-messages N]", 2);
    }
    auto user = canonical(ctx, a.positional[0]);
    if (!user) return fail(ctx, user.error().message, 2);
    std::optional<unsigned long long> limit_bytes, limit_messages, used_bytes, used_messages;
    for (const auto& [opt, val] : a.options) {
        Result<unsigned long long> v = Error::invalidInput("option " + opt + " does not apply to quota set");
        if (opt == "--quota" || opt == "--used") v = parseSize(val);
        else if (opt == "--quota-messages" || opt == "--used-messages") v = parseCount(val, opt);
        if (!v) return fail(ctx, v.error().message, 2);
        if (opt == "--quota") limit_bytes = *v;
        if (opt == "--quota-messages") limit_messages = *v;
        if (opt == "--used") used_bytes = *v;
        if (opt == "--used-messages") used_messages = *v;
    }
    sql::Connection db(ctx.config.database);
    if (limit_bytes || limit_messages) {
        std::string set;
        std::vector<sql::Value> params;
        if (limit_bytes) {
            set += "quota_bytes = ?";
            params.emplace_back(std::to_string(*limit_bytes));
        }
        if (limit_messages) {
            set += std::string(set.empty() ? "" : ", ") + "quota_messages = ?";
            params.emplace_back(std::to_string(*limit_messages));
        }
        params.emplace_back(*user);
        auto r = db.execute("UPDATE mailboxes SET " + set + " WHERE username = ?", params, false);
        if (!r) return fail(ctx, r.error().message);
        auto exists = db.execute("SELECT 1 FROM mailboxes WHERE username = ?", {*user});
        if (!exists) return fail(ctx, exists.error().message);
        if (exists->rows.empty()) return fail(ctx, "no such mailbox: " + *user);
        notifyAuthd(ctx, *user);
    }
    if (used_bytes || used_messages) {
        // Only the given columns change; a new row leaves the other one unknown (Dovecot
        // recounts it at the next access).
        auto r = db.execute(
            "INSERT INTO quota_usage (username, bytes, messages) VALUES (?, ?, ?)"
            " ON DUPLICATE KEY UPDATE bytes = COALESCE(?, bytes), messages = COALESCE(?, messages)",
            {*user, used_bytes ? sql::Value(std::to_string(*used_bytes)) : sql::Value(),
             used_messages ? sql::Value(std::to_string(*used_messages)) : sql::Value(),
             used_bytes ? sql::Value(std::to_string(*used_bytes)) : sql::Value(),
             used_messages ? sql::Value(std::to_string(*used_messages)) : sql::Value()},
            false);
        if (!r) return fail(ctx, r.error().message);
    }
    ctx.out << "quota of " << *user << " updated\n";
    return 0;
}

// Runs argv without a shell and waits for it; its output goes to ours.
int spawnAndWait(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    std::vector<std::string> copy = args;
    for (auto& s : copy) argv.push_back(s.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return -rc;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -errno;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int quotaRecalc(Context& ctx, const Parsed& a) {
    if (a.positional.size() != 1) {
        return fail(ctx, "usage: titanctl quota recalc USER [--dovecot-config PATH] [--doveadm PATH]", 2);
    }
    auto user = canonical(ctx, a.positional[0]);
    if (!user) return fail(ctx, user.error().message, 2);
    sql::Connection db(ctx.config.database);
    // Unknown usage makes every Dovecot node recount at its next access (the dict answers
    // N); warning levels are kept, so a recount does not repeat warnings.
    auto r = db.execute("UPDATE quota_usage SET bytes = NULL, messages = NULL WHERE username = ?", {*user}, false);
    if (!r) return fail(ctx, r.error().message);
    ctx.out << "usage of " << *user << " marked for recount\n";
    auto conf = a.options.find("--dovecot-config");
    if (conf == a.options.end()) {
        ctx.out << "Dovecot recounts at the user's next access (or run: doveadm quota recalc -u " << *user << ")\n";
        return 0;
    }
    std::string doveadm = "/usr/bin/doveadm";
    if (auto it = a.options.find("--doveadm"); it != a.options.end()) doveadm = it->second;
    if (doveadm.empty() || doveadm.front() != '/') return fail(ctx, "--doveadm must be an absolute path", 2);
    const int rc = spawnAndWait({doveadm, "-c", conf->second, "quota", "recalc", "-u", *user});
    if (rc < 0) return fail(ctx, "cannot run " + doveadm + ": " + std::strerror(-rc));
    if (rc != 0) return fail(ctx, "doveadm quota recalc failed (exit " + std::to_string(rc) + ")");
    ctx.out << "Dovecot recounted " << *user << "\n";
    return 0;
}

}  // namespace

std::string quotaUsage() {
    return "  quota show USER                 shared usage (titan-quotad) next to the limits\n"
           "  quota set USER [--quota SIZE] [--quota-messages N] [--used SIZE] [--used-messages N]\n"
           "                                  change limits (0 = unlimited) or correct the stored usage\n"
           "  quota recalc USER [--dovecot-config PATH] [--doveadm PATH]\n"
           "                                  forget the usage so Dovecot recounts it; with\n"
           "                                  --dovecot-config run doveadm quota recalc now\n";
}

int runQuota(Context& ctx, const std::vector<std::string>& args) {
    if (args.empty() || args[0] != "quota") return -1;
    if (args.size() < 2) {
        ctx.err << quotaUsage();
        return 2;
    }
    auto parsed = parse(args, 2);
    if (!parsed) return fail(ctx, parsed.error().message, 2);
    const std::string& verb = args[1];
    if (verb == "help") {
        ctx.out << quotaUsage();
        return 0;
    }
    if (verb == "show") return quotaShow(ctx, *parsed);
    if (verb == "set") return quotaSet(ctx, *parsed);
    if (verb == "recalc") return quotaRecalc(ctx, *parsed);
    ctx.err << "titanctl: unknown command 'quota " << verb << "'\n" << quotaUsage();
    return 2;
}

}  // namespace titan::ctl
