// Hex and base64 codecs for password data, with Dovecot 2.3's acceptance rules
// (hex: either case, even length; base64: RFC 4648 alphabet, padding required, ASCII
// whitespace ignored). Internal to common/password; not a general-purpose MIME codec.
// Layer: common/password (OpenSSL EVP_EncodeBlock/EVP_DecodeBlock).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace titan::password::detail {

// Lower-case hex of `bytes`.
std::string hexEncode(std::string_view bytes);

// Decode hex (upper or lower case). nullopt on an odd length or a non-hex character.
std::optional<std::string> hexDecode(std::string_view text);

// Standard base64 with "=" padding, no line breaks.
std::string base64Encode(std::string_view bytes);

// Decode standard base64. Spaces, tabs, CR and LF are skipped; the remaining length must be
// a multiple of 4 with at most two trailing "=". nullopt on anything else.
std::optional<std::string> base64Decode(std::string_view text);

}  // namespace titan::password::detail
