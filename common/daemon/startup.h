// What every daemon's main() does the same way: the command line, the configuration
// load and the flags that answer and exit (--help, --version, --check-config,
// --dump-config); the connection gauges of a line server; the common admin commands;
// and the end of start-up (metrics exporter, admin socket, privilege drop).
// Layer: common/daemon.
#pragma once

#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/daemon/admin.h"
#include "common/daemon/process.h"
#include "common/daemon/settings.h"
#include "common/event/line_server.h"
#include "common/metrics/metrics.h"

namespace titan::daemon {

struct DaemonInfo {
    const char* name;            // "titan-authd"
    const char* version;         // "titan-authd 0.1.0"
    const char* default_config;  // "/etc/titan/authd.yaml"
};

template <class Loaded>
struct Startup {
    std::optional<Loaded> loaded;  // set: run the daemon
    int exit_code = 0;             // otherwise: return this from main()
    std::string config_path;
};

// Parses the command line and loads the configuration with `load(path)`, which
// returns a struct with a `dump` string member. Prints usage, the version, "config
// OK", the effective configuration or every configuration error as the flags ask;
// exit code 2 for usage and configuration errors.
template <class Loaded>
Startup<Loaded> startup(int argc, char** argv, const DaemonInfo& info,
                        const std::function<Result<Loaded>(const std::string&)>& load) {
    Startup<Loaded> s;
    auto cl = parseCommandLine(argc, argv, info.default_config);
    if (!cl) {
        std::cerr << cl.error().message;
        s.exit_code = 2;
        return s;
    }
    s.config_path = cl->config_path;
    if (cl->help) {
        std::cout << usage(argv[0], info.default_config);
        return s;
    }
    if (cl->version) {
        std::cout << info.version << "\n";
        return s;
    }
    auto loaded = load(cl->config_path);
    if (!loaded) {
        std::cerr << info.name << ": configuration errors:\n" << loaded.error().message << "\n";
        s.exit_code = 2;
        return s;
    }
    if (cl->check_config) {
        std::cout << cl->config_path << ": config OK\n";
        return s;
    }
    if (cl->dump_config) {
        std::cout << loaded->dump;
        return s;
    }
    s.loaded = std::move(*loaded);
    return s;
}

// `<prefix>_connections` and `<prefix>_disconnects{reason=...}` for one server.
void addServerGauges(metrics::Registry& registry, const std::string& prefix, event::LineServer& server);

// Listens on every spec; logs the first failure and returns false (main returns 1).
bool listenAll(event::LineServer& server, const std::vector<event::ListenSpec>& specs);

// The admin commands every daemon has: `stats` (the registry in Prometheus text
// form), `reload` (runs `reload`; false answers an error) and `version`.
void addCommonAdminCommands(AdminServer& admin, metrics::Registry& registry, const std::string& version,
                            std::function<bool()> reload);

// The last steps of start-up, once every server listens: the Prometheus exporter
// (metrics.listen, kept in `exporter`), the admin socket (admin), then dropping to
// run_as. Logs the failing step and returns false (main returns 1).
bool finishStartup(event::Loop& loop, metrics::Registry& registry, AdminServer& admin, const CommonSettings& common,
                   std::unique_ptr<metrics::HttpExporter>& exporter);

}  // namespace titan::daemon
