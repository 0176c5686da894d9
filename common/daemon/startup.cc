#include "common/daemon/startup.h"

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

}  // namespace titan::daemon
