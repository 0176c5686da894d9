// The one canonical identity rule shared by every lookup path of every daemon.
// A user name is "local@domain": the domain is lower-cased and converted to its
// IDNA ASCII (punycode) form; the local part is put in Unicode NFC (so "é" typed as
// e + combining accent is the same name as the precomposed "é") and lower-cased
// (full Unicode case mapping) or kept as typed, per configured policy. Any UTF-8 but
// control bytes is accepted ("élodie.léger@", "^_^@"). No I/O.
// Layer: common (base + libidn2 + libunistring).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/base/result.h"

namespace titan::identity {

enum class LocalPartPolicy { Lowercase, Preserve };

struct Options {
    LocalPartPolicy local_part = LocalPartPolicy::Lowercase;
    size_t max_bytes = 320;  // whole address, as typed (RFC 5321: 64 + 1 + 255)
};

// Canonical form of a domain name. InvalidInput for empty names, empty or over-long
// labels (> 63 bytes), names over 253 bytes, bytes other than letters, digits, '-'
// and '.', or non-ASCII input that is not valid IDNA.
Result<std::string> canonicalDomain(std::string_view raw);

// Canonical "local@domain" for a login or address. The last '@' splits local part
// and domain. InvalidInput for: empty input, more than max_bytes, control bytes,
// invalid UTF-8, no '@', an empty local part, a local part over 64 bytes, or an
// invalid domain. Callers answer InvalidInput as "no such user", never as a
// backend failure.
Result<std::string> canonicalUser(std::string_view raw, const Options& options);

// `text` in Unicode NFC, or nullopt when it is already NFC (always for ASCII) or not
// valid UTF-8. The one normalisation policy for passwords: titanctl stores the hash of
// the NFC form; authd, where it verifies, tries the bytes as received and then this.
std::optional<std::string> nfcIfDifferent(std::string_view text);

// The part of a canonical address after the last '@' (empty if none).
std::string_view domainOf(std::string_view canonical);
// The part before the last '@' (the whole input if none).
std::string_view localPartOf(std::string_view canonical);

}  // namespace titan::identity
