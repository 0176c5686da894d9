// One Postfix policy-delegation connection to quotad (check_policy_service at RCPT time).
// Requests are decoded with the shared codec (common/proto/postfix_policy); each gets
// exactly one reply, in order, and the connection stays open. Only RCPT requests are
// checked: every other state, an empty or malformed recipient and an address that reaches
// no mailbox get DUNNO at once (existence is not quotad's business). A database failure
// gets the configured backend_failure action (default DEFER_IF_PERMIT). A malformed
// request is a logged disconnect, as the protocol prescribes. Loop thread only.
// Layer: quotad/server.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>

#include "common/event/line_server.h"
#include "common/metrics/metrics.h"
#include "common/proto/postfix_policy/policy.h"
#include "quotad/service/policy_service.h"

namespace titan::quotad {

struct PolicyReplies {
    std::string accept = "DUNNO";
    std::string no_mailbox = "DUNNO";
    std::string over_quota = "452 4.2.2 Mailbox is full";
    std::string too_large = "552 5.2.2 Message is larger than the mailbox quota";
    std::string backend_failure = "DEFER_IF_PERMIT Quota service temporarily unavailable";
};

struct PolicySettings {
    proto::policy::PolicyLimits limits;
    std::shared_ptr<const CheckSettings> check = std::make_shared<CheckSettings>();
    PolicyReplies replies;
    bool log_decisions = true;  // one info line per refused recipient
};

struct PolicyMetrics {
    explicit PolicyMetrics(metrics::Registry& r);
    // quotad_policy_requests_total{result}, resolved once per label (loop thread).
    metrics::Counter& request(const char* result);
    metrics::Registry& registry;
    std::map<const char*, metrics::Counter*> requests;
    metrics::Counter& protocol_errors;
    metrics::Histogram& check_seconds;
};

class PolicySession : public event::LineHandler {
public:
    PolicySession(event::LineConnection& conn, PolicyService& service, std::shared_ptr<const PolicySettings> settings,
                  PolicyMetrics& metrics);

    void onLine(std::string_view line) override;
    size_t pending() const override { return slots_.size(); }
    void onClose(event::DisconnectReason reason) override;

private:
    struct Slot {
        bool ready = false;
        std::string reply;
    };
    void handle(const proto::policy::PolicyRequest& request);
    void answer(const std::shared_ptr<Slot>& slot, const std::string& action, const char* result);
    void flush();

    event::LineConnection& conn_;
    PolicyService& service_;
    std::shared_ptr<const PolicySettings> settings_;
    PolicyMetrics& metrics_;
    proto::policy::Decoder decoder_;
    std::deque<std::shared_ptr<Slot>> slots_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    bool flushing_ = false;
};

}  // namespace titan::quotad
