#include "quotad/server/policy_session.h"

#include <chrono>

#include "common/log/log.h"

namespace titan::quotad {

namespace policy = proto::policy;

PolicyMetrics::PolicyMetrics(metrics::Registry& r)
    : registry(r),
      protocol_errors(r.counter("quotad_policy_protocol_errors_total",
                                "Policy connections closed because of a malformed request")),
      check_seconds(r.histogram("quotad_policy_check_duration_seconds", "Time to answer one RCPT quota check")) {}

PolicySession::PolicySession(event::LineConnection& conn, PolicyService& service,
                             std::shared_ptr<const PolicySettings> settings, PolicyMetrics& metrics)
    : conn_(conn), service_(service), settings_(std::move(settings)), metrics_(metrics), decoder_(settings_->limits) {}

void PolicySession::onClose(event::DisconnectReason /*reason*/) {
    *alive_ = false;
    slots_.clear();
}

void PolicySession::onLine(std::string_view line) {
    auto decoded = decoder_.addLine(line);
    if (std::holds_alternative<policy::NeedMore>(decoded)) return;
    if (auto* err = std::get_if<policy::ProtocolError>(&decoded)) {
        metrics_.protocol_errors.inc();
        log::warning("policy protocol error, disconnecting",
                     {{"conn.id", conn_.id()}, {"peer", conn_.peer()}, {"reason", err->reason}});
        conn_.close(event::DisconnectReason::ProtocolError);
        return;
    }
    auto typed = policy::parseRequest(std::get<policy::Request>(decoded));
    if (auto* err = std::get_if<policy::ProtocolError>(&typed)) {
        metrics_.protocol_errors.inc();
        log::warning("policy request refused, disconnecting",
                     {{"conn.id", conn_.id()}, {"peer", conn_.peer()}, {"reason", err->reason}});
        conn_.close(event::DisconnectReason::ProtocolError);
        return;
    }
    handle(std::get<policy::PolicyRequest>(typed));
}

void PolicySession::handle(const policy::PolicyRequest& request) {
    auto slot = std::make_shared<Slot>();
    slots_.push_back(slot);
    // Quota is a per-recipient question: other states (END-OF-MESSAGE with several
    // recipients, CONNECT, MAIL, ...) have no recipient to judge.
    if (request.protocol_state != policy::ProtocolState::Rcpt) {
        answer(slot, "DUNNO", "not_rcpt");
        return;
    }
    if (request.recipient.empty()) {
        answer(slot, "DUNNO", "no_recipient");
        return;
    }
    auto started = std::chrono::steady_clock::now();
    std::weak_ptr<bool> alive = alive_;
    auto settings = settings_;
    const std::string recipient = request.recipient;
    const std::uint64_t size = request.size;
    service_.check(recipient, size, settings->check, [this, alive, slot, settings, started, recipient, size](Result<CheckResult> r) {
        if (alive.expired() || !*alive.lock()) return;
        metrics_.check_seconds.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        const auto& replies = settings->replies;
        if (!r) {
            log::warning("quota check failed, answering the backend_failure action",
                         {{"recipient", recipient}, {"error", r.error().message}});
            answer(slot, replies.backend_failure, "backend_failure");
            return;
        }
        if (r->malformed) {
            answer(slot, "DUNNO", "malformed");
            return;
        }
        if (r->truncated) {
            log::warning("alias expansion stopped at its limit", {{"recipient", r->address}});
        }
        switch (r->decision.verdict) {
            case core::Verdict::Accept:
                answer(slot, replies.accept, "accept");
                break;
            case core::Verdict::NoMailbox:
                answer(slot, replies.no_mailbox, "no_mailbox");
                break;
            case core::Verdict::OverQuota:
            case core::Verdict::TooLarge: {
                const bool large = r->decision.verdict == core::Verdict::TooLarge;
                if (settings->log_decisions) {
                    log::info(large ? "recipient refused: message larger than the quota" : "recipient refused: over quota",
                              {{"recipient", r->address},
                               {"mailbox", r->decision.user},
                               {"resource", r->decision.resource ? core::resourceName(*r->decision.resource) : ""},
                               {"size", static_cast<unsigned long long>(size)}});
                }
                answer(slot, large ? replies.too_large : replies.over_quota, large ? "too_large" : "over_quota");
                break;
            }
        }
    });
}

metrics::Counter& PolicyMetrics::request(const char* result) {
    auto& slot = requests[result];
    if (slot == nullptr) {
        slot = &registry.counter("quotad_policy_requests_total", "Policy requests answered, by result",
                                 std::string("result=\"") + result + "\"");
    }
    return *slot;
}

void PolicySession::answer(const std::shared_ptr<Slot>& slot, const std::string& action, const char* result) {
    metrics_.request(result).inc();
    slot->reply = policy::encodeReply(action);
    slot->ready = true;
    flush();
}

void PolicySession::flush() {
    if (flushing_) return;
    flushing_ = true;
    bool popped = false;
    while (!slots_.empty() && !conn_.closing() && slots_.front()->ready) {
        conn_.write(slots_.front()->reply);
        slots_.pop_front();
        popped = true;
    }
    flushing_ = false;
    if (popped) conn_.resume();
}

}  // namespace titan::quotad
