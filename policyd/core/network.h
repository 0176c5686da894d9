// IP addresses and networks as policyd keys and lists use them: IPv4 and IPv6 (IPv4-mapped
// IPv6 is IPv4), CIDR matching, and the canonical text of a client's network at a prefix
// ("192.0.2.0/24", "2001:db8:10:1::/64"). Pure (libc inet_pton/inet_ntop only).
// Layer: policyd/core.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"

namespace titan::policyd::core {

struct IpAddress {
    bool v6 = false;
    std::array<std::uint8_t, 16> bytes{};  // IPv4 in the first 4

    // "192.0.2.1", "2001:db8::1", "[2001:db8::1]", "2001:0db8:0:0::1", "::ffff:192.0.2.1"
    // (-> IPv4). nullopt for anything else (Postfix's "unknown", empty, zone ids).
    static std::optional<IpAddress> parse(std::string_view text);
    unsigned bits() const noexcept { return v6 ? 128 : 32; }
    std::string str() const;  // canonical text (inet_ntop)
    bool operator==(const IpAddress&) const = default;
};

struct Network {
    IpAddress base;  // host bits cleared
    unsigned prefix = 0;

    // "192.0.2.0/24", "2001:db8::/32", or a bare address (/32, /128). Host bits set in the
    // text are cleared. Errors: InvalidInput.
    static Result<Network> parse(std::string_view text);
    bool contains(const IpAddress& a) const noexcept;
    std::string str() const;  // "192.0.2.0/24"
};

// The network of `a` with `prefix` bits (clamped to the family's width).
Network networkOf(const IpAddress& a, unsigned prefix);

// Key text of a client address at the per-family prefixes ("192.0.2.0/24"); the full
// address for /32 and /128 ("192.0.2.7"). Empty for an unparsable address.
std::string clientNetworkKey(std::string_view address, unsigned v4_prefix, unsigned v6_prefix);

bool anyContains(const std::vector<Network>& networks, const IpAddress& a) noexcept;

}  // namespace titan::policyd::core
