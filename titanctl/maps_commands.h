// titanctl's commands for the Postfix maps titan-authd serves over socketmap: aliases
// (with catch-all @domain sources), alias domains and sender-login grants. Each change
// asks the local authd to forget its cached map entries (`maps-flush` on the admin
// socket; best effort, the cache TTL bounds staleness otherwise). Layer: titanctl.
#pragma once

#include <string>
#include <vector>

#include "titanctl/commands.h"

namespace titan::ctl {

// args as given to run(), starting with "alias", "alias-domain" or "sender". Returns the
// exit status (2 for usage errors).
int runMaps(Context& ctx, const std::vector<std::string>& args);

std::string mapsUsage();

}  // namespace titan::ctl
