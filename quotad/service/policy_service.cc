#include "quotad/service/policy_service.h"

#include <set>

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

PolicyService::PolicyService(store::Store& store, std::size_t max_inflight, std::size_t max_batch_addresses)
    : store_(store), max_inflight_(std::max<std::size_t>(max_inflight, 1)),
      max_batch_addresses_(std::max<std::size_t>(max_batch_addresses, 1)) {}

PolicyService::~PolicyService() { *alive_ = false; }

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
    waiting_.push_back(std::move(job));
    pump();
}

void PolicyService::finish(const std::shared_ptr<Job>& job) {
    job->result.decision = core::decide(job->expander.mailboxes(), job->size, job->settings->grace);
    job->result.truncated = job->expander.truncated();
    job->done(job->result);
}

void PolicyService::pump() {
    while (!waiting_.empty() && inflight_ < max_inflight_) {
        // Checks waiting while a query runs share the next one: their addresses go into
        // one IN list (each check's own addresses always fit: max_alias_addresses <= 128).
        std::vector<std::shared_ptr<Job>> batch;
        std::set<std::string> addresses;
        while (!waiting_.empty()) {
            const auto& wanted = waiting_.front()->expander.wanted();
            std::size_t added = 0;
            for (const auto& a : wanted) added += addresses.count(a) == 0 ? 1 : 0;
            if (!batch.empty() && addresses.size() + added > max_batch_addresses_) break;
            addresses.insert(wanted.begin(), wanted.end());
            batch.push_back(std::move(waiting_.front()));
            waiting_.pop_front();
        }
        ++inflight_;
        std::weak_ptr<bool> alive = alive_;
        store_.fetchAddressFacts(
            std::vector<std::string>(addresses.begin(), addresses.end()),
            [this, alive, batch = std::move(batch)](Result<std::map<std::string, core::AddressFacts>> facts) {
                if (alive.expired()) return;
                --inflight_;
                for (const auto& job : batch) {
                    if (!facts) {
                        job->done(facts.error());
                        continue;
                    }
                    job->expander.feed(*facts);
                    if (job->expander.done()) {
                        finish(job);
                    } else {
                        waiting_.push_back(job);  // the next alias level
                    }
                }
                pump();
            });
    }
}

}  // namespace titan::quotad
