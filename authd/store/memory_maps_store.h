// In-memory MapsStore for unit tests: rows set by the test, completion on the next loop
// turn (or immediately, to test re-entrancy), fault injection and call counting.
// Layer: authd/store.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "authd/store/maps_store.h"
#include "common/event/loop.h"

namespace titan::authd::store {

class MemoryMapsStore : public MapsStore {
public:
    enum class Completion { NextLoopTurn, Immediate };
    explicit MemoryMapsStore(event::Loop* loop, Completion completion = Completion::NextLoopTurn)
        : loop_(loop), completion_(completion) {}

    void addDomain(const std::string& domain) { domains_[domain] = DomainEntry{}; }
    void addAliasDomain(const std::string& domain, const std::string& target) { domains_[domain] = DomainEntry{target}; }
    void addMailbox(const std::string& address) { mailboxes_[address] = address; }
    void addAlias(const std::string& source, const std::string& destination) { aliases_[source].push_back(destination); }
    void addSenderLogin(const std::string& address, const std::string& login) { senders_[address].push_back(login); }
    void removeMailbox(const std::string& address) { mailboxes_.erase(address); }
    void clearAliases(const std::string& source) { aliases_.erase(source); }

    // The next `n` calls fail with Unavailable.
    void failNextForTest(int n) { fail_next_ = n; }
    // Every call fails with Unavailable until cleared.
    void setDownForTest(bool down) { down_ = down; }
    unsigned long long calls() const noexcept { return calls_; }

    void fetchDomain(const std::string& domain, DomainDone done) override;
    void fetchMailbox(const std::string& address, MailboxDone done) override;
    void fetchAliases(const std::string& source, ListDone done) override;
    void fetchSenderLogins(const std::string& address, ListDone done) override;

private:
    void complete(std::function<void()> fn);
    bool failing();
    void list(const std::map<std::string, std::vector<std::string>>& rows, const std::string& key, ListDone done);

    event::Loop* loop_;
    Completion completion_;
    std::map<std::string, DomainEntry> domains_;
    std::map<std::string, std::string> mailboxes_;
    std::map<std::string, std::vector<std::string>> aliases_;
    std::map<std::string, std::vector<std::string>> senders_;
    int fail_next_ = 0;
    bool down_ = false;
    unsigned long long calls_ = 0;
    std::vector<std::unique_ptr<event::Timer>> timers_;
};

}  // namespace titan::authd::store
