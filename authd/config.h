// titan-authd's configuration: one struct, read from YAML with common/config.
// Also read by titanctl (database, accounts). Layer: authd.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "authd/core/cache.h"
#include "authd/core/ftp.h"
#include "authd/core/throttle.h"
#include "authd/service/cluster_sync.h"
#include "authd/server/auth_client_session.h"
#include "authd/server/dict_session.h"
#include "authd/server/socketmap_session.h"
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

// Brute-force budget, hashing pool, audit and cluster polling (issue: SASL,
// Dovecot auth policy and the other password-checking front ends share these).
struct SecuritySettings {
    core::ThrottleOptions throttle;
    std::vector<std::string> exempt_networks;  // as written, for the dump
    unsigned hash_threads = 2;
    size_t hash_queue = 10000;
    bool audit = true;
    std::string node;  // recorded with audit events; default: host name
    size_t max_writes_in_flight = 1000;
    ClusterSyncOptions sync;
};

struct AuthdConfig {
    daemon::CommonSettings common;
    sql::Options database;
    std::vector<event::ListenSpec> dict_listen;
    event::ServerLimits dict_limits;
    DictSettings dict;
    // sasl: Postfix SASL (Dovecot auth-client protocol); no SASL server when the list is empty.
    std::vector<event::ListenSpec> sasl_listen;
    event::ServerLimits sasl_limits = defaultSaslLimits();
    SaslSettings sasl;
    core::CacheOptions cache;
    identity::Options identity;
    AccountSettings accounts;
    // socketmap: Postfix lookup tables; no socketmap server when the list is empty.
    std::vector<event::ListenSpec> socketmap_listen;
    event::ServerLimits socketmap_limits;
    SocketmapSettings socketmap;
    SecuritySettings security;
    std::string http_listen;  // HTTP API (Dovecot auth policy) on loopback; empty: off
    std::string dovecot24_key;  // secret the Dovecot 2.4 script must send (http.dovecot_key_file); empty: none
    // ftp: FTP virtual users for ProFTPd mod_titan (routes /ftp/v1/ on the HTTP API).
    bool ftp_enabled = false;
    core::FtpSettings ftp;
};

struct LoadedConfig {
    std::shared_ptr<const AuthdConfig> config;
    std::string dump;  // effective configuration, secrets redacted
};

// Read and validate. Errors: Config, listing every problem with file:line:col and key.
Result<LoadedConfig> loadConfig(const std::string& path);

}  // namespace titan::authd
