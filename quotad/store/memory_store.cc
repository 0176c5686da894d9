#include "quotad/store/memory_store.h"

#include <event2/event.h>

#include "common/identity/identity.h"

namespace titan::quotad::store {

void MemoryStore::complete(std::function<void()> fn) {
    ++calls;
    if (hold_) {
        held_.push_back(std::move(fn));
        return;
    }
    // Next loop turn, never inside the call (the Store contract).
    auto* heap = new std::function<void()>(std::move(fn));
    timeval now{0, 0};
    event_base_once(
        loop_.base(), -1, EV_TIMEOUT,
        [](evutil_socket_t, short, void* arg) {
            std::unique_ptr<std::function<void()>> f(static_cast<std::function<void()>*>(arg));
            (*f)();
        },
        heap, &now);
}

void MemoryStore::releaseForTest() {
    hold_ = false;
    auto held = std::move(held_);
    held_.clear();
    for (auto& fn : held) complete(std::move(fn));
}

void MemoryStore::fetchRows(std::vector<std::string> users, RowsDone done) {
    readBatchSizes.push_back(users.size());
    if (down_) {
        complete([done = std::move(done)] { done(Error::unavailable("memory store is down")); });
        return;
    }
    std::map<std::string, core::Row> out;
    for (const auto& u : users) {
        if (auto it = rows_.find(u); it != rows_.end()) out[u] = it->second;
    }
    complete([done = std::move(done), out = std::move(out)] { done(out); });
}

void MemoryStore::applyCommits(std::vector<core::CommitRequest> batch, std::shared_ptr<const core::WarningRules> rules,
                               CommitDone done) {
    commitBatchSizes.push_back(batch.size());
    if (down_) {
        complete([done = std::move(done)] { done(CommitFailure{false, Error::unavailable("memory store is down")}); });
        return;
    }
    std::map<std::string, core::Limits> limits;
    for (const auto& c : batch) {
        if (auto it = mailboxes_.find(c.user); it != mailboxes_.end()) limits[c.user] = it->second;
    }
    static const core::WarningRules kNoRules;
    auto result = core::applyBatch(batch, rows_, limits, rules ? *rules : kNoRules);
    for (const auto& [user, row] : result.changed) rows_[user] = row;
    if (uncertain_next_) {
        uncertain_next_ = false;
        complete([done = std::move(done)] {
            done(CommitFailure{true, Error::unavailable("connection lost during COMMIT (test)")});
        });
        return;
    }
    complete([done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
}

void MemoryStore::markUnknown(std::vector<std::string> users, StatusDone done) {
    if (down_) {
        complete([done = std::move(done)] { done(Error::unavailable("memory store is down")); });
        return;
    }
    for (const auto& u : users) {
        if (auto it = rows_.find(u); it != rows_.end()) it->second.usage = core::Usage{};
    }
    complete([done = std::move(done)] { done(Status{}); });
}

void MemoryStore::fetchAddressFacts(std::vector<std::string> addresses, FactsDone done) {
    factsBatchSizes.push_back(addresses.size());
    if (down_) {
        complete([done = std::move(done)] { done(Error::unavailable("memory store is down")); });
        return;
    }
    std::map<std::string, core::AddressFacts> out;
    for (const auto& a : addresses) {
        core::AddressFacts f;
        if (auto it = mailboxes_.find(a); it != mailboxes_.end()) {
            core::MailboxQuota q;
            q.user = a;
            q.limits = it->second;
            if (auto r = rows_.find(a); r != rows_.end()) q.usage = r->second.usage;
            f.mailbox = q;
        }
        if (auto it = aliases_.find(a); it != aliases_.end()) f.aliases = it->second;
        std::string domain(identity::domainOf(a));
        if (auto it = aliases_.find("@" + domain); it != aliases_.end()) f.catch_all = it->second;
        if (auto it = alias_domains_.find(domain); it != alias_domains_.end()) f.alias_target = it->second;
        out[a] = std::move(f);
    }
    complete([done = std::move(done), out = std::move(out)] { done(out); });
}

}  // namespace titan::quotad::store
