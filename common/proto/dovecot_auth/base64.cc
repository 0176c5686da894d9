#include "common/proto/dovecot_auth/base64.h"

#include <array>
#include <cstdint>

namespace titan::proto::dovecot_auth {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> makeTable() {
    std::array<std::int8_t, 256> t{};
    for (auto& v : t) v = -1;
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
    return t;
}
constexpr auto kDecode = makeTable();

}  // namespace

std::string base64Encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        auto a = static_cast<unsigned char>(bytes[i]);
        auto b = static_cast<unsigned char>(bytes[i + 1]);
        auto c = static_cast<unsigned char>(bytes[i + 2]);
        out += kAlphabet[a >> 2];
        out += kAlphabet[((a & 0x03) << 4) | (b >> 4)];
        out += kAlphabet[((b & 0x0f) << 2) | (c >> 6)];
        out += kAlphabet[c & 0x3f];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        auto a = static_cast<unsigned char>(bytes[i]);
        out += kAlphabet[a >> 2];
        out += kAlphabet[(a & 0x03) << 4];
        out += "==";
    } else if (rest == 2) {
        auto a = static_cast<unsigned char>(bytes[i]);
        auto b = static_cast<unsigned char>(bytes[i + 1]);
        out += kAlphabet[a >> 2];
        out += kAlphabet[((a & 0x03) << 4) | (b >> 4)];
        out += kAlphabet[(b & 0x0f) << 2];
        out += '=';
    }
    return out;
}

std::optional<std::string> base64Decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::size_t pad = 0;
    if (!text.empty() && text.back() == '=') {
        pad = 1;
        if (text[text.size() - 2] == '=') pad = 2;
    }
    std::string out;
    out.reserve(text.size() / 4 * 3);
    const std::size_t body = text.size() - pad;
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::size_t i = 0; i < body; ++i) {
        const std::int8_t v = kDecode[static_cast<unsigned char>(text[i])];
        if (v < 0) return std::nullopt;  // includes '=' before the padding
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    // With one "=" the last group carries 3 characters (2 bytes), with two "=" 2
    // characters (1 byte); the loop above already emitted exactly those bytes.
    return out;
}

bool isBase64Alphabet(std::string_view text) noexcept {
    for (char c : text) {
        if (c != '=' && kDecode[static_cast<unsigned char>(c)] < 0) return false;
    }
    return true;
}

}  // namespace titan::proto::dovecot_auth
