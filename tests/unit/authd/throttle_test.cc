#include "authd/core/throttle.h"

#include <catch2/catch.hpp>

using namespace titan::authd::core;
using namespace std::chrono_literals;

namespace {
ThrottleOptions options(unsigned ip, unsigned user) {
    ThrottleOptions o;
    o.max_ip_failures = ip;
    o.max_user_failures = user;
    o.window = 600s;
    o.block_time = 900s;
    o.exempt = *titan::net::CidrList::parse({"10.0.0.0/8"});
    return o;
}
}  // namespace

TEST_CASE("throttle: the limit-th failure blocks the address, limit-1 does not", "[core]") {
    Throttle t(options(10, 0));
    TimePoint now{};
    for (int i = 0; i < 9; ++i) t.recordFailure("192.0.2.1", "bob@example.test", now);
    CHECK_FALSE(t.blocked("192.0.2.1", "bob@example.test", now));
    t.recordFailure("192.0.2.1", "bob@example.test", now);
    CHECK(t.blocked("192.0.2.1", "bob@example.test", now));
    CHECK(t.blocked("192.0.2.1", "alice@example.test", now));  // any user from that address
    CHECK_FALSE(t.blocked("192.0.2.2", "bob@example.test", now));
    CHECK(t.blocked("192.0.2.1", "", now + 899s));
    CHECK_FALSE(t.blocked("192.0.2.1", "", now + 900s));  // block_time after the last failure
}

TEST_CASE("throttle: per-user budget across addresses", "[core]") {
    Throttle t(options(0, 3));
    TimePoint now{};
    t.recordFailure("192.0.2.1", "bob@example.test", now);
    t.recordFailure("192.0.2.2", "bob@example.test", now);
    CHECK_FALSE(t.blocked("192.0.2.3", "bob@example.test", now));
    t.recordFailure("192.0.2.3", "bob@example.test", now);
    CHECK(t.blocked("198.51.100.1", "bob@example.test", now));
    CHECK_FALSE(t.blocked("198.51.100.1", "alice@example.test", now));
}

TEST_CASE("throttle: failures outside the window start a new count", "[core]") {
    Throttle t(options(3, 0));
    TimePoint now{};
    t.recordFailure("192.0.2.1", "", now);
    t.recordFailure("192.0.2.1", "", now + 1s);
    t.recordFailure("192.0.2.1", "", now + 601s);  // window restarted: count 1
    CHECK_FALSE(t.blocked("192.0.2.1", "", now + 601s));
}

TEST_CASE("throttle: exempt networks are never blocked by address", "[core]") {
    Throttle t(options(2, 0));
    TimePoint now{};
    for (int i = 0; i < 5; ++i) t.recordFailure("10.1.2.3", "", now);
    CHECK_FALSE(t.blocked("10.1.2.3", "", now));
    CHECK(t.exempt("10.1.2.3"));
}

TEST_CASE("throttle: shared counters from other nodes raise the local count", "[core]") {
    Throttle t(options(10, 0));
    TimePoint now = TimePoint{} + 1000s;
    t.merge(Scope::Ip, "192.0.2.9", 12, 5000ms, now);
    CHECK(t.blocked("192.0.2.9", "", now));
    t.merge(Scope::Ip, "192.0.2.9", 1, 0ms, now);  // never lowers
    CHECK(t.blocked("192.0.2.9", "", now));
    t.merge(Scope::Ip, "192.0.2.10", 12, 900000ms, now);  // its block is already over
    CHECK_FALSE(t.blocked("192.0.2.10", "", now));
    t.prune(now + 2000s);
    CHECK(t.size() == 0);
}
