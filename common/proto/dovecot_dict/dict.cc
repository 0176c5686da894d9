#include "common/proto/dovecot_dict/dict.h"

#include <algorithm>
#include <limits>
#include <type_traits>
#include <utility>

namespace titan::proto::dict {

namespace {

constexpr char kEscapeByte = '\001';
constexpr std::string_view kSharedPrefix = "shared/";
constexpr std::string_view kPrivatePrefix = "priv/";
constexpr std::uint32_t kNsecsPerSec = 1000000000;

// Unsigned ASCII decimal: at least one digit, nothing else, no overflow of T.
template <typename T>
std::optional<T> parseUnsignedField(std::string_view s) noexcept {
    static_assert(std::is_unsigned_v<T>);
    if (s.empty()) return std::nullopt;
    T value = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        const T digit = static_cast<T>(c - '0');
        if (value > (std::numeric_limits<T>::max() - digit) / 10) return std::nullopt;
        value = static_cast<T>(value * 10 + digit);
    }
    return value;
}

// Signed ASCII decimal with an optional leading '-'.
std::optional<long long> parseSignedField(std::string_view s) noexcept {
    bool negative = false;
    if (!s.empty() && s.front() == '-') {
        negative = true;
        s.remove_prefix(1);
    }
    const auto magnitude = parseUnsignedField<unsigned long long>(s);
    if (!magnitude) return std::nullopt;
    constexpr auto kMaxPositive =
        static_cast<unsigned long long>(std::numeric_limits<long long>::max());
    if (negative) {
        if (*magnitude > kMaxPositive + 1) return std::nullopt;
        if (*magnitude == kMaxPositive + 1) return std::numeric_limits<long long>::min();
        return -static_cast<long long>(*magnitude);
    }
    if (*magnitude > kMaxPositive) return std::nullopt;
    return static_cast<long long>(*magnitude);
}

bool startsWith(std::string_view s, std::string_view prefix) noexcept {
    return s.substr(0, prefix.size()) == prefix;
}

ProtocolError fail(std::string reason) { return ProtocolError{std::move(reason)}; }

// "'X'" for a printable byte, "0xNN" otherwise.
std::string describeByte(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u > 0x20 && u < 0x7f) return std::string("'") + c + "'";
    static constexpr char kHex[] = "0123456789abcdef";
    return std::string("0x") + kHex[u >> 4] + kHex[u & 15];
}

// Checks shared to commands and the hello: no raw NUL, no raw LF.
std::optional<ProtocolError> checkRawLine(std::string_view line) {
    if (line.find('\0') != std::string_view::npos) return fail("NUL byte in line");
    if (line.find('\n') != std::string_view::npos) return fail("LF inside line");
    return std::nullopt;
}

std::optional<ProtocolError> checkNoNulFields(const char* cmd,
                                              const std::vector<std::string>& fields) {
    for (const auto& f : fields) {
        if (f.find('\0') != std::string::npos)
            return fail(std::string(cmd) + ": escaped NUL in field");
    }
    return std::nullopt;
}

std::optional<ProtocolError> checkKey(const char* cmd, const char* what, std::string_view key,
                                      std::size_t max) {
    if (key.size() > max) {
        return fail(std::string(cmd) + ": " + what + " longer than " + std::to_string(max) +
                    " bytes");
    }
    if (!startsWith(key, kSharedPrefix) && !startsWith(key, kPrivatePrefix)) {
        return fail(std::string(cmd) + ": " + what + " must start with shared/ or priv/");
    }
    return std::nullopt;
}

std::optional<ProtocolError> checkUser(const char* cmd, std::string_view user, std::size_t max) {
    if (user.size() > max) {
        return fail(std::string(cmd) + ": user longer than " + std::to_string(max) + " bytes");
    }
    return std::nullopt;
}

ProtocolError fieldCountError(const char* cmd, const char* want, std::size_t got) {
    return fail(std::string(cmd) + ": expected " + want + ", got " + std::to_string(got));
}

ProtocolError invalidNumber(const char* cmd, const char* what) {
    return fail(std::string(cmd) + ": invalid " + what);
}

std::variant<Command, ProtocolError> parseFields(char letter, std::vector<std::string>& f,
                                                 const DictLimits& limits, int major) {
    const auto user_at = [&f](std::size_t i) {
        return i < f.size() ? std::move(f[i]) : std::string();
    };
    switch (letter) {
        case 'L': {
            if (f.empty()) return fieldCountError("lookup", "at least 1 field", f.size());
            if (auto e = checkKey("lookup", "key", f[0], limits.max_key_bytes)) return *e;
            Lookup cmd{std::move(f[0]), user_at(1)};
            if (auto e = checkUser("lookup", cmd.user, limits.max_user_bytes)) return *e;
            return cmd;
        }
        case 'I': {
            if (f.size() < 3) return fieldCountError("iterate", "at least 3 fields", f.size());
            const auto flags = parseUnsignedField<std::uint32_t>(f[0]);
            if (!flags) return invalidNumber("iterate", "flags");
            const auto max_rows = parseUnsignedField<std::uint64_t>(f[1]);
            if (!max_rows) return invalidNumber("iterate", "max rows");
            if (auto e = checkKey("iterate", "path", f[2], limits.max_key_bytes)) return *e;
            Iterate cmd{*flags, *max_rows, std::move(f[2]), user_at(3)};
            if (auto e = checkUser("iterate", cmd.user, limits.max_user_bytes)) return *e;
            return cmd;
        }
        case 'B': {
            if (f.empty()) return fieldCountError("begin", "at least 1 field", f.size());
            const auto id = parseUnsignedField<std::uint32_t>(f[0]);
            if (!id) return invalidNumber("begin", "transaction id");
            Begin cmd{*id, user_at(1), std::nullopt};
            if (auto e = checkUser("begin", cmd.user, limits.max_user_bytes)) return *e;
            if (major >= 4 && f.size() >= 3) {
                const auto expire = parseUnsignedField<std::uint32_t>(f[2]);
                if (!expire) return invalidNumber("begin", "expire secs");
                cmd.expire_secs = *expire;
            }
            return cmd;
        }
        case 'S': {
            if (f.size() != 3) return fieldCountError("set", "3 fields", f.size());
            const auto id = parseUnsignedField<std::uint32_t>(f[0]);
            if (!id) return invalidNumber("set", "transaction id");
            if (auto e = checkKey("set", "key", f[1], limits.max_key_bytes)) return *e;
            if (f[2].size() > limits.max_value_bytes) {
                return fail("set: value longer than " + std::to_string(limits.max_value_bytes) +
                            " bytes");
            }
            return Set{*id, std::move(f[1]), std::move(f[2])};
        }
        case 'U': {
            if (f.size() != 2) return fieldCountError("unset", "2 fields", f.size());
            const auto id = parseUnsignedField<std::uint32_t>(f[0]);
            if (!id) return invalidNumber("unset", "transaction id");
            if (auto e = checkKey("unset", "key", f[1], limits.max_key_bytes)) return *e;
            return Unset{*id, std::move(f[1])};
        }
        case 'A': {
            if (f.size() != 3) return fieldCountError("atomic_inc", "3 fields", f.size());
            const auto id = parseUnsignedField<std::uint32_t>(f[0]);
            if (!id) return invalidNumber("atomic_inc", "transaction id");
            if (auto e = checkKey("atomic_inc", "key", f[1], limits.max_key_bytes)) return *e;
            const auto diff = parseSignedField(f[2]);
            if (!diff) return invalidNumber("atomic_inc", "diff");
            return AtomicInc{*id, std::move(f[1]), *diff};
        }
        case 'T': {
            if (f.size() != 3) return fieldCountError("timestamp", "3 fields", f.size());
            const auto id = parseUnsignedField<std::uint32_t>(f[0]);
            if (!id) return invalidNumber("timestamp", "transaction id");
            const auto secs = parseSignedField(f[1]);
            if (!secs) return invalidNumber("timestamp", "secs");
            const auto nsecs = parseUnsignedField<std::uint32_t>(f[2]);
            if (!nsecs || *nsecs >= kNsecsPerSec) return invalidNumber("timestamp", "nsecs");
            return Timestamp{*id, *secs, *nsecs};
        }
        case 'C':
        case 'D': {
            const char* name = letter == 'C' ? "commit" : "async commit";
            if (f.empty()) return fieldCountError(name, "at least 1 field", f.size());
            const auto id = parseUnsignedField<std::uint32_t>(f[0]);
            if (!id) return invalidNumber(name, "transaction id");
            return Commit{*id, letter == 'D'};
        }
        case 'R': {
            if (f.empty()) return fieldCountError("rollback", "at least 1 field", f.size());
            const auto id = parseUnsignedField<std::uint32_t>(f[0]);
            if (!id) return invalidNumber("rollback", "transaction id");
            return Rollback{*id};
        }
        case 'H': return fail("unexpected hello after the first line");
        default: return fail("unknown command " + describeByte(letter));
    }
}

void appendEscaped(std::string& out, std::string_view raw) {
    for (char c : raw) {
        switch (c) {
            case '\0':
                out +=
                    "\001"
                    "0";
                break;
            case '\001':
                out +=
                    "\001"
                    "1";
                break;
            case '\t':
                out +=
                    "\001"
                    "t";
                break;
            case '\r':
                out +=
                    "\001"
                    "r";
                break;
            case '\n':
                out +=
                    "\001"
                    "n";
                break;
            default: out += c; break;
        }
    }
}

std::string withCode(char code, std::string_view raw) {
    std::string out;
    out.reserve(raw.size() + 2);
    out += code;
    appendEscaped(out, raw);
    out += '\n';
    return out;
}

}  // namespace

std::string escape(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    appendEscaped(out, raw);
    return out;
}

std::string unescape(std::string_view field) {
    std::string out;
    out.reserve(field.size());
    for (std::size_t i = 0; i < field.size(); ++i) {
        const char c = field[i];
        if (c != kEscapeByte) {
            out += c;
            continue;
        }
        if (++i == field.size()) break;  // lone trailing \001: dropped
        switch (field[i]) {
            case '0': out += '\0'; break;
            case '1': out += '\001'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            case 'n': out += '\n'; break;
            default: out += field[i]; break;
        }
    }
    return out;
}

std::vector<std::string> splitFields(std::string_view line) {
    std::vector<std::string> fields;
    if (line.empty()) return fields;
    for (;;) {
        const std::size_t tab = line.find('\t');
        fields.push_back(unescape(line.substr(0, tab)));
        if (tab == std::string_view::npos) break;
        line.remove_prefix(tab + 1);
    }
    return fields;
}

std::size_t recommendedMaxLineBytes(const DictLimits& limits) {
    constexpr std::size_t kU32Digits = 10;
    constexpr std::size_t kU64Digits = 20;
    const std::size_t key = 2 * limits.max_key_bytes;
    const std::size_t user = 2 * limits.max_user_bytes;
    const std::size_t set = 1 + kU32Digits + 1 + key + 1 + 2 * limits.max_value_bytes;
    const std::size_t iterate = 1 + kU32Digits + 1 + kU64Digits + 1 + key + 1 + user;
    const std::size_t lookup = 1 + key + 1 + user;
    return std::max({std::size_t{64 * 1024}, set, iterate, lookup});
}

const char* commandName(const Command& cmd) noexcept {
    struct Namer {
        const char* operator()(const Lookup&) const { return "lookup"; }
        const char* operator()(const Iterate&) const { return "iterate"; }
        const char* operator()(const Begin&) const { return "begin"; }
        const char* operator()(const Set&) const { return "set"; }
        const char* operator()(const Unset&) const { return "unset"; }
        const char* operator()(const AtomicInc&) const { return "atomic_inc"; }
        const char* operator()(const Timestamp&) const { return "timestamp"; }
        const char* operator()(const Commit&) const { return "commit"; }
        const char* operator()(const Rollback&) const { return "rollback"; }
    };
    return std::visit(Namer{}, cmd);
}

std::variant<Hello, ProtocolError> parseHello(std::string_view line, const DictLimits& limits) {
    if (line.empty()) return fail("hello: empty line");
    if (auto e = checkRawLine(line)) return *e;
    if (line.front() != 'H')
        return fail("expected hello, got command " + describeByte(line.front()));
    auto f = splitFields(line.substr(1));
    if (f.size() < 5) return fieldCountError("hello", "at least 5 fields", f.size());
    if (auto e = checkNoNulFields("hello", f)) return *e;
    const auto major = parseUnsignedField<std::uint32_t>(f[0]);
    if (!major) return invalidNumber("hello", "major version");
    if (*major != 3 && *major != 4) {
        return fail("hello: unsupported protocol major version " + std::to_string(*major) +
                    " (want 3 or 4)");
    }
    const auto minor = parseUnsignedField<std::uint32_t>(f[1]);
    if (!minor) return invalidNumber("hello", "minor version");
    const auto value_type = parseUnsignedField<std::uint32_t>(f[2]);
    if (!value_type || *value_type > 1) return invalidNumber("hello", "value type");
    if (auto e = checkUser("hello", f[3], limits.max_user_bytes)) return *e;
    return Hello{static_cast<int>(*major), *minor, *value_type, std::move(f[3]), std::move(f[4])};
}

std::variant<Command, ProtocolError> parseCommand(std::string_view line, const DictLimits& limits,
                                                  int major) {
    if (major != 3 && major != 4) {
        return fail("unsupported protocol major version " + std::to_string(major));
    }
    if (line.empty()) return fail("empty line");
    if (auto e = checkRawLine(line)) return *e;
    auto fields = splitFields(line.substr(1));
    for (const auto& f : fields) {
        if (f.find('\0') != std::string::npos) {
            return fail("command " + describeByte(line.front()) + ": escaped NUL in field");
        }
    }
    return parseFields(line.front(), fields, limits, major);
}

std::string encodeLookupFound(std::string_view value) { return withCode('O', value); }

std::string encodeLookupMulti(const std::vector<std::string>& values) {
    std::string joined;
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i != 0) joined += '\t';
        appendEscaped(joined, values[i]);
    }
    return withCode('M', joined);
}

std::string encodeNotFound() { return "N\n"; }

std::string encodeFail(std::string_view message) { return withCode('F', message); }

std::string encodeIterRow(std::string_view key, std::string_view value) {
    std::string out;
    out.reserve(key.size() + value.size() + 3);
    out += 'O';
    appendEscaped(out, key);
    out += '\t';
    appendEscaped(out, value);
    out += '\n';
    return out;
}

std::string encodeIterEnd() { return "\n"; }

std::string encodeIterFail(std::string_view message) { return withCode('F', message); }

std::string encodeCommit(CommitResult result, std::uint32_t id, std::string_view message,
                         bool async) {
    std::string out;
    if (async) out += 'A';
    switch (result) {
        case CommitResult::Ok: out += 'O'; break;
        case CommitResult::NotFound: out += 'N'; break;
        case CommitResult::Failed: out += 'F'; break;
        case CommitResult::WriteUncertain: out += 'W'; break;
    }
    out += std::to_string(id);
    if (result == CommitResult::Failed || result == CommitResult::WriteUncertain) {
        out += '\t';
        appendEscaped(out, message);
    }
    out += '\n';
    return out;
}

std::string encodeCommand(const Command& cmd) {
    struct Encoder {
        std::string out;
        void field(std::string_view raw) {
            out += '\t';
            appendEscaped(out, raw);
        }
        void number(unsigned long long n) { out += std::to_string(n); }
        void operator()(const Lookup& c) {
            out += 'L';
            appendEscaped(out, c.key);
            field(c.user);
        }
        void operator()(const Iterate& c) {
            out += 'I';
            number(c.flags);
            out += '\t';
            number(c.max_rows);
            field(c.path);
            field(c.user);
        }
        void operator()(const Begin& c) {
            out += 'B';
            number(c.id);
            field(c.user);
            if (c.expire_secs) {
                out += '\t';
                number(*c.expire_secs);
            }
        }
        void operator()(const Set& c) {
            out += 'S';
            number(c.id);
            field(c.key);
            field(c.value);
        }
        void operator()(const Unset& c) {
            out += 'U';
            number(c.id);
            field(c.key);
        }
        void operator()(const AtomicInc& c) {
            out += 'A';
            number(c.id);
            field(c.key);
            out += '\t';
            out += std::to_string(c.diff);
        }
        void operator()(const Timestamp& c) {
            out += 'T';
            number(c.id);
            out += '\t';
            out += std::to_string(c.secs);
            out += '\t';
            number(c.nsecs);
        }
        void operator()(const Commit& c) {
            out += c.async ? 'D' : 'C';
            number(c.id);
        }
        void operator()(const Rollback& c) {
            out += 'R';
            number(c.id);
        }
    };
    Encoder enc;
    std::visit(enc, cmd);
    enc.out += '\n';
    return std::move(enc.out);
}

std::string encodeHello(const Hello& hello) {
    std::string out = "H";
    out += std::to_string(hello.major);
    out += '\t';
    out += std::to_string(hello.minor);
    out += '\t';
    out += std::to_string(hello.value_type);
    out += '\t';
    appendEscaped(out, hello.user);
    out += '\t';
    appendEscaped(out, hello.dict_name);
    out += '\n';
    return out;
}

std::variant<Reply, ProtocolError> parseReply(std::string_view line) {
    Reply reply;
    if (line.empty()) {
        reply.kind = ReplyKind::IterEnd;
        return reply;
    }
    if (auto e = checkRawLine(line)) return *e;
    if (line.front() == 'A') {
        reply.async = true;
        line.remove_prefix(1);
        if (line.empty()) return fail("reply: async commit prefix without a code");
    }
    switch (line.front()) {
        case 'O': reply.kind = ReplyKind::Ok; break;
        case 'M': reply.kind = ReplyKind::Multi; break;
        case 'N': reply.kind = ReplyKind::NotFound; break;
        case 'F': reply.kind = ReplyKind::Fail; break;
        case 'W': reply.kind = ReplyKind::WriteUncertain; break;
        case '*':
        case '+': return fail("reply: async reply ids are not supported");
        default: return fail("reply: unknown code " + describeByte(line.front()));
    }
    if (reply.async && reply.kind == ReplyKind::Multi) {
        return fail("reply: async prefix on a multi-value reply");
    }
    const std::string_view rest = line.substr(1);
    if (rest.empty()) {
        reply.fields.emplace_back();
    } else {
        reply.fields = splitFields(rest);
    }
    if (reply.kind == ReplyKind::Multi) reply.values = splitFields(reply.fields.front());
    return reply;
}

}  // namespace titan::proto::dict
