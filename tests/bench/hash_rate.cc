#include "tests/bench/hash_rate.h"

#include <crypt.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "common/password/password.h"

namespace titan::bench {

namespace {

double processCpuSeconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto s = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
    return s(ru.ru_utime) + s(ru.ru_stime);
}

// The crypt(3) string of a stored hash: the data after a "{...}" prefix.
std::string cryptSetting(const std::string& stored) {
    if (!stored.empty() && stored.front() == '{') {
        const std::size_t close = stored.find('}');
        if (close != std::string::npos) return stored.substr(close + 1);
    }
    return stored;
}

// One verification; true on a match, false on a mismatch, error if the hash is unusable.
class Verifier {
public:
    Verifier(HashApi api, const std::string& stored, const std::string& password)
        : api_(api), stored_(stored), setting_(cryptSetting(stored)), password_(password),
          scratch_(std::make_unique<crypt_data>()) {}

    Result<bool> once() {
        if (api_ == HashApi::Verify) return password::verify(stored_, password_, "CRYPT");
        const char* out = crypt_rn(password_.c_str(), setting_.c_str(), scratch_.get(), static_cast<int>(sizeof(crypt_data)));
        if (out == nullptr || out[0] == '*') return Error::invalidInput("crypt_rn does not take this hash");
        return std::strcmp(out, setting_.c_str()) == 0;
    }

private:
    HashApi api_;
    std::string stored_;
    std::string setting_;
    std::string password_;
    std::unique_ptr<crypt_data> scratch_;  // 32 KiB: on the heap, not on a thread's stack
};

}  // namespace

Result<HashRateResult> measureHashRate(const HashRateOptions& options) {
    if (options.threads < 1 || options.threads > 256) return Error::invalidInput("threads: 1..256");
    if (!(options.duration_s >= 0.01 && options.duration_s <= 3600)) return Error::invalidInput("duration: 0.01..3600 s");
    HashRateResult result;
    result.stored = options.stored;
    if (result.stored.empty()) {
        auto generated = password::generate("SHA512-CRYPT", options.password);
        if (!generated) return std::move(generated).error();
        result.stored = std::move(generated).value();
    }
    result.scheme = password::schemeOf(result.stored, "CRYPT");
    {
        Verifier probe(options.api, result.stored, options.password);
        auto first = probe.once();
        if (!first) return std::move(first).error();
        if (!*first) return Error::invalidInput("the password does not match the hash");
    }

    std::atomic<bool> go{false};
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> ready{0};
    result.per_thread.assign(options.threads, 0);
    std::vector<std::uint64_t> mismatches(options.threads, 0);
    std::vector<std::thread> threads;
    threads.reserve(options.threads);
    for (std::size_t t = 0; t < options.threads; ++t) {
        threads.emplace_back([&, t] {
            Verifier v(options.api, result.stored, options.password);
            ready.fetch_add(1);
            while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
            std::uint64_t n = 0, bad = 0;
            while (!stop.load(std::memory_order_relaxed)) {
                auto r = v.once();
                if (stop.load(std::memory_order_relaxed)) break;  // finished after the window
                if (r && *r) ++n;
                else ++bad;
            }
            result.per_thread[t] = n;
            mismatches[t] = bad;
        });
    }
    while (ready.load() < options.threads) std::this_thread::yield();
    const double cpu0 = processCpuSeconds();
    const auto t0 = std::chrono::steady_clock::now();
    go.store(true, std::memory_order_release);
    std::this_thread::sleep_for(std::chrono::duration<double>(options.duration_s));
    stop.store(true);
    const auto t1 = std::chrono::steady_clock::now();
    const double cpu1 = processCpuSeconds();
    for (auto& th : threads) th.join();
    result.elapsed_s = std::chrono::duration<double>(t1 - t0).count();
    result.cpu_s = cpu1 - cpu0;
    for (std::size_t t = 0; t < options.threads; ++t) {
        result.verified += result.per_thread[t];
        result.mismatches += mismatches[t];
    }
    return result;
}

}  // namespace titan::bench
