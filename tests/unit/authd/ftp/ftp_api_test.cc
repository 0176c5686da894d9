// authd/server/ftp_api: the /ftp/v1/ handlers over a memory store (no HTTP).
#include "authd/server/ftp_api.h"

#include <catch2/catch.hpp>
#include <event2/event.h>
#include <nlohmann/json.hpp>

#include <map>
#include <thread>

#include "authd/store/memory_store.h"
#include "common/password/password.h"
#include "common/proto/dovecot_auth/base64.h"

using namespace titan;
using namespace titan::authd;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Tallies in a map; completes on the next loop turn like the MySQL store.
class FakeTallyStore : public store::FtpTallyStore {
public:
    explicit FakeTallyStore(event::Loop& loop) : loop_(loop) {}
    void fetchTally(const std::string& user, Done done) override { later(user, {}, std::move(done)); }
    void storeTallyDelta(const std::string& user, const core::FtpTally& d, Done done) override {
        later(user, d, std::move(done));
    }
    std::map<std::string, core::FtpTally> rows;
    bool down = false;

private:
    void later(const std::string& user, core::FtpTally d, Done done) {
        auto timer = std::make_unique<event::Timer>(loop_.base(), 0ms, false, [this, user, d, done] {
            if (down) {
                done(Error::unavailable("tally store down"));
                return;
            }
            auto& t = rows[user];
            t.bytes_in += d.bytes_in;
            t.bytes_out += d.bytes_out;
            t.bytes_xfer += d.bytes_xfer;
            t.files_in += d.files_in;
            t.files_out += d.files_out;
            t.files_xfer += d.files_xfer;
            done(t);
        });
        timers_.push_back(std::move(timer));
    }
    event::Loop& loop_;
    std::vector<std::unique_ptr<event::Timer>> timers_;
};

struct Fixture {
    event::Loop loop;
    metrics::Registry registry;
    store::MemoryStore store{&loop};
    UserLookup lookup{store, core::CacheOptions{60s, 5s, 3600s, 1000}, identity::Options{}, registry};
    event::WorkPool hashing{loop.base(), 1, 100};
    core::Throttle throttle{[] {
        core::ThrottleOptions o;
        o.max_ip_failures = 0;
        o.max_user_failures = 3;
        return o;
    }()};
    PasswordAuthenticator auth{lookup, hashing, throttle, nullptr, registry};
    FakeTallyStore tally{loop};
    FtpApi api{lookup, auth, &tally, registry, settings(), core::UserdbDefaults{5000, 5001}};

    static core::FtpSettings settings() {
        core::FtpSettings s;
        s.home = "/srv/ftp/%d/%n";
        return s;
    }

    Fixture() {
        core::Mailbox m;
        m.username = "bob@example.test";
        m.password_hash = *password::generate("SHA256-CRYPT", "right");
        m.ftp = true;
        core::AppPassword deploy;
        deploy.name = "deploy";
        deploy.password_hash = *password::generate("PLAIN", "deploy-secret");
        deploy.services = {"ftp"};
        m.app_passwords.push_back(deploy);
        core::AppPassword phone;
        phone.name = "phone";
        phone.password_hash = *password::generate("PLAIN", "phone-secret");
        phone.services = {"smtp"};
        m.app_passwords.push_back(phone);
        store.put(m);

        core::Mailbox mail_only = m;
        mail_only.username = "mail@example.test";
        mail_only.ftp = false;
        store.put(mail_only);

        core::Mailbox low = m;
        low.username = "low@example.test";
        low.ftp_account = core::FtpAccount{};
        low.ftp_account->uid = 10;  // below min_uid
        store.put(low);

        core::Mailbox custom = m;
        custom.username = "custom@example.test";
        custom.ftp_account = core::FtpAccount{};
        custom.ftp_account->home = "/var/www/custom";
        custom.ftp_account->uid = 7000;
        custom.ftp_account->bytes_in = 1048576;
        custom.ftp_account->files_in = 10;
        store.put(custom);
    }

    using Handler = void (FtpApi::*)(const std::string&, FtpApi::Reply);
    HttpResponse call(Handler h, const std::string& body) {
        std::optional<HttpResponse> got;
        (api.*h)(body, [&](HttpResponse r) {
            CHECK_FALSE(got.has_value());  // exactly once
            got = std::move(r);
        });
        for (int i = 0; i < 5000 && !got; ++i) {
            event_base_loop(loop.base(), EVLOOP_NONBLOCK);
            if (!got) std::this_thread::sleep_for(1ms);
        }
        REQUIRE(got);
        return *got;
    }
    json ok(Handler h, const std::string& body) {
        auto r = call(h, body);
        REQUIRE(r.status == 200);
        return json::parse(r.body);
    }
    json lookupUser(const std::string& user) { return ok(&FtpApi::handleLookup, json{{"user", user}}.dump()); }
    json authUser(const std::string& user, const std::string& password, const std::string& ip = "192.0.2.1") {
        return ok(&FtpApi::handleAuth, json{{"user", user},
                                             {"password_base64", proto::dovecot_auth::base64Encode(password)},
                                             {"remote_ip", ip},
                                             {"local_ip", "127.0.0.1"}}
                                            .dump());
    }
};

}  // namespace

TEST_CASE("ftp lookup: found with home, uid, gid and limits; canonical name", "[glue]") {
    Fixture f;
    auto j = f.lookupUser("Bob@Example.TEST");
    CHECK(j["status"] == "found");
    CHECK(j["user"] == "bob@example.test");
    CHECK(j["home"] == "/srv/ftp/example.test/bob");
    CHECK(j["uid"] == 5000);
    CHECK(j["gid"] == 5001);
    CHECK(j["bytes_in_avail"] == 0);

    auto c = f.lookupUser("custom@example.test");
    CHECK(c["home"] == "/var/www/custom");
    CHECK(c["uid"] == 7000);
    CHECK(c["gid"] == 5001);
    CHECK(c["bytes_in_avail"] == 1048576);
    CHECK(c["files_in_avail"] == 10);

    // A mailbox without FTP is still found: the refusal comes after the password.
    CHECK(f.lookupUser("mail@example.test")["status"] == "found");
}

TEST_CASE("ftp lookup: not found, invalid, unavailable and stale", "[glue]") {
    Fixture f;
    CHECK(f.lookupUser("nobody@example.test")["status"] == "not_found");
    CHECK(f.lookupUser("no-at-sign")["status"] == "not_found");
    CHECK(f.lookupUser("low@example.test")["status"] == "invalid");
    CHECK(f.lookupUser("bob@example.test")["status"] == "found");  // now cached
    f.store.setDownForTest(true);
    CHECK(f.lookupUser("carol@example.test")["status"] == "unavailable");
    CHECK(f.lookupUser("bob@example.test")["status"] == "found");
}

TEST_CASE("ftp lookup: malformed requests get 400", "[glue]") {
    Fixture f;
    for (const char* body : {"", "not json", "[]", "{}", R"({"user": 5})", R"({"user": null})", "{\"user\":\"a\""}) {
        INFO("body " << body);
        CHECK(f.call(&FtpApi::handleLookup, body).status == 400);
    }
    // The user name limit at -1/0/+1.
    std::string at_limit = std::string(kFtpMaxUserBytes - 13, 'a') + "@example.test";
    REQUIRE(at_limit.size() == kFtpMaxUserBytes);
    CHECK(f.call(&FtpApi::handleLookup, json{{"user", at_limit.substr(1)}}.dump()).status == 200);
    CHECK(f.call(&FtpApi::handleLookup, json{{"user", at_limit}}.dump()).status == 200);
    CHECK(f.call(&FtpApi::handleLookup, json{{"user", "a" + at_limit}}.dump()).status == 400);
}

TEST_CASE("ftp auth: password, scoped app passwords, service flag", "[glue]") {
    Fixture f;
    auto j = f.authUser("BOB@example.test", "right");
    CHECK(j["status"] == "ok");
    CHECK(j["user"] == "bob@example.test");
    CHECK(f.authUser("bob@example.test", "wrong")["status"] == "failed");
    CHECK(f.authUser("bob@example.test", "deploy-secret")["status"] == "ok");
    CHECK(f.authUser("bob@example.test", "phone-secret")["status"] == "failed");
    CHECK(f.authUser("mail@example.test", "right")["status"] == "service_disabled");
    CHECK(f.authUser("mail@example.test", "wrong")["status"] == "failed");
    CHECK(f.authUser("nobody@example.test", "right")["status"] == "failed");
    // Any byte survives base64, e.g. a Latin-1 password.
    CHECK(f.authUser("bob@example.test", std::string("r\xe9ght"))["status"] == "failed");
}

TEST_CASE("ftp auth: failures spend the shared budget; outage is tempfail", "[glue]") {
    Fixture f;
    for (int i = 0; i < 3; ++i) CHECK(f.authUser("bob@example.test", "bad")["status"] == "failed");
    CHECK(f.authUser("bob@example.test", "right")["status"] == "throttled");
    f.store.setDownForTest(true);
    CHECK(f.authUser("carol@example.test", "x")["status"] == "tempfail");
}

TEST_CASE("ftp auth: malformed requests get 400", "[glue]") {
    Fixture f;
    auto body = [](json j) { return j.dump(); };
    std::string b64 = proto::dovecot_auth::base64Encode("right");
    CHECK(f.call(&FtpApi::handleAuth, "{").status == 400);
    CHECK(f.call(&FtpApi::handleAuth, body({{"user", "bob@example.test"}})).status == 400);
    CHECK(f.call(&FtpApi::handleAuth, body({{"user", "bob@example.test"}, {"password_base64", "!!"}})).status == 400);
    CHECK(f.call(&FtpApi::handleAuth,
                 body({{"user", "bob@example.test"}, {"password_base64", b64}, {"remote_ip", "not-an-ip"}}))
              .status == 400);
    CHECK(f.call(&FtpApi::handleAuth,
                 body({{"user", "bob@example.test"}, {"password_base64", b64}, {"remote_ip", 7}}))
              .status == 400);
    // No addresses at all is allowed (the module always sends them).
    CHECK(f.call(&FtpApi::handleAuth, body({{"user", "bob@example.test"}, {"password_base64", b64}})).status == 200);
    // IPv4-mapped IPv6 from ProFTPd is accepted.
    CHECK(f.authUser("bob@example.test", "right", "::ffff:192.0.2.9")["status"] == "ok");
    // The password limit at -1/0/+1.
    for (size_t n : {kFtpMaxPasswordBytes - 1, kFtpMaxPasswordBytes, kFtpMaxPasswordBytes + 1}) {
        INFO("password bytes " << n);
        auto r = f.call(&FtpApi::handleAuth, body({{"user", "bob@example.test"},
                                                   {"password_base64",
                                                    proto::dovecot_auth::base64Encode(std::string(n, 'p'))}}));
        CHECK(r.status == (n <= kFtpMaxPasswordBytes ? 200 : 400));
    }
}

TEST_CASE("ftp tally: read and add deltas for mailboxes only", "[glue]") {
    Fixture f;
    auto j = f.ok(&FtpApi::handleTally, R"({"user":"Bob@Example.TEST","op":"read"})");
    CHECK(j["status"] == "found");
    CHECK(j["bytes_in_used"] == 0);
    j = f.ok(&FtpApi::handleTally, R"({"user":"bob@example.test","op":"add","bytes_in":1000,"files_in":1})");
    CHECK(j["bytes_in_used"] == 1000);
    CHECK(j["files_in_used"] == 1);
    j = f.ok(&FtpApi::handleTally, R"({"user":"bob@example.test","op":"add","bytes_in":-400,"bytes_xfer":5})");
    CHECK(j["bytes_in_used"] == 600);
    CHECK(j["bytes_xfer_used"] == 5);
    CHECK(f.tally.rows.count("bob@example.test") == 1);

    CHECK(f.ok(&FtpApi::handleTally, R"({"user":"nobody@example.test","op":"add","bytes_in":1})")["status"] ==
          "not_found");
    CHECK(f.tally.rows.count("nobody@example.test") == 0);

    CHECK(f.call(&FtpApi::handleTally, R"({"user":"bob@example.test","op":"write"})").status == 400);
    CHECK(f.call(&FtpApi::handleTally, R"({"user":"bob@example.test","op":"add","bytes_in":1.5})").status == 400);
    CHECK(f.call(&FtpApi::handleTally, R"({"user":"bob@example.test","op":"add","bytes_in":"1"})").status == 400);
    CHECK(f.call(&FtpApi::handleTally,
                 R"({"user":"bob@example.test","op":"add","bytes_in":9999999999999999999})")
              .status == 400);

    f.tally.down = true;
    CHECK(f.ok(&FtpApi::handleTally, R"({"user":"bob@example.test","op":"read"})")["status"] == "unavailable");
}

TEST_CASE("ftp routes: the bearer key", "[glue]") {
    Fixture f;
    CHECK(f.api.authorized(""));  // no key configured: open
    auto s = Fixture::settings();
    s.key = "k3y-for-proftpd";
    f.api.reconfigure(s, core::UserdbDefaults{5000, 5001});
    CHECK(f.api.authorized("Bearer k3y-for-proftpd"));
    CHECK_FALSE(f.api.authorized(""));
    CHECK_FALSE(f.api.authorized("Bearer k3y-for-proftpD"));
    CHECK_FALSE(f.api.authorized("Bearer k3y-for-proftp"));
    CHECK_FALSE(f.api.authorized("Bearer k3y-for-proftpdd"));
    CHECK_FALSE(f.api.authorized("bearer k3y-for-proftpd"));
    CHECK_FALSE(f.api.authorized("Basic k3y-for-proftpd"));
}
