#include "replicator/config.h"

#include <unistd.h>

#include "common/config/config.h"
#include "replicator/core/dsync.h"
#include "replicator/proto/dovecot_event.h"

namespace titan::replicator {
namespace {

using std::chrono::milliseconds;
constexpr milliseconds kDay{86400000};

bool absolute(const std::string& p) { return !p.empty() && p.front() == '/'; }

}  // namespace

Result<LoadedConfig> loadConfig(const std::string& path) {
    auto reader = config::Reader::loadFile(path);
    if (!reader) return std::move(reader).error();
    config::Section root = reader->root();
    auto cfg = std::make_shared<ReplicatorConfig>();
    ServiceSettings& svc = cfg->service;

    cfg->common = daemon::readCommon(root);
    svc.site = root.getString("site", "");
    if (!core::validSiteName(svc.site)) root.error("site", "required: this site's name (letters, digits, . _ -)");
    cfg->database = daemon::readDatabase(root.child("database"));

    config::Section ident = root.child("identity");
    svc.identity.local_part = ident.getEnum("local_part", "lowercase", {"lowercase", "preserve"}) == "preserve"
                                  ? identity::LocalPartPolicy::Preserve
                                  : identity::LocalPartPolicy::Lowercase;

    config::Section notify = root.child("notify");
    config::Section fifo = notify.child("fifo");
    cfg->fifo.path = fifo.getString("path", "/run/dovecot/replication-notify-fifo");
    cfg->fifo.mode = fifo.getFileMode("mode", 0660);
    cfg->fifo.group = fifo.getString("group", "");
    if (!absolute(cfg->fifo.path)) fifo.error("path", "must be an absolute path");
    config::Section sock = notify.child("socket");
    cfg->socket = daemon::readListen(sock, 0660);
    if (cfg->socket.path.empty() && cfg->socket.address.empty()) {
        cfg->socket.path = "/run/dovecot/replication-notify";
    }
    if (!cfg->socket.address.empty()) sock.error("address", "the notify socket is a unix socket: use path");
    event::ServerLimits defaults;
    defaults.max_line_bytes = proto::kMaxLineBytes;
    defaults.max_pending = 16;
    defaults.max_output_bytes = 64 * 1024;
    defaults.idle_timeout = milliseconds(60000);
    cfg->socket_limits = daemon::readLimits(notify.child("limits"), defaults);
    if (notify.has("events")) {
        config::Section ev = notify.child("events");
        // path: a unix socket for the exporter driver `unix`; address (host:port on
        // loopback): HTTP for the driver `http-post`.
        cfg->events = daemon::readListen(ev, 0660);
        event::ServerLimits ev_defaults;
        ev_defaults.max_line_bytes = proto::kMaxEventLineBytes;  // also the HTTP body limit
        ev_defaults.max_connections = 16;  // Dovecot's stats process keeps one open
        ev_defaults.idle_timeout = milliseconds(86400000);
        ev_defaults.max_output_bytes = 4096;  // nothing is ever written back
        cfg->events_limits = daemon::readLimits(ev.child("limits"), ev_defaults);
    }
    svc.sync_wait = notify.getDuration("sync_wait", milliseconds(1500), milliseconds(0), milliseconds(60000));
    svc.max_waiters = static_cast<std::size_t>(notify.getInt("max_waiters", 10000, 1, 1000000));
    svc.max_waiters_per_user = static_cast<std::size_t>(notify.getInt("max_waiters_per_user", 16, 1, 10000));

    config::Section q = root.child("queue");
    cfg->journal.path = q.getString("journal", "/var/lib/titan-replicator/queue.journal");
    if (!absolute(cfg->journal.path)) q.error("journal", "must be an absolute path");
    cfg->journal.fsync = q.getBool("fsync", true);
    cfg->journal.compact_min_bytes = static_cast<std::size_t>(q.getSize("compact_min_bytes", 1 << 20, 4096, 1ULL << 34));
    svc.queue.max_users = static_cast<std::size_t>(q.getInt("max_users", 1000000, 1, 100000000));
    svc.queue.starvation_after = q.getDuration("starvation_after", milliseconds(300000), milliseconds(1000), kDay);

    config::Section d = root.child("doveadm");
    svc.doveadm.path = d.getString("path", "/usr/bin/doveadm");
    if (!absolute(svc.doveadm.path)) d.error("path", "must be an absolute path (no PATH search)");
    svc.doveadm.config = d.getString("config", "");
    if (!svc.doveadm.config.empty() && !absolute(svc.doveadm.config)) d.error("config", "must be an absolute path");
    svc.doveadm.config_file = d.getString("config_file", "");
    if (!svc.doveadm.config_file.empty() && !absolute(svc.doveadm.config_file)) {
        d.error("config_file", "must be an absolute path");
    }
    if (::access(svc.doveadm.path.c_str(), X_OK) != 0) d.error("path", "not an executable file: " + svc.doveadm.path);
    svc.state_dir = d.getString("state_dir", "/var/lib/titan-replicator");
    if (!absolute(svc.state_dir)) d.error("state_dir", "must be an absolute path");
    svc.sync_timeout = d.getDuration("timeout", milliseconds(120000), milliseconds(1000), kDay);
    svc.doveadm.lock_timeout = std::chrono::duration_cast<std::chrono::seconds>(
        d.getDuration("lock_timeout", milliseconds(30000), milliseconds(1000), milliseconds(3600000)));
    svc.doveadm.io_timeout = std::chrono::duration_cast<std::chrono::seconds>(
        d.getDuration("io_timeout", milliseconds(60000), milliseconds(1000), kDay));
    svc.doveadm.all_namespaces = d.getBool("all_namespaces", true);

    config::Section s = root.child("sync");
    svc.max_running = static_cast<std::size_t>(s.getInt("max_running", 10, 1, 10000));
    svc.max_running_per_peer = static_cast<std::size_t>(s.getInt("max_running_per_peer", 10, 1, 10000));
    svc.max_running_full = static_cast<std::size_t>(s.getInt("max_running_full", 2, 1, 10000));
    svc.max_run_again = static_cast<unsigned>(s.getInt("max_run_again", 3, 1, 100));
    svc.retry_initial = s.getDuration("retry_initial", milliseconds(5000), milliseconds(100), kDay);
    svc.retry_max = s.getDuration("retry_max", milliseconds(300000), milliseconds(100), kDay);
    if (svc.retry_max < svc.retry_initial) s.error("retry_max", "must not be less than retry_initial");
    svc.full_sync_interval = s.getDuration("full_sync_interval", kDay, milliseconds(0), 365 * kDay);
    svc.full_sync_batch = static_cast<std::size_t>(s.getInt("full_sync_batch", 100, 1, 100000));

    config::Section p = root.child("peers");
    svc.breaker.failure_threshold = static_cast<unsigned>(p.getInt("failure_threshold", 3, 1, 1000));
    svc.breaker.backoff_initial = p.getDuration("backoff_initial", milliseconds(1000), milliseconds(10), kDay);
    svc.breaker.backoff_max = p.getDuration("backoff_max", milliseconds(60000), milliseconds(10), kDay);
    if (svc.breaker.backoff_max < svc.breaker.backoff_initial) p.error("backoff_max", "must not be less than backoff_initial");
    svc.breaker.jitter = static_cast<double>(p.getInt("jitter_percent", 20, 0, 100)) / 100.0;
    svc.retry_jitter = svc.breaker.jitter;

    config::Section pl = root.child("placement");
    svc.placement_ttl = pl.getDuration("cache_ttl", milliseconds(60000), milliseconds(0), kDay);
    svc.placement_stale = pl.getDuration("stale_if_error", milliseconds(3600000), milliseconds(0), 7 * kDay);
    svc.placement_cache_entries = static_cast<std::size_t>(pl.getInt("cache_entries", 100000, 1, 100000000));
    svc.resolve_retry = pl.getDuration("retry", milliseconds(2000), milliseconds(100), milliseconds(3600000));
    svc.sites_refresh = pl.getDuration("sites_refresh", milliseconds(30000), milliseconds(1000), kDay);
    svc.max_resolving = static_cast<std::size_t>(pl.getInt("max_lookups", 8, 1, 1000));

    if (auto st = reader->finish(); !st) return std::move(st).error();
    LoadedConfig out;
    out.dump = reader->dumpEffective();
    out.config = std::move(cfg);
    return out;
}

}  // namespace titan::replicator
