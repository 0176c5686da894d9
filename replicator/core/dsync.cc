#include "replicator/core/dsync.h"

#include "common/base/strings.h"

namespace titan::replicator::core {
namespace {

bool hostChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

std::vector<std::string> prefix(const DoveadmSettings& s, const std::string& config) {
    std::vector<std::string> argv{s.path};
    if (!config.empty()) {
        argv.emplace_back("-c");
        argv.push_back(config);
    }
    return argv;
}

}  // namespace

bool validSiteName(std::string_view name) noexcept {
    if (name.empty() || name.size() > 64) return false;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

Result<Endpoint> parseEndpoint(std::string_view text) {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
        return Error::invalidInput("endpoint '" + std::string(text) + "' is not host:port");
    }
    std::string_view host = text.substr(0, colon);
    if (host.size() > 253 || host.front() == '-' || host.front() == '.') {
        return Error::invalidInput("bad host in endpoint '" + std::string(text) + "'");
    }
    for (char c : host) {
        if (!hostChar(c)) return Error::invalidInput("bad host in endpoint '" + std::string(text) + "'");
    }
    auto port = base::parseUnsigned(text.substr(colon + 1));
    if (!port || *port == 0 || *port > 65535) {
        return Error::invalidInput("bad port in endpoint '" + std::string(text) + "'");
    }
    return Endpoint{std::string(host), static_cast<unsigned>(*port)};
}

std::string destination(const Site& site) {
    return std::string(site.tls ? "tcps:" : "tcp:") + site.endpoint.host + ":" + std::to_string(site.endpoint.port);
}

std::vector<std::string> syncArgv(const DoveadmSettings& s, const std::string& config, const std::string& user,
                                  const Site& site, bool full, const std::string& state) {
    auto argv = prefix(s, config);
    argv.insert(argv.end(), {"sync", "-u", user});
    if (s.all_namespaces) argv.emplace_back("-N");
    argv.insert(argv.end(), {"-l", std::to_string(s.lock_timeout.count()), "-T", std::to_string(s.io_timeout.count())});
    if (full) argv.emplace_back("-f");
    argv.insert(argv.end(), {"-s", state, destination(site)});
    return argv;
}

std::vector<std::string> guidStatusArgv(const DoveadmSettings& s, const std::string& config, const std::string& user,
                                        const Site* remote) {
    auto argv = prefix(s, config);
    argv.insert(argv.end(), {"-f", "flow", "mailbox", "status"});
    if (remote != nullptr) {
        argv.emplace_back("-S");
        argv.push_back(remote->endpoint.host + ":" + std::to_string(remote->endpoint.port));
    }
    argv.insert(argv.end(), {"-u", user, "guid", "INBOX"});
    return argv;
}

std::vector<std::string> guidUpdateArgv(const DoveadmSettings& s, const std::string& config, const std::string& user,
                                        const Site* remote, const std::string& guid) {
    auto argv = prefix(s, config);
    argv.insert(argv.end(), {"mailbox", "update"});
    if (remote != nullptr) {
        argv.emplace_back("-S");
        argv.push_back(remote->endpoint.host + ":" + std::to_string(remote->endpoint.port));
    }
    argv.insert(argv.end(), {"-u", user, "--mailbox-guid", guid, "INBOX"});
    return argv;
}

const char* syncOutcomeName(SyncOutcome o) noexcept {
    switch (o) {
        case SyncOutcome::Success: return "success";
        case SyncOutcome::RunAgain: return "run_again";
        case SyncOutcome::GuidConflict: return "guid_conflict";
        case SyncOutcome::NoUser: return "no_user";
        case SyncOutcome::PeerDown: return "peer_down";
        case SyncOutcome::Failed: return "failed";
    }
    return "failed";
}

SyncOutcome classify(const ExitInfo& e) {
    if (e.spawn_failed) return SyncOutcome::Failed;
    if (e.timed_out) return SyncOutcome::PeerDown;
    if (e.signal != 0) return SyncOutcome::Failed;
    switch (e.exit_code) {
        case 0: return SyncOutcome::Success;
        case 2:
            if (e.err.find("lost mailbox GUID") != std::string_view::npos) return SyncOutcome::GuidConflict;
            return SyncOutcome::RunAgain;
        case 67: return SyncOutcome::NoUser;
        case 75:
            if (e.err.find("lock") != std::string_view::npos && e.err.find("connect(") == std::string_view::npos) {
                return SyncOutcome::Failed;
            }
            return SyncOutcome::PeerDown;
        case 68:
        case 69: return SyncOutcome::PeerDown;
        default: return SyncOutcome::Failed;
    }
}

std::optional<std::string> parseState(std::string_view out) {
    auto lf = out.find('\n');
    std::string_view line = out.substr(0, lf);
    if (line.empty() || line.size() > 65536) return std::nullopt;
    for (char c : line) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
                  c == '/' || c == '=';
        if (!ok) return std::nullopt;
    }
    return std::string(line);
}

std::optional<std::string> parseGuid(std::string_view out) {
    auto pos = out.find("guid=");
    if (pos == std::string_view::npos) return std::nullopt;
    std::string_view g = out.substr(pos + 5, 32);
    if (g.size() != 32) return std::nullopt;
    for (char c : g) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
    }
    std::string_view rest = out.substr(pos + 5 + 32);
    if (!rest.empty() && rest.front() != '\n' && rest.front() != ' ' && rest.front() != '\r') return std::nullopt;
    return std::string(g);
}

bool localGuidWins(std::string_view local_site, std::string_view peer_site, std::string_view home_site) {
    if (home_site == local_site) return true;
    if (home_site == peer_site) return false;
    return local_site < peer_site;
}

std::string errorSummary(std::string_view err) {
    std::string_view last;
    while (!err.empty()) {
        auto lf = err.find('\n');
        std::string_view line = err.substr(0, lf);
        if (!line.empty()) last = line;
        if (lf == std::string_view::npos) break;
        err.remove_prefix(lf + 1);
    }
    std::string out;
    for (char c : last) {
        if (out.size() >= 200) break;
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f) ? ' ' : c;
    }
    return out;
}

}  // namespace titan::replicator::core
