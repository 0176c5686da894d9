#include "policyd/core/network.h"

#include <arpa/inet.h>

#include "common/base/strings.h"

namespace titan::policyd::core {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    if (text.empty() || text.size() > 45) return std::nullopt;
    const std::string s(text);
    IpAddress a;
    if (s.find(':') == std::string::npos) {
        if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
        return a;
    }
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    bool mapped = true;
    for (int i = 0; i < 12; ++i) mapped = mapped && a.bytes[static_cast<std::size_t>(i)] == kMapped[i];
    if (mapped) {
        IpAddress v4;
        for (std::size_t i = 0; i < 4; ++i) v4.bytes[i] = a.bytes[12 + i];
        return v4;
    }
    a.v6 = true;
    return a;
}

std::string IpAddress::str() const {
    char buf[INET6_ADDRSTRLEN] = {0};
    inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof(buf));
    return buf;
}

Network networkOf(const IpAddress& a, unsigned prefix) {
    Network n;
    n.prefix = prefix > a.bits() ? a.bits() : prefix;
    n.base = a;
    const unsigned width = a.bits() / 8;
    for (unsigned i = 0; i < 16; ++i) {
        const unsigned bit = i * 8;
        if (i >= width || bit >= n.prefix) {
            n.base.bytes[i] = 0;
        } else if (n.prefix - bit < 8) {
            n.base.bytes[i] = static_cast<std::uint8_t>(n.base.bytes[i] & (0xff << (8 - (n.prefix - bit))));
        }
    }
    return n;
}

Result<Network> Network::parse(std::string_view text) {
    std::string_view addr = text;
    std::optional<unsigned long long> prefix;
    if (auto slash = text.find('/'); slash != std::string_view::npos) {
        addr = text.substr(0, slash);
        prefix = base::parseUnsigned(text.substr(slash + 1));
        if (!prefix) return Error::invalidInput("bad prefix length in '" + std::string(text) + "'");
    }
    auto a = IpAddress::parse(addr);
    if (!a) return Error::invalidInput("not an IP address or network: '" + std::string(text) + "'");
    // An IPv4-mapped network keeps its meaning on the IPv4 address.
    if (prefix && !a->v6 && addr.find(':') != std::string_view::npos) {
        if (*prefix < 96) return Error::invalidInput("IPv4-mapped prefix shorter than 96 in '" + std::string(text) + "'");
        *prefix -= 96;
    }
    if (prefix && *prefix > a->bits()) return Error::invalidInput("prefix too long in '" + std::string(text) + "'");
    return networkOf(*a, prefix ? static_cast<unsigned>(*prefix) : a->bits());
}

bool Network::contains(const IpAddress& a) const noexcept {
    if (a.v6 != base.v6) return false;
    return networkOf(a, prefix).base == base;
}

std::string Network::str() const { return base.str() + "/" + std::to_string(prefix); }

std::string clientNetworkKey(std::string_view address, unsigned v4_prefix, unsigned v6_prefix) {
    auto a = IpAddress::parse(address);
    if (!a) return {};
    const unsigned prefix = a->v6 ? v6_prefix : v4_prefix;
    if (prefix >= a->bits()) return a->str();
    return networkOf(*a, prefix).str();
}

bool anyContains(const std::vector<Network>& networks, const IpAddress& a) noexcept {
    for (const auto& n : networks) {
        if (n.contains(a)) return true;
    }
    return false;
}

}  // namespace titan::policyd::core
