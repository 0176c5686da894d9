// titan-replicator: change-driven and periodic replication of Dovecot 2.3 and 2.4 mailboxes
// between N sites with `doveadm sync`, replacing Dovecot's aggregator and replicator.
//
// SECURITY. Trusts: its config file, the database (sites, placements) and the
// password files the sites table names. Talks to: Dovecot 2.3 mail processes through
// the notify fifo and socket, Dovecot 2.4's stats process through the events socket or
// loopback HTTP (local peers, unauthenticated, but every line and body is bounded and
// validated and user names go through the identity rule), MariaDB, operators over the
// admin socket (mode 0600 by default), a Prometheus scraper on loopback, and doveadm, which it
// starts with posix_spawn, an argv vector and an empty environment — never a shell.
// Site passwords reach doveadm only through generated 0600 config files in
// doveadm.state_dir, never through argv. Needs the privileges doveadm needs to read
// and write mail (root, or the mail user when all mail belongs to one user); drops
// to run_as after creating its sockets when one is set.
#include <sys/stat.h>

#include <cstdio>
#include <memory>

#include "common/daemon/admin.h"
#include "common/daemon/process.h"
#include "common/daemon/startup.h"
#include "common/event/line_server.h"
#include "common/event/loop.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/sql/pool.h"
#include "replicator/config.h"
#include "replicator/runner/process.h"
#include "replicator/server/notify_fifo.h"
#include "replicator/server/event_http.h"
#include "replicator/server/event_session.h"
#include "replicator/server/notify_session.h"
#include "replicator/service/replicator.h"
#include "replicator/store/journal.h"
#include "replicator/store/mysql_store.h"

using namespace titan;
namespace queue = titan::replicator::queue;

namespace {

constexpr const char* kVersion = "titan-replicator 0.1.0";

queue::Priority toPriority(replicator::proto::NotifyPriority p) {
    switch (p) {
        case replicator::proto::NotifyPriority::Low: return queue::Priority::Low;
        case replicator::proto::NotifyPriority::High: return queue::Priority::High;
        case replicator::proto::NotifyPriority::Sync: return queue::Priority::High;  // fifo: no reply channel
    }
    return queue::Priority::Low;
}

void warnIfRestartNeeded(const replicator::ReplicatorConfig& a, const replicator::ReplicatorConfig& b) {
    if (a.service.site != b.service.site) log::warning("site changed: takes effect after a restart");
    auto events = [](const replicator::ReplicatorConfig& c) { return c.events ? c.events->describe() : std::string(); };
    if (a.fifo.path != b.fifo.path || a.socket.describe() != b.socket.describe() || events(a) != events(b)) {
        log::warning("notify endpoints changed: take effect after a restart");
    }
    if (a.journal.path != b.journal.path) log::warning("queue.journal changed: takes effect after a restart");
    if (a.database.hosts.size() != b.database.hosts.size() || a.database.user != b.database.user ||
        a.database.database != b.database.database) {
        log::warning("database settings changed: take effect after a restart");
    }
    if (a.service.state_dir != b.service.state_dir) log::warning("doveadm.state_dir changed: takes effect after a restart");
}

}  // namespace

int main(int argc, char** argv) {
    auto start = daemon::startup<replicator::LoadedConfig>(
        argc, argv, {"titan-replicator", kVersion, replicator::kDefaultConfigPath}, replicator::loadConfig);
    if (!start.loaded) return start.exit_code;
    auto* loaded = &*start.loaded;
    const std::string config_path = start.config_path;
    std::shared_ptr<const replicator::ReplicatorConfig> cfg = loaded->config;
    daemon::applyLog(cfg->common.log, "titan-replicator");

    if (::mkdir(cfg->service.state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
        log::error("cannot create doveadm.state_dir", {{"path", cfg->service.state_dir}});
        return 1;
    }
    queue::Replay replay;
    auto journal = replicator::store::Journal::open(cfg->journal, &replay);
    if (!journal) {
        log::error("cannot open the queue journal", {{"error", journal.error().message}});
        return 1;
    }

    event::Loop loop;
    metrics::Registry registry;
    sql::Pool pool(loop.base(), cfg->database);
    replicator::store::MysqlStore store(pool);
    replicator::runner::ProcessRunner runner(loop);
    replicator::Replicator service(loop, store, **journal, runner, registry, cfg->service, replay);

    metrics::Counter& bad_fifo = registry.counter("replicator_notify_errors_total",
                                                  "Malformed notification lines", "source=\"fifo\"");
    metrics::Counter& bad_socket = registry.counter("replicator_notify_errors_total",
                                                    "Malformed notification lines", "source=\"socket\"");
    replicator::server::NotifyFifo fifo(
        loop, cfg->fifo,
        {[&](const replicator::proto::Notification& n) {
             service.notify(n.user, toPriority(n.priority), replicator::Replicator::Source::Fifo);
         },
         [&](const std::string& reason) {
             bad_fifo.inc();
             log::warning("notify fifo: malformed line skipped", {{"error", reason}});
         },
         [&] { service.commit(); }});
    if (auto st = fifo.open(); !st) {
        log::error("cannot create the notify fifo", {{"error", st.error().message}});
        return 1;
    }

    replicator::server::NotifyTarget target{
        [&](const replicator::proto::Notification& n) {
            service.notify(n.user, toPriority(n.priority), replicator::Replicator::Source::Socket);
        },
        [&](const std::string& user, std::function<void(bool)> reply) { service.syncRequest(user, std::move(reply)); },
        [&](const std::string&) { bad_socket.inc(); }};
    event::LineServer notify_server(loop, "notify", cfg->socket_limits, [&](event::LineConnection& conn) {
        return std::make_unique<replicator::server::NotifySession>(conn, target);
    });
    if (auto st = notify_server.listen(cfg->socket); !st) {
        log::error("cannot listen on the notify socket", {{"error", st.error().message}});
        return 1;
    }
    registry.gaugeFunction("replicator_notify_connections", "Open notify socket connections", "",
                           [&] { return static_cast<double>(notify_server.connections()); });

    // Dovecot 2.4: change events from its stats process (event_exporter driver unix on a
    // socket, or http-post to an address).
    // Changes written by doveadm's own sync are dropped here too (the loop trap), even
    // when Dovecot's metric filter lets them through.
    metrics::Counter& bad_events = registry.counter("replicator_notify_errors_total", "Malformed notification lines",
                                                    "source=\"events\"");
    metrics::Counter& events_replication = registry.counter(
        "replicator_events_ignored_total", "Dovecot 2.4 change events not queued, by reason", "reason=\"replication\"");
    metrics::Counter& events_no_user = registry.counter(
        "replicator_events_ignored_total", "Dovecot 2.4 change events not queued, by reason", "reason=\"no_user\"");
    replicator::server::EventTarget event_target{
        [&](const replicator::proto::ChangeEvent& e) {
            if (replicator::proto::writtenByReplication(e)) {
                events_replication.inc();
                log::debug("change event from a replication run ignored", {{"user", e.user}, {"event", e.name}});
                return;
            }
            if (e.user.empty()) {
                events_no_user.inc();
                return;
            }
            service.notify(e.user, queue::Priority::High, replicator::Replicator::Source::Events);
        },
        [&](const std::string& reason) {
            bad_events.inc();
            log::warning("events socket: malformed event skipped", {{"error", reason}});
        }};
    std::unique_ptr<event::LineServer> events_server;
    std::unique_ptr<replicator::server::EventHttpServer> events_http;
    if (cfg->events && !cfg->events->address.empty()) {
        events_http = std::make_unique<replicator::server::EventHttpServer>(loop.base(), event_target,
                                                                           cfg->events_limits.max_line_bytes);
        if (auto st = events_http->listen(cfg->events->address); !st) {
            log::error("cannot listen for events over HTTP", {{"error", st.error().message}});
            return 1;
        }
        log::info("listening", {{"server", "events"}, {"on", "http://" + cfg->events->address + "/events"}});
    } else if (cfg->events) {
        events_server = std::make_unique<event::LineServer>(
            loop, "events", cfg->events_limits,
            [&](event::LineConnection&) { return std::make_unique<replicator::server::EventSession>(event_target); });
        if (auto st = events_server->listen(*cfg->events); !st) {
            log::error("cannot listen on the events socket", {{"error", st.error().message}});
            return 1;
        }
        registry.gaugeFunction("replicator_events_connections", "Open Dovecot 2.4 event exporter connections", "",
                               [&] { return static_cast<double>(events_server->connections()); });
    }


    auto reload = [&] {
        auto next = replicator::loadConfig(config_path);
        if (!next) {
            log::error("reload failed, keeping the running configuration", {{"error", next.error().message}});
            return false;
        }
        warnIfRestartNeeded(*cfg, *next->config);
        cfg = next->config;
        daemon::applyLog(cfg->common.log, "titan-replicator");
        (*journal)->setFsync(cfg->journal.fsync);
        notify_server.setLimits(cfg->socket_limits);
        if (events_server && cfg->events) events_server->setLimits(cfg->events_limits);
        service.reconfigure(cfg->service);
        log::info("configuration reloaded", {{"config", config_path}});
        return true;
    };

    daemon::AdminServer admin(loop);
    admin.add("status", "status [USER]: queue depth, per-peer health and lag; or one user's tasks",
              [&](const std::vector<std::string>& args) -> Result<std::string> {
                  if (args.empty()) return service.status();
                  return service.statusUser(args[0]);
              });
    admin.add("replicate", "replicate USER [sync|high|low] [full]: queue a sync of USER (default high); full = not incremental",
              [&](const std::vector<std::string>& args) -> Result<std::string> {
                  if (args.empty() || args.size() > 3) {
                      return Error::invalidInput("usage: replicate USER [sync|high|low] [full]");
                  }
                  queue::Priority prio = queue::Priority::High;
                  bool full = false;
                  for (std::size_t i = 1; i < args.size(); ++i) {
                      auto p = queue::parsePriority(args[i]);
                      if (args[i] == "full") {
                          full = true;
                      } else if (p && *p != queue::Priority::None && *p != queue::Priority::Full) {
                          prio = *p;
                      } else {
                          return Error::invalidInput("unknown option '" + args[i] + "' (sync, high, low or full)");
                      }
                  }
                  return service.replicate(args[0], prio, full);
              });
    admin.add("pause", "pause PEER: stop syncing to a peer (kept across restarts)",
              [&](const std::vector<std::string>& args) -> Result<std::string> {
                  if (args.size() != 1) return Error::invalidInput("usage: pause PEER");
                  return service.setPaused(args[0], true);
              });
    admin.add("resume", "resume PEER: sync to a paused peer again",
              [&](const std::vector<std::string>& args) -> Result<std::string> {
                  if (args.size() != 1) return Error::invalidInput("usage: resume PEER");
                  return service.setPaused(args[0], false);
              });
    admin.add("sites-reload", "re-read the sites table now", [&](const std::vector<std::string>&) -> Result<std::string> {
        service.refreshSites();
        return std::string("sites reload requested\n");
    });
    daemon::addCommonAdminCommands(admin, registry, kVersion, reload);
    std::unique_ptr<metrics::HttpExporter> exporter;
    if (!daemon::finishStartup(loop, registry, admin, cfg->common, exporter)) return 1;

    bool stopping = false;
    loop.onStopSignal([&] {
        if (stopping) return;
        stopping = true;
        log::info("stopping: no new syncs; waiting for the running ones");
        fifo.close();
        admin.server().shutdown(std::chrono::milliseconds(1000), [] {});
        notify_server.shutdown(std::chrono::milliseconds(1000), [] {});
        if (events_server) events_server->shutdown(std::chrono::milliseconds(1000), [] {});
        service.shutdown(std::chrono::milliseconds(10000), [&] { loop.stop(); });
    });
    loop.onReloadSignal([&] { reload(); });

    service.start();
    log::info("titan-replicator started",
              {{"version", kVersion}, {"config", config_path}, {"site", cfg->service.site}});
    loop.run();
    service.commit();
    pool.shutdown();
    log::info("titan-replicator stopped");
    return 0;
}
