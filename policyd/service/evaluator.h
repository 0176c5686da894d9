// Runs the configured rules over one request, in order, and produces exactly one action:
// lists, sender-login and hold checks from SharedState, greylisting and rate-limit checks
// from the Store, and at END-OF-MESSAGE one atomic charge for every rate limit and account
// guard. Each rule's fail action answers when its facts cannot be fetched (Unavailable, or
// the request deadline passed); "DUNNO" fail actions skip the rule (fail open). Dry-run
// rules log and count what they would answer. Loop thread only. Layer: policyd/service.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/metrics/metrics.h"
#include "policyd/core/engine.h"
#include "policyd/service/shared_state.h"
#include "policyd/store/store.h"

namespace titan::policyd {

enum class DecisionLog { All, Refusals, None };

// The reloadable part of the configuration the evaluator reads (one immutable snapshot
// per request).
struct PolicySettings {
    std::vector<core::Rule> rules;
    core::EngineOptions engine;
    std::chrono::milliseconds request_timeout{2000};
    DecisionLog log_decisions = DecisionLog::All;
    std::string node;                        // this instance's name (audit trail)
    std::size_t max_transaction_recipients = 1000;
};

struct Decision {
    std::string action = "DUNNO";
    std::string rule;     // deciding rule; "" when no rule decided
    std::string reason;   // short explanation for logs
    bool failed = false;  // a fail action (database unavailable or deadline)
};

struct EvaluatorMetrics {
    explicit EvaluatorMetrics(metrics::Registry& registry);
    metrics::Registry& registry;
    metrics::Counter& holds;
    void decision(const std::string& rule, const std::string& action);
    void failOpen(const std::string& rule);
    void failClosed(const std::string& rule);
    void backendError(const char* operation);
    void dryRun(const std::string& rule, const std::string& action);
};

class Evaluator {
public:
    using Clock = std::function<std::int64_t()>;  // wall-clock ms since the epoch (shared by nodes)
    // Arms a one-shot deadline; the returned handle cancels it when destroyed. May be empty
    // (no deadlines: unit tests).
    using DeadlineFactory = std::function<std::shared_ptr<void>(std::chrono::milliseconds, std::function<void()>)>;

    Evaluator(store::Store& store, SharedState& state, EvaluatorMetrics& metrics, Clock wall_clock,
              DeadlineFactory deadlines);
    ~Evaluator();

    // Decides one request. `done` runs exactly once, possibly inside the call (when no
    // rule needs the database), never after the Evaluator is destroyed.
    void evaluate(std::shared_ptr<const PolicySettings> settings, core::RequestFacts facts,
                  std::function<void(Decision)> done);

    // Requests whose store answer is still outstanding.
    std::size_t inFlight() const noexcept { return in_flight_; }

private:
    struct Job;
    enum class Step { Next, Wait, Done };
    void run(const std::shared_ptr<Job>& job);
    Step step(const std::shared_ptr<Job>& job, std::size_t index);
    Step lists(const std::shared_ptr<Job>& job, const core::Rule& rule);
    Step senderLogin(const std::shared_ptr<Job>& job, const core::Rule& rule);
    Step greylist(const std::shared_ptr<Job>& job, const core::Rule& rule);
    Step rateLimit(const std::shared_ptr<Job>& job, std::size_t index, const core::Rule& rule);
    Step guard(const std::shared_ptr<Job>& job, std::size_t index, const core::Rule& rule);
    void endOfMessage(const std::shared_ptr<Job>& job);
    // The rule wants to answer `action`: dry-run rules log it and evaluation goes on.
    Step act(const std::shared_ptr<Job>& job, const core::Rule& rule, std::string action, std::string reason);
    // Facts for `rules` (indexes) are unavailable: the first fail-closed one answers.
    // Returns true when the job is finished, false when every rule failed open and
    // evaluation goes on with the next rule.
    bool failRules(const std::shared_ptr<Job>& job, const std::vector<std::size_t>& rules, const char* operation,
                   const std::string& error, bool timeout);
    void continueAfterFailure(const std::shared_ptr<Job>& job, const std::vector<std::size_t>& rules,
                              const char* operation, const std::string& error);
    void finish(const std::shared_ptr<Job>& job, Decision decision);

    store::Store& store_;
    SharedState& state_;
    EvaluatorMetrics& metrics_;
    Clock clock_;
    DeadlineFactory deadlines_;
    std::size_t in_flight_ = 0;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace titan::policyd
