#include "quotad/core/usage.h"

#include <catch2/catch.hpp>

#include <limits>

using namespace titan::quotad::core;

namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

Op inc(Resource r, std::int64_t d) { return {Op::Kind::Inc, r, d}; }
Op set(Resource r, std::int64_t v) { return {Op::Kind::Set, r, v}; }
Op unset(Resource r) { return {Op::Kind::Unset, r, 0}; }

Row row(std::optional<std::int64_t> bytes, std::optional<std::int64_t> messages) {
    Row r;
    r.usage[Resource::Storage] = bytes;
    r.usage[Resource::Messages] = messages;
    return r;
}

}  // namespace

TEST_CASE("quota keys: exactly the two Dovecot names", "[core]") {
    CHECK(parseQuotaKey("priv/quota/storage") == Resource::Storage);
    CHECK(parseQuotaKey("priv/quota/messages") == Resource::Messages);
    for (const char* other : {"priv/quota/Storage", "shared/quota/storage", "priv/quota/storage/", "priv/quota",
                              "", "priv/quota/messages2", "shared/last-login/bob"}) {
        INFO(other);
        CHECK_FALSE(parseQuotaKey(other).has_value());
    }
    CHECK(quotaKey(Resource::Storage) == "priv/quota/storage");
    CHECK(quotaKey(Resource::Messages) == "priv/quota/messages");
}

TEST_CASE("applyBatch: one commit, table of op sequences", "[core]") {
    struct Case {
        const char* name;
        std::optional<Row> stored;
        std::vector<Op> ops;
        CommitStatus want_status;
        std::optional<Row> want_row;  // nullopt: no row written
        std::size_t want_clamps;
    };
    const Case cases[] = {
        {"increment an existing row", row(100, 2), {inc(Resource::Storage, 50), inc(Resource::Messages, 1)},
         CommitStatus::Ok, row(150, 3), 0},
        {"increment without a row: N, nothing created", std::nullopt,
         {inc(Resource::Storage, 50), inc(Resource::Messages, 1)}, CommitStatus::NotFound, std::nullopt, 0},
        {"increment of an unset value: N, row unchanged", row(std::nullopt, 4), {inc(Resource::Storage, 5)},
         CommitStatus::NotFound, std::nullopt, 0},
        {"recount: unset, unset, set, set", row(7, 7),
         {unset(Resource::Storage), unset(Resource::Messages), set(Resource::Storage, 1000), set(Resource::Messages, 3)},
         CommitStatus::Ok, row(1000, 3), 0},
        {"recount of a new user creates the row", std::nullopt,
         {set(Resource::Storage, 0), set(Resource::Messages, 0)}, CommitStatus::Ok, row(0, 0), 0},
        {"quota_clone sets only", row(1, 1), {set(Resource::Storage, 42), set(Resource::Messages, 2)},
         CommitStatus::Ok, row(42, 2), 0},
        {"decrement below zero clamps at 0", row(100, 1), {inc(Resource::Storage, -500), inc(Resource::Messages, -1)},
         CommitStatus::Ok, row(0, 0), 1},
        {"negative set clamps at 0", row(1, 1), {set(Resource::Storage, -3)}, CommitStatus::Ok, row(0, 1), 1},
        {"increment saturates at INT64_MAX, never wraps", row(kMax - 1, 0), {inc(Resource::Storage, 10)},
         CommitStatus::Ok, row(kMax, 0), 0},
        {"INT64_MIN difference clamps at 0", row(5, 0), {inc(Resource::Storage, kMin)}, CommitStatus::Ok, row(0, 0), 1},
        {"set then increment in one transaction", std::nullopt, {set(Resource::Storage, 10), inc(Resource::Storage, 5)},
         CommitStatus::Ok, row(15, std::nullopt), 0},
        {"unset then increment: N, value stays unset", row(10, 1), {unset(Resource::Storage), inc(Resource::Storage, 5)},
         CommitStatus::NotFound, row(std::nullopt, 1), 0},
        {"increment then unset", row(10, 1), {inc(Resource::Storage, 5), unset(Resource::Storage)}, CommitStatus::Ok,
         row(std::nullopt, 1), 0},
        {"zero increment of an existing value", row(10, 1), {inc(Resource::Storage, 0)}, CommitStatus::Ok, std::nullopt,
         0},
        {"no ops", row(10, 1), {}, CommitStatus::Ok, std::nullopt, 0},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        std::map<std::string, Row> current;
        if (c.stored) current["bob@example.test"] = *c.stored;
        auto r = applyBatch({{"bob@example.test", c.ops}}, current, {}, WarningRules{});
        REQUIRE(r.statuses.size() == 1);
        CHECK(r.statuses[0] == c.want_status);
        if (c.want_row) {
            REQUIRE(r.changed.count("bob@example.test") == 1);
            CHECK(r.changed.at("bob@example.test") == *c.want_row);
        } else {
            CHECK(r.changed.empty());
        }
        CHECK(r.clamps.size() == c.want_clamps);
        CHECK(r.warnings.empty());
    }
}

TEST_CASE("applyBatch: several commits of one user apply in order", "[core]") {
    std::map<std::string, Row> current{{"a@x.test", row(500, 5)}};
    std::vector<CommitRequest> batch = {
        {"a@x.test", {inc(Resource::Storage, 100)}},
        {"b@x.test", {inc(Resource::Storage, 1)}},  // no row: N, independent of a's
        {"a@x.test", {unset(Resource::Storage), set(Resource::Storage, 1000)}},
        {"a@x.test", {inc(Resource::Storage, 100)}},
        {"b@x.test", {set(Resource::Storage, 7), set(Resource::Messages, 1)}},
        {"b@x.test", {inc(Resource::Storage, 3)}},
    };
    auto r = applyBatch(batch, current, {}, WarningRules{});
    CHECK(r.statuses == std::vector<CommitStatus>{CommitStatus::Ok, CommitStatus::NotFound, CommitStatus::Ok,
                                                   CommitStatus::Ok, CommitStatus::Ok, CommitStatus::Ok});
    CHECK(r.changed.at("a@x.test") == row(1100, 5));
    CHECK(r.changed.at("b@x.test") == row(10, 1));
}

TEST_CASE("warning rules: levels at the threshold -1/0/+1, unlimited, overflow", "[core]") {
    WarningRules rules({{Resource::Storage, 95}, {Resource::Storage, 80}, {Resource::Messages, 50}});
    CHECK(rules.levelOf(Resource::Storage, 799, 1000) == 0);
    CHECK(rules.levelOf(Resource::Storage, 800, 1000) == 1);
    CHECK(rules.levelOf(Resource::Storage, 949, 1000) == 1);
    CHECK(rules.levelOf(Resource::Storage, 950, 1000) == 2);
    CHECK(rules.levelOf(Resource::Storage, 5000, 1000) == 2);
    CHECK(rules.levelOf(Resource::Storage, 5000, 0) == 0);  // unlimited
    CHECK(rules.levelOf(Resource::Storage, 0, 1000) == 0);
    CHECK(rules.levelOf(Resource::Messages, 5, 10) == 1);
    CHECK(rules.levelOf(Resource::Storage, kMax, std::numeric_limits<std::uint64_t>::max()) == 0);
    CHECK(rules.levelOf(Resource::Storage, kMax, 1) == 2);
    // indexes point back into the configured order
    CHECK(rules.indexOf(Resource::Storage, 1) == 1);  // 80 %
    CHECK(rules.indexOf(Resource::Storage, 2) == 0);  // 95 %
    CHECK(rules.indexOf(Resource::Messages, 1) == 2);
}

TEST_CASE("applyBatch: a warning fires once per crossing", "[core]") {
    WarningRules rules({{Resource::Storage, 80}, {Resource::Storage, 95}});
    std::map<std::string, Limits> limits{{"u@x.test", {1000, 0}}};
    std::map<std::string, Row> current{{"u@x.test", row(700, 1)}};
    auto step = [&](std::vector<Op> ops) {
        auto r = applyBatch({{"u@x.test", std::move(ops)}}, current, limits, rules);
        for (const auto& [u, rw] : r.changed) current[u] = rw;
        return r.warnings;
    };
    auto w = step({inc(Resource::Storage, 99)});  // 799: below 80 %
    CHECK(w.empty());
    w = step({inc(Resource::Storage, 1)});  // 800: reaches 80 %
    REQUIRE(w.size() == 1);
    CHECK(w[0] == WarningEvent{"u@x.test", Resource::Storage, 0, 800, 1000});
    CHECK(current["u@x.test"].warn_level[0] == 1);
    CHECK(step({inc(Resource::Storage, 10)}).empty());  // still 80 %: no second run
    w = step({inc(Resource::Storage, 500)});            // jumps past 95 %: only the highest
    REQUIRE(w.size() == 1);
    CHECK(w[0].threshold == 1);
    CHECK(step({inc(Resource::Storage, -600)}).empty());  // back below: re-armed, silent
    CHECK(current["u@x.test"].warn_level[0] == 0);
    w = step({inc(Resource::Storage, 300)});  // 1010 -> reaches both again: one event, 95 %
    REQUIRE(w.size() == 1);
    CHECK(w[0].threshold == 1);
}

TEST_CASE("applyBatch: a recount after an unknown value does not fire, but stores the level", "[core]") {
    WarningRules rules({{Resource::Storage, 80}});
    std::map<std::string, Limits> limits{{"u@x.test", {1000, 0}}};
    std::map<std::string, Row> current{{"u@x.test", row(std::nullopt, std::nullopt)}};
    auto r = applyBatch({{"u@x.test", {set(Resource::Storage, 900), set(Resource::Messages, 9)}}}, current, limits, rules);
    CHECK(r.warnings.empty());
    CHECK(r.changed.at("u@x.test").warn_level[0] == 1);
    // A brand-new row is unknown before, too.
    r = applyBatch({{"n@x.test", {set(Resource::Storage, 900)}}}, {}, {{"n@x.test", {1000, 0}}}, rules);
    CHECK(r.warnings.empty());
    // quota_clone style: known value set above the threshold fires.
    current["u@x.test"] = row(100, 1);
    r = applyBatch({{"u@x.test", {set(Resource::Storage, 850)}}}, current, limits, rules);
    CHECK(r.warnings.size() == 1);
}

TEST_CASE("applyBatch: warnings for users without limits never fire", "[core]") {
    WarningRules rules({{Resource::Storage, 1}});
    std::map<std::string, Row> current{{"u@x.test", row(1, 1)}};
    auto r = applyBatch({{"u@x.test", {inc(Resource::Storage, 1000000)}}}, current, {}, rules);
    CHECK(r.warnings.empty());
}
