// titan-quotad: cluster-shared Dovecot quota usage in MariaDB (Dovecot's dict protocol:
// the 2.3 quota `dict` backend and quota_clone) and over-quota rejection at RCPT time
// (Postfix policy delegation), with alias expansion and warning commands.
//
// SECURITY. Trusts: its config file, the database, and the warning commands it names.
// Talks to: Dovecot mail processes over a unix socket (local peers, but every line is
// bounded and validated as hostile input), Postfix smtpd over the policy socket or a
// loopback TCP port (same rules), MariaDB over TCP or a unix socket, operators over the
// admin socket (mode 0600 by default) and a Prometheus scraper on loopback. Needs root
// only to bind sockets in root-owned directories and read the database password; it then
// drops to run_as. Warning commands run with posix_spawn: argv only, no shell, a fixed
// environment, no inherited descriptors.

#include "common/daemon/admin.h"
#include "common/daemon/process.h"
#include "common/daemon/startup.h"
#include "common/event/line_server.h"
#include "common/event/loop.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/sql/pool.h"
#include "quotad/config.h"
#include "quotad/server/dict_session.h"
#include "quotad/server/policy_session.h"
#include "quotad/service/policy_service.h"
#include "quotad/service/usage_service.h"
#include "quotad/service/warning_runner.h"
#include "quotad/store/mysql_store.h"

using namespace titan;

namespace {

constexpr const char* kVersion = "titan-quotad 0.1.0";

std::string describe(const std::vector<event::ListenSpec>& v) {
    std::string s;
    for (const auto& l : v) s += l.describe() + ";";
    return s;
}

void warnIfRestartNeeded(const quotad::QuotadConfig& a, const quotad::QuotadConfig& b) {
    if (describe(a.dict_listen) != describe(b.dict_listen) || describe(a.policy_listen) != describe(b.policy_listen)) {
        log::warning("listeners changed: take effect after a restart");
    }
    if (a.database.user != b.database.user || a.database.database != b.database.database ||
        a.database.hosts.size() != b.database.hosts.size() || a.database.pool_size != b.database.pool_size ||
        a.commit_retries != b.commit_retries) {
        log::warning("database settings changed: take effect after a restart");
    }
    if (a.common.run_as.user != b.common.run_as.user) log::warning("run_as changed: takes effect after a restart");
    if (a.common.metrics_address != b.common.metrics_address) {
        log::warning("metrics.listen changed: takes effect after a restart");
    }
}

}  // namespace

int main(int argc, char** argv) {
    auto start = daemon::startup<quotad::LoadedConfig>(
        argc, argv, {"titan-quotad", kVersion, quotad::kDefaultConfigPath}, quotad::loadConfig);
    if (!start.loaded) return start.exit_code;
    auto* loaded = &*start.loaded;
    const std::string config_path = start.config_path;

    std::shared_ptr<const quotad::QuotadConfig> cfg = loaded->config;
    daemon::applyLog(cfg->common.log, "titan-quotad");

    event::Loop loop;
    metrics::Registry registry;
    sql::Pool pool(loop.base(), cfg->database);
    quotad::store::MysqlStore store(pool, cfg->commit_retries);
    quotad::UsageService usage(loop, store, cfg->batch, registry);
    quotad::WarningRunner warner(loop, registry);
    auto warning_settings = std::make_shared<const quotad::WarningSettings>(cfg->warnings);
    warner.setSettings(warning_settings);
    usage.setRules(warning_settings->coreRules());
    usage.onWarning([&warner](const quotad::core::WarningEvent& e) { warner.fire(e); });
    quotad::PolicyService policy_service(store, cfg->batch.max_read_inflight);

    quotad::DictMetrics dict_metrics(registry);
    auto dict_settings = std::make_shared<const quotad::DictSettings>(cfg->dict);
    event::LineServer dict_server(loop, "dict", cfg->dict_limits, [&](event::LineConnection& conn) {
        return std::make_unique<quotad::DictSession>(conn, usage, dict_settings, dict_metrics);
    });
    if (!daemon::listenAll(dict_server, cfg->dict_listen)) return 1;
    daemon::addServerGauges(registry, "quotad_dict", dict_server);

    quotad::PolicyMetrics policy_metrics(registry);
    auto policy_settings = std::make_shared<const quotad::PolicySettings>(cfg->policy);
    event::LineServer policy_server(loop, "policy", cfg->policy_limits, [&](event::LineConnection& conn) {
        return std::make_unique<quotad::PolicySession>(conn, policy_service, policy_settings, policy_metrics);
    });
    if (!daemon::listenAll(policy_server, cfg->policy_listen)) return 1;
    daemon::addServerGauges(registry, "quotad_policy", policy_server);
    registry.gaugeFunction("quotad_db_queue", "Database jobs waiting for a worker", "",
                           [&] { return static_cast<double>(pool.queued()); });
    registry.gaugeFunction("quotad_queued_commits", "Dict commits waiting for a write transaction", "",
                           [&] { return static_cast<double>(usage.queuedCommits()); });
    registry.gaugeFunction("quotad_warning_commands_running", "Warning commands still running", "",
                           [&] { return static_cast<double>(warner.running()); });

    auto reload = [&] {
        auto next = quotad::loadConfig(config_path);
        if (!next) {
            log::error("reload failed, keeping the running configuration", {{"error", next.error().message}});
            return false;
        }
        warnIfRestartNeeded(*cfg, *next->config);
        cfg = next->config;
        daemon::applyLog(cfg->common.log, "titan-quotad");
        dict_settings = std::make_shared<const quotad::DictSettings>(cfg->dict);
        policy_settings = std::make_shared<const quotad::PolicySettings>(cfg->policy);
        dict_server.setLimits(cfg->dict_limits);
        policy_server.setLimits(cfg->policy_limits);
        usage.setSettings(cfg->batch);
        warning_settings = std::make_shared<const quotad::WarningSettings>(cfg->warnings);
        warner.setSettings(warning_settings);
        usage.setRules(warning_settings->coreRules());
        log::info("configuration reloaded", {{"config", config_path}});
        return true;
    };

    daemon::AdminServer admin(loop);
    daemon::addCommonAdminCommands(admin, registry, kVersion, reload);
    std::unique_ptr<metrics::HttpExporter> exporter;
    if (!daemon::finishStartup(loop, registry, admin, cfg->common, exporter)) return 1;

    bool stopping = false;
    loop.onStopSignal([&] {
        if (stopping) return;
        stopping = true;
        log::info("stopping: finishing requests in progress");
        admin.server().shutdown(std::chrono::milliseconds(1000), [] {});
        // Commits in progress are answered before the loop ends (their transactions are
        // running on the pool); both servers must be done.
        auto left = std::make_shared<int>(2);
        auto one_done = [&loop, left] {
            if (--*left == 0) loop.stop();
        };
        policy_server.shutdown(std::chrono::milliseconds(5000), one_done);
        dict_server.shutdown(std::chrono::milliseconds(5000), one_done);
    });
    loop.onReloadSignal([&] { reload(); });

    log::info("titan-quotad started", {{"version", kVersion}, {"config", config_path}});
    loop.run();
    pool.shutdown();
    log::info("titan-quotad stopped");
    return 0;
}
