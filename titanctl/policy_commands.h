// titanctl's policy commands: titan-policyd's shared state in MariaDB (rate counters,
// greylist entries, allow/deny list entries, holds and the audit trail), shown and
// changed directly in the database, so they act on every policyd node. Nodes pick up list
// and hold changes within their refresh intervals (cache.lists_refresh, holds_refresh);
// counters and greylist entries are read on every request. Layer: titanctl.
#pragma once

#include <string>
#include <vector>

#include "titanctl/commands.h"

namespace titan::ctl {

// args as given to run(), starting with "policy". Returns the exit status.
int runPolicy(Context& ctx, const std::vector<std::string>& args);

std::string policyUsage();

}  // namespace titan::ctl
