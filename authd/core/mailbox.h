// The mailbox record authd serves, as read from the database. Plain data.
// Layer: authd/core (base only).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace titan::authd::core {

struct Mailbox {
    std::string username;       // canonical local@domain
    std::string password_hash;  // Dovecot "{SCHEME}data"; empty never matches
    bool active = true;         // mailbox and its domain both active
    std::string disabled_reason;
    bool imap = true;
    bool pop3 = true;
    bool smtp = true;
    bool ftp = false;
    uint64_t quota_bytes = 0;     // 0 = unlimited
    uint64_t quota_messages = 0;  // 0 = unlimited
    std::optional<uint32_t> uid;  // unset: the configured default
    std::optional<uint32_t> gid;
    std::string home;
    std::string home_site;

    bool operator==(const Mailbox&) const = default;
};

}  // namespace titan::authd::core
