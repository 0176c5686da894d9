// Rate-limit window algorithms: fixed window, sliding window (two-bucket estimate) and token
// bucket, over one stored counter state. Pure: `now` is a parameter (milliseconds since the
// epoch, the same clock on every node), no I/O. Amounts are whole units (messages,
// recipients or bytes); states store milli-units so the token bucket's drain is exact
// enough. The rule is `used + amount <= limit`: the request that reaches the limit exactly
// is accepted, the next one is not (anchors B4). An amount larger than the limit never fits.
// Layer: policyd/core.
#pragma once

#include <chrono>
#include <cstdint>

namespace titan::policyd::core {

enum class Algorithm {
    FixedWindow,    // windows aligned to multiples of `period` since the epoch; at the exact
                    // boundary the new window applies
    SlidingWindow,  // estimate = previous window * (unelapsed share of the current) + current
    TokenBucket,    // capacity `limit`, refilled continuously at limit/period
};

const char* algorithmName(Algorithm a) noexcept;

struct WindowSpec {
    std::uint64_t limit = 0;  // units per period (>= 1)
    std::chrono::milliseconds period{60000};
    bool operator==(const WindowSpec&) const = default;
};

// One stored counter (a row of policy_counters). A default state means "never used".
struct CounterState {
    std::int64_t window_start = 0;  // ms; fixed/sliding: start of the window `used` belongs to
    std::uint64_t used = 0;         // milli-units in that window; token bucket: bucket level
    std::uint64_t previous = 0;     // milli-units of the window before (sliding)
    std::int64_t updated = 0;       // ms of the last charge (token bucket drain origin)
    bool operator==(const CounterState&) const = default;
};

inline constexpr std::uint64_t kMilli = 1000;

// Milli-units counted against the limit at `now`.
std::uint64_t usageAt(Algorithm algorithm, const WindowSpec& window, const CounterState& state, std::int64_t now);

// True when `amount` more units fit at `now`.
bool fits(Algorithm algorithm, const WindowSpec& window, const CounterState& state, std::int64_t now,
          std::uint64_t amount);

// The state after charging `amount` units at `now` (whether or not it fits: callers check
// fits() first, except dry-run rules, which count what really passed).
CounterState charge(Algorithm algorithm, const WindowSpec& window, const CounterState& state, std::int64_t now,
                    std::uint64_t amount);

// Whole units still available at `now` (0 when at or over the limit).
std::uint64_t remaining(Algorithm algorithm, const WindowSpec& window, const CounterState& state, std::int64_t now);

// After this time (ms) the state no longer affects any decision and may be deleted.
std::int64_t expiresAt(Algorithm algorithm, const WindowSpec& window, const CounterState& state);

// Time until `amount` units would fit again, for "try again in" texts (0 if they fit now;
// the period when they never can).
std::chrono::milliseconds retryAfter(Algorithm algorithm, const WindowSpec& window, const CounterState& state,
                                     std::int64_t now, std::uint64_t amount);

}  // namespace titan::policyd::core
