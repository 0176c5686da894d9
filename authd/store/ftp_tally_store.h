// FTP transfer tallies (table ftp_quota_tallies) shared by every FTP server: read one
// user's tally, or add deltas and read the result back. Completions run on the loop
// thread, never inside the call. A user without a row has an all-zero tally.
// Layer: authd/store.
#pragma once

#include <functional>
#include <string>

#include "authd/core/ftp.h"
#include "common/base/result.h"
#include "common/sql/pool.h"

namespace titan::authd::store {

class FtpTallyStore {
public:
    virtual ~FtpTallyStore() = default;
    using Done = std::function<void(Result<core::FtpTally>)>;
    // The tally of a canonical user (zeros when there is no row). Errors: Unavailable.
    virtual void fetchTally(const std::string& user, Done done) = 0;
    // Add `delta` (each field may be negative) atomically and return the new tally.
    // Errors: Unavailable.
    virtual void storeTallyDelta(const std::string& user, const core::FtpTally& delta, Done done) = 0;
};

class MysqlFtpTallyStore : public FtpTallyStore {
public:
    explicit MysqlFtpTallyStore(sql::Pool& pool) : pool_(pool) {}
    void fetchTally(const std::string& user, Done done) override;
    void storeTallyDelta(const std::string& user, const core::FtpTally& delta, Done done) override;

private:
    sql::Pool& pool_;
};

}  // namespace titan::authd::store
