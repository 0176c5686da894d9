// titan-replicator's configuration: one struct, read from YAML with common/config.
// Layer: replicator.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/base/result.h"
#include "common/daemon/settings.h"
#include "common/event/line_server.h"
#include "common/sql/pool.h"
#include "replicator/server/notify_fifo.h"
#include "replicator/service/replicator.h"
#include "replicator/store/journal.h"

namespace titan::replicator {

inline constexpr const char* kDefaultConfigPath = "/etc/titan/replicator.yaml";

struct ReplicatorConfig {
    daemon::CommonSettings common;
    sql::Options database;
    server::FifoSpec fifo;
    event::ListenSpec socket;
    event::ServerLimits socket_limits;
    // Dovecot 2.4's change events: a unix socket (event_exporter driver unix) or an HTTP
    // address (driver http-post); unset: not listened on.
    std::optional<event::ListenSpec> events;
    event::ServerLimits events_limits;
    store::JournalOptions journal;
    ServiceSettings service;
};

struct LoadedConfig {
    std::shared_ptr<const ReplicatorConfig> config;
    std::string dump;  // effective configuration, secrets redacted
};

// Read and validate. Errors: Config, listing every problem with file:line:col and key.
Result<LoadedConfig> loadConfig(const std::string& path);

}  // namespace titan::replicator
