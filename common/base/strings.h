// Small, bounded string helpers used across the project.
// Layer: common/base (standard library only). All functions are pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace titan::base {

// ASCII-only lower-casing (bytes >= 0x80 are left untouched).
std::string asciiLower(std::string_view s);

// True when s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool isValidUtf8(std::string_view s) noexcept;

// True when s contains a byte < 0x20 or 0x7f.
bool hasControlBytes(std::string_view s) noexcept;

// Split on a single byte; "a,,b" -> {"a","","b"}; "" -> {""}.
std::vector<std::string_view> split(std::string_view s, char sep);

bool startsWith(std::string_view s, std::string_view prefix) noexcept;

// Case-insensitive ASCII comparison.
bool iequals(std::string_view a, std::string_view b) noexcept;

// Parse a non-negative decimal integer that fits in uint64 (no sign, no spaces).
std::optional<unsigned long long> parseUnsigned(std::string_view s) noexcept;

// Parse a signed decimal integer that fits in int64.
std::optional<long long> parseSigned(std::string_view s) noexcept;

// Quote a value for logfmt output when needed (spaces, quotes, '=' or control bytes).
std::string logfmtQuote(std::string_view s);

}  // namespace titan::base
