#include "common/proto/postfix_policy/policy.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace titan::proto::policy;
using namespace std::string_literals;

namespace {

std::string visible(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (u < 0x20 || u >= 0x7f) {
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 15];
        } else out += c;
    }
    return out;
}

std::string describe(const DecodeResult& r) {
    if (const auto* e = std::get_if<ProtocolError>(&r)) return "ProtocolError{" + e->reason + "}";
    if (std::holds_alternative<NeedMore>(r)) return "NeedMore";
    std::string out = "Request{";
    for (const auto& a : std::get<Request>(r).attributes) out += visible(a.name) + "=" + visible(a.value) + ";";
    return out + "}";
}

// Everything a byte stream decodes to: each Request, then the final state.
std::vector<std::string> decodeAll(Decoder& d, const std::vector<std::string_view>& chunks) {
    std::vector<std::string> out;
    for (auto chunk : chunks) {
        d.append(chunk);
        while (true) {
            DecodeResult r = d.next();
            if (std::holds_alternative<NeedMore>(r)) break;
            out.push_back(describe(r));
            if (std::holds_alternative<ProtocolError>(r)) break;
        }
        if (d.failed()) break;
    }
    out.push_back(d.failed() ? "failed" : "NeedMore");
    return out;
}

std::vector<std::string> decodeAll(std::string_view stream, const std::vector<std::size_t>& cuts,
                                   PolicyLimits limits = {}) {
    Decoder d(limits);
    std::vector<std::string_view> chunks;
    std::size_t from = 0;
    for (std::size_t cut : cuts) {
        chunks.push_back(stream.substr(from, cut - from));
        from = cut;
    }
    chunks.push_back(stream.substr(from));
    return decodeAll(d, chunks);
}

// The same stream fed line by line through addLine() (split at LF only).
std::vector<std::string> decodeLines(std::string_view stream, PolicyLimits limits = {}) {
    Decoder d(limits);
    std::vector<std::string> out;
    while (!stream.empty()) {
        auto lf = stream.find('\n');
        if (lf == std::string_view::npos) break;
        DecodeResult r = d.addLine(stream.substr(0, lf));
        stream.remove_prefix(lf + 1);
        if (std::holds_alternative<NeedMore>(r)) continue;
        out.push_back(describe(r));
        if (std::holds_alternative<ProtocolError>(r)) break;
    }
    out.push_back(d.failed() ? "failed" : "NeedMore");
    return out;
}

// What Postfix 3.7 sends at RCPT (protocols.md 1.7 A).
const std::string kPostfixRcpt =
    "request=smtpd_access_policy\n"
    "protocol_state=RCPT\n"
    "protocol_name=ESMTP\n"
    "client_address=198.51.100.7\n"
    "client_name=mx.example.net\n"
    "client_port=50412\n"
    "reverse_client_name=mx.example.net\n"
    "server_address=192.0.2.10\n"
    "server_port=25\n"
    "helo_name=mx.example.net\n"
    "sender=alice@example.net\n"
    "recipient=bob@example.com\n"
    "recipient_count=0\n"
    "queue_id=\n"
    "instance=1c2f.6554d1c2.3e8a1.0\n"
    "size=2048\n"
    "etrn_domain=\n"
    "stress=\n"
    "sasl_method=\n"
    "sasl_username=\n"
    "sasl_sender=\n"
    "ccert_subject=\n"
    "ccert_issuer=\n"
    "ccert_fingerprint=\n"
    "ccert_pubkey_fingerprint=\n"
    "encryption_protocol=TLSv1.3\n"
    "encryption_cipher=TLS_AES_256_GCM_SHA384\n"
    "encryption_keysize=256\n"
    "policy_context=\n"
    "\n";

// Three requests exercising every leniency rule, as one stream.
const std::string kStream =
    "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a=b@x.example\nrecipient=\n"
    "x-unknown=whatever\nsender=second@ignored\n\n"
    "protocol_state=END-OF-MESSAGE\r\nclient_address=2001:db8::1\r\nsize=123\r\nvalue=\xff\xfe gr\xc3\xa5\r\n\r\n"
    "\n"s;

Request req(std::vector<Attribute> attrs) { return Request{std::move(attrs)}; }

}  // namespace

TEST_CASE("decode: a full Postfix 3.7 RCPT request and its typed view", "[codec]") {
    Decoder d;
    d.append(kPostfixRcpt);
    DecodeResult r = d.next();
    REQUIRE(std::holds_alternative<Request>(r));
    const Request& request = std::get<Request>(r);
    CHECK(request.attributes.size() == 29);
    CHECK(request.get("recipient") == "bob@example.com");
    CHECK(request.find("queue_id") != nullptr);
    CHECK(request.find("queue_id")->empty());
    CHECK(request.find("no_such") == nullptr);
    CHECK(std::holds_alternative<NeedMore>(d.next()));
    CHECK(d.buffered() == 0);

    auto typed = parseRequest(request);
    REQUIRE(std::holds_alternative<PolicyRequest>(typed));
    const auto& p = std::get<PolicyRequest>(typed);
    CHECK(p.protocol_state == ProtocolState::Rcpt);
    CHECK(p.client_address == "198.51.100.7");
    CHECK(p.client_port == 50412);
    CHECK(p.server_port == 25);
    CHECK(p.sender == "alice@example.net");
    CHECK(p.recipient == "bob@example.com");
    CHECK(p.recipient_count == 0);
    CHECK(p.size == 2048);
    CHECK(p.instance == "1c2f.6554d1c2.3e8a1.0");
    CHECK(p.encryption_keysize == 256);
    CHECK(p.sasl_username.empty());
}

TEST_CASE("decode: leniency rules (first '=', empty values, repeats, unknown names, CR, 8-bit)", "[codec]") {
    const std::vector<std::string> want = {
        describe(req({{"request", "smtpd_access_policy"}, {"protocol_state", "RCPT"}, {"sender", "a=b@x.example"},
                      {"recipient", ""}, {"x-unknown", "whatever"}})),
        describe(req({{"protocol_state", "END-OF-MESSAGE"}, {"client_address", "2001:db8::1"}, {"size", "123"},
                      {"value", "\xff\xfe gr\xc3\xa5"}})),
        describe(req({})),
        "NeedMore",
    };
    CHECK(decodeAll(kStream, {}) == want);
    CHECK(decodeLines(kStream) == want);
}

TEST_CASE("decode: input split at every byte gives the same requests", "[codec]") {
    const std::string stream = kPostfixRcpt + kStream;
    const auto want = decodeAll(stream, {});
    REQUIRE(want.size() == 5);
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        INFO("split at " << cut);
        CHECK(decodeAll(stream, {cut}) == want);
    }
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < stream.size(); ++i) every.push_back(i);
    CHECK(decodeAll(stream, every) == want);
}

TEST_CASE("decode: nothing is inherited from an earlier request on the connection", "[codec]") {
    // Anchors bug log B6/B7: request 2 sends sasl_username empty and no sender.
    const std::string stream =
        "sasl_username=alice@example.com\nsender=bad@@x\nrecipient=u@example.org\n\n"
        "sasl_username=\nclient_address=203.0.113.9\n\n";
    Decoder d;
    d.append(stream);
    auto first = d.next();
    auto second = d.next();
    REQUIRE(std::holds_alternative<Request>(second));
    const auto& r2 = std::get<Request>(second);
    REQUIRE(r2.find("sasl_username") != nullptr);
    CHECK(r2.find("sasl_username")->empty());
    CHECK(r2.find("sender") == nullptr);
    CHECK(r2.find("recipient") == nullptr);
    auto typed = parseRequest(r2);
    REQUIRE(std::holds_alternative<PolicyRequest>(typed));
    CHECK(std::get<PolicyRequest>(typed).sasl_username.empty());
    CHECK(std::get<PolicyRequest>(typed).client_address == "203.0.113.9");
}

TEST_CASE("decode: CR handling", "[codec]") {
    struct Case {
        const char* name;
        std::string stream;
        std::string value;  // of attribute "a"
    };
    const Case cases[] = {
        {"CR LF stripped", "a=b\r\n\r\n", "b"},
        {"only one CR stripped", "a=b\r\r\n\n", "b\r"},
        {"CR inside a value is data", "a=x\ry\n\n", "x\ry"},
        {"CR as the whole value", "a=\r\r\n\n", "\r"},
        {"leading CR in the value", "a=\rb\n\n", "\rb"},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        for (bool by_line : {false, true}) {
            Decoder d;
            DecodeResult r = NeedMore{};
            if (by_line) {
                std::string_view s = c.stream;
                while (std::holds_alternative<NeedMore>(r) && !s.empty()) {
                    auto lf = s.find('\n');
                    r = d.addLine(s.substr(0, lf));
                    s.remove_prefix(lf + 1);
                }
            } else {
                d.append(c.stream);
                r = d.next();
            }
            REQUIRE(std::holds_alternative<Request>(r));
            CHECK(visible(std::get<Request>(r).get("a")) == visible(c.value));
        }
    }
}

TEST_CASE("decode: malformed input is a sticky ProtocolError", "[codec]") {
    struct Case {
        const char* name;
        std::string stream;
        const char* reason_part;
    };
    const Case cases[] = {
        {"NUL in value", "a=b\0c\n\n"s, "NUL"},
        {"NUL in name", "a\0=b\n\n"s, "NUL"},
        {"no '='", "sender\n\n", "without '='"},
        {"empty name", "=value\n\n", "empty name"},
        {"junk after a good line", "a=b\njunk\n\n", "without '='"},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        Decoder d;
        d.append(c.stream);
        DecodeResult r = d.next();
        REQUIRE(std::holds_alternative<ProtocolError>(r));
        CHECK_THAT(std::get<ProtocolError>(r).reason, Catch::Contains(c.reason_part));
        CHECK(d.failed());
        d.append("a=b\n\n");
        CHECK(std::holds_alternative<ProtocolError>(d.next()));
        CHECK(std::holds_alternative<ProtocolError>(d.addLine("a=b")));
        CHECK(decodeLines(c.stream).back() == "failed");
    }
    // The error reason never quotes the data.
    Decoder d;
    d.append("secret-token-value\n");
    auto r = d.next();
    REQUIRE(std::holds_alternative<ProtocolError>(r));
    CHECK(std::get<ProtocolError>(r).reason.find("secret") == std::string::npos);
}

TEST_CASE("decode: max_line_bytes at -1, 0, +1 (bytes and lines, with and without CR)", "[codec]") {
    PolicyLimits limits;
    limits.max_line_bytes = 32;
    for (long delta : {-1L, 0L, 1L}) {
        const std::size_t len = static_cast<std::size_t>(32 + delta);
        const std::string line = "a=" + std::string(len - 2, 'v');
        const bool ok = delta <= 0;
        for (const char* eol : {"\n", "\r\n"}) {
            INFO("line length " << len << (eol[0] == '\r' ? " with CR" : ""));
            const std::string stream = line + eol + "\n";
            auto got = decodeAll(stream, {}, limits);
            CHECK((got.front().rfind("Request", 0) == 0) == ok);
            // Split everywhere: the verdict does not depend on how bytes arrive.
            for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
                CHECK(decodeAll(stream, {cut}, limits) == got);
            }
            CHECK((decodeLines(stream, limits).front().rfind("Request", 0) == 0) == ok);
        }
    }
    // Too long and no LF yet: reported as soon as the limit is passed, not at the LF.
    Decoder d(limits);
    d.append(std::string(33, 'x'));
    CHECK(std::holds_alternative<ProtocolError>(d.next()));
    Decoder d2(limits);
    d2.append(std::string(32, 'x'));
    CHECK(std::holds_alternative<NeedMore>(d2.next()));
}

TEST_CASE("decode: max_name_bytes, max_attributes and max_request_bytes at -1, 0, +1", "[codec]") {
    SECTION("name") {
        PolicyLimits limits;
        limits.max_name_bytes = 8;
        for (std::size_t n : {7u, 8u, 9u}) {
            INFO("name length " << n);
            auto got = decodeAll(std::string(n, 'n') + "=v\n\n", {}, limits);
            CHECK((got.front().rfind("Request", 0) == 0) == (n <= 8));
        }
    }
    SECTION("attributes") {
        PolicyLimits limits;
        limits.max_attributes = 4;
        for (std::size_t n : {3u, 4u, 5u}) {
            INFO(n << " attribute lines (repeats count)");
            std::string stream;
            for (std::size_t i = 0; i < n; ++i) stream += "same=" + std::to_string(i) + "\n";
            stream += "\n";
            auto got = decodeAll(stream, {}, limits);
            CHECK((got.front().rfind("Request", 0) == 0) == (n <= 4));
            if (n <= 4) CHECK(got.front() == "Request{same=0;}");
        }
        // The count restarts with every request.
        std::string two = "a=1\nb=2\nc=3\nd=4\n\na=1\nb=2\nc=3\nd=4\n\n";
        auto got = decodeAll(two, {}, limits);
        CHECK(got.size() == 3);
        CHECK(got.back() == "NeedMore");
    }
    SECTION("request bytes") {
        // "a=1234\n" is 7 bytes; three lines plus the final LF = 22 bytes.
        for (std::size_t limit : {21u, 22u, 23u}) {
            PolicyLimits limits;
            limits.max_request_bytes = limit;
            INFO("max_request_bytes " << limit);
            auto got = decodeAll("a=1234\nb=1234\nc=1234\n\n", {}, limits);
            CHECK((got.front().rfind("Request", 0) == 0) == (limit >= 22));
        }
    }
}

TEST_CASE("decode: an empty line alone is an empty request", "[codec]") {
    Decoder d;
    d.append("\n\r\n");
    auto a = d.next();
    auto b = d.next();
    REQUIRE(std::holds_alternative<Request>(a));
    REQUIRE(std::holds_alternative<Request>(b));
    CHECK(std::get<Request>(a).attributes.empty());
    auto typed = parseRequest(std::get<Request>(a));
    REQUIRE(std::holds_alternative<PolicyRequest>(typed));
    CHECK(std::get<PolicyRequest>(typed) == PolicyRequest{});
}

TEST_CASE("parseRequest: numbers, request type and protocol states", "[codec]") {
    struct Case {
        const char* name;
        std::vector<Attribute> attrs;
        bool ok;
    };
    const Case cases[] = {
        {"empty numbers are 0", {{"size", ""}, {"recipient_count", ""}, {"client_port", ""}}, true},
        {"missing numbers are 0", {}, true},
        {"uint32 max port", {{"client_port", "4294967295"}}, true},
        {"port overflow", {{"client_port", "4294967296"}}, false},
        {"uint64 max size", {{"size", "18446744073709551615"}}, true},
        {"size overflow", {{"size", "18446744073709551616"}}, false},
        {"leading zeros", {{"recipient_count", "007"}}, true},
        {"negative", {{"size", "-1"}}, false},
        {"plus sign", {{"size", "+1"}}, false},
        {"space", {{"recipient_count", " 1"}}, false},
        {"hex", {{"encryption_keysize", "0x10"}}, false},
        {"other request type", {{"request", "junk"}}, false},
        {"request type sent empty", {{"request", ""}}, false},
        {"unknown attributes ignored", {{"x", "\xff"}, {"ccert_subject", "+41B+20C"}}, true},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        auto r = parseRequest(Request{c.attrs});
        CHECK(std::holds_alternative<PolicyRequest>(r) == c.ok);
    }
    auto r = parseRequest(Request{{{"recipient_count", "007"}, {"size", "18446744073709551615"}}});
    CHECK(std::get<PolicyRequest>(r).recipient_count == 7);
    CHECK(std::get<PolicyRequest>(r).size == 18446744073709551615ULL);
    auto e = parseRequest(Request{{{"size", "12x"}}});
    CHECK_THAT(std::get<ProtocolError>(e).reason, Catch::Contains("size"));

    struct State {
        const char* text;
        ProtocolState state;
    };
    const State states[] = {
        {"CONNECT", ProtocolState::Connect}, {"EHLO", ProtocolState::Ehlo},
        {"HELO", ProtocolState::Helo},       {"MAIL", ProtocolState::Mail},
        {"RCPT", ProtocolState::Rcpt},       {"DATA", ProtocolState::Data},
        {"END-OF-MESSAGE", ProtocolState::EndOfMessage},
        {"VRFY", ProtocolState::Vrfy},       {"ETRN", ProtocolState::Etrn},
        {"rcpt", ProtocolState::Rcpt},       {"end-of-message", ProtocolState::EndOfMessage},
        {"BDAT", ProtocolState::Unknown},    {"", ProtocolState::Unknown},
        {"RCPT ", ProtocolState::Unknown},   {"RCP", ProtocolState::Unknown},
    };
    for (const auto& s : states) {
        INFO("state '" << s.text << "'");
        CHECK(parseProtocolState(s.text) == s.state);
        auto p = parseRequest(Request{{{"protocol_state", s.text}}});
        CHECK(std::get<PolicyRequest>(p).protocol_state == s.state);
        CHECK(std::get<PolicyRequest>(p).protocol_state_text == s.text);
    }
    CHECK(std::string(protocolStateName(ProtocolState::EndOfMessage)) == "END-OF-MESSAGE");
    CHECK(std::string(protocolStateName(ProtocolState::Unknown)) == "UNKNOWN");
}

TEST_CASE("encodeReply: exactly one well-formed reply", "[codec]") {
    CHECK(encodeReply("DUNNO") == "action=DUNNO\n\n");
    CHECK(encodeReply("450 4.7.1 try later") == "action=450 4.7.1 try later\n\n");
    CHECK(encodeReply("") == "action=\n\n");
    CHECK(encodeReply("REJECT a\nb\rc\0d"s) == "action=REJECT a b c d\n\n");
    CHECK(encodeReply("DUNNO", {{"x-rule", "greylist"}, {"", "dropped"}, {"a=b", "dropped"}, {"v", "1\n2"}}) ==
          "action=DUNNO\nx-rule=greylist\nv=1 2\n\n");
    // Whatever the action text, the reply decodes to that one action.
    std::string all;
    for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
    const std::string wire = encodeReply(all);
    std::size_t consumed = 0;
    auto r = decodeReply(wire, &consumed);
    REQUIRE(std::holds_alternative<Reply>(r));
    CHECK(consumed == wire.size());
    CHECK(std::get<Reply>(r).action->size() == 256);
}

TEST_CASE("decodeReply: incomplete, first action wins, no action", "[codec]") {
    const std::string wire = "x-debug=rule 12\naction=OK\naction=REJECT ignored\n\nrest";
    for (std::size_t n = 0; n < wire.size() - 4; ++n) {
        INFO("prefix " << n);
        std::size_t consumed = 0;
        CHECK(std::holds_alternative<NeedMore>(decodeReply(std::string_view(wire).substr(0, n), &consumed)));
    }
    std::size_t consumed = 0;
    auto r = decodeReply(wire, &consumed);
    REQUIRE(std::holds_alternative<Reply>(r));
    CHECK(*std::get<Reply>(r).action == "OK");
    CHECK(std::get<Reply>(r).attributes.size() == 3);
    CHECK(consumed == wire.size() - 4);

    auto none = decodeReply("\n", &consumed);
    REQUIRE(std::holds_alternative<Reply>(none));
    CHECK(!std::get<Reply>(none).action);
    CHECK(consumed == 1);
    CHECK(std::holds_alternative<ProtocolError>(decodeReply("garbage\n\n", &consumed)));
    CHECK(std::holds_alternative<ProtocolError>(decodeReply("action=a\0b\n\n"s, &consumed)));
}

TEST_CASE("round trip: typed request -> wire -> typed request", "[codec]") {
    PolicyRequest p;
    p.protocol_state = ProtocolState::EndOfMessage;
    p.protocol_name = "ESMTP";
    p.client_address = "2001:db8:10:1::25";
    p.client_name = "unknown";
    p.client_port = 65535;
    p.sender = "gr\xc3\xa5@gr\xc3\xa5.example";
    p.recipient = "";
    p.recipient_count = 20;
    p.instance = "3f2a.6554d1c2.a1b2c.0";
    p.size = 123456789012ULL;
    p.sasl_method = "PLAIN";
    p.sasl_username = "bob@example.test";
    p.ccert_subject = "+41+20b=c";
    p.encryption_keysize = 256;
    p.policy_context = "submission";
    p.mail_version = "3.10.1";
    p.protocol_state_text = "END-OF-MESSAGE";
    const std::string wire = encodeRequest(toRequest(p));
    Decoder d;
    d.append(wire);
    auto r = d.next();
    REQUIRE(std::holds_alternative<Request>(r));
    CHECK(encodeRequest(std::get<Request>(r)) == wire);
    auto back = parseRequest(std::get<Request>(r));
    REQUIRE(std::holds_alternative<PolicyRequest>(back));
    CHECK(std::get<PolicyRequest>(back) == p);

    // Unrepresentable pairs are dropped, never sent half-written.
    CHECK(encodeRequest(Request{{{"a", "1\n2"}, {"b=c", "x"}, {"", "y"}, {"ok", "v"}}}) == "ok=v\n\n");
}
