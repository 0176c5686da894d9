// Database side of authd's security features: shared failure counters, login
// audit, last login, and the change log that drives cache invalidation.
// Writes are fire-and-forget with a bound on writes in flight (beyond it they are
// dropped and counted: a counter or audit write must never delay or decide an
// authentication). Audit events and last logins are written behind: one transaction
// at a time carries what gathered for up to kLoginLinger or kMaxBatchRows rows (one
// InnoDB commit for many logins), with a bound on what may wait. Reads complete on the loop
// thread. Layer: authd/store.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "authd/core/throttle.h"
#include "common/base/result.h"
#include "common/event/loop.h"
#include "common/metrics/metrics.h"
#include "common/sql/pool.h"

namespace titan::authd::store {

struct AuthEvent {
    std::string service;
    std::string user;
    std::string remote_ip;
    std::string result;  // ok, failed, disabled, service_disabled, throttled, tempfail
    std::string reason;
};

struct SharedFailure {
    core::Scope scope;
    std::string subject;
    unsigned failures;
    long long age_ms;  // since the last failure
};

struct Change {
    unsigned long long id;
    std::string user;  // canonical user, or "@domain"
};

class SecurityStore {
public:
    SecurityStore(sql::Pool& pool, metrics::Registry& metrics, std::string node, size_t max_writes_in_flight);

    void recordFailure(const std::string& ip, const std::string& user, std::chrono::milliseconds window);
    void audit(const AuthEvent& event);
    void lastLogin(const std::string& user, const std::string& service, const std::string& ip);

    using FailuresDone = std::function<void(Result<std::vector<SharedFailure>>)>;
    // Keys with at least `min_failures` whose last failure is within `recent`.
    void fetchFailures(unsigned min_failures, std::chrono::milliseconds recent, FailuresDone done);

    using ChangesDone = std::function<void(Result<std::vector<Change>>)>;
    // Changes with id > after (at most `limit`), ascending.
    void fetchChanges(unsigned long long after, size_t limit, ChangesDone done);
    using MaxIdDone = std::function<void(Result<unsigned long long>)>;
    void fetchLastChangeId(MaxIdDone done);
    // Delete change-log rows older than `age` (bounded batch).
    void pruneChanges(std::chrono::milliseconds age);

    void setAuditEnabled(bool on) { audit_enabled_ = on; }

    // Rows that may wait for the write-behind transaction; beyond, new ones are dropped
    // (and counted). Also the most rows one transaction carries of each kind.
    static constexpr size_t kMaxPendingLogins = 10000;
    static constexpr size_t kMaxBatchRows = 256;
    static constexpr std::chrono::milliseconds kLoginLinger{50};

private:
    void write(std::string sql, std::vector<sql::Value> params);
    void flushLogins();      // starts the linger (or, with a full batch, the write)
    void writeLogins();      // one transaction now

    std::vector<AuthEvent> audit_pending_;
    std::map<std::pair<std::string, std::string>, std::string> last_pending_;  // (user, service) -> ip
    bool logins_in_flight_ = false;
    std::unique_ptr<event::Timer> linger_;  // one-shot; replaced when armed again
    bool linger_armed_ = false;

    sql::Pool& pool_;
    std::string node_;
    size_t max_in_flight_;
    size_t in_flight_ = 0;
    bool audit_enabled_ = true;
    metrics::Counter& dropped_;
    metrics::Counter& failed_;
};

}  // namespace titan::authd::store
