#include "common/net/cidr.h"

#include <catch2/catch.hpp>

using namespace titan::net;

TEST_CASE("Address::parse accepts v4, v6, brackets and mapped v4", "[codec]") {
    CHECK(Address::parse("192.0.2.1")->str() == "192.0.2.1");
    CHECK(Address::parse("2001:db8::1")->v6);
    CHECK(Address::parse("[2001:db8::1]")->str() == "2001:db8::1");
    auto mapped = Address::parse("::ffff:192.0.2.7");
    REQUIRE(mapped);
    CHECK_FALSE(mapped->v6);
    CHECK(mapped->str() == "192.0.2.7");
    for (const char* bad : {"", "1.2.3", "1.2.3.256", "example.test", "2001:db8:::1", "1.2.3.4 "}) {
        INFO(bad);
        CHECK_FALSE(Address::parse(bad));
    }
}

TEST_CASE("Cidr contains at prefix boundaries", "[codec]") {
    struct Case { const char* cidr; const char* addr; bool want; };
    const Case cases[] = {
        {"192.0.2.0/24", "192.0.2.255", true},
        {"192.0.2.0/24", "192.0.3.0", false},
        {"192.0.2.0/25", "192.0.2.127", true},
        {"192.0.2.0/25", "192.0.2.128", false},
        {"0.0.0.0/0", "203.0.113.9", true},
        {"0.0.0.0/0", "2001:db8::1", false},
        {"2001:db8::/64", "2001:db8::ffff:1", true},
        {"2001:db8::/64", "2001:db8:0:1::1", false},
        {"2001:db8::1", "2001:db8::1", true},
        {"192.0.2.9", "192.0.2.10", false},
        {"192.0.2.77/24", "192.0.2.1", true},  // host bits are cleared
    };
    for (const auto& c : cases) {
        INFO(c.cidr << " " << c.addr);
        auto n = Cidr::parse(c.cidr);
        REQUIRE(n.ok());
        CHECK(n->contains(*Address::parse(c.addr)) == c.want);
    }
    CHECK_FALSE(Cidr::parse("192.0.2.0/33").ok());
    CHECK_FALSE(Cidr::parse("2001:db8::/129").ok());
    CHECK_FALSE(Cidr::parse("192.0.2.0/").ok());
    CHECK(Cidr::parse("2001:db8::/128").ok());
}

TEST_CASE("networkOf and CidrList", "[codec]") {
    CHECK(networkOf(*Address::parse("198.51.100.77"), 24).str() == "198.51.100.0/24");
    CHECK(networkOf(*Address::parse("2001:db8:1:2:3:4:5:6"), 64).str() == "2001:db8:1:2::/64");
    auto list = CidrList::parse({"127.0.0.0/8", "::1"});
    REQUIRE(list.ok());
    CHECK(list->contains("127.1.2.3"));
    CHECK(list->contains("::1"));
    CHECK_FALSE(list->contains("10.0.0.1"));
    CHECK_FALSE(list->contains("not an address"));
    CHECK_FALSE(CidrList::parse({"127.0.0.0/8", "bogus"}).ok());
}
