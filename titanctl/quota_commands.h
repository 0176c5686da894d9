// titanctl's quota commands: show a mailbox's shared usage (titan-quotad's quota_usage row)
// next to its limits, change limits or correct usage, and make Dovecot recount.
// Layer: titanctl.
#pragma once

#include <string>
#include <vector>

#include "titanctl/commands.h"

namespace titan::ctl {

// args as given to run(), starting with "quota". Returns the exit status; -1 when args[0]
// is not "quota" (not ours).
int runQuota(Context& ctx, const std::vector<std::string>& args);

std::string quotaUsage();

}  // namespace titan::ctl
