// titan-authd's configuration: one struct, read from YAML with common/config.
// Also read by titanctl (database, accounts). Layer: authd.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "authd/core/cache.h"
#include "authd/server/dict_session.h"
#include "common/base/result.h"
#include "common/daemon/settings.h"
#include "common/identity/identity.h"
#include "common/sql/pool.h"

namespace titan::authd {

inline constexpr const char* kDefaultConfigPath = "/etc/titan/authd.yaml";

struct AccountSettings {
    std::string password_scheme = "SHA512-CRYPT";  // scheme titanctl hashes new passwords with
    std::string home = "/var/vmail/%d/%n";         // home of new mailboxes: %d domain, %n local part, %u user
};

struct AuthdConfig {
    daemon::CommonSettings common;
    sql::Options database;
    std::vector<event::ListenSpec> dict_listen;
    event::ServerLimits dict_limits;
    DictSettings dict;
    core::CacheOptions cache;
    identity::Options identity;
    AccountSettings accounts;
};

struct LoadedConfig {
    std::shared_ptr<const AuthdConfig> config;
    std::string dump;  // effective configuration, secrets redacted
};

// Read and validate. Errors: Config, listing every problem with file:line:col and key.
Result<LoadedConfig> loadConfig(const std::string& path);

}  // namespace titan::authd
