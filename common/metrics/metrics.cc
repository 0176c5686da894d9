#include "common/metrics/metrics.h"

#include <event2/buffer.h>
#include <event2/http.h>

#include <cmath>
#include <cstdio>

#include "common/base/strings.h"

namespace titan::metrics {
namespace {

std::string formatNumber(double v) {
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    char buf[64];
    if (v == std::floor(v) && std::fabs(v) < 1e15) {
        std::snprintf(buf, sizeof(buf), "%.0f", v);
    } else {
        std::snprintf(buf, sizeof(buf), "%.9g", v);
    }
    return buf;
}

std::string withLabels(const std::string& name, const std::string& labels, const std::string& extra = "") {
    std::string all = labels;
    if (!extra.empty()) all += (all.empty() ? "" : ",") + extra;
    return all.empty() ? name : name + "{" + all + "}";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<unsigned long long>[bounds_.size()]) {
    for (size_t i = 0; i < bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) noexcept {
    for (size_t i = 0; i < bounds_.size(); ++i) {
        if (v <= bounds_[i]) buckets_[i].fetch_add(1, std::memory_order_relaxed);
    }
    count_.fetch_add(1, std::memory_order_relaxed);
    double cur = sum_.load(std::memory_order_relaxed);
    while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
    }
}

std::vector<double> latencyBuckets() {
    return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Registry::Family& Registry::family(const std::string& name, const std::string& help, const char* type) {
    auto& f = families_[name];
    if (f.type.empty()) {
        f.help = help;
        f.type = type;
    }
    return f;
}

Counter& Registry::counter(const std::string& name, const std::string& help, const std::string& labels) {
    std::lock_guard lock(mu_);
    auto& slot = family(name, help, "counter").counters[labels];
    if (!slot) slot = std::make_unique<Counter>();
    return *slot;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const std::string& labels) {
    std::lock_guard lock(mu_);
    auto& slot = family(name, help, "gauge").gauges[labels];
    if (!slot) slot = std::make_unique<Gauge>();
    return *slot;
}

Histogram& Registry::histogram(const std::string& name, const std::string& help, const std::string& labels,
                               std::vector<double> bounds) {
    std::lock_guard lock(mu_);
    auto& slot = family(name, help, "histogram").histograms[labels];
    if (!slot) slot = std::make_unique<Histogram>(std::move(bounds));
    return *slot;
}

void Registry::gaugeFunction(const std::string& name, const std::string& help, const std::string& labels,
                             std::function<double()> fn) {
    std::lock_guard lock(mu_);
    family(name, help, "gauge").functions[labels] = std::move(fn);
}

std::string Registry::render() const {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& [name, f] : families_) {
        out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n";
        for (const auto& [labels, c] : f.counters) {
            out += withLabels(name, labels) + " " + std::to_string(c->value()) + "\n";
        }
        for (const auto& [labels, g] : f.gauges) out += withLabels(name, labels) + " " + formatNumber(g->value()) + "\n";
        for (const auto& [labels, fn] : f.functions) out += withLabels(name, labels) + " " + formatNumber(fn()) + "\n";
        for (const auto& [labels, h] : f.histograms) {
            for (size_t i = 0; i < h->bounds().size(); ++i) {
                out += withLabels(name + "_bucket", labels, "le=\"" + formatNumber(h->bounds()[i]) + "\"") + " " +
                       std::to_string(h->bucket(i)) + "\n";
            }
            out += withLabels(name + "_bucket", labels, "le=\"+Inf\"") + " " + std::to_string(h->count()) + "\n";
            out += withLabels(name + "_sum", labels) + " " + formatNumber(h->sum()) + "\n";
            out += withLabels(name + "_count", labels) + " " + std::to_string(h->count()) + "\n";
        }
    }
    return out;
}

HttpExporter::HttpExporter(event_base* base, const Registry& registry) : base_(base), registry_(registry) {}

HttpExporter::~HttpExporter() {
    if (http_ != nullptr) evhttp_free(http_);
}

Status HttpExporter::listen(const std::string& address) {
    auto colon = address.rfind(':');
    if (colon == std::string::npos) return Error::config("metrics address '" + address + "' needs host:port");
    std::string host = address.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    auto port = base::parseUnsigned(address.substr(colon + 1));
    if (!port || *port > 65535) return Error::config("metrics address '" + address + "' has a bad port");
    http_ = evhttp_new(base_);
    evhttp_set_allowed_methods(http_, EVHTTP_REQ_GET);
    evhttp_set_max_headers_size(http_, 8192);
    evhttp_set_max_body_size(http_, 0);
    evhttp_set_timeout(http_, 10);
    evhttp_set_gencb(http_, &HttpExporter::onRequest, this);
    if (evhttp_bind_socket(http_, host.c_str(), static_cast<uint16_t>(*port)) != 0) {
        return Error::config("cannot bind metrics listener " + address);
    }
    return {};
}

void HttpExporter::onRequest(evhttp_request* req, void* arg) noexcept {
    auto* self = static_cast<HttpExporter*>(arg);
    try {
        const char* uri = evhttp_request_get_uri(req);
        if (uri == nullptr || std::string_view(uri).substr(0, 8) != "/metrics") {
            evhttp_send_error(req, HTTP_NOTFOUND, "not found");
            return;
        }
        std::string body = self->registry_.render();
        evbuffer* buf = evbuffer_new();
        evbuffer_add(buf, body.data(), body.size());
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "text/plain; version=0.0.4; charset=utf-8");
        evhttp_send_reply(req, HTTP_OK, "OK", buf);
        evbuffer_free(buf);
    } catch (...) {
        evhttp_send_error(req, HTTP_INTERNAL, "internal error");
    }
}

}  // namespace titan::metrics
