#include "authd/core/maps.h"

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace titan::authd::core::maps;

namespace {

// A fake database of facts; resolve() is driven to its answer like the service does.
struct Db {
    std::map<std::string, std::vector<std::string>> rows;
    std::set<std::string> stale;  // facts served as stale cache entries

    void domain(const std::string& d, const std::string& alias_for = "") { rows[factCacheKey(FactKind::Domain, d)] = {alias_for}; }
    void mailbox(const std::string& a) { rows[factCacheKey(FactKind::Mailbox, a)] = {a}; }
    void alias(const std::string& src, const std::string& dest) { rows[factCacheKey(FactKind::Aliases, src)].push_back(dest); }
    void grant(const std::string& addr, const std::string& login) {
        rows[factCacheKey(FactKind::SenderLogins, addr)].push_back(login);
    }
    void markStale(FactKind kind, const std::string& key) { stale.insert(factCacheKey(kind, key)); }
};

class DbSource : public FactSource {
public:
    explicit DbSource(const Db& db) : db_(db) {}
    const FactValue* find(FactKind kind, std::string_view key, bool* stale) override {
        auto it = known_.find(factCacheKey(kind, key));
        if (it == known_.end()) return nullptr;
        *stale = db_.stale.count(it->first) != 0;
        return &it->second;
    }
    void fetch(const FactKey& f) {
        std::string k = factCacheKey(f.kind, f.key);
        auto it = db_.rows.find(k);
        known_[k] = it == db_.rows.end() ? FactValue{} : FactValue(it->second);
        fetched.push_back(k);
    }
    std::vector<std::string> fetched;

private:
    const Db& db_;
    std::map<std::string, FactValue> known_;
};

struct Run {
    Answer answer;
    int rounds = 0;
    std::vector<std::string> fetched;
};

Run run(const Db& db, MapKind map, const std::string& key, const Settings& settings = {}) {
    Run out;
    auto parsed = parseQuery(map, key, settings);
    if (auto* a = std::get_if<Answer>(&parsed)) {
        out.answer = *a;
        return out;
    }
    DbSource source(db);
    for (;;) {
        auto step = resolve(std::get<Query>(parsed), source, settings);
        if (auto* a = std::get_if<Answer>(&step)) {
            out.answer = *a;
            break;
        }
        const auto& need = std::get<Need>(step).facts;
        REQUIRE_FALSE(need.empty());
        for (const auto& f : need) source.fetch(f);
        REQUIRE(++out.rounds <= 6);
    }
    out.fetched = source.fetched;
    return out;
}

Db exampleDb() {
    Db db;
    db.domain("example.test");
    db.domain("catch.test");
    db.domain("alias.test", "example.test");
    db.domain("alias-catch.test", "catch.test");
    db.domain("alias2.test", "example.test");  // with aliases and a catch-all of its own
    db.alias("help@alias2.test", "carol@example.test");
    db.alias("bob@alias2.test", "alice@example.test");
    db.alias("@alias2.test", "carol@example.test");
    db.mailbox("bob@example.test");
    db.mailbox("alice@example.test");
    db.mailbox("carol@example.test");
    db.mailbox("info@catch.test");
    db.mailbox("boss@catch.test");
    db.alias("sales@example.test", "alice@example.test");
    db.alias("sales@example.test", "carol@example.test");
    db.alias("sales@example.test", "partner@remote.test");
    db.alias("fwd@example.test", "someone@remote.test");
    db.alias("postmaster@example.test", "bob@example.test");
    db.alias("@catch.test", "info@catch.test");
    db.alias("team+x@example.test", "bob@example.test");  // an exact alias with a detail
    db.grant("newsletter@example.test", "bob@example.test");
    db.grant("@catch.test", "boss@catch.test");
    db.grant("bob@remote.test", "bob@example.test");
    return db;
}

struct Case {
    const char* name;
    MapKind map;
    std::string key;
    bool found;
    std::string data;
};

void check(const Db& db, const std::vector<Case>& cases, const Settings& settings = {}) {
    for (const auto& c : cases) {
        auto r = run(db, c.map, c.key, settings);
        INFO(c.name << " (" << mapKindName(c.map) << " " << c.key << "): got " << (r.answer.found ? "OK " : "NOTFOUND ")
                    << r.answer.data << ", want " << (c.found ? "OK " : "NOTFOUND ") << c.data);
        CHECK(r.answer.found == c.found);
        CHECK(r.answer.data == c.data);
        CHECK_FALSE(r.answer.uncertain);
        CHECK_FALSE(r.answer.stale);
    }
}

}  // namespace

TEST_CASE("maps: address parsing, canonical form and detail", "[core]") {
    Settings s;
    struct P { std::string raw; std::string full, base, detail; };
    const P cases[] = {
        {"Bob@Example.TEST", "bob@example.test", "", ""},
        {"bob+tag@example.test", "bob+tag@example.test", "bob@example.test", "+tag"},
        {"bob+a+b@example.test", "bob+a+b@example.test", "bob@example.test", "+a+b"},
        {"+tag@example.test", "+tag@example.test", "", ""},
        {"bob+@example.test", "bob+@example.test", "bob@example.test", "+"},
        {"bob@b\xc3\xbc" "cher.test", "bob@xn--bcher-kva.test", "", ""},
    };
    for (const auto& c : cases) {
        INFO(c.raw);
        auto a = parseAddress(c.raw, s);
        REQUIRE(a);
        CHECK(a->full == c.full);
        CHECK(a->base == c.base);
        CHECK(a->detail == c.detail);
    }
    Settings multi;
    multi.recipient_delimiter = "+-";
    CHECK(parseAddress("bob-list@x.test", multi)->base == "bob@x.test");
    Settings none;
    none.recipient_delimiter = "";
    CHECK(parseAddress("bob+tag@x.test", none)->base.empty());
    Settings preserve;
    preserve.identity.local_part = titan::identity::LocalPartPolicy::Preserve;
    CHECK(parseAddress("Bob@X.TEST", preserve)->full == "Bob@x.test");
    for (const std::string& bad : std::vector<std::string>{"", "no-at", "@x.test", "a@", "a@[1.2.3.4]", std::string("a\0b@x.test", 10)}) {
        CHECK_FALSE(parseAddress(bad, s));
    }
}

TEST_CASE("maps: domains", "[core]") {
    check(exampleDb(), {
        {"local domain", MapKind::Domains, "example.test", true, "example.test"},
        {"case folded", MapKind::Domains, "EXAMPLE.Test", true, "example.test"},
        {"alias domain", MapKind::Domains, "alias.test", true, "alias.test"},
        {"unknown", MapKind::Domains, "remote.test", false, ""},
        {"parent domains are not matched", MapKind::Domains, "sub.example.test", false, ""},
        {"malformed", MapKind::Domains, "exa mple.test", false, ""},
        {"address literal", MapKind::Domains, "[127.0.0.1]", false, ""},
        {"empty", MapKind::Domains, "", false, ""},
    });
}

TEST_CASE("maps: mailboxes, with and without detail", "[core]") {
    check(exampleDb(), {
        {"mailbox", MapKind::Mailboxes, "bob@example.test", true, "bob@example.test"},
        {"case folded", MapKind::Mailboxes, "BOB@Example.Test", true, "bob@example.test"},
        {"detail stripped", MapKind::Mailboxes, "bob+lists@example.test", true, "bob@example.test"},
        {"unknown", MapKind::Mailboxes, "nobody@example.test", false, ""},
        {"unknown with detail", MapKind::Mailboxes, "nobody+x@example.test", false, ""},
        {"alias is not a mailbox", MapKind::Mailboxes, "sales@example.test", false, ""},
        {"alias domain address", MapKind::Mailboxes, "bob@alias.test", false, ""},
        {"malformed", MapKind::Mailboxes, "bob", false, ""},
    });
}

TEST_CASE("maps: aliases, catch-all and alias domains", "[core]") {
    check(exampleDb(), {
        {"several destinations", MapKind::Aliases, "sales@example.test", true,
         "alice@example.test,carol@example.test,partner@remote.test"},
        {"case folded key", MapKind::Aliases, "Sales@EXAMPLE.test", true,
         "alice@example.test,carol@example.test,partner@remote.test"},
        {"external forward", MapKind::Aliases, "fwd@example.test", true, "someone@remote.test"},
        {"detail propagated to destinations", MapKind::Aliases, "postmaster+abuse@example.test", true,
         "bob+abuse@example.test"},
        {"exact alias with detail wins", MapKind::Aliases, "team+x@example.test", true, "bob@example.test"},
        {"plain mailbox: no alias", MapKind::Aliases, "bob@example.test", false, ""},
        {"unknown address", MapKind::Aliases, "nobody@example.test", false, ""},
        {"catch-all catches unknown", MapKind::Aliases, "anything@catch.test", true, "info@catch.test"},
        {"catch-all keeps detail off", MapKind::Aliases, "anything+x@catch.test", true, "info@catch.test"},
        {"mailbox not swallowed by catch-all", MapKind::Aliases, "boss@catch.test", true, "boss@catch.test"},
        {"mailbox with detail maps to itself", MapKind::Aliases, "boss+x@catch.test", true, "boss+x@catch.test"},
        {"alias domain to mailbox", MapKind::Aliases, "bob@alias.test", true, "bob@example.test"},
        {"alias domain keeps detail", MapKind::Aliases, "bob+x@alias.test", true, "bob+x@example.test"},
        {"alias domain to alias", MapKind::Aliases, "sales@alias.test", true, "sales@example.test"},
        {"alias domain unknown", MapKind::Aliases, "nobody@alias.test", false, ""},
        {"alias domain of a catch-all domain", MapKind::Aliases, "whoever@alias-catch.test", true,
         "whoever@catch.test"},
        {"alias domain: its own alias first", MapKind::Aliases, "help@alias2.test", true, "carol@example.test"},
        {"alias domain: own alias beats the rewrite", MapKind::Aliases, "bob@alias2.test", true,
         "alice@example.test"},
        {"alias domain: rewrite beats its catch-all", MapKind::Aliases, "carol@alias2.test", true,
         "carol@example.test"},
        {"alias domain: its catch-all last", MapKind::Aliases, "nobody@alias2.test", true, "carol@example.test"},
        {"remote domain", MapKind::Aliases, "someone@remote.test", false, ""},
        {"malformed", MapKind::Aliases, "@example.test", false, ""},
    });
    Settings no_propagation;
    no_propagation.propagate_detail = false;
    check(exampleDb(), {{"detail not propagated", MapKind::Aliases, "postmaster+abuse@example.test", true,
                         "bob@example.test"}},
          no_propagation);
}

TEST_CASE("maps: senders (smtpd_sender_login_maps owners)", "[core]") {
    check(exampleDb(), {
        {"own mailbox", MapKind::Senders, "bob@example.test", true, "bob@example.test"},
        {"own mailbox with detail", MapKind::Senders, "bob+x@example.test", true, "bob@example.test"},
        {"alias: local destinations own it", MapKind::Senders, "sales@example.test", true,
         "alice@example.test,carol@example.test"},
        {"explicit grant", MapKind::Senders, "newsletter@example.test", true, "bob@example.test"},
        {"domain-wide grant plus own mailbox", MapKind::Senders, "info@catch.test", true,
         "boss@catch.test,info@catch.test"},
        {"catch-all grants nothing", MapKind::Senders, "random@catch.test", true, "boss@catch.test"},
        {"external address granted", MapKind::Senders, "bob@remote.test", true, "bob@example.test"},
        {"external address not granted", MapKind::Senders, "eve@remote.test", false, ""},
        {"alias domain: owner of the rewrite", MapKind::Senders, "bob@alias.test", true, "bob@example.test"},
        {"alias domain: alias owners", MapKind::Senders, "sales@alias.test", true,
         "alice@example.test,carol@example.test"},
        {"forward to remote: nobody", MapKind::Senders, "fwd@example.test", false, ""},
        {"unknown address", MapKind::Senders, "nobody@example.test", false, ""},
        {"malformed", MapKind::Senders, "", false, ""},
    });
}

TEST_CASE("maps: the fewest rounds for the common cases", "[core]") {
    Db db = exampleDb();
    CHECK(run(db, MapKind::Domains, "example.test").rounds == 1);
    CHECK(run(db, MapKind::Mailboxes, "bob+x@example.test").rounds == 1);
    // Domain, then the three alias rows together.
    auto plain = run(db, MapKind::Aliases, "bob@example.test");
    CHECK(plain.rounds == 2);
    CHECK(plain.fetched.size() == 3);  // domain, aliases of the address and of @domain
    // A remote domain costs one query.
    CHECK(run(db, MapKind::Aliases, "x@remote.test").fetched.size() == 1);
    CHECK(run(db, MapKind::Senders, "sales@example.test").rounds == 3);
}

TEST_CASE("maps: outage rules for stale facts", "[core]") {
    Db db = exampleDb();
    // Everything known only from stale cache entries.
    for (const auto& [key, rows] : db.rows) db.stale.insert(key);
    for (std::string k : {"a:bob@example.test", "a:@example.test", "a:nobody@example.test", "m:nobody@example.test",
                          "d:remote.test", "a:x@remote.test", "s:nobody@example.test", "s:@example.test",
                          "m:anything@catch.test", "a:anything@catch.test"}) {
        db.stale.insert(k);
    }
    struct Want { const char* name; MapKind map; std::string key; bool found; bool uncertain; };
    const Want cases[] = {
        {"known mailbox keeps receiving", MapKind::Mailboxes, "bob@example.test", true, false},
        {"no alias for a known mailbox is certain", MapKind::Aliases, "bob@example.test", false, false},
        {"unknown address is uncertain", MapKind::Aliases, "nobody@example.test", false, true},
        {"unknown mailbox is uncertain", MapKind::Mailboxes, "nobody@example.test", false, true},
        {"remote domain stays remote", MapKind::Domains, "remote.test", false, false},
        {"remote address in aliases", MapKind::Aliases, "x@remote.test", false, false},
        {"alias still expands", MapKind::Aliases, "sales@example.test", true, false},
        {"catch-all still catches", MapKind::Aliases, "anything@catch.test", true, false},
        {"sender without owner is uncertain", MapKind::Senders, "nobody@example.test", false, true},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        auto r = run(db, c.map, c.key);
        CHECK(r.answer.found == c.found);
        CHECK(r.answer.uncertain == c.uncertain);
        CHECK(r.answer.stale);
    }
}
