#include "authd/config.h"

#include <pwd.h>
#include <grp.h>

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

    if (auto st = reader->finish(); !st) return std::move(st).error();
    LoadedConfig out;
    out.dump = reader->dumpEffective();
    out.config = std::move(cfg);
    return out;
}

}  // namespace titan::authd
