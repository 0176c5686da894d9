// authd/core/ftp: home templates, path checks, uid/gid resolution, JSON bodies.
#include "authd/core/ftp.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace titan::authd::core;

TEST_CASE("isCleanAbsolutePath", "[core]") {
    struct Case {
        const char* path;
        bool want;
    } cases[] = {
        {"/", true},           {"/srv/ftp/a", true},  {"/srv/ftp/a/", true}, {"/srv/ftp/a b", true},
        {"", false},           {"srv/ftp", false},    {"/srv//ftp", false},  {"/srv/./ftp", false},
        {"/srv/../etc", false}, {"/srv/..", false},   {"/..", false},        {"/srv/ftp\n", false},
        {"/srv/\x7f", false},
    };
    for (const auto& c : cases) {
        INFO("path " << c.path);
        CHECK(isCleanAbsolutePath(c.path) == c.want);
    }
    CHECK(isCleanAbsolutePath(std::string(1, '/') + std::string(1023, 'a')));
    CHECK_FALSE(isCleanAbsolutePath(std::string(1, '/') + std::string(1024, 'a')));
    CHECK_FALSE(isCleanAbsolutePath(std::string("/a\0b", 4)));
}

TEST_CASE("expandFtpHome", "[core]") {
    CHECK(*expandFtpHome("/srv/ftp/%d/%n", "bob@example.test") == "/srv/ftp/example.test/bob");
    CHECK(*expandFtpHome("/home/%u", "bob@example.test") == "/home/bob@example.test");
    CHECK(*expandFtpHome("/srv/100%%/%n", "bob@example.test") == "/srv/100%/bob");
    CHECK(*expandFtpHome("/srv/ftp", "bob@example.test") == "/srv/ftp");
    CHECK_FALSE(expandFtpHome("/srv/%x/%n", "bob@example.test").ok());
    CHECK_FALSE(expandFtpHome("srv/%d", "bob@example.test").ok());
    CHECK_FALSE(expandFtpHome("/srv/%n", "bob").ok());
    CHECK_FALSE(expandFtpHome("/srv/%n", "@example.test").ok());
    // A local part cannot climb out of the template.
    CHECK_FALSE(expandFtpHome("/srv/%d/%n", "..@example.test").ok());
    CHECK_FALSE(expandFtpHome("/srv/%n/x", "a/../../etc@example.test").ok());
    // Bug-log row 6 (CVE-2017-2669): a '%' in the name is data, expanded exactly once.
    CHECK(*expandFtpHome("/srv/%d/%n", "a%d%%n@example.test") == "/srv/example.test/a%d%%n");
}

namespace {
Mailbox mailbox(std::optional<FtpAccount> row = std::nullopt) {
    Mailbox m;
    m.username = "bob@example.test";
    m.ftp = true;
    m.ftp_account = std::move(row);
    return m;
}
}  // namespace

TEST_CASE("resolveFtpUser: row, then ftp defaults, then userdb defaults", "[core]") {
    FtpSettings s;
    s.home = "/srv/ftp/%d/%n";
    SECTION("no row: template and fallbacks") {
        auto u = resolveFtpUser(mailbox(), s, 5000, 5001);
        REQUIRE(u.ok());
        CHECK(u->user == "bob@example.test");
        CHECK(u->home == "/srv/ftp/example.test/bob");
        CHECK(u->uid == 5000);
        CHECK(u->gid == 5001);
        CHECK(u->limits == FtpAccount{});
    }
    SECTION("ftp defaults beat userdb defaults") {
        s.default_uid = 6000;
        s.default_gid = 6001;
        auto u = resolveFtpUser(mailbox(), s, 5000, 5001);
        REQUIRE(u.ok());
        CHECK(u->uid == 6000);
        CHECK(u->gid == 6001);
    }
    SECTION("the row beats everything") {
        FtpAccount row;
        row.home = "/var/www/bob";
        row.uid = 7000;
        row.gid = 7001;
        row.bytes_in = 1000;
        row.files_xfer = 3;
        row.hard_limit = false;
        s.default_uid = 6000;
        auto u = resolveFtpUser(mailbox(row), s, 5000, 5001);
        REQUIRE(u.ok());
        CHECK(u->home == "/var/www/bob");
        CHECK(u->uid == 7000);
        CHECK(u->gid == 7001);
        CHECK(u->limits.bytes_in == 1000);
        CHECK(u->limits.files_xfer == 3);
        CHECK_FALSE(u->limits.hard_limit);
    }
    SECTION("a row with only limits keeps the defaults") {
        FtpAccount row;
        row.bytes_out = 42;
        auto u = resolveFtpUser(mailbox(row), s, 5000, 5001);
        REQUIRE(u.ok());
        CHECK(u->home == "/srv/ftp/example.test/bob");
        CHECK(u->uid == 5000);
        CHECK(u->limits.bytes_out == 42);
    }
}

TEST_CASE("resolveFtpUser refuses unusable accounts", "[core]") {
    FtpSettings s;
    s.min_uid = 1000;
    s.min_gid = 100;
    CHECK_FALSE(resolveFtpUser(mailbox(), s, std::nullopt, 5001).ok());
    CHECK_FALSE(resolveFtpUser(mailbox(), s, 5000, std::nullopt).ok());
    // Limits at -1/0/+1.
    CHECK_FALSE(resolveFtpUser(mailbox(), s, 999, 5001).ok());
    CHECK(resolveFtpUser(mailbox(), s, 1000, 5001).ok());
    CHECK(resolveFtpUser(mailbox(), s, 1001, 5001).ok());
    CHECK_FALSE(resolveFtpUser(mailbox(), s, 5000, 99).ok());
    CHECK(resolveFtpUser(mailbox(), s, 5000, 100).ok());
    // Never root, whatever the minimum says.
    s.min_uid = 1;
    s.min_gid = 1;
    FtpAccount root;
    root.uid = 0;
    root.gid = 0;
    CHECK_FALSE(resolveFtpUser(mailbox(root), s, 5000, 5001).ok());
    FtpAccount bad_home;
    bad_home.home = "/srv/../etc";
    CHECK_FALSE(resolveFtpUser(mailbox(bad_home), s, 5000, 5001).ok());
    FtpAccount relative;
    relative.home = "srv/bob";
    CHECK_FALSE(resolveFtpUser(mailbox(relative), s, 5000, 5001).ok());
    FtpAccount minus_one;
    minus_one.uid = 0xFFFFFFFFU;
    CHECK_FALSE(resolveFtpUser(mailbox(minus_one), s, 5000, 5001).ok());
}

TEST_CASE("FTP JSON bodies", "[core]") {
    FtpUser u;
    u.user = "bob@example.test";
    u.home = "/srv/ftp/\"quoted\"";
    u.uid = 5000;
    u.gid = 5001;
    u.limits.bytes_in = 1ULL << 40;
    u.limits.per_session = true;
    auto j = nlohmann::json::parse(ftpLookupFoundJson(u));
    CHECK(j["status"] == "found");
    CHECK(j["user"] == "bob@example.test");
    CHECK(j["home"] == "/srv/ftp/\"quoted\"");
    CHECK(j["uid"] == 5000);
    CHECK(j["gid"] == 5001);
    CHECK(j["bytes_in_avail"] == (1ULL << 40));
    CHECK(j["files_in_avail"] == 0);
    CHECK(j["quota_per_session"] == true);
    CHECK(j["quota_hard"] == true);

    auto s = nlohmann::json::parse(ftpStatusJson("unavailable", "db down"));
    CHECK(s == nlohmann::json{{"status", "unavailable"}, {"reason", "db down"}});
    CHECK(nlohmann::json::parse(ftpStatusJson("not_found")) == nlohmann::json{{"status", "not_found"}});

    FtpTally t{1, 2, 3, 4, 5, 6};
    auto tj = nlohmann::json::parse(ftpTallyJson(t));
    CHECK(tj["bytes_in_used"] == 1);
    CHECK(tj["files_xfer_used"] == 6);
}
