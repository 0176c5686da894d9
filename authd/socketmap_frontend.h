// titan-authd's Postfix socketmap front end, assembled: the maps store on the shared
// SQL pool, the map lookup service with its fact cache, the netstring LineServer and its
// metrics, reload and admin commands. It is main.cc's socketmap block, kept in its own
// file; with no `socketmap.listen` configured it binds nothing and costs nothing.
// Loop thread only. Layer: authd (sees config, server, service and store).
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "authd/config.h"
#include "authd/server/socketmap_session.h"
#include "authd/service/map_lookup.h"
#include "authd/store/mysql_maps_store.h"
#include "common/daemon/admin.h"
#include "common/event/line_server.h"
#include "common/metrics/metrics.h"
#include "common/sql/pool.h"

namespace titan::authd {

// The map settings of `cfg`, with the identity rule of its `identity` section.
core::maps::Settings mapSettings(const AuthdConfig& cfg);

class SocketmapFrontEnd {
public:
    SocketmapFrontEnd(event::Loop& loop, sql::Pool& pool, metrics::Registry& registry, const AuthdConfig& cfg);

    // Binds every socketmap.listen entry (before privileges are dropped). Errors: Config.
    Status listen(const AuthdConfig& cfg);
    // SIGHUP: cache, map names, detail rule and limits apply to new requests; listeners
    // need a restart (logged by the caller's restart check).
    void reconfigure(const AuthdConfig& cfg);
    // Registers `maps-flush` (forget cached map facts) on the admin socket.
    void addAdminCommands(daemon::AdminServer& admin);
    // Graceful stop; `done` runs at once when nothing listens.
    void shutdown(std::chrono::milliseconds deadline, std::function<void()> done);

    bool enabled() const noexcept { return server_ != nullptr; }
    MapLookup& lookup() noexcept { return lookup_; }

private:
    event::Loop& loop_;
    metrics::Registry& registry_;
    store::MysqlMapsStore store_;
    MapLookup lookup_;
    SocketmapMetrics metrics_;
    std::shared_ptr<const SocketmapSettings> settings_;
    std::unique_ptr<event::LineServer> server_;
};

}  // namespace titan::authd
