#include "quotad/service/policy_service.h"

namespace titan::quotad {

struct PolicyService::Job {
    Job(std::string address, core::ExpanderLimits limits, identity::Options identity)
        : expander(std::move(address), limits, identity) {}
    core::Expander expander;
    std::uint64_t size = 0;
    std::shared_ptr<const CheckSettings> settings;
    CheckResult result;
    Done done;
};

void PolicyService::check(const std::string& recipient, std::uint64_t size, std::shared_ptr<const CheckSettings> settings,
                          Done done) {
    auto key = core::recipientKey(recipient, settings->recipient_delimiter, settings->identity);
    if (!key) {
        CheckResult r;
        r.malformed = true;
        r.decision.verdict = core::Verdict::NoMailbox;
        done(r);
        return;
    }
    auto job = std::make_shared<Job>(*key, settings->expansion, settings->identity);
    job->size = size;
    job->settings = std::move(settings);
    job->result.address = *key;
    job->done = std::move(done);
    step(std::move(job));
}

void PolicyService::step(std::shared_ptr<Job> job) {
    if (job->expander.done()) {
        job->result.decision = core::decide(job->expander.mailboxes(), job->size, job->settings->grace);
        job->result.truncated = job->expander.truncated();
        job->done(job->result);
        return;
    }
    store_.fetchAddressFacts(job->expander.wanted(),
                             [this, job](Result<std::map<std::string, core::AddressFacts>> facts) {
                                 if (!facts) {
                                     job->done(facts.error());
                                     return;
                                 }
                                 job->expander.feed(*facts);
                                 step(job);
                             });
}

}  // namespace titan::quotad
