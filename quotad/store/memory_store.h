// In-memory quotad Store for unit tests: the same semantics as MysqlStore (one batch is
// atomic, rows written only on success), completions on the next loop turn, and fault
// injection (fail, or leave a commit's outcome uncertain). Layer: quotad/store.
#pragma once

#include <memory>
#include <vector>

#include "common/event/loop.h"
#include "quotad/store/store.h"

namespace titan::quotad::store {

class MemoryStore : public Store {
public:
    explicit MemoryStore(event::Loop& loop) : loop_(loop) {}

    // ---- test data -----------------------------------------------------------------
    void putRow(const std::string& user, core::Row row) { rows_[user] = row; }
    void eraseRow(const std::string& user) { rows_.erase(user); }
    const std::map<std::string, core::Row>& rows() const noexcept { return rows_; }
    void putMailbox(const std::string& user, core::Limits limits) { mailboxes_[user] = limits; }
    void putAlias(const std::string& source, const std::string& destination) {
        aliases_[source].push_back(destination);
    }
    void putAliasDomain(const std::string& alias, const std::string& target) { alias_domains_[alias] = target; }

    // ---- fault injection --------------------------------------------------------------
    // Every call fails with Unavailable while down.
    void setDownForTest(bool down) { down_ = down; }
    // The next applyCommits writes its rows but reports an uncertain outcome.
    void uncertainNextCommitForTest() { uncertain_next_ = true; }
    // Hold completions until releaseForTest() (to test ordering and batching).
    void holdForTest(bool hold) { hold_ = hold; }
    void releaseForTest();

    // ---- what the service asked for ---------------------------------------------------
    std::vector<std::size_t> commitBatchSizes;  // commits per applyCommits call
    std::vector<std::size_t> readBatchSizes;    // users per fetchRows call
    std::vector<std::size_t> factsBatchSizes;   // addresses per fetchAddressFacts call
    unsigned long long calls = 0;

    void fetchRows(std::vector<std::string> users, RowsDone done) override;
    void applyCommits(std::vector<core::CommitRequest> batch, std::shared_ptr<const core::WarningRules> rules,
                      CommitDone done) override;
    void markUnknown(std::vector<std::string> users, StatusDone done) override;
    void fetchAddressFacts(std::vector<std::string> addresses, FactsDone done) override;

private:
    void complete(std::function<void()> fn);

    event::Loop& loop_;
    std::map<std::string, core::Row> rows_;
    std::map<std::string, core::Limits> mailboxes_;
    std::map<std::string, std::vector<std::string>> aliases_;
    std::map<std::string, std::string> alias_domains_;
    bool down_ = false;
    bool uncertain_next_ = false;
    bool hold_ = false;
    std::vector<std::function<void()>> held_;
};

}  // namespace titan::quotad::store
