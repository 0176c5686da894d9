// Strict standard base64 (RFC 4648 section 4) for the Dovecot auth-client protocol:
// SASL data travels base64-encoded in AUTH resp= and CONT lines. It is not a MIME
// codec: no line breaks, no whitespace, no URL alphabet. Used by the codec and by test
// tools. Layer: common/proto (standard library only).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace titan::proto::dovecot_auth {

// Standard alphabet, "=" padding, no line breaks. "" -> "".
std::string base64Encode(std::string_view bytes);

// Decodes standard base64. Accepted: the alphabet A-Z a-z 0-9 + /, a length that is a
// multiple of 4, and one or two "=" only at the very end ("" decodes to ""). Refused
// (nullopt): any other byte (spaces, CR, LF, '-', '_', NUL), missing or misplaced
// padding. Non-zero unused bits in the last group are accepted, as most decoders do.
std::optional<std::string> base64Decode(std::string_view text);

// True when `text` contains only bytes base64Decode may accept (A-Z a-z 0-9 + / =).
// Postfix checks exactly this before it forwards a client's response.
bool isBase64Alphabet(std::string_view text) noexcept;

}  // namespace titan::proto::dovecot_auth
