#include "policyd/core/address.h"

#include "common/base/strings.h"

namespace titan::policyd::core {

namespace {

bool iStartsWith(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && base::iequals(s.substr(0, prefix.size()), prefix);
}

// SRS0=HASH=TT=domain=local or, after SRS1's "SRS1=HASH=fwd=", the same tail with a
// leading '='. Returns "local@domain", or "" when `local` is not SRS.
std::string unwrapSrs(std::string_view local) {
    std::string_view rest;
    if (iStartsWith(local, "srs0") && local.size() > 5 && (local[4] == '=' || local[4] == '+' || local[4] == '-')) {
        rest = local.substr(5);
    } else if (iStartsWith(local, "srs1") && local.size() > 5) {
        auto dbl = local.find("==");
        if (dbl == std::string_view::npos) return {};
        rest = local.substr(dbl + 2);
    } else {
        return {};
    }
    // rest = HASH=TT=domain=local (local may itself contain '=')
    std::size_t pos = 0;
    for (int skip = 0; skip < 2; ++skip) {
        pos = rest.find('=', pos);
        if (pos == std::string_view::npos) return {};
        ++pos;
    }
    auto eq = rest.find('=', pos);
    if (eq == std::string_view::npos || eq == pos || eq + 1 >= rest.size()) return {};
    return std::string(rest.substr(eq + 1)) + "@" + std::string(rest.substr(pos, eq - pos));
}

// prvs=TAG=local, msprvs1=TAG=local -> local
std::string_view unwrapBatv(std::string_view local) {
    for (std::string_view tag : {std::string_view("prvs="), std::string_view("msprvs1=")}) {
        if (iStartsWith(local, tag)) {
            auto eq = local.find('=', tag.size());
            if (eq != std::string_view::npos && eq + 1 < local.size()) return local.substr(eq + 1);
        }
    }
    return local;
}

std::string hashDigitTokens(std::string_view local) {
    std::string out;
    std::size_t i = 0;
    auto separator = [](char c) { return c == '.' || c == '-' || c == '_' || c == '=' || c == '+'; };
    while (i < local.size()) {
        std::size_t j = i;
        while (j < local.size() && !separator(local[j])) ++j;
        std::string_view token = local.substr(i, j - i);
        bool digits = !token.empty();
        for (char c : token) digits = digits && c >= '0' && c <= '9';
        if (digits) out += '#';
        else out += token;
        if (j < local.size()) out += local[j];
        i = j + 1;
    }
    return out;
}

}  // namespace

std::string addressKey(std::string_view raw, const AddressOptions& options) {
    if (raw.empty()) return {};
    std::string key;
    if (auto canonical = identity::canonicalUser(raw, options.identity)) {
        key = std::move(*canonical);
    } else {
        key = base::asciiLower(raw);
    }
    const auto at = key.rfind('@');
    if (at == std::string::npos || options.recipient_delimiter.empty()) return key;
    const auto cut = key.find_first_of(options.recipient_delimiter);
    if (cut != std::string::npos && cut > 0 && cut < at) key.erase(cut, at - cut);
    return key;
}

std::string domainKey(std::string_view raw) {
    const auto at = raw.rfind('@');
    if (at == std::string_view::npos) return {};
    std::string_view domain = raw.substr(at + 1);
    if (domain.empty()) return {};
    if (auto canonical = identity::canonicalDomain(domain)) return *canonical;
    return base::asciiLower(domain);
}

std::string greylistSenderKey(std::string_view raw, const AddressOptions& options) {
    if (raw.empty()) return "<>";
    const auto at = raw.rfind('@');
    std::string address(raw);
    if (at != std::string_view::npos) {
        std::string_view local = raw.substr(0, at);
        if (std::string srs = unwrapSrs(local); !srs.empty()) {
            address = srs;
        } else {
            address = std::string(unwrapBatv(local)) + std::string(raw.substr(at));
        }
    }
    std::string key = addressKey(address, options);
    const auto key_at = key.rfind('@');
    if (key_at == std::string::npos) return hashDigitTokens(key);
    return hashDigitTokens(std::string_view(key).substr(0, key_at)) + key.substr(key_at);
}

}  // namespace titan::policyd::core
