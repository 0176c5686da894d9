#include "common/identity/identity.h"

#include <catch2/catch.hpp>

using namespace titan::identity;

TEST_CASE("canonicalUser: one mailbox whatever the case of the login", "[core]") {
    Options lower;
    Options keep{LocalPartPolicy::Preserve, 320};
    struct Case { const char* name; std::string in; const Options* opt; const char* want; };
    const Case cases[] = {
        {"already canonical", "bob@example.test", &lower, "bob@example.test"},
        {"mixed case", "Bob@Example.TEST", &lower, "bob@example.test"},
        {"preserve local part", "Bob@Example.TEST", &keep, "Bob@example.test"},
        {"idna domain", "bob@B\xc3\xbc" "cher.example", &lower, "bob@xn--bcher-kva.example"},
        {"last at splits", "\"a@b\"@example.test", &lower, "\"a@b\"@example.test"},
        {"sql metacharacters are data", "o'brien;--@example.test", &lower, "o'brien;--@example.test"},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        auto r = canonicalUser(c.in, *c.opt);
        REQUIRE(r.ok());
        CHECK(*r == c.want);
    }
}

TEST_CASE("canonicalUser rejects malformed names as invalid input", "[core]") {
    Options o;
    const std::string bad[] = {
        "", "bob", "@example.test", "bob@", "bob@exa mple.test", "bob@-example.test",
        "bob@example..test", std::string("bob\0x@example.test", 19), "bob\n@example.test",
        "b\xff" "ob@example.test", std::string(65, 'a') + "@example.test",
        "bob@" + std::string(64, 'a') + ".test",
    };
    for (const auto& in : bad) {
        INFO(in);
        auto r = canonicalUser(in, o);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == titan::ErrorCode::InvalidInput);
    }
}

TEST_CASE("canonicalUser length limit at -1/0/+1", "[core]") {
    Options o;
    o.max_bytes = 40;
    std::string domain = "@example.test";  // 13 bytes
    auto make = [&](size_t total) { return std::string(total - domain.size(), 'a') + domain; };
    CHECK(canonicalUser(make(39), o).ok());
    CHECK(canonicalUser(make(40), o).ok());
    CHECK_FALSE(canonicalUser(make(41), o).ok());
}

TEST_CASE("domainOf and localPartOf", "[core]") {
    CHECK(domainOf("bob@example.test") == "example.test");
    CHECK(localPartOf("bob@example.test") == "bob");
    CHECK(domainOf("bob").empty());
}

// Bug-log rows 1-3 (anchors-auth-repl.md): one spelling per person, whatever the
// keyboard. "é" precomposed is C3 A9; decomposed it is "e" + U+0301 (CC 81).
TEST_CASE("canonicalUser: non-ASCII local parts in NFC, lower-cased in full Unicode", "[core]") {
    Options lower;
    Options keep{LocalPartPolicy::Preserve, 320};
    const std::string nfc = "\xc3\xa9lodie.l\xc3\xa9ger@d.example";
    const std::string nfd = "e\xcc\x81lodie.le\xcc\x81ger@d.example";
    const std::string upper_nfd = "E\xcc\x81LODIE.Le\xcc\x81ger@D.example";
    CHECK(*canonicalUser(nfc, lower) == nfc);
    CHECK(*canonicalUser(nfd, lower) == nfc);
    CHECK(*canonicalUser(upper_nfd, lower) == nfc);
    // Preserve keeps the case but still composes.
    CHECK(*canonicalUser(upper_nfd, keep) == "\xc3\x89LODIE.L\xc3\xa9ger@d.example");
    // Punctuation that Dovecot's default auth_username_chars refuses is a valid name.
    CHECK(*canonicalUser("^_^@D.example", lower) == "^_^@d.example");
    // The 64-byte local-part limit applies to the canonical form.
    std::string sixty_three(63, 'a');
    CHECK(canonicalUser(sixty_three + "\xc3\xa9@d.example", lower).ok() == false);  // 65 bytes
    CHECK(canonicalUser(std::string(62, 'a') + "\xc3\xa9@d.example", lower).ok());  // 64 bytes
    CHECK(canonicalUser(std::string(61, 'a') + "e\xcc\x81@d.example", lower).ok());  // 64 typed, 63 NFC
}

// Bug-log row 4: a password with umlauts typed precomposed or decomposed.
TEST_CASE("nfcIfDifferent: the password normalisation policy", "[core]") {
    CHECK_FALSE(nfcIfDifferent("plain-ascii").has_value());
    CHECK_FALSE(nfcIfDifferent("M\xc3\xbcsst3_kl4ppen").has_value());  // already NFC
    auto n = nfcIfDifferent("Mu\xcc\x88sst3_kl4ppen");                 // u + U+0308
    REQUIRE(n.has_value());
    CHECK(*n == "M\xc3\xbcsst3_kl4ppen");
    CHECK_FALSE(nfcIfDifferent("bad\xff utf8 u\xcc\x88").has_value());  // not UTF-8: untouched
}
