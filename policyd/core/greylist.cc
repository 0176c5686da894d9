#include "policyd/core/greylist.h"

namespace titan::policyd::core {

GreylistDecision decideGreylist(const GreylistParams& p, const std::optional<TripletState>& triplet,
                                const ClientState& client, std::int64_t now) {
    GreylistDecision d;
    if (client.allowed_until > now) {
        d.verdict = GreylistVerdict::AutoAllowed;
        d.reason = "auto_allowed";
        d.write_triplet = false;
        if (triplet) d.triplet = *triplet;
        return d;
    }
    const std::int64_t delay = p.delay.count();
    auto fresh = [&](const char* reason) {
        d.verdict = GreylistVerdict::Defer;
        d.reason = reason;
        d.triplet = TripletState{now, now, 0, 1};
        d.retry_in = p.delay;
        return d;
    };
    if (!triplet || triplet->first_seen == 0) return fresh("new");
    const TripletState& t = *triplet;
    if (now - t.last_seen > p.expire.count()) return fresh("new");
    if (t.passed_at != 0) {
        d.verdict = GreylistVerdict::Pass;
        d.reason = "known";
        d.triplet = t;
        d.triplet.last_seen = now;
        d.triplet.attempts = t.attempts + 1;
        return d;
    }
    const std::int64_t elapsed = now - t.first_seen;
    if (elapsed < delay) {
        d.verdict = GreylistVerdict::Defer;
        d.reason = "early";
        d.triplet = t;
        d.triplet.last_seen = now;
        d.triplet.attempts = t.attempts + 1;
        d.retry_in = std::chrono::milliseconds(delay - elapsed);
        return d;
    }
    if (elapsed > delay + p.retry_window.count()) return fresh("restarted");
    d.verdict = GreylistVerdict::Pass;
    d.reason = "retry";
    d.triplet = t;
    d.triplet.last_seen = now;
    d.triplet.passed_at = now;
    d.triplet.attempts = t.attempts + 1;
    d.first_pass = true;
    return d;
}

ClientState recordPass(const GreylistParams& p, ClientState client, std::int64_t now) {
    if (client.passes < UINT32_MAX) ++client.passes;
    if (p.auto_allow_after > 0 && client.passes >= p.auto_allow_after) {
        client.allowed_until = now + p.auto_allow_ttl.count();
    }
    return client;
}

}  // namespace titan::policyd::core
