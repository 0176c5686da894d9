#include "policyd/config.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

using namespace titan::policyd;

namespace {
const std::string kListen = "policy:\n  listen: [{address: \"127.0.0.1:12040\"}]\n";
}

TEST_CASE("config: a full example loads with the documented defaults", "[config]") {
    auto r = loadConfigString(kListen + R"(
networks: {trusted: ["10.0.0.0/8", "2001:db8::/32"]}
rules:
  - {name: lists, type: lists, deny: {clients: ["192.0.2.0/24"]}}
  - {name: grey, type: greylist}
  - {name: rl, type: rate_limit, key: client_address, windows: [{limit: 5, period: 1m}]}
  - {name: login, type: sender_login}
  - {name: guard, type: account_guard, max_messages: 100}
)", "t.yaml");
    REQUIRE(r);
    const auto& p = *r->config->policy;
    REQUIRE(p.rules.size() == 5);
    CHECK(p.rules[1].direction == core::Direction::Inbound);
    CHECK(p.rules[1].failOpen());
    CHECK_FALSE(p.rules[2].failOpen());
    CHECK(p.request_timeout == std::chrono::seconds(2));
    CHECK(r->config->limits.max_pending == 1);
    CHECK(r->config->limits.idle_timeout == std::chrono::hours(1));
    CHECK(r->config->limits.max_line_bytes == 64 * 1024 + 1);
    CHECK(r->dump.find("rules") != std::string::npos);
}

TEST_CASE("config: every error is reported with its place", "[config]") {
    auto r = loadConfigString(kListen + R"(
rules:
  - {name: dup, type: lists}
  - {name: dup, type: lists}
  - {name: "Bad Name", type: lists}
  - {name: a, type: rate_limit, windows: [{limit: 5, period: 1m}], action: "450"}
  - {name: b, type: rate_limit, windows: [{limit: 5, period: 1m}], action: "reject_unknown_client"}
  - {name: c, type: greylist, allow_clients: ["nonsense"]}
  - {name: d, type: account_guard}
  - {name: e, type: nope}
  - {name: f, type: lists, unknown_key: 1}
)", "t.yaml");
    REQUIRE_FALSE(r);
    const std::string& m = r.error().message;
    for (const char* want : {"duplicate rule name", "rule names are", "numeric action needs a text",
                             "unknown action", "not an IP address", "an account guard needs", "unknown_key", "t.yaml:"}) {
        INFO(want);
        CHECK(m.find(want) != std::string::npos);
    }
}

TEST_CASE("checkAction", "[config]") {
    CHECK(checkAction("DUNNO").empty());
    CHECK(checkAction("450 4.7.1 wait").empty());
    CHECK(checkAction("HOLD held").empty());
    CHECK_FALSE(checkAction("").empty());
    CHECK_FALSE(checkAction("550").empty());
    CHECK_FALSE(checkAction("REJECT a\nb").empty());
    CHECK_FALSE(checkAction("permit_mynetworks").empty());
}

TEST_CASE("config: the shipped example loads", "[config]") {
    std::ifstream in(std::string(TITAN_SOURCE_DIR) + "/policyd/policyd.example.yaml");
    REQUIRE(in);
    std::stringstream text;
    text << in.rdbuf();
    std::string yaml = text.str();
    // The example names a password file that exists only on a real host.
    const std::string pw = "password_file: /etc/titan/db.password";
    auto at = yaml.find(pw);
    REQUIRE(at != std::string::npos);
    yaml.erase(at, pw.size());
    auto r = loadConfigString(yaml, "policyd.example.yaml");
    if (!r) FAIL(r.error().message);
    CHECK(r->config->policy->rules.size() == 6);
}
