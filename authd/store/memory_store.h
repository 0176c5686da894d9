// In-memory Store for unit and contract tests: completes on the next loop turn
// (or immediately, to test re-entrancy), with fault injection. Layer: authd/store.
#pragma once

#include <map>

#include "authd/store/store.h"
#include "common/event/loop.h"

namespace titan::authd::store {

class MemoryStore : public Store {
public:
    enum class Completion { NextLoopTurn, Immediate };
    explicit MemoryStore(event::Loop* loop, Completion completion = Completion::NextLoopTurn)
        : loop_(loop), completion_(completion) {}

    void put(const Mailbox& m) { rows_[m.username] = m; }
    void remove(const std::string& user) { rows_.erase(user); }
    // The next `n` calls fail with Unavailable.
    void failNextForTest(int n) { fail_next_ = n; }
    // Every call fails with Unavailable until cleared.
    void setDownForTest(bool down) { down_ = down; }
    unsigned long long calls() const noexcept { return calls_; }

    void fetchMailbox(const std::string& user, MailboxDone done) override;
    void fetchUserPage(const std::string& after, size_t limit, PageDone done) override;

private:
    void complete(std::function<void()> fn);
    bool failing();
    event::Loop* loop_;
    Completion completion_;
    std::map<std::string, Mailbox> rows_;
    int fail_next_ = 0;
    bool down_ = false;
    unsigned long long calls_ = 0;
    std::vector<std::unique_ptr<event::Timer>> timers_;
};

}  // namespace titan::authd::store
