// titan-quotad's configuration: one struct, read from YAML with common/config (every
// error with file:line:column and key, unknown keys refused). Layer: quotad.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "common/daemon/settings.h"
#include "common/identity/identity.h"
#include "common/sql/pool.h"
#include "quotad/server/dict_session.h"
#include "quotad/server/policy_session.h"
#include "quotad/service/usage_service.h"
#include "quotad/service/warning_runner.h"

namespace titan::quotad {

inline constexpr const char* kDefaultConfigPath = "/etc/titan/quotad.yaml";

struct QuotadConfig {
    daemon::CommonSettings common;
    sql::Options database;
    unsigned commit_retries = 2;  // extra attempts of a write transaction that failed before COMMIT

    std::vector<event::ListenSpec> dict_listen;
    event::ServerLimits dict_limits;
    DictSettings dict;

    std::vector<event::ListenSpec> policy_listen;  // empty: no policy service
    event::ServerLimits policy_limits;
    PolicySettings policy;

    BatchSettings batch;
    WarningSettings warnings;
};

struct LoadedConfig {
    std::shared_ptr<const QuotadConfig> config;
    std::string dump;  // effective configuration, secrets redacted
};

// Read and validate. Errors: Config, listing every problem with file:line:col and key.
Result<LoadedConfig> loadConfig(const std::string& path);

// Parses a grace value: "10%" (0..1000 %) or a size ("10M", "0"). Errors: InvalidInput.
Result<core::Grace> parseGrace(std::string_view text);

}  // namespace titan::quotad
