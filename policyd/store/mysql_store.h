// MariaDB-backed policyd Store: prepared statements on common/sql's worker pool, so the
// event loop never waits on the database. Row locks (taken in one global key order) make
// the end-of-message charge and the greylist update atomic across policyd nodes; a
// deadlock or lock wait timeout is retried up to twice. Subjects longer than the columns
// are truncated (collisions only between keys sharing a 500-byte prefix).
// Layer: policyd/store.
#pragma once

#include "common/sql/pool.h"
#include "policyd/store/store.h"

namespace titan::policyd::store {

class MysqlStore : public Store {
public:
    explicit MysqlStore(sql::Pool& pool) : pool_(pool) {}

    void fetchCounters(std::vector<CounterKey> keys, Done<std::map<CounterKey, CounterState>> done) override;
    void greylist(GreylistRequest request, Done<GreylistResult> done) override;
    void endOfMessage(EomJob job, Done<EomResult> done) override;
    void fetchSenderLogins(std::string user, Done<std::vector<std::string>> done) override;
    void fetchLists(Done<std::vector<ListRow>> done) override;
    void fetchHolds(Done<std::vector<HoldRow>> done) override;
    void cleanup(std::int64_t now, std::int64_t activity_before, Done<std::uint64_t> done) override;

    // The job bodies, on a caller-owned connection (exposed for store tests).
    static Result<std::map<CounterKey, CounterState>> fetchCountersOn(sql::Connection& c,
                                                                      const std::vector<CounterKey>& keys);
    static Result<GreylistResult> greylistOn(sql::Connection& c, const GreylistRequest& request);
    static Result<EomResult> endOfMessageOn(sql::Connection& c, const EomJob& job);

private:
    sql::Pool& pool_;
};

}  // namespace titan::policyd::store
