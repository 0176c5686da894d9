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

// FTP attributes of a mailbox (table ftp_accounts; absent row = all defaults). Unset
// fields take titan-authd's `ftp:` defaults; limits follow mod_quotatab's limit record
// ("in" uploads, "out" downloads, "xfer" both; 0 = unlimited).
struct FtpAccount {
    std::optional<std::string> home;
    std::optional<uint32_t> uid;
    std::optional<uint32_t> gid;
    bool per_session = false;
    bool hard_limit = true;  // false: soft (the transfer crossing the limit completes)
    uint64_t bytes_in = 0, bytes_out = 0, bytes_xfer = 0;
    uint64_t files_in = 0, files_out = 0, files_xfer = 0;

    bool operator==(const FtpAccount&) const = default;
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
    std::optional<FtpAccount> ftp_account;  // unset: no ftp_accounts row

    bool operator==(const Mailbox&) const = default;
};

}  // namespace titan::authd::core
