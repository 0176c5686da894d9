// `titanctl replication ...`: titan-replicator's sites and mailbox placement in the
// database, and its admin socket (status, replicate, pause, resume).
// Layer: titanctl.
#pragma once

#include <string>
#include <vector>

#include "titanctl/commands.h"

namespace titan::ctl {

// args[0] is "replication". Returns the exit status (0 ok, 1 failure, 2 usage).
int runReplication(Context& ctx, const std::vector<std::string>& args);

std::string replicationUsage();

}  // namespace titan::ctl
