// One synchronous MariaDB/MySQL connection: prepared statements only, a host
// list with shared mark-down, and our own reconnect. It blocks the calling
// thread, so event-loop code reaches it only through sql::Pool (pool.h); the
// CLI tool and migrations may use it directly. It knows no schema.
// Layer: common/sql (base + MariaDB Connector/C).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"

struct st_mysql;       // MYSQL from <mysql.h>, kept out of this header
struct st_mysql_stmt;  // MYSQL_STMT

namespace titan::sql {

struct HostSpec {
    std::string host;         // name or address; ignored when unix_socket is set
    unsigned port = 3306;
    std::string unix_socket;  // non-empty: connect through this socket
};

struct Options {
    std::vector<HostSpec> hosts;  // tried in order; failed hosts are marked down for retry_interval
    std::string user, password, database, charset = "utf8mb4";
    // Connector/C takes whole seconds: each timeout is rounded up, minimum 1 s.
    std::chrono::milliseconds connect_timeout{2000}, read_timeout{5000}, write_timeout{5000},
        retry_interval{2000};
    std::chrono::milliseconds queue_timeout{5000};  // Pool: a job waiting longer fails Unavailable without running
    unsigned pool_size = 4;                         // Pool: worker threads (0 is treated as 1)
    size_t max_queue = 10000;                       // Pool: waiting jobs; beyond it submit() fails Unavailable
};

// Config error naming the first problem (no hosts, port 0, empty user or
// database, a zero timeout), or ok. For start-up checks; never mentions the password.
titan::Status validateOptions(const Options& options);

using Value = std::optional<std::string>;  // nullopt = SQL NULL
using Row = std::vector<Value>;

struct QueryResult {
    std::vector<Row> rows;                // every column as text (numbers, dates) or raw bytes
    unsigned long long affected_rows = 0; // changed rows; 0 for statements that return rows
    unsigned long long insert_id = 0;     // AUTO_INCREMENT value of an INSERT, else 0
};

// mysql_library_init, once per process; thread-safe. Connection's constructor
// calls it; call it earlier to keep it off worker threads.
void initClientLibrary();

// The MySQL errno carried in an Error made by this module ("MySQL error 1062 ..."),
// or 0 when the error did not come from the server or client library.
unsigned errnoOf(const titan::Error& error);

// Which hosts are marked down, shared by the connections of one Pool. Thread-safe.
class HostHealth {
public:
    using Clock = std::chrono::steady_clock;
    HostHealth(size_t host_count, std::chrono::milliseconds retry_interval);

    // True if the caller should try host i now: the host is up, or its
    // mark-down expired. In the latter case the caller becomes the one probe:
    // the host stays down for everyone else for another retry_interval, until
    // markUp() or markDown() reports the outcome.
    bool shouldTry(size_t i, Clock::time_point now);
    void markDown(size_t i, Clock::time_point now);
    void markUp(size_t i);
    // Time until the first marked-down host may be tried again (0 if one is up).
    std::chrono::milliseconds nextRetryIn(Clock::time_point now) const;

private:
    mutable std::mutex mu_;
    std::chrono::milliseconds retry_interval_;
    std::vector<Clock::time_point> down_until_;  // default (epoch) = up
};

class Connection {
public:
    // Connects lazily, on the first call that needs the server. mysql_library_init
    // runs once per process; a thread other than the main one should call
    // mysql_thread_init()/mysql_thread_end() around its use (Pool workers do).
    explicit Connection(Options options);
    // As above, with mark-down state shared with other connections (Pool).
    Connection(Options options, std::shared_ptr<HostHealth> health);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    // Moves the open connection and its statements; the moved-from object may
    // only be destroyed or assigned to.
    Connection(Connection&& other) noexcept;
    Connection& operator=(Connection&& other) noexcept;

    // Runs one prepared statement (cached per connection by SQL text); every
    // parameter is bound as a string, nullopt as NULL, so values are data and
    // never SQL. Rows are fully read before returning.
    // A lost connection (2006/2013/1927, server restart, wait_timeout) is
    // reconnected, trying the next host if needed, and the statement retried once
    // when `idempotent` (or when it had not been sent yet); non-idempotent calls
    // on a connection idle for over a second ping first. A read/write timeout
    // fails Unavailable without a retry. Inside begin()..commit() nothing is
    // retried: a lost connection fails the call and ends the transaction.
    // A connection stays on the host it reached until it breaks.
    // Errors: Unavailable for connection and timeout problems (also lock wait
    // timeouts, deadlocks, read-only server); InvalidInput for errors caused by the
    // data (duplicate key, foreign key, NULL/too long/out-of-range values): the
    // message holds "MySQL error N" (see errnoOf, lastErrno); Internal otherwise
    // (SQL syntax, unknown table, wrong parameter count); Config for invalid Options.
    titan::Result<QueryResult> execute(std::string_view sql, const std::vector<Value>& params = {},
                                       bool idempotent = true);

    // Runs several ';'-separated statements as one text query, for migrations.
    // NOT prepared: never put untrusted data in it. Stops at the first failing
    // statement (the message names its 1-based number). Never retried.
    titan::Status executeScript(std::string_view multi_statement_sql);

    // START TRANSACTION / COMMIT / ROLLBACK. begin() fails Internal inside a
    // transaction. A lost connection during commit() fails Unavailable: the
    // outcome is then unknown. Once a transaction's connection was lost, every
    // call fails Unavailable until rollback() (which then succeeds: the server
    // rolled back), commit() (fails) or begin(), so later statements cannot
    // silently run outside the transaction.
    titan::Status begin();
    titan::Status commit();
    titan::Status rollback();

    // MySQL errno of the last call that failed with one, 0 after a success.
    unsigned lastErrno() const { return last_errno_; }
    // "host:port" or "unix:/path" of the open connection, "" when not connected.
    std::string currentHost() const;

    bool connected() const { return mysql_ != nullptr; }
    bool inTransaction() const { return in_transaction_; }
    // Times the connection was re-established after having been up.
    unsigned long long reconnects() const { return reconnects_; }
    // Closes the connection and its statements; the next call reconnects.
    void disconnect();

private:
    struct Failure;
    titan::Status ensureConnected(bool check_idle);
    titan::Status connect();
    void dropConnection();
    titan::Result<QueryResult> runPrepared(std::string_view sql, const std::vector<Value>& params,
                                           Failure& failure);
    titan::Status runSimple(const char* sql, bool retry_if_lost);
    titan::Error failureError(const Failure& failure, std::string_view what);
    titan::Error transactionLost() const;

    Options options_;
    std::shared_ptr<HostHealth> health_;
    st_mysql* mysql_ = nullptr;
    size_t host_index_ = 0;
    std::map<std::string, st_mysql_stmt*, std::less<>> statements_;
    std::chrono::steady_clock::time_point last_used_{};
    unsigned last_errno_ = 0;
    bool in_transaction_ = false;
    bool transaction_lost_ = false;  // dropped inside begin()..commit(), not yet acknowledged
    bool ever_connected_ = false;
    unsigned long long reconnects_ = 0;
};

}  // namespace titan::sql
