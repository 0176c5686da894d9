// Store contract: the same scenarios against MemoryStore and MysqlStore, so the two agree
// and the SQL (row locking, the auto-allow upsert arithmetic, activity counting, cleanup)
// does what the pure core decides. MysqlStore runs against a private MariaDB on
// 127.0.0.1:13706 started with tests/fixtures/mariadb-up.sh (root; labelled integration).
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/sql/connection.h"
#include "policyd/store/memory_store.h"
#include "policyd/store/mysql_store.h"

using namespace titan;
using namespace titan::policyd;
using namespace std::chrono_literals;

namespace {

constexpr unsigned kPort = 13706;
constexpr std::int64_t kT = 1'700'000'000'000;

int shell(const std::string& command, std::string& output) {
    output.clear();
    FILE* p = popen((command + " 2>&1").c_str(), "r");
    if (p == nullptr) return -1;
    char buf[4096];
    std::size_t n = 0;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
    const int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

// One MariaDB for the process, with every migration applied; purged at exit.
class Database {
public:
    static Database& get() {
        static Database db;
        return db;
    }
    sql::Options options() const {
        sql::Options o;
        o.hosts = {sql::HostSpec{"127.0.0.1", kPort, ""}};
        o.user = "titan";
        o.password = "titanpw";
        o.database = "titan";
        return o;
    }
    ~Database() {
        std::string out;
        if (!dir_.empty()) {
            shell("'" + fixture("mariadb-down.sh") + "' '" + dir_ + "/db' --purge", out);
            shell("rm -rf '" + dir_ + "'", out);
        }
    }

private:
    static std::string fixture(const char* name) { return std::string(TITAN_SOURCE_DIR) + "/tests/fixtures/" + name; }
    Database() {
        char tmpl[] = "/tmp/titan-policyd-store-test.XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir_ = tmpl;
        REQUIRE(chmod(dir_.c_str(), 0755) == 0);
        std::string out;
        if (shell("'" + fixture("mariadb-up.sh") + "' '" + dir_ + "/db' " + std::to_string(kPort), out) != 0) {
            FAIL("mariadb-up.sh failed: " << out);
        }
        sql::Connection c(options());
        glob_t g{};
        const std::string pattern = std::string(TITAN_SOURCE_DIR) + "/contrib/sql/migrations/*.sql";
        REQUIRE(glob(pattern.c_str(), 0, nullptr, &g) == 0);
        for (std::size_t i = 0; i < g.gl_pathc; ++i) {
            std::ifstream f(g.gl_pathv[i]);
            std::stringstream text;
            text << f.rdbuf();
            auto st = c.executeScript(text.str());
            if (!st) FAIL(std::string(g.gl_pathv[i]) + ": " + st.error().message);
        }
        globfree(&g);
    }
    std::string dir_;
};

// Synchronous view of a store for the scenarios.
class Backend {
public:
    virtual ~Backend() = default;
    virtual const char* name() const = 0;
    virtual Result<store::GreylistResult> greylist(store::GreylistRequest q) = 0;
    virtual Result<store::EomResult> eom(store::EomJob job) = 0;
    virtual Result<std::map<core::CounterKey, core::CounterState>> counters(std::vector<core::CounterKey> keys) = 0;
};

class MemoryBackend : public Backend {
public:
    const char* name() const override { return "memory"; }
    template <class T, class F>
    Result<T> sync(F&& start) {
        std::optional<Result<T>> out;
        start([&](Result<T> r) { out.emplace(std::move(r)); });
        store_.runPending();
        REQUIRE(out);
        return std::move(*out);
    }
    Result<store::GreylistResult> greylist(store::GreylistRequest q) override {
        return sync<store::GreylistResult>([&](auto done) { store_.greylist(std::move(q), done); });
    }
    Result<store::EomResult> eom(store::EomJob job) override {
        return sync<store::EomResult>([&](auto done) { store_.endOfMessage(std::move(job), done); });
    }
    Result<std::map<core::CounterKey, core::CounterState>> counters(std::vector<core::CounterKey> keys) override {
        return sync<std::map<core::CounterKey, core::CounterState>>(
            [&](auto done) { store_.fetchCounters(std::move(keys), done); });
    }

private:
    store::MemoryStore store_;
};

class MysqlBackend : public Backend {
public:
    MysqlBackend() : conn_(Database::get().options()) {
        for (const char* t : {"policy_counters", "policy_greylist", "policy_greylist_clients", "policy_activity",
                              "policy_holds", "policy_audit"}) {
            REQUIRE(conn_.execute(std::string("DELETE FROM ") + t, {}, false));
        }
    }
    const char* name() const override { return "mysql"; }
    Result<store::GreylistResult> greylist(store::GreylistRequest q) override {
        return store::MysqlStore::greylistOn(conn_, q);
    }
    Result<store::EomResult> eom(store::EomJob job) override { return store::MysqlStore::endOfMessageOn(conn_, job); }
    Result<std::map<core::CounterKey, core::CounterState>> counters(std::vector<core::CounterKey> keys) override {
        return store::MysqlStore::fetchCountersOn(conn_, keys);
    }
    sql::Connection& connection() { return conn_; }

private:
    sql::Connection conn_;
};

std::unique_ptr<Backend> makeBackend(int which) {
    if (which == 0) return std::make_unique<MemoryBackend>();
    return std::make_unique<MysqlBackend>();
}

core::Rule rateRule(const std::string& name, std::uint64_t limit) {
    core::Rule r;
    r.name = name;
    r.kind = core::RuleKind::RateLimit;
    core::RateLimitRule spec;
    spec.windows = {core::WindowSpec{limit, 1h}, core::WindowSpec{limit * 10, 24h}};
    r.spec = spec;
    return r;
}

store::GreylistRequest grey(const std::string& net, const std::string& sender, const std::string& rcpt,
                            std::int64_t now) {
    store::GreylistRequest q;
    q.rule = "grey";
    q.client_network = net;
    q.sender = sender;
    q.recipient = rcpt;
    q.params.delay = 60s;
    q.params.auto_allow_after = 2;
    q.params.auto_allow_ttl = 24h;
    q.now = now;
    return q;
}

}  // namespace

TEST_CASE("store contract: greylist triplets and the auto-allow record", "[store]") {
    auto b = makeBackend(GENERATE(0, 1));
    INFO(b->name());
    auto r = b->greylist(grey("192.0.2.0/24", "a@x.example", "u@example.test", kT));
    REQUIRE(r);
    CHECK(r->decision.verdict == core::GreylistVerdict::Defer);
    CHECK(std::string(r->decision.reason) == "new");
    r = b->greylist(grey("192.0.2.0/24", "a@x.example", "u@example.test", kT + 30'000));
    CHECK(std::string(r->decision.reason) == "early");
    CHECK(r->decision.retry_in == 30s);
    r = b->greylist(grey("192.0.2.0/24", "a@x.example", "u@example.test", kT + 60'000));
    CHECK(r->decision.verdict == core::GreylistVerdict::Pass);
    CHECK(r->decision.first_pass);
    CHECK(r->client.passes == 1);
    CHECK(r->client.allowed_until == 0);
    // Passing again does not count the network twice.
    r = b->greylist(grey("192.0.2.0/24", "a@x.example", "u@example.test", kT + 61'000));
    CHECK(std::string(r->decision.reason) == "known");
    CHECK(r->client.passes == 1);
    // A second triplet passes: the network is allow-listed for every sender.
    REQUIRE(b->greylist(grey("192.0.2.0/24", "b@y.example", "u@example.test", kT)));
    r = b->greylist(grey("192.0.2.0/24", "b@y.example", "u@example.test", kT + 60'000));
    CHECK(r->client.passes == 2);
    CHECK(r->client.allowed_until == kT + 60'000 + 24 * 3'600'000);
    r = b->greylist(grey("192.0.2.0/24", "c@z.example", "v@example.test", kT + 70'000));
    CHECK(r->decision.verdict == core::GreylistVerdict::AutoAllowed);
    // Other networks are not.
    r = b->greylist(grey("198.51.100.0/24", "c@z.example", "v@example.test", kT + 70'000));
    CHECK(r->decision.verdict == core::GreylistVerdict::Defer);
}

TEST_CASE("store contract: end of message is all or nothing, guards count and hold", "[store]") {
    auto b = makeBackend(GENERATE(0, 1));
    INFO(b->name());
    const std::string long_subject(700, 's');
    store::EomJob job;
    job.now = kT;
    job.rates = {core::RatePlan{0, rateRule("msgs", 3), {{"u@example.test", 1}}},
                 core::RatePlan{1, rateRule("rcpts", 10), {{"u@example.test", 4}, {long_subject, 4}}}};
    core::Rule guard;
    guard.name = "guard";
    guard.kind = core::RuleKind::AccountGuard;
    core::GuardRule g;
    g.max_messages = 2;
    g.max_recipient_domains = 3;
    guard.spec = g;
    job.guards = {store::GuardPlan{2, guard, "u@example.test", {"a.example", "b.example"}, "192.0.2.0/24", "node1"}};

    auto r = b->eom(job);
    REQUIRE(r);
    CHECK(r->charge.accepted);
    REQUIRE(r->guards.size() == 1);
    CHECK(r->guards[0].counts == core::GuardCounts{1, 2, 1});
    CHECK_FALSE(r->guards[0].trigger);

    job.now = kT + 1000;
    r = b->eom(job);
    CHECK(r->charge.accepted);
    CHECK(r->guards[0].counts.messages == 2);
    // The third message: 12 recipients > 10 -> refused whole, nothing charged, guards untouched.
    job.now = kT + 2000;
    r = b->eom(job);
    REQUIRE(r);
    CHECK_FALSE(r->charge.accepted);
    CHECK(r->charge.refused_by == 1);
    CHECK(r->guards.empty());
    auto states = b->counters({{"msgs", 0, "u@example.test"}, {"rcpts", 0, "u@example.test"}});
    REQUIRE(states);
    CHECK((*states)[{"msgs", 0, "u@example.test"}].used == 2000);
    CHECK((*states)[{"rcpts", 0, "u@example.test"}].used == 8000);
    // A smaller message passes; the guard counts a third message and a third domain... and holds.
    job.rates[1].charges = {{"u@example.test", 1}};
    job.guards[0].domains = {"c.example", "d.example"};
    r = b->eom(job);
    REQUIRE(r);
    CHECK(r->charge.accepted);
    CHECK(r->guards[0].counts == core::GuardCounts{3, 4, 1});
    CHECK(r->guards[0].trigger == "messages 3 > 2 per 60m");
    CHECK(r->guards[0].held);
    if (auto* m = dynamic_cast<MysqlBackend*>(b.get())) {
        auto holds = m->connection().execute("SELECT user, rule, node FROM policy_holds");
        REQUIRE(holds);
        REQUIRE(holds->rows.size() == 1);
        CHECK(holds->rows[0][0] == std::optional<std::string>("u@example.test"));
        auto audit = m->connection().execute("SELECT COUNT(*) FROM policy_audit WHERE event = 'hold'");
        CHECK(audit->rows[0][0] == std::optional<std::string>("1"));
    }
    // The message limit (3 per hour) is reached now.
    job.now = kT + 3000;
    r = b->eom(job);
    CHECK_FALSE(r->charge.accepted);
    CHECK(r->charge.refused_by == 0);
}
