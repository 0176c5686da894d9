#include "policyd/config.h"

#include <unistd.h>

#include <set>

#include "common/base/strings.h"
#include "common/config/config.h"

namespace titan::policyd {
namespace {

using std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr const char* kDefaultFail = "DEFER_IF_PERMIT Policy service temporarily unavailable";

std::string hostName() {
    char buf[256] = {0};
    if (gethostname(buf, sizeof(buf) - 1) != 0) return "policyd";
    return buf;
}

void readAction(config::Section s, std::string_view key, std::string& out, std::string_view def) {
    out = s.getString(key, def);
    if (auto why = checkAction(out); !why.empty()) s.error(key, why);
}

std::vector<core::Network> readNetworks(config::Section s, std::string_view key) {
    std::vector<core::Network> out;
    for (const auto& text : s.getStringList(key, {})) {
        auto n = core::Network::parse(text);
        if (!n) {
            s.error(key, n.error().message);
            continue;
        }
        out.push_back(*n);
    }
    return out;
}

core::ListEntries readEntries(config::Section s, const core::AddressOptions& address) {
    core::ListEntries e;
    for (const char* kind : {"clients", "client_names", "senders", "recipients"}) {
        std::string singular(kind);
        singular.pop_back();
        for (const auto& v : s.getStringList(kind, {})) {
            if (auto st = core::addListEntry(e, singular, v, address); !st) s.error(kind, st.error().message);
        }
    }
    return e;
}

unsigned readPrefix(config::Section s, std::string_view key, unsigned def, unsigned max) {
    return static_cast<unsigned>(s.getInt(key, def, 0, max));
}

core::Rule readRule(config::Section s, const core::AddressOptions& address, std::set<std::string>& names) {
    core::Rule r;
    r.name = s.getString("name", "");
    if (r.name.empty()) {
        s.error("name", "every rule needs a name");
    } else {
        bool ok = r.name.size() <= 64;
        for (char c : r.name) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_');
        if (!ok) s.error("name", "rule names are 1-64 characters of a-z 0-9 - _");
        if (!names.insert(r.name).second) s.error("name", "duplicate rule name '" + r.name + "'");
    }
    const std::string type =
        s.getEnum("type", "lists", {"lists", "rate_limit", "greylist", "sender_login", "account_guard"});
    const char* default_direction = type == "greylist" ? "inbound" : "any";
    const std::string dir = s.getEnum("direction", default_direction, {"any", "inbound", "outbound"});
    r.direction = dir == "inbound" ? core::Direction::Inbound
                  : dir == "outbound" ? core::Direction::Outbound
                                      : core::Direction::Any;
    r.dry_run = s.getBool("dry_run", false);

    if (type == "lists") {
        r.kind = core::RuleKind::Lists;
        core::ListsRule spec;
        spec.allow = readEntries(s.child("allow"), address);
        spec.deny = readEntries(s.child("deny"), address);
        spec.use_sql = s.getBool("sql", true);
        readAction(s, "allow_action", spec.allow_action, "DUNNO");
        readAction(s, "action", r.action, "REJECT Access denied");
        readAction(s, "fail_action", r.fail_action, "DUNNO");
        r.spec = std::move(spec);
    } else if (type == "rate_limit") {
        r.kind = core::RuleKind::RateLimit;
        core::RateLimitRule spec;
        const std::string key = s.getEnum(
            "key", "sasl_username", {"sasl_username", "sender", "sender_domain", "client_address", "recipient_domain"});
        spec.key = key == "sender"             ? core::KeyKind::Sender
                   : key == "sender_domain"    ? core::KeyKind::SenderDomain
                   : key == "client_address"   ? core::KeyKind::ClientAddress
                   : key == "recipient_domain" ? core::KeyKind::RecipientDomain
                                               : core::KeyKind::SaslUsername;
        const std::string count = s.getEnum("count", "messages", {"messages", "recipients", "bytes"});
        spec.count = count == "recipients" ? core::CountUnit::Recipients
                     : count == "bytes"    ? core::CountUnit::Bytes
                                           : core::CountUnit::Messages;
        const std::string algo = s.getEnum("algorithm", "fixed_window", {"fixed_window", "sliding_window", "token_bucket"});
        spec.algorithm = algo == "sliding_window" ? core::Algorithm::SlidingWindow
                         : algo == "token_bucket" ? core::Algorithm::TokenBucket
                                                  : core::Algorithm::FixedWindow;
        for (auto w : s.list("windows")) {
            core::WindowSpec ws;
            if (!w.has("limit")) w.error("", "a window needs a limit (a positive number; there is no 'unlimited')");
            if (!w.has("period")) w.error("", "a window needs a period (e.g. 1h)");
            if (spec.count == core::CountUnit::Bytes) {
                ws.limit = w.getSize("limit", 0, 1, 1ULL << 50);
            } else {
                ws.limit = static_cast<std::uint64_t>(w.getInt("limit", 0, 1, 1LL << 40));
            }
            ws.period = w.getDuration("period", 1h, 1s, milliseconds(366LL * 86400000));
            spec.windows.push_back(ws);
        }
        if (spec.windows.empty()) s.error("windows", "a rate limit needs at least one {limit, period} window");
        if (spec.windows.size() > 8) s.error("windows", "at most 8 windows per rule");
        spec.ipv4_prefix = readPrefix(s, "ipv4_prefix", 32, 32);
        spec.ipv6_prefix = readPrefix(s, "ipv6_prefix", 64, 128);
        readAction(s, "action", r.action, "450 4.7.1 Rate limit reached, try again in {retry} seconds");
        readAction(s, "fail_action", r.fail_action, kDefaultFail);
        r.spec = std::move(spec);
    } else if (type == "greylist") {
        r.kind = core::RuleKind::Greylist;
        core::GreylistRule spec;
        spec.params.delay = s.getDuration("delay", 5min, 0ms, 24h);
        spec.params.retry_window = s.getDuration("retry_window", 48h, 1s, milliseconds(30LL * 86400000));
        spec.params.expire = s.getDuration("expire", milliseconds(35LL * 86400000), 1s, milliseconds(366LL * 86400000));
        spec.params.auto_allow_after = static_cast<std::uint32_t>(s.getInt("auto_allow_after", 5, 0, 1000000));
        spec.params.auto_allow_ttl =
            s.getDuration("auto_allow_ttl", milliseconds(35LL * 86400000), 1s, milliseconds(366LL * 86400000));
        spec.ipv4_prefix = readPrefix(s, "ipv4_prefix", 24, 32);
        spec.ipv6_prefix = readPrefix(s, "ipv6_prefix", 64, 128);
        spec.allow_clients = readNetworks(s, "allow_clients");
        for (const auto& n : s.getStringList("allow_client_names", {})) {
            core::ListEntries tmp;
            if (auto st = core::addListEntry(tmp, "client_name", n, address); !st) {
                s.error("allow_client_names", st.error().message);
            } else {
                spec.allow_client_names.push_back(tmp.client_names.front());
            }
        }
        readAction(s, "action", r.action, "DEFER_IF_PERMIT Greylisted, try again in {retry} seconds");
        readAction(s, "fail_action", r.fail_action, "DUNNO");
        r.spec = std::move(spec);
    } else if (type == "sender_login") {
        r.kind = core::RuleKind::SenderLogin;
        core::SenderLoginRule spec;
        spec.allow_null_sender = s.getBool("allow_null_sender", false);
        readAction(s, "action", r.action, "553 5.7.1 Sender address not owned by the authenticated user");
        readAction(s, "fail_action", r.fail_action, kDefaultFail);
        r.spec = spec;
    } else {
        r.kind = core::RuleKind::AccountGuard;
        core::GuardRule spec;
        spec.window = s.getDuration("window", 1h, 1s, milliseconds(7LL * 86400000));
        spec.max_messages = static_cast<std::uint64_t>(s.getInt("max_messages", 0, 0, 1LL << 40));
        spec.max_recipient_domains = static_cast<std::uint64_t>(s.getInt("max_recipient_domains", 0, 0, 1LL << 40));
        spec.max_client_networks = static_cast<std::uint64_t>(s.getInt("max_client_networks", 0, 0, 1LL << 40));
        if (spec.max_messages == 0 && spec.max_recipient_domains == 0 && spec.max_client_networks == 0) {
            s.error("", "an account guard needs max_messages, max_recipient_domains or max_client_networks");
        }
        spec.ipv4_prefix = readPrefix(s, "ipv4_prefix", 24, 32);
        spec.ipv6_prefix = readPrefix(s, "ipv6_prefix", 64, 128);
        readAction(s, "held_action", spec.held_action, spec.held_action);
        readAction(s, "action", r.action, "HOLD Unusual sending activity, held for review");
        readAction(s, "fail_action", r.fail_action, "DUNNO");
        r.spec = std::move(spec);
    }
    return r;
}

Result<LoadedConfig> load(Result<config::Reader> reader) {
    if (!reader) return std::move(reader).error();
    config::Section root = reader->root();
    auto cfg = std::make_shared<PolicydConfig>();
    auto policy = std::make_shared<PolicySettings>();

    cfg->common = daemon::readCommon(root);
    cfg->database = daemon::readDatabase(root.child("database"));

    config::Section ps = root.child("policy");
    for (auto l : ps.list("listen")) cfg->listen.push_back(daemon::readListen(l, 0666));
    if (cfg->listen.empty()) ps.error("listen", "at least one policy listener is required");
    cfg->protocol.max_line_bytes = static_cast<std::size_t>(ps.getSize("max_line_bytes", 64 * 1024, 256, 16u << 20));
    cfg->protocol.max_attributes = static_cast<std::size_t>(ps.getInt("max_attributes", 256, 32, 100000));
    cfg->protocol.max_request_bytes =
        static_cast<std::size_t>(ps.getSize("max_request_bytes", 1u << 20, 1024, 64u << 20));
    event::ServerLimits defaults;
    defaults.idle_timeout = 1h;  // above Postfix's smtpd_policy_service_max_idle (300s)
    defaults.max_connections = 4096;
    defaults.max_pending = 1;
    defaults.max_output_bytes = 1u << 20;
    config::Section lim = ps.child("limits");
    if (lim.has("max_line_bytes")) lim.error("max_line_bytes", "set policy.max_line_bytes instead");
    if (lim.has("max_pending")) lim.error("max_pending", "not configurable: Postfix sends one request at a time");
    defaults = daemon::readLimits(lim, defaults);
    defaults.max_pending = 1;  // Postfix sends one request at a time; more are read later
    defaults.strip_cr = false;  // the codec strips one CR itself
    defaults.max_line_bytes = cfg->protocol.max_line_bytes + 1;
    cfg->limits = defaults;
    policy->request_timeout = ps.getDuration("request_timeout", 2s, 10ms, 60s);
    const std::string log_mode = ps.getEnum("log_decisions", "all", {"all", "refusals", "none"});
    policy->log_decisions = log_mode == "none" ? DecisionLog::None
                            : log_mode == "refusals" ? DecisionLog::Refusals
                                                     : DecisionLog::All;
    policy->node = ps.getString("node", hostName());
    policy->max_transaction_recipients =
        static_cast<std::size_t>(ps.getInt("max_transaction_recipients", 1000, 1, 100000));

    config::Section ident = root.child("identity");
    policy->engine.address.identity.local_part =
        ident.getEnum("local_part", "lowercase", {"lowercase", "preserve"}) == "preserve"
            ? identity::LocalPartPolicy::Preserve
            : identity::LocalPartPolicy::Lowercase;
    policy->engine.address.recipient_delimiter = ident.getString("recipient_delimiter", "+");

    policy->engine.trusted_networks = readNetworks(root.child("networks"), "trusted");

    config::Section cache = root.child("cache");
    cfg->cache.lists_refresh = cache.getDuration("lists_refresh", 10s, 100ms, 1h);
    cfg->cache.holds_refresh = cache.getDuration("holds_refresh", 2s, 100ms, 1h);
    cfg->cache.sender_login_ttl = cache.getDuration("sender_login_ttl", 60s, 0ms, 24h);
    cfg->cache.sender_login_stale = cache.getDuration("sender_login_stale", 1h, 0ms, 7 * 24h);
    cfg->cache.sender_login_max_entries =
        static_cast<std::size_t>(cache.getInt("sender_login_max_entries", 100000, 1, 100000000));
    cfg->cleanup_interval = cache.getDuration("cleanup_interval", 5min, 1s, 24h);
    cfg->cache.counter_ttl = cache.getDuration("counter_ttl", 1s, 0ms, 60s);
    cfg->cache.greylist_pass_ttl = cache.getDuration("greylist_pass_ttl", 10min, 0ms, 24h);
    cfg->cache.max_cached_entries =
        static_cast<std::size_t>(cache.getInt("max_cached_entries", 1000000, 1000, 100000000));

    std::set<std::string> names;
    for (auto rs : root.list("rules")) policy->rules.push_back(readRule(rs, policy->engine.address, names));

    if (auto st = reader->finish(); !st) return std::move(st).error();
    cfg->policy = std::move(policy);
    LoadedConfig out;
    out.dump = reader->dumpEffective();
    out.config = std::move(cfg);
    return out;
}

}  // namespace

std::string checkAction(std::string_view action) {
    if (action.empty()) return "empty action (Postfix would treat it as OK)";
    if (base::hasControlBytes(action)) return "control characters in action";
    if (!base::isValidUtf8(action)) return "action is not valid UTF-8";
    const std::string label = core::actionLabel(action);
    if (label == "other") return "unknown action '" + std::string(action.substr(0, 40)) + "' (use DUNNO, OK, REJECT, DEFER, DEFER_IF_PERMIT, HOLD, ... or 'NNN text')";
    if ((label == "4xx" || label == "5xx") && action.find(' ') == std::string_view::npos) {
        return "a numeric action needs a text after the code ('450 4.7.1 text')";
    }
    return {};
}

Result<LoadedConfig> loadConfig(const std::string& path) { return load(config::Reader::loadFile(path)); }

Result<LoadedConfig> loadConfigString(std::string_view yaml, std::string_view name) {
    return load(config::Reader::loadString(yaml, name));
}

}  // namespace titan::policyd
