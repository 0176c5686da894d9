// Versioned schema migrations (contrib/sql/migrations/NNNN_name.sql), compiled in.
// Layer: titanctl.
#pragma once

#include <string>
#include <vector>

namespace titan::ctl {

struct Migration {
    unsigned version;
    const char* name;
    const char* sql;
};

// Every migration, ascending by version.
const std::vector<Migration>& migrations();

}  // namespace titan::ctl
