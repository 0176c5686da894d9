// The mailbox record authd serves, as read from the database. Plain data.
// Layer: authd/core (base only).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace titan::authd::core {

// A password for one application (a phone's mail client, a scanner): its own hash,
// usable only for the listed services, optionally only from some networks and
// until an expiry time.
struct AppPassword {
    std::string name;
    std::string password_hash;
    std::vector<std::string> services;       // "imap", "pop3", "smtp", "ftp"
    std::vector<std::string> networks;       // CIDRs; empty = anywhere
    std::optional<int64_t> expires_at;       // unix seconds; unset = never

    bool operator==(const AppPassword&) const = default;
};

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
    std::vector<AppPassword> app_passwords;

    bool operator==(const Mailbox&) const = default;
};

}  // namespace titan::authd::core
