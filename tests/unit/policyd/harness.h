// Test harness for policyd's service layer: the Evaluator over a MemoryStore with a fake
// wall clock, fed with requests as Postfix writes them (through the shared codec), with
// the per-connection transaction tracking the session does. No sockets, no sleeps.
#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/metrics/metrics.h"
#include "common/proto/postfix_policy/policy.h"
#include "policyd/config.h"
#include "policyd/service/evaluator.h"
#include "policyd/service/shared_state.h"
#include "policyd/store/memory_store.h"

namespace titan::policyd::test {

inline constexpr std::int64_t kStart = 1'700'000'000'000;

class Harness {
public:
    // `yaml` holds the rules (and any other section) of a policyd config; policy.listen is
    // added when absent.
    explicit Harness(const std::string& yaml) {
        std::string full = yaml;
        if (full.find("policy:") == std::string::npos) full += "\npolicy:\n  listen: [{address: \"127.0.0.1:1\"}]\n";
        auto loaded = loadConfigString(full, "test.yaml");
        if (!loaded) FAIL("config: " << loaded.error().message);
        config = loaded->config;
        settings = config->policy;
        state.configure(config->cache, settings->engine.address);
    }

    // One request given as attributes; returns the action.
    std::string ask(std::vector<proto::policy::Attribute> attrs, Decision* out = nullptr) {
        proto::policy::Request r{std::move(attrs)};
        return askWire(proto::policy::encodeRequest(r), out);
    }

    // One request as raw bytes (exactly one request).
    std::string askWire(const std::string& wire, Decision* out = nullptr) {
        proto::policy::Decoder d(config->protocol);
        d.append(wire);
        auto r = d.next();
        REQUIRE(std::holds_alternative<proto::policy::Request>(r));
        auto typed = proto::policy::parseRequest(std::get<proto::policy::Request>(r));
        REQUIRE(std::holds_alternative<proto::policy::PolicyRequest>(typed));
        const auto& req = std::get<proto::policy::PolicyRequest>(typed);
        auto facts = core::makeFacts(req, settings->engine, tracker.recipientsFor(req.instance));
        const std::string recipient = facts.recipient_key;
        std::optional<Decision> got;
        evaluator.evaluate(settings, std::move(facts), [&](Decision dec) {
            REQUIRE_FALSE(got);  // exactly one answer
            got = std::move(dec);
        });
        for (int i = 0; i < 100 && !got; ++i) store.runPending();
        REQUIRE(got);
        store.runPending();
        tracker.record(req.protocol_state, recipient, got->action);
        if (out) *out = *got;
        return got->action;
    }

    void refresh() {
        state.refreshLists();
        state.refreshHolds();
        store.runPending();
    }

    double metric(const std::string& name_and_labels) {
        const std::string text = registry.render();
        auto pos = text.find("\n" + name_and_labels + " ");
        if (pos == std::string::npos) return 0;
        return std::stod(text.substr(pos + name_and_labels.size() + 2));
    }

    std::shared_ptr<const PolicydConfig> config;
    std::shared_ptr<const PolicySettings> settings;
    store::MemoryStore store;
    std::int64_t now = kStart;
    std::int64_t monotonic = 0;
    SharedState state{store, [this] { return monotonic; }};
    metrics::Registry registry;
    EvaluatorMetrics metrics{registry};
    // Deadlines are recorded; fireDeadlines() runs them (the "timeout" of a test).
    std::vector<std::function<void()>> deadlines;
    void fireDeadlines() {
        auto pending = std::move(deadlines);
        deadlines.clear();
        for (auto& cb : pending) cb();
    }
    Evaluator evaluator{store, state, metrics, [this] { return now; },
                        [this](std::chrono::milliseconds, std::function<void()> cb) {
                            deadlines.push_back(std::move(cb));
                            return std::shared_ptr<void>();
                        }};
    core::TransactionTracker tracker;
};

// Attribute lists for common requests.
inline std::vector<proto::policy::Attribute> rcpt(const std::string& client, const std::string& sender,
                                                  const std::string& recipient, const std::string& sasl = "",
                                                  const std::string& instance = "i1") {
    return {{"request", "smtpd_access_policy"}, {"protocol_state", "RCPT"}, {"protocol_name", "ESMTP"},
            {"client_address", client},         {"client_name", "unknown"}, {"sender", sender},
            {"recipient", recipient},           {"recipient_count", "0"},   {"instance", instance},
            {"size", "0"},                      {"sasl_username", sasl}};
}

inline std::vector<proto::policy::Attribute> data(const std::string& client, const std::string& sender,
                                                  unsigned recipients, const std::string& sasl = "",
                                                  const std::string& instance = "i1") {
    return {{"request", "smtpd_access_policy"}, {"protocol_state", "DATA"}, {"client_address", client},
            {"sender", sender}, {"recipient", ""}, {"recipient_count", std::to_string(recipients)},
            {"instance", instance}, {"size", "0"}, {"sasl_username", sasl}};
}

inline std::vector<proto::policy::Attribute> eom(const std::string& client, const std::string& sender,
                                                 unsigned recipients, unsigned long long size,
                                                 const std::string& sasl = "", const std::string& instance = "i1",
                                                 const std::string& recipient = "") {
    return {{"request", "smtpd_access_policy"}, {"protocol_state", "END-OF-MESSAGE"}, {"client_address", client},
            {"sender", sender}, {"recipient", recipient}, {"recipient_count", std::to_string(recipients)},
            {"instance", instance}, {"size", std::to_string(size)}, {"sasl_username", sasl}};
}

}  // namespace titan::policyd::test
