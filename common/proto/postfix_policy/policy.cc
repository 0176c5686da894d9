#include "common/proto/postfix_policy/policy.h"

#include <limits>
#include <type_traits>

#include "common/proto/line_framer.h"

namespace titan::proto::policy {

namespace {

constexpr std::string_view kRequestType = "smtpd_access_policy";

// Unsigned ASCII decimal that fits T; "" is 0 (Postfix sends unavailable numbers empty).
template <typename T>
bool parseNumber(std::string_view s, T* out) noexcept {
    static_assert(std::is_unsigned_v<T>);
    T value = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        const T digit = static_cast<T>(c - '0');
        if (value > (std::numeric_limits<T>::max() - digit) / 10) return false;
        value = static_cast<T>(value * 10 + digit);
    }
    *out = value;
    return true;
}

bool representableName(std::string_view name) noexcept {
    return !name.empty() && name.find_first_of(std::string_view("=\0\r\n", 4)) == std::string_view::npos;
}

bool representableValue(std::string_view value) noexcept {
    return value.find_first_of(std::string_view("\0\r\n", 3)) == std::string_view::npos;
}

std::string sanitise(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c == '\0' || c == '\r' || c == '\n') c = ' ';
    }
    return out;
}

}  // namespace

const std::string* Request::find(std::string_view name) const noexcept {
    for (const auto& a : attributes) {
        if (a.name == name) return &a.value;
    }
    return nullptr;
}

std::string_view Request::get(std::string_view name) const noexcept {
    const std::string* v = find(name);
    return v == nullptr ? std::string_view() : std::string_view(*v);
}

Decoder::Decoder(PolicyLimits limits) : limits_(limits) {}

DecodeResult Decoder::fail(std::string reason) {
    error_ = ProtocolError{std::move(reason)};
    current_ = Request{};
    return *error_;
}

DecodeResult Decoder::addLine(std::string_view line) {
    if (error_) return *error_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return addStripped(line);
}

DecodeResult Decoder::addStripped(std::string_view line) {
    if (line.empty()) {
        Request done = std::move(current_);
        current_ = Request{};
        lines_ = 0;
        request_bytes_ = 0;
        return done;
    }
    if (line.size() > limits_.max_line_bytes) {
        return fail("attribute line longer than " + std::to_string(limits_.max_line_bytes) + " bytes");
    }
    if (line.find('\0') != std::string_view::npos) return fail("NUL byte in attribute line");
    if (++lines_ > limits_.max_attributes) {
        return fail("more than " + std::to_string(limits_.max_attributes) + " attributes in one request");
    }
    request_bytes_ += line.size() + 1;
    // The final empty line's LF must fit too.
    if (request_bytes_ + 1 > limits_.max_request_bytes) {
        return fail("request longer than " + std::to_string(limits_.max_request_bytes) + " bytes");
    }
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) return fail("attribute line without '='");
    if (eq == 0) return fail("attribute line with an empty name");
    if (eq > limits_.max_name_bytes) {
        return fail("attribute name longer than " + std::to_string(limits_.max_name_bytes) + " bytes");
    }
    const std::string_view name = line.substr(0, eq);
    if (current_.find(name) == nullptr) {
        current_.attributes.push_back(Attribute{std::string(name), std::string(line.substr(eq + 1))});
    }
    return NeedMore{};
}

void Decoder::append(std::string_view bytes) {
    if (offset_ > 0 && offset_ >= buffer_.size() / 2) {
        buffer_.erase(0, offset_);
        offset_ = 0;
    }
    buffer_.append(bytes);
}

DecodeResult Decoder::next() {
    if (error_) return *error_;
    // The framer strips the one CR before the LF itself.
    const FramerLimits framing{limits_.max_line_bytes, true};
    while (true) {
        const std::string_view rest = std::string_view(buffer_).substr(offset_);
        FrameResult framed = nextLine(rest, framing);
        if (std::holds_alternative<NeedMore>(framed)) return NeedMore{};
        if (std::holds_alternative<LineTooLong>(framed)) {
            return fail("attribute line longer than " + std::to_string(limits_.max_line_bytes) + " bytes");
        }
        const Line line = std::get<Line>(framed);
        DecodeResult r = addStripped(line.text);
        offset_ += line.consumed;
        if (offset_ == buffer_.size()) {
            buffer_.clear();
            offset_ = 0;
        }
        if (!std::holds_alternative<NeedMore>(r)) return r;
    }
}

ProtocolState parseProtocolState(std::string_view text) noexcept {
    struct Entry {
        std::string_view name;
        ProtocolState state;
    };
    static constexpr Entry kStates[] = {
        {"CONNECT", ProtocolState::Connect}, {"EHLO", ProtocolState::Ehlo},
        {"HELO", ProtocolState::Helo},       {"MAIL", ProtocolState::Mail},
        {"RCPT", ProtocolState::Rcpt},       {"DATA", ProtocolState::Data},
        {"END-OF-MESSAGE", ProtocolState::EndOfMessage},
        {"VRFY", ProtocolState::Vrfy},       {"ETRN", ProtocolState::Etrn},
    };
    for (const auto& e : kStates) {
        if (e.name.size() != text.size()) continue;
        bool same = true;
        for (std::size_t i = 0; i < text.size() && same; ++i) {
            char c = text[i];
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
            same = c == e.name[i];
        }
        if (same) return e.state;
    }
    return ProtocolState::Unknown;
}

const char* protocolStateName(ProtocolState state) noexcept {
    switch (state) {
        case ProtocolState::Connect: return "CONNECT";
        case ProtocolState::Ehlo: return "EHLO";
        case ProtocolState::Helo: return "HELO";
        case ProtocolState::Mail: return "MAIL";
        case ProtocolState::Rcpt: return "RCPT";
        case ProtocolState::Data: return "DATA";
        case ProtocolState::EndOfMessage: return "END-OF-MESSAGE";
        case ProtocolState::Vrfy: return "VRFY";
        case ProtocolState::Etrn: return "ETRN";
        case ProtocolState::Unknown: break;
    }
    return "UNKNOWN";
}

std::variant<PolicyRequest, ProtocolError> parseRequest(const Request& request) {
    if (const std::string* type = request.find("request"); type != nullptr && *type != kRequestType) {
        return ProtocolError{"request type is not smtpd_access_policy"};
    }
    PolicyRequest r;
    auto str = [&](std::string_view name, std::string& field) { field = std::string(request.get(name)); };
    std::string_view bad;
    auto num = [&](std::string_view name, auto& field) {
        if (!parseNumber(request.get(name), &field) && bad.empty()) bad = name;
    };
    str("protocol_state", r.protocol_state_text);
    r.protocol_state = parseProtocolState(r.protocol_state_text);
    str("protocol_name", r.protocol_name);
    str("client_address", r.client_address);
    str("client_name", r.client_name);
    num("client_port", r.client_port);
    str("reverse_client_name", r.reverse_client_name);
    str("server_address", r.server_address);
    num("server_port", r.server_port);
    str("helo_name", r.helo_name);
    str("sender", r.sender);
    str("recipient", r.recipient);
    num("recipient_count", r.recipient_count);
    str("queue_id", r.queue_id);
    str("instance", r.instance);
    num("size", r.size);
    str("etrn_domain", r.etrn_domain);
    str("stress", r.stress);
    str("sasl_method", r.sasl_method);
    str("sasl_username", r.sasl_username);
    str("sasl_sender", r.sasl_sender);
    str("ccert_subject", r.ccert_subject);
    str("ccert_issuer", r.ccert_issuer);
    str("ccert_fingerprint", r.ccert_fingerprint);
    str("ccert_pubkey_fingerprint", r.ccert_pubkey_fingerprint);
    str("encryption_protocol", r.encryption_protocol);
    str("encryption_cipher", r.encryption_cipher);
    num("encryption_keysize", r.encryption_keysize);
    str("policy_context", r.policy_context);
    str("compatibility_level", r.compatibility_level);
    str("mail_version", r.mail_version);
    str("server_name", r.server_name);
    if (!bad.empty()) return ProtocolError{"attribute " + std::string(bad) + " is not an unsigned decimal number"};
    return r;
}

std::string encodeReply(std::string_view action) {
    std::string out;
    out.reserve(action.size() + 9);
    out += "action=";
    out += sanitise(action);
    out += "\n\n";
    return out;
}

std::string encodeReply(std::string_view action, const std::vector<Attribute>& extra) {
    std::string out = "action=" + sanitise(action) + "\n";
    for (const auto& a : extra) {
        if (!representableName(a.name)) continue;
        out += a.name;
        out += '=';
        out += sanitise(a.value);
        out += '\n';
    }
    out += '\n';
    return out;
}

std::string encodeRequest(const Request& request) {
    std::string out;
    for (const auto& a : request.attributes) {
        if (!representableName(a.name) || !representableValue(a.value)) continue;
        out += a.name;
        out += '=';
        out += a.value;
        out += '\n';
    }
    out += '\n';
    return out;
}

Request toRequest(const PolicyRequest& r) {
    Request out;
    auto add = [&](const char* name, std::string value) { out.attributes.push_back({name, std::move(value)}); };
    add("request", std::string(kRequestType));
    add("protocol_state", !r.protocol_state_text.empty() || r.protocol_state == ProtocolState::Unknown
                              ? r.protocol_state_text
                              : protocolStateName(r.protocol_state));
    add("protocol_name", r.protocol_name);
    add("client_address", r.client_address);
    add("client_name", r.client_name);
    add("client_port", std::to_string(r.client_port));
    add("reverse_client_name", r.reverse_client_name);
    add("server_address", r.server_address);
    add("server_port", std::to_string(r.server_port));
    add("helo_name", r.helo_name);
    add("sender", r.sender);
    add("recipient", r.recipient);
    add("recipient_count", std::to_string(r.recipient_count));
    add("queue_id", r.queue_id);
    add("instance", r.instance);
    add("size", std::to_string(r.size));
    add("etrn_domain", r.etrn_domain);
    add("stress", r.stress);
    add("sasl_method", r.sasl_method);
    add("sasl_username", r.sasl_username);
    add("sasl_sender", r.sasl_sender);
    add("ccert_subject", r.ccert_subject);
    add("ccert_issuer", r.ccert_issuer);
    add("ccert_fingerprint", r.ccert_fingerprint);
    add("ccert_pubkey_fingerprint", r.ccert_pubkey_fingerprint);
    add("encryption_protocol", r.encryption_protocol);
    add("encryption_cipher", r.encryption_cipher);
    add("encryption_keysize", std::to_string(r.encryption_keysize));
    add("policy_context", r.policy_context);
    if (!r.compatibility_level.empty()) add("compatibility_level", r.compatibility_level);
    if (!r.mail_version.empty()) add("mail_version", r.mail_version);
    if (!r.server_name.empty()) add("server_name", r.server_name);
    return out;
}

std::variant<Reply, NeedMore, ProtocolError> decodeReply(std::string_view bytes, std::size_t* consumed,
                                                         const PolicyLimits& limits) {
    const FramerLimits framing{limits.max_line_bytes, true};
    std::size_t offset = 0;
    std::size_t lines = 0;
    Reply reply;
    while (true) {
        FrameResult framed = nextLine(bytes.substr(offset), framing);
        if (std::holds_alternative<NeedMore>(framed)) return NeedMore{};
        if (std::holds_alternative<LineTooLong>(framed)) {
            return ProtocolError{"reply line longer than " + std::to_string(limits.max_line_bytes) + " bytes"};
        }
        const Line line = std::get<Line>(framed);
        offset += line.consumed;
        if (line.text.empty()) {
            if (consumed != nullptr) *consumed = offset;
            return reply;
        }
        if (line.text.find('\0') != std::string_view::npos) return ProtocolError{"NUL byte in reply line"};
        if (++lines > limits.max_attributes) return ProtocolError{"too many attributes in one reply"};
        if (offset > limits.max_request_bytes) return ProtocolError{"reply too long"};
        const std::size_t eq = line.text.find('=');
        if (eq == std::string_view::npos) return ProtocolError{"reply line without '='"};
        if (eq == 0) return ProtocolError{"reply line with an empty name"};
        Attribute a{std::string(line.text.substr(0, eq)), std::string(line.text.substr(eq + 1))};
        if (a.name == "action" && !reply.action) reply.action = a.value;
        reply.attributes.push_back(std::move(a));
    }
}

}  // namespace titan::proto::policy
