#include "tests/bench/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace titan::bench {

LatencyHistogram::LatencyHistogram() : counts_(kBuckets, 0) {}

std::size_t LatencyHistogram::bucketOf(std::uint64_t v) noexcept {
    if (v < kSub) return static_cast<std::size_t>(v);
    int e = 63 - std::countl_zero(v);  // position of the leading 1, >= kSubBits
    std::uint64_t m = v >> (e - kSubBits);  // leading 1 and the next kSubBits bits: [kSub, 2 kSub)
    return static_cast<std::size_t>(e - kSubBits + 1) * kSub + static_cast<std::size_t>(m - kSub);
}

std::uint64_t LatencyHistogram::bucketLow(std::size_t b) noexcept {
    if (b < kSub) return b;
    int e = static_cast<int>(b / kSub) + kSubBits - 1;
    std::uint64_t m = kSub + b % kSub;
    return m << (e - kSubBits);
}

std::uint64_t LatencyHistogram::bucketHigh(std::size_t b) noexcept {
    if (b < kSub) return b;
    int e = static_cast<int>(b / kSub) + kSubBits - 1;
    std::uint64_t width = std::uint64_t{1} << (e - kSubBits);
    return bucketLow(b) + (width - 1);
}

void LatencyHistogram::record(std::uint64_t ns) noexcept {
    ++counts_[bucketOf(ns)];
    if (count_ == 0 || ns < min_) min_ = ns;
    if (ns > max_) max_ = ns;
    ++count_;
    sum_ += static_cast<double>(ns);
}

void LatencyHistogram::reset() noexcept {
    std::fill(counts_.begin(), counts_.end(), 0);
    count_ = 0;
    min_ = 0;
    max_ = 0;
    sum_ = 0;
}

std::uint64_t LatencyHistogram::percentile(double q) const noexcept {
    if (count_ == 0) return 0;
    if (q <= 0) return min_;
    if (q >= 1) return max_;
    // Rank of the sample wanted, 1-based: ceil(q * count), at least 1.
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < kBuckets; ++b) {
        seen += counts_[b];
        if (seen >= rank) return std::clamp(bucketHigh(b), min_, max_);
    }
    return max_;
}

}  // namespace titan::bench
