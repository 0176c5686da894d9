// What authd answers ProFTPd's mod_titan (contrib/proftpd): the FTP view of a mailbox
// (home, uid, gid, transfer limits) resolved from its ftp_accounts row and the `ftp:`
// defaults, and the JSON bodies of the /ftp/v1/ HTTP routes (docs/protocols/ftp.md).
// Pure functions, no I/O; whether a login is allowed is PasswordAuthenticator's job.
// Layer: authd/core.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "authd/core/mailbox.h"
#include "common/base/result.h"

namespace titan::authd::core {

struct FtpSettings {
    std::string home = "/srv/ftp/%d/%n";  // home template: %d domain, %n local part, %u user, %% a '%'
    std::optional<uint32_t> default_uid;   // for rows without their own; unset: userdb.default_uid
    std::optional<uint32_t> default_gid;
    uint32_t min_uid = 100;  // a resolved uid/gid below these is refused (never root)
    uint32_t min_gid = 100;
    std::string key;         // bearer key mod_titan must send (ftp.key_file); empty: none

    bool operator==(const FtpSettings&) const = default;
};

// The FTP identity of one mailbox, as the module turns it into a struct passwd.
struct FtpUser {
    std::string user;  // canonical name
    std::string home;
    uint32_t uid = 0;
    uint32_t gid = 0;
    FtpAccount limits;  // only the limit fields are meaningful
};

// Expand a home template for a canonical user. Errors: InvalidInput when the user
// has no '@' or the result is not a clean absolute path (no "..", "//", "/./", NUL or
// control characters, at most 1024 bytes).
Result<std::string> expandFtpHome(std::string_view home_template, std::string_view user);

// True for an absolute path without "." or ".." components, empty components,
// control characters, and at most 1024 bytes.
bool isCleanAbsolutePath(std::string_view path);

// Resolve home, uid and gid: the ftp_accounts row first, then `settings`, then
// `fallback_uid`/`fallback_gid` (userdb defaults). Errors: InvalidInput (with a
// message for the log) when no uid/gid is known, one is below the minimum, or the
// home is not a clean absolute path.
Result<FtpUser> resolveFtpUser(const Mailbox& mailbox, const FtpSettings& settings,
                               std::optional<uint32_t> fallback_uid, std::optional<uint32_t> fallback_gid);

// Bodies of POST /ftp/v1/lookup answers (see docs/protocols/ftp.md).
std::string ftpLookupFoundJson(const FtpUser& user);
std::string ftpStatusJson(std::string_view status, std::string_view reason = {});

// Body of a POST /ftp/v1/tally answer.
struct FtpTally {
    int64_t bytes_in = 0, bytes_out = 0, bytes_xfer = 0;
    int64_t files_in = 0, files_out = 0, files_xfer = 0;
    bool operator==(const FtpTally&) const = default;
};
std::string ftpTallyJson(const FtpTally& tally);

}  // namespace titan::authd::core
