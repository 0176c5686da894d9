// Brute-force throttling: failed logins counted per client address and per user,
// over every protocol (SMTP AUTH, IMAP, POP3, FTP) and — through shared counters
// merged in from MariaDB — over every authd node. A key with `max_failures` in the
// current window is blocked for `block_time` after its last failure, whatever the
// password. Trusted networks are exempt. Pure: time is a parameter.
// Loop thread only. Layer: authd/core.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <unordered_map>

#include "authd/core/cache.h"
#include "common/net/cidr.h"

namespace titan::authd::core {

struct ThrottleOptions {
    unsigned max_ip_failures = 10;
    unsigned max_user_failures = 30;
    std::chrono::milliseconds window{600000};     // failures older than this start a new count
    std::chrono::milliseconds block_time{900000}; // blocked this long after the last failure
    net::CidrList exempt;                         // never throttled (by client address)
    size_t max_keys = 1000000;                    // bound on tracked keys
};

enum class Scope { Ip, User };
const char* scopeName(Scope s) noexcept;

class Throttle {
public:
    explicit Throttle(ThrottleOptions options) : options_(std::move(options)) {}
    void setOptions(ThrottleOptions options) { options_ = std::move(options); }
    const ThrottleOptions& options() const noexcept { return options_; }

    // Why this attempt must be refused, or nullopt. `ip` may be empty (unknown);
    // `user` is canonical or empty.
    std::optional<std::string> blocked(const std::string& ip, const std::string& user, TimePoint now) const;

    // A failed login (wrong password, unknown user). Exempt addresses count nothing
    // for the address, but still count for the user.
    void recordFailure(const std::string& ip, const std::string& user, TimePoint now);

    // Shared state from the database: `failures` in the window whose last failure
    // was `age` ago. Raises the local count, never lowers it.
    void merge(Scope scope, const std::string& subject, unsigned failures, std::chrono::milliseconds age,
               TimePoint now);

    bool exempt(const std::string& ip) const;
    void prune(TimePoint now);  // forget keys whose window and block are over
    size_t size() const noexcept { return entries_.size(); }

private:
    struct Entry {
        TimePoint window_start{};
        TimePoint last_failure{};
        unsigned failures = 0;
    };
    static std::string key(Scope s, const std::string& subject);
    bool isBlocked(const Entry& e, unsigned limit, TimePoint now) const;
    void bump(Scope s, const std::string& subject, TimePoint now);

    ThrottleOptions options_;
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace titan::authd::core
