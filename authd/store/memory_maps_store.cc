#include "authd/store/memory_maps_store.h"

namespace titan::authd::store {

bool MemoryMapsStore::failing() {
    ++calls_;
    if (down_) return true;
    if (fail_next_ > 0) {
        --fail_next_;
        return true;
    }
    return false;
}

void MemoryMapsStore::complete(std::function<void()> fn) {
    if (completion_ == Completion::Immediate || loop_ == nullptr) {
        fn();
        return;
    }
    // Completed timers are kept until the store is destroyed; tests are short.
    timers_.push_back(loop_->after(std::chrono::milliseconds(0), std::move(fn)));
}

void MemoryMapsStore::fetchDomain(const std::string& domain, DomainDone done) {
    if (failing()) {
        complete([done] { done(Error::unavailable("memory maps store: injected failure")); });
        return;
    }
    std::optional<DomainEntry> row;
    if (auto it = domains_.find(domain); it != domains_.end()) row = it->second;
    complete([done, row] { done(row); });
}

void MemoryMapsStore::fetchMailbox(const std::string& address, MailboxDone done) {
    if (failing()) {
        complete([done] { done(Error::unavailable("memory maps store: injected failure")); });
        return;
    }
    std::optional<std::string> row;
    if (auto it = mailboxes_.find(address); it != mailboxes_.end()) row = it->second;
    complete([done, row] { done(row); });
}

void MemoryMapsStore::list(const std::map<std::string, std::vector<std::string>>& rows, const std::string& key,
                           ListDone done) {
    if (failing()) {
        complete([done] { done(Error::unavailable("memory maps store: injected failure")); });
        return;
    }
    std::optional<std::vector<std::string>> values;
    if (auto it = rows.find(key); it != rows.end() && !it->second.empty()) values = it->second;
    complete([done, values] { done(values); });
}

void MemoryMapsStore::fetchAliases(const std::string& source, ListDone done) { list(aliases_, source, std::move(done)); }

void MemoryMapsStore::fetchSenderLogins(const std::string& address, ListDone done) {
    list(senders_, address, std::move(done));
}

}  // namespace titan::authd::store
