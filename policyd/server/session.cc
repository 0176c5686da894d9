#include "policyd/server/session.h"

#include "common/log/log.h"

namespace titan::policyd {

namespace policy = proto::policy;

SessionMetrics::SessionMetrics(metrics::Registry& r)
    : registry(r),
      protocol_errors(r.counter("policyd_protocol_errors_total", "Connections closed because of a malformed request")),
      duration(r.histogram("policyd_request_duration_seconds", "Time from a complete request to its reply")) {}

void SessionMetrics::request(policy::ProtocolState state) {
    registry
        .counter("policyd_requests_total", "Policy requests by protocol_state",
                 std::string("state=\"") + policy::protocolStateName(state) + "\"")
        .inc();
}

PolicySession::PolicySession(event::LineConnection& conn, Evaluator& evaluator,
                             const std::shared_ptr<const SessionSettings>& settings, SessionMetrics& metrics)
    : conn_(conn), evaluator_(evaluator), settings_(settings), metrics_(metrics), decoder_(settings->limits) {}

void PolicySession::onClose(event::DisconnectReason /*reason*/) { *alive_ = false; }

void PolicySession::protocolError(const std::string& reason) {
    metrics_.protocol_errors.inc();
    log::warning("policy protocol error, disconnecting without a reply",
                 {{"conn.id", conn_.id()}, {"peer", conn_.peer()}, {"reason", reason}});
    conn_.close(event::DisconnectReason::ProtocolError);
}

void PolicySession::onLine(std::string_view line) {
    auto r = decoder_.addLine(line);
    if (std::holds_alternative<policy::NeedMore>(r)) return;
    if (auto* err = std::get_if<policy::ProtocolError>(&r)) {
        protocolError(err->reason);
        return;
    }
    handle(std::get<policy::Request>(std::move(r)));
}

void PolicySession::handle(policy::Request request) {
    auto typed = policy::parseRequest(request);
    if (auto* err = std::get_if<policy::ProtocolError>(&typed)) {
        protocolError(err->reason);
        return;
    }
    const auto& req = std::get<policy::PolicyRequest>(typed);
    metrics_.request(req.protocol_state);
    const auto settings = settings_;  // this request's snapshot
    const auto& policy_settings = settings->policy;

    transaction_.setMaxRecipients(policy_settings->max_transaction_recipients);
    auto facts = core::makeFacts(req, policy_settings->engine, transaction_.recipientsFor(req.instance));
    const policy::ProtocolState protocol_state = req.protocol_state;
    std::string recipient = facts.recipient_key;
    busy_ = true;
    const auto started = std::chrono::steady_clock::now();
    std::weak_ptr<bool> alive = alive_;
    const DecisionLog log_mode = policy_settings->log_decisions;
    // Fields for the decision log line (copied: the facts move into the evaluator).
    const std::string state = req.protocol_state_text, client = req.client_address, user = facts.sasl_user,
                      sender = req.sender, rcpt_text = req.recipient;
    evaluator_.evaluate(policy_settings, std::move(facts),
                        [this, alive, started, protocol_state, recipient, log_mode, state, client, user, sender,
                         rcpt_text](Decision d) {
                            if (alive.expired() || !*alive.lock()) return;
                            metrics_.duration.observe(
                                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
                            transaction_.record(protocol_state, recipient, d.action);
                            const bool refusal = d.action != "DUNNO";
                            if (log_mode == DecisionLog::All || (log_mode == DecisionLog::Refusals && refusal)) {
                                log::info("policy decision", {{"conn.id", conn_.id()},
                                                              {"protocol_state", state},
                                                              {"client.address", client},
                                                              {"sasl.username", user},
                                                              {"sender", sender},
                                                              {"recipient", rcpt_text},
                                                              {"rule", d.rule},
                                                              {"policy.action", d.action},
                                                              {"reason", d.reason}});
                            }
                            conn_.write(policy::encodeReply(d.action));
                            busy_ = false;
                            conn_.resume();
                        });
}

}  // namespace titan::policyd
