// One Dovecot dict-protocol connection to authd (passdb/userdb `dict` driver,
// protocol major 3 as Dovecot 2.3.19 sends). Replies go out in request order
// (the simple mode every 2.3 client accepts), even though lookups finish out of
// order. authd's dict is read-only: transactions are tracked for protocol
// correctness and their commits answered with a failure.
// Loop thread only. Layer: authd/server.
#pragma once

#include <deque>
#include <memory>
#include <set>
#include <string>

#include "authd/core/auth_dict.h"
#include "authd/service/user_lookup.h"
#include "common/event/line_server.h"
#include "common/metrics/metrics.h"
#include "common/proto/dovecot_dict/dict.h"

namespace titan::authd {

struct DictSettings {
    proto::dict::DictLimits limits;
    core::UserdbDefaults userdb_defaults;
    size_t iterate_page = 1000;     // users fetched per database query while iterating
    size_t max_transactions = 64;   // open transaction ids per connection
};

struct DictMetrics {
    explicit DictMetrics(metrics::Registry& r);
    metrics::Registry& registry;
    metrics::Counter& protocol_errors;
    metrics::Histogram& lookup_seconds;
    metrics::Counter& iterated_users;
};

class DictSession : public event::LineHandler {
public:
    DictSession(event::LineConnection& conn, UserLookup& lookup, store::Store& store,
                std::shared_ptr<const DictSettings> settings, DictMetrics& metrics);

    void onLine(std::string_view line) override;
    size_t pending() const override { return slots_.size(); }
    void onOutputDrained() override { flush(); }
    void onClose(event::DisconnectReason reason) override;

private:
    struct Iteration {
        std::string cursor;
        uint64_t max_rows = 0;
        uint64_t sent = 0;
        bool keys_only = false;
        bool fetching = false;
        bool started = false;
    };
    struct Slot {
        bool ready = false;
        std::string reply;
        std::unique_ptr<Iteration> iteration;  // streaming user list while at the head
    };

    void protocolError(const std::string& reason);
    void handleLookup(const proto::dict::Lookup& cmd);
    void handleIterate(const proto::dict::Iterate& cmd);
    void handleTransaction(const proto::dict::Command& cmd);
    void answer(const std::shared_ptr<Slot>& slot, std::string reply);
    void flush();
    void driveIteration(const std::shared_ptr<Slot>& slot);
    void count(const char* kind, const char* result);

    event::LineConnection& conn_;
    UserLookup& lookup_;
    store::Store& store_;
    std::shared_ptr<const DictSettings> settings_;
    DictMetrics& metrics_;
    bool hello_done_ = false;
    int major_ = 3;
    std::deque<std::shared_ptr<Slot>> slots_;
    std::set<uint32_t> transactions_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    bool flushing_ = false;
};

}  // namespace titan::authd
