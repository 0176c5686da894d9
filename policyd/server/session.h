// One Postfix policy-delegation connection: decodes requests with the shared codec, keeps
// the current mail transaction's recipients (per `instance`, so END-OF-MESSAGE knows the
// recipient domains Postfix no longer sends), asks the Evaluator and writes exactly one
// reply per request, in order. A malformed request is logged and the connection closed
// without a reply, as the protocol prescribes (Postfix retries, then applies its
// default_action). Loop thread only. Layer: policyd/server.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/event/line_server.h"
#include "common/metrics/metrics.h"
#include "common/proto/postfix_policy/policy.h"
#include "policyd/service/evaluator.h"

namespace titan::policyd {

struct SessionMetrics {
    explicit SessionMetrics(metrics::Registry& registry);
    metrics::Registry& registry;
    metrics::Counter& protocol_errors;
    metrics::Histogram& duration;
    void request(proto::policy::ProtocolState state);
};

// Settings a session reads; swapped as a whole on reload.
struct SessionSettings {
    std::shared_ptr<const PolicySettings> policy;
    proto::policy::PolicyLimits limits;
};

class PolicySession : public event::LineHandler {
public:
    PolicySession(event::LineConnection& conn, Evaluator& evaluator,
                  const std::shared_ptr<const SessionSettings>& settings, SessionMetrics& metrics);

    void onLine(std::string_view line) override;
    std::size_t pending() const override { return busy_ ? 1 : 0; }
    void onClose(event::DisconnectReason reason) override;

private:
    void handle(proto::policy::Request request);
    void protocolError(const std::string& reason);

    event::LineConnection& conn_;
    Evaluator& evaluator_;
    const std::shared_ptr<const SessionSettings>& settings_;  // owned by main; re-read per request
    SessionMetrics& metrics_;
    proto::policy::Decoder decoder_;
    bool busy_ = false;
    core::TransactionTracker transaction_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace titan::policyd
