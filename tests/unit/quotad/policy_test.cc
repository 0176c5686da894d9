#include "quotad/core/policy.h"

#include <catch2/catch.hpp>

#include "quotad/config.h"

using namespace titan;
using namespace titan::quotad::core;

namespace {

MailboxQuota mailbox(const std::string& user, std::uint64_t limit_bytes, std::optional<std::int64_t> used,
                     std::uint64_t limit_messages = 0, std::optional<std::int64_t> count = 0) {
    MailboxQuota m;
    m.user = user;
    m.limits = {limit_bytes, limit_messages};
    m.usage[Resource::Storage] = used;
    m.usage[Resource::Messages] = count;
    return m;
}

// Drives an Expander against an in-memory directory.
struct Directory {
    std::map<std::string, MailboxQuota> mailboxes;
    std::map<std::string, std::vector<std::string>> aliases;
    std::map<std::string, std::string> alias_domains;
    int rounds = 0;

    std::vector<std::string> resolve(const std::string& address, ExpanderLimits limits = {}, bool* truncated = nullptr) {
        Expander e(address, limits, identity::Options{});
        rounds = 0;
        while (!e.done()) {
            std::map<std::string, AddressFacts> facts;
            for (const auto& a : e.wanted()) {
                AddressFacts f;
                if (auto it = mailboxes.find(a); it != mailboxes.end()) f.mailbox = it->second;
                if (auto it = aliases.find(a); it != aliases.end()) f.aliases = it->second;
                std::string domain(identity::domainOf(a));
                if (auto it = aliases.find("@" + domain); it != aliases.end()) f.catch_all = it->second;
                if (auto it = alias_domains.find(domain); it != alias_domains.end()) f.alias_target = it->second;
                facts[a] = f;
            }
            e.feed(facts);
            REQUIRE(++rounds < 100);
        }
        if (truncated != nullptr) *truncated = e.truncated();
        std::vector<std::string> out;
        for (const auto& m : e.mailboxes()) out.push_back(m.user);
        return out;
    }
};

}  // namespace

TEST_CASE("recipientKey: detail, identity rule, malformed input", "[core]") {
    identity::Options id;
    struct Case {
        const char* in;
        const char* delimiters;
        std::optional<std::string> want;
    };
    const Case cases[] = {
        {"bob@example.test", "+", "bob@example.test"},
        {"Bob@Example.TEST", "+", "bob@example.test"},
        {"bob+lists@example.test", "+", "bob@example.test"},
        {"bob+a+b@example.test", "+", "bob@example.test"},
        {"bob-lists@example.test", "+-", "bob@example.test"},
        {"bob+lists@example.test", "", "bob+lists@example.test"},
        {"+bob@example.test", "+", "+bob@example.test"},  // a leading delimiter is not a detail
        {"bob@GRÅ.example", "+", "bob@xn--gr-zia.example"},
        {"\"john..doe\"@example.org", "+", "\"john..doe\"@example.org"},  // looked up as given
        {"", "+", std::nullopt},
        {"no-at-sign", "+", std::nullopt},
        {"@example.test", "+", std::nullopt},
        {"bob@", "+", std::nullopt},
        {"bob@bad domain", "+", std::nullopt},
        {"bob@\xff.test", "+", std::nullopt},
    };
    for (const auto& c : cases) {
        INFO(c.in);
        CHECK(recipientKey(c.in, c.delimiters, id) == c.want);
    }
    CHECK_FALSE(recipientKey(std::string("bo\0b@example.test", 17), "+", id).has_value());
}

TEST_CASE("Expander: mailbox, aliases, alias domains, catch-alls", "[core]") {
    Directory d;
    d.mailboxes["bob@example.test"] = mailbox("bob@example.test", 100, 0);
    d.mailboxes["carol@example.test"] = mailbox("carol@example.test", 100, 0);
    d.mailboxes["keep@example.test"] = mailbox("keep@example.test", 100, 0);
    d.aliases["info@example.test"] = {"bob@example.test", "Carol@Example.TEST", "someone@elsewhere.example"};
    d.aliases["keep@example.test"] = {"keep@example.test", "bob@example.test"};
    d.aliases["chain@example.test"] = {"info@example.test"};
    d.aliases["loop1@example.test"] = {"loop2@example.test"};
    d.aliases["loop2@example.test"] = {"loop1@example.test", "bob@example.test"};
    d.aliases["@catch.test"] = {"carol@example.test"};
    d.aliases["@move.test"] = {"@example.test"};
    d.aliases["ext@example.test"] = {"x@elsewhere.example"};
    d.alias_domains["alias.test"] = "example.test";

    CHECK(d.resolve("bob@example.test") == std::vector<std::string>{"bob@example.test"});
    CHECK(d.rounds == 1);
    CHECK(d.resolve("info@example.test") == std::vector<std::string>{"bob@example.test", "carol@example.test"});
    CHECK(d.resolve("keep@example.test") == std::vector<std::string>{"keep@example.test", "bob@example.test"});
    CHECK(d.resolve("chain@example.test") == std::vector<std::string>{"bob@example.test", "carol@example.test"});
    CHECK(d.resolve("loop1@example.test") == std::vector<std::string>{"bob@example.test"});
    CHECK(d.resolve("bob@alias.test") == std::vector<std::string>{"bob@example.test"});
    CHECK(d.resolve("info@alias.test") == std::vector<std::string>{"bob@example.test", "carol@example.test"});
    CHECK(d.resolve("anyone@catch.test") == std::vector<std::string>{"carol@example.test"});
    // An alias domain with its own catch-all: used only when local@target has nothing.
    d.alias_domains["both.test"] = "example.test";
    d.aliases["@both.test"] = {"keep@example.test"};
    CHECK(d.resolve("bob@both.test") == std::vector<std::string>{"bob@example.test"});
    CHECK(d.resolve("nobody@both.test") == std::vector<std::string>{"keep@example.test", "bob@example.test"});
    CHECK(d.resolve("bob@move.test") == std::vector<std::string>{"bob@example.test"});
    CHECK(d.resolve("ext@example.test").empty());
    CHECK(d.resolve("nobody@example.test").empty());
    CHECK(d.resolve("nobody@nowhere.test").empty());
}

TEST_CASE("Expander: depth and fan-out limits at -1/0/+1", "[core]") {
    Directory d;
    d.mailboxes["end@example.test"] = mailbox("end@example.test", 100, 0);
    // a0 -> a1 -> a2 -> a3 -> end: the mailbox is 4 hops away.
    for (int i = 0; i < 3; ++i) {
        d.aliases["a" + std::to_string(i) + "@example.test"] = {"a" + std::to_string(i + 1) + "@example.test"};
    }
    d.aliases["a3@example.test"] = {"end@example.test"};
    bool truncated = false;
    CHECK(d.resolve("a0@example.test", {4, 64}, &truncated) == std::vector<std::string>{"end@example.test"});
    CHECK_FALSE(truncated);
    CHECK(d.resolve("a0@example.test", {3, 64}, &truncated).empty());
    CHECK(truncated);
    CHECK(d.resolve("a0@example.test", {5, 64}, &truncated).size() == 1);

    // fan-out: 5 addresses in total (the alias itself + 4 destinations)
    Directory f;
    for (int i = 0; i < 4; ++i) {
        std::string u = "m" + std::to_string(i) + "@example.test";
        f.mailboxes[u] = mailbox(u, 100, 0);
        f.aliases["list@example.test"].push_back(u);
    }
    CHECK(f.resolve("list@example.test", {8, 5}, &truncated).size() == 4);
    CHECK_FALSE(truncated);
    CHECK(f.resolve("list@example.test", {8, 4}, &truncated).size() == 3);
    CHECK(truncated);
}

TEST_CASE("decide: storage limit with grace, at -1/0/+1", "[core]") {
    const Grace ten{true, 10};
    const Grace none{true, 0};
    struct Case {
        const char* name;
        MailboxQuota m;
        std::uint64_t size;
        Grace grace;
        Verdict want;
    };
    const Case cases[] = {
        {"unlimited", mailbox("u@x", 0, 1000000), 999999999, ten, Verdict::Accept},
        {"empty mailbox, fits", mailbox("u@x", 1000, 0), 1000, none, Verdict::Accept},
        {"larger than the whole quota", mailbox("u@x", 1000, 0), 1001, ten, Verdict::TooLarge},
        {"larger than quota even when full", mailbox("u@x", 1000, 5000), 1001, ten, Verdict::TooLarge},
        {"full: at the limit", mailbox("u@x", 1000, 1000), 0, ten, Verdict::OverQuota},
        {"just under the limit, no SIZE", mailbox("u@x", 1000, 999), 0, none, Verdict::Accept},
        {"over the limit, no SIZE (tested as 1 byte)", mailbox("u@x", 1000, 1001), 0, ten, Verdict::OverQuota},
        {"room exactly, no grace", mailbox("u@x", 1000, 900), 100, none, Verdict::Accept},
        {"one byte too many, no grace", mailbox("u@x", 1000, 900), 101, none, Verdict::OverQuota},
        {"grace lets the last one in", mailbox("u@x", 1000, 900), 200, ten, Verdict::Accept},
        {"grace + 1 byte", mailbox("u@x", 1000, 900), 201, ten, Verdict::OverQuota},
        {"absolute grace", mailbox("u@x", 1000, 900), 150, Grace{false, 50}, Verdict::Accept},
        {"absolute grace + 1", mailbox("u@x", 1000, 900), 151, Grace{false, 50}, Verdict::OverQuota},
        {"unknown usage counts as 0", mailbox("u@x", 1000, std::nullopt), 1000, none, Verdict::Accept},
        {"negative stored usage counts as 0", mailbox("u@x", 1000, -5), 1000, none, Verdict::Accept},
        {"message count: one left", mailbox("u@x", 0, 0, 10, 9), 1, none, Verdict::Accept},
        {"message count: full", mailbox("u@x", 0, 0, 10, 10), 1, none, Verdict::OverQuota},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        CHECK(decide({c.m}, c.size, c.grace).verdict == c.want);
    }
}

TEST_CASE("decide: several mailboxes: too large wins, then over quota", "[core]") {
    auto ok = mailbox("ok@x", 1000, 0);
    auto full = mailbox("full@x", 1000, 1000);
    auto tiny = mailbox("tiny@x", 10, 0);
    CHECK(decide({}, 1, Grace{}).verdict == Verdict::NoMailbox);
    CHECK(decide({ok}, 100, Grace{}).verdict == Verdict::Accept);
    auto d = decide({ok, full}, 100, Grace{});
    CHECK(d.verdict == Verdict::OverQuota);
    CHECK(d.user == "full@x");
    CHECK(d.resource == Resource::Storage);
    d = decide({full, tiny, ok}, 100, Grace{});
    CHECK(d.verdict == Verdict::TooLarge);
    CHECK(d.user == "tiny@x");
}

TEST_CASE("parseGrace: percent or size", "[config]") {
    CHECK(*quotad::parseGrace("10%") == Grace{true, 10});
    CHECK(*quotad::parseGrace("0%") == Grace{true, 0});
    CHECK(*quotad::parseGrace("1000%") == Grace{true, 1000});
    CHECK_FALSE(quotad::parseGrace("1001%").ok());
    CHECK(*quotad::parseGrace("0") == Grace{false, 0});
    CHECK(*quotad::parseGrace("10M") == Grace{false, 10ULL << 20});
    CHECK(*quotad::parseGrace("512KiB") == Grace{false, 512ULL << 10});
    for (const char* bad : {"", "%", "-1%", "10 %", "ten", "10X", "1.5M"}) {
        INFO(bad);
        CHECK_FALSE(quotad::parseGrace(bad).ok());
    }
}
