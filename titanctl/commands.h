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

}  // namespace titan::ctl
