#include "common/proto/dovecot_auth/base64.h"

#include <catch2/catch.hpp>
#include <string>

using namespace titan::proto::dovecot_auth;
using namespace std::string_literals;

TEST_CASE("base64: RFC 4648 test vectors both ways", "[codec]") {
    const std::pair<std::string, std::string> vectors[] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
        {"\0john@example.com\0secret"s, "AGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0"},
        {"Username:", "VXNlcm5hbWU6"}, {"Password:", "UGFzc3dvcmQ6"},
        {"\xff\xfe\xfd"s, "//79"},
    };
    for (const auto& [raw, b64] : vectors) {
        INFO(b64);
        CHECK(base64Encode(raw) == b64);
        auto d = base64Decode(b64);
        REQUIRE(d);
        CHECK(*d == raw);
    }
}

TEST_CASE("base64: every length and byte value round-trips", "[codec]") {
    std::string raw;
    for (int n = 0; n < 300; ++n) {
        raw += static_cast<char>((n * 37 + 11) & 0xff);
        const std::string enc = base64Encode(raw);
        CHECK(enc.size() % 4 == 0);
        CHECK(isBase64Alphabet(enc));
        auto d = base64Decode(enc);
        REQUIRE(d);
        CHECK(*d == raw);
    }
}

TEST_CASE("base64: each refused form", "[codec]") {
    const std::string bad[] = {
        "Zg",        // missing padding
        "Zg=",       // short padding
        "Z",         "Zm9",
        "Zg===",     // too much padding
        "====",      "A===",     "Z=g=",  // '=' inside
        "Zm9v Zg==", // space
        "Zm9v\r\n",  "Zm9-",     "Zm9_",  // URL alphabet
        "Zm9\x01",   "@@@",      "Zm9v\0Zg=="s,
        "Zg==Zg==",  // padding in the middle
    };
    for (const auto& b : bad) {
        INFO(b);
        CHECK_FALSE(base64Decode(b));
    }
    CHECK(isBase64Alphabet("AZaz09+/="));
    CHECK_FALSE(isBase64Alphabet("a b"));
    CHECK_FALSE(isBase64Alphabet("a\tb"));
}

TEST_CASE("base64: non-canonical trailing bits are accepted", "[codec]") {
    // "Zh==" has low bits set in the last sextet; it still decodes to "f".
    auto d = base64Decode("Zh==");
    REQUIRE(d);
    CHECK(*d == "f");
}
