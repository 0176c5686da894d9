// One Dovecot dict-protocol connection to quotad: the quota `dict` backend of Dovecot 2.3
// (lookups, transactions with S/U/A/T, commit) and quota_clone writes (2.3 and 2.4, majors
// 3 and 4). Replies go out in request order (the simple mode every client accepts).
// A lookup waits for this connection's earlier commits, so a client reads its own writes.
// Only priv/quota/storage and priv/quota/messages are stored: a lookup of any other key is
// N, a transaction writing one fails at commit. Loop thread only. Layer: quotad/server.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/event/line_server.h"
#include "common/identity/identity.h"
#include "common/metrics/metrics.h"
#include "common/proto/dovecot_dict/dict.h"
#include "quotad/service/usage_service.h"

namespace titan::quotad {

struct DictSettings {
    proto::dict::DictLimits limits;
    identity::Options identity;
    std::size_t max_transactions = 64;          // open transaction ids per connection
    std::size_t max_ops_per_transaction = 1000; // S/U/A lines in one transaction
};

struct DictMetrics {
    explicit DictMetrics(metrics::Registry& r);
    // quotad_dict_requests_total{kind,result}, resolved once per label pair (loop thread).
    metrics::Counter& request(const char* kind, const char* result);
    metrics::Registry& registry;
    std::map<std::pair<const char*, const char*>, metrics::Counter*> requests;
    metrics::Counter& protocol_errors;
    metrics::Histogram& lookup_seconds;
    metrics::Histogram& commit_seconds;
};

class DictSession : public event::LineHandler {
public:
    DictSession(event::LineConnection& conn, UsageService& usage, std::shared_ptr<const DictSettings> settings,
                DictMetrics& metrics);

    void onLine(std::string_view line) override;
    size_t pending() const override { return slots_.size(); }
    void onOutputDrained() override { flush(); }
    void onClose(event::DisconnectReason reason) override;

private:
    struct Slot {
        bool ready = false;
        std::string reply;
    };
    struct Transaction {
        std::string user;     // canonical; empty when the B line had none
        std::string failure;  // set: the commit answers F with this text
        std::vector<core::Op> ops;
    };
    struct DeferredLookup {
        std::shared_ptr<Slot> slot;
        std::string user;
        core::Resource resource;
    };

    void protocolError(const std::string& reason);
    void handleLookup(const proto::dict::Lookup& cmd);
    void startLookup(const std::shared_ptr<Slot>& slot, const std::string& user, core::Resource resource);
    void handleIterate(const proto::dict::Iterate& cmd);
    void handleTransaction(const proto::dict::Command& cmd);
    void handleCommit(std::uint32_t id, bool async);
    void answer(const std::shared_ptr<Slot>& slot, std::string reply);
    void flush();
    void count(const char* kind, const char* result);

    event::LineConnection& conn_;
    UsageService& usage_;
    std::shared_ptr<const DictSettings> settings_;
    DictMetrics& metrics_;
    bool hello_done_ = false;
    int major_ = 3;
    std::deque<std::shared_ptr<Slot>> slots_;
    std::map<std::uint32_t, Transaction> transactions_;
    std::size_t commits_in_flight_ = 0;
    std::vector<DeferredLookup> deferred_;  // lookups waiting for earlier commits
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    bool flushing_ = false;
};

}  // namespace titan::quotad
