#include "replicator/core/peer_health.h"

#include <algorithm>
#include <cmath>

namespace titan::replicator::core {
namespace {

std::chrono::milliseconds jittered(std::chrono::milliseconds base, double jitter, double random01) {
    jitter = std::clamp(jitter, 0.0, 1.0);
    random01 = std::clamp(random01, 0.0, 1.0);
    double factor = 1.0 - jitter + 2.0 * jitter * random01;
    return std::chrono::milliseconds(static_cast<long long>(std::llround(static_cast<double>(base.count()) * factor)));
}

}  // namespace

const char* stateName(PeerHealth::State s) noexcept {
    switch (s) {
        case PeerHealth::State::Closed: return "closed";
        case PeerHealth::State::Open: return "open";
        case PeerHealth::State::HalfOpen: return "half-open";
    }
    return "closed";
}

bool PeerHealth::allows(Time now, std::size_t running) {
    if (state_ == State::Open) {
        if (now < open_until_) return false;
        state_ = State::HalfOpen;
    }
    if (state_ == State::HalfOpen) return running == 0;
    return true;
}

void PeerHealth::onSuccess() {
    state_ = State::Closed;
    failures_ = 0;
    backoff_ = settings_.backoff_initial;
}

void PeerHealth::onFailure(Time now, double random01) {
    ++failures_;
    if (state_ == State::HalfOpen || failures_ >= settings_.failure_threshold || state_ == State::Open) {
        auto wait = jittered(backoff_, settings_.jitter, random01);
        open_until_ = std::max(open_until_, now + wait);
        state_ = State::Open;
        backoff_ = std::min(backoff_ * 2, settings_.backoff_max);
    }
}

std::chrono::milliseconds retryDelay(unsigned failures, std::chrono::milliseconds initial,
                                     std::chrono::milliseconds max, double jitter, double random01) {
    if (failures == 0) failures = 1;
    auto d = initial;
    for (unsigned i = 1; i < failures && d < max; ++i) d *= 2;
    d = std::min(d, max);
    return jittered(d, jitter, random01);
}

}  // namespace titan::replicator::core
