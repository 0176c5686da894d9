// Latency recording for titan-bench: a log-linear (HDR-style) histogram of nanosecond
// values. Values below 128 ns are exact; above, each power of two is split into 128
// buckets, so a reported percentile is within 1/128 (0.8 %) of the true sample. Memory
// is fixed (~58 KiB) however many samples are recorded. Not thread-safe.
// Layer: tests/bench (standard library only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace titan::bench {

class LatencyHistogram {
public:
    LatencyHistogram();

    void record(std::uint64_t ns) noexcept;
    void reset() noexcept;

    std::uint64_t count() const noexcept { return count_; }
    std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
    std::uint64_t max() const noexcept { return max_; }
    double mean() const noexcept { return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_); }

    // The smallest recorded-bucket value v such that at least q * count() samples are
    // <= v, reported as the bucket's upper bound (never above max()). q in [0, 1];
    // q = 1 gives max(), q = 0 gives min(). 0 when empty.
    std::uint64_t percentile(double q) const noexcept;

    // Bucket arithmetic, exposed for tests.
    static std::size_t bucketOf(std::uint64_t ns) noexcept;
    static std::uint64_t bucketLow(std::size_t bucket) noexcept;
    static std::uint64_t bucketHigh(std::size_t bucket) noexcept;
    static constexpr int kSubBits = 7;
    static constexpr std::size_t kSub = std::size_t{1} << kSubBits;
    static constexpr std::size_t kBuckets = (64 - kSubBits + 1) * kSub;

private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t min_ = 0;
    std::uint64_t max_ = 0;
    double sum_ = 0;
};

}  // namespace titan::bench
