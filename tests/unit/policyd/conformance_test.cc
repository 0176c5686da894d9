// Conformance corpus: every case of the anchors' bug log (shared research notes,
// anchors-policy.md section 3, B1-B20, plus the derived cases of 3b) as requests written the
// way Postfix writes them, with the action a correct policy service answers. Cases that
// concern only quota (B13/B14 as quota-status saw them) are kept in their policy form:
// the request must get one immediate, neutral answer.
#include "harness.h"

using namespace titan::policyd;
using namespace titan::policyd::test;
namespace policy = titan::proto::policy;

namespace {

const std::string kFull = R"(
networks:
  trusted: ["10.0.0.0/8"]
rules:
  - name: lists
    type: lists
    deny: {senders: ["@blocked.example"]}
  - name: login
    type: sender_login
  - name: grey
    type: greylist
    delay: 300s
    allow_client_names: [".outlook.com"]
  - name: out-msgs
    type: rate_limit
    direction: outbound
    key: sasl_username
    count: messages
    windows: [{limit: 10, period: 1d}]
    action: "450 4.7.1 daily message limit reached"
  - name: out-rcpts
    type: rate_limit
    direction: outbound
    key: sender
    count: recipients
    windows: [{limit: 10, period: 1h}]
    action: "450 4.7.1 recipient limit reached"
  - name: in-sender
    type: rate_limit
    direction: inbound
    key: sender
    count: messages
    windows: [{limit: 1600, period: 1d}]
)";

void sendOne(Harness& h, const std::string& user, const std::string& inst, unsigned rcpts) {
    h.ask(eom("10.0.0.5", user, rcpts, 100, user, inst));
}

}  // namespace

TEST_CASE("B1: IPv6 retry from the same /64 and other spellings pass, allow-list works for both families", "[conformance]") {
    Harness h(kFull);
    CHECK(h.ask(rcpt("2001:db8:10:1::25", "news@gmx.example", "u@example.org")).rfind("DEFER_IF_PERMIT", 0) == 0);
    h.now += 600'000;
    CHECK(h.ask(rcpt("2001:db8:10:1::26", "news@gmx.example", "u@example.org")) == "DUNNO");
    CHECK(h.ask(rcpt("2001:0db8:0010:0001:0:0:0:26", "news@gmx.example", "u@example.org")) == "DUNNO");
    // IPv4-mapped and IPv4 /24.
    CHECK(h.ask(rcpt("::ffff:192.0.2.7", "a@b.example", "u@example.org")).rfind("DEFER_IF_PERMIT", 0) == 0);
    h.now += 600'000;
    CHECK(h.ask(rcpt("192.0.2.77", "a@b.example", "u@example.org")) == "DUNNO");
    for (const char* addr : {"2a01:111:f400:fe44::613", "40.107.1.2"}) {
        auto r = rcpt(addr, "x@outlook.example", "u@example.org");
        r[4].value = "mail-sn1nam02on0613.outbound.protection.outlook.com";
        CHECK(h.ask(r) == "DUNNO");
    }
}

TEST_CASE("B2: a pool sender retrying from another /24 is deferred again (documented rule)", "[conformance]") {
    Harness h(kFull);
    CHECK(h.ask(rcpt("167.89.93.77", "x@crunchbase.example", "u@example.org")).rfind("DEFER_IF_PERMIT", 0) == 0);
    h.now += 400'000;
    CHECK(h.ask(rcpt("167.89.104.98", "x@crunchbase.example", "u@example.org")).rfind("DEFER_IF_PERMIT", 0) == 0);
    // Its own retry passes.
    CHECK(h.ask(rcpt("167.89.93.80", "x@crunchbase.example", "u@example.org")) == "DUNNO");
}

TEST_CASE("B4: the 10th message of 10 passes, the 11th is deferred, 20 recipients against 10 refused whole", "[conformance]") {
    Harness h(kFull);
    const std::string u = "u@example.com";
    h.store.sender_logins[u] = {u};
    for (int i = 0; i < 9; ++i) sendOne(h, u, "m" + std::to_string(i), 1);
    CHECK(h.ask(rcpt("10.0.0.5", u, "r@x.example", u, "m9")) == "DUNNO");
    CHECK(h.ask(eom("10.0.0.5", u, 1, 100, u, "m9")) == "DUNNO");
    CHECK(h.ask(rcpt("10.0.0.5", u, "r@x.example", u, "m10")) == "450 4.7.1 daily message limit reached");

    Harness fresh(kFull);
    fresh.store.sender_logins[u] = {u};
    CHECK(fresh.ask(eom("10.0.0.5", u, 20, 100, u, "big")) == "450 4.7.1 recipient limit reached");
    CHECK(fresh.store.counters.empty());  // nothing charged
}

TEST_CASE("B5: a refused message is not charged", "[conformance]") {
    Harness h(kFull);
    const std::string u = "u@example.com";
    CHECK(h.ask(data("10.0.0.5", u, 200, u, "huge")) == "450 4.7.1 recipient limit reached");
    CHECK(h.ask(eom("10.0.0.5", u, 200, 100, u, "huge")) == "450 4.7.1 recipient limit reached");
    for (const auto& [k, s] : h.store.counters) CHECK(s.used == 0);
    // The user can still send normally.
    CHECK(h.ask(eom("10.0.0.5", u, 5, 100, u, "ok")) == "DUNNO");
}

TEST_CASE("B6: an invalid address in one request does not poison the next on the connection", "[conformance]") {
    Harness h(kFull);
    CHECK(h.ask(rcpt("10.0.0.5", "bad@@x", "u@example.org")) == "DUNNO");
    CHECK(h.ask(rcpt("10.0.0.5", "alice@example.com", "bob@example.org")) == "DUNNO");
    // Through one decoder, as one connection: two requests, two replies.
    policy::Decoder d;
    d.append("sender=bad@@x\nrecipient=u@example.org\n\nsender=alice@example.com\nrecipient=bob@example.org\n\n");
    CHECK(std::holds_alternative<policy::Request>(d.next()));
    auto second = d.next();
    REQUIRE(std::holds_alternative<policy::Request>(second));
    CHECK(std::get<policy::Request>(second).get("sender") == "alice@example.com");
}

TEST_CASE("B7: an attribute sent empty is empty, the key falls back to the request's own sender or IP", "[conformance]") {
    Harness h(kFull);
    const std::string alice = "alice@example.com";
    for (int i = 0; i < 10; ++i) sendOne(h, alice, "a" + std::to_string(i), 1);
    // Alice is at her daily limit; a request with sasl_username= is not Alice's.
    auto r = rcpt("203.0.113.9", "apache@www1.example.net", "u@example.org", "", "w1");
    h.now += 1000;
    std::string first = h.ask(r);
    CHECK(first.find("daily message limit") == std::string::npos);
    h.ask(eom("203.0.113.9", "apache@www1.example.net", 1, 10, "", "w1"));
    auto it = h.store.counters.find(titan::policyd::core::CounterKey{"in-sender", 0, "apache@www1.example.net"});
    REQUIRE(it != h.store.counters.end());
    CHECK(it->second.used == 1000);
    auto alice_row = h.store.counters.find(titan::policyd::core::CounterKey{"out-msgs", 0, alice});
    CHECK(alice_row->second.used == 10 * 1000);
}

TEST_CASE("B8: a subaddressed recipient costs one unit, keys are case-insensitive", "[conformance]") {
    Harness h(R"(
rules:
  - name: burst
    type: rate_limit
    key: sasl_username
    count: recipients
    algorithm: token_bucket
    windows: [{limit: 2, period: 1m}]
)");
    const std::string u = "u@example.com";
    for (auto [inst, rcpt_addr] : {std::pair{"1", "receiver+1@example.org"}, std::pair{"2", "someone@example.org"}}) {
        CHECK(h.ask(rcpt("192.0.2.1", u, rcpt_addr, u, inst)) == "DUNNO");
        CHECK(h.ask(eom("192.0.2.1", u, 1, 10, "U@Example.COM", inst)) == "DUNNO");
    }
    CHECK(h.store.counters.size() == 1);
    // B8(b): level 5 of burst 10, a 4-recipient message is accepted (5 + 4 = 9).
    Harness b(R"(
rules:
  - name: burst
    type: rate_limit
    key: sasl_username
    count: recipients
    algorithm: token_bucket
    windows: [{limit: 10, period: 1h}]
)");
    CHECK(b.ask(eom("192.0.2.1", u, 5, 10, u, "a")) == "DUNNO");
    CHECK(b.ask(eom("192.0.2.1", u, 4, 10, u, "b")) == "DUNNO");
    CHECK(b.ask(eom("192.0.2.1", u, 2, 10, u, "c")).rfind("450", 0) == 0);
}

TEST_CASE("B10: bounces and inbound mail do not share outbound buckets", "[conformance]") {
    Harness h(R"(
rules:
  - name: per-sender
    type: rate_limit
    direction: outbound
    key: sender
    windows: [{limit: 2, period: 1d}]
  - name: in-per-sender
    type: rate_limit
    direction: inbound
    key: sender
    windows: [{limit: 2, period: 1d}]
)");
    // Null-sender bounces from different networks are keyed per network.
    for (int i = 0; i < 2; ++i) CHECK(h.ask(eom("192.0.2.1", "", 1, 10, "", "b" + std::to_string(i))) == "DUNNO");
    CHECK(h.ask(eom("192.0.2.1", "", 1, 10, "", "b2")).rfind("450", 0) == 0);
    CHECK(h.ask(eom("198.51.100.1", "", 1, 10, "", "b3")) == "DUNNO");
    // Inbound mail does not touch outbound counters.
    for (const auto& [k, s] : h.store.counters) CHECK(k.rule == "in-per-sender");
    // An authenticated null sender is keyed by its login.
    CHECK(h.ask(eom("192.0.2.1", "", 1, 10, "u@example.com", "b4")) == "DUNNO");
    CHECK(h.store.counters.count(titan::policyd::core::CounterKey{"per-sender", 0, "sasl:u@example.com"}) == 1);
}

TEST_CASE("B12: END-OF-MESSAGE with several recipients and recipient= empty is answered DUNNO", "[conformance]") {
    Harness h(kFull);
    CHECK(h.askWire("protocol_state=END-OF-MESSAGE\nrecipient=\nrecipient_count=3\nsize=123456\n"
                    "client_address=198.51.100.7\nsender=a@b.example\ninstance=x\n\n") == "DUNNO");
}

TEST_CASE("B13/B14: badly formed local parts and alias recipients get one immediate neutral answer", "[conformance]") {
    Harness h(R"(
rules:
  - name: rl
    type: rate_limit
    key: recipient_domain
    windows: [{limit: 100, period: 1h}]
)");
    CHECK(h.ask(rcpt("192.0.2.1", "a@b.example", "\"john..doe\"@example.org")) == "DUNNO");
    CHECK(h.ask(rcpt("192.0.2.1", "a@b.example", "jeff@example.com")) == "DUNNO");
    CHECK(h.ask(rcpt("192.0.2.1", "a@b.example", "x\xff\xfe@example.org")) == "DUNNO");
}

TEST_CASE("B17/B18: backend trouble inside a rule gives its defined action at once", "[conformance]") {
    Harness h(kFull);
    h.store.setAvailable(false);
    const std::string u = "u@example.com";
    // sender_login fails closed (default), greylisting open, the rate limits closed.
    CHECK(h.ask(rcpt("10.0.0.5", u, "r@x.example", u)) == "DEFER_IF_PERMIT Policy service temporarily unavailable");
    CHECK(h.ask(rcpt("203.0.113.9", "a@b.example", "u@example.org")) ==
          "DEFER_IF_PERMIT Policy service temporarily unavailable");
    CHECK(h.metric("policyd_fail_open_total{rule=\"grey\"}") == 1);
    // Deny lists need no database and keep working.
    CHECK(h.ask(rcpt("203.0.113.9", "x@blocked.example", "u@example.org")) == "REJECT Access denied");
}

TEST_CASE("B20: a limit of 0, -1 or missing is a configuration error, not 'unlimited' by accident", "[conformance]") {
    for (const char* windows : {"[{limit: 0, period: 1h}]", "[{limit: -1, period: 1h}]", "[{period: 1h}]", "[]"}) {
        INFO(windows);
        auto r = loadConfigString(std::string("policy: {listen: [{address: \"127.0.0.1:1\"}]}\nrules:\n"
                                              "  - {name: x, type: rate_limit, windows: ") + windows + "}\n",
                                  "t.yaml");
        CHECK_FALSE(r);
    }
}

TEST_CASE("3b: every protocol state gets an answer, no recipient means no recipient checks", "[conformance]") {
    Harness h(kFull);
    for (const char* state : {"CONNECT", "EHLO", "HELO", "MAIL", "VRFY", "ETRN", "DATA", "BDAT", ""}) {
        INFO(state);
        CHECK(h.askWire(std::string("request=smtpd_access_policy\nprotocol_state=") + state +
                        "\nclient_address=203.0.113.9\nhelo_name=x\nsender=\nrecipient=\n\n") == "DUNNO");
    }
}

TEST_CASE("3b: size=0 at RCPT, the real size is charged at END-OF-MESSAGE", "[conformance]") {
    Harness h(R"(
rules:
  - name: bytes
    type: rate_limit
    key: sasl_username
    count: bytes
    windows: [{limit: 1MiB, period: 1h}]
)");
    const std::string u = "u@example.com";
    CHECK(h.ask(rcpt("192.0.2.1", u, "r@x.example", u, "1")) == "DUNNO");
    CHECK(h.ask(eom("192.0.2.1", u, 1, 1024 * 1024, u, "1")) == "DUNNO");
    // Exhausted: even size=0 at RCPT is refused (at least one byte must fit).
    CHECK(h.ask(rcpt("192.0.2.1", u, "r@x.example", u, "2")).rfind("450", 0) == 0);
}

TEST_CASE("3b: IDN U-label and A-label senders share one key", "[conformance]") {
    Harness h(R"(
rules:
  - name: s
    type: rate_limit
    key: sender
    windows: [{limit: 1, period: 1h}]
)");
    CHECK(h.ask(eom("192.0.2.1", "gr\xc3\xa5@gr\xc3\xa5.example", 1, 1, "", "1")) == "DUNNO");
    CHECK(h.ask(eom("192.0.2.1", "gr\xc3\xa5@xn--gr-zia.example", 1, 1, "", "2")).rfind("450", 0) == 0);
}

TEST_CASE("3b: long lines (ccert_subject) and unknown attributes do not disturb a request", "[conformance]") {
    Harness h(kFull);
    const std::string wire = "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=10.0.0.5\n"
                             "ccert_subject=" + std::string(20000, 'A') + "\nx-future-attribute=1\n"
                             "sender=a@b.example\nrecipient=c@d.example\n\n";
    CHECK(h.askWire(wire) == "DUNNO");
}
