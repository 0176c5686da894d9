#include "policyd/core/engine.h"

#include <catch2/catch.hpp>

using namespace titan::policyd::core;
using namespace std::chrono_literals;
using titan::proto::policy::PolicyRequest;
using titan::proto::policy::ProtocolState;

namespace {

constexpr std::int64_t kNow = 1'700'000'000'000;

PolicyRequest request(ProtocolState state) {
    PolicyRequest r;
    r.protocol_state = state;
    r.client_address = "198.51.100.7";
    r.client_name = "mx.example.net";
    r.sender = "Alice+news@Example.NET";
    r.recipient = "bob@example.com";
    r.instance = "1.2.3";
    return r;
}

Rule rateRule(const std::string& name, KeyKind key, CountUnit count, std::uint64_t limit) {
    Rule r;
    r.name = name;
    r.kind = RuleKind::RateLimit;
    r.action = "450 4.7.1 limit";
    r.fail_action = "DUNNO";
    RateLimitRule spec;
    spec.key = key;
    spec.count = count;
    spec.windows = {WindowSpec{limit, 1h}};
    r.spec = spec;
    return r;
}

}  // namespace

TEST_CASE("makeFacts: keys, direction, transaction recipients", "[core]") {
    EngineOptions o;
    o.trusted_networks = {*Network::parse("10.0.0.0/8")};
    auto f = makeFacts(request(ProtocolState::Rcpt), o, {"ignored@x.example"});
    CHECK_FALSE(f.authenticated);
    CHECK_FALSE(f.outbound);
    CHECK(f.sender_key == "alice@example.net");
    CHECK(f.sender_domain == "example.net");
    CHECK(f.recipients == std::vector<std::string>{"bob@example.com"});

    auto eom = request(ProtocolState::EndOfMessage);
    eom.recipient = "";
    eom.recipient_count = 3;
    eom.sasl_username = "Carol@Example.COM";
    auto fe = makeFacts(eom, o, {"a@one.example", "b@two.example", "c@one.example"});
    CHECK(fe.authenticated);
    CHECK(fe.outbound);
    CHECK(fe.sasl_user == "carol@example.com");
    CHECK(fe.recipients.size() == 3);
    CHECK(recipientDomains(fe) == std::vector<std::string>{"one.example", "two.example"});

    auto trusted = request(ProtocolState::Rcpt);
    trusted.client_address = "10.1.2.3";
    CHECK(makeFacts(trusted, o, {}).outbound);

    // B12: END-OF-MESSAGE with several recipients and no tracking keys nothing on recipient.
    auto bare = makeFacts(eom, o, {});
    CHECK(bare.recipients.empty());
}

TEST_CASE("rateLimitCharges: amounts per state and unit", "[core]") {
    EngineOptions o;
    auto rcpt = makeFacts(request(ProtocolState::Rcpt), o, {});
    auto data = request(ProtocolState::Data);
    data.recipient_count = 20;
    data.size = 5000;
    auto fd = makeFacts(data, o, {});
    RateLimitRule spec;
    spec.key = KeyKind::Sender;
    spec.windows = {WindowSpec{10, 1h}};
    for (auto [unit, at_rcpt, later] : {std::tuple{CountUnit::Messages, 1ULL, 1ULL},
                                        std::tuple{CountUnit::Recipients, 1ULL, 20ULL},
                                        std::tuple{CountUnit::Bytes, 1ULL, 5000ULL}}) {
        spec.count = unit;
        INFO(countUnitName(unit));
        auto c1 = rateLimitCharges(spec, rcpt);
        REQUIRE(c1.size() == 1);
        CHECK(c1[0].subject == "alice@example.net");
        CHECK(c1[0].amount == at_rcpt);
        auto c2 = rateLimitCharges(spec, fd);
        REQUIRE(c2.size() == 1);
        CHECK(c2[0].amount == later);
    }
    // Other states: nothing.
    for (auto st : {ProtocolState::Connect, ProtocolState::Ehlo, ProtocolState::Mail, ProtocolState::Vrfy,
                    ProtocolState::Etrn, ProtocolState::Unknown}) {
        CHECK(rateLimitCharges(spec, makeFacts(request(st), o, {})).empty());
    }
}

TEST_CASE("rateLimitCharges: key fallbacks (B7, B10) and recipient domains", "[core]") {
    EngineOptions o;
    RateLimitRule spec;
    spec.windows = {WindowSpec{10, 1h}};
    spec.ipv4_prefix = 24;

    spec.key = KeyKind::SaslUsername;
    CHECK(rateLimitCharges(spec, makeFacts(request(ProtocolState::Rcpt), o, {})).empty());

    // An unauthenticated null sender is keyed by its client network, an authenticated
    // one by its login.
    auto bounce = request(ProtocolState::Rcpt);
    bounce.sender = "";
    spec.key = KeyKind::Sender;
    CHECK(rateLimitCharges(spec, makeFacts(bounce, o, {}))[0].subject == "client:198.51.100.0/24");
    bounce.sasl_username = "u@example.com";
    CHECK(rateLimitCharges(spec, makeFacts(bounce, o, {}))[0].subject == "sasl:u@example.com");
    spec.key = KeyKind::SenderDomain;
    CHECK(rateLimitCharges(spec, makeFacts(request(ProtocolState::Rcpt), o, {}))[0].subject == "example.net");

    spec.key = KeyKind::ClientAddress;
    CHECK(rateLimitCharges(spec, makeFacts(request(ProtocolState::Rcpt), o, {}))[0].subject == "198.51.100.0/24");
    auto v6 = request(ProtocolState::Rcpt);
    v6.client_address = "2001:db8:10:1::25";
    CHECK(rateLimitCharges(spec, makeFacts(v6, o, {}))[0].subject == "2001:db8:10:1::/64");

    spec.key = KeyKind::RecipientDomain;
    spec.count = CountUnit::Recipients;
    auto eom = request(ProtocolState::EndOfMessage);
    eom.recipient = "";
    eom.recipient_count = 3;
    auto charges = rateLimitCharges(spec, makeFacts(eom, o, {"a@one.example", "b@two.example", "c@one.example"}));
    REQUIRE(charges.size() == 2);
    CHECK(charges[0] == Charge{"one.example", 2});
    CHECK(charges[1] == Charge{"two.example", 1});
}

TEST_CASE("decideCharges: all or nothing, first refusing rule named (B4, B5)", "[core]") {
    auto recipients = rateRule("rcpts", KeyKind::Sender, CountUnit::Recipients, 10);
    auto messages = rateRule("msgs", KeyKind::Sender, CountUnit::Messages, 100);
    std::map<CounterKey, CounterState> states;
    // 20 recipients against 10: refused, nothing charged.
    std::vector<RatePlan> plans = {{0, messages, {{"s@x", 1}}}, {1, recipients, {{"s@x", 20}}}};
    auto d = decideCharges(plans, states, kNow);
    CHECK_FALSE(d.accepted);
    CHECK(d.refused_by == 1);
    CHECK(d.updates.empty());
    // 10 recipients: accepted, both charged.
    plans[1].charges[0].amount = 10;
    d = decideCharges(plans, states, kNow);
    REQUIRE(d.accepted);
    CHECK(d.updates.size() == 2);
    states = d.updates;
    CHECK(states[CounterKey{"rcpts", 0, "s@x"}].used == 10 * kMilli);
    plans[1].charges[0].amount = 1;
    CHECK_FALSE(decideCharges(plans, states, kNow).accepted);
    // A dry-run rule never refuses, but is charged and reported.
    plans[1].rule.dry_run = true;
    d = decideCharges(plans, states, kNow);
    CHECK(d.accepted);
    CHECK(d.dry_run_exceeded == std::vector<std::size_t>{1});
    CHECK(d.updates[CounterKey{"rcpts", 0, "s@x"}].used == 11 * kMilli);
}

TEST_CASE("checkRate: several windows, all must allow", "[core]") {
    Rule r = rateRule("two", KeyKind::Sender, CountUnit::Messages, 100);
    std::get<RateLimitRule>(r.spec).windows = {WindowSpec{3, 1min}, WindowSpec{100, 24h}};
    std::map<CounterKey, CounterState> states;
    states[CounterKey{"two", 0, "s"}] = charge(Algorithm::FixedWindow, WindowSpec{3, 1min}, {}, kNow, 3);
    auto c = checkRate(r, {{"s", 1}}, states, kNow);
    CHECK_FALSE(c.allowed);
    CHECK(c.subject == "s");
    CHECK(c.retry_after > 0ms);
    CHECK(checkRate(r, {{"other", 1}}, states, kNow).allowed);
    CHECK(counterKeys(r, {{"s", 1}}).size() == 2);
}

TEST_CASE("lists: CIDR v4/v6, client names, senders, recipients", "[core]") {
    AddressOptions ao;
    ListEntries e;
    REQUIRE(addListEntry(e, "client", "192.0.2.0/24", ao));
    REQUIRE(addListEntry(e, "client", "2001:db8::/32", ao));
    REQUIRE(addListEntry(e, "client_name", ".Outlook.com", ao));
    REQUIRE(addListEntry(e, "sender", "Spam+x@Bad.example", ao));
    REQUIRE(addListEntry(e, "sender", "@evil.example", ao));
    REQUIRE(addListEntry(e, "recipient", ".internal.example", ao));
    CHECK_FALSE(addListEntry(e, "client", "not-a-net", ao));
    CHECK_FALSE(addListEntry(e, "bogus", "x", ao));
    CHECK_FALSE(addListEntry(e, "sender", "", ao));
    EngineOptions o;
    auto facts = [&](const char* ip, const char* name, const char* sender, const char* rcpt) {
        auto r = request(ProtocolState::Rcpt);
        r.client_address = ip;
        r.client_name = name;
        r.sender = sender;
        r.recipient = rcpt;
        return makeFacts(r, o, {});
    };
    CHECK(matchList(e, facts("192.0.2.9", "unknown", "a@b.example", "c@d.example")) == "client 192.0.2.0/24");
    CHECK(matchList(e, facts("::ffff:192.0.2.9", "unknown", "a@b.example", "c@d.example")));
    CHECK(matchList(e, facts("2001:db8:1::5", "unknown", "a@b.example", "c@d.example")));
    CHECK(matchList(e, facts("203.0.113.1", "mail-sn1.outbound.protection.outlook.com", "a@b.example", "c@d.example")) ==
          "client_name .outlook.com");
    CHECK_FALSE(matchList(e, facts("203.0.113.1", "outlook.com.attacker.example", "a@b.example", "c@d.example")));
    CHECK(matchList(e, facts("203.0.113.1", "unknown", "spam@bad.example", "c@d.example")) ==
          "sender spam@bad.example");
    CHECK(matchList(e, facts("203.0.113.1", "unknown", "x@EVIL.example", "c@d.example")));
    CHECK_FALSE(matchList(e, facts("203.0.113.1", "unknown", "x@sub.evil.example", "c@d.example")));
    CHECK(matchList(e, facts("203.0.113.1", "unknown", "a@b.example", "ops@mx.internal.example")));
    CHECK_FALSE(matchList(e, facts("203.0.113.1", "unknown", "", "c@d.example")));
}

TEST_CASE("senderOwned: addresses, aliases, whole domains, details", "[core]") {
    EngineOptions o;
    auto r = request(ProtocolState::Rcpt);
    r.sasl_username = "alice@example.net";
    auto f = makeFacts(r, o, {});  // sender Alice+news@Example.NET
    CHECK(senderOwned(f, {"alice@example.net"}));
    CHECK(senderOwned(f, {"@example.net"}));
    CHECK_FALSE(senderOwned(f, {"bob@example.net", "@example.org"}));
    CHECK_FALSE(senderOwned(f, {}));
    r.sender = "";
    CHECK_FALSE(senderOwned(makeFacts(r, o, {}), {"alice@example.net"}));
}

TEST_CASE("guardTrigger, formatAction, actionLabel", "[core]") {
    GuardRule g;
    g.max_messages = 5;
    g.max_recipient_domains = 3;
    CHECK_FALSE(guardTrigger(g, {5, 3, 100}));
    CHECK(guardTrigger(g, {6, 0, 0}) == "messages 6 > 5 per 60m");
    CHECK(guardTrigger(g, {1, 4, 0}) == "recipient_domains 4 > 3 per 60m");
    CHECK(formatAction("450 4.7.1 wait {retry}s ({rule})", "rl", 1500ms) == "450 4.7.1 wait 2s (rl)");
    CHECK(formatAction("DEFER try in {retry}", "x", 0ms) == "DEFER try in 1");
    CHECK(actionLabel("DUNNO") == "dunno");
    CHECK(actionLabel("defer_if_permit Greylisted") == "defer_if_permit");
    CHECK(actionLabel("450 4.7.1 x") == "4xx");
    CHECK(actionLabel("554 5.7.1 x") == "5xx");
    CHECK(actionLabel("HOLD x") == "hold");
    CHECK(actionLabel("RELAY") == "ok");
    CHECK(actionLabel("reject_unknown_client_hostname") == "other");
    CHECK(actionRefuses("REJECT"));
    CHECK(actionRefuses("450 4.7.1 x"));
    CHECK_FALSE(actionRefuses("DUNNO"));
    CHECK_FALSE(actionRefuses("HOLD x"));
    Rule r;
    r.fail_action = "dunno";
    CHECK(r.failOpen());
    r.fail_action = "DEFER_IF_PERMIT x";
    CHECK_FALSE(r.failOpen());
}
