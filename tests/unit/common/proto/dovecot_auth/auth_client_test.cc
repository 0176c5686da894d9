#include "common/proto/dovecot_auth/auth_client.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace titan::proto::dovecot_auth;
using namespace std::string_literals;

namespace {

Auth authOf(const std::variant<Command, ProtocolError>& r) {
    REQUIRE(std::holds_alternative<Command>(r));
    const auto& cmd = std::get<Command>(r);
    REQUIRE(std::holds_alternative<Auth>(cmd));
    return std::get<Auth>(cmd);
}

std::string errorOf(const std::variant<Command, ProtocolError>& r) {
    REQUIRE(std::holds_alternative<ProtocolError>(r));
    return std::get<ProtocolError>(r).reason;
}

}  // namespace

TEST_CASE("parseVersion: valid forms and each error", "[codec]") {
    CHECK(std::get<Version>(parseVersion("VERSION\t1\t0")) == Version{1, 0});
    CHECK(std::get<Version>(parseVersion("VERSION\t1\t2")) == Version{1, 2});
    CHECK(std::get<Version>(parseVersion("VERSION\t01\t4294967295")) == Version{1, 4294967295u});
    CHECK(std::get<Version>(parseVersion("VERSION\t1\t3\textra")) == Version{1, 3});
    const std::string bad[] = {
        "",       "VERSION",          "VERSION\t1",       "VERSION\t2\t0",   "VERSION\t0\t0",
        "VERSION\tx\t0", "VERSION\t1\t-1",  "VERSION\t1\t4294967296", "VERSION\t1\t",
        "version\t1\t0", "CPID\t1",         "VERSION\t1\t0\0"s, "VERSION \t1\t0",  "VERSION\t+1\t0",
    };
    for (const auto& b : bad) {
        INFO(b);
        CHECK(std::holds_alternative<ProtocolError>(parseVersion(b)));
    }
}

TEST_CASE("parseCpid: valid forms and each error", "[codec]") {
    CHECK(std::get<Cpid>(parseCpid("CPID\t20411")) == Cpid{20411});
    CHECK(std::get<Cpid>(parseCpid("CPID\t4294967295\tx")) == Cpid{4294967295u});
    const std::string bad[] = {"CPID", "CPID\t", "CPID\t0", "CPID\t-5", "CPID\t4294967296", "CPID\tabc",
                               "VERSION\t1\t0", "AUTH\t1\tPLAIN\tservice=smtp", "cpid\t1", "CPID\t1\0"s};
    for (const auto& b : bad) {
        INFO(b);
        CHECK(std::holds_alternative<ProtocolError>(parseCpid(b)));
    }
}

TEST_CASE("parseCommand: AUTH as Postfix sends it (protocols.md 4.6 A)", "[codec]") {
    auto a = authOf(parseCommand(
        "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=192.0.2.10\trip=198.51.100.7\tsecured\t"
        "resp=AGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0",
        0));
    CHECK(a.id == 1);
    CHECK(a.mechanism == "PLAIN");
    CHECK(a.service == "smtp");
    CHECK(a.local_ip == "192.0.2.10");
    CHECK(a.remote_ip == "198.51.100.7");
    CHECK(a.secured);
    CHECK_FALSE(a.valid_client_cert);
    CHECK(a.response == Response::Present);
    CHECK(a.initial_response == "\0john@example.com\0secret"s);
}

TEST_CASE("parseCommand: AUTH parameters", "[codec]") {
    struct Case {
        const char* name;
        std::string line;
        std::uint32_t minor;
        Auth want;
    };
    const Case cases[] = {
        {"minimal", "AUTH\t7\tLOGIN\tservice=smtp", 0, Auth{7, "LOGIN", "smtp", "", "", false, false, Response::Absent, ""}},
        {"leading zeros in id", "AUTH\t0007\tLOGIN\tservice=smtp", 0,
         Auth{7, "LOGIN", "smtp", "", "", false, false, Response::Absent, ""}},
        {"max id", "AUTH\t4294967295\tplain\tservice=imap", 0,
         Auth{4294967295u, "plain", "imap", "", "", false, false, Response::Absent, ""}},
        {"unknown params ignored", "AUTH\t1\tPLAIN\tsession=abc\tlport=25\tdebug\tservice=smtp\tno-penalty\tx=", 0,
         Auth{1, "PLAIN", "smtp", "", "", false, false, Response::Absent, ""}},
        {"IPv6 addresses", "AUTH\t1\tPLAIN\tservice=smtp\tlip=::1\trip=2001:db8::7", 0,
         Auth{1, "PLAIN", "smtp", "::1", "2001:db8::7", false, false, Response::Absent, ""}},
        {"invalid addresses dropped", "AUTH\t1\tPLAIN\tservice=smtp\tlip=300.1.1.1\trip=host.example", 0,
         Auth{1, "PLAIN", "smtp", "", "", false, false, Response::Absent, ""}},
        {"repeated parameter: last wins", "AUTH\t1\tPLAIN\tservice=imap\tservice=smtp\trip=192.0.2.1\trip=192.0.2.2", 0,
         Auth{1, "PLAIN", "smtp", "", "192.0.2.2", false, false, Response::Absent, ""}},
        {"secured=tls and client cert", "AUTH\t1\tPLAIN\tservice=smtp\tsecured=tls\tvalid-client-cert", 0,
         Auth{1, "PLAIN", "smtp", "", "", true, true, Response::Absent, ""}},
        {"escaped service value", "AUTH\t1\tPLAIN\tservice=sm\x01tp", 0,
         Auth{1, "PLAIN", "sm\tp", "", "", false, false, Response::Absent, ""}},
        {"bare resp is an unknown flag", "AUTH\t1\tPLAIN\tresp\tservice=smtp", 0,
         Auth{1, "PLAIN", "smtp", "", "", false, false, Response::Absent, ""}},
        {"empty resp, minor 0: no initial response", "AUTH\t1\tPLAIN\tservice=smtp\tresp=", 0,
         Auth{1, "PLAIN", "smtp", "", "", false, false, Response::Absent, ""}},
        {"empty resp, minor 1: no initial response", "AUTH\t1\tPLAIN\tservice=smtp\tresp=", 1,
         Auth{1, "PLAIN", "smtp", "", "", false, false, Response::Absent, ""}},
        {"empty resp, minor 2: empty initial response", "AUTH\t1\tPLAIN\tservice=smtp\tresp=", 2,
         Auth{1, "PLAIN", "smtp", "", "", false, false, Response::Present, ""}},
        {"resp== is empty for minor 0", "AUTH\t1\tPLAIN\tservice=smtp\tresp==", 0,
         Auth{1, "PLAIN", "smtp", "", "", false, false, Response::Present, ""}},
        {"invalid base64", "AUTH\t3\tPLAIN\tservice=smtp\tresp=@@@", 0,
         Auth{3, "PLAIN", "smtp", "", "", false, false, Response::InvalidBase64, ""}},
        {"unpadded base64 is invalid", "AUTH\t3\tPLAIN\tservice=smtp\tresp=Zg", 0,
         Auth{3, "PLAIN", "smtp", "", "", false, false, Response::InvalidBase64, ""}},
        {"LOGIN user as initial response", "AUTH\t2\tLOGIN\tservice=smtp\tresp=am9obkBleGFtcGxlLmNvbQ==", 0,
         Auth{2, "LOGIN", "smtp", "", "", false, false, Response::Present, "john@example.com"}},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        CHECK(authOf(parseCommand(c.line, c.minor)) == c.want);
    }
}

TEST_CASE("parseCommand: CONT and CANCEL", "[codec]") {
    auto cont = [](std::string_view line) {
        auto r = parseCommand(line, 0);
        REQUIRE(std::holds_alternative<Command>(r));
        return std::get<Cont>(std::get<Command>(r));
    };
    CHECK(cont("CONT\t2\tam9obkBleGFtcGxlLmNvbQ==") == Cont{2, true, "john@example.com"});
    CHECK(cont("CONT\t2\t") == Cont{2, true, ""});
    CHECK(cont("CONT\t0\t") == Cont{0, true, ""});
    CHECK(cont("CONT\t9\t@@") == Cont{9, false, ""});
    CHECK(cont("CONT\t9\tZm9v\tZm9v") == Cont{9, false, ""});  // a TAB is data, not base64
    CHECK(cont("CONT\t9\tZm9v\x01t") == Cont{9, false, ""});
    auto cancel = parseCommand("CANCEL\t12", 0);
    CHECK(std::get<Cancel>(std::get<Command>(cancel)) == Cancel{12});
}

TEST_CASE("parseCommand: each protocol error", "[codec]") {
    const std::pair<std::string, std::string> bad[] = {
        {"", "unknown command"},
        {"NOPE", "unknown command"},
        {"auth\t1\tPLAIN\tservice=smtp", "unknown command"},
        {"VERSION\t1\t0", "unknown command"},
        {"CPID\t1", "unknown command"},
        {"AUTH", "expected id and mechanism"},
        {"AUTH\t1", "expected id and mechanism"},
        {"AUTH\t0\tPLAIN\tservice=smtp", "request id 0"},
        {"AUTH\t-1\tPLAIN\tservice=smtp", "malformed request id"},
        {"AUTH\t4294967296\tPLAIN\tservice=smtp", "malformed request id"},
        {"AUTH\t\tPLAIN\tservice=smtp", "malformed request id"},
        {"AUTH\t1 \tPLAIN\tservice=smtp", "malformed request id"},
        {"AUTH\t1\t\tservice=smtp", "empty mechanism"},
        {"AUTH\t1\tPLAIN", "missing service="},
        {"AUTH\t1\tPLAIN\tservice=", "missing service="},
        {"AUTH\t1\tPLAIN\tservice", "missing service="},
        {"AUTH\t1\tPLAIN\tresp=Zm9v\tservice=smtp", "parameters after resp="},
        {"AUTH\t1\tPLAIN\tservice=smtp\tresp=\tx", "parameters after resp="},
        {"AUTH\t1\tPLAIN\tservice=s\x01" "0mtp", "NUL in a parameter"},
        {"AUTH\t1\tPL\x01" "0AIN\tservice=smtp", "NUL in mechanism"},
        {"AUTH\t1\tPLAIN\tservice=smtp\0"s, "NUL byte"},
        {"AUTH\t1\tPLAIN\tservice=smtp\n", "LF inside"},
        {"CONT", "expected id and data"},
        {"CONT\t1", "expected id and data"},
        {"CONT\tx\tZm9v", "malformed request id"},
        {"CONT\t\tZm9v", "malformed request id"},
        {"CANCEL", "exactly one id"},
        {"CANCEL\t1\t2", "exactly one id"},
        {"CANCEL\tone", "malformed request id"},
    };
    for (const auto& [line, want] : bad) {
        INFO(line);
        const std::string got = errorOf(parseCommand(line, 2));
        CHECK_THAT(got, Catch::Contains(want));
    }
}

TEST_CASE("parseCommand: error reasons never echo request data", "[codec]") {
    const std::string secret = "c2VjcmV0LXBhc3N3b3Jk";
    for (const std::string& line : {"AUTH\t1\tPLAIN\tresp=" + secret + "\tservice=smtp",
                                    "XYZZY\t" + secret, "CONT\tx\t" + secret}) {
        CHECK_THAT(errorOf(parseCommand(line, 0)), !Catch::Contains(secret));
    }
}

TEST_CASE("parseMechanismName and mechanismName", "[codec]") {
    CHECK(parseMechanismName("PLAIN") == Mechanism::Plain);
    CHECK(parseMechanismName("plain") == Mechanism::Plain);
    CHECK(parseMechanismName("Login") == Mechanism::Login);
    CHECK_FALSE(parseMechanismName("CRAM-MD5"));
    CHECK_FALSE(parseMechanismName("PLAIN "));
    CHECK_FALSE(parseMechanismName(""));
    CHECK(std::string(mechanismName(Mechanism::Plain)) == "PLAIN");
    CHECK(std::string(mechanismName(Mechanism::Login)) == "LOGIN");
}

TEST_CASE("isIpAddress", "[codec]") {
    for (const char* ok : {"127.0.0.1", "198.51.100.7", "::1", "2001:db8::1", "::ffff:192.0.2.1"}) {
        INFO(ok);
        CHECK(isIpAddress(ok));
    }
    for (const char* bad : {"", "1.2.3", "256.1.1.1", "localhost", "1.2.3.4 ", "[::1]", "1.2.3.4:25",
                            "0000:0000:0000:0000:0000:0000:0000:0000:0000"}) {
        INFO(bad);
        CHECK_FALSE(isIpAddress(bad));
    }
}

TEST_CASE("server encoders: handshake and replies byte for byte", "[codec]") {
    Handshake h{{Mechanism::Plain, Mechanism::Login}, 812, 9, "5e0f1c2d3b4a69788796a5b4c3d2e1f0"};
    CHECK(encodeHandshake(h) ==
          "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nSPID\t812\nCUID\t9\n"
          "COOKIE\t5e0f1c2d3b4a69788796a5b4c3d2e1f0\nDONE\n");
    Handshake only_login{{Mechanism::Login}, 1, 2, "00"};
    CHECK(encodeHandshake(only_login) == "VERSION\t1\t2\nMECH\tLOGIN\tplaintext\nSPID\t1\nCUID\t2\nCOOKIE\t00\nDONE\n");
    CHECK(encodeCont(2, "Username:") == "CONT\t2\tVXNlcm5hbWU6\n");
    CHECK(encodeCont(1, "") == "CONT\t1\t\n");
    CHECK(encodeOk(1, "john@example.com") == "OK\t1\tuser=john@example.com\n");
    CHECK(encodeOk(1, "a\tb\nc\x01") == "OK\t1\tuser=a\x01tb\x01nc\x01" "1\n");
    CHECK(encodeFail(Fail{2, "john@example.com", "", ""}) == "FAIL\t2\tuser=john@example.com\n");
    CHECK(encodeFail(Fail{3, "", "invalid_base64", "Invalid base64 data in initial response"}) ==
          "FAIL\t3\tcode=invalid_base64\treason=Invalid base64 data in initial response\n");
    CHECK(encodeFail(Fail{4, "u@x.test", "user_disabled", "on\thold"}) ==
          "FAIL\t4\tuser=u@x.test\tcode=user_disabled\treason=on\x01thold\n");
    CHECK(encodeFail(Fail{5, "", "", ""}) == "FAIL\t5\n");
}

TEST_CASE("printableReason", "[codec]") {
    CHECK(printableReason("Account disabled") == "Account disabled");
    CHECK(printableReason("  a\r\n\tb \x7f c  ") == "a b c");
    CHECK(printableReason("") == "");
    CHECK(printableReason("\n\n") == "");
    CHECK(printableReason("abcdef", 3) == "abc");
    CHECK(printableReason("ab def", 3) == "ab");
    // Never cut inside a UTF-8 sequence: "é" is two bytes.
    CHECK(printableReason("a\xc3\xa9z", 2) == "a");
    CHECK(printableReason("a\xc3\xa9z", 3) == "a\xc3\xa9");
    CHECK(printableReason(std::string(500, 'x')).size() == 200);
}

TEST_CASE("round trip: parseCommand(encodeCommand(x)) == x", "[codec]") {
    const Command cmds[] = {
        Auth{1, "PLAIN", "smtp", "192.0.2.10", "198.51.100.7", true, false, Response::Present,
             "\0john@example.com\0secret"s},
        Auth{2, "LOGIN", "smtp", "", "", false, false, Response::Absent, ""},
        Auth{3, "PLAIN", "sub\tmission", "::1", "", false, true, Response::Present, ""},
        Auth{4, "PLAIN", "smtp", "", "", false, false, Response::InvalidBase64, ""},
        Auth{4294967295u, "XOAUTH2", "imap", "", "", false, false, Response::Absent, ""},
        Cont{5, true, "secret"},
        Cont{6, true, ""},
        Cont{7, false, ""},
        Cancel{8},
        Cancel{0},
    };
    for (const auto& c : cmds) {
        const std::string wire = encodeCommand(c);
        INFO(wire);
        REQUIRE(!wire.empty());
        CHECK(wire.back() == '\n');
        CHECK(wire.find('\n') == wire.size() - 1);
        auto back = parseCommand(std::string_view(wire).substr(0, wire.size() - 1), 2);
        REQUIRE(std::holds_alternative<Command>(back));
        CHECK(std::get<Command>(back) == c);
    }
    CHECK(encodeVersion(Version{1, 0}) == "VERSION\t1\t0\n");
    CHECK(encodeCpid(Cpid{20411}) == "CPID\t20411\n");
}

TEST_CASE("parseReply: every form and each error", "[codec]") {
    auto reply = [](std::string_view line) {
        auto r = parseReply(line);
        REQUIRE(std::holds_alternative<Reply>(r));
        return std::get<Reply>(r);
    };
    CHECK(reply("CONT\t2\tVXNlcm5hbWU6") == Reply{ReplyKind::Cont, 2, "Username:", {}});
    CHECK(reply("CONT\t1\t") == Reply{ReplyKind::Cont, 1, "", {}});
    CHECK(reply("OK\t1\tuser=john@example.com") == Reply{ReplyKind::Ok, 1, "", {"user=john@example.com"}});
    CHECK(reply("FAIL\t2\tuser=a\x01tb\treason=x") == Reply{ReplyKind::Fail, 2, "", {"user=a\tb", "reason=x"}});
    CHECK(reply("FAIL\t2") == Reply{ReplyKind::Fail, 2, "", {}});
    const std::string bad_replies[] = {"", "DONE", "OK\t1", "OK\t1\tx=y", "CONT\t1", "CONT\t1\t@", "FAIL",
                                       "FAIL\tx", "OK\t1\tuser=\0"s};
    for (const std::string& bad : bad_replies) {
        INFO(bad);
        CHECK(std::holds_alternative<ProtocolError>(parseReply(bad)));
    }
}

TEST_CASE("wipe clears a secret", "[codec]") {
    std::string s = "hunter2";
    wipe(s);
    CHECK(s.empty());
    std::string empty;
    wipe(empty);
    CHECK(empty.empty());
}
