#include "common/base/strings.h"

#include <catch2/catch.hpp>

using namespace titan::base;

TEST_CASE("isValidUtf8 accepts well-formed and rejects malformed input", "[codec]") {
    struct Case { const char* name; std::string in; bool want; };
    const Case cases[] = {
        {"ascii", "bob@example.test", true},
        {"two-byte", "j\xc3\xb8rn", true},
        {"three-byte", "\xe2\x82\xac", true},
        {"four-byte", "\xf0\x9f\x98\x80", true},
        {"truncated two-byte", "\xc3", false},
        {"truncated four-byte", "\xf0\x9f\x98", false},
        {"overlong slash", "\xc0\xaf", false},
        {"surrogate", "\xed\xa0\x80", false},
        {"above max", "\xf4\x90\x80\x80", false},
        {"lone continuation", "\x80", false},
        {"invalid lead", "\xff", false},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        CHECK(isValidUtf8(c.in) == c.want);
    }
}

TEST_CASE("parseUnsigned and parseSigned bound their input", "[codec]") {
    CHECK(parseUnsigned("0") == 0ULL);
    CHECK(parseUnsigned("18446744073709551615") == 18446744073709551615ULL);
    CHECK_FALSE(parseUnsigned("18446744073709551616"));
    CHECK_FALSE(parseUnsigned("-1"));
    CHECK_FALSE(parseUnsigned(""));
    CHECK_FALSE(parseUnsigned("12a"));
    CHECK(parseSigned("-9223372036854775808") == (-9223372036854775807LL - 1));
    CHECK_FALSE(parseSigned("9223372036854775808"));
    CHECK(parseSigned("-42") == -42);
}

TEST_CASE("split, iequals, asciiLower, logfmtQuote", "[codec]") {
    CHECK(split("a,,b", ',') == std::vector<std::string_view>{"a", "", "b"});
    CHECK(split("", ',') == std::vector<std::string_view>{""});
    CHECK(iequals("SHA512-Crypt", "sha512-crypt"));
    CHECK_FALSE(iequals("sha", "sha1"));
    CHECK(asciiLower("Bob@Example.TEST") == "bob@example.test");
    CHECK(logfmtQuote("plain") == "plain");
    CHECK(logfmtQuote("has space") == "\"has space\"");
    CHECK(logfmtQuote("a\"b\n") == "\"a\\\"b\\n\"");
    CHECK(logfmtQuote("") == "\"\"");
}
