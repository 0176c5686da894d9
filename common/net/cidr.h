// IP addresses and CIDR networks (IPv4 and IPv6), parsed once and matched without
// allocation: trusted networks, allow/deny lists, app-password source networks,
// per-network keys (/24, /64). Pure. Layer: common/net (base + libc inet_pton).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"

namespace titan::net {

struct Address {
    bool v6 = false;
    std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4

    // Parses "192.0.2.1", "2001:db8::1", "[2001:db8::1]" and IPv4-mapped IPv6
    // ("::ffff:192.0.2.1" becomes the IPv4 address). Empty optional if invalid.
    static std::optional<Address> parse(std::string_view text);
    std::string str() const;
    bool operator==(const Address&) const = default;
};

struct Cidr {
    Address network;  // host bits cleared
    unsigned prefix = 0;

    // "192.0.2.0/24", "2001:db8::/32", or a bare address (/32 or /128).
    // Errors: InvalidInput naming the text.
    static Result<Cidr> parse(std::string_view text);
    bool contains(const Address& a) const noexcept;
    std::string str() const;
};

// The network of `a` with `prefix` bits (for keys like "client /24"); prefixes
// beyond the family's width are clamped.
Cidr networkOf(const Address& a, unsigned prefix);

// A list of networks; contains() is true if any matches.
class CidrList {
public:
    // Parse every entry; errors name the first bad entry.
    static Result<CidrList> parse(const std::vector<std::string>& entries);
    bool contains(const Address& a) const noexcept;
    bool contains(std::string_view address_text) const;
    bool empty() const noexcept { return list_.empty(); }

private:
    std::vector<Cidr> list_;
};

}  // namespace titan::net
