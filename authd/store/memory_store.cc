#include "authd/store/memory_store.h"

namespace titan::authd::store {

bool MemoryStore::failing() {
    ++calls_;
    if (down_) return true;
    if (fail_next_ > 0) {
        --fail_next_;
        return true;
    }
    return false;
}

void MemoryStore::complete(std::function<void()> fn) {
    if (completion_ == Completion::Immediate || loop_ == nullptr) {
        fn();
        return;
    }
    // Completed timers are kept until the store is destroyed; tests are short.
    timers_.push_back(loop_->after(std::chrono::milliseconds(0), std::move(fn)));
}

void MemoryStore::fetchMailbox(const std::string& user, MailboxDone done) {
    if (failing()) {
        complete([done] { done(Error::unavailable("memory store: injected failure")); });
        return;
    }
    std::optional<Mailbox> row;
    if (auto it = rows_.find(user); it != rows_.end()) row = it->second;
    complete([done, row] { done(row); });
}

void MemoryStore::fetchUserPage(const std::string& after, size_t limit, PageDone done) {
    if (failing()) {
        complete([done] { done(Error::unavailable("memory store: injected failure")); });
        return;
    }
    std::vector<Mailbox> page;
    for (auto it = rows_.upper_bound(after); it != rows_.end() && page.size() < limit; ++it) {
        page.push_back(it->second);
    }
    complete([done, page] { done(page); });
}

}  // namespace titan::authd::store
