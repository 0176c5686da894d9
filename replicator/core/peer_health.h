// Per-peer health for the replicator's scheduler: a circuit breaker with exponential
// backoff and jitter, and the per-user retry backoff. Pure decisions: no clock reads
// (callers pass `now`), no randomness (callers pass a uniform value in [0, 1)), no
// logging. Layer: replicator/core (standard library + queue types).
//
// Breaker states:
//   Closed    syncs run; `failure_threshold` consecutive peer failures open it
//   Open      nothing runs until open_until, then one probe (HalfOpen)
//   HalfOpen  one sync at a time; success closes, failure re-opens with the backoff
//             doubled (up to backoff_max)
// A success in any state closes the breaker and resets the backoff.
#pragma once

#include <chrono>
#include <cstddef>

#include "replicator/queue/queue.h"

namespace titan::replicator::core {

using queue::Time;

struct BreakerSettings {
    unsigned failure_threshold = 3;
    std::chrono::milliseconds backoff_initial{1000};
    std::chrono::milliseconds backoff_max{60000};
    double jitter = 0.2;  // each open period is backoff * (1 - jitter .. 1 + jitter)
};

class PeerHealth {
public:
    enum class State { Closed, Open, HalfOpen };

    explicit PeerHealth(BreakerSettings settings = {}) : settings_(settings), backoff_(settings.backoff_initial) {}
    void setSettings(const BreakerSettings& s) { settings_ = s; }

    // May a sync start now, with `running` syncs to this peer in progress? Moves Open
    // to HalfOpen once open_until has passed.
    bool allows(Time now, std::size_t running);
    // True when the peer is believed reachable (Closed or HalfOpen after its time).
    bool up(Time now) const { return state_ != State::Open || now >= open_until_; }

    void onSuccess();
    // A peer-level failure (unreachable, timed out, authentication). `random01` in [0, 1).
    void onFailure(Time now, double random01);

    State state() const noexcept { return state_; }
    unsigned consecutiveFailures() const noexcept { return failures_; }
    Time openUntil() const noexcept { return open_until_; }
    std::chrono::milliseconds currentBackoff() const noexcept { return backoff_; }

private:
    BreakerSettings settings_;
    State state_ = State::Closed;
    unsigned failures_ = 0;
    Time open_until_{};
    std::chrono::milliseconds backoff_;
};

const char* stateName(PeerHealth::State s) noexcept;

// Per-user retry delay after `failures` consecutive failures (1 = first): initial *
// 2^(failures-1), capped at max, times (1 - jitter .. 1 + jitter) from random01.
std::chrono::milliseconds retryDelay(unsigned failures, std::chrono::milliseconds initial,
                                     std::chrono::milliseconds max, double jitter, double random01);

}  // namespace titan::replicator::core
