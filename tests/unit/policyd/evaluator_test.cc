#include "harness.h"

using namespace titan::policyd;
using namespace titan::policyd::test;

namespace {

const std::string kRateRules = R"(
rules:
  - name: out-rcpts
    type: rate_limit
    direction: outbound
    key: sasl_username
    count: recipients
    windows: [{limit: 10, period: 1h}]
    action: "450 4.7.1 recipient limit reached, try again in {retry} seconds"
    fail_action: "451 4.3.0 counters unavailable"
  - name: out-msgs
    type: rate_limit
    direction: outbound
    key: sasl_username
    count: messages
    windows: [{limit: 3, period: 1h}, {limit: 100, period: 1d}]
    action: "450 4.7.1 message limit reached"
    fail_action: DUNNO
)";

std::string sendMessage(Harness& h, const std::string& instance, unsigned recipients, const std::string& user = "u@example.test") {
    for (unsigned i = 0; i < recipients; ++i) {
        auto a = h.ask(rcpt("192.0.2.1", user, "r" + std::to_string(i) + "@dest.example", user, instance));
        if (a != "DUNNO") return "RCPT: " + a;
    }
    auto d = h.ask(data("192.0.2.1", user, recipients, user, instance));
    if (d != "DUNNO") return "DATA: " + d;
    auto e = h.ask(eom("192.0.2.1", user, recipients, 1000, user, instance));
    if (e != "DUNNO") return "EOM: " + e;
    return "sent";
}

std::uint64_t used(Harness& h, const std::string& rule, const std::string& subject, std::uint8_t win = 0) {
    auto it = h.store.counters.find(core::CounterKey{rule, win, subject});
    return it == h.store.counters.end() ? 0 : it->second.used / core::kMilli;
}

}  // namespace

TEST_CASE("rate limit: checked at RCPT and DATA, charged at END-OF-MESSAGE only", "[glue]") {
    Harness h(kRateRules);
    CHECK(sendMessage(h, "m1", 4) == "sent");
    CHECK(used(h, "out-rcpts", "u@example.test") == 4);
    CHECK(used(h, "out-msgs", "u@example.test") == 1);
    CHECK(used(h, "out-msgs", "u@example.test", 1) == 1);
    // 20 recipients against the 6 left: every RCPT passes (nothing is used up yet), DATA
    // refuses the whole message, nothing is charged.
    CHECK(sendMessage(h, "m2", 20).rfind("DATA: 450 4.7.1 recipient limit reached", 0) == 0);
    CHECK(used(h, "out-rcpts", "u@example.test") == 4);
    // Without DATA restrictions, END-OF-MESSAGE refuses it whole and charges nothing either.
    CHECK(h.ask(eom("192.0.2.1", "u@example.test", 20, 1000, "u@example.test", "m3")).rfind("450 4.7.1", 0) == 0);
    CHECK(used(h, "out-rcpts", "u@example.test") == 4);
    CHECK(used(h, "out-msgs", "u@example.test") == 1);
    // Exactly the remaining allowance passes.
    CHECK(sendMessage(h, "m4", 6) == "sent");
    CHECK(used(h, "out-rcpts", "u@example.test") == 10);
    // Exhausted: the next RCPT is refused at once.
    CHECK(h.ask(rcpt("192.0.2.1", "u@example.test", "x@dest.example", "u@example.test", "m5")).rfind("450", 0) == 0);
    // Inbound mail is not counted against outbound limits.
    CHECK(h.ask(rcpt("203.0.113.5", "someone@remote.example", "u@example.test")) == "DUNNO");
}

TEST_CASE("rate limit: an aborted transaction charges nothing", "[glue]") {
    Harness h(kRateRules);
    for (int i = 0; i < 5; ++i) {
        CHECK(h.ask(rcpt("192.0.2.1", "u@example.test", "r@dest.example", "u@example.test", "aborted")) == "DUNNO");
    }
    // A new transaction (new instance) without END-OF-MESSAGE for the first.
    CHECK(sendMessage(h, "next", 1) == "sent");
    CHECK(used(h, "out-rcpts", "u@example.test") == 1);
    CHECK(used(h, "out-msgs", "u@example.test") == 1);
}

TEST_CASE("rate limit: message count over the limit, retry text, several windows", "[glue]") {
    Harness h(kRateRules);
    for (int i = 0; i < 3; ++i) CHECK(sendMessage(h, "m" + std::to_string(i), 1) == "sent");
    CHECK(sendMessage(h, "m4", 1) == "RCPT: 450 4.7.1 message limit reached");
    CHECK(h.metric("policyd_decisions_total{rule=\"out-msgs\",action=\"4xx\"}") == 1);
    // The next fixed hour window opens.
    h.now += 3600 * 1000;
    CHECK(sendMessage(h, "m5", 1) == "sent");
    CHECK(used(h, "out-msgs", "u@example.test", 1) == 4);
}

TEST_CASE("fail modes: each rule answers its own fail action, fail-open rules are skipped", "[glue]") {
    Harness h(kRateRules);
    h.store.setAvailable(false);
    Decision d;
    // out-rcpts is fail-closed and comes first.
    CHECK(h.ask(rcpt("192.0.2.1", "u@example.test", "r@dest.example", "u@example.test"), &d) ==
          "451 4.3.0 counters unavailable");
    CHECK(d.failed);
    CHECK(d.rule == "out-rcpts");
    CHECK(h.metric("policyd_fail_closed_total{rule=\"out-rcpts\"}") == 1);
    CHECK(h.metric("policyd_backend_errors_total{operation=\"counters\"}") == 1);
    // END-OF-MESSAGE: the batch fails; the first fail-closed rule answers.
    CHECK(h.ask(eom("192.0.2.1", "u@example.test", 1, 10, "u@example.test")) == "451 4.3.0 counters unavailable");

    Harness open(R"(
rules:
  - name: a
    type: rate_limit
    key: client_address
    windows: [{limit: 1, period: 1h}]
    fail_action: DUNNO
  - name: b
    type: lists
    deny: {clients: ["192.0.2.0/24"]}
)");
    open.store.setAvailable(false);
    // a fails open, b (no database needed) still decides.
    CHECK(open.ask(rcpt("192.0.2.1", "x@y.example", "r@dest.example")) == "REJECT Access denied");
    CHECK(open.ask(rcpt("198.51.100.1", "x@y.example", "r@dest.example")) == "DUNNO");
    CHECK(open.metric("policyd_fail_open_total{rule=\"a\"}") == 2);
    open.store.setAvailable(true);
    CHECK(open.ask(rcpt("198.51.100.1", "x@y.example", "r@dest.example")) == "DUNNO");
}

TEST_CASE("deadline: a store that does not answer gets the rule's fail action", "[glue]") {
    Harness h(kRateRules);
    auto facts = [&] {
        titan::proto::policy::PolicyRequest r;
        r.protocol_state = titan::proto::policy::ProtocolState::Rcpt;
        r.client_address = "192.0.2.1";
        r.sender = "u@example.test";
        r.recipient = "r@dest.example";
        r.sasl_username = "u@example.test";
        return core::makeFacts(r, h.settings->engine, {});
    };
    std::optional<Decision> got;
    h.evaluator.evaluate(h.settings, facts(), [&](Decision d) { got = d; });
    CHECK_FALSE(got);
    REQUIRE(h.deadlines.size() == 1);
    h.fireDeadlines();
    REQUIRE(got);
    CHECK(got->action == "451 4.3.0 counters unavailable");
    CHECK(got->failed);
    // The late store answer changes nothing.
    h.store.runPending();
    CHECK(got->action == "451 4.3.0 counters unavailable");
    CHECK(h.evaluator.inFlight() == 0);
}

TEST_CASE("dry run: logged and counted, never answered, still charged", "[glue]") {
    Harness h(R"(
rules:
  - name: tight
    type: rate_limit
    key: sender
    windows: [{limit: 1, period: 1h}]
    dry_run: true
  - name: deny
    type: lists
    dry_run: true
    deny: {senders: ["@spam.example"]}
)");
    for (int i = 0; i < 3; ++i) {
        const std::string inst = "d" + std::to_string(i);
        CHECK(h.ask(rcpt("192.0.2.1", "a@spam.example", "r@x.example", "", inst)) == "DUNNO");
        CHECK(h.ask(eom("192.0.2.1", "a@spam.example", 1, 10, "", inst)) == "DUNNO");
    }
    CHECK(used(h, "tight", "a@spam.example") == 3);
    CHECK(h.metric("policyd_dry_run_total{rule=\"deny\",action=\"reject\"}") == 6);
    CHECK(h.metric("policyd_dry_run_total{rule=\"tight\",action=\"4xx\"}") >= 2);
}

TEST_CASE("greylisting: first attempt deferred, retry after the delay passes, /64 and /24 neighbours too", "[glue]") {
    Harness h(R"(
rules:
  - name: grey
    type: greylist
    delay: 60s
    auto_allow_after: 2
    allow_client_names: [".outlook.com"]
    allow_clients: ["198.51.100.0/24"]
)");
    const std::string first = h.ask(rcpt("2001:db8:10:1::25", "news@gmx.example", "u@example.test"));
    CHECK(first == "DEFER_IF_PERMIT Greylisted, try again in 60 seconds");
    h.now += 30'000;
    CHECK(h.ask(rcpt("2001:db8:10:1::25", "news@gmx.example", "u@example.test")) ==
          "DEFER_IF_PERMIT Greylisted, try again in 30 seconds");
    h.now += 30'000;
    // B1: the retry comes from another address of the same /64, spelled differently.
    CHECK(h.ask(rcpt("2001:0db8:0010:0001:0:0:0:26", "News@GMX.example", "U@Example.TEST")) == "DUNNO");
    // Another recipient: a new triplet.
    CHECK(h.ask(rcpt("2001:db8:10:1::25", "news@gmx.example", "v@example.test")).rfind("DEFER_IF_PERMIT", 0) == 0);
    h.now += 60'000;
    CHECK(h.ask(rcpt("2001:db8:10:1::99", "news@gmx.example", "v@example.test")) == "DUNNO");
    // Two passed triplets: the /64 is auto-allow-listed for every sender.
    CHECK(h.ask(rcpt("2001:db8:10:1::7", "other@elsewhere.example", "w@example.test")) == "DUNNO");
    // IPv4 /24; allow-listed clients; authenticated users are never greylisted.
    CHECK(h.ask(rcpt("192.0.2.10", "a@b.example", "u@example.test")).rfind("DEFER_IF_PERMIT", 0) == 0);
    h.now += 61'000;
    CHECK(h.ask(rcpt("192.0.2.77", "a@b.example", "u@example.test")) == "DUNNO");
    CHECK(h.ask(rcpt("198.51.100.3", "a@c.example", "u@example.test")) == "DUNNO");
    CHECK(h.ask(rcpt("203.0.113.9", "a@c.example", "u@example.test", "someone@example.test")) == "DUNNO");
    auto named = rcpt("2a01:111:f400:fe44::613", "a@c.example", "u@example.test");
    named[4].value = "mail-sn1nam02on0613.outbound.protection.outlook.com";
    CHECK(h.ask(named) == "DUNNO");
}

TEST_CASE("sender login: own address, alias, whole domain, extra logins, mismatch and null sender refused", "[glue]") {
    Harness h(R"(
rules:
  - name: login
    type: sender_login
)");
    h.store.sender_logins["alice@example.test"] = {"alice@example.test", "sales@example.test", "@alice.example"};
    auto ask = [&](const std::string& sender, const std::string& login = "alice@example.test") {
        return h.ask(rcpt("192.0.2.1", sender, "r@dest.example", login));
    };
    CHECK(ask("alice@example.test") == "DUNNO");
    CHECK(ask("Alice+list@EXAMPLE.test") == "DUNNO");
    CHECK(ask("sales@example.test") == "DUNNO");
    CHECK(ask("anything@alice.example") == "DUNNO");
    CHECK(ask("bob@example.test") == "553 5.7.1 Sender address not owned by the authenticated user");
    CHECK(ask("") == "553 5.7.1 Sender address not owned by the authenticated user");
    CHECK(ask("bob@example.test", "Alice@Example.TEST") != "DUNNO");
    CHECK(ask("alice@example.test", "Alice@Example.TEST") == "DUNNO");
    // Unauthenticated mail is not this rule's business.
    CHECK(h.ask(rcpt("192.0.2.1", "bob@example.test", "r@dest.example")) == "DUNNO");
    // A login without a domain owns nothing.
    CHECK(ask("alice@example.test", "alice") != "DUNNO");
    // Cached for the TTL: one store lookup per user.
    const auto before = h.store.operations;
    CHECK(ask("alice@example.test") == "DUNNO");
    CHECK(h.store.operations == before);
    // Stale-if-error after the TTL.
    h.monotonic += 61'000;
    h.store.setAvailable(false);
    CHECK(ask("alice@example.test") == "DUNNO");
    // Unknown user while the database is down: the fail action.
    CHECK(ask("x@y.example", "nobody@example.test") == "DEFER_IF_PERMIT Policy service temporarily unavailable");
}

TEST_CASE("lists: config and SQL entries, allow wins, deny answers the action", "[glue]") {
    Harness h(R"(
rules:
  - name: lists
    type: lists
    action: "554 5.7.1 Blocked"
    allow: {senders: ["ceo@partner.example"]}
    deny: {clients: ["192.0.2.0/24", "2001:db8:bad::/48"], client_names: [".spam.example"]}
)");
    h.store.lists = {{"deny", "sender", "@junk.example"}, {"allow", "client", "192.0.2.99"},
                     {"deny", "recipient", "trap@example.test"}, {"deny", "client", "not-an-ip"}};
    h.refresh();
    CHECK(h.state.lists()->rows == 3);
    CHECK(h.ask(rcpt("192.0.2.1", "a@b.example", "u@example.test")) == "554 5.7.1 Blocked");
    CHECK(h.ask(rcpt("2001:db8:bad:1::5", "a@b.example", "u@example.test")) == "554 5.7.1 Blocked");
    CHECK(h.ask(rcpt("192.0.2.99", "a@b.example", "u@example.test")) == "DUNNO");
    CHECK(h.ask(rcpt("192.0.2.1", "ceo@partner.example", "u@example.test")) == "DUNNO");
    CHECK(h.ask(rcpt("203.0.113.1", "x@junk.example", "u@example.test")) == "554 5.7.1 Blocked");
    CHECK(h.ask(rcpt("203.0.113.1", "x@ok.example", "trap@example.test")) == "554 5.7.1 Blocked");
    CHECK(h.ask(rcpt("203.0.113.1", "x@ok.example", "u@example.test")) == "DUNNO");
}

TEST_CASE("account guard: a burst holds the message and the account, later submissions refused", "[glue]") {
    Harness h(R"(
rules:
  - name: guard
    type: account_guard
    window: 1h
    max_messages: 3
    max_recipient_domains: 4
)");
    const std::string user = "victim@example.test";
    for (int i = 0; i < 3; ++i) {
        const std::string inst = "g" + std::to_string(i);
        CHECK(h.ask(rcpt("192.0.2.1", user, "r@d1.example", user, inst)) == "DUNNO");
        CHECK(h.ask(eom("192.0.2.1", user, 1, 100, user, inst)) == "DUNNO");
    }
    CHECK(h.ask(rcpt("192.0.2.1", user, "r@d1.example", user, "g3")) == "DUNNO");
    Decision d;
    CHECK(h.ask(eom("192.0.2.1", user, 1, 100, user, "g3"), &d) == "HOLD Unusual sending activity, held for review");
    CHECK(d.reason.find("messages 4 > 3") != std::string::npos);
    REQUIRE(h.store.holds.count(user) == 1);
    CHECK(h.metric("policyd_holds_total") == 1);
    CHECK(h.ask(rcpt("192.0.2.1", user, "r@d1.example", user, "g4")).rfind("450 4.7.1 Account on hold", 0) == 0);
    // Other users are not affected; a release (row deleted) is picked up on refresh.
    CHECK(h.ask(rcpt("192.0.2.1", "other@example.test", "r@d1.example", "other@example.test", "o1")) == "DUNNO");
    h.store.holds.clear();
    h.refresh();
    CHECK(h.ask(rcpt("192.0.2.1", user, "r@d1.example", user, "g5")) == "DUNNO");

    // Distinct recipient domains of one message (tracked from its RCPTs).
    Harness dom(R"(
rules:
  - name: guard
    type: account_guard
    max_recipient_domains: 4
)");
    for (int i = 0; i < 5; ++i) {
        CHECK(dom.ask(rcpt("192.0.2.1", user, "r@d" + std::to_string(i) + ".example", user, "x")) == "DUNNO");
    }
    CHECK(dom.ask(eom("192.0.2.1", user, 5, 100, user, "x"), &d).rfind("HOLD", 0) == 0);
    CHECK(d.reason.find("recipient_domains 5 > 4") != std::string::npos);
}

TEST_CASE("counter cache: own charges at once, other nodes' within counter_ttl, the charge stays exact", "[glue]") {
    Harness h(R"(
rules:
  - name: per-user
    type: rate_limit
    key: sasl_username
    windows: [{limit: 2, period: 1h}]
    action: "450 4.7.1 limit"
)");
    const std::string u = "u@example.test";
    for (int i = 0; i < 2; ++i) {
        const std::string inst = "m" + std::to_string(i);
        CHECK(h.ask(rcpt("192.0.2.1", u, "r@x.example", u, inst)) == "DUNNO");
        CHECK(h.ask(eom("192.0.2.1", u, 1, 10, u, inst)) == "DUNNO");
    }
    // Written through: refused at RCPT without asking the store.
    const auto ops = h.store.operations;
    CHECK(h.ask(rcpt("192.0.2.1", u, "r@x.example", u, "m2")) == "450 4.7.1 limit");
    CHECK(h.store.operations == ops);

    // Another node uses up v's allowance after this node cached v's counter.
    const std::string v = "v@example.test";
    CHECK(h.ask(rcpt("192.0.2.1", v, "r@x.example", v, "n0")) == "DUNNO");
    h.store.counters[core::CounterKey{"per-user", 0, v}] =
        core::charge(core::Algorithm::FixedWindow, core::WindowSpec{2, std::chrono::hours(1)}, {}, h.now, 2);
    // Within counter_ttl the RCPT check is stale, END-OF-MESSAGE is not.
    CHECK(h.ask(rcpt("192.0.2.1", v, "r@x.example", v, "n1")) == "DUNNO");
    CHECK(h.ask(eom("192.0.2.1", v, 1, 10, v, "n1")) == "450 4.7.1 limit");
    h.monotonic += 1001;
    CHECK(h.ask(rcpt("192.0.2.1", v, "r@x.example", v, "n2")) == "450 4.7.1 limit");
}

TEST_CASE("greylist pass cache: passed triplets answered from memory for greylist_pass_ttl", "[glue]") {
    Harness h(R"(
cache: {greylist_pass_ttl: 1m}
rules:
  - {name: grey, type: greylist, delay: 10s, auto_allow_after: 0}
)");
    CHECK(h.ask(rcpt("192.0.2.1", "a@b.example", "u@example.test")).rfind("DEFER_IF_PERMIT", 0) == 0);
    h.now += 10'000;
    CHECK(h.ask(rcpt("192.0.2.1", "a@b.example", "u@example.test")) == "DUNNO");
    const auto ops = h.store.operations;
    for (int i = 0; i < 5; ++i) CHECK(h.ask(rcpt("192.0.2.9", "a@b.example", "u@example.test")) == "DUNNO");
    CHECK(h.store.operations == ops);
    h.monotonic += 60'001;
    CHECK(h.ask(rcpt("192.0.2.9", "a@b.example", "u@example.test")) == "DUNNO");
    CHECK(h.store.operations == ops + 1);
}
