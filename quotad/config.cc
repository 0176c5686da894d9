#include "quotad/config.h"

#include <unistd.h>

#include "common/base/strings.h"
#include "common/config/config.h"

namespace titan::quotad {
namespace {

using std::chrono::milliseconds;

// An access(5) action Postfix understands: a "NNN text" reply must carry text (a bare
// "452" is read as a restriction name and becomes "451 4.3.5 Server configuration error").
void checkAction(config::Section s, std::string_view key, const std::string& action) {
    if (action.empty()) {
        s.error(key, "must not be empty (an empty action means OK to Postfix)");
        return;
    }
    if (base::hasControlBytes(action)) {
        s.error(key, "must not contain control characters");
        return;
    }
    std::size_t digits = 0;
    while (digits < action.size() && action[digits] >= '0' && action[digits] <= '9') ++digits;
    if (digits == 0) return;
    if (digits != 3 || (action[0] != '4' && action[0] != '5')) {
        s.error(key, "a numeric reply must be a 4xx or 5xx code");
    } else if (action.size() < 5 || action[3] != ' ') {
        s.error(key, "a numeric reply needs text after the code, e.g. \"452 4.2.2 Mailbox is full\"");
    }
}

}  // namespace

Result<core::Grace> parseGrace(std::string_view text) {
    if (!text.empty() && text.back() == '%') {
        auto n = base::parseUnsigned(text.substr(0, text.size() - 1));
        if (!n || *n > 1000) return Error::invalidInput("expected a percentage 0%..1000%");
        return core::Grace{true, *n};
    }
    // A size: digits with an optional binary unit, as config sizes.
    std::size_t i = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    auto n = base::parseUnsigned(text.substr(0, i));
    if (!n) return Error::invalidInput("expected a percentage (\"10%\") or a size (\"10M\")");
    std::string unit = base::asciiLower(text.substr(i));
    unsigned long long mul = 1;
    if (unit.empty() || unit == "b") mul = 1;
    else if (unit == "k" || unit == "kib") mul = 1ULL << 10;
    else if (unit == "m" || unit == "mib") mul = 1ULL << 20;
    else if (unit == "g" || unit == "gib") mul = 1ULL << 30;
    else if (unit == "t" || unit == "tib") mul = 1ULL << 40;
    else return Error::invalidInput("unknown size unit in grace");
    if (*n > (~0ULL) / mul) return Error::invalidInput("grace too large");
    return core::Grace{false, *n * mul};
}

Result<LoadedConfig> loadConfig(const std::string& path) {
    auto reader = config::Reader::loadFile(path);
    if (!reader) return std::move(reader).error();
    config::Section root = reader->root();
    auto cfg = std::make_shared<QuotadConfig>();

    cfg->common = daemon::readCommon(root);
    cfg->database = daemon::readDatabase(root.child("database"));

    config::Section ident = root.child("identity");
    identity::Options identity;
    identity.local_part = ident.getEnum("local_part", "lowercase", {"lowercase", "preserve"}) == "preserve"
                              ? identity::LocalPartPolicy::Preserve
                              : identity::LocalPartPolicy::Lowercase;

    config::Section storage = root.child("storage");
    cfg->commit_retries = static_cast<unsigned>(storage.getInt("commit_retries", 2, 0, 10));
    cfg->batch.max_batch = static_cast<std::size_t>(storage.getInt("max_batch", 128, 1, 4096));
    cfg->batch.max_write_inflight = static_cast<std::size_t>(storage.getInt("max_write_inflight", 2, 1, 256));
    cfg->batch.max_read_inflight = static_cast<std::size_t>(storage.getInt("max_read_inflight", 2, 1, 256));
    cfg->batch.max_queued = static_cast<std::size_t>(storage.getInt("max_queued", 100000, 1, 10000000));
    cfg->batch.recount_retry =
        storage.getDuration("recount_retry", milliseconds(2000), milliseconds(100), milliseconds(600000));
    cfg->batch.max_recount_pending =
        static_cast<std::size_t>(storage.getInt("max_recount_pending", 100000, 1, 10000000));
    if (cfg->batch.max_write_inflight + cfg->batch.max_read_inflight > cfg->database.pool_size * 2) {
        storage.error("max_write_inflight",
                      "max_write_inflight + max_read_inflight should not exceed twice database.pool_size");
    }

    config::Section dict = root.child("dict");
    for (auto l : dict.list("listen")) cfg->dict_listen.push_back(daemon::readListen(l, 0660));
    if (cfg->dict_listen.empty()) dict.error("listen", "at least one dict listener is required");
    event::ServerLimits dict_defaults;
    dict_defaults.max_line_bytes = proto::dict::recommendedMaxLineBytes(cfg->dict.limits);
    cfg->dict_limits = daemon::readLimits(dict.child("limits"), dict_defaults);
    cfg->dict_limits.strip_cr = false;
    cfg->dict.identity = identity;
    cfg->dict.max_transactions = static_cast<std::size_t>(dict.getInt("max_transactions", 64, 1, 10000));
    cfg->dict.max_ops_per_transaction =
        static_cast<std::size_t>(dict.getInt("max_ops_per_transaction", 1000, 1, 1000000));

    config::Section pol = root.child("policy");
    for (auto l : pol.list("listen")) cfg->policy_listen.push_back(daemon::readListen(l, 0666));
    event::ServerLimits policy_defaults;
    // The codec strips the CR itself, so the line server keeps it and allows one more byte.
    policy_defaults.max_line_bytes = cfg->policy.limits.max_line_bytes + 1;
    policy_defaults.max_pending = 16;
    policy_defaults.idle_timeout = milliseconds(600000);  // above Postfix's max_idle (300 s)
    cfg->policy_limits = daemon::readLimits(pol.child("limits"), policy_defaults);
    cfg->policy_limits.strip_cr = false;
    cfg->policy.limits.max_line_bytes = cfg->policy_limits.max_line_bytes > 1 ? cfg->policy_limits.max_line_bytes - 1 : 1;
    auto check = std::make_shared<CheckSettings>();
    auto grace = parseGrace(pol.getString("grace", "10%"));
    if (grace) {
        check->grace = *grace;
    } else {
        pol.error("grace", grace.error().message);
    }
    check->recipient_delimiter = pol.getString("recipient_delimiter", "+");
    if (check->recipient_delimiter.find('@') != std::string::npos || base::hasControlBytes(check->recipient_delimiter)) {
        pol.error("recipient_delimiter", "must not contain '@' or control characters");
    }
    check->expansion.max_depth = static_cast<std::size_t>(pol.getInt("max_alias_depth", 8, 1, 64));
    check->expansion.max_addresses = static_cast<std::size_t>(pol.getInt("max_alias_addresses", 64, 1, 128));
    check->identity = identity;
    cfg->policy.check = check;
    cfg->policy.log_decisions = pol.getBool("log_decisions", true);
    config::Section replies = pol.child("replies");
    auto reply = [&](const char* key, std::string& field) {
        field = replies.getString(key, field);
        checkAction(replies, key, field);
    };
    reply("accept", cfg->policy.replies.accept);
    reply("no_mailbox", cfg->policy.replies.no_mailbox);
    reply("over_quota", cfg->policy.replies.over_quota);
    reply("too_large", cfg->policy.replies.too_large);
    reply("backend_failure", cfg->policy.replies.backend_failure);

    config::Section warn = root.child("warnings");
    cfg->warnings.timeout = warn.getDuration("timeout", milliseconds(30000), milliseconds(100), milliseconds(3600000));
    cfg->warnings.max_running = static_cast<std::size_t>(warn.getInt("max_running", 16, 1, 1024));
    for (auto t : warn.list("thresholds")) {
        WarningRule rule;
        rule.threshold.resource =
            t.getEnum("resource", "storage", {"storage", "messages"}) == "messages" ? core::Resource::Messages
                                                                                     : core::Resource::Storage;
        rule.threshold.percent = static_cast<std::uint32_t>(t.getInt("percent", 100, 1, 1000));
        rule.command = t.getStringList("command", {});
        if (!rule.command.empty()) {
            const std::string& exe = rule.command.front();
            if (exe.empty() || exe.front() != '/') {
                t.error("command", "the first element must be an absolute path (no shell is used)");
            } else if (access(exe.c_str(), X_OK) != 0) {
                t.error("command", "'" + exe + "' is not an executable file");
            }
        }
        cfg->warnings.rules.push_back(std::move(rule));
    }
    if (cfg->warnings.rules.size() > 32) warn.error("thresholds", "at most 32 thresholds");

    if (auto st = reader->finish(); !st) return std::move(st).error();
    LoadedConfig out;
    out.dump = reader->dumpEffective();
    out.config = std::move(cfg);
    return out;
}

}  // namespace titan::quotad
