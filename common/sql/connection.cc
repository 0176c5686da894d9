// Connection: Connector/C calls, statement cache, error classification, reconnect.
#include "common/sql/connection.h"

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace titan::sql {
namespace {

using Clock = std::chrono::steady_clock;

// A non-idempotent statement on a connection idle this long is preceded by a
// ping, so a connection closed by wait_timeout or a restart is replaced before
// anything is sent whose outcome we could not know.
constexpr std::chrono::milliseconds kPingWhenIdleFor{1000};
// Beyond this many cached statements per connection the cache is emptied.
constexpr size_t kMaxCachedStatements = 256;
// A statement that failed as "lost" after running this close to the read or
// write timeout is taken to have timed out.
constexpr std::chrono::milliseconds kTimeoutSlack{100};
// Initial per-column fetch buffer; longer values are fetched again in full.
constexpr size_t kColumnBuffer = 256;

std::once_flag g_library_once;

unsigned wholeSeconds(std::chrono::milliseconds ms) {
    const auto s = (ms.count() + 999) / 1000;
    return static_cast<unsigned>(std::clamp<long long>(s, 1, 86400));
}

// The connection is gone (or going): drop it, reconnect on the next call.
bool isConnectionLost(unsigned e) {
    switch (e) {
    case CR_SERVER_GONE_ERROR:     // 2006
    case CR_SERVER_LOST:           // 2013
    case CR_SERVER_LOST_EXTENDED:  // 2055
    case CR_CONNECTION_ERROR:      // 2002
    case CR_CONN_HOST_ERROR:       // 2003
    case ER_CONNECTION_KILLED:     // 1927
    case ER_SERVER_SHUTDOWN:       // 1053
    case 4031:                     // MySQL 8 ER_CLIENT_INTERACTION_TIMEOUT
    case CR_ERR_NET_READ:          // 5013
    case CR_ERR_NET_WRITE:         // 5014
        return true;
    default:
        break;
    }
    // Any other client-library error except these usage errors also means the
    // connection is in an unknown state.
    switch (e) {
    case CR_OUT_OF_MEMORY:          // 2008
    case CR_COMMANDS_OUT_OF_SYNC:   // 2014
    case CR_NO_PREPARE_STMT:        // 2030
    case CR_PARAMS_NOT_BOUND:       // 2031
    case CR_INVALID_PARAMETER_NO:   // 2034
    case CR_INVALID_BUFFER_USE:     // 2035
    case CR_UNSUPPORTED_PARAM_TYPE: // 2036
    case CR_NO_DATA:                // 2051
    case CR_NO_STMT_METADATA:       // 2052
    case 2053:                      // CR_NO_RESULT_SET
    case CR_NOT_IMPLEMENTED:        // 2054
        return false;
    default:
        return e >= CR_MIN_ERROR && e <= CR_MAX_ERROR;
    }
}

// Transient server-side conditions: the connection stays usable.
bool isTransient(unsigned e) {
    switch (e) {
    case ER_LOCK_WAIT_TIMEOUT:          // 1205
    case ER_LOCK_DEADLOCK:              // 1213
    case ER_CON_COUNT_ERROR:            // 1040
    case ER_TOO_MANY_USER_CONNECTIONS:  // 1203
    case ER_QUERY_INTERRUPTED:          // 1317
    case ER_STATEMENT_TIMEOUT:          // 1969
    case ER_OPTION_PREVENTS_STATEMENT:  // 1290 (--read-only)
    case ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION:  // 1792
    case ER_UNKNOWN_COM_ERROR:          // 1047 (Galera node not ready)
    case 3024:                          // MySQL max_execution_time exceeded
        return true;
    default:
        return false;
    }
}

// Errors caused by the values the caller supplied.
bool isDataError(unsigned e) {
    switch (e) {
    case ER_DUP_ENTRY:                    // 1062
    case ER_DUP_ENTRY_WITH_KEY_NAME:      // 1586
    case ER_FOREIGN_DUPLICATE_KEY_WITH_CHILD_INFO:     // 1761
    case ER_FOREIGN_DUPLICATE_KEY_WITHOUT_CHILD_INFO:  // 1762
    case ER_ROW_IS_REFERENCED:            // 1217
    case ER_NO_REFERENCED_ROW:            // 1216
    case ER_ROW_IS_REFERENCED_2:          // 1451
    case ER_NO_REFERENCED_ROW_2:          // 1452
    case ER_BAD_NULL_ERROR:               // 1048
    case ER_WARN_NULL_TO_NOTNULL:         // 1263
    case ER_WARN_DATA_OUT_OF_RANGE:       // 1264
    case WARN_DATA_TRUNCATED:             // 1265
    case ER_TRUNCATED_WRONG_VALUE:        // 1292
    case ER_INVALID_CHARACTER_STRING:     // 1300
    case ER_DIVISION_BY_ZERO:             // 1365
    case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:  // 1366
    case ER_DATA_TOO_LONG:                // 1406
    case ER_WRONG_VALUE_FOR_TYPE:         // 1411
    case ER_DATA_OUT_OF_RANGE:            // 1690
    case ER_CONSTRAINT_FAILED:            // 4025 (CHECK constraint)
        return true;
    default:
        return false;
    }
}

std::string hostLabel(const HostSpec& h) {
    if (!h.unix_socket.empty()) return "unix:" + h.unix_socket;
    return h.host + ":" + std::to_string(h.port);
}

std::string mysqlErrorText(unsigned e, const char* state, const char* text) {
    std::string m = "MySQL error " + std::to_string(e);
    if (state != nullptr && *state != '\0' && std::strcmp(state, "00000") != 0) {
        m += " (";
        m += state;
        m += ")";
    }
    m += ": ";
    m += (text != nullptr && *text != '\0') ? text : "unknown error";
    return m;
}

}  // namespace

// ---------------------------------------------------------------------------

void initClientLibrary() {
    std::call_once(g_library_once, [] { mysql_library_init(0, nullptr, nullptr); });
}

Status validateOptions(const Options& o) {
    if (o.hosts.empty()) return Error::config("sql: no database hosts configured");
    for (size_t i = 0; i < o.hosts.size(); ++i) {
        const auto& h = o.hosts[i];
        if (h.unix_socket.empty() && (h.host.empty() || h.port == 0 || h.port > 65535)) {
            return Error::config("sql: host #" + std::to_string(i + 1) +
                                 " needs a host and a port 1-65535, or a unix_socket");
        }
    }
    if (o.user.empty()) return Error::config("sql: no database user configured");
    if (o.database.empty()) return Error::config("sql: no database name configured");
    if (o.charset.empty()) return Error::config("sql: empty charset");
    using std::chrono::milliseconds;
    if (o.connect_timeout <= milliseconds::zero() || o.read_timeout <= milliseconds::zero() ||
        o.write_timeout <= milliseconds::zero() || o.queue_timeout <= milliseconds::zero()) {
        return Error::config("sql: connect, read, write and queue timeouts must be positive");
    }
    if (o.retry_interval < milliseconds::zero()) return Error::config("sql: negative retry_interval");
    return {};
}

unsigned errnoOf(const Error& error) {
    static constexpr std::string_view kTag = "MySQL error ";
    const auto pos = error.message.find(kTag);
    if (pos == std::string::npos) return 0;
    unsigned value = 0;
    for (size_t i = pos + kTag.size(); i < error.message.size(); ++i) {
        const char c = error.message[i];
        if (c < '0' || c > '9' || value > 100000) break;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    return value;
}

// ---------------------------------------------------------------------------

HostHealth::HostHealth(size_t host_count, std::chrono::milliseconds retry_interval)
    : retry_interval_(retry_interval), down_until_(host_count) {}

bool HostHealth::shouldTry(size_t i, Clock::time_point now) {
    std::lock_guard lock(mu_);
    auto& until = down_until_.at(i);
    if (until == Clock::time_point{}) return true;
    if (now < until) return false;
    until = now + retry_interval_;  // this caller probes; the others keep skipping it
    return true;
}

void HostHealth::markDown(size_t i, Clock::time_point now) {
    std::lock_guard lock(mu_);
    // A zero retry_interval still needs a non-epoch value to mean "down".
    down_until_.at(i) = std::max(now + retry_interval_, Clock::time_point{} + Clock::duration{1});
}

void HostHealth::markUp(size_t i) {
    std::lock_guard lock(mu_);
    down_until_.at(i) = Clock::time_point{};
}

std::chrono::milliseconds HostHealth::nextRetryIn(Clock::time_point now) const {
    std::lock_guard lock(mu_);
    auto best = Clock::duration::max();
    for (const auto& until : down_until_) {
        if (until == Clock::time_point{} || until <= now) return std::chrono::milliseconds::zero();
        best = std::min(best, until - now);
    }
    if (best == Clock::duration::max()) return std::chrono::milliseconds::zero();
    return std::chrono::ceil<std::chrono::milliseconds>(best);
}

// ---------------------------------------------------------------------------

// Why the last Connector/C call failed, and at which step.
struct Connection::Failure {
    enum class Stage { None, Prepare, Execute, Fetch };
    Stage stage = Stage::None;
    unsigned err = 0;       // MySQL errno, 0 if the problem is ours
    std::string text;       // "MySQL error N (STATE): ..." or our own description
};

Connection::Connection(Options options)
    : Connection(std::move(options), nullptr) {}

Connection::Connection(Options options, std::shared_ptr<HostHealth> health)
    : options_(std::move(options)), health_(std::move(health)) {
    if (!health_) health_ = std::make_shared<HostHealth>(options_.hosts.size(), options_.retry_interval);
    initClientLibrary();
}

Connection::Connection(Connection&& other) noexcept
    : options_(std::move(other.options_)),
      health_(std::move(other.health_)),
      mysql_(std::exchange(other.mysql_, nullptr)),
      host_index_(other.host_index_),
      statements_(std::move(other.statements_)),
      last_used_(other.last_used_),
      last_errno_(other.last_errno_),
      in_transaction_(std::exchange(other.in_transaction_, false)),
      transaction_lost_(std::exchange(other.transaction_lost_, false)),
      ever_connected_(other.ever_connected_),
      reconnects_(other.reconnects_) {
    other.statements_.clear();
}

Connection& Connection::operator=(Connection&& other) noexcept {
    if (this != &other) {
        disconnect();
        options_ = std::move(other.options_);
        health_ = std::move(other.health_);
        mysql_ = std::exchange(other.mysql_, nullptr);
        host_index_ = other.host_index_;
        statements_ = std::move(other.statements_);
        other.statements_.clear();
        last_used_ = other.last_used_;
        last_errno_ = other.last_errno_;
        in_transaction_ = std::exchange(other.in_transaction_, false);
        transaction_lost_ = std::exchange(other.transaction_lost_, false);
        ever_connected_ = other.ever_connected_;
        reconnects_ = other.reconnects_;
    }
    return *this;
}

Connection::~Connection() {
    disconnect();
    // Best effort: do not leave the password in freed memory.
    std::fill(options_.password.begin(), options_.password.end(), '\0');
}

std::string Connection::currentHost() const {
    if (mysql_ == nullptr) return {};
    return hostLabel(options_.hosts[host_index_]);
}

void Connection::disconnect() {
    if (mysql_ != nullptr) {
        for (auto& [sql, stmt] : statements_) mysql_stmt_close(stmt);
        statements_.clear();
        mysql_close(mysql_);
        mysql_ = nullptr;
    }
    if (in_transaction_) transaction_lost_ = true;
    in_transaction_ = false;
}

// The connection is known to be broken: close it without talking to the server
// about each statement (mysql_close detaches them; closing them then frees memory).
void Connection::dropConnection() {
    if (mysql_ != nullptr) {
        mysql_close(mysql_);
        mysql_ = nullptr;
        for (auto& [sql, stmt] : statements_) mysql_stmt_close(stmt);
        statements_.clear();
    }
    if (in_transaction_) transaction_lost_ = true;
    in_transaction_ = false;
}

Status Connection::connect() {
    dropConnection();
    if (auto st = validateOptions(options_); !st) return st;
    const unsigned connect_s = wholeSeconds(options_.connect_timeout);
    const unsigned read_s = wholeSeconds(options_.read_timeout);
    const unsigned write_s = wholeSeconds(options_.write_timeout);

    size_t tried = 0;
    std::string last;
    for (size_t i = 0; i < options_.hosts.size(); ++i) {
        if (!health_->shouldTry(i, Clock::now())) continue;
        ++tried;
        const HostSpec& h = options_.hosts[i];
        MYSQL* m = mysql_init(nullptr);
        if (m == nullptr) return Error::internal("sql: mysql_init: out of memory");
        const my_bool no_reconnect = 0;
        const unsigned no_local_infile = 0;
        const unsigned protocol = h.unix_socket.empty() ? MYSQL_PROTOCOL_TCP : MYSQL_PROTOCOL_SOCKET;
        mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
        mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &read_s);
        mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &write_s);
        mysql_options(m, MYSQL_OPT_RECONNECT, &no_reconnect);
        mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &no_local_infile);
        mysql_options(m, MYSQL_OPT_PROTOCOL, &protocol);
        mysql_options(m, MYSQL_SET_CHARSET_NAME, options_.charset.c_str());
        const bool unix = !h.unix_socket.empty();
        MYSQL* ok = mysql_real_connect(m, unix ? "localhost" : h.host.c_str(), options_.user.c_str(),
                                       options_.password.c_str(), options_.database.c_str(),
                                       unix ? 0 : h.port, unix ? h.unix_socket.c_str() : nullptr,
                                       CLIENT_MULTI_RESULTS);
        if (ok == nullptr) {
            last_errno_ = mysql_errno(m);
            last = "sql: cannot connect to " + hostLabel(h) + ": " +
                   mysqlErrorText(mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
            mysql_close(m);
            health_->markDown(i, Clock::now());
            continue;
        }
        // Daemons may spawn helpers: do not leak the database socket into them.
        if (const auto fd = mysql_get_socket(m); fd >= 0) fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
        mysql_ = m;
        host_index_ = i;
        health_->markUp(i);
        if (ever_connected_) ++reconnects_;
        ever_connected_ = true;
        last_used_ = Clock::now();
        return {};
    }
    if (tried == 0) {
        last_errno_ = 0;
        return Error::unavailable("sql: all " + std::to_string(options_.hosts.size()) +
                                  " database host(s) marked down; next retry in " +
                                  std::to_string(health_->nextRetryIn(Clock::now()).count()) + " ms");
    }
    return Error::unavailable(std::move(last));
}

// Connects if needed. With check_idle, a connection idle for long is pinged
// first and replaced if it turns out to be dead (nothing has been sent yet).
Status Connection::ensureConnected(bool check_idle) {
    if (mysql_ != nullptr && check_idle && Clock::now() - last_used_ >= kPingWhenIdleFor) {
        if (mysql_ping(mysql_) == 0) {
            last_used_ = Clock::now();
            return {};
        }
        const unsigned e = mysql_errno(mysql_);
        if (!isConnectionLost(e)) {
            last_errno_ = e;
            return Error::internal("sql: ping: " + mysqlErrorText(e, mysql_sqlstate(mysql_), mysql_error(mysql_)));
        }
        const bool was_in_transaction = in_transaction_;
        const std::string text = mysqlErrorText(e, mysql_sqlstate(mysql_), mysql_error(mysql_));
        dropConnection();
        if (was_in_transaction) {
            last_errno_ = e;
            return Error::unavailable("sql: connection lost inside a transaction (rolled back by the server): " + text);
        }
    }
    if (mysql_ == nullptr) return connect();
    return {};
}

Error Connection::failureError(const Failure& f, std::string_view what) {
    last_errno_ = f.err;
    std::string m = "sql: ";
    m += what;
    if (mysql_ != nullptr) m += " on " + currentHost();
    m += ": ";
    m += f.text;
    if (f.err != 0 && isDataError(f.err)) return Error::invalidInput(std::move(m));
    if (f.err != 0 && (isTransient(f.err) || isConnectionLost(f.err))) return Error::unavailable(std::move(m));
    return Error::internal(std::move(m));
}

Result<QueryResult> Connection::execute(std::string_view sql, const std::vector<Value>& params,
                                        bool idempotent) {
    last_errno_ = 0;
    if (transaction_lost_) return transactionLost();
    for (int attempt = 0;; ++attempt) {
        if (auto st = ensureConnected(!idempotent); !st) return std::move(st).error();
        Failure f;
        const auto started = Clock::now();
        auto r = runPrepared(sql, params, f);
        if (r.ok()) {
            last_used_ = Clock::now();
            last_errno_ = 0;
            return r;
        }
        if (f.stage == Failure::Stage::None) return r;  // our own check (parameter count, ...)
        if (isConnectionLost(f.err)) {
            const bool was_in_transaction = in_transaction_;
            const std::string where = currentHost();
            dropConnection();
            last_errno_ = f.err;
            if (was_in_transaction) {
                return Error::unavailable("sql: connection to " + where +
                                          " lost inside a transaction (rolled back by the server): " + f.text);
            }
            // Connector/C reports a read/write timeout as a lost connection (2013);
            // the server is slow, not gone, so retrying would only double the wait.
            const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
            const auto timeout_ms = std::chrono::milliseconds(
                1000LL * std::min(wholeSeconds(options_.read_timeout), wholeSeconds(options_.write_timeout)));
            if (took + kTimeoutSlack >= timeout_ms) {
                return Error::unavailable("sql: query on " + where + " timed out after " +
                                          std::to_string(took.count()) + " ms: " + f.text);
            }
            const bool unsent = f.stage == Failure::Stage::Prepare;
            if (attempt == 0 && (idempotent || unsent)) continue;
            return Error::unavailable("sql: connection to " + where + " lost: " + f.text);
        }
        if (f.err == ER_NEED_REPREPARE && attempt == 0) {
            if (auto it = statements_.find(sql); it != statements_.end()) {
                mysql_stmt_close(it->second);
                statements_.erase(it);
            }
            continue;
        }
        Error e = failureError(f, "query");
        if (f.err == CR_COMMANDS_OUT_OF_SYNC) dropConnection();  // protocol state unknown: start afresh
        if (e.code == ErrorCode::Internal) {
            e.message += " [in: " + std::string(sql.substr(0, 120)) + (sql.size() > 120 ? "...]" : "]");
        }
        return e;
    }
}

Result<QueryResult> Connection::runPrepared(std::string_view sql, const std::vector<Value>& params,
                                            Failure& f) {
    auto stmtFailure = [&f](MYSQL_STMT* s, Failure::Stage stage) {
        f.stage = stage;
        f.err = mysql_stmt_errno(s);
        f.text = mysqlErrorText(f.err, mysql_stmt_sqlstate(s), mysql_stmt_error(s));
    };

    MYSQL_STMT* stmt = nullptr;
    if (auto it = statements_.find(sql); it != statements_.end()) {
        stmt = it->second;
    } else {
        stmt = mysql_stmt_init(mysql_);
        if (stmt == nullptr) {
            f.stage = Failure::Stage::Prepare;
            f.err = mysql_errno(mysql_);
            f.text = mysqlErrorText(f.err, mysql_sqlstate(mysql_), mysql_error(mysql_));
            return Error::internal(f.text);
        }
        if (mysql_stmt_prepare(stmt, sql.data(), static_cast<unsigned long>(sql.size())) != 0) {
            stmtFailure(stmt, Failure::Stage::Prepare);
            mysql_stmt_close(stmt);
            return Error::internal(f.text);
        }
        if (statements_.size() >= kMaxCachedStatements) {
            for (auto& [text, old] : statements_) mysql_stmt_close(old);
            statements_.clear();
        }
        statements_.emplace(std::string(sql), stmt);
    }

    const unsigned long expected = mysql_stmt_param_count(stmt);
    if (expected != params.size()) {
        last_errno_ = 0;
        return Error::internal("sql: statement expects " + std::to_string(expected) + " parameter(s), got " +
                               std::to_string(params.size()) + " [in: " + std::string(sql.substr(0, 120)) + "]");
    }
    std::vector<MYSQL_BIND> in(params.size());
    std::vector<unsigned long> in_lengths(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
        std::memset(&in[i], 0, sizeof(MYSQL_BIND));
        if (!params[i]) {
            in[i].buffer_type = MYSQL_TYPE_NULL;
            continue;
        }
        in_lengths[i] = static_cast<unsigned long>(params[i]->size());
        in[i].buffer_type = MYSQL_TYPE_STRING;
        in[i].buffer = const_cast<char*>(params[i]->data());
        in[i].buffer_length = in_lengths[i];
        in[i].length = &in_lengths[i];
    }
    if (!params.empty() && mysql_stmt_bind_param(stmt, in.data()) != 0) {
        stmtFailure(stmt, Failure::Stage::Execute);
        return Error::internal(f.text);
    }
    if (mysql_stmt_execute(stmt) != 0) {
        stmtFailure(stmt, Failure::Stage::Execute);
        return Error::internal(f.text);
    }

    QueryResult result;
    const unsigned columns = mysql_stmt_field_count(stmt);
    if (columns == 0) {
        result.affected_rows = mysql_stmt_affected_rows(stmt);
        result.insert_id = mysql_stmt_insert_id(stmt);
        return result;
    }
    if (mysql_stmt_store_result(stmt) != 0) {
        stmtFailure(stmt, Failure::Stage::Fetch);
        mysql_stmt_free_result(stmt);
        return Error::internal(f.text);
    }
    std::vector<MYSQL_BIND> out(columns);
    std::vector<std::string> buffers(columns, std::string(kColumnBuffer, '\0'));
    std::vector<unsigned long> lengths(columns);
    std::vector<my_bool> nulls(columns), truncated(columns);
    for (unsigned c = 0; c < columns; ++c) {
        std::memset(&out[c], 0, sizeof(MYSQL_BIND));
        out[c].buffer_type = MYSQL_TYPE_STRING;
        out[c].buffer = buffers[c].data();
        out[c].buffer_length = kColumnBuffer;
        out[c].length = &lengths[c];
        out[c].is_null = &nulls[c];
        out[c].error = &truncated[c];
    }
    if (mysql_stmt_bind_result(stmt, out.data()) != 0) {
        stmtFailure(stmt, Failure::Stage::Fetch);
        mysql_stmt_free_result(stmt);
        return Error::internal(f.text);
    }
    result.rows.reserve(static_cast<size_t>(mysql_stmt_num_rows(stmt)));
    for (;;) {
        const int rc = mysql_stmt_fetch(stmt);
        if (rc == MYSQL_NO_DATA) break;
        if (rc != 0 && rc != MYSQL_DATA_TRUNCATED) {
            stmtFailure(stmt, Failure::Stage::Fetch);
            mysql_stmt_free_result(stmt);
            return Error::internal(f.text);
        }
        Row row(columns);
        for (unsigned c = 0; c < columns; ++c) {
            if (nulls[c]) continue;
            if (lengths[c] <= kColumnBuffer) {
                row[c].emplace(buffers[c].data(), lengths[c]);
                continue;
            }
            std::string whole(lengths[c], '\0');
            unsigned long whole_length = 0;
            MYSQL_BIND b;
            std::memset(&b, 0, sizeof b);
            b.buffer_type = MYSQL_TYPE_STRING;
            b.buffer = whole.data();
            b.buffer_length = static_cast<unsigned long>(whole.size());
            b.length = &whole_length;
            if (mysql_stmt_fetch_column(stmt, &b, c, 0) != 0) {
                stmtFailure(stmt, Failure::Stage::Fetch);
                mysql_stmt_free_result(stmt);
                return Error::internal(f.text);
            }
            whole.resize(std::min<size_t>(whole_length, whole.size()));
            row[c] = std::move(whole);
        }
        result.rows.push_back(std::move(row));
    }
    mysql_stmt_free_result(stmt);
    // CALL of a procedure may leave further result sets: read and discard them.
    while (mysql_stmt_more_results(stmt)) {
        if (mysql_stmt_next_result(stmt) > 0) {
            stmtFailure(stmt, Failure::Stage::Fetch);
            return Error::internal(f.text);
        }
        mysql_stmt_free_result(stmt);
    }
    return result;
}

Status Connection::runSimple(const char* sql, bool retry_if_lost) {
    last_errno_ = 0;
    for (int attempt = 0;; ++attempt) {
        if (auto st = ensureConnected(true); !st) return st;
        if (mysql_real_query(mysql_, sql, static_cast<unsigned long>(std::strlen(sql))) == 0) {
            last_used_ = Clock::now();
            last_errno_ = 0;
            return {};
        }
        Failure f;
        f.stage = Failure::Stage::Execute;
        f.err = mysql_errno(mysql_);
        f.text = mysqlErrorText(f.err, mysql_sqlstate(mysql_), mysql_error(mysql_));
        if (isConnectionLost(f.err)) {
            const bool was_in_transaction = in_transaction_;
            const std::string where = currentHost();
            dropConnection();
            last_errno_ = f.err;
            if (attempt == 0 && retry_if_lost && !was_in_transaction) continue;
            return Error::unavailable(std::string("sql: ") + sql + ": connection to " + where + " lost" +
                                      (was_in_transaction ? " inside a transaction" : "") + ": " + f.text);
        }
        return failureError(f, sql);
    }
}

Error Connection::transactionLost() const {
    return Error::unavailable(
        "sql: the transaction was lost with its connection (rolled back by the server); "
        "call rollback() before using this connection again");
}

Status Connection::begin() {
    if (in_transaction_) return Error::internal("sql: begin() inside a transaction");
    transaction_lost_ = false;
    auto st = runSimple("START TRANSACTION", true);
    if (st) in_transaction_ = true;
    return st;
}

Status Connection::commit() {
    if (transaction_lost_) {
        transaction_lost_ = false;
        last_errno_ = 0;
        return Error::unavailable("sql: COMMIT: the transaction was lost with its connection");
    }
    auto st = runSimple("COMMIT", false);
    in_transaction_ = false;
    transaction_lost_ = false;
    return st;
}

Status Connection::rollback() {
    if (transaction_lost_) {  // the server already rolled it back
        transaction_lost_ = false;
        last_errno_ = 0;
        return {};
    }
    auto st = runSimple("ROLLBACK", false);
    in_transaction_ = false;
    transaction_lost_ = false;
    return st;
}

Status Connection::executeScript(std::string_view script) {
    last_errno_ = 0;
    if (transaction_lost_) return transactionLost();
    if (auto st = ensureConnected(true); !st) return st;
    auto fail = [this](const std::string& what) -> Status {
        Failure f;
        f.stage = Failure::Stage::Execute;
        f.err = mysql_errno(mysql_);
        f.text = mysqlErrorText(f.err, mysql_sqlstate(mysql_), mysql_error(mysql_));
        Error e = failureError(f, what);
        if (isConnectionLost(f.err)) dropConnection();
        return e;
    };
    if (mysql_set_server_option(mysql_, MYSQL_OPTION_MULTI_STATEMENTS_ON) != 0) {
        return fail("enabling multi-statements");
    }
    size_t number = 1;
    Status status;
    if (mysql_real_query(mysql_, script.data(), static_cast<unsigned long>(script.size())) != 0) {
        status = fail("script statement #1");
    } else {
        for (;;) {
            if (MYSQL_RES* res = mysql_store_result(mysql_)) {
                mysql_free_result(res);
            } else if (mysql_field_count(mysql_) != 0) {
                status = fail("script statement #" + std::to_string(number));
                break;
            }
            const int next = mysql_next_result(mysql_);
            if (next == -1) break;
            ++number;
            if (next > 0) {
                status = fail("script statement #" + std::to_string(number));
                break;
            }
        }
    }
    if (mysql_ != nullptr) {
        if (mysql_set_server_option(mysql_, MYSQL_OPTION_MULTI_STATEMENTS_OFF) != 0) {
            Status off = fail("disabling multi-statements");
            if (status.ok()) return off;
        } else {
            last_used_ = Clock::now();
        }
    }
    return status;
}

}  // namespace titan::sql
