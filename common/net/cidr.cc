#include "common/net/cidr.h"

#include <arpa/inet.h>

#include <cstring>

#include "common/base/strings.h"

namespace titan::net {

std::optional<Address> Address::parse(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    if (text.empty() || text.size() > 45) return std::nullopt;
    std::string s(text);
    Address a;
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) return a;
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
        static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(a.bytes.data(), kMapped, 12) == 0) {
            Address v4;
            std::memcpy(v4.bytes.data(), a.bytes.data() + 12, 4);
            return v4;
        }
        a.v6 = true;
        return a;
    }
    return std::nullopt;
}

std::string Address::str() const {
    char buf[INET6_ADDRSTRLEN] = {0};
    inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof(buf));
    return buf;
}

Cidr networkOf(const Address& a, unsigned prefix) {
    unsigned width = a.v6 ? 128 : 32;
    if (prefix > width) prefix = width;
    Cidr c;
    c.prefix = prefix;
    c.network = a;
    for (unsigned bit = prefix; bit < width; ++bit) {
        c.network.bytes[bit / 8] = static_cast<uint8_t>(c.network.bytes[bit / 8] & ~(0x80u >> (bit % 8)));
    }
    return c;
}

Result<Cidr> Cidr::parse(std::string_view text) {
    size_t slash = text.find('/');
    auto addr = Address::parse(text.substr(0, slash));
    if (!addr) return Error::invalidInput("invalid address in '" + std::string(text) + "'");
    unsigned width = addr->v6 ? 128 : 32;
    unsigned prefix = width;
    if (slash != std::string_view::npos) {
        auto p = base::parseUnsigned(text.substr(slash + 1));
        if (!p || *p > width) return Error::invalidInput("invalid prefix length in '" + std::string(text) + "'");
        prefix = static_cast<unsigned>(*p);
    }
    return networkOf(*addr, prefix);
}

bool Cidr::contains(const Address& a) const noexcept {
    if (a.v6 != network.v6) return false;
    unsigned full = prefix / 8;
    if (std::memcmp(a.bytes.data(), network.bytes.data(), full) != 0) return false;
    unsigned rest = prefix % 8;
    if (rest == 0) return true;
    uint8_t mask = static_cast<uint8_t>(0xff00u >> rest);
    return (a.bytes[full] & mask) == network.bytes[full];
}

std::string Cidr::str() const { return network.str() + "/" + std::to_string(prefix); }

Result<CidrList> CidrList::parse(const std::vector<std::string>& entries) {
    CidrList out;
    for (const auto& e : entries) {
        auto c = Cidr::parse(e);
        if (!c) return std::move(c).error();
        out.list_.push_back(*c);
    }
    return out;
}

bool CidrList::contains(const Address& a) const noexcept {
    for (const auto& c : list_) {
        if (c.contains(a)) return true;
    }
    return false;
}

bool CidrList::contains(std::string_view address_text) const {
    auto a = Address::parse(address_text);
    return a && contains(*a);
}

}  // namespace titan::net
