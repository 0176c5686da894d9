#include "common/daemon/startup.h"

#include "common/log/log.h"

namespace titan::daemon {

void addServerGauges(metrics::Registry& registry, const std::string& prefix, event::LineServer& server) {
    registry.gaugeFunction(prefix + "_connections", "Open connections", "",
                           [&server] { return static_cast<double>(server.connections()); });
    for (int r = 0; r < event::kDisconnectReasonCount; ++r) {
        auto reason = static_cast<event::DisconnectReason>(r);
        registry.gaugeFunction(prefix + "_disconnects", "Connections closed, by reason",
                               std::string("reason=\"") + event::disconnectReasonName(reason) + "\"",
                               [&server, reason] { return static_cast<double>(server.disconnects(reason)); });
    }
}

bool listenAll(event::LineServer& server, const std::vector<event::ListenSpec>& specs) {
    for (const auto& spec : specs) {
        if (auto st = server.listen(spec); !st) {
            log::error("cannot listen", {{"server", server.name()}, {"error", st.error().message}});
            return false;
        }
    }
    return true;
}

void addCommonAdminCommands(AdminServer& admin, metrics::Registry& registry, const std::string& version,
                            std::function<bool()> reload) {
    admin.add("stats", "counters and gauges in Prometheus text form",
              [&registry](const std::vector<std::string>&) -> Result<std::string> { return registry.render(); });
    admin.add("reload", "re-read the configuration file",
              [reload = std::move(reload)](const std::vector<std::string>&) -> Result<std::string> {
                  if (!reload()) return Error::config("configuration invalid, see the log");
                  return std::string();
              });
    admin.add("version", "print the version",
              [version](const std::vector<std::string>&) -> Result<std::string> { return version + "\n"; });
}

bool finishStartup(event::Loop& loop, metrics::Registry& registry, AdminServer& admin, const CommonSettings& common,
                   std::unique_ptr<metrics::HttpExporter>& exporter) {
    if (!common.metrics_address.empty()) {
        exporter = std::make_unique<metrics::HttpExporter>(loop.base(), registry);
        if (auto st = exporter->listen(common.metrics_address); !st) {
            log::error("cannot listen for metrics", {{"error", st.error().message}});
            return false;
        }
    }
    if (common.admin) {
        if (auto st = admin.listen(*common.admin); !st) {
            log::error("cannot listen on the admin socket", {{"error", st.error().message}});
            return false;
        }
    }
    if (auto st = dropPrivileges(common.run_as); !st) {
        log::error("cannot drop privileges", {{"error", st.error().message}});
        return false;
    }
    return true;
}

}  // namespace titan::daemon
