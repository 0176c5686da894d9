// The pure parts of authd's Dovecot 2.4 HTTP endpoints (authd/server/dovecot24_api.h):
// request field decoding, the passdb/userdb answers and the verify answers.
#include "authd/server/dovecot24_api.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace titan;
using namespace titan::authd;

namespace {

core::Mailbox bob() {
    core::Mailbox m;
    m.username = "bob@example.test";
    m.password_hash = "{SHA512-CRYPT}$6$salt$hash";
    m.home = "/var/vmail/example.test/bob";
    return m;
}

nlohmann::json parse(const std::string& s) {
    auto j = nlohmann::json::parse(s, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    return j;
}

}  // namespace

TEST_CASE("form bodies decode every byte", "[codec]") {
    struct Case {
        const char* name;
        std::string in;
        std::map<std::string, std::string> want;
    };
    const Case cases[] = {
        {"empty", "", {}},
        {"one pair", "user=bob", {{"user", "bob"}}},
        {"two pairs", "user=bob&password=pw", {{"user", "bob"}, {"password", "pw"}}},
        {"plus is a space", "password=a+b", {{"password", "a b"}}},
        {"escaped plus stays", "user=a%2Bb%40example.test", {{"user", "a+b@example.test"}}},
        {"escaped ampersand and equals", "password=%26%3D", {{"password", "&="}}},
        {"lower-case hex", "password=%c3%a9", {{"password", "\xc3\xa9"}}},
        {"NUL survives", "password=a%00b", {{"password", std::string("a\0b", 3)}}},
        {"high bytes survive", "password=%FF%FE", {{"password", "\xff\xfe"}}},
        {"name without value", "flag", {{"flag", ""}}},
        {"empty value", "user=", {{"user", ""}}},
        {"empty segments skipped", "&&user=bob&&", {{"user", "bob"}}},
        {"first value wins", "user=a&user=b", {{"user", "a"}}},
        {"value with equals", "password=a=b", {{"password", "a=b"}}},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        auto got = parseFormBody(c.in);
        REQUIRE(got.ok());
        CHECK(*got == c.want);
    }
}

TEST_CASE("form bodies with bad escapes are refused", "[codec]") {
    for (std::string in : {"password=%", "password=%4", "password=%G0", "password=%0g", "%zz=1", "a=b&c=%"}) {
        INFO(in);
        auto got = parseFormBody(in);
        REQUIRE_FALSE(got.ok());
        CHECK(got.error().code == ErrorCode::InvalidInput);
    }
}

TEST_CASE("request fields come from JSON objects or forms", "[codec]") {
    auto j = parseRequestFields(R"(  {"user":"bob","password":"p w"})");
    REQUIRE(j.ok());
    CHECK(j->at("user") == "bob");
    CHECK(j->at("password") == "p w");

    auto f = parseRequestFields("user=bob&password=p+w");
    REQUIRE(f.ok());
    CHECK(*f == *j);

    for (std::string bad : {R"({"user":1})", R"({"user":{"a":"b"}})", R"({"user":"bob")", "{", R"({"user":null})"}) {
        INFO(bad);
        CHECK_FALSE(parseRequestFields(bad).ok());
    }
    // A JSON array is not a form either.
    auto arr = parseRequestFields(R"(["user","bob"])");
    REQUIRE(arr.ok());  // decoded as a (meaningless) form: no user field
    CHECK(arr->count("user") == 0);
}

TEST_CASE("userdb answer for Dovecot 2.4 uses 2.4 setting names", "[core]") {
    auto m = bob();
    SECTION("defaults fill in uid and gid; no quota fields when unlimited") {
        auto j = parse(userdb24Json(m, {1000u, 2000u}));
        CHECK(j["user"] == "bob@example.test");
        CHECK(j["home"] == "/var/vmail/example.test/bob");
        CHECK(j["uid"] == "1000");
        CHECK(j["gid"] == "2000");
        CHECK_FALSE(j.contains("quota_storage_size"));
        CHECK_FALSE(j.contains("quota_message_count"));
        CHECK_FALSE(j.contains("quota_rule"));
        CHECK_FALSE(j.contains("password"));
    }
    SECTION("row values win; quota limits as quota_storage_size and quota_message_count") {
        m.uid = 5000;
        m.gid = 5001;
        m.quota_bytes = 2147483648ull;
        m.quota_messages = 10000;
        auto j = parse(userdb24Json(m, {1000u, 2000u}));
        CHECK(j["uid"] == "5000");
        CHECK(j["gid"] == "5001");
        CHECK(j["quota_storage_size"] == "2147483648B");
        CHECK(j["quota_message_count"] == "10000");
    }
    SECTION("no uid at all: the field is left out") {
        auto j = parse(userdb24Json(m, {}));
        CHECK_FALSE(j.contains("uid"));
        CHECK_FALSE(j.contains("gid"));
    }
}

TEST_CASE("passdb lookup answer never carries the hash", "[core]") {
    auto m = bob();
    auto j = parse(passdb24Json(m, "imap"));
    CHECK(j == nlohmann::json{{"user", "bob@example.test"}});

    m.imap = false;
    j = parse(passdb24Json(m, "imap"));
    CHECK(j["nologin"] == "y");
    CHECK(j["reason"] == "IMAP access is disabled for this account");
    CHECK_FALSE(j.contains("password"));
    CHECK(parse(passdb24Json(m, "pop3")) == nlohmann::json{{"user", "bob@example.test"}});

    m.active = false;
    m.disabled_reason = "Unpaid invoice";
    j = parse(passdb24Json(m, "pop3"));
    CHECK(j["reason"] == "Unpaid invoice");
    CHECK_FALSE(j.contains("password"));
}

TEST_CASE("verify answers", "[core]") {
    struct Case {
        AuthOutcome outcome;
        int status;
        nlohmann::json want;
    };
    const Case cases[] = {
        {{AuthStatus::Ok, "bob@example.test", "", false}, 200, {{"result", "ok"}, {"user", "bob@example.test"}}},
        {{AuthStatus::Ok, "bob@example.test", "", true}, 200, {{"result", "ok"}, {"user", "bob@example.test"}}},
        {{AuthStatus::Failed, "bob@example.test", "", false}, 200, {{"result", "fail"}}},
        {{AuthStatus::Failed, "", "", false}, 200, {{"result", "fail"}}},
        {{AuthStatus::AccountDisabled, "bob@example.test", "Unpaid invoice", false},
         200,
         {{"result", "disabled"}, {"user", "bob@example.test"}, {"reason", "Unpaid invoice"}}},
        {{AuthStatus::AccountDisabled, "bob@example.test", "", false},
         200,
         {{"result", "disabled"}, {"user", "bob@example.test"}, {"reason", "Account disabled"}}},
        {{AuthStatus::ServiceDisabled, "bob@example.test", "service imap is disabled", false},
         200,
         {{"result", "disabled"},
          {"user", "bob@example.test"},
          {"reason", "IMAP access is disabled for this account"}}},
        {{AuthStatus::Throttled, "bob@example.test", "too many failures from 192.0.2.1", false},
         200,
         {{"result", "throttled"}, {"reason", "too many failures from 192.0.2.1"}}},
        {{AuthStatus::TempFail, "", "user database temporarily unavailable", false},
         503,
         {{"result", "tempfail"}, {"reason", "user database temporarily unavailable"}}},
    };
    for (const auto& c : cases) {
        INFO(authStatusName(c.outcome.status));
        auto r = verifyResponse(c.outcome, "imap");
        CHECK(r.status == c.status);
        CHECK(parse(r.body) == c.want);
    }
    // Passwords and hashes never appear in an answer.
    auto ok = verifyResponse({AuthStatus::Ok, "bob@example.test", "", false}, "imap");
    CHECK(ok.body.find("password") == std::string::npos);
}

TEST_CASE("the shared secret of the Dovecot 2.4 endpoints", "[core]") {
    CHECK(dovecot24Authorized("", ""));
    CHECK(dovecot24Authorized("Bearer anything", ""));
    CHECK(dovecot24Authorized("Bearer s3cret", "s3cret"));
    CHECK_FALSE(dovecot24Authorized("", "s3cret"));
    CHECK_FALSE(dovecot24Authorized("Bearer s3cre", "s3cret"));
    CHECK_FALSE(dovecot24Authorized("Bearer s3crett", "s3cret"));
    CHECK_FALSE(dovecot24Authorized("Bearer S3CRET", "s3cret"));
    CHECK_FALSE(dovecot24Authorized("bearer s3cret", "s3cret"));
    CHECK_FALSE(dovecot24Authorized("Basic s3cret", "s3cret"));
    CHECK_FALSE(dovecot24Authorized("s3cret", "s3cret"));
    CHECK_FALSE(dovecot24Authorized("Bearer  s3cret", "s3cret"));
}
