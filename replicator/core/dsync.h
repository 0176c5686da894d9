// What titan-replicator asks of doveadm, as pure functions: the argv of each command
// (never a shell line), how an exit is classified, and the parsing of what doveadm
// prints. No I/O. Layer: replicator/core (base only).
//
// Commands (argv[0] is the configured absolute doveadm path):
//   sync:    doveadm [-c CONF] sync -u USER [-N] -l LOCK -T IO [-f] -s STATE DEST
//            DEST = tcp:HOST:PORT or tcps:HOST:PORT; STATE "" = no saved state; the
//            new state is printed on stdout (one base64 line).
//   status:  doveadm [-c CONF] -f flow mailbox status [-S HOST:PORT] -u USER guid INBOX
//            prints "INBOX guid=<32 hex>"
//   update:  doveadm [-c CONF] mailbox update [-S HOST:PORT] -u USER --mailbox-guid G INBOX
// CONF is the site's generated client config when the site has its own doveadm
// password (so the secret never appears in argv), otherwise the local Dovecot config.
//
// Exit codes of doveadm sync: 0 done; 2 done but not perfectly in sync (run again);
// 67 (EX_NOUSER) the user does not exist; 68/69/75 the peer is unreachable,
// refused us or failed temporarily; anything else a failure of this user.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"

namespace titan::replicator::core {

// A site name: 1..64 bytes of letters, digits, '.', '_' and '-'.
bool validSiteName(std::string_view name) noexcept;

struct Endpoint {
    std::string host;  // DNS name or IPv4 address ([A-Za-z0-9.-]), never empty
    unsigned port = 0;
    bool operator==(const Endpoint&) const = default;
};

// "host:port" with port 1..65535. Errors: InvalidInput.
Result<Endpoint> parseEndpoint(std::string_view text);

struct Site {
    std::string name;
    Endpoint endpoint;
    bool tls = false;
    std::string password_file;  // empty: the local Dovecot's doveadm_password
    bool active = true;
};

struct DoveadmSettings {
    std::string path = "/usr/bin/doveadm";
    std::string config;       // -c for the local Dovecot: its config socket or file; empty: doveadm's default
    std::string config_file;  // the file generated per-site configs include; empty: config if a file, else
                              // /etc/dovecot/dovecot.conf
    std::chrono::seconds lock_timeout{30};
    std::chrono::seconds io_timeout{60};
    bool all_namespaces = true;  // -N
};

// "tcp:host:port" or "tcps:host:port".
std::string destination(const Site& site);

// `config` is the -c file to pass ("" for none).
std::vector<std::string> syncArgv(const DoveadmSettings& s, const std::string& config, const std::string& user,
                                  const Site& site, bool full, const std::string& state);
// remote: nullptr for the local Dovecot, else the peer whose doveadm server to ask.
std::vector<std::string> guidStatusArgv(const DoveadmSettings& s, const std::string& config, const std::string& user,
                                        const Site* remote);
std::vector<std::string> guidUpdateArgv(const DoveadmSettings& s, const std::string& config, const std::string& user,
                                        const Site* remote, const std::string& guid);

enum class SyncOutcome { Success, RunAgain, GuidConflict, NoUser, PeerDown, Failed };
const char* syncOutcomeName(SyncOutcome o) noexcept;

struct ExitInfo {
    bool spawn_failed = false;
    bool timed_out = false;
    int signal = 0;       // killed by this signal (not by our timeout)
    int exit_code = -1;   // valid when neither of the above
    std::string_view err;  // captured stderr
};

// GuidConflict: exit 2 with dsync's "lost mailbox GUID" warning, the trap of an INBOX
// created independently on both sides. A timeout is PeerDown; 75 with a lock timeout
// in stderr is this user's failure (a concurrent sync holds the user's lock).
SyncOutcome classify(const ExitInfo& exit);

// The state string from sync's stdout: its first line, base64 characters only,
// at most 64 KiB. nullopt when absent or malformed.
std::optional<std::string> parseState(std::string_view out);

// The 32-hex-digit GUID from "INBOX guid=<hex>" (flow format). nullopt otherwise.
std::optional<std::string> parseGuid(std::string_view out);

// Which side's INBOX GUID both sides adopt: the user's home site's; when neither
// side is the home, the site whose name sorts first. Deterministic, so replicators
// on both sites repair towards the same GUID.
bool localGuidWins(std::string_view local_site, std::string_view peer_site, std::string_view home_site);

// A short, printable summary of stderr for logs and status: its last non-empty line
// without control bytes, at most 200 bytes.
std::string errorSummary(std::string_view err);

}  // namespace titan::replicator::core
