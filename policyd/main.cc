// titan-policyd: Postfix policy delegation service (check_policy_service) for rate
// limits, greylisting, sender-login checks, allow/deny lists and compromised-account
// holds, with state shared through MariaDB by every node.
//
// SECURITY. Trusts: its config file and the database. Talks to: Postfix smtpd processes
// (over TCP on loopback or a unix socket; their input is treated as hostile: every line,
// attribute count and request size is bounded, malformed requests close the connection),
// MariaDB, operators over the admin socket (0600 by default) and a Prometheus scraper on
// loopback. Needs root only to bind privileged or root-owned sockets and read the
// database password; it then drops to run_as. It never sees passwords.
#include <chrono>

#include "common/daemon/admin.h"
#include "common/daemon/process.h"
#include "common/daemon/startup.h"
#include "common/event/line_server.h"
#include "common/event/loop.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/sql/pool.h"
#include "policyd/config.h"
#include "policyd/server/session.h"
#include "policyd/service/evaluator.h"
#include "policyd/service/shared_state.h"
#include "policyd/store/mysql_store.h"

using namespace titan;

namespace {

constexpr const char* kVersion = "titan-policyd 0.1.0";

std::int64_t wallMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t monotonicMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void warnIfRestartNeeded(const policyd::PolicydConfig& a, const policyd::PolicydConfig& b) {
    auto describe = [](const std::vector<event::ListenSpec>& v) {
        std::string s;
        for (const auto& l : v) s += l.describe() + ";";
        return s;
    };
    if (describe(a.listen) != describe(b.listen)) log::warning("policy.listen changed: takes effect after a restart");
    if (a.database.user != b.database.user || a.database.database != b.database.database ||
        a.database.hosts.size() != b.database.hosts.size() || a.database.pool_size != b.database.pool_size) {
        log::warning("database settings changed: take effect after a restart");
    }
    if (a.common.run_as.user != b.common.run_as.user) log::warning("run_as changed: takes effect after a restart");
    if (a.common.metrics_address != b.common.metrics_address) {
        log::warning("metrics.listen changed: takes effect after a restart");
    }
}

}  // namespace

int main(int argc, char** argv) {
    auto start = daemon::startup<policyd::LoadedConfig>(
        argc, argv, {"titan-policyd", kVersion, policyd::kDefaultConfigPath}, policyd::loadConfig);
    if (!start.loaded) return start.exit_code;
    auto* loaded = &*start.loaded;
    const std::string config_path = start.config_path;

    std::shared_ptr<const policyd::PolicydConfig> cfg = loaded->config;
    daemon::applyLog(cfg->common.log, "titan-policyd");

    event::Loop loop;
    metrics::Registry registry;
    sql::Pool pool(loop.base(), cfg->database);
    policyd::store::MysqlStore store(pool);
    policyd::SharedState state(store, monotonicMs);
    state.configure(cfg->cache, cfg->policy->engine.address);
    policyd::EvaluatorMetrics evaluator_metrics(registry);
    policyd::Evaluator evaluator(store, state, evaluator_metrics, wallMs,
                                 [&loop](std::chrono::milliseconds delay, std::function<void()> cb) {
                                     return std::shared_ptr<void>(loop.after(delay, std::move(cb)));
                                 });
    policyd::SessionMetrics session_metrics(registry);
    auto session_settings = std::make_shared<const policyd::SessionSettings>(
        policyd::SessionSettings{cfg->policy, cfg->protocol});

    event::LineServer server(loop, "policy", cfg->limits, [&](event::LineConnection& conn) {
        return std::make_unique<policyd::PolicySession>(conn, evaluator, session_settings, session_metrics);
    });
    if (!daemon::listenAll(server, cfg->listen)) return 1;
    daemon::addServerGauges(registry, "policyd", server);
    registry.gaugeFunction("policyd_db_queue", "Database jobs waiting for a worker", "",
                           [&] { return static_cast<double>(pool.queued()); });
    registry.gaugeFunction("policyd_requests_in_flight", "Requests waiting for the database", "",
                           [&] { return static_cast<double>(evaluator.inFlight()); });
    registry.gaugeFunction("policyd_holds", "Accounts on hold (as last loaded)", "",
                           [&] { return static_cast<double>(state.holdCount()); });
    registry.gaugeFunction("policyd_list_entries", "Allow/deny entries loaded from policy_lists", "",
                           [&] { return static_cast<double>(state.lists()->rows); });
    registry.gaugeFunction("policyd_rules", "Configured rules", "",
                           [&] { return static_cast<double>(cfg->policy->rules.size()); });


    // Periodic work: SQL lists, holds, and removal of expired state.
    std::unique_ptr<event::Timer> lists_timer, holds_timer, cleanup_timer;
    auto& cleanup_errors = registry.counter("policyd_cleanup_errors_total", "Failed expired-state cleanups");
    auto& cleaned = registry.counter("policyd_cleanup_rows_total", "Expired state rows deleted");
    auto startTimers = [&] {
        lists_timer = loop.every(cfg->cache.lists_refresh, [&] { state.refreshLists(); });
        holds_timer = loop.every(cfg->cache.holds_refresh, [&] { state.refreshHolds(); });
        cleanup_timer = loop.every(cfg->cleanup_interval, [&] {
            std::int64_t longest_guard = 0;
            for (const auto& r : cfg->policy->rules) {
                if (const auto* g = std::get_if<policyd::core::GuardRule>(&r.spec)) {
                    longest_guard = std::max<std::int64_t>(longest_guard, g->window.count());
                }
            }
            const std::int64_t now = wallMs();
            store.cleanup(now, now - std::max<std::int64_t>(longest_guard, 3600000), [&](Result<std::uint64_t> r) {
                if (!r) {
                    cleanup_errors.inc();
                    log::warning("expired state cleanup failed", {{"error", r.error().message}});
                } else {
                    cleaned.inc(*r);
                }
            });
        });
    };
    startTimers();
    state.refreshLists();
    state.refreshHolds();

    auto reload = [&] {
        auto next = policyd::loadConfig(config_path);
        if (!next) {
            log::error("reload failed, keeping the running configuration", {{"error", next.error().message}});
            return false;
        }
        warnIfRestartNeeded(*cfg, *next->config);
        cfg = next->config;
        daemon::applyLog(cfg->common.log, "titan-policyd");
        state.configure(cfg->cache, cfg->policy->engine.address);
        session_settings = std::make_shared<const policyd::SessionSettings>(
            policyd::SessionSettings{cfg->policy, cfg->protocol});
        server.setLimits(cfg->limits);
        startTimers();
        state.refreshLists();
        state.refreshHolds();
        log::info("configuration reloaded", {{"config", config_path},
                                             {"rules", static_cast<unsigned long long>(cfg->policy->rules.size())}});
        return true;
    };

    daemon::AdminServer admin(loop);
    daemon::addCommonAdminCommands(admin, registry, kVersion, reload);
    admin.add("cache-flush", "cache-flush [USER]: forget cached sender logins (all or one user), reload lists and holds",
              [&](const std::vector<std::string>& args) -> Result<std::string> {
                  if (args.empty()) {
                      state.flushSenderLogins();
                      state.flushPolicyCaches();
                  } else {
                      auto user = identity::canonicalUser(args[0], cfg->policy->engine.address.identity);
                      if (!user) return Error::invalidInput(user.error().message);
                      state.flushSenderLogins(*user);
                  }
                  state.refreshLists();
                  state.refreshHolds();
                  return std::string("flushed\n");
              });
    admin.add("holds", "accounts on hold, as this node last loaded them",
              [&](const std::vector<std::string>&) -> Result<std::string> {
                  return std::to_string(state.holdCount()) + " accounts on hold\n";
              });
    std::unique_ptr<metrics::HttpExporter> exporter;
    if (!daemon::finishStartup(loop, registry, admin, cfg->common, exporter)) return 1;

    bool stopping = false;
    loop.onStopSignal([&] {
        if (stopping) return;
        stopping = true;
        log::info("stopping: answering the requests in progress");
        lists_timer.reset();
        holds_timer.reset();
        cleanup_timer.reset();
        admin.server().shutdown(std::chrono::milliseconds(1000), [] {});
        server.shutdown(std::chrono::milliseconds(5000), [&] { loop.stop(); });
    });
    loop.onReloadSignal([&] { reload(); });

    log::info("titan-policyd started", {{"version", kVersion},
                                        {"config", config_path},
                                        {"rules", static_cast<unsigned long long>(cfg->policy->rules.size())}});
    loop.run();
    pool.shutdown();
    log::info("titan-policyd stopped");
    return 0;
}
