// What authd answers Dovecot's passdb/userdb `dict` driver: the key layout, the
// per-service access rule and the JSON values. Pure functions, no I/O.
//
// Key layout (set in contrib/dovecot/dovecot-titan-auth.conf.ext):
//   shared/passdb/<service>/<user>   passdb lookup; <service> is Dovecot's %s
//   shared/userdb/<user>             userdb lookup; also the iteration prefix
// Any other key is answered "not found".
// Layer: authd/core.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "authd/core/mailbox.h"

namespace titan::authd::core {

struct PassdbKey {
    std::string service;
    std::string user;  // as Dovecot sent it, not yet canonical
};
struct UserdbKey {
    std::string user;
};
struct UnknownKey {};
using DictKey = std::variant<PassdbKey, UserdbKey, UnknownKey>;

DictKey parseDictKey(std::string_view key);

inline constexpr std::string_view kUserdbPrefix = "shared/userdb/";

// True for the user-listing iteration path ("shared/userdb/" or "shared/userdb").
bool isUserIteration(std::string_view path);

enum class Access { Allowed, AccountDisabled, ServiceDisabled };

// imap, pop3 and ftp map to their own flags; smtp and submission to `smtp`. Other
// services (lmtp, doveadm, sieve, ...) need only an active account.
Access checkAccess(const Mailbox& mailbox, std::string_view service);

// passdb JSON: {"user": canonical, "password": hash} — the password is left out when
// none is stored, so Dovecot reports a mismatch; "nologin" and "reason" are added
// when access is not allowed.
std::string passdbJson(const Mailbox& mailbox, std::string_view service);

struct UserdbDefaults {
    std::optional<uint32_t> uid;
    std::optional<uint32_t> gid;
};

// userdb JSON: user, home, uid, gid (row value or default; omitted if neither),
// quota_rule "*:storage=<N>B" and quota_rule2 "*:messages=<N>" when limited.
std::string userdbJson(const Mailbox& mailbox, const UserdbDefaults& defaults);

}  // namespace titan::authd::core
