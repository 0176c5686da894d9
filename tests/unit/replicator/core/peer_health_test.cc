#include "replicator/core/peer_health.h"

#include <catch2/catch.hpp>

using namespace titan::replicator::core;
using namespace std::chrono_literals;

namespace {
Time at(long long ms) { return Time(std::chrono::milliseconds(ms)); }
}  // namespace

TEST_CASE("breaker: opens after the threshold, probes once, backs off exponentially", "[core]") {
    PeerHealth h(BreakerSettings{3, 1000ms, 4000ms, 0.0});
    CHECK(h.allows(at(0), 10));
    h.onFailure(at(0), 0.5);
    h.onFailure(at(1), 0.5);
    CHECK(h.state() == PeerHealth::State::Closed);
    CHECK(h.up(at(1)));
    h.onFailure(at(2), 0.5);
    CHECK(h.state() == PeerHealth::State::Open);
    CHECK(h.openUntil() == at(1002));
    CHECK_FALSE(h.up(at(1001)));
    CHECK_FALSE(h.allows(at(1001), 0));
    // half-open: one probe at a time
    CHECK(h.allows(at(1002), 0));
    CHECK(h.state() == PeerHealth::State::HalfOpen);
    CHECK_FALSE(h.allows(at(1002), 1));
    h.onFailure(at(1100), 0.5);  // probe failed: open for twice as long
    CHECK(h.state() == PeerHealth::State::Open);
    CHECK(h.openUntil() == at(3100));
    CHECK(h.allows(at(3100), 0));
    h.onFailure(at(3200), 0.5);
    CHECK(h.openUntil() == at(7200));  // 4 s
    CHECK(h.allows(at(7200), 0));
    h.onFailure(at(7300), 0.5);
    CHECK(h.openUntil() == at(11300));  // capped at backoff_max
    CHECK(h.allows(at(11300), 0));
    h.onSuccess();
    CHECK(h.state() == PeerHealth::State::Closed);
    CHECK(h.consecutiveFailures() == 0);
    CHECK(h.currentBackoff() == 1000ms);
    CHECK(h.allows(at(11301), 5));
}

TEST_CASE("breaker: a success between failures resets the count", "[core]") {
    PeerHealth h(BreakerSettings{2, 1000ms, 60000ms, 0.0});
    h.onFailure(at(0), 0.0);
    h.onSuccess();
    h.onFailure(at(1), 0.0);
    CHECK(h.state() == PeerHealth::State::Closed);
    h.onFailure(at(2), 0.0);
    CHECK(h.state() == PeerHealth::State::Open);
}

TEST_CASE("breaker: jitter stays within its bounds", "[core]") {
    for (double r : {0.0, 0.25, 0.5, 0.999, 1.0}) {
        PeerHealth h(BreakerSettings{1, 1000ms, 60000ms, 0.2});
        h.onFailure(at(0), r);
        auto wait = h.openUntil() - at(0);
        INFO("random " << r);
        CHECK(wait >= 800ms);
        CHECK(wait <= 1200ms);
    }
}

TEST_CASE("retry delay: exponential, capped, jittered", "[core]") {
    struct Case {
        unsigned failures;
        long long want_ms;
    };
    const Case cases[] = {{0, 5000}, {1, 5000}, {2, 10000}, {3, 20000}, {6, 160000}, {7, 300000}, {50, 300000}};
    for (const auto& c : cases) {
        INFO("failures " << c.failures);
        CHECK(retryDelay(c.failures, 5000ms, 300000ms, 0.0, 0.7).count() == c.want_ms);
    }
    CHECK(retryDelay(1, 5000ms, 300000ms, 0.2, 0.0).count() == 4000);
    CHECK(retryDelay(1, 5000ms, 300000ms, 0.2, 1.0).count() == 6000);
}
