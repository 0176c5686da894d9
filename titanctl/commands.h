// titanctl's commands: schema migration, domains and mailboxes, talking to MariaDB
// with prepared statements (common/sql's synchronous Connection), and to a local
// daemon's admin socket. Each command writes its output to `out` and returns an
// exit status. Layer: titanctl.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "authd/config.h"

namespace titan::ctl {

struct Context {
    const authd::AuthdConfig& config;
    std::ostream& out;
    std::ostream& err;
    std::istream& in;
    bool stdin_is_tty = false;
};

// argv after the global options, e.g. {"user", "add", "bob@example.test", "--quota", "1G"}.
int run(Context& ctx, const std::vector<std::string>& args);

std::string usage();

// One command on the local authd's admin socket (common.admin of authd's config), with
// a 1 s timeout; true when authd answered. Best effort: callers that change rows rely
// on it only to be faster than authd's change follower and cache TTL.
bool authdAdminCommand(Context& ctx, const std::string& command);
// "cache-flush USER": authd forgets the user at once.
void notifyAuthd(Context& ctx, const std::string& user);

}  // namespace titan::ctl
