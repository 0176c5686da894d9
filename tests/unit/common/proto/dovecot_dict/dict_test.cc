#include "common/proto/dovecot_dict/dict.h"

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <vector>

#include "common/proto/line_framer.h"

using namespace titan::proto;
using namespace titan::proto::dict;
using namespace std::string_literals;

namespace {

// Bytes made readable for failure messages.
std::string visible(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\n')
            out += "\\n";
        else if (c == '\r')
            out += "\\r";
        else if (c == '\t')
            out += "\\t";
        else if (u < 0x20 || u >= 0x7f) {
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 15];
        } else
            out += c;
    }
    return out;
}

std::string describe(const Command& cmd) {
    return std::string(commandName(cmd)) + " " + visible(encodeCommand(cmd));
}

std::string describe(const std::variant<Command, ProtocolError>& r) {
    if (const auto* e = std::get_if<ProtocolError>(&r)) return "ProtocolError{" + e->reason + "}";
    return describe(std::get<Command>(r));
}

std::string describe(const std::variant<Hello, ProtocolError>& r) {
    if (const auto* e = std::get_if<ProtocolError>(&r)) return "ProtocolError{" + e->reason + "}";
    return "Hello " + visible(encodeHello(std::get<Hello>(r)));
}

std::string describe(const std::variant<Reply, ProtocolError>& r) {
    if (const auto* e = std::get_if<ProtocolError>(&r)) return "ProtocolError{" + e->reason + "}";
    const auto& reply = std::get<Reply>(r);
    std::string out = "Reply{kind=" + std::to_string(static_cast<int>(reply.kind)) +
                      (reply.async ? " async" : "") + " fields=[";
    for (const auto& f : reply.fields) out += "\"" + visible(f) + "\" ";
    out += "] values=[";
    for (const auto& v : reply.values) out += "\"" + visible(v) + "\" ";
    return out + "]}";
}

const DictLimits kDefaults{};

// Every byte value except NUL, plus the multi-byte, invalid UTF-8 and SQL cases.
std::string allBytesButNul() {
    std::string s;
    for (int b = 1; b < 256; ++b) s += static_cast<char>(b);
    return s;
}

const std::string kNasty = "a\tb\nc\rd\001e\001\001f\001tg\\h'i\"j;k%l_m\xff\xfe\xc3(\xe2\x82\xac";

}  // namespace

// ---- escaping ------------------------------------------------------------------------

TEST_CASE("escape and unescape: every special byte", "[codec]") {
    struct Case {
        const char* name;
        std::string raw;
        std::string wire;
    };
    const Case cases[] = {
        {"empty", "", ""},
        {"plain", "bob@example.com", "bob@example.com"},
        {"NUL", "a\0b"s,
         "a\001"
         "0b"},
        {"SOH", "a\001b",
         "a\001"
         "1b"},
        {"TAB", "a\tb", "a\001tb"},
        {"CR", "a\rb", "a\001rb"},
        {"LF", "a\nb", "a\001nb"},
        {"all five", "\0\001\t\r\n"s,
         "\001"
         "0\001"
         "1\001t\001r\001n"},
        {"backslash, quotes, equals untouched", "\\'\"=%_;", "\\'\"=%_;"},
        {"invalid UTF-8 untouched", "\xff\xc3(\xed\xa0\x80", "\xff\xc3(\xed\xa0\x80"},
        {"DEL and 0x02 untouched", "\x7f\x02", "\x7f\x02"},
    };
    for (const auto& c : cases) {
        INFO(c.name << ": got " << visible(escape(c.raw)) << ", want " << visible(c.wire));
        CHECK(escape(c.raw) == c.wire);
        CHECK(unescape(c.wire) == c.raw);
    }
}

TEST_CASE("unescape: lenient decoding of other escapes", "[codec]") {
    struct Case {
        const char* name;
        std::string wire;
        std::string want;
    };
    const Case cases[] = {
        {"\\001X gives X", "a\001xb", "axb"},
        {"\\001 before a digit other than 0/1", "\0012", "2"},
        {"\\001 before \\001", "\001\001", "\001"},
        {"\\001 before upper-case T", "\001T", "T"},
        {"lone trailing \\001 dropped", "abc\001", "abc"},
        {"only \\001", "\001", ""},
        {"escaped SOH then trailing",
         "\001"
         "1\001",
         "\001"},
        {"no escapes", "shared/x", "shared/x"},
    };
    for (const auto& c : cases) {
        INFO(c.name << ": got " << visible(unescape(c.wire)) << ", want " << visible(c.want));
        CHECK(unescape(c.wire) == c.want);
    }
}

TEST_CASE("escape: every byte value round-trips and no separator survives", "[codec]") {
    std::string all;
    for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
    const std::string wire = escape(all);
    CHECK(unescape(wire) == all);
    for (char forbidden : {'\0', '\t', '\n', '\r'}) {
        CHECK(wire.find(forbidden) == std::string::npos);
    }
    CHECK(splitFields(wire) == std::vector<std::string>{all});
}

TEST_CASE("splitFields: raw TAB first, then unescape", "[codec]") {
    struct Case {
        const char* name;
        std::string in;
        std::vector<std::string> want;
    };
    const Case cases[] = {
        {"empty is zero fields", "", {}},
        {"one field", "a", {"a"}},
        {"lone TAB is two empty fields", "\t", {"", ""}},
        {"trailing TAB", "a\t", {"a", ""}},
        {"three empty", "\t\t", {"", "", ""}},
        {"escaped TAB stays inside", "a\001tb\tc", {"a\tb", "c"}},
        {"\\001 before a raw TAB is a lone trailing escape", "a\001\tb", {"a", "b"}},
        {"escaped LF and NUL",
         "\001n\t\001"
         "0",
         {"\n", "\0"s}},
        {"CR is data", "a\r\tb\r", {"a\r", "b\r"}},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        CHECK(splitFields(c.in) == c.want);
    }
}

// ---- hello ---------------------------------------------------------------------------

TEST_CASE("parseHello: valid forms", "[codec]") {
    struct Case {
        const char* name;
        std::string in;
        Hello want;
    };
    const Case cases[] = {
        {"2.3.19 client", "H3\t2\t0\t\tquota", Hello{3, 2, 0, "", "quota"}},
        {"2.4 client", "H4\t0\t0\t\tquota", Hello{4, 0, 0, "", "quota"}},
        {"uint32 value type", "H3\t2\t1\t\tauth", Hello{3, 2, 1, "", "auth"}},
        {"user and escaped name", "H3\t0\t0\tbob\tmy\001tdict", Hello{3, 0, 0, "bob", "my\tdict"}},
        {"empty dict name", "H3\t2\t0\t\t", Hello{3, 2, 0, "", ""}},
        {"extra fields ignored", "H3\t2\t0\t\tquota\textra\tmore", Hello{3, 2, 0, "", "quota"}},
        {"leading zeros", "H03\t002\t0\t\tq", Hello{3, 2, 0, "", "q"}},
        {"CR is data", "H3\t2\t0\t\tquota\r", Hello{3, 2, 0, "", "quota\r"}},
        {"large minor", "H3\t4294967295\t0\t\tq", Hello{3, 4294967295u, 0, "", "q"}},
    };
    for (const auto& c : cases) {
        const auto got = parseHello(c.in);
        INFO(c.name << ": got " << describe(got));
        REQUIRE(std::holds_alternative<Hello>(got));
        CHECK(std::get<Hello>(got) == c.want);
    }
}

TEST_CASE("parseHello: each error", "[codec]") {
    struct Case {
        const char* name;
        std::string in;
        std::string reason;  // substring of the expected reason
    };
    const Case cases[] = {
        {"empty line", "", "empty"},
        {"not a hello", "Lshared/x\tbob", "expected hello, got command 'L'"},
        {"bare H", "H", "at least 5 fields, got 0"},
        {"four fields", "H3\t2\t0\t", "at least 5 fields, got 4"},
        {"major 2 (2.3.16 and older)", "H2\t1\t0\tbob\tquota",
         "unsupported protocol major version 2"},
        {"major 5", "H5\t0\t0\t\tquota", "major version 5 (want 3 or 4)"},
        {"major with sign", "H+3\t2\t0\t\tquota", "invalid major version"},
        {"major with space", "H 3\t2\t0\t\tquota", "invalid major version"},
        {"empty major", "H\t2\t0\t\tquota", "invalid major version"},
        {"major overflow", "H4294967299\t2\t0\t\tquota", "invalid major version"},
        {"negative minor", "H3\t-1\t0\t\tquota", "invalid minor version"},
        {"minor overflow", "H3\t4294967296\t0\t\tquota", "invalid minor version"},
        {"value type 2", "H3\t2\t2\t\tquota", "invalid value type"},
        {"empty value type", "H3\t2\t\t\tquota", "invalid value type"},
        {"raw NUL", "H3\t2\t0\t\tquo\0ta"s, "NUL byte"},
        {"escaped NUL",
         "H3\t2\t0\t\tquo\001"
         "0ta",
         "escaped NUL"},
        {"raw LF", "H3\t2\t0\t\tquota\nLx", "LF inside line"},
    };
    for (const auto& c : cases) {
        const auto got = parseHello(c.in);
        INFO(c.name << ": got " << describe(got) << ", want reason containing " << c.reason);
        REQUIRE(std::holds_alternative<ProtocolError>(got));
        CHECK_THAT(std::get<ProtocolError>(got).reason, Catch::Contains(c.reason));
    }
}

TEST_CASE("parseHello: user limit at -1/0/+1", "[codec]") {
    const DictLimits limits{16, 16, 8};
    for (std::size_t n : {7u, 8u, 9u}) {
        INFO("user bytes " << n);
        const auto got = parseHello("H3\t2\t0\t" + std::string(n, 'u') + "\tquota", limits);
        CHECK(std::holds_alternative<Hello>(got) == (n <= 8));
    }
    const auto at_default = parseHello("H3\t2\t0\t" + std::string(512, 'u') + "\tq");
    CHECK(std::holds_alternative<Hello>(at_default));
    const auto over_default = parseHello("H3\t2\t0\t" + std::string(513, 'u') + "\tq");
    CHECK(std::holds_alternative<ProtocolError>(over_default));
}

// ---- commands ------------------------------------------------------------------------

TEST_CASE("parseCommand: every valid form", "[codec]") {
    struct Case {
        const char* name;
        std::string in;
        int major;
        Command want;
    };
    const Case cases[] = {
        {"lookup", "Lpriv/quota/storage\tbob@example.com", 3,
         Lookup{"priv/quota/storage", "bob@example.com"}},
        {"lookup without user field", "Lshared/passdb/bob", 3, Lookup{"shared/passdb/bob", ""}},
        {"lookup with empty user", "Lshared/passdb/bob\t", 3, Lookup{"shared/passdb/bob", ""}},
        {"lookup extra fields ignored", "Lshared/k\tbob\textra", 3, Lookup{"shared/k", "bob"}},
        {"lookup escaped key", "Lshared/a\001tb\001nc\tbo\001tb", 3,
         Lookup{"shared/a\tb\nc", "bo\tb"}},
        {"lookup major 4", "Lpriv/x\tbob", 4, Lookup{"priv/x", "bob"}},
        {"lookup bare prefix", "Lshared/", 3, Lookup{"shared/", ""}},
        {"lookup key is unescaped before the prefix check", "L\001shared/x", 3,
         Lookup{"shared/x", ""}},
        {"iterate userdb", "I0\t0\tshared/userdb/\t", 3, Iterate{0, 0, "shared/userdb/", ""}},
        {"iterate without user", "I1\t10\tpriv/", 3, Iterate{1, 10, "priv/", ""}},
        {"iterate all flags, max u64", "I63\t18446744073709551615\tpriv/a\tbob", 3,
         Iterate{63, 18446744073709551615ULL, "priv/a", "bob"}},
        {"iterate unknown flag bits passed", "I4294967295\t0\tshared/\tx", 3,
         Iterate{4294967295u, 0, "shared/", "x"}},
        {"iterate extra fields ignored", "I2\t5\tshared/p\tu\tmore", 3,
         Iterate{2, 5, "shared/p", "u"}},
        {"begin", "B1\tbob@example.com", 3, Begin{1, "bob@example.com", std::nullopt}},
        {"begin without user", "B7", 3, Begin{7, "", std::nullopt}},
        {"begin max id", "B4294967295\tbob", 3, Begin{4294967295u, "bob", std::nullopt}},
        {"begin id 0", "B0\t", 3, Begin{0, "", std::nullopt}},
        {"begin major 3 ignores third field", "B1\tbob\tgarbage", 3, Begin{1, "bob", std::nullopt}},
        {"begin major 4 expire", "B1\tuser@example.test\t0", 4, Begin{1, "user@example.test", 0u}},
        {"begin major 4 expire max", "B2\tu\t4294967295", 4, Begin{2, "u", 4294967295u}},
        {"begin major 4 without expire", "B3\tu", 4, Begin{3, "u", std::nullopt}},
        {"begin major 4 extra ignored", "B3\tu\t60\tx", 4, Begin{3, "u", 60u}},
        {"set", "S1\tpriv/quota/storage\t1050926", 3, Set{1, "priv/quota/storage", "1050926"}},
        {"set empty value", "S1\tshared/k\t", 3, Set{1, "shared/k", ""}},
        {"set escaped value",
         "S9\tshared/k\ta\001tb\001nc\001rd\001"
         "1e",
         3, Set{9, "shared/k", "a\tb\nc\rd\001e"}},
        {"set JSON value", "S1\tshared/passdb/bob\t{\"password\":\"{PLAIN}x\"}", 3,
         Set{1, "shared/passdb/bob", "{\"password\":\"{PLAIN}x\"}"}},
        {"unset", "U2\tpriv/quota/storage", 3, Unset{2, "priv/quota/storage"}},
        {"atomic inc", "A1\tpriv/quota/storage\t2350", 3, AtomicInc{1, "priv/quota/storage", 2350}},
        {"atomic dec", "A1\tpriv/quota/messages\t-1", 3, AtomicInc{1, "priv/quota/messages", -1}},
        {"atomic zero", "A1\tpriv/x\t0", 3, AtomicInc{1, "priv/x", 0}},
        {"atomic minus zero", "A1\tpriv/x\t-0", 3, AtomicInc{1, "priv/x", 0}},
        {"atomic min", "A1\tpriv/x\t-9223372036854775808", 3,
         AtomicInc{1, "priv/x", -9223372036854775807LL - 1}},
        {"atomic max", "A1\tpriv/x\t9223372036854775807", 3,
         AtomicInc{1, "priv/x", 9223372036854775807LL}},
        {"timestamp", "T1\t1700000000\t120450", 3, Timestamp{1, 1700000000, 120450}},
        {"timestamp negative secs", "T1\t-5\t0", 3, Timestamp{1, -5, 0}},
        {"timestamp max nsecs", "T1\t0\t999999999", 3, Timestamp{1, 0, 999999999}},
        {"commit", "C1", 3, Commit{1, false}},
        {"commit extra ignored", "C1\tx", 3, Commit{1, false}},
        {"async commit", "D5", 3, Commit{5, true}},
        {"rollback", "R3", 3, Rollback{3}},
        {"rollback major 4", "R3", 4, Rollback{3}},
        {"leading zeros in id", "C007", 3, Commit{7, false}},
    };
    for (const auto& c : cases) {
        const auto got = parseCommand(c.in, kDefaults, c.major);
        INFO(c.name << ": got " << describe(got) << ", want " << describe(c.want));
        REQUIRE(std::holds_alternative<Command>(got));
        CHECK(std::get<Command>(got) == c.want);
    }
}

TEST_CASE("parseCommand: each error", "[codec]") {
    struct Case {
        const char* name;
        std::string in;
        int major;
        std::string reason;  // substring of the expected reason
    };
    const Case cases[] = {
        {"empty line", "", 3, "empty line"},
        {"unknown letter", "Xfoo", 3, "unknown command 'X'"},
        {"unknown V (2.3.20+)", "V1\tyes", 4, "unknown command 'V'"},
        {"unknown P (removed)", "P1\tshared/k\tv", 3, "unknown command 'P'"},
        {"lower-case letter", "lshared/k", 3, "unknown command 'l'"},
        {"control letter", "\x07shared/k", 3, "unknown command 0x07"},
        {"high letter", "\xc3shared/k", 3, "unknown command 0xc3"},
        {"TAB as letter", "\tshared/k", 3, "unknown command 0x09"},
        {"hello again", "H3\t2\t0\t\tquota", 3, "unexpected hello"},
        {"unsupported major", "C1", 2, "major version 2"},
        {"raw NUL", "Lshared/a\0b\tbob"s, 3, "NUL byte"},
        {"raw NUL as letter", "\0shared/x"s, 3, "NUL byte"},
        {"escaped NUL in key",
         "Lshared/a\001"
         "0b\tbob",
         3, "escaped NUL"},
        {"escaped NUL in value",
         "S1\tshared/k\tv\001"
         "0",
         3, "escaped NUL"},
        {"raw LF", "C1\nC2", 3, "LF inside line"},
        {"lookup without fields", "L", 3, "lookup: expected at least 1 field, got 0"},
        {"lookup empty key", "L\tbob", 3, "must start with shared/ or priv/"},
        {"lookup bad prefix", "Lprivate/x\tbob", 3, "must start with shared/ or priv/"},
        {"lookup prefix without slash", "Lshared\tbob", 3, "must start with shared/ or priv/"},
        {"lookup upper-case prefix", "LShared/x\tbob", 3, "must start with shared/ or priv/"},
        {"iterate two fields", "I0\t0", 3, "iterate: expected at least 3 fields, got 2"},
        {"iterate bad flags", "Ix\t0\tshared/", 3, "iterate: invalid flags"},
        {"iterate negative flags", "I-1\t0\tshared/", 3, "iterate: invalid flags"},
        {"iterate flags overflow", "I4294967296\t0\tshared/", 3, "iterate: invalid flags"},
        {"iterate bad max rows", "I0\t+1\tshared/", 3, "iterate: invalid max rows"},
        {"iterate max rows overflow", "I0\t18446744073709551616\tshared/", 3, "invalid max rows"},
        {"iterate bad path", "I0\t0\tuserdb/", 3, "iterate: path must start"},
        {"begin without fields", "B", 3, "begin: expected at least 1 field, got 0"},
        {"begin empty id", "B\tbob", 3, "begin: invalid transaction id"},
        {"begin signed id", "B+1\tbob", 3, "begin: invalid transaction id"},
        {"begin negative id", "B-1\tbob", 3, "begin: invalid transaction id"},
        {"begin id with space", "B 1\tbob", 3, "begin: invalid transaction id"},
        {"begin id trailing space", "B1 \tbob", 3, "begin: invalid transaction id"},
        {"begin id overflow", "B4294967296\tbob", 3, "begin: invalid transaction id"},
        {"begin hex id", "B0x1\tbob", 3, "begin: invalid transaction id"},
        {"begin major 4 bad expire", "B1\tbob\tsoon", 4, "begin: invalid expire secs"},
        {"begin major 4 empty expire", "B1\tbob\t", 4, "begin: invalid expire secs"},
        {"begin major 4 negative expire", "B1\tbob\t-1", 4, "begin: invalid expire secs"},
        {"set two fields", "S1\tshared/k", 3, "set: expected 3 fields, got 2"},
        {"set four fields", "S1\tshared/k\tv\tw", 3, "set: expected 3 fields, got 4"},
        {"set bad id", "Sx\tshared/k\tv", 3, "set: invalid transaction id"},
        {"set bad key", "S1\tk\tv", 3, "set: key must start"},
        {"unset one field", "U1", 3, "unset: expected 2 fields, got 1"},
        {"unset three fields", "U1\tshared/k\tv", 3, "unset: expected 2 fields, got 3"},
        {"unset bad key", "U1\tx", 3, "unset: key must start"},
        {"atomic two fields", "A1\tpriv/x", 3, "atomic_inc: expected 3 fields, got 2"},
        {"atomic four fields", "A1\tpriv/x\t1\t2", 3, "atomic_inc: expected 3 fields, got 4"},
        {"atomic plus sign", "A1\tpriv/x\t+1", 3, "atomic_inc: invalid diff"},
        {"atomic empty diff", "A1\tpriv/x\t", 3, "atomic_inc: invalid diff"},
        {"atomic lone minus", "A1\tpriv/x\t-", 3, "atomic_inc: invalid diff"},
        {"atomic space", "A1\tpriv/x\t 1", 3, "atomic_inc: invalid diff"},
        {"atomic fraction", "A1\tpriv/x\t1.5", 3, "atomic_inc: invalid diff"},
        {"atomic overflow", "A1\tpriv/x\t9223372036854775808", 3, "atomic_inc: invalid diff"},
        {"atomic underflow", "A1\tpriv/x\t-9223372036854775809", 3, "atomic_inc: invalid diff"},
        {"atomic bad id", "A-1\tpriv/x\t1", 3, "atomic_inc: invalid transaction id"},
        {"atomic bad key", "A1\tquota\t1", 3, "atomic_inc: key must start"},
        {"timestamp two fields", "T1\t0", 3, "timestamp: expected 3 fields, got 2"},
        {"timestamp bad secs", "T1\tnow\t0", 3, "timestamp: invalid secs"},
        {"timestamp negative nsecs", "T1\t0\t-1", 3, "timestamp: invalid nsecs"},
        {"timestamp nsecs one second", "T1\t0\t1000000000", 3, "timestamp: invalid nsecs"},
        {"commit without id", "C", 3, "commit: expected at least 1 field, got 0"},
        {"commit empty id", "C\t", 3, "commit: invalid transaction id"},
        {"commit signed id", "C-1", 3, "commit: invalid transaction id"},
        {"async commit bad id", "Dx", 3, "async commit: invalid transaction id"},
        {"rollback without id", "R", 3, "rollback: expected at least 1 field, got 0"},
        {"rollback overflow", "R99999999999", 3, "rollback: invalid transaction id"},
    };
    for (const auto& c : cases) {
        const auto got = parseCommand(c.in, kDefaults, c.major);
        INFO(c.name << ": got " << describe(got) << ", want reason containing " << c.reason);
        REQUIRE(std::holds_alternative<ProtocolError>(got));
        CHECK_THAT(std::get<ProtocolError>(got).reason, Catch::Contains(c.reason));
    }
}

TEST_CASE("parseCommand: key, value and user limits at -1/0/+1", "[codec]") {
    const DictLimits limits{32, 48, 8};
    // A key of exactly n bytes, prefix included.
    const auto key = [](std::size_t n) { return "priv/" + std::string(n - 5, 'k'); };
    struct Case {
        const char* name;
        std::size_t limit;
        std::function<std::string(std::size_t)> line;
    };
    const Case cases[] = {
        {"lookup key", 32, [&](std::size_t n) { return "L" + key(n) + "\tbob"; }},
        {"iterate path", 32, [&](std::size_t n) { return "I0\t0\t" + key(n) + "\tbob"; }},
        {"set key", 32, [&](std::size_t n) { return "S1\t" + key(n) + "\tv"; }},
        {"unset key", 32, [&](std::size_t n) { return "U1\t" + key(n); }},
        {"atomic key", 32, [&](std::size_t n) { return "A1\t" + key(n) + "\t1"; }},
        {"set value", 48, [](std::size_t n) { return "S1\tpriv/k\t" + std::string(n, 'v'); }},
        {"lookup user", 8, [](std::size_t n) { return "Lpriv/k\t" + std::string(n, 'u'); }},
        {"iterate user", 8, [](std::size_t n) { return "I0\t0\tpriv/\t" + std::string(n, 'u'); }},
        {"begin user", 8, [](std::size_t n) { return "B1\t" + std::string(n, 'u'); }},
    };
    for (const auto& c : cases) {
        for (std::size_t n : {c.limit - 1, c.limit, c.limit + 1}) {
            const auto got = parseCommand(c.line(n), limits, 3);
            INFO(c.name << " at " << n << " bytes (limit " << c.limit << "): got "
                        << describe(got));
            CHECK(std::holds_alternative<Command>(got) == (n <= c.limit));
            if (n > c.limit) {
                CHECK_THAT(std::get<ProtocolError>(got).reason, Catch::Contains("longer than"));
            }
        }
    }
}

TEST_CASE("parseCommand: limits count unescaped bytes; defaults", "[codec]") {
    const DictLimits limits{16, 4, 4};
    // 4 value bytes that take 8 bytes on the wire.
    CHECK(std::holds_alternative<Command>(
        parseCommand("S1\tpriv/k\t\001t\001t\001t\001t", limits, 3)));
    CHECK(std::holds_alternative<ProtocolError>(
        parseCommand("S1\tpriv/k\t\001t\001t\001t\001t\001t", limits, 3)));
    // 4 user bytes, escaped.
    CHECK(
        std::holds_alternative<Command>(parseCommand("Lpriv/k\t\001n\001n\001n\001n", limits, 3)));

    CHECK(kDefaults.max_key_bytes == 4096);
    CHECK(kDefaults.max_value_bytes == 65536);
    CHECK(kDefaults.max_user_bytes == 512);
    const std::string key4096 = "shared/" + std::string(4096 - 7, 'k');
    CHECK(std::holds_alternative<Command>(parseCommand("L" + key4096, kDefaults, 3)));
    CHECK(std::holds_alternative<ProtocolError>(parseCommand("L" + key4096 + "k", kDefaults, 3)));
    const std::string value65536(65536, 'v');
    CHECK(
        std::holds_alternative<Command>(parseCommand("S1\tshared/k\t" + value65536, kDefaults, 3)));
    CHECK(std::holds_alternative<ProtocolError>(
        parseCommand("S1\tshared/k\t" + value65536 + "v", kDefaults, 3)));
    CHECK(std::holds_alternative<Command>(
        parseCommand("B1\t" + std::string(512, 'u'), kDefaults, 3)));
    CHECK(std::holds_alternative<ProtocolError>(
        parseCommand("B1\t" + std::string(513, 'u'), kDefaults, 3)));
}

TEST_CASE("recommendedMaxLineBytes fits the worst escaped command", "[codec]") {
    CHECK(recommendedMaxLineBytes(DictLimits{1, 1, 1}) == 64 * 1024);
    const DictLimits limits{};
    const std::size_t max_line = recommendedMaxLineBytes(limits);
    const Command worst =
        Set{4294967295u, "shared/" + std::string(4096 - 7, '\t'), std::string(65536, '\n')};
    const std::string wire = encodeCommand(worst);
    CHECK(wire.size() - 1 <= max_line);
    const auto framed = nextLine(wire, FramerLimits{max_line, false});
    REQUIRE(std::holds_alternative<Line>(framed));
    const auto got = parseCommand(std::get<Line>(framed).text, limits, 3);
    REQUIRE(std::holds_alternative<Command>(got));
    CHECK(std::get<Command>(got) == worst);
}

TEST_CASE("dict lines through the framer: line limit at -1/0/+1", "[codec]") {
    const std::size_t max = 64;
    for (std::size_t n : {max - 1, max, max + 1}) {
        const std::string line = "Lshared/" + std::string(n - 8, 'k');
        REQUIRE(line.size() == n);
        const std::string wire = line + "\n";
        const auto framed = nextLine(wire, FramerLimits{max, false});
        INFO("line of " << n << " bytes");
        if (n <= max) {
            REQUIRE(std::holds_alternative<Line>(framed));
            CHECK(std::holds_alternative<Command>(
                parseCommand(std::get<Line>(framed).text, kDefaults, 3)));
        } else {
            CHECK(std::holds_alternative<LineTooLong>(framed));
            CHECK(std::holds_alternative<LineTooLong>(nextLine(line, FramerLimits{max, false})));
        }
    }
}

TEST_CASE("a dict session split at every byte decodes the same", "[codec]") {
    const std::string session =
        "H3\t2\t0\t\tquota\n"
        "Lpriv/quota/storage\tbob@example.com\n"
        "B1\tbob@example.com\n"
        "A1\tpriv/quota/storage\t2350\n"
        "A1\tpriv/quota/messages\t-1\n"
        "S1\tshared/x\ta\001tb\001nc\r\n"
        "T1\t1700000000\t5\n"
        "C1\n"
        "I1\t0\tshared/userdb/\t\n"
        "R1\n"
        "Zbad\n";
    const FramerLimits framer{256, false};
    const auto decode = [&](const std::vector<std::size_t>& cuts) {
        std::vector<std::string> out;
        std::string buffer;
        std::size_t from = 0;
        int major = 0;
        auto pump = [&] {
            for (;;) {
                const auto r = nextLine(buffer, framer);
                const auto* l = std::get_if<Line>(&r);
                if (l == nullptr) return;
                if (major == 0) {
                    const auto h = parseHello(l->text);
                    REQUIRE(std::holds_alternative<Hello>(h));
                    major = std::get<Hello>(h).major;
                    out.push_back(describe(h));
                } else {
                    out.push_back(describe(parseCommand(l->text, kDefaults, major)));
                }
                buffer.erase(0, l->consumed);
            }
        };
        for (std::size_t cut : cuts) {
            buffer.append(session, from, cut - from);
            from = cut;
            pump();
        }
        buffer.append(session, from);
        pump();
        CHECK(buffer.empty());
        return out;
    };
    const auto whole = decode({});
    REQUIRE(whole.size() == 11);
    CHECK(whole[5] == describe(Command{Set{1, "shared/x", "a\tb\nc\r"}}));
    CHECK(whole[10] == "ProtocolError{unknown command 'Z'}");
    for (std::size_t cut = 0; cut <= session.size(); ++cut) {
        INFO("split at " << cut);
        CHECK(decode({cut}) == whole);
    }
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i <= session.size(); ++i) every.push_back(i);
    CHECK(decode(every) == whole);
}

TEST_CASE("invalid UTF-8 and SQL metacharacters are data", "[codec]") {
    const std::string user = "bob'; DROP TABLE users; --\xff\xfe\xc3(";
    const std::string key = "priv/quota/' OR '1'='1\"%_\\\xed\xa0\x80";
    const std::string value = "'); DELETE FROM quota; --\x80\xbf";
    const auto lookup = parseCommand("L" + key + "\t" + user, kDefaults, 3);
    REQUIRE(std::holds_alternative<Command>(lookup));
    CHECK(std::get<Command>(lookup) == Command{Lookup{key, user}});
    const auto set = parseCommand("S1\t" + key + "\t" + value, kDefaults, 3);
    REQUIRE(std::holds_alternative<Command>(set));
    CHECK(std::get<Command>(set) == Command{Set{1, key, value}});
    const auto hello = parseHello("H3\t2\t0\t" + user + "\t" + value);
    REQUIRE(std::holds_alternative<Hello>(hello));
    CHECK(std::get<Hello>(hello).user == user);
    CHECK(encodeLookupFound(value) == "O" + value + "\n");
}

TEST_CASE("commandName names every command", "[codec]") {
    CHECK(std::string(commandName(Lookup{})) == "lookup");
    CHECK(std::string(commandName(Iterate{})) == "iterate");
    CHECK(std::string(commandName(Begin{})) == "begin");
    CHECK(std::string(commandName(Set{})) == "set");
    CHECK(std::string(commandName(Unset{})) == "unset");
    CHECK(std::string(commandName(AtomicInc{})) == "atomic_inc");
    CHECK(std::string(commandName(Timestamp{})) == "timestamp");
    CHECK(std::string(commandName(Commit{})) == "commit");
    CHECK(std::string(commandName(Rollback{})) == "rollback");
}

// ---- encoders ------------------------------------------------------------------------

TEST_CASE("server reply encoders", "[codec]") {
    struct Case {
        const char* name;
        std::string got;
        std::string want;
    };
    const Case cases[] = {
        {"lookup found", encodeLookupFound("1048576"), "O1048576\n"},
        {"lookup found empty", encodeLookupFound(""), "O\n"},
        {"lookup found escaped", encodeLookupFound("a\tb\nc\rd\001"),
         "Oa\001tb\001nc\001rd\001"
         "1\n"},
        {"lookup found JSON", encodeLookupFound("{\"uid\":5000}"), "O{\"uid\":5000}\n"},
        {"multi", encodeLookupMulti({"a", "b"}), "Ma\001tb\n"},
        {"multi double-escaped", encodeLookupMulti({"x\ty", "z"}),
         "Mx\001"
         "1ty\001tz\n"},
        {"not found", encodeNotFound(), "N\n"},
        {"fail", encodeFail("backend unavailable"), "Fbackend unavailable\n"},
        {"fail escaped", encodeFail("a\tb\nc"), "Fa\001tb\001nc\n"},
        {"iter row", encodeIterRow("shared/userdb/bob", "{\"uid\":5000}"),
         "Oshared/userdb/bob\t{\"uid\":5000}\n"},
        {"iter row keys only", encodeIterRow("shared/userdb/bob", ""), "Oshared/userdb/bob\t\n"},
        {"iter row escaped", encodeIterRow("shared/a\tb", "c\nd"), "Oshared/a\001tb\tc\001nd\n"},
        {"iter end", encodeIterEnd(), "\n"},
        {"iter fail", encodeIterFail("db\tdown"), "Fdb\001tdown\n"},
        {"commit ok", encodeCommit(CommitResult::Ok, 1, "", false), "O1\n"},
        {"commit ok ignores message", encodeCommit(CommitResult::Ok, 1, "ignored", false), "O1\n"},
        {"commit not found", encodeCommit(CommitResult::NotFound, 2), "N2\n"},
        {"commit failed", encodeCommit(CommitResult::Failed, 3, "deadlock", false),
         "F3\tdeadlock\n"},
        {"commit failed empty message", encodeCommit(CommitResult::Failed, 3), "F3\t\n"},
        {"commit uncertain", encodeCommit(CommitResult::WriteUncertain, 4, "timeout\tx"),
         "W4\ttimeout\001tx\n"},
        {"async ok", encodeCommit(CommitResult::Ok, 5, "", true), "AO5\n"},
        {"async not found", encodeCommit(CommitResult::NotFound, 6, "", true), "AN6\n"},
        {"async failed", encodeCommit(CommitResult::Failed, 7, "err", true), "AF7\terr\n"},
        {"async uncertain", encodeCommit(CommitResult::WriteUncertain, 8, "err", true),
         "AW8\terr\n"},
        {"commit max id", encodeCommit(CommitResult::Ok, 4294967295u), "O4294967295\n"},
    };
    for (const auto& c : cases) {
        INFO(c.name << ": got " << visible(c.got) << ", want " << visible(c.want));
        CHECK(c.got == c.want);
    }
}

TEST_CASE("client encoders produce the documented wire lines", "[codec]") {
    struct Case {
        const char* name;
        std::string got;
        std::string want;
    };
    const Case cases[] = {
        {"hello 2.3.19", encodeHello(Hello{3, 2, 0, "", "quota"}), "H3\t2\t0\t\tquota\n"},
        {"hello 2.4", encodeHello(Hello{4, 0, 0, "", "quota"}), "H4\t0\t0\t\tquota\n"},
        {"lookup", encodeCommand(Lookup{"priv/quota/storage", "bob"}),
         "Lpriv/quota/storage\tbob\n"},
        {"lookup empty user", encodeCommand(Lookup{"shared/k", ""}), "Lshared/k\t\n"},
        {"iterate", encodeCommand(Iterate{0, 0, "shared/userdb/", ""}),
         "I0\t0\tshared/userdb/\t\n"},
        {"begin 2.3", encodeCommand(Begin{1, "bob", std::nullopt}), "B1\tbob\n"},
        {"begin 2.4", encodeCommand(Begin{1, "bob", 0u}), "B1\tbob\t0\n"},
        {"set", encodeCommand(Set{1, "priv/quota/storage", "281"}),
         "S1\tpriv/quota/storage\t281\n"},
        {"unset", encodeCommand(Unset{2, "priv/quota/storage"}), "U2\tpriv/quota/storage\n"},
        {"atomic", encodeCommand(AtomicInc{1, "priv/quota/messages", -1}),
         "A1\tpriv/quota/messages\t-1\n"},
        {"timestamp", encodeCommand(Timestamp{1, -2, 3}), "T1\t-2\t3\n"},
        {"commit", encodeCommand(Commit{1, false}), "C1\n"},
        {"async commit", encodeCommand(Commit{1, true}), "D1\n"},
        {"rollback", encodeCommand(Rollback{9}), "R9\n"},
    };
    for (const auto& c : cases) {
        INFO(c.name << ": got " << visible(c.got) << ", want " << visible(c.want));
        CHECK(c.got == c.want);
    }
}

// ---- round trips ---------------------------------------------------------------------

TEST_CASE("round trip: parseCommand(encodeCommand(x)) == x for every command", "[codec]") {
    const std::string binary = allBytesButNul();
    const std::string shared_binary = "shared/" + binary;
    const std::string priv_nasty = "priv/" + kNasty;
    const Command commands[] = {
        Lookup{"priv/quota/storage", "bob@example.com"},
        Lookup{shared_binary, binary},
        Lookup{priv_nasty, kNasty},
        Lookup{"shared/", ""},
        Iterate{0, 0, "shared/userdb/", ""},
        Iterate{kIterRecurse | kIterSortByKey | kIterNoValue, 18446744073709551615ULL, priv_nasty,
                kNasty},
        Iterate{4294967295u, 1, shared_binary, binary},
        Begin{0, "", std::nullopt},
        Begin{4294967295u, kNasty, std::nullopt},
        Begin{1, binary, std::nullopt},
        Set{1, "priv/quota/storage", "1050926"},
        Set{2, shared_binary, binary},
        Set{3, priv_nasty, kNasty},
        Set{4, "shared/empty", ""},
        Set{5, "shared/trailing", "\001"},
        Set{6, "shared/trailing-tab", "x\t"},
        Unset{7, priv_nasty},
        Unset{8, shared_binary},
        AtomicInc{9, priv_nasty, -9223372036854775807LL - 1},
        AtomicInc{10, shared_binary, 9223372036854775807LL},
        AtomicInc{11, "priv/quota/messages", 0},
        Timestamp{12, -9223372036854775807LL - 1, 0},
        Timestamp{13, 1700000000, 999999999},
        Commit{14, false},
        Commit{15, true},
        Rollback{4294967295u},
    };
    for (int major : {3, 4}) {
        for (const auto& cmd : commands) {
            const std::string wire = encodeCommand(cmd);
            INFO("major " << major << ": " << describe(cmd));
            REQUIRE(wire.back() == '\n');
            CHECK(wire.find('\n') == wire.size() - 1);
            const auto framed =
                nextLine(wire, FramerLimits{recommendedMaxLineBytes(kDefaults), false});
            REQUIRE(std::holds_alternative<Line>(framed));
            CHECK(std::get<Line>(framed).consumed == wire.size());
            const auto got = parseCommand(std::get<Line>(framed).text, kDefaults, major);
            INFO("got " << describe(got));
            REQUIRE(std::holds_alternative<Command>(got));
            CHECK(std::get<Command>(got) == cmd);
        }
    }
    // Major-4 Begin carries the expire time; major 3 ignores it.
    for (const Begin& b : {Begin{1, "bob", 0u}, Begin{2, kNasty, 4294967295u}, Begin{3, "", 60u}}) {
        const std::string wire = encodeCommand(b);
        const auto line = std::string_view(wire).substr(0, wire.size() - 1);
        const auto got4 = parseCommand(line, kDefaults, 4);
        REQUIRE(std::holds_alternative<Command>(got4));
        CHECK(std::get<Command>(got4) == Command{b});
        const auto got3 = parseCommand(line, kDefaults, 3);
        REQUIRE(std::holds_alternative<Command>(got3));
        CHECK(std::get<Command>(got3) == Command{Begin{b.id, b.user, std::nullopt}});
    }
}

TEST_CASE("round trip: hello", "[codec]") {
    const Hello hellos[] = {
        Hello{3, 2, 0, "", "quota"},
        Hello{4, 0, 0, "", "quota"},
        Hello{3, 0, 1, kNasty, allBytesButNul()},
        Hello{4, 4294967295u, 1, "bob", ""},
    };
    for (const auto& h : hellos) {
        const std::string wire = encodeHello(h);
        INFO(visible(wire));
        const auto got = parseHello(std::string_view(wire).substr(0, wire.size() - 1));
        REQUIRE(std::holds_alternative<Hello>(got));
        CHECK(std::get<Hello>(got) == h);
    }
}

TEST_CASE("parseReply: every reply form and the encoders' round trip", "[codec]") {
    const auto reply = [](ReplyKind kind, bool async, std::vector<std::string> fields,
                          std::vector<std::string> values = {}) {
        return Reply{kind, async, std::move(fields), std::move(values)};
    };
    const std::string binary = allBytesButNul();
    struct Case {
        const char* name;
        std::string wire;
        Reply want;
    };
    const Case cases[] = {
        {"lookup found", encodeLookupFound("1048576"), reply(ReplyKind::Ok, false, {"1048576"})},
        {"lookup found empty", encodeLookupFound(""), reply(ReplyKind::Ok, false, {""})},
        {"lookup found binary", encodeLookupFound(binary), reply(ReplyKind::Ok, false, {binary})},
        {"lookup found with NUL", encodeLookupFound("a\0b"s),
         reply(ReplyKind::Ok, false, {"a\0b"s})},
        {"multi", encodeLookupMulti({"a", "b"}),
         reply(ReplyKind::Multi, false, {"a\tb"}, {"a", "b"})},
        {"multi nasty", encodeLookupMulti({kNasty, "", binary}),
         reply(ReplyKind::Multi, false, {escape(kNasty) + "\t\t" + escape(binary)},
               {kNasty, "", binary})},
        {"multi single", encodeLookupMulti({"x\ty"}),
         reply(ReplyKind::Multi, false, {"x\001ty"}, {"x\ty"})},
        {"not found", encodeNotFound(), reply(ReplyKind::NotFound, false, {""})},
        {"fail", encodeFail(kNasty), reply(ReplyKind::Fail, false, {kNasty})},
        {"iter row", encodeIterRow("shared/a\tb", binary),
         reply(ReplyKind::Ok, false, {"shared/a\tb", binary})},
        {"iter row keys only", encodeIterRow("shared/k", ""),
         reply(ReplyKind::Ok, false, {"shared/k", ""})},
        {"iter end", encodeIterEnd(), reply(ReplyKind::IterEnd, false, {})},
        {"iter fail", encodeIterFail("x\ny"), reply(ReplyKind::Fail, false, {"x\ny"})},
        {"commit ok", encodeCommit(CommitResult::Ok, 1), reply(ReplyKind::Ok, false, {"1"})},
        {"commit not found", encodeCommit(CommitResult::NotFound, 2),
         reply(ReplyKind::NotFound, false, {"2"})},
        {"commit failed", encodeCommit(CommitResult::Failed, 3, kNasty),
         reply(ReplyKind::Fail, false, {"3", kNasty})},
        {"commit uncertain", encodeCommit(CommitResult::WriteUncertain, 4, "t"),
         reply(ReplyKind::WriteUncertain, false, {"4", "t"})},
        {"async ok", encodeCommit(CommitResult::Ok, 5, "", true),
         reply(ReplyKind::Ok, true, {"5"})},
        {"async failed", encodeCommit(CommitResult::Failed, 6, "e", true),
         reply(ReplyKind::Fail, true, {"6", "e"})},
        {"Dovecot timing fields", "O1048576\t1700000000\t120001\t1700000000\t120450\n",
         reply(ReplyKind::Ok, false, {"1048576", "1700000000", "120001", "1700000000", "120450"})},
    };
    for (const auto& c : cases) {
        REQUIRE(c.wire.back() == '\n');
        const auto got = parseReply(std::string_view(c.wire).substr(0, c.wire.size() - 1));
        INFO(c.name << " " << visible(c.wire) << ": got " << describe(got) << ", want "
                    << describe(c.want));
        REQUIRE(std::holds_alternative<Reply>(got));
        CHECK(std::get<Reply>(got) == c.want);
    }
}

TEST_CASE("parseReply: each error", "[codec]") {
    struct Case {
        const char* name;
        std::string in;
        std::string reason;
    };
    const Case cases[] = {
        {"async id line", "*1", "async reply ids are not supported"},
        {"async reply line", "+1\tO1", "async reply ids are not supported"},
        {"unknown code", "X1", "unknown code 'X'"},
        {"bare A", "A", "without a code"},
        {"A then unknown", "AX1", "unknown code 'X'"},
        {"async multi", "AMa", "async prefix on a multi-value reply"},
        {"raw NUL", "Oa\0b"s, "NUL byte"},
        {"raw LF", "O1\nO2", "LF inside line"},
    };
    for (const auto& c : cases) {
        const auto got = parseReply(c.in);
        INFO(c.name << ": got " << describe(got));
        REQUIRE(std::holds_alternative<ProtocolError>(got));
        CHECK_THAT(std::get<ProtocolError>(got).reason, Catch::Contains(c.reason));
    }
}
