// titanctl's FTP commands: a mailbox's FTP home, uid/gid and transfer limits (table
// ftp_accounts, served to ProFTPd's mod_titan by titan-authd) and its shared tally.
// Layer: titanctl.
#pragma once

#include <string>
#include <vector>

#include "titanctl/commands.h"

namespace titan::ctl {

// args as given to run(), starting with "ftp". Returns the exit status.
int runFtp(Context& ctx, const std::vector<std::string>& args);

std::string ftpUsage();

}  // namespace titan::ctl
