// sql::Connection against a real private MariaDB (see mariadb_fixture.h).
#include "common/sql/connection.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/unit/common/sql/mariadb_fixture.h"

using titan::ErrorCode;
using namespace titan::sql;
using titan::sql::test::deadPort;
using titan::sql::test::msSince;
using titan::sql::test::testDb;
using Clock = std::chrono::steady_clock;

namespace {

QueryResult mustExecute(Connection& c, std::string_view sql, const std::vector<Value>& params = {}) {
    auto r = c.execute(sql, params);
    INFO(sql);
    INFO((r.ok() ? std::string() : r.error().message));
    REQUIRE(r.ok());
    return std::move(r).value();
}

std::string allBytes() {
    std::string s;
    for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
    return s;
}

}  // namespace

TEST_CASE("Connection: parameters and results round-trip as data", "[sql][integration]") {
    Connection c(testDb().tcpOptions());
    mustExecute(c, "DROP TABLE IF EXISTS rt");
    mustExecute(c,
                "CREATE TABLE rt (id INT AUTO_INCREMENT PRIMARY KEY, txt VARCHAR(2000) CHARACTER SET utf8mb4 NULL, "
                "bin LONGBLOB NULL) ENGINE=InnoDB");

    const std::vector<std::pair<const char*, Value>> cases = {
        {"empty string", std::string()},
        {"plain", std::string("plain")},
        {"single quote", std::string("O'Brien")},
        {"double quote", std::string("say \"hi\"")},
        {"backslash", std::string("back\\slash\\")},
        {"injection attempt", std::string("x'); DROP TABLE rt; -- ")},
        {"placeholder and wildcards", std::string("? %_ * ; /* */ #")},
        {"utf-8", std::string("Gr\xC3\xBC\xC3\x9F" "e \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x8E\x89")},
        {"embedded NUL", std::string("a\0b", 3)},
        {"longer than the fetch buffer", std::string(1500, 'x') + "end"},
        {"NULL", std::nullopt},
    };
    for (const auto& [name, value] : cases) {
        SECTION(name) {
            // As text in a utf8mb4 column (NUL is valid UTF-8 too).
            auto ins = mustExecute(c, "INSERT INTO rt (txt, bin) VALUES (?, ?)", {value, value});
            CHECK(ins.affected_rows == 1);
            CHECK(ins.insert_id > 0);
            auto sel = mustExecute(c, "SELECT txt, bin, ? FROM rt WHERE id = ?",
                                   {value, std::to_string(ins.insert_id)});
            REQUIRE(sel.rows.size() == 1);
            REQUIRE(sel.rows[0].size() == 3);
            CHECK(sel.rows[0][0] == value);
            CHECK(sel.rows[0][1] == value);
            CHECK(sel.rows[0][2] == value);
            // The table survived whatever the value said.
            CHECK(mustExecute(c, "SELECT COUNT(*) FROM rt").rows.at(0).at(0) == Value("1"));
            mustExecute(c, "DELETE FROM rt");
        }
    }

    SECTION("every byte value in a blob, and a 1 MiB blob") {
        const std::string bytes = allBytes();
        const std::string big(1 << 20, '\xA5');
        auto a = mustExecute(c, "INSERT INTO rt (bin) VALUES (?)", {bytes});
        auto b = mustExecute(c, "INSERT INTO rt (bin) VALUES (?)", {big});
        auto sel = mustExecute(c, "SELECT bin, LENGTH(bin) FROM rt WHERE id IN (?, ?) ORDER BY id",
                               {std::to_string(a.insert_id), std::to_string(b.insert_id)});
        REQUIRE(sel.rows.size() == 2);
        CHECK(sel.rows[0][0] == Value(bytes));
        CHECK(sel.rows[0][1] == Value("256"));
        CHECK(sel.rows[1][0] == Value(big));
        mustExecute(c, "DELETE FROM rt");
    }

    SECTION("numbers, dates and NULL come back as text") {
        auto r = mustExecute(c, "SELECT 42, -7, 1.50, CAST('2024-02-29' AS DATE), NULL, ? + 1", {std::string("41")});
        REQUIRE(r.rows.size() == 1);
        const Row expected = {Value("42"), Value("-7"), Value("1.50"), Value("2024-02-29"), std::nullopt, Value("42")};
        CHECK(r.rows[0] == expected);
    }

    SECTION("a cached statement is reused with new parameters") {
        for (int i = 0; i < 20; ++i) {
            auto r = mustExecute(c, "SELECT ? * 2", {std::to_string(i)});
            CHECK(r.rows.at(0).at(0) == Value(std::to_string(i * 2)));
        }
    }
}

TEST_CASE("Connection: a lookup that matches nothing returns zero rows, not an error", "[sql][integration]") {
    Connection c(testDb().tcpOptions());
    mustExecute(c, "CREATE TABLE IF NOT EXISTS nf (k VARCHAR(64) PRIMARY KEY, v INT)");
    auto r = c.execute("SELECT v FROM nf WHERE k = ?", {std::string("no-such-key")});
    REQUIRE(r.ok());
    CHECK(r->rows.empty());
    CHECK(c.lastErrno() == 0);
    auto u = c.execute("UPDATE nf SET v = 1 WHERE k = ?", {std::string("no-such-key")});
    REQUIRE(u.ok());
    CHECK(u->affected_rows == 0);
}

TEST_CASE("Connection: errors are classified and carry the MySQL errno", "[sql][integration]") {
    Connection c(testDb().tcpOptions());
    mustExecute(c, "DROP TABLE IF EXISTS dup");
    mustExecute(c, "CREATE TABLE dup (k VARCHAR(16) PRIMARY KEY, n INT NOT NULL)");
    mustExecute(c, "INSERT INTO dup VALUES (?, 1)", {std::string("a")});

    SECTION("duplicate key is InvalidInput with errno 1062") {
        auto r = c.execute("INSERT INTO dup VALUES (?, 2)", {std::string("a")}, false);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ErrorCode::InvalidInput);
        CHECK(c.lastErrno() == 1062);
        CHECK(errnoOf(r.error()) == 1062);
        CHECK_THAT(r.error().message, Catch::Contains("MySQL error 1062"));
        // The connection stays usable.
        CHECK(mustExecute(c, "SELECT n FROM dup WHERE k = ?", {std::string("a")}).rows.at(0).at(0) == Value("1"));
        CHECK(c.lastErrno() == 0);
    }
    SECTION("NULL into NOT NULL and an over-long value are InvalidInput") {
        auto r = c.execute("INSERT INTO dup VALUES (?, ?)", {std::string("b"), std::nullopt});
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ErrorCode::InvalidInput);
        CHECK(errnoOf(r.error()) == 1048);
        auto l = c.execute("INSERT INTO dup VALUES (?, 1)", {std::string(17, 'k')});
        REQUIRE_FALSE(l.ok());
        CHECK(l.error().code == ErrorCode::InvalidInput);
        CHECK(errnoOf(l.error()) == 1406);
    }
    SECTION("SQL mistakes are Internal") {
        auto s = c.execute("SELEKT 1");
        REQUIRE_FALSE(s.ok());
        CHECK(s.error().code == ErrorCode::Internal);
        CHECK(errnoOf(s.error()) == 1064);
        auto t = c.execute("SELECT * FROM no_such_table");
        REQUIRE_FALSE(t.ok());
        CHECK(t.error().code == ErrorCode::Internal);
        CHECK(c.lastErrno() == 1146);
        auto p = c.execute("SELECT ?, ?", {std::string("only one")});
        REQUIRE_FALSE(p.ok());
        CHECK(p.error().code == ErrorCode::Internal);
        CHECK_THAT(p.error().message, Catch::Contains("expects 2 parameter(s), got 1"));
    }
    SECTION("errors never contain the password") {
        Options o = testDb().tcpOptions();
        o.password = "wrong-secret-pw";
        Connection bad(o);
        auto r = bad.execute("SELECT 1");
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ErrorCode::Unavailable);
        CHECK(bad.lastErrno() == 1045);
        CHECK_THAT(r.error().message, !Catch::Contains("wrong-secret-pw"));
    }
    SECTION("invalid options are Config") {
        Options o = testDb().tcpOptions();
        o.hosts.clear();
        CHECK(validateOptions(o).error().code == ErrorCode::Config);
        Connection none(o);
        auto r = none.execute("SELECT 1");
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ErrorCode::Config);
        CHECK(validateOptions(testDb().tcpOptions()).ok());
    }
}

TEST_CASE("Connection: unix socket host", "[sql][integration]") {
    Connection c(testDb().socketOptions());
    auto r = mustExecute(c, "SELECT CURRENT_USER()");
    CHECK(r.rows.at(0).at(0) == Value("titan@localhost"));
    CHECK(c.currentHost() == "unix:" + testDb().socket());

    // Moving keeps the open connection (same session id).
    const Value id = mustExecute(c, "SELECT CONNECTION_ID()").rows.at(0).at(0);
    Connection moved(std::move(c));
    CHECK(mustExecute(moved, "SELECT CONNECTION_ID()").rows.at(0).at(0) == id);
    Connection assigned(testDb().tcpOptions());
    assigned = std::move(moved);
    CHECK(mustExecute(assigned, "SELECT CONNECTION_ID()").rows.at(0).at(0) == id);
}

TEST_CASE("Connection: wait_timeout closes the session, the next query reconnects transparently",
          "[sql][integration]") {
    Connection c(testDb().tcpOptions());
    mustExecute(c, "CREATE TABLE IF NOT EXISTS wt (id INT AUTO_INCREMENT PRIMARY KEY, v INT)");
    mustExecute(c, "SET SESSION wait_timeout = 1");
    const std::string before = mustExecute(c, "SELECT CONNECTION_ID()").rows.at(0).at(0).value();
    std::this_thread::sleep_for(std::chrono::milliseconds(2000));

    SECTION("idempotent: retried after reconnecting") {
        auto r = c.execute("SELECT CONNECTION_ID()");
        INFO((r.ok() ? "" : r.error().message));
        REQUIRE(r.ok());
        CHECK(r->rows.at(0).at(0) != Value(before));
        CHECK(c.reconnects() == 1);
    }
    SECTION("non-idempotent: the idle connection is pinged and replaced before sending") {
        auto r = c.execute("INSERT INTO wt (v) VALUES (?)", {std::string("1")}, false);
        INFO((r.ok() ? "" : r.error().message));
        REQUIRE(r.ok());
        CHECK(r->affected_rows == 1);
        CHECK(c.reconnects() == 1);
    }
}

TEST_CASE("Connection: a killed connection is replaced", "[sql][integration]") {
    Connection victim(testDb().tcpOptions());
    Connection killer(testDb().tcpOptions());
    const std::string id = mustExecute(victim, "SELECT CONNECTION_ID()").rows.at(0).at(0).value();
    mustExecute(killer, "KILL CONNECTION " + id);
    auto r = victim.execute("SELECT CONNECTION_ID()");
    INFO((r.ok() ? "" : r.error().message));
    REQUIRE(r.ok());
    CHECK(r->rows.at(0).at(0) != Value(id));
    CHECK(victim.reconnects() == 1);
}

TEST_CASE("Connection: fails over from a dead first host to the next", "[sql][integration]") {
    Options o = testDb().tcpOptions();
    o.hosts = {HostSpec{"127.0.0.1", deadPort(), ""}, HostSpec{"127.0.0.1", testDb().port(), ""}};
    Connection c(o);
    auto r = c.execute("SELECT 1");
    INFO((r.ok() ? "" : r.error().message));
    REQUIRE(r.ok());
    CHECK(c.currentHost() == "127.0.0.1:" + std::to_string(testDb().port()));

    SECTION("a dead socket path first, then TCP") {
        o.hosts = {HostSpec{"", 0, testDb().dir() + "/no-such.sock"},
                   HostSpec{"127.0.0.1", testDb().port(), ""}};
        Connection d(o);
        REQUIRE(d.execute("SELECT 1").ok());
        CHECK(d.currentHost() == "127.0.0.1:" + std::to_string(testDb().port()));
    }
}

TEST_CASE("Connection: when every host is marked down it fails fast", "[sql][integration]") {
    Options o = testDb().tcpOptions();
    o.hosts = {HostSpec{"127.0.0.1", deadPort(), ""}};
    o.retry_interval = std::chrono::milliseconds(600);
    Connection c(o);
    auto first = c.execute("SELECT 1");
    REQUIRE_FALSE(first.ok());
    CHECK(first.error().code == ErrorCode::Unavailable);
    CHECK(c.lastErrno() == 2002);  // Connector/C reports a refused TCP connect as 2002

    const auto t0 = Clock::now();
    auto second = c.execute("SELECT 1");
    CHECK(msSince(t0) < 50);
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().code == ErrorCode::Unavailable);
    CHECK_THAT(second.error().message, Catch::Contains("marked down"));

    // After retry_interval the host is tried again (and fails again).
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    auto third = c.execute("SELECT 1");
    REQUIRE_FALSE(third.ok());
    CHECK_THAT(third.error().message, Catch::Contains("cannot connect"));
}

TEST_CASE("Connection: transactions", "[sql][integration]") {
    Connection c(testDb().tcpOptions());
    Connection other(testDb().tcpOptions());
    mustExecute(c, "DROP TABLE IF EXISTS tx");
    mustExecute(c, "CREATE TABLE tx (k INT PRIMARY KEY) ENGINE=InnoDB");

    REQUIRE(c.begin().ok());
    CHECK(c.inTransaction());
    CHECK(c.begin().error().code == ErrorCode::Internal);
    mustExecute(c, "INSERT INTO tx VALUES (1)");
    CHECK(mustExecute(other, "SELECT COUNT(*) FROM tx").rows.at(0).at(0) == Value("0"));
    REQUIRE(c.rollback().ok());
    CHECK_FALSE(c.inTransaction());
    CHECK(mustExecute(c, "SELECT COUNT(*) FROM tx").rows.at(0).at(0) == Value("0"));

    REQUIRE(c.begin().ok());
    mustExecute(c, "INSERT INTO tx VALUES (2)");
    REQUIRE(c.commit().ok());
    CHECK(mustExecute(other, "SELECT k FROM tx").rows.at(0).at(0) == Value("2"));

    SECTION("a connection lost inside a transaction is not silently retried") {
        const std::string id = mustExecute(c, "SELECT CONNECTION_ID()").rows.at(0).at(0).value();
        REQUIRE(c.begin().ok());
        mustExecute(c, "INSERT INTO tx VALUES (3)");
        mustExecute(other, "KILL CONNECTION " + id);
        auto r = c.execute("INSERT INTO tx VALUES (4)");
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == ErrorCode::Unavailable);
        CHECK_THAT(r.error().message, Catch::Contains("transaction"));
        CHECK_FALSE(c.inTransaction());
        // Nothing runs in autocommit mode by mistake until the caller acknowledges.
        auto again = c.execute("INSERT INTO tx VALUES (5)");
        REQUIRE_FALSE(again.ok());
        CHECK(again.error().code == ErrorCode::Unavailable);

        SECTION("commit() reports the loss") {
            CHECK(c.commit().error().code == ErrorCode::Unavailable);
        }
        SECTION("rollback() acknowledges it") {
            CHECK(c.rollback().ok());
        }
        CHECK(mustExecute(c, "SELECT COUNT(*) FROM tx").rows.at(0).at(0) == Value("1"));
    }
}

TEST_CASE("Connection: executeScript runs migrations", "[sql][integration]") {
    Connection c(testDb().tcpOptions());
    REQUIRE(c.executeScript("DROP TABLE IF EXISTS m1; CREATE TABLE m1 (a INT); INSERT INTO m1 VALUES (1),(2);"
                            " SELECT * FROM m1; UPDATE m1 SET a = a + 10")
                .ok());
    CHECK(mustExecute(c, "SELECT SUM(a) FROM m1").rows.at(0).at(0) == Value("23"));

    auto bad = c.executeScript("INSERT INTO m1 VALUES (3); INSERT INTO no_such_table VALUES (1); "
                               "INSERT INTO m1 VALUES (4)");
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(bad.error().message, Catch::Contains("statement #2"));
    CHECK(errnoOf(bad.error()) == 1146);
    CHECK(mustExecute(c, "SELECT COUNT(*) FROM m1").rows.at(0).at(0) == Value("3"));
    // Multi-statements are off again for ordinary calls.
    CHECK_FALSE(c.execute("SELECT 1; SELECT 2").ok());
}

TEST_CASE("Connection: a read timeout fails Unavailable once, without a retry", "[sql][integration]") {
    Options o = testDb().tcpOptions();
    o.read_timeout = std::chrono::milliseconds(1000);
    Connection c(o);
    const auto t0 = Clock::now();
    auto r = c.execute("SELECT SLEEP(3)");  // idempotent, still not retried
    const auto took = msSince(t0);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::Unavailable);
    CHECK_THAT(r.error().message, Catch::Contains("timed out"));
    CHECK(took >= 900);
    CHECK(took < 1900);
    CHECK(c.lastErrno() == 2013);
    CHECK(mustExecute(c, "SELECT 7").rows.at(0).at(0) == Value("7"));
}
