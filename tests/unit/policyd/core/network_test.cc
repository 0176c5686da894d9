#include "policyd/core/network.h"

#include <catch2/catch.hpp>

using namespace titan::policyd::core;

TEST_CASE("IpAddress: spellings of one address parse to one value", "[core]") {
    auto a = IpAddress::parse("2001:db8:10:1::26");
    REQUIRE(a);
    for (const char* s : {"2001:0db8:0010:0001:0:0:0:26", "[2001:db8:10:1::26]", "2001:DB8:10:1:0::26"}) {
        INFO(s);
        auto b = IpAddress::parse(s);
        REQUIRE(b);
        CHECK(*b == *a);
    }
    CHECK(a->str() == "2001:db8:10:1::26");
    auto mapped = IpAddress::parse("::ffff:192.0.2.7");
    REQUIRE(mapped);
    CHECK_FALSE(mapped->v6);
    CHECK(mapped->str() == "192.0.2.7");
    for (const char* bad : {"", "unknown", "192.0.2", "192.0.2.256", "fe80::1%eth0", "1.2.3.4/24", "::g"}) {
        INFO(bad);
        CHECK_FALSE(IpAddress::parse(bad));
    }
}

TEST_CASE("Network: parse, contains, prefix edges", "[core]") {
    auto n = Network::parse("192.0.2.77/24");
    REQUIRE(n);
    CHECK(n->str() == "192.0.2.0/24");
    CHECK(n->contains(*IpAddress::parse("192.0.2.10")));
    CHECK(n->contains(*IpAddress::parse("::ffff:192.0.2.200")));
    CHECK_FALSE(n->contains(*IpAddress::parse("192.0.3.1")));
    CHECK_FALSE(n->contains(*IpAddress::parse("2001:db8::1")));
    auto six = Network::parse("2001:db8:10:1::/64");
    REQUIRE(six);
    CHECK(six->contains(*IpAddress::parse("2001:db8:10:1:ffff::1")));
    CHECK_FALSE(six->contains(*IpAddress::parse("2001:db8:10:2::1")));
    CHECK(Network::parse("0.0.0.0/0")->contains(*IpAddress::parse("203.0.113.9")));
    CHECK(Network::parse("::/0")->contains(*IpAddress::parse("::1")));
    CHECK(Network::parse("::ffff:192.0.2.0/120")->str() == "192.0.2.0/24");
    CHECK(Network::parse("192.0.2.1")->prefix == 32);
    CHECK(Network::parse("192.0.2.0/32"));
    CHECK_FALSE(Network::parse("192.0.2.0/33"));
    CHECK(Network::parse("2001:db8::/128"));
    CHECK_FALSE(Network::parse("2001:db8::/129"));
    CHECK_FALSE(Network::parse("192.0.2.0/x"));
    CHECK_FALSE(Network::parse("example.com"));
    // Non-octet prefixes.
    CHECK(Network::parse("192.0.2.255/25")->str() == "192.0.2.128/25");
    CHECK(Network::parse("2001:db8:ffff::/33")->str() == "2001:db8:8000::/33");
}

TEST_CASE("clientNetworkKey: /24 and /64 keys, full addresses at /32 and /128", "[core]") {
    CHECK(clientNetworkKey("192.0.2.10", 24, 64) == "192.0.2.0/24");
    CHECK(clientNetworkKey("192.0.2.77", 24, 64) == "192.0.2.0/24");
    CHECK(clientNetworkKey("192.0.2.77", 32, 64) == "192.0.2.77");
    CHECK(clientNetworkKey("2001:db8:10:1::25", 24, 64) == "2001:db8:10:1::/64");
    CHECK(clientNetworkKey("2001:0db8:0010:0001:0:0:0:26", 24, 64) == "2001:db8:10:1::/64");
    CHECK(clientNetworkKey("2001:db8:10:1::25", 24, 128) == "2001:db8:10:1::25");
    CHECK(clientNetworkKey("::ffff:192.0.2.7", 24, 64) == "192.0.2.0/24");
    CHECK(clientNetworkKey("unknown", 24, 64).empty());
}
