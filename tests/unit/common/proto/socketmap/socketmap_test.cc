#include "common/proto/socketmap/socketmap.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace titan::proto::socketmap;
using namespace std::string_literals;

namespace {

// Bytes made readable for failure messages.
std::string visible(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f) {
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 15];
        } else {
            out += c;
        }
    }
    return out;
}

std::string describe(const FrameResult& r) {
    if (const auto* n = std::get_if<Netstring>(&r)) {
        return "Netstring{\"" + visible(n->payload) + "\", consumed=" + std::to_string(n->consumed) + "}";
    }
    if (std::holds_alternative<NeedMore>(r)) return "NeedMore";
    if (const auto* t = std::get_if<TooLong>(&r)) return "TooLong{" + std::to_string(t->limit) + "}";
    return "Malformed{" + std::get<Malformed>(r).reason + "}";
}

std::string describe(const std::variant<Request, ProtocolError>& r) {
    if (const auto* e = std::get_if<ProtocolError>(&r)) return "ProtocolError{" + e->reason + "}";
    const auto& req = std::get<Request>(r);
    return "Request{\"" + visible(req.name) + "\", \"" + visible(req.key) + "\"}";
}

// Frames every netstring of `input` fed one byte at a time; returns the payloads and
// the final state ("need more", "too long", "malformed").
std::vector<std::string> feedBytewise(std::string_view input, size_t max, std::string* end) {
    std::vector<std::string> out;
    std::string buffer;
    *end = "need more";
    for (char c : input) {
        buffer += c;
        for (;;) {
            auto r = nextNetstring(buffer, max);
            if (const auto* n = std::get_if<Netstring>(&r)) {
                out.emplace_back(n->payload);
                buffer.erase(0, n->consumed);
                continue;
            }
            if (std::holds_alternative<TooLong>(r)) *end = "too long";
            if (std::holds_alternative<Malformed>(r)) *end = "malformed";
            break;
        }
        if (*end != "need more") break;
    }
    return out;
}

}  // namespace

// ---- framing -------------------------------------------------------------------------

TEST_CASE("nextNetstring: every outcome", "[codec]") {
    struct Case {
        const char* name;
        std::string input;
        size_t max;
        FrameResult want;
    };
    const std::vector<Case> cases = {
        {"simple", "5:hello,", 100, Netstring{"hello", 8}},
        {"empty payload", "0:,", 100, Netstring{"", 3}},
        {"trailing bytes stay", "3:abc,4:more,", 100, Netstring{"abc", 6}},
        {"leading zeros", "003:abc,", 100, Netstring{"abc", 8}},
        {"payload with comma, colon, NUL, CR LF", "7:a,:\0\r\nb,"s, 100, Netstring{"a,:\0\r\nb"s, 10}},
        {"empty buffer", "", 100, NeedMore{}},
        {"digits only", "12", 100, NeedMore{}},
        {"prefix and colon", "5:", 100, NeedMore{}},
        {"payload incomplete", "5:hell", 100, NeedMore{}},
        {"comma missing yet", "5:hello", 100, NeedMore{}},
        {"no digit", ":hello,", 100, Malformed{"netstring has an empty length"}},
        {"letter first", "x5:hello,", 100, Malformed{"netstring does not start with a digit"}},
        {"space first", " 5:hello,", 100, Malformed{"netstring does not start with a digit"}},
        {"sign", "+5:hello,", 100, Malformed{"netstring does not start with a digit"}},
        {"space after digits", "5 :hello,", 100, Malformed{"netstring length not followed by ':'"}},
        {"wrong terminator", "5:hello;", 100, Malformed{"netstring payload not followed by ','"}},
        {"LF terminator", "5:hello\n", 100, Malformed{"netstring payload not followed by ','"}},
        {"payload longer than announced", "4:hello,", 100, Malformed{"netstring payload not followed by ','"}},
        {"ten digits", "0000000003:abc,", 100, Netstring{"abc", 15}},
        {"eleven digits", "00000000003:abc,", 100, Malformed{"netstring length has too many digits"}},
        {"ten zeros still need more", "0000000000", 100, NeedMore{}},
    };
    for (const auto& c : cases) {
        INFO(c.name << ": got " << describe(nextNetstring(c.input, c.max)) << ", want " << describe(c.want));
        CHECK(nextNetstring(c.input, c.max) == c.want);
    }
}

TEST_CASE("nextNetstring: the payload limit at -1, 0 and +1", "[codec]") {
    const size_t max = 10;
    for (size_t len : {max - 1, max, max + 1}) {
        INFO("payload length " << len);
        const std::string payload(len, 'x');
        const std::string wire = encodeNetstring(payload);
        auto r = nextNetstring(wire, max);
        if (len <= max) {
            CHECK(r == FrameResult{Netstring{payload, wire.size()}});
        } else {
            CHECK(r == FrameResult{TooLong{max}});
            // Known from the prefix alone, before any payload byte arrives.
            CHECK(nextNetstring(std::to_string(len), max) == FrameResult{TooLong{max}});
        }
    }
    CHECK(nextNetstring("0:,", 0) == FrameResult{Netstring{"", 3}});
    CHECK(nextNetstring("1", 0) == FrameResult{TooLong{0}});
    // A huge announced length is refused at once, however it ends.
    CHECK(nextNetstring("9999999999", 4096) == FrameResult{TooLong{4096}});
    CHECK(nextNetstring("4097", 4096) == FrameResult{TooLong{4096}});
    CHECK(nextNetstring("4096", 4096) == FrameResult{NeedMore{}});
}

TEST_CASE("nextNetstring: input split at every byte gives the same frames", "[codec]") {
    const std::string stream = encodeRequest("domains", "example.test") + encodeRequest("aliases", "") +
                               "0:," + "003:a b,"s + encodeRequest("senders", std::string("x\0y", 3));
    std::string end;
    auto whole = feedBytewise(stream, 100, &end);
    CHECK(end == "need more");
    const std::vector<std::string> want = {"domains example.test", "aliases ", "", "a b", "senders x\0y"s};
    CHECK(whole == want);
    // Every split point into two reads gives the same frames.
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
        std::vector<std::string> got;
        std::string buffer;
        for (std::string_view part : {std::string_view(stream).substr(0, cut), std::string_view(stream).substr(cut)}) {
            buffer.append(part);
            for (;;) {
                auto r = nextNetstring(buffer, 100);
                const auto* n = std::get_if<Netstring>(&r);
                if (n == nullptr) {
                    REQUIRE(std::holds_alternative<NeedMore>(r));
                    break;
                }
                got.emplace_back(n->payload);
                buffer.erase(0, n->consumed);
            }
        }
        INFO("cut at " << cut);
        CHECK(got == want);
        CHECK(buffer.empty());
    }
}

TEST_CASE("nextNetstring: errors are found at the same point byte by byte", "[codec]") {
    struct Case {
        const char* name;
        std::string input;
        std::vector<std::string> frames;
        const char* end;
    };
    const std::vector<Case> cases = {
        {"garbage after a frame", "3:abc,x", {"abc"}, "malformed"},
        {"too long after a frame", "3:abc,101:", {"abc"}, "too long"},
        {"bad terminator", "3:abc,3:abcd", {"abc"}, "malformed"},
        {"too many digits", "00000000001:a,", {}, "malformed"},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        std::string end;
        CHECK(feedBytewise(c.input, 100, &end) == c.frames);
        CHECK(end == std::string(c.end));
    }
}

TEST_CASE("encodeNetstring: no leading zeros, exact length", "[codec]") {
    CHECK(encodeNetstring("") == "0:,");
    CHECK(encodeNetstring("hello") == "5:hello,");
    CHECK(encodeNetstring(std::string(1000, 'a')) == "1000:" + std::string(1000, 'a') + ",");
    CHECK(encodeNetstring("a\0b"s) == "3:a\0b,"s);
}

// ---- requests ------------------------------------------------------------------------

TEST_CASE("parseRequest: valid forms and every error", "[codec]") {
    struct Case {
        const char* name;
        std::string payload;
        std::variant<Request, ProtocolError> want;
    };
    const std::vector<Case> cases = {
        {"simple", "mailboxes bob@example.test", Request{"mailboxes", "bob@example.test"}},
        {"key keeps further spaces", "aliases \"a b\"@example.test", Request{"aliases", "\"a b\"@example.test"}},
        {"key keeps leading space", "aliases  x", Request{"aliases", " x"}},
        {"empty key", "domains ", Request{"domains", ""}},
        {"utf-8 and bytes >= 0x80", "senders j\xc3\xb6rg@\xff.test", Request{"senders", "j\xc3\xb6rg@\xff.test"}},
        {"case kept", "Domains Example.TEST", Request{"Domains", "Example.TEST"}},
        {"tab and CR in key are data", "aliases a\tb\r", Request{"aliases", "a\tb\r"}},
        {"no space", "domains", ProtocolError{"no space between map name and key"}},
        {"empty payload", "", ProtocolError{"no space between map name and key"}},
        {"empty name", " example.test", ProtocolError{"empty map name"}},
        {"tab in name", "do\tmains x", ProtocolError{"map name has a byte outside printable ASCII"}},
        {"DEL in name", "do\x7fmains x", ProtocolError{"map name has a byte outside printable ASCII"}},
        {"utf-8 in name", "d\xc3\xb6mains x", ProtocolError{"map name has a byte outside printable ASCII"}},
        {"NUL in key", "domains a\0b"s, ProtocolError{"NUL byte in request"}},
        {"NUL in name", "do\0mains x"s, ProtocolError{"NUL byte in request"}},
    };
    for (const auto& c : cases) {
        auto got = parseRequest(c.payload);
        INFO(c.name << ": got " << describe(got) << ", want " << describe(c.want));
        CHECK(got == c.want);
    }
}

TEST_CASE("parseRequest: name and key limits at -1, 0 and +1", "[codec]") {
    const Limits limits{8, 16};
    for (size_t n : {size_t{7}, size_t{8}, size_t{9}}) {
        INFO("name bytes " << n);
        auto r = parseRequest(std::string(n, 'm') + " key", limits);
        if (n <= 8) CHECK(std::holds_alternative<Request>(r));
        else CHECK(r == std::variant<Request, ProtocolError>{ProtocolError{"map name too long"}});
    }
    for (size_t n : {size_t{15}, size_t{16}, size_t{17}}) {
        INFO("key bytes " << n);
        auto r = parseRequest("map " + std::string(n, 'k'), limits);
        if (n <= 16) CHECK(std::holds_alternative<Request>(r));
        else CHECK(r == std::variant<Request, ProtocolError>{ProtocolError{"key too long"}});
    }
    CHECK(maxRequestBytes(limits) == 8 + 1 + 16);
    CHECK(maxRequestBytes(Limits{}) == 64 + 1 + 4096);
}

TEST_CASE("encodeRequest and parseRequest round trip", "[codec]") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"domains", "example.test"},
        {"aliases", ""},
        {"senders", "a b  c"},
        {"x", std::string("\x01\xff\r\n\t,:", 7)},
        {std::string(64, 'n'), std::string(4096, 'k')},
    };
    for (const auto& [name, key] : cases) {
        const std::string wire = encodeRequest(name, key);
        auto frame = nextNetstring(wire, maxRequestBytes(Limits{}));
        REQUIRE(std::holds_alternative<Netstring>(frame));
        CHECK(std::get<Netstring>(frame).consumed == wire.size());
        auto req = parseRequest(std::get<Netstring>(frame).payload);
        REQUIRE(std::holds_alternative<Request>(req));
        CHECK(std::get<Request>(req) == Request{name, key});
    }
}

// ---- replies -------------------------------------------------------------------------

TEST_CASE("reply encoders produce Postfix's exact bytes", "[codec]") {
    CHECK(encodeOk("bob@example.test") == "19:OK bob@example.test,");
    CHECK(encodeOk("a@x,b@y") == "10:OK a@x,b@y,");
    CHECK(encodeNotFound() == "9:NOTFOUND ,");
    CHECK(encodeTemp("database unavailable") == "25:TEMP database unavailable,");
    CHECK(encodePerm("unknown map name") == "21:PERM unknown map name,");
    CHECK(encodeTemp("") == "5:TEMP ,");
}

TEST_CASE("parseReply: every status as Postfix reads it", "[codec]") {
    struct Case {
        const char* name;
        std::string payload;
        Reply want;
    };
    const std::vector<Case> cases = {
        {"ok", "OK bob@example.test", {Status::Ok, "bob@example.test"}},
        {"ok keeps spaces", "OK a b ", {Status::Ok, "a b "}},
        {"ok empty data", "OK ", {Status::Ok, ""}},
        {"bare OK is not found", "OK", {Status::NotFound, ""}},
        {"notfound", "NOTFOUND ", {Status::NotFound, ""}},
        {"notfound without space", "NOTFOUND", {Status::NotFound, ""}},
        {"temp", "TEMP db down", {Status::Temp, "db down"}},
        {"timeout", "TIMEOUT slow", {Status::Temp, "slow"}},
        {"perm", "PERM bad map", {Status::Perm, "bad map"}},
        {"lower case ok is unknown", "ok x", {Status::Unknown, "ok x"}},
        {"garbage", "HELLO", {Status::Unknown, "HELLO"}},
        {"empty", "", {Status::Unknown, ""}},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        CHECK(parseReply(c.payload) == c.want);
    }
}

TEST_CASE("reply round trip through framing", "[codec]") {
    const std::vector<std::pair<std::string, Reply>> cases = {
        {encodeOk("x@y,z@w"), {Status::Ok, "x@y,z@w"}},
        {encodeNotFound(), {Status::NotFound, ""}},
        {encodeTemp("try later"), {Status::Temp, "try later"}},
        {encodePerm("no"), {Status::Perm, "no"}},
    };
    for (const auto& [wire, want] : cases) {
        auto frame = nextNetstring(wire, kPostfixMaxReplyBytes);
        REQUIRE(std::holds_alternative<Netstring>(frame));
        CHECK(parseReply(std::get<Netstring>(frame).payload) == want);
    }
    CHECK(std::string(statusName(Status::Ok)) == "ok");
    CHECK(std::string(statusName(Status::NotFound)) == "notfound");
    CHECK(std::string(statusName(Status::Temp)) == "temp");
    CHECK(std::string(statusName(Status::Perm)) == "perm");
    CHECK(std::string(statusName(Status::Unknown)) == "unknown");
}
