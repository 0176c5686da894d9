// Process-level helpers shared by every daemon's main(): the command line,
// privilege drop after binding. Layer: common/daemon.
#pragma once

#include <string>

#include "common/base/result.h"
#include "common/daemon/settings.h"

namespace titan::daemon {

struct CommandLine {
    std::string config_path;
    bool check_config = false;  // --check-config: validate, print "config OK", exit
    bool dump_config = false;   // --dump-config: print the effective config (secrets redacted)
    bool help = false;
    bool version = false;
};

// Parses --config PATH (or -c PATH), --check-config, --dump-config, --help, --version.
// Errors: InvalidInput with a usage message.
Result<CommandLine> parseCommandLine(int argc, char** argv, const std::string& default_config);

std::string usage(const std::string& program, const std::string& default_config);

// setgroups, setresgid, setresuid — in that order — then checks that root cannot be
// regained. No-op when run_as.user is empty. Errors: Config.
Status dropPrivileges(const RunAs& run_as);

}  // namespace titan::daemon
