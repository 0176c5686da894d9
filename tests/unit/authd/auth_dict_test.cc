#include "authd/core/auth_dict.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace titan::authd::core;

TEST_CASE("parseDictKey: passdb carries the service, userdb the user", "[core]") {
    auto p = parseDictKey("shared/passdb/imap/bob@example.test");
    REQUIRE(std::holds_alternative<PassdbKey>(p));
    CHECK(std::get<PassdbKey>(p).service == "imap");
    CHECK(std::get<PassdbKey>(p).user == "bob@example.test");
    auto u = parseDictKey("shared/userdb/bob@example.test");
    REQUIRE(std::holds_alternative<UserdbKey>(u));
    CHECK(std::get<UserdbKey>(u).user == "bob@example.test");
    for (const char* k : {"shared/passdb/bob@example.test", "shared/passdb//bob", "shared/passdb/imap/",
                          "shared/userdb/", "priv/quota/storage", "shared/other/x", ""}) {
        INFO(k);
        CHECK(std::holds_alternative<UnknownKey>(parseDictKey(k)));
    }
    CHECK(isUserIteration("shared/userdb/"));
    CHECK(isUserIteration("shared/userdb"));
    CHECK_FALSE(isUserIteration("shared/passdb/"));
}

TEST_CASE("checkAccess: per-service flags", "[core]") {
    Mailbox m;
    m.imap = false;
    m.smtp = false;
    CHECK(checkAccess(m, "imap") == Access::ServiceDisabled);
    CHECK(checkAccess(m, "IMAP") == Access::ServiceDisabled);
    CHECK(checkAccess(m, "pop3") == Access::Allowed);
    CHECK(checkAccess(m, "smtp") == Access::ServiceDisabled);
    CHECK(checkAccess(m, "submission") == Access::ServiceDisabled);
    CHECK(checkAccess(m, "ftp") == Access::ServiceDisabled);  // ftp defaults off
    CHECK(checkAccess(m, "lmtp") == Access::Allowed);
    m.active = false;
    CHECK(checkAccess(m, "pop3") == Access::AccountDisabled);
}

TEST_CASE("passdbJson: password, canonical user, nologin with reason", "[core]") {
    Mailbox m;
    m.username = "bob@example.test";
    m.password_hash = "{SHA512-CRYPT}$6$salt$hash";
    m.imap = false;
    auto ok = nlohmann::json::parse(passdbJson(m, "pop3"));
    CHECK(ok["user"] == "bob@example.test");
    CHECK(ok["password"] == "{SHA512-CRYPT}$6$salt$hash");
    CHECK_FALSE(ok.contains("nologin"));
    auto imap = nlohmann::json::parse(passdbJson(m, "imap"));
    CHECK(imap["nologin"] == "y");
    CHECK(imap["reason"] == "IMAP access is disabled for this account");
    m.active = false;
    m.disabled_reason = "Unpaid invoice";
    auto off = nlohmann::json::parse(passdbJson(m, "pop3"));
    CHECK(off["reason"] == "Unpaid invoice");
    m.active = true;
    m.password_hash.clear();
    auto nopw = nlohmann::json::parse(passdbJson(m, "pop3"));
    CHECK_FALSE(nopw.contains("password"));  // Dovecot: no password → mismatch
    CHECK_FALSE(nopw.contains("nopassword"));
}

TEST_CASE("userdbJson: home, ids with defaults, quota rules", "[core]") {
    Mailbox m;
    m.username = "bob@example.test";
    m.home = "/var/vmail/example.test/bob";
    auto plain = nlohmann::json::parse(userdbJson(m, {}));
    CHECK(plain["home"] == "/var/vmail/example.test/bob");
    CHECK(plain["user"] == "bob@example.test");
    CHECK_FALSE(plain.contains("uid"));
    CHECK_FALSE(plain.contains("quota_rule"));
    auto withDefaults = nlohmann::json::parse(userdbJson(m, {5000u, 5001u}));
    CHECK(withDefaults["uid"] == "5000");
    CHECK(withDefaults["gid"] == "5001");
    m.uid = 42;
    m.quota_bytes = 1073741824;
    m.quota_messages = 1000;
    auto own = nlohmann::json::parse(userdbJson(m, {5000u, 5001u}));
    CHECK(own["uid"] == "42");
    CHECK(own["gid"] == "5001");
    CHECK(own["quota_rule"] == "*:storage=1073741824B");
    CHECK(own["quota_rule2"] == "*:messages=1000");
}

TEST_CASE("JSON values survive hostile bytes in stored data", "[core]") {
    Mailbox m;
    m.username = "bob@example.test";
    m.home = std::string("/var/vmail/\"quoted\"\\\n\xff");
    auto j = nlohmann::json::parse(userdbJson(m, {}));
    CHECK(j["user"] == "bob@example.test");
}
