// titan-authd: MySQL/MariaDB virtual users for Dovecot (passdb/userdb over the dict
// protocol).
//
// SECURITY. Trusts: its config file and the database. Talks to: Dovecot auth
// workers and mail processes over a unix socket (peers are local processes but
// their input is treated as hostile: every line is bounded and validated), MariaDB
// over TCP or a unix socket, operators over the admin socket (mode 0600 by
// default) and a Prometheus scraper on loopback. Needs root only to bind sockets
// in root-owned directories and read the database password; it then drops to
// run_as. It never verifies or logs passwords on the dict path: Dovecot does the
// verification with the hash authd returns.
#include <cstdio>
#include <iostream>

#include "authd/config.h"
#include "authd/server/auth_client_session.h"
#include "authd/server/dict_session.h"
#include "authd/server/dovecot24_api.h"
#include "authd/server/ftp_api.h"
#include "authd/server/http_api.h"
#include "authd/server/policy_api.h"
#include "authd/service/cluster_sync.h"
#include "authd/service/password_authenticator.h"
#include "authd/service/user_lookup.h"
#include "authd/socketmap_frontend.h"
#include "authd/store/ftp_tally_store.h"
#include "authd/store/mysql_store.h"
#include "authd/store/security_store.h"
#include "common/event/work_pool.h"
#include "common/daemon/admin.h"
#include "common/daemon/process.h"
#include "common/daemon/startup.h"
#include "common/event/line_server.h"
#include "common/event/loop.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/sql/pool.h"

using namespace titan;

namespace {

constexpr const char* kVersion = "titan-authd 0.1.0";

void warnIfRestartNeeded(const authd::AuthdConfig& old_cfg, const authd::AuthdConfig& new_cfg) {
    auto describe = [](const std::vector<event::ListenSpec>& v) {
        std::string s;
        for (const auto& l : v) s += l.describe() + ";";
        return s;
    };
    if (describe(old_cfg.dict_listen) != describe(new_cfg.dict_listen)) {
        log::warning("dict.listen changed: takes effect after a restart");
    }
    if (describe(old_cfg.socketmap_listen) != describe(new_cfg.socketmap_listen)) {
        log::warning("socketmap.listen changed: takes effect after a restart");
    }
    if (describe(old_cfg.sasl_listen) != describe(new_cfg.sasl_listen)) {
        log::warning("sasl.listen changed: takes effect after a restart");
    }
    if (old_cfg.database.user != new_cfg.database.user || old_cfg.database.database != new_cfg.database.database ||
        old_cfg.database.hosts.size() != new_cfg.database.hosts.size() ||
        old_cfg.database.pool_size != new_cfg.database.pool_size) {
        log::warning("database settings changed: take effect after a restart");
    }
    if (old_cfg.ftp_enabled != new_cfg.ftp_enabled || old_cfg.http_listen != new_cfg.http_listen) {
        log::warning("ftp.enabled or http.listen changed: takes effect after a restart");
    }
    if (old_cfg.common.run_as.user != new_cfg.common.run_as.user) {
        log::warning("run_as changed: takes effect after a restart");
    }
}

}  // namespace

int main(int argc, char** argv) {
    auto start = daemon::startup<authd::LoadedConfig>(
        argc, argv, {"titan-authd", kVersion, authd::kDefaultConfigPath}, authd::loadConfig);
    if (!start.loaded) return start.exit_code;
    auto* loaded = &*start.loaded;
    const std::string config_path = start.config_path;

    std::shared_ptr<const authd::AuthdConfig> cfg = loaded->config;
    daemon::applyLog(cfg->common.log, "titan-authd");

    event::Loop loop;
    metrics::Registry registry;
    sql::Pool pool(loop.base(), cfg->database);
    authd::store::MysqlStore store(pool);
    authd::UserLookup lookup(store, cfg->cache, cfg->identity, registry);
    authd::DictMetrics dict_metrics(registry);

    // Password checking shared by SASL, the Dovecot auth policy API and later front
    // ends: one throttle (one brute-force budget), one hashing pool, one audit log.
    authd::core::Throttle throttle(cfg->security.throttle);
    event::WorkPool hashing(loop.base(), cfg->security.hash_threads, cfg->security.hash_queue);
    authd::store::SecurityStore security(pool, registry, cfg->security.node, cfg->security.max_writes_in_flight);
    security.setAuditEnabled(cfg->security.audit);
    authd::PasswordAuthenticator authenticator(lookup, hashing, throttle, &security, registry);
    authenticator.setFailureWindow(cfg->security.throttle.window);
    authd::ClusterSync cluster_sync(loop, security, lookup, throttle, cfg->security.sync, registry);
    // FTP virtual users (ProFTPd mod_titan): routes on the HTTP API when ftp.enabled.
    authd::store::MysqlFtpTallyStore ftp_tally(pool);
    authd::FtpApi ftp_api(lookup, authenticator, &ftp_tally, registry, cfg->ftp, cfg->dict.userdb_defaults);
    authd::Dovecot24Metrics dovecot24_metrics(registry);
    std::unique_ptr<authd::HttpApi> http_api;
    if (!cfg->http_listen.empty()) {
        http_api = std::make_unique<authd::HttpApi>(loop.base(), registry);
        authd::addPolicyRoutes(*http_api, authenticator, registry);
        // Dovecot 2.4: passdb/userdb lua (contrib/dovecot-2.4/titan-auth.lua) over HTTP.
        authd::addDovecot24Routes(*http_api, lookup, store, authenticator, [&cfg] {
            return authd::Dovecot24Settings{cfg->dict.userdb_defaults, cfg->dict.iterate_page, cfg->dovecot24_key};
        }, dovecot24_metrics);
        if (cfg->ftp_enabled) ftp_api.addRoutes(*http_api);
        if (auto st = http_api->listen(cfg->http_listen); !st) {
            log::error("cannot listen for http", {{"error", st.error().message}});
            return 1;
        }
    }
    auto dict_settings = std::make_shared<const authd::DictSettings>(cfg->dict);

    event::LineServer dict_server(loop, "dict", cfg->dict_limits, [&](event::LineConnection& conn) {
        return std::make_unique<authd::DictSession>(conn, lookup, store, dict_settings, dict_metrics);
    });
    for (const auto& spec : cfg->dict_listen) {
        if (auto st = dict_server.listen(spec); !st) {
            log::error("cannot listen", {{"error", st.error().message}});
            return 1;
        }
    }
    daemon::addServerGauges(registry, "authd_dict", dict_server);
    // ---- Postfix socketmap (domains, mailboxes, aliases, senders): off without listeners
    authd::SocketmapFrontEnd socketmap(loop, pool, registry, *cfg);
    if (auto st = socketmap.listen(*cfg); !st) {
        log::error("cannot listen for socketmap", {{"error", st.error().message}});
        return 1;
    }
    // Mailbox and domain changes in the auth_changes log reach the map cache too.
    cluster_sync.addChangeListener([&socketmap](const std::string& user) { socketmap.lookup().invalidate(user); });
    // ---- end socketmap

    // ---- Postfix SMTP AUTH (smtpd_sasl_type = dovecot): off without sasl.listen
    authd::SaslServer sasl(loop, authenticator, registry, cfg->sasl);
    if (auto st = sasl.listen(cfg->sasl_listen, cfg->sasl_limits); !st) {
        log::error("cannot listen for sasl", {{"error", st.error().message}});
        return 1;
    }
    // ---- end sasl

    registry.gaugeFunction("authd_db_queue", "Database jobs waiting for a worker", "",
                           [&] { return static_cast<double>(pool.queued()); });


    auto reload = [&] {
        auto next = authd::loadConfig(config_path);
        if (!next) {
            log::error("reload failed, keeping the running configuration", {{"error", next.error().message}});
            return false;
        }
        warnIfRestartNeeded(*cfg, *next->config);
        cfg = next->config;
        daemon::applyLog(cfg->common.log, "titan-authd");
        lookup.reconfigure(cfg->cache, cfg->identity);
        throttle.setOptions(cfg->security.throttle);
        authenticator.setFailureWindow(cfg->security.throttle.window);
        security.setAuditEnabled(cfg->security.audit);
        ftp_api.reconfigure(cfg->ftp, cfg->dict.userdb_defaults);
        dict_settings = std::make_shared<const authd::DictSettings>(cfg->dict);
        dict_server.setLimits(cfg->dict_limits);
        socketmap.reconfigure(*cfg);
        sasl.reconfigure(cfg->sasl_limits, cfg->sasl);
        log::info("configuration reloaded", {{"config", config_path}});
        return true;
    };

    daemon::AdminServer admin(loop);
    daemon::addCommonAdminCommands(admin, registry, kVersion, reload);
    admin.add("cache-flush", "cache-flush [USER]: forget one cached user, or all",
              [&](const std::vector<std::string>& args) -> Result<std::string> {
                  if (args.empty()) {
                      lookup.flush();
                      return std::string("flushed all\n");
                  }
                  auto user = identity::canonicalUser(args[0], cfg->identity);
                  if (!user) return Error::invalidInput(user.error().message);
                  lookup.invalidate(*user);
                  return "flushed " + *user + "\n";
              });
    socketmap.addAdminCommands(admin);
    std::unique_ptr<metrics::HttpExporter> exporter;
    if (!daemon::finishStartup(loop, registry, admin, cfg->common, exporter)) return 1;

    bool stopping = false;
    loop.onStopSignal([&] {
        if (stopping) return;
        stopping = true;
        log::info("stopping: finishing requests in progress");
        admin.server().shutdown(std::chrono::milliseconds(1000), [] {});
        // The loop stops once the dict, socketmap and sasl servers are all done.
        auto servers_left = std::make_shared<int>(3);
        auto server_done = [&loop, servers_left] {
            if (--*servers_left == 0) loop.stop();
        };
        socketmap.shutdown(std::chrono::milliseconds(5000), server_done);
        sasl.shutdown(std::chrono::milliseconds(5000), server_done);
        dict_server.shutdown(std::chrono::milliseconds(5000), server_done);
    });
    loop.onReloadSignal([&] { reload(); });

    log::info("titan-authd started", {{"version", kVersion}, {"config", config_path}});
    loop.run();
    pool.shutdown();
    log::info("titan-authd stopped");
    return 0;
}
