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
