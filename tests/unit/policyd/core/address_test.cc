#include "policyd/core/address.h"

#include <catch2/catch.hpp>

using namespace titan::policyd::core;

TEST_CASE("addressKey: identity rule plus detail removal", "[core]") {
    const AddressOptions o;
    struct Case {
        const char* in;
        const char* want;
    };
    const Case cases[] = {
        {"Bob@Example.ORG", "bob@example.org"},
        {"receiver+1@example.org", "receiver@example.org"},
        {"a+b+c@example.org", "a@example.org"},
        {"+tag@example.org", "+tag@example.org"},
        {"bob@xn--gr-zia.example", "bob@xn--gr-zia.example"},
        {"bob@gr\xc3\xa5.example", "bob@xn--gr-zia.example"},
        {"", ""},
        {"nodomain", "nodomain"},
        {"\"john..doe\"@Example.org", "\"john..doe\"@example.org"},
        {"x\xff@Example.org", "x\xff@example.org"},
    };
    for (const auto& c : cases) {
        INFO(c.in);
        CHECK(addressKey(c.in, o) == c.want);
    }
    AddressOptions two;
    two.recipient_delimiter = "+-";
    CHECK(addressKey("list-owner@example.org", two) == "list@example.org");
    AddressOptions none;
    none.recipient_delimiter = "";
    CHECK(addressKey("a+b@example.org", none) == "a+b@example.org");
    AddressOptions keep;
    keep.identity.local_part = titan::identity::LocalPartPolicy::Preserve;
    CHECK(addressKey("Bob@EXAMPLE.org", keep) == "Bob@example.org");
}

TEST_CASE("domainKey", "[core]") {
    CHECK(domainKey("a@Example.ORG") == "example.org");
    CHECK(domainKey("a@gr\xc3\xa5.example") == "xn--gr-zia.example");
    CHECK(domainKey("a@") == "");
    CHECK(domainKey("plain") == "");
    CHECK(domainKey("a@Bad_Domain") == "bad_domain");
}

TEST_CASE("greylistSenderKey: BATV, SRS, VERP digits, null sender", "[core]") {
    const AddressOptions o;
    struct Case {
        const char* in;
        const char* want;
    };
    const Case cases[] = {
        {"", "<>"},
        {"News@GMX.example", "news@gmx.example"},
        {"user+tag@example.com", "user@example.com"},
        {"prvs=1234567890=user@example.com", "user@example.com"},
        {"PRVS=0a1b2c3d4e=User@Example.com", "user@example.com"},
        {"msprvs1=17abc=bounces@example.com", "bounces@example.com"},
        {"SRS0=HHH=TT=orig.example=alice@forwarder.example", "alice@orig.example"},
        {"SRS0+HHH=TT=orig.example=al=ice@forwarder.example", "al=ice@orig.example"},
        {"SRS1=HHH=fwd1.example==HHH=TT=orig.example=alice@fwd2.example", "alice@orig.example"},
        {"bounce-12345-67@lists.example", "bounce-#-#@lists.example"},
        {"user123@example.com", "user123@example.com"},
        {"SRS0=broken@fwd.example", "srs0=broken@fwd.example"},
    };
    for (const auto& c : cases) {
        INFO(c.in);
        CHECK(greylistSenderKey(c.in, o) == c.want);
    }
}
