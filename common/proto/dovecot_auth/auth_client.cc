#include "common/proto/dovecot_auth/auth_client.h"

#include <arpa/inet.h>

#include <cstring>

#include "common/base/strings.h"
#include "common/proto/dovecot_auth/base64.h"
#include "common/proto/dovecot_dict/dict.h"

namespace titan::proto::dovecot_auth {
namespace {

using dict::escape;
using dict::unescape;

std::optional<std::uint32_t> parseId(std::string_view s) {
    if (s.empty()) return std::nullopt;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
    }
    const std::size_t first = s.find_first_not_of('0');
    if (first == std::string_view::npos) return 0;
    s.remove_prefix(first);  // leading zeros are accepted
    if (s.size() > 10) return std::nullopt;
    auto v = base::parseUnsigned(s);
    if (!v || *v > 0xffffffffULL) return std::nullopt;
    return static_cast<std::uint32_t>(*v);
}

// Raw TAB split without unescaping ("" -> {""}).
std::vector<std::string_view> rawFields(std::string_view line) { return base::split(line, '\t'); }

std::optional<ProtocolError> checkRawLine(std::string_view line, std::string_view what) {
    if (line.find('\0') != std::string_view::npos) return ProtocolError{std::string(what) + ": NUL byte in line"};
    if (line.find('\n') != std::string_view::npos) return ProtocolError{std::string(what) + ": LF inside line"};
    return std::nullopt;
}

std::string commandWord(std::string_view line) {
    std::string_view w = line.substr(0, line.find('\t'));
    if (w.size() > 16) return "(long command word)";
    std::string out;
    for (char c : w) {
        auto u = static_cast<unsigned char>(c);
        out += (u >= 0x21 && u < 0x7f) ? c : '?';
    }
    return out.empty() ? "(empty)" : out;
}

std::variant<Command, ProtocolError> parseAuth(const std::vector<std::string_view>& f, std::uint32_t client_minor) {
    if (f.size() < 3) return ProtocolError{"AUTH: expected id and mechanism"};
    auto id = parseId(f[1]);
    if (!id) return ProtocolError{"AUTH: malformed request id"};
    if (*id == 0) return ProtocolError{"AUTH: request id 0"};
    Auth a;
    a.id = *id;
    a.mechanism = unescape(f[2]);
    if (a.mechanism.empty()) return ProtocolError{"AUTH: empty mechanism name"};
    if (a.mechanism.find('\0') != std::string::npos) return ProtocolError{"AUTH: NUL in mechanism name"};
    bool have_service = false;
    for (std::size_t i = 3; i < f.size(); ++i) {
        const std::string param = unescape(f[i]);
        if (param.find('\0') != std::string::npos) return ProtocolError{"AUTH: NUL in a parameter"};
        const std::size_t eq = param.find('=');
        const std::string_view name = std::string_view(param).substr(0, eq);
        const std::string_view value =
            eq == std::string::npos ? std::string_view() : std::string_view(param).substr(eq + 1);
        if (eq != std::string::npos && name == "resp") {
            if (i + 1 != f.size()) return ProtocolError{"AUTH: parameters after resp="};
            if (value.empty()) {
                a.response = client_minor >= 2 ? Response::Present : Response::Absent;
            } else if (value == "=") {
                a.response = Response::Present;
            } else if (auto decoded = base64Decode(value)) {
                a.response = Response::Present;
                // Copy, then wipe: a moved-from short string keeps its bytes.
                a.initial_response = *decoded;
                wipe(*decoded);
            } else {
                a.response = Response::InvalidBase64;
            }
            continue;
        }
        if (eq == std::string::npos) {
            if (name == "secured") a.secured = true;
            else if (name == "valid-client-cert") a.valid_client_cert = true;
            continue;
        }
        if (name == "service") {
            a.service.assign(value);
            have_service = true;
        } else if (name == "lip") {
            a.local_ip = isIpAddress(value) ? std::string(value) : std::string();
        } else if (name == "rip") {
            a.remote_ip = isIpAddress(value) ? std::string(value) : std::string();
        } else if (name == "secured") {
            a.secured = true;
        }
    }
    if (!have_service || a.service.empty()) return ProtocolError{"AUTH: missing service="};
    return Command{std::move(a)};
}

std::variant<Command, ProtocolError> parseCont(std::string_view line) {
    // "CONT\t<id>\t<data>": the data is the rest of the line, TABs included.
    std::string_view rest = line.substr(5);
    const std::size_t tab = rest.find('\t');
    if (tab == std::string_view::npos) return ProtocolError{"CONT: expected id and data"};
    auto id = parseId(rest.substr(0, tab));
    if (!id) return ProtocolError{"CONT: malformed request id"};
    Cont c;
    c.id = *id;
    if (auto decoded = base64Decode(rest.substr(tab + 1))) {
        c.data = *decoded;
        wipe(*decoded);
    } else {
        c.valid = false;
    }
    return Command{std::move(c)};
}

std::variant<Command, ProtocolError> parseCancel(const std::vector<std::string_view>& f) {
    if (f.size() != 2) return ProtocolError{"CANCEL: expected exactly one id"};
    auto id = parseId(f[1]);
    if (!id) return ProtocolError{"CANCEL: malformed request id"};
    return Command{Cancel{*id}};
}

}  // namespace

const char* mechanismName(Mechanism m) noexcept {
    switch (m) {
        case Mechanism::Plain: return "PLAIN";
        case Mechanism::Login: return "LOGIN";
    }
    return "PLAIN";
}

std::optional<Mechanism> parseMechanismName(std::string_view name) noexcept {
    if (base::iequals(name, "PLAIN")) return Mechanism::Plain;
    if (base::iequals(name, "LOGIN")) return Mechanism::Login;
    return std::nullopt;
}

bool isIpAddress(std::string_view text) noexcept {
    if (text.empty() || text.size() > 45) return false;
    char buf[46];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    unsigned char addr[16];
    return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

std::variant<Version, ProtocolError> parseVersion(std::string_view line) {
    if (auto e = checkRawLine(line, "VERSION")) return *e;
    auto f = rawFields(line);
    if (f[0] != "VERSION") return ProtocolError{"expected VERSION first, got " + commandWord(line)};
    if (f.size() < 3) return ProtocolError{"VERSION: expected major and minor"};
    auto major = parseId(f[1]);
    auto minor = parseId(f[2]);
    if (!major || !minor) return ProtocolError{"VERSION: malformed number"};
    if (*major != kProtocolMajor) {
        return ProtocolError{"VERSION: protocol major " + std::to_string(*major) + " is not supported (want 1)"};
    }
    return Version{*major, *minor};
}

std::variant<Cpid, ProtocolError> parseCpid(std::string_view line) {
    if (auto e = checkRawLine(line, "CPID")) return *e;
    auto f = rawFields(line);
    if (f[0] != "CPID") return ProtocolError{"expected CPID after VERSION, got " + commandWord(line)};
    if (f.size() < 2) return ProtocolError{"CPID: expected a pid"};
    auto pid = parseId(f[1]);
    if (!pid) return ProtocolError{"CPID: malformed pid"};
    if (*pid == 0) return ProtocolError{"CPID: pid 0"};
    return Cpid{*pid};
}

std::variant<Command, ProtocolError> parseCommand(std::string_view line, std::uint32_t client_minor) {
    if (auto e = checkRawLine(line, "request")) return *e;
    if (base::startsWith(line, "CONT\t")) return parseCont(line);
    auto f = rawFields(line);
    if (f[0] == "AUTH") return parseAuth(f, client_minor);
    if (f[0] == "CANCEL") return parseCancel(f);
    if (f[0] == "CONT") return ProtocolError{"CONT: expected id and data"};
    return ProtocolError{"unknown command " + commandWord(line)};
}

std::string encodeHandshake(const Handshake& h) {
    std::string out = "VERSION\t" + std::to_string(kProtocolMajor) + "\t" + std::to_string(kProtocolMinor) + "\n";
    for (Mechanism m : h.mechanisms) {
        out += "MECH\t";
        out += mechanismName(m);
        out += "\tplaintext\n";
    }
    out += "SPID\t" + std::to_string(h.server_pid) + "\n";
    out += "CUID\t" + std::to_string(h.connection_id) + "\n";
    out += "COOKIE\t" + escape(h.cookie) + "\n";
    out += "DONE\n";
    return out;
}

std::string encodeCont(std::uint32_t id, std::string_view challenge) {
    return "CONT\t" + std::to_string(id) + "\t" + base64Encode(challenge) + "\n";
}

std::string encodeOk(std::uint32_t id, std::string_view user) {
    return "OK\t" + std::to_string(id) + "\tuser=" + escape(user) + "\n";
}

std::string encodeFail(const Fail& fail) {
    std::string out = "FAIL\t" + std::to_string(fail.id);
    if (!fail.user.empty()) out += "\tuser=" + escape(fail.user);
    if (!fail.code.empty()) out += "\tcode=" + escape(fail.code);
    if (!fail.reason.empty()) out += "\treason=" + escape(fail.reason);
    out += '\n';
    return out;
}

std::string printableReason(std::string_view text, std::size_t max_bytes) {
    std::string out;
    out.reserve(std::min(text.size(), max_bytes));
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        const bool space = u < 0x20 || u == 0x7f || u == ' ';
        if (space) {
            if (!out.empty() && out.back() != ' ') out += ' ';
        } else {
            out += c;
        }
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    if (out.size() > max_bytes) {
        std::size_t cut = max_bytes;
        // Back up to the start of a UTF-8 sequence.
        while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;
        out.resize(cut);
        while (!out.empty() && out.back() == ' ') out.pop_back();
    }
    return out;
}

std::string encodeVersion(const Version& v) {
    return "VERSION\t" + std::to_string(v.major) + "\t" + std::to_string(v.minor) + "\n";
}

std::string encodeCpid(const Cpid& c) { return "CPID\t" + std::to_string(c.pid) + "\n"; }

std::string encodeCommand(const Command& cmd) {
    if (const auto* a = std::get_if<Auth>(&cmd)) {
        std::string out = "AUTH\t" + std::to_string(a->id) + "\t" + escape(a->mechanism);
        out += "\tservice=" + escape(a->service);
        if (!a->local_ip.empty()) out += "\tlip=" + escape(a->local_ip);
        if (!a->remote_ip.empty()) out += "\trip=" + escape(a->remote_ip);
        if (a->secured) out += "\tsecured";
        if (a->valid_client_cert) out += "\tvalid-client-cert";
        if (a->response == Response::Present) {
            out += "\tresp=";
            out += a->initial_response.empty() ? std::string("=") : base64Encode(a->initial_response);
        } else if (a->response == Response::InvalidBase64) {
            out += "\tresp=@";
        }
        out += '\n';
        return out;
    }
    if (const auto* c = std::get_if<Cont>(&cmd)) {
        return "CONT\t" + std::to_string(c->id) + "\t" + (c->valid ? base64Encode(c->data) : std::string("@")) + "\n";
    }
    return "CANCEL\t" + std::to_string(std::get<Cancel>(cmd).id) + "\n";
}

std::variant<Reply, ProtocolError> parseReply(std::string_view line) {
    if (auto e = checkRawLine(line, "reply")) return *e;
    auto f = rawFields(line);
    Reply r;
    if (f[0] == "CONT") r.kind = ReplyKind::Cont;
    else if (f[0] == "OK") r.kind = ReplyKind::Ok;
    else if (f[0] == "FAIL") r.kind = ReplyKind::Fail;
    else return ProtocolError{"unknown reply " + commandWord(line)};
    if (f.size() < 2) return ProtocolError{"reply without an id"};
    auto id = parseId(f[1]);
    if (!id) return ProtocolError{"reply with a malformed id"};
    r.id = *id;
    if (r.kind == ReplyKind::Cont) {
        if (f.size() != 3) return ProtocolError{"CONT reply: expected id and data"};
        auto data = base64Decode(f[2]);
        if (!data) return ProtocolError{"CONT reply: invalid base64"};
        r.data = std::move(*data);
        return r;
    }
    for (std::size_t i = 2; i < f.size(); ++i) r.fields.push_back(unescape(f[i]));
    if (r.kind == ReplyKind::Ok && (r.fields.empty() || !base::startsWith(r.fields[0], "user="))) {
        return ProtocolError{"OK reply without user="};
    }
    return r;
}

void wipe(std::string& secret) noexcept {
    volatile char* p = secret.data();
    for (std::size_t i = 0; i < secret.size(); ++i) p[i] = 0;
    secret.clear();
}

}  // namespace titan::proto::dovecot_auth
