#include "policyd/service/evaluator.h"

#include "common/log/log.h"

namespace titan::policyd {

using core::Rule;
using core::RuleKind;
using proto::policy::ProtocolState;

EvaluatorMetrics::EvaluatorMetrics(metrics::Registry& r)
    : registry(r), holds(r.counter("policyd_holds_total", "Accounts put on hold by an account guard")) {}

void EvaluatorMetrics::decision(const std::string& rule, const std::string& action) {
    registry
        .counter("policyd_decisions_total", "Answers by deciding rule and action",
                 "rule=\"" + (rule.empty() ? std::string("none") : rule) + "\",action=\"" + action + "\"")
        .inc();
}

void EvaluatorMetrics::failOpen(const std::string& rule) {
    registry.counter("policyd_fail_open_total", "Rules skipped because their facts were unavailable",
                     "rule=\"" + rule + "\"")
        .inc();
}

void EvaluatorMetrics::failClosed(const std::string& rule) {
    registry.counter("policyd_fail_closed_total", "Fail actions answered because a rule's facts were unavailable",
                     "rule=\"" + rule + "\"")
        .inc();
}

void EvaluatorMetrics::backendError(const char* operation) {
    registry.counter("policyd_backend_errors_total", "Store operations that failed or timed out",
                     std::string("operation=\"") + operation + "\"")
        .inc();
}

void EvaluatorMetrics::dryRun(const std::string& rule, const std::string& action) {
    registry.counter("policyd_dry_run_total", "Answers dry-run rules would have given",
                     "rule=\"" + rule + "\",action=\"" + action + "\"")
        .inc();
}

struct Evaluator::Job {
    std::shared_ptr<const PolicySettings> settings;
    core::RequestFacts facts;
    std::function<void(Decision)> done;
    std::size_t index = 0;
    bool finished = false;
    // What the job waits for (so the deadline knows whose fail action to answer).
    std::uint64_t generation = 0;
    std::vector<std::size_t> waiting_rules;
    const char* waiting_operation = "";
    std::shared_ptr<void> deadline;
    // END-OF-MESSAGE batch.
    store::EomJob eom;
    std::vector<std::size_t> eom_rules;
};

Evaluator::Evaluator(store::Store& store, SharedState& state, EvaluatorMetrics& metrics, Clock wall_clock,
                     DeadlineFactory deadlines)
    : store_(store), state_(state), metrics_(metrics), clock_(std::move(wall_clock)), deadlines_(std::move(deadlines)) {}

Evaluator::~Evaluator() { *alive_ = false; }

void Evaluator::evaluate(std::shared_ptr<const PolicySettings> settings, core::RequestFacts facts,
                         std::function<void(Decision)> done) {
    auto job = std::make_shared<Job>();
    job->settings = std::move(settings);
    job->facts = std::move(facts);
    job->done = std::move(done);
    ++in_flight_;
    run(job);
}

void Evaluator::run(const std::shared_ptr<Job>& job) {
    const auto& rules = job->settings->rules;
    while (!job->finished && job->index < rules.size()) {
        const std::size_t i = job->index;
        Step s = core::directionMatches(rules[i], job->facts) ? step(job, i) : Step::Next;
        if (s == Step::Wait) {
            if (!job->deadline && deadlines_) {
                std::weak_ptr<bool> alive = alive_;
                std::weak_ptr<Job> weak = job;
                job->deadline = deadlines_(job->settings->request_timeout, [this, alive, weak] {
                    auto j = weak.lock();
                    if (alive.expired() || !j || j->finished) return;
                    ++j->generation;  // the store's late answer is ignored
                    failRules(j, j->waiting_rules, j->waiting_operation, "request deadline passed", true);
                });
            }
            return;
        }
        if (s == Step::Done) return;
        ++job->index;
    }
    if (job->finished) return;
    if (!job->eom_rules.empty()) {
        endOfMessage(job);
        return;
    }
    finish(job, Decision{});
}

Evaluator::Step Evaluator::step(const std::shared_ptr<Job>& job, std::size_t index) {
    const Rule& rule = job->settings->rules[index];
    switch (rule.kind) {
        case RuleKind::Lists: return lists(job, rule);
        case RuleKind::SenderLogin: return senderLogin(job, rule);
        case RuleKind::Greylist: return greylist(job, rule);
        case RuleKind::RateLimit: return rateLimit(job, index, rule);
        case RuleKind::AccountGuard: return guard(job, index, rule);
    }
    return Step::Next;
}

Evaluator::Step Evaluator::act(const std::shared_ptr<Job>& job, const Rule& rule, std::string action,
                               std::string reason) {
    if (rule.dry_run) {
        metrics_.dryRun(rule.name, core::actionLabel(action));
        log::info("dry run: rule would answer", {{"rule", rule.name},
                                                 {"policy.action", action},
                                                 {"reason", reason},
                                                 {"sasl.username", job->facts.sasl_user},
                                                 {"client.address", job->facts.client_address}});
        return Step::Next;
    }
    finish(job, Decision{std::move(action), rule.name, std::move(reason), false});
    return Step::Done;
}

Evaluator::Step Evaluator::lists(const std::shared_ptr<Job>& job, const Rule& rule) {
    const auto& spec = std::get<core::ListsRule>(rule.spec);
    const auto snapshot = state_.lists();
    auto match = [&](const core::ListEntries& config, const core::ListEntries& sql) -> std::optional<std::string> {
        if (auto m = core::matchList(config, job->facts)) return m;
        if (spec.use_sql) return core::matchList(sql, job->facts);
        return std::nullopt;
    };
    if (auto m = match(spec.allow, snapshot->allow)) {
        if (rule.dry_run) {
            metrics_.dryRun(rule.name, core::actionLabel(spec.allow_action));
            return Step::Next;
        }
        finish(job, Decision{spec.allow_action, rule.name, "allow-listed " + *m, false});
        return Step::Done;
    }
    if (auto m = match(spec.deny, snapshot->deny)) {
        return act(job, rule, core::formatAction(rule.action, rule.name, {}), "deny-listed " + *m);
    }
    return Step::Next;
}

Evaluator::Step Evaluator::senderLogin(const std::shared_ptr<Job>& job, const Rule& rule) {
    const auto& f = job->facts;
    if (!f.authenticated || (f.state != ProtocolState::Mail && f.state != ProtocolState::Rcpt)) return Step::Next;
    const auto& spec = std::get<core::SenderLoginRule>(rule.spec);
    if (f.sender.empty()) {
        if (spec.allow_null_sender) return Step::Next;
        return act(job, rule, core::formatAction(rule.action, rule.name, {}), "null sender from an authenticated user");
    }
    // The cache may answer inside the call (then `inline_step` carries the outcome back to
    // run()'s loop) or later (then the callback continues the job itself).
    struct Call {
        bool in_call = true;
        std::optional<Step> inline_step;
    };
    auto call = std::make_shared<Call>();
    const std::size_t index = job->index;
    const std::uint64_t generation = job->generation;
    job->waiting_rules = {index};
    job->waiting_operation = "sender_logins";
    std::weak_ptr<bool> alive = alive_;
    state_.senderLogins(f.sasl_user, [this, alive, job, index, generation, call](
                                         Result<std::shared_ptr<const std::vector<std::string>>> owned, bool stale) {
        if (alive.expired() || job->finished || job->generation != generation) return;
        if (!call->in_call) ++job->generation;
        const Rule& r = job->settings->rules[index];
        Step s = Step::Next;
        if (!owned) {
            metrics_.backendError("sender_logins");
            s = failRules(job, {index}, "sender_logins", owned.error().message, false) ? Step::Done : Step::Next;
        } else {
            if (stale) metrics_.backendError("sender_logins");
            if (!core::senderOwned(job->facts, **owned)) {
                s = act(job, r, core::formatAction(r.action, r.name, {}),
                        "sender " + job->facts.sender_key + " not owned by " + job->facts.sasl_user);
            }
        }
        if (call->in_call) {
            call->inline_step = s;
            return;
        }
        if (s == Step::Next) {
            ++job->index;
            run(job);
        }
    });
    call->in_call = false;
    if (call->inline_step) return *call->inline_step;
    return Step::Wait;
}

Evaluator::Step Evaluator::greylist(const std::shared_ptr<Job>& job, const Rule& rule) {
    const auto& f = job->facts;
    if (f.state != ProtocolState::Rcpt || f.outbound || f.recipient_key.empty() || !f.client) return Step::Next;
    const auto& spec = std::get<core::GreylistRule>(rule.spec);
    if (core::anyContains(spec.allow_clients, *f.client) || core::clientNameMatches(spec.allow_client_names, f.client_name)) {
        return Step::Next;
    }
    store::GreylistRequest q;
    q.rule = rule.name;
    q.client_network = core::clientNetworkKey(f.client_address, spec.ipv4_prefix, spec.ipv6_prefix);
    q.sender = core::greylistSenderKey(f.sender, job->settings->engine.address);
    q.recipient = f.recipient_key;
    q.params = spec.params;
    q.now = clock_();
    const std::string network_key = q.rule + "\n" + q.client_network;
    const std::string triplet_key = network_key + "\n" + q.sender + "\n" + q.recipient;
    if (state_.greylistPassed(triplet_key, network_key, q.now)) return Step::Next;
    const std::size_t index = job->index;
    const std::uint64_t generation = job->generation;
    job->waiting_rules = {index};
    job->waiting_operation = "greylist";
    std::weak_ptr<bool> alive = alive_;
    store_.greylist(std::move(q), [this, alive, job, index, generation, network_key, triplet_key](
                                      Result<store::GreylistResult> r) {
        if (alive.expired() || job->finished || job->generation != generation) return;
        ++job->generation;
        const Rule& ru = job->settings->rules[index];
        if (!r) {
            metrics_.backendError("greylist");
            continueAfterFailure(job, {index}, "greylist", r.error().message);
            return;
        }
        if (r->decision.verdict == core::GreylistVerdict::Pass) state_.putGreylistPass(triplet_key);
        if (r->client.allowed_until > 0) state_.putNetworkAllowed(network_key, r->client.allowed_until);
        if (r->decision.verdict == core::GreylistVerdict::Defer) {
            if (act(job, ru, core::formatAction(ru.action, ru.name, r->decision.retry_in),
                    std::string("greylisted (") + r->decision.reason + ")") == Step::Done) {
                return;
            }
        }
        ++job->index;
        run(job);
    });
    return Step::Wait;
}

Evaluator::Step Evaluator::rateLimit(const std::shared_ptr<Job>& job, std::size_t index, const Rule& rule) {
    const auto& spec = std::get<core::RateLimitRule>(rule.spec);
    auto charges = core::rateLimitCharges(spec, job->facts);
    if (charges.empty()) return Step::Next;
    if (job->facts.state == ProtocolState::EndOfMessage) {
        job->eom.rates.push_back(core::RatePlan{index, rule, std::move(charges)});
        job->eom_rules.push_back(index);
        return Step::Next;
    }
    auto keys = core::counterKeys(rule, charges);
    if (auto cached = state_.cachedCounters(keys)) {
        auto check = core::checkRate(rule, charges, *cached, clock_());
        if (check.allowed) return Step::Next;
        return act(job, rule, core::formatAction(rule.action, rule.name, check.retry_after),
                   "rate limit reached for " + check.subject);
    }
    const std::uint64_t generation = job->generation;
    job->waiting_rules = {index};
    job->waiting_operation = "counters";
    std::weak_ptr<bool> alive = alive_;
    store_.fetchCounters(keys, [this, alive, job, index, generation, keys, charges = std::move(charges)](
                                   Result<std::map<core::CounterKey, core::CounterState>> states) {
        if (alive.expired() || job->finished || job->generation != generation) return;
        ++job->generation;
        const Rule& ru = job->settings->rules[index];
        if (!states) {
            metrics_.backendError("counters");
            continueAfterFailure(job, {index}, "counters", states.error().message);
            return;
        }
        state_.putCounters(keys, *states);
        auto check = core::checkRate(ru, charges, *states, clock_());
        if (!check.allowed) {
            if (act(job, ru, core::formatAction(ru.action, ru.name, check.retry_after),
                    "rate limit reached for " + check.subject) == Step::Done) {
                return;
            }
        }
        ++job->index;
        run(job);
    });
    return Step::Wait;
}

Evaluator::Step Evaluator::guard(const std::shared_ptr<Job>& job, std::size_t index, const Rule& rule) {
    const auto& f = job->facts;
    if (!f.authenticated) return Step::Next;
    const auto& spec = std::get<core::GuardRule>(rule.spec);
    if (state_.held(f.sasl_user)) {
        return act(job, rule, core::formatAction(spec.held_action, rule.name, {}), "account on hold");
    }
    if (f.state == ProtocolState::EndOfMessage) {
        store::GuardPlan plan;
        plan.rule_index = index;
        plan.rule = rule;
        plan.user = f.sasl_user;
        plan.domains = core::recipientDomains(f);
        plan.network = core::clientNetworkKey(f.client_address, spec.ipv4_prefix, spec.ipv6_prefix);
        plan.node = job->settings->node;
        job->eom.guards.push_back(std::move(plan));
        job->eom_rules.push_back(index);
    }
    return Step::Next;
}

void Evaluator::endOfMessage(const std::shared_ptr<Job>& job) {
    job->eom.now = clock_();
    job->waiting_rules = job->eom_rules;
    job->waiting_operation = "end_of_message";
    const std::uint64_t generation = job->generation;
    std::weak_ptr<bool> alive = alive_;
    store::EomJob eom = job->eom;
    store_.endOfMessage(std::move(eom), [this, alive, job, generation](Result<store::EomResult> r) {
        if (alive.expired() || job->finished || job->generation != generation) return;
        ++job->generation;
        if (!r) {
            metrics_.backendError("end_of_message");
            continueAfterFailure(job, job->eom_rules, "end_of_message", r.error().message);
            return;
        }
        const auto& rules = job->settings->rules;
        for (std::size_t i : r->charge.dry_run_exceeded) {
            const Rule& ru = job->eom.rates[i].rule;
            act(job, ru, core::formatAction(ru.action, ru.name, {}), "rate limit would be exceeded");
        }
        // This node sees its own charges at once in later RCPT/DATA checks.
        if (r->charge.accepted) state_.putCounters(r->charge.updates);
        if (!r->charge.accepted) {
            const Rule& ru = job->eom.rates[r->charge.refused_by].rule;
            finish(job, Decision{core::formatAction(ru.action, ru.name, r->charge.retry_after), ru.name,
                                 "message exceeds the allowance of " + r->charge.subject + "; not charged", false});
            return;
        }
        for (std::size_t gi = 0; gi < r->guards.size() && gi < job->eom.guards.size(); ++gi) {
            const auto& outcome = r->guards[gi];
            const auto& plan = job->eom.guards[gi];
            if (!outcome.trigger) continue;
            const Rule& ru = rules[plan.rule_index];
            if (outcome.held) {
                metrics_.holds.inc();
                state_.addHold(store::HoldRow{plan.user, ru.name, *outcome.trigger, job->eom.now});
                log::warning("account put on hold", {{"sasl.username", plan.user},
                                                     {"rule", ru.name},
                                                     {"reason", *outcome.trigger},
                                                     {"client.address", job->facts.client_address}});
            }
            if (act(job, ru, core::formatAction(ru.action, ru.name, {}), "account guard: " + *outcome.trigger) ==
                Step::Done) {
                return;
            }
        }
        finish(job, Decision{});
    });
}

bool Evaluator::failRules(const std::shared_ptr<Job>& job, const std::vector<std::size_t>& indexes,
                          const char* operation, const std::string& error, bool timeout) {
    if (job->finished) return true;
    const auto& rules = job->settings->rules;
    if (timeout) metrics_.backendError(operation);
    for (std::size_t i : indexes) {
        const Rule& r = rules[i];
        if (r.failOpen()) {
            metrics_.failOpen(r.name);
            continue;
        }
        metrics_.failClosed(r.name);
        log::warning("policy facts unavailable, answering the rule's fail action",
                     {{"rule", r.name}, {"operation", operation}, {"error", error}, {"policy.action", r.fail_action}});
        finish(job, Decision{core::formatAction(r.fail_action, r.name, {}), r.name,
                             std::string(timeout ? "deadline" : "unavailable") + ": " + operation, true});
        return true;
    }
    log::warning("policy facts unavailable, rule skipped (fail open)", {{"operation", operation}, {"error", error}});
    // Past the deadline nothing more is awaited, and the end-of-message batch is the last
    // step: answer now. Otherwise the following rules still run.
    if (timeout || std::string_view(operation) == "end_of_message") {
        finish(job, Decision{"DUNNO", "", std::string("fail open: ") + operation, true});
        return true;
    }
    return false;
}

void Evaluator::continueAfterFailure(const std::shared_ptr<Job>& job, const std::vector<std::size_t>& indexes,
                                     const char* operation, const std::string& error) {
    if (failRules(job, indexes, operation, error, false)) return;
    ++job->index;
    run(job);
}

void Evaluator::finish(const std::shared_ptr<Job>& job, Decision decision) {
    if (job->finished) return;
    job->finished = true;
    job->deadline.reset();
    --in_flight_;
    metrics_.decision(decision.rule, core::actionLabel(decision.action));
    auto done = std::move(job->done);
    done(std::move(decision));
}

}  // namespace titan::policyd
