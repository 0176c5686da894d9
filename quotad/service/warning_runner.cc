#include "quotad/service/warning_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <event2/event.h>

#include "common/log/log.h"

namespace titan::quotad {

std::shared_ptr<const core::WarningRules> WarningSettings::coreRules() const {
    std::vector<core::Threshold> t;
    t.reserve(rules.size());
    for (const auto& r : rules) t.push_back(r.threshold);
    return std::make_shared<const core::WarningRules>(std::move(t));
}

std::string expandWarningArg(std::string_view arg, const core::WarningEvent& e, std::uint32_t percent) {
    std::string out;
    for (std::size_t i = 0; i < arg.size(); ++i) {
        if (arg[i] != '%' || i + 1 == arg.size()) {
            out += arg[i];
            continue;
        }
        switch (arg[++i]) {
            case 'u': out += e.user; break;
            case 'r': out += core::resourceName(e.resource); break;
            case 'p': out += std::to_string(percent); break;
            case 'v': out += std::to_string(e.used); break;
            case 'l': out += std::to_string(e.limit); break;
            case '%': out += '%'; break;
            default:
                out += '%';
                out += arg[i];
        }
    }
    return out;
}

WarningRunner::WarningRunner(event::Loop& loop, metrics::Registry& r)
    : loop_(loop),
      started_(r.counter("quotad_warning_commands_total", "Warning commands, by outcome", "outcome=\"started\"")),
      succeeded_(r.counter("quotad_warning_commands_total", "Warning commands, by outcome", "outcome=\"succeeded\"")),
      failed_(r.counter("quotad_warning_commands_total", "Warning commands, by outcome", "outcome=\"failed\"")),
      skipped_(r.counter("quotad_warning_commands_total", "Warning commands, by outcome", "outcome=\"skipped\"")) {}

WarningRunner::~WarningRunner() {
    *alive_ = false;
    // Children keep running; they are not ours to kill at shutdown, but reap what is done.
    for (const auto& c : children_) waitpid(c.pid, nullptr, WNOHANG);
}

void WarningRunner::fire(const core::WarningEvent& event) {
    auto settings = settings_;
    const WarningRule* rule = event.threshold < settings->rules.size() ? &settings->rules[event.threshold] : nullptr;
    const std::uint32_t percent = rule != nullptr ? rule->threshold.percent : 0;
    log::info("quota warning threshold reached",
              {{"user", event.user}, {"resource", core::resourceName(event.resource)}, {"percent", percent},
               {"used", static_cast<long long>(event.used)}, {"limit", static_cast<unsigned long long>(event.limit)}});
    if (rule == nullptr || rule->command.empty()) return;
    if (children_.size() >= settings->max_running) {
        skipped_.inc();
        log::warning("quota warning command not run: too many still running",
                     {{"user", event.user}, {"running", static_cast<unsigned long long>(children_.size())}});
        return;
    }
    std::vector<std::string> args;
    args.reserve(rule->command.size());
    for (const auto& a : rule->command) args.push_back(expandWarningArg(a, event, percent));
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> envs = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                     "QUOTA_USER=" + event.user,
                                     std::string("QUOTA_RESOURCE=") + core::resourceName(event.resource),
                                     "QUOTA_PERCENT=" + std::to_string(percent),
                                     "QUOTA_USED=" + std::to_string(event.used),
                                     "QUOTA_LIMIT=" + std::to_string(event.limit)};
    std::vector<char*> envp;
    for (auto& e : envs) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    // The daemon ignores SIGPIPE and handles TERM/HUP/INT: the child starts with defaults,
    // an empty signal mask and its own process group (a stop signal to us is not its).
    sigset_t defaults, empty;
    sigemptyset(&defaults);
    for (int s : {SIGPIPE, SIGHUP, SIGTERM, SIGINT, SIGCHLD, SIGQUIT}) sigaddset(&defaults, s);
    sigemptyset(&empty);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        failed_.inc();
        log::error("quota warning command could not be started",
                   {{"user", event.user}, {"command", args[0]}, {"error", std::strerror(rc)}});
        return;
    }
    started_.inc();
    children_.push_back({pid, event.user, std::chrono::steady_clock::now() + settings->timeout});
    scheduleReap();
}

void WarningRunner::scheduleReap() {
    if (reap_scheduled_ || children_.empty()) return;
    reap_scheduled_ = true;
    // A one-shot event per poll: nothing to cancel, the weak flag guards our lifetime.
    auto* ctx = new std::pair<WarningRunner*, std::weak_ptr<bool>>(this, alive_);
    timeval tv{0, 100000};
    event_base_once(
        loop_.base(), -1, EV_TIMEOUT,
        [](evutil_socket_t, short, void* arg) {
            std::unique_ptr<std::pair<WarningRunner*, std::weak_ptr<bool>>> c(
                static_cast<std::pair<WarningRunner*, std::weak_ptr<bool>>*>(arg));
            auto alive = c->second.lock();
            if (!alive || !*alive) return;
            c->first->reap_scheduled_ = false;
            c->first->reap();
        },
        ctx, &tv);
}

void WarningRunner::reap() {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = children_.begin(); it != children_.end();) {
        int status = 0;
        const pid_t r = waitpid(it->pid, &status, WNOHANG);
        if (r == 0) {
            if (!it->killed && now >= it->deadline) {
                log::warning("quota warning command timed out, killing it", {{"user", it->user}, {"pid", static_cast<long long>(it->pid)}});
                kill(it->pid, SIGKILL);
                it->killed = true;
            }
            ++it;
            continue;
        }
        if (r < 0 && errno == EINTR) {
            ++it;
            continue;
        }
        const bool ok = r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        (ok ? succeeded_ : failed_).inc();
        if (!ok) {
            log::warning("quota warning command failed",
                         {{"user", it->user},
                          {"exit", r > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1},
                          {"signal", r > 0 && WIFSIGNALED(status) ? WTERMSIG(status) : 0}});
        }
        it = children_.erase(it);
    }
    scheduleReap();
}

}  // namespace titan::quotad
