#include "authd/socketmap_frontend.h"

#include "common/log/log.h"

namespace titan::authd {

core::maps::Settings mapSettings(const AuthdConfig& cfg) {
    core::maps::Settings s = cfg.socketmap.maps;
    s.identity = cfg.identity;
    return s;
}

SocketmapFrontEnd::SocketmapFrontEnd(event::Loop& loop, sql::Pool& pool, metrics::Registry& registry,
                                     const AuthdConfig& cfg)
    : loop_(loop),
      registry_(registry),
      store_(pool),
      lookup_(store_, cfg.cache, mapSettings(cfg), registry),
      metrics_(registry),
      settings_(std::make_shared<const SocketmapSettings>(cfg.socketmap)) {}

Status SocketmapFrontEnd::listen(const AuthdConfig& cfg) {
    if (cfg.socketmap_listen.empty()) return {};
    server_ = std::make_unique<event::LineServer>(
        loop_, "socketmap", cfg.socketmap_limits,
        [this](event::LineConnection& conn) {
            return std::make_unique<SocketmapSession>(conn, lookup_, settings_, metrics_);
        },
        socketmapFramer());
    for (const auto& spec : cfg.socketmap_listen) {
        if (auto st = server_->listen(spec); !st) return st;
    }
    event::LineServer* server = server_.get();
    registry_.gaugeFunction("authd_socketmap_connections", "Open socketmap connections", "",
                            [server] { return static_cast<double>(server->connections()); });
    for (int r = 0; r < event::kDisconnectReasonCount; ++r) {
        auto reason = static_cast<event::DisconnectReason>(r);
        registry_.gaugeFunction("authd_socketmap_disconnects", "Socketmap connections closed, by reason",
                                std::string("reason=\"") + event::disconnectReasonName(reason) + "\"",
                                [server, reason] { return static_cast<double>(server->disconnects(reason)); });
    }
    return {};
}

void SocketmapFrontEnd::reconfigure(const AuthdConfig& cfg) {
    lookup_.reconfigure(cfg.cache, mapSettings(cfg));
    settings_ = std::make_shared<const SocketmapSettings>(cfg.socketmap);
    if (server_) server_->setLimits(cfg.socketmap_limits);
}

void SocketmapFrontEnd::addAdminCommands(daemon::AdminServer& admin) {
    admin.add("maps-flush", "forget every cached Postfix map entry (domains, mailboxes, aliases, senders)",
              [this](const std::vector<std::string>&) -> Result<std::string> {
                  lookup_.flush();
                  return std::string("flushed map cache\n");
              });
}

void SocketmapFrontEnd::shutdown(std::chrono::milliseconds deadline, std::function<void()> done) {
    if (!server_) {
        done();
        return;
    }
    server_->shutdown(deadline, std::move(done));
}

}  // namespace titan::authd
