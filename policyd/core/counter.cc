#include "policyd/core/counter.h"

#include <algorithm>

namespace titan::policyd::core {

namespace {

using u128 = unsigned __int128;

std::int64_t periodMs(const WindowSpec& w) { return std::max<std::int64_t>(1, w.period.count()); }

std::int64_t windowStart(const WindowSpec& w, std::int64_t now) {
    const std::int64_t p = periodMs(w);
    std::int64_t r = now % p;
    if (r < 0) r += p;
    return now - r;
}

std::uint64_t saturate(u128 v) {
    return v > static_cast<u128>(UINT64_MAX) ? UINT64_MAX : static_cast<std::uint64_t>(v);
}

std::uint64_t milli(std::uint64_t units) { return saturate(static_cast<u128>(units) * kMilli); }

// Current and previous window usage as seen from `now` (fixed and sliding).
void windows(const WindowSpec& w, const CounterState& s, std::int64_t now, std::uint64_t* cur, std::uint64_t* prev) {
    const std::int64_t ws = windowStart(w, now);
    *cur = 0;
    *prev = 0;
    if (s.window_start == ws) {
        *cur = s.used;
        *prev = s.previous;
    } else if (s.window_start == ws - periodMs(w)) {
        *prev = s.used;
    }
}

// Token bucket level drained to `now`.
std::uint64_t drained(const WindowSpec& w, const CounterState& s, std::int64_t now) {
    if (now <= s.updated) return s.used;
    const u128 drain = static_cast<u128>(now - s.updated) * w.limit * kMilli / static_cast<u128>(periodMs(w));
    return drain >= s.used ? 0 : static_cast<std::uint64_t>(s.used - drain);
}

}  // namespace

const char* algorithmName(Algorithm a) noexcept {
    switch (a) {
        case Algorithm::FixedWindow: return "fixed_window";
        case Algorithm::SlidingWindow: return "sliding_window";
        case Algorithm::TokenBucket: return "token_bucket";
    }
    return "fixed_window";
}

std::uint64_t usageAt(Algorithm algorithm, const WindowSpec& w, const CounterState& s, std::int64_t now) {
    switch (algorithm) {
        case Algorithm::FixedWindow: {
            std::uint64_t cur = 0, prev = 0;
            windows(w, s, now, &cur, &prev);
            return cur;
        }
        case Algorithm::SlidingWindow: {
            std::uint64_t cur = 0, prev = 0;
            windows(w, s, now, &cur, &prev);
            const std::int64_t p = periodMs(w);
            const std::int64_t left = p - (now - windowStart(w, now));
            // Round the previous window's share up: never under-count.
            const u128 share = (static_cast<u128>(prev) * static_cast<u128>(left) + static_cast<u128>(p) - 1) /
                               static_cast<u128>(p);
            return saturate(share + cur);
        }
        case Algorithm::TokenBucket:
            return drained(w, s, now);
    }
    return 0;
}

bool fits(Algorithm algorithm, const WindowSpec& w, const CounterState& s, std::int64_t now, std::uint64_t amount) {
    const u128 total = static_cast<u128>(usageAt(algorithm, w, s, now)) + static_cast<u128>(amount) * kMilli;
    return total <= static_cast<u128>(w.limit) * kMilli;
}

CounterState charge(Algorithm algorithm, const WindowSpec& w, const CounterState& s, std::int64_t now,
                    std::uint64_t amount) {
    CounterState next = s;
    const std::uint64_t add = milli(amount);
    if (algorithm == Algorithm::TokenBucket) {
        next.used = saturate(static_cast<u128>(drained(w, s, now)) + add);
        next.updated = std::max(now, s.updated);
        next.window_start = 0;
        next.previous = 0;
        return next;
    }
    std::uint64_t cur = 0, prev = 0;
    windows(w, s, now, &cur, &prev);
    next.window_start = windowStart(w, now);
    next.used = saturate(static_cast<u128>(cur) + add);
    next.previous = prev;
    next.updated = now;
    return next;
}

std::uint64_t remaining(Algorithm algorithm, const WindowSpec& w, const CounterState& s, std::int64_t now) {
    const std::uint64_t used = usageAt(algorithm, w, s, now);
    const u128 cap = static_cast<u128>(w.limit) * kMilli;
    if (used >= cap) return 0;
    return static_cast<std::uint64_t>((cap - used) / kMilli);
}

std::int64_t expiresAt(Algorithm algorithm, const WindowSpec& w, const CounterState& s) {
    const std::int64_t p = periodMs(w);
    if (algorithm == Algorithm::TokenBucket) {
        // Fully drained after level/rate.
        const u128 ms = (static_cast<u128>(s.used) * static_cast<u128>(p)) / (static_cast<u128>(w.limit) * kMilli) + 1;
        return s.updated + static_cast<std::int64_t>(std::min<u128>(ms, static_cast<u128>(p)));
    }
    return s.window_start + 2 * p;
}

std::chrono::milliseconds retryAfter(Algorithm algorithm, const WindowSpec& w, const CounterState& s,
                                     std::int64_t now, std::uint64_t amount) {
    if (fits(algorithm, w, s, now, amount)) return std::chrono::milliseconds(0);
    if (amount > w.limit) return w.period;
    const std::int64_t p = periodMs(w);
    if (algorithm == Algorithm::FixedWindow) return std::chrono::milliseconds(windowStart(w, now) + p - now);
    // Sliding and token bucket drain gradually: search the first millisecond that fits,
    // by bisection over one period (both usages only fall as time passes).
    std::int64_t lo = now, hi = now + 2 * p;
    while (lo < hi) {
        const std::int64_t mid = lo + (hi - lo) / 2;
        if (fits(algorithm, w, s, mid, amount)) hi = mid;
        else lo = mid + 1;
    }
    return std::chrono::milliseconds(lo - now);
}

}  // namespace titan::policyd::core
