// titan-policyd's configuration: one struct, read from YAML with common/config; every
// rule is validated at load (units, bounds, action syntax, unique names).
// Layer: policyd.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "common/daemon/settings.h"
#include "common/proto/postfix_policy/policy.h"
#include "common/sql/pool.h"
#include "policyd/service/evaluator.h"
#include "policyd/service/shared_state.h"

namespace titan::policyd {

inline constexpr const char* kDefaultConfigPath = "/etc/titan/policyd.yaml";

struct PolicydConfig {
    daemon::CommonSettings common;
    sql::Options database;
    std::vector<event::ListenSpec> listen;
    event::ServerLimits limits;
    proto::policy::PolicyLimits protocol;
    std::shared_ptr<const PolicySettings> policy;
    CacheSettings cache;
    std::chrono::milliseconds cleanup_interval{300000};
};

struct LoadedConfig {
    std::shared_ptr<const PolicydConfig> config;
    std::string dump;  // effective configuration, secrets redacted
};

// Read and validate. Errors: Config, listing every problem with file:line:col and key.
Result<LoadedConfig> loadConfig(const std::string& path);
// Same, from text (tests).
Result<LoadedConfig> loadConfigString(std::string_view yaml, std::string_view name);

// Why `action` is not an access(5) action Postfix accepts from a policy server, or "".
std::string checkAction(std::string_view action);

}  // namespace titan::policyd
