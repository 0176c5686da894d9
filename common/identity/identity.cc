#include "common/identity/identity.h"

#include <idn2.h>
#include <unicase.h>
#include <uninorm.h>

#include <cstdlib>

#include "common/base/strings.h"

namespace titan::identity {
namespace {

bool isAscii(std::string_view s) {
    for (unsigned char c : s) {
        if (c >= 0x80) return false;
    }
    return true;
}

Status checkAsciiDomain(std::string_view d) {
    if (d.empty()) return Error::invalidInput("empty domain");
    if (d.size() > 253) return Error::invalidInput("domain longer than 253 bytes");
    for (std::string_view label : base::split(d, '.')) {
        if (label.empty()) return Error::invalidInput("empty label in domain");
        if (label.size() > 63) return Error::invalidInput("domain label longer than 63 bytes");
        if (label.front() == '-' || label.back() == '-') {
            return Error::invalidInput("domain label starts or ends with '-'");
        }
        for (char c : label) {
            bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
            if (!ok) return Error::invalidInput("invalid character in domain");
        }
    }
    return {};
}

// NFC (and with `lower`, the Unicode lower case) of valid UTF-8; nullopt on failure.
std::optional<std::string> normalise(std::string_view s, bool lower) {
    size_t len = 0;
    const auto* in = reinterpret_cast<const uint8_t*>(s.data());
    uint8_t* out = lower ? u8_tolower(in, s.size(), nullptr, UNINORM_NFC, nullptr, &len)
                         : u8_normalize(UNINORM_NFC, in, s.size(), nullptr, &len);
    if (out == nullptr) return std::nullopt;
    std::string result(reinterpret_cast<const char*>(out), len);
    std::free(out);
    return result;
}

}  // namespace

std::optional<std::string> nfcIfDifferent(std::string_view text) {
    if (isAscii(text) || !base::isValidUtf8(text)) return std::nullopt;
    auto n = normalise(text, false);
    if (!n || *n == text) return std::nullopt;
    return n;
}

Result<std::string> canonicalDomain(std::string_view raw) {
    if (raw.empty()) return Error::invalidInput("empty domain");
    if (raw.size() > 1024) return Error::invalidInput("domain too long");
    if (base::hasControlBytes(raw)) return Error::invalidInput("control bytes in domain");
    if (!base::isValidUtf8(raw)) return Error::invalidInput("invalid UTF-8 in domain");
    std::string lowered = base::asciiLower(raw);
    if (!isAscii(lowered)) {
        char* out = nullptr;
        int rc = idn2_to_ascii_8z(lowered.c_str(), &out, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
        if (rc != IDN2_OK || out == nullptr) {
            return Error::invalidInput(std::string("invalid internationalised domain: ") + idn2_strerror(rc));
        }
        lowered = base::asciiLower(out);
        idn2_free(out);
    }
    if (auto st = checkAsciiDomain(lowered); !st) return std::move(st).error();
    return lowered;
}

Result<std::string> canonicalUser(std::string_view raw, const Options& options) {
    if (raw.empty()) return Error::invalidInput("empty user name");
    if (raw.size() > options.max_bytes) return Error::invalidInput("user name too long");
    if (base::hasControlBytes(raw)) return Error::invalidInput("control bytes in user name");
    if (!base::isValidUtf8(raw)) return Error::invalidInput("invalid UTF-8 in user name");
    size_t at = raw.rfind('@');
    if (at == std::string_view::npos) return Error::invalidInput("user name has no domain");
    std::string_view typed = raw.substr(0, at);
    if (typed.empty()) return Error::invalidInput("empty local part");
    const bool lower = options.local_part == LocalPartPolicy::Lowercase;
    std::string out;
    if (isAscii(typed)) {
        out = lower ? base::asciiLower(typed) : std::string(typed);
    } else {
        auto n = normalise(typed, lower);
        if (!n) return Error::invalidInput("local part cannot be normalised");
        out = std::move(*n);
    }
    if (out.size() > 64) return Error::invalidInput("local part longer than 64 bytes");
    auto domain = canonicalDomain(raw.substr(at + 1));
    if (!domain) return std::move(domain).error();
    out += '@';
    out += *domain;
    return out;
}

std::string_view domainOf(std::string_view canonical) {
    size_t at = canonical.rfind('@');
    return at == std::string_view::npos ? std::string_view{} : canonical.substr(at + 1);
}

std::string_view localPartOf(std::string_view canonical) {
    size_t at = canonical.rfind('@');
    return at == std::string_view::npos ? canonical : canonical.substr(0, at);
}

}  // namespace titan::identity
