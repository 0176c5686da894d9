// Prometheus metrics: a registry of counters, gauges and histograms, rendered in the
// text exposition format, and an HTTP exporter (GET /metrics) meant for loopback.
// Counters and histograms are atomic, so worker threads may update them; the
// exporter runs on the loop thread. Layer: common (base + libevent's evhttp).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/base/result.h"

struct evhttp;
struct evhttp_request;
struct event_base;

namespace titan::metrics {

class Counter {
public:
    void inc(unsigned long long n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
    unsigned long long value() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<unsigned long long> v_{0};
};

class Gauge {
public:
    void set(double v) noexcept { v_.store(v, std::memory_order_relaxed); }
    void add(double d) noexcept {
        double cur = v_.load(std::memory_order_relaxed);
        while (!v_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
        }
    }
    double value() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> v_{0};
};

class Histogram {
public:
    explicit Histogram(std::vector<double> bounds);
    void observe(double v) noexcept;
    const std::vector<double>& bounds() const noexcept { return bounds_; }
    unsigned long long bucket(size_t i) const noexcept { return buckets_[i].load(std::memory_order_relaxed); }
    unsigned long long count() const noexcept { return count_.load(std::memory_order_relaxed); }
    double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<unsigned long long>[]> buckets_;
    std::atomic<unsigned long long> count_{0};
    std::atomic<double> sum_{0};
};

// Default latency buckets in seconds (100 µs .. 10 s).
std::vector<double> latencyBuckets();

class Registry {
public:
    // `labels` is the Prometheus label set without braces, e.g. `reason="idle_timeout"`.
    // The same (name, labels) always returns the same object. Registration is
    // mutex-protected; the returned references stay valid for the registry's life.
    Counter& counter(const std::string& name, const std::string& help, const std::string& labels = "");
    Gauge& gauge(const std::string& name, const std::string& help, const std::string& labels = "");
    Histogram& histogram(const std::string& name, const std::string& help, const std::string& labels = "",
                         std::vector<double> bounds = latencyBuckets());
    // A gauge computed at scrape time (loop thread).
    void gaugeFunction(const std::string& name, const std::string& help, const std::string& labels,
                       std::function<double()> fn);

    std::string render() const;

private:
    struct Family {
        std::string help;
        std::string type;
        std::map<std::string, std::unique_ptr<Counter>> counters;
        std::map<std::string, std::unique_ptr<Gauge>> gauges;
        std::map<std::string, std::unique_ptr<Histogram>> histograms;
        std::map<std::string, std::function<double()>> functions;
    };
    Family& family(const std::string& name, const std::string& help, const char* type);
    mutable std::mutex mu_;
    std::map<std::string, Family> families_;
};

// Serves GET /metrics from a registry. Bind to loopback (the operator's choice is
// not overridden, but the documentation says so). Loop thread only.
class HttpExporter {
public:
    HttpExporter(event_base* base, const Registry& registry);
    ~HttpExporter();
    HttpExporter(const HttpExporter&) = delete;
    HttpExporter& operator=(const HttpExporter&) = delete;
    // address "127.0.0.1:9100". Errors: Config.
    Status listen(const std::string& address);

private:
    static void onRequest(evhttp_request* req, void* arg) noexcept;
    event_base* base_;
    const Registry& registry_;
    evhttp* http_ = nullptr;
};

}  // namespace titan::metrics
