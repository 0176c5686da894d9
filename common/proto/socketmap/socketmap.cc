#include "common/proto/socketmap/socketmap.h"

namespace titan::proto::socketmap {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

std::string reply(std::string_view status, std::string_view text) {
    std::string payload;
    payload.reserve(status.size() + 1 + text.size());
    payload.append(status);
    payload += ' ';
    payload.append(text);
    return encodeNetstring(payload);
}

}  // namespace

std::size_t maxRequestBytes(const Limits& limits) { return limits.max_name_bytes + 1 + limits.max_key_bytes; }

FrameResult nextNetstring(std::string_view buffered, std::size_t max_payload_bytes) {
    // Length prefix. The value only grows with more digits, so an oversized length is
    // known before the ':' (and long before the payload) arrives.
    std::size_t length = 0;
    std::size_t i = 0;
    for (; i < buffered.size() && isDigit(buffered[i]); ++i) {
        if (i >= kMaxLengthDigits) return Malformed{"netstring length has too many digits"};
        length = length * 10 + static_cast<std::size_t>(buffered[i] - '0');
        if (length > max_payload_bytes) return TooLong{max_payload_bytes};
    }
    if (i == buffered.size()) return NeedMore{};
    if (buffered[i] != ':') {
        return Malformed{i == 0 ? "netstring does not start with a digit" : "netstring length not followed by ':'"};
    }
    if (i == 0) return Malformed{"netstring has an empty length"};
    const std::size_t start = i + 1;
    if (buffered.size() - start < length + 1) return NeedMore{};
    if (buffered[start + length] != ',') return Malformed{"netstring payload not followed by ','"};
    return Netstring{buffered.substr(start, length), start + length + 1};
}

std::string encodeNetstring(std::string_view payload) {
    std::string out = std::to_string(payload.size());
    out.reserve(out.size() + payload.size() + 2);
    out += ':';
    out.append(payload);
    out += ',';
    return out;
}

std::variant<Request, ProtocolError> parseRequest(std::string_view payload, const Limits& limits) {
    if (payload.find('\0') != std::string_view::npos) return ProtocolError{"NUL byte in request"};
    const std::size_t sp = payload.find(' ');
    if (sp == std::string_view::npos) return ProtocolError{"no space between map name and key"};
    std::string_view name = payload.substr(0, sp);
    std::string_view key = payload.substr(sp + 1);
    if (name.empty()) return ProtocolError{"empty map name"};
    if (name.size() > limits.max_name_bytes) return ProtocolError{"map name too long"};
    for (char c : name) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x21 || u > 0x7e) return ProtocolError{"map name has a byte outside printable ASCII"};
    }
    if (key.size() > limits.max_key_bytes) return ProtocolError{"key too long"};
    return Request{std::string(name), std::string(key)};
}

std::string encodeOk(std::string_view data) { return reply("OK", data); }
std::string encodeNotFound() { return encodeNetstring("NOTFOUND "); }
std::string encodeTemp(std::string_view reason) { return reply("TEMP", reason); }
std::string encodePerm(std::string_view reason) { return reply("PERM", reason); }

std::string encodeRequest(std::string_view name, std::string_view key) {
    std::string payload;
    payload.reserve(name.size() + 1 + key.size());
    payload.append(name);
    payload += ' ';
    payload.append(key);
    return encodeNetstring(payload);
}

Reply parseReply(std::string_view payload) {
    const std::size_t sp = payload.find(' ');
    std::string_view status = payload.substr(0, sp);
    std::string_view text = sp == std::string_view::npos ? std::string_view{} : payload.substr(sp + 1);
    if (status == "OK") {
        // Postfix reads a bare "OK" as not found: there is no value to return.
        if (sp == std::string_view::npos) return Reply{Status::NotFound, {}};
        return Reply{Status::Ok, std::string(text)};
    }
    if (status == "NOTFOUND") return Reply{Status::NotFound, {}};
    if (status == "TEMP" || status == "TIMEOUT") return Reply{Status::Temp, std::string(text)};
    if (status == "PERM") return Reply{Status::Perm, std::string(text)};
    return Reply{Status::Unknown, std::string(payload)};
}

const char* statusName(Status status) noexcept {
    switch (status) {
        case Status::Ok: return "ok";
        case Status::NotFound: return "notfound";
        case Status::Temp: return "temp";
        case Status::Perm: return "perm";
        case Status::Unknown: return "unknown";
    }
    return "unknown";
}

}  // namespace titan::proto::socketmap
