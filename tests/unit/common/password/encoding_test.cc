// Tests for the hex/base64 helpers of common/password (Dovecot 2.3 acceptance rules).
#include "common/password/encoding.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

using titan::password::detail::base64Decode;
using titan::password::detail::base64Encode;
using titan::password::detail::hexDecode;
using titan::password::detail::hexEncode;

TEST_CASE("hexEncode / hexDecode", "[codec]") {
    using namespace std::string_literals;
    CHECK(hexEncode("") == "");
    CHECK(hexEncode("\x00\x01\x7f\x80\xff"s) == "00017f80ff");
    CHECK(hexDecode("") == std::string());
    CHECK(hexDecode("00017f80ff") == "\x00\x01\x7f\x80\xff"s);
    CHECK(hexDecode("ABCDEF") == "\xab\xcd\xef"s);
    CHECK(hexDecode("aBcD") == "\xab\xcd"s);
    // length limits around a pair: -1 / 0 / +1
    CHECK_FALSE(hexDecode("a"));
    CHECK(hexDecode("ab") == "\xab"s);
    CHECK_FALSE(hexDecode("abc"));
    for (const char* bad : {"0g", "g0", " 0", "0 ", "0x", "+1", "\xff\xff"}) {
        INFO(bad);
        CHECK_FALSE(hexDecode(bad));
    }
}

TEST_CASE("base64 round trip at every length around a group", "[codec]") {
    std::string data;
    for (int i = 0; i < 70; ++i) {
        INFO(i);
        const std::string enc = base64Encode(data);
        CHECK(enc.size() == (data.size() + 2) / 3 * 4);
        auto dec = base64Decode(enc);
        REQUIRE(dec);
        CHECK(*dec == data);
        data.push_back(static_cast<char>(i * 37 + 11));
    }
}

TEST_CASE("base64Decode known values and rejects", "[codec]") {
    struct Case { const char* in; std::optional<std::string> want; };
    const Case cases[] = {
        {"", std::string()},
        {"YQ==", std::string("a")},     // padding 2
        {"YWI=", std::string("ab")},    // padding 1
        {"YWJj", std::string("abc")},   // padding 0
        {"YWJjZA==", std::string("abcd")},
        {"Y===", std::nullopt},         // padding 3
        {"====", std::nullopt},
        {"=", std::nullopt},
        {"YQ=", std::nullopt},          // length 3
        {"YQ", std::nullopt},           // unpadded
        {"YWJjZ", std::nullopt},        // length 5
        {"YW=j", std::nullopt},         // padding in the middle
        {"YQ==YQ==", std::nullopt},
        {"YW-j", std::nullopt},         // base64url alphabet
        {"YW_j", std::nullopt},
        {"YW.j", std::nullopt},
        {"Y Q = =", std::string("a")},  // whitespace skipped
        {"YW\r\nJj\t", std::string("abc")},
        {"  ", std::string()},
        {"c2VjcmV0", std::string("secret")},
    };
    for (const auto& c : cases) {
        INFO(c.in);
        CHECK(base64Decode(c.in) == c.want);
    }
}
