// Config sections every daemon shares (log, database, listeners, connection limits,
// metrics, admin socket, run-as user), read with common/config so each daemon's
// schema states only what is its own. Layer: common/daemon (sees every common area).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/event/line_server.h"
#include "common/event/listener.h"
#include "common/log/log.h"
#include "common/sql/pool.h"

namespace titan::daemon {

struct LogSettings {
    log::Level level = log::Level::Info;
    log::Sink sink = log::Sink::Stderr;
    log::Format format = log::Format::Logfmt;
};
LogSettings readLog(config::Section s);
void applyLog(const LogSettings& settings, std::string_view ident);

// database: { hosts: ["127.0.0.1:3306", "/run/mysqld/mysqld.sock"], user, password_file,
//             name, charset, connect_timeout, read_timeout, write_timeout, retry_interval,
//             queue_timeout, pool_size, max_queue }
sql::Options readDatabase(config::Section s);

// { path, mode, group } or { address }
event::ListenSpec readListen(config::Section s, unsigned default_mode);

// { max_connections, idle_timeout, max_line_bytes, max_pending, max_output_bytes }
event::ServerLimits readLimits(config::Section s, const event::ServerLimits& defaults);

struct RunAs {
    std::string user;   // empty: keep the current user
    std::string group;  // empty: the user's primary group
};
RunAs readRunAs(config::Section s);

struct CommonSettings {
    LogSettings log;
    std::string metrics_address;  // empty: no metrics listener
    std::optional<event::ListenSpec> admin;
    RunAs run_as;
};
// Reads the top-level keys log, metrics.listen, admin and run_as.
CommonSettings readCommon(config::Section root);

}  // namespace titan::daemon
