#include "authd/service/password_authenticator.h"

#include <catch2/catch.hpp>
#include <event2/event.h>

#include <thread>

#include "authd/server/policy_api.h"
#include "authd/store/memory_store.h"
#include "common/password/password.h"

using namespace titan;
using namespace titan::authd;
using namespace std::chrono_literals;

namespace {

struct Fixture {
    event::Loop loop;
    metrics::Registry registry;
    store::MemoryStore store{&loop};
    UserLookup lookup{store, core::CacheOptions{60s, 5s, 3600s, 1000}, identity::Options{}, registry};
    event::WorkPool hashing{loop.base(), 1, 100};
    core::Throttle throttle{[] {
        core::ThrottleOptions o;
        o.max_ip_failures = 3;
        o.max_user_failures = 0;
        return o;
    }()};
    PasswordAuthenticator auth{lookup, hashing, throttle, nullptr, registry};

    Fixture() {
        core::Mailbox m;
        m.username = "bob@example.test";
        m.password_hash = *password::generate("SHA256-CRYPT", "right");
        m.imap = false;
        core::AppPassword phone;
        phone.name = "phone";
        phone.password_hash = *password::generate("SSHA512", "app-secret");
        phone.services = {"smtp"};
        m.app_passwords.push_back(phone);
        core::AppPassword office;
        office.name = "office";
        office.password_hash = *password::generate("PLAIN", "office-secret");
        office.services = {"smtp", "pop3"};
        office.networks = {"192.0.2.0/24"};
        m.app_passwords.push_back(office);
        core::AppPassword old;
        old.name = "old";
        old.password_hash = "{PLAIN}expired-secret";
        old.services = {"smtp"};
        old.expires_at = 1000;  // 1970
        m.app_passwords.push_back(old);
        store.put(m);
        core::Mailbox off = m;
        off.username = "off@example.test";
        off.active = false;
        off.disabled_reason = "Unpaid invoice";
        off.app_passwords.clear();
        store.put(off);
    }

    int next_ip = 1;
    // Each call comes from its own address unless one is given, so the throttle
    // only matters where a test means it to.
    AuthOutcome run(const std::string& service, const std::string& user, const std::string& pw,
                    std::string ip = "") {
        if (ip.empty()) ip = "198.51.100." + std::to_string(next_ip++);
        std::optional<AuthOutcome> got;
        bool inside = true;
        auth.authenticate({service, user, pw, ip, "127.0.0.1"}, [&](const AuthOutcome& o) {
            CHECK_FALSE(inside);  // never completes inside authenticate()
            got = o;
        });
        inside = false;
        // Workers post completions from other threads: poll the loop, bounded (5 s).
        for (int i = 0; i < 5000 && !got; ++i) {
            event_base_loop(loop.base(), EVLOOP_NONBLOCK);
            if (!got) std::this_thread::sleep_for(1ms);
        }
        REQUIRE(got);
        return *got;
    }
};

}  // namespace

TEST_CASE("authenticator: password, service flags and disabled accounts", "[core]") {
    Fixture f;
    CHECK(f.run("smtp", "Bob@Example.TEST", "right").status == AuthStatus::Ok);
    CHECK(f.run("smtp", "bob@example.test", "right").user == "bob@example.test");
    CHECK(f.run("smtp", "bob@example.test", "wrong").status == AuthStatus::Failed);
    CHECK(f.run("smtp", "nobody@example.test", "right").status == AuthStatus::Failed);
    CHECK(f.run("smtp", "not-an-address", "right").status == AuthStatus::Failed);
    auto imap = f.run("imap", "bob@example.test", "right");
    CHECK(imap.status == AuthStatus::ServiceDisabled);
    auto off = f.run("smtp", "off@example.test", "right");
    CHECK(off.status == AuthStatus::AccountDisabled);
    CHECK(off.reason == "Unpaid invoice");
    CHECK(f.run("smtp", "off@example.test", "wrong").status == AuthStatus::Failed);  // no reason leak
}

TEST_CASE("authenticator: app passwords are scoped by service, network and expiry", "[core]") {
    Fixture f;
    auto phone = f.run("smtp", "bob@example.test", "app-secret");
    CHECK(phone.status == AuthStatus::Ok);
    CHECK(phone.app_password);
    CHECK(f.run("submission", "bob@example.test", "app-secret").status == AuthStatus::Ok);
    CHECK(f.run("pop3", "bob@example.test", "app-secret").status == AuthStatus::Failed);
    CHECK(f.run("pop3", "bob@example.test", "office-secret", "192.0.2.55").status == AuthStatus::Ok);
    CHECK(f.run("pop3", "bob@example.test", "office-secret", "203.0.113.1").status == AuthStatus::Failed);
    CHECK(f.run("smtp", "bob@example.test", "expired-secret").status == AuthStatus::Failed);
}

TEST_CASE("authenticator: failures throttle the address; the database outage is a temporary failure", "[core]") {
    Fixture f;
    for (int i = 0; i < 3; ++i) CHECK(f.run("smtp", "bob@example.test", "bad", "203.0.113.7").status == AuthStatus::Failed);
    auto blocked = f.run("smtp", "bob@example.test", "right", "203.0.113.7");
    CHECK(blocked.status == AuthStatus::Throttled);
    CHECK(f.run("smtp", "bob@example.test", "right", "203.0.113.8").status == AuthStatus::Ok);
    f.store.setDownForTest(true);
    CHECK(f.run("smtp", "carol@example.test", "whatever").status == AuthStatus::TempFail);
    CHECK(f.run("smtp", "bob@example.test", "right").status == AuthStatus::Ok);  // cached
}

// Bug-log rows 3 and 4 (anchors-auth-repl.md): a non-ASCII name and password, each
// typed precomposed (NFC) or decomposed (NFD), is one account with one password.
TEST_CASE("authenticator: names and passwords typed in NFC or NFD", "[core]") {
    Fixture f;
    core::Mailbox m;
    m.username = "\xc3\xa9lodie@example.test";                          // élodie, NFC
    m.password_hash = *password::generate("SHA512-CRYPT", "M\xc3\xbcsst3_kl4ppen");  // Müsst3, NFC
    f.store.put(m);
    core::Mailbox legacy;                                               // hash of NFD bytes (imported)
    legacy.username = "legacy@example.test";
    legacy.password_hash = *password::generate("SHA512-CRYPT", "Mu\xcc\x88sst3");
    f.store.put(legacy);

    const std::string nfd_user = "E\xcc\x81LODIE@example.test";
    CHECK(f.run("smtp", nfd_user, "M\xc3\xbcsst3_kl4ppen").status == AuthStatus::Ok);
    auto ok = f.run("smtp", nfd_user, "Mu\xcc\x88sst3_kl4ppen");
    CHECK(ok.status == AuthStatus::Ok);
    CHECK(ok.user == "\xc3\xa9lodie@example.test");
    CHECK(f.run("smtp", nfd_user, "Musst3_kl4ppen").status == AuthStatus::Failed);
    // The bytes as received are tried first: a hash made from NFD bytes still matches.
    CHECK(f.run("smtp", "legacy@example.test", "Mu\xcc\x88sst3").status == AuthStatus::Ok);
}

TEST_CASE("policy API: fields of the wrong JSON type are no internal error", "[policy]") {
    Fixture f;
    // Dovecot sends booleans; anything else must not throw out of the handler (it
    // became an HTTP 500 and the report was lost).
    for (const char* body : {R"({"login":"x@example.test","remote":"192.0.2.9","success":"yes"})",
                             R"({"login":"x@example.test","remote":"192.0.2.9","success":null})",
                             R"({"login":"x@example.test","remote":"192.0.2.9","success":1,"policy_reject":[]})",
                             R"({"login":1,"remote":[],"success":false,"policy_reject":{}})"}) {
        HttpResponse r;
        REQUIRE_NOTHROW(r = handlePolicy(f.auth, f.registry, "report", body));
        CHECK(r.status == 200);
    }
    // Three reported failures from one address (a non-boolean success is not a
    // success) block it, as three counted failures do.
    auto blocked = handlePolicy(f.auth, f.registry, "allow", R"({"login":"y@example.test","remote":"192.0.2.9"})");
    CHECK(blocked.status == 200);
    CHECK(blocked.body.find("-1") != std::string::npos);
}
