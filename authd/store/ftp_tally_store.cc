#include "authd/store/ftp_tally_store.h"

#include "common/base/strings.h"

namespace titan::authd::store {
namespace {

constexpr const char* kSelect =
    "SELECT bytes_in_used, bytes_out_used, bytes_xfer_used, files_in_used, files_out_used, files_xfer_used"
    " FROM ftp_quota_tallies WHERE username = ?";

Result<core::FtpTally> readTally(sql::Connection& c, const std::string& user) {
    auto r = c.execute(kSelect, {user});
    if (!r) return std::move(r).error();
    core::FtpTally t;
    if (r->rows.empty()) return t;
    const auto& row = r->rows.front();
    if (row.size() != 6) return Error::internal("ftp_quota_tallies row has the wrong number of columns");
    int64_t* fields[] = {&t.bytes_in, &t.bytes_out, &t.bytes_xfer, &t.files_in, &t.files_out, &t.files_xfer};
    for (size_t i = 0; i < 6; ++i) {
        auto n = base::parseSigned(row[i].value_or("0"));
        if (!n) return Error::internal("non-numeric value in ftp_quota_tallies row");
        *fields[i] = *n;
    }
    return t;
}

}  // namespace

void MysqlFtpTallyStore::fetchTally(const std::string& user, Done done) {
    pool_.submit<core::FtpTally>([user](sql::Connection& c) { return readTally(c, user); }, std::move(done));
}

void MysqlFtpTallyStore::storeTallyDelta(const std::string& user, const core::FtpTally& d, Done done) {
    pool_.submit<core::FtpTally>(
        [user, d](sql::Connection& c) -> Result<core::FtpTally> {
            std::vector<sql::Value> params{user};
            for (int64_t v : {d.bytes_in, d.bytes_out, d.bytes_xfer, d.files_in, d.files_out, d.files_xfer}) {
                params.emplace_back(std::to_string(v));
            }
            // Deltas, never absolute values: two servers updating at once both count.
            auto w = c.execute(
                "INSERT INTO ftp_quota_tallies (username, bytes_in_used, bytes_out_used, bytes_xfer_used,"
                " files_in_used, files_out_used, files_xfer_used) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON DUPLICATE KEY UPDATE bytes_in_used = bytes_in_used + VALUES(bytes_in_used),"
                " bytes_out_used = bytes_out_used + VALUES(bytes_out_used),"
                " bytes_xfer_used = bytes_xfer_used + VALUES(bytes_xfer_used),"
                " files_in_used = files_in_used + VALUES(files_in_used),"
                " files_out_used = files_out_used + VALUES(files_out_used),"
                " files_xfer_used = files_xfer_used + VALUES(files_xfer_used)",
                params, false);
            if (!w) return std::move(w).error();
            return readTally(c, user);
        },
        std::move(done));
}

}  // namespace titan::authd::store
