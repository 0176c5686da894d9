#include "authd/config.h"

#include <algorithm>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "common/base/strings.h"
#include "common/config/config.h"
#include "common/password/password.h"

namespace titan::authd {
namespace {

using std::chrono::milliseconds;

std::optional<uint32_t> readId(config::Section s, std::string_view key, bool group) {
    std::string v = s.getString(key, "");
    if (v.empty()) return std::nullopt;
    if (auto n = base::parseUnsigned(v); n && *n < 0xFFFFFFFFULL) return static_cast<uint32_t>(*n);
    if (group) {
        if (struct group* g = getgrnam(v.c_str())) return g->gr_gid;
    } else {
        if (struct passwd* p = getpwnam(v.c_str())) return p->pw_uid;
    }
    s.error(key, std::string("unknown ") + (group ? "group" : "user") + " '" + v + "'");
    return std::nullopt;
}

// ---- sasl (Postfix SMTP AUTH over the Dovecot auth-client protocol) ---------------------
void readSasl(config::Section s, AuthdConfig& cfg) {
    for (auto l : s.list("listen")) cfg.sasl_listen.push_back(daemon::readListen(l, 0660));
    cfg.sasl_limits = daemon::readLimits(s.child("limits"), defaultSaslLimits());
    // Postfix gives up on the auth server after 10 s (AUTH_TIMEOUT) and answers 454: a
    // longer delay would turn every wrong password into a temporary failure.
    cfg.sasl.failure_delay = s.getDuration("failure_delay", std::chrono::milliseconds(2000),
                                           std::chrono::milliseconds(0), std::chrono::milliseconds(8000));
    cfg.sasl.mechanisms.clear();
    for (const auto& name : s.getStringList("mechanisms", {"plain", "login"})) {
        auto m = proto::dovecot_auth::parseMechanismName(name);
        if (!m || name != base::asciiLower(name)) {
            s.error("mechanisms", "unknown mechanism '" + name + "' (expected plain or login)");
        } else if (std::find(cfg.sasl.mechanisms.begin(), cfg.sasl.mechanisms.end(), *m) != cfg.sasl.mechanisms.end()) {
            s.error("mechanisms", "mechanism '" + name + "' is listed twice");
        } else {
            cfg.sasl.mechanisms.push_back(*m);
        }
    }
    if (cfg.sasl.mechanisms.empty()) s.error("mechanisms", "at least one mechanism is required");
    if (cfg.sasl_limits.max_line_bytes < 1024) {
        s.error("limits", "max_line_bytes below 1KiB cannot carry a SASL request");
    }
    cfg.sasl = effectiveSaslSettings(cfg.sasl, cfg.sasl_limits);
}

// ---- socketmap (Postfix lookup tables) ------------------------------------------------
void readSocketmap(config::Section s, AuthdConfig& cfg) {
    for (auto l : s.list("listen")) cfg.socketmap_listen.push_back(daemon::readListen(l, 0660));
    event::ServerLimits defaults;
    defaults.max_line_bytes = proto::socketmap::maxRequestBytes(cfg.socketmap.limits);
    cfg.socketmap_limits = daemon::readLimits(s.child("limits"), defaults);

    config::Section maps = s.child("maps");
    auto& names = cfg.socketmap.map_names;
    for (size_t i = 0; i < names.size(); ++i) {
        const char* key = core::maps::mapKindName(static_cast<core::maps::MapKind>(i));
        names[i] = maps.getString(key, key);
        bool printable = !names[i].empty() && names[i].size() <= cfg.socketmap.limits.max_name_bytes;
        for (char c : names[i]) printable = printable && c > ' ' && c < 0x7f;
        if (!printable) maps.error(key, "must be 1-64 printable ASCII characters without spaces");
        for (size_t j = 0; j < i; ++j) {
            if (names[j] == names[i]) maps.error(key, "the same name is used for two maps");
        }
    }

    auto& delimiter = cfg.socketmap.maps.recipient_delimiter;
    delimiter = s.getString("recipient_delimiter", "+");
    bool valid = delimiter.size() <= 8;
    for (char c : delimiter) {
        bool punct = c > ' ' && c < 0x7f && c != '@' && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
                     !(c >= 'A' && c <= 'Z');
        valid = valid && punct;
    }
    if (!valid) s.error("recipient_delimiter", "expected up to 8 punctuation characters other than '@' (or empty)");
    cfg.socketmap.maps.propagate_detail = s.getBool("propagate_detail", true);
}

// ---- ftp (ProFTPd mod_titan over the HTTP API) ----------------------------------------
void readFtp(config::Section s, AuthdConfig& cfg) {
    cfg.ftp_enabled = s.getBool("enabled", false);
    auto& f = cfg.ftp;
    f.home = s.getString("home", f.home);
    if (auto home = core::expandFtpHome(f.home, "user@example.com"); !home) {
        s.error("home", "must be an absolute path template using %d, %n, %u: " + home.error().message);
    }
    f.default_uid = readId(s, "default_uid", false);
    f.default_gid = readId(s, "default_gid", true);
    f.min_uid = static_cast<uint32_t>(s.getInt("min_uid", 100, 1, 4294967294LL));
    f.min_gid = static_cast<uint32_t>(s.getInt("min_gid", 100, 1, 4294967294LL));
    f.key = s.getSecretFile("key_file");
    for (char c : f.key) {
        if (c <= ' ' || c > '~') {
            s.error("key_file", "the key must be printable ASCII without spaces (it travels in an HTTP header)");
            break;
        }
    }
    if (f.key.size() > 1024) s.error("key_file", "the key must be at most 1024 bytes");
    if (cfg.ftp_enabled && cfg.http_listen.empty()) {
        s.error("enabled", "the FTP routes are served on the HTTP API: set http.listen");
    }
}

}  // namespace

Result<LoadedConfig> loadConfig(const std::string& path) {
    auto reader = config::Reader::loadFile(path);
    if (!reader) return std::move(reader).error();
    config::Section root = reader->root();
    auto cfg = std::make_shared<AuthdConfig>();

    cfg->common = daemon::readCommon(root);
    cfg->database = daemon::readDatabase(root.child("database"));

    config::Section dict = root.child("dict");
    for (auto l : dict.list("listen")) cfg->dict_listen.push_back(daemon::readListen(l, 0660));
    if (cfg->dict_listen.empty()) dict.error("listen", "at least one dict listener is required");
    event::ServerLimits defaults;
    defaults.max_line_bytes = proto::dict::recommendedMaxLineBytes(cfg->dict.limits);
    cfg->dict_limits = daemon::readLimits(dict.child("limits"), defaults);
    cfg->dict.iterate_page = static_cast<size_t>(dict.getInt("iterate_page", 1000, 1, 100000));

    config::Section userdb = root.child("userdb");
    cfg->dict.userdb_defaults.uid = readId(userdb, "default_uid", false);
    cfg->dict.userdb_defaults.gid = readId(userdb, "default_gid", true);

    config::Section cache = root.child("cache");
    cfg->cache.ttl = cache.getDuration("ttl", milliseconds(60000), milliseconds(0), milliseconds(86400000));
    cfg->cache.negative_ttl = cache.getDuration("negative_ttl", milliseconds(5000), milliseconds(0), milliseconds(3600000));
    cfg->cache.stale_if_error =
        cache.getDuration("stale_if_error", milliseconds(3600000), milliseconds(0), milliseconds(7 * 86400000LL));
    cfg->cache.max_entries = static_cast<size_t>(cache.getInt("max_entries", 1000000, 0, 100000000));

    config::Section ident = root.child("identity");
    cfg->identity.local_part = ident.getEnum("local_part", "lowercase", {"lowercase", "preserve"}) == "preserve"
                                   ? identity::LocalPartPolicy::Preserve
                                   : identity::LocalPartPolicy::Lowercase;

    config::Section accounts = root.child("accounts");
    cfg->accounts.password_scheme = base::asciiLower(accounts.getString("password_scheme", "SHA512-CRYPT"));
    for (auto& c : cfg->accounts.password_scheme) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    if (!password::isSupported(cfg->accounts.password_scheme)) {
        accounts.error("password_scheme", "unsupported password scheme '" + cfg->accounts.password_scheme + "'");
    }
    cfg->accounts.home = accounts.getString("home", "/var/vmail/%d/%n");
    if (cfg->accounts.home.empty() || cfg->accounts.home.front() != '/') {
        accounts.error("home", "must be an absolute path template");
    }

    config::Section sec = root.child("security");
    auto& th = cfg->security.throttle;
    th.max_ip_failures = static_cast<unsigned>(sec.getInt("max_ip_failures", 10, 0, 1000000));
    th.max_user_failures = static_cast<unsigned>(sec.getInt("max_user_failures", 30, 0, 1000000));
    th.window = sec.getDuration("failure_window", milliseconds(600000), milliseconds(1000), milliseconds(86400000));
    th.block_time = sec.getDuration("block_time", milliseconds(900000), milliseconds(1000), milliseconds(86400000));
    th.max_keys = static_cast<size_t>(sec.getInt("max_tracked_keys", 1000000, 1000, 100000000));
    cfg->security.exempt_networks = sec.getStringList("exempt_networks", {});
    if (auto nets = net::CidrList::parse(cfg->security.exempt_networks); nets) {
        th.exempt = *nets;
    } else {
        sec.error("exempt_networks", nets.error().message);
    }
    cfg->security.hash_threads = static_cast<unsigned>(sec.getInt("hash_threads", 2, 1, 256));
    cfg->security.hash_queue = static_cast<size_t>(sec.getInt("hash_queue", 10000, 1, 10000000));
    cfg->security.audit = sec.getBool("audit", true);
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    cfg->security.node = sec.getString("node", host);
    cfg->security.max_writes_in_flight = static_cast<size_t>(sec.getInt("max_writes_in_flight", 1000, 1, 1000000));
    cfg->security.sync.change_poll =
        sec.getDuration("change_poll_interval", milliseconds(500), milliseconds(50), milliseconds(60000));
    cfg->security.sync.failure_poll =
        sec.getDuration("failure_poll_interval", milliseconds(1000), milliseconds(50), milliseconds(60000));

    config::Section http = root.child("http");
    cfg->http_listen = http.getString("listen", "");
    // /dovecot/* (Dovecot 2.4 Lua) then need "Authorization: Bearer <key>".
    cfg->dovecot24_key = http.getSecretFile("dovecot_key_file");
    readFtp(root.child("ftp"), *cfg);

    readSocketmap(root.child("socketmap"), *cfg);
    readSasl(root.child("sasl"), *cfg);

    if (auto st = reader->finish(); !st) return std::move(st).error();
    LoadedConfig out;
    out.dump = reader->dumpEffective();
    out.config = std::move(cfg);
    return out;
}

}  // namespace titan::authd
