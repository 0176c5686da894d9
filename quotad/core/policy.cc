#include "quotad/core/policy.h"

#include <algorithm>

namespace titan::quotad::core {

std::optional<std::string> recipientKey(std::string_view recipient, std::string_view delimiters,
                                        const identity::Options& identity) {
    if (recipient.empty()) return std::nullopt;
    const auto at = recipient.rfind('@');
    if (at == std::string_view::npos || at == 0) return std::nullopt;
    std::string address(recipient);
    if (!delimiters.empty()) {
        const auto pos = recipient.substr(0, at).find_first_of(delimiters);
        if (pos != std::string_view::npos && pos > 0) address.erase(pos, at - pos);
    }
    auto canonical = identity::canonicalUser(address, identity);
    if (!canonical) return std::nullopt;
    return std::move(*canonical);
}

Expander::Expander(std::string recipient, ExpanderLimits limits, identity::Options identity)
    : limits_(limits), identity_(identity) {
    std::vector<std::string> first;
    want(recipient, 0, first);
    wanted_ = std::move(first);
}

void Expander::want(const std::string& address, std::size_t depth, std::vector<std::string>& next) {
    if (seen_.count(address) != 0) return;
    if (depth > limits_.max_depth || seen_.size() >= limits_.max_addresses) {
        truncated_ = true;
        return;
    }
    seen_.insert(address);
    depth_[address] = depth;
    next.push_back(address);
}

void Expander::feed(const std::map<std::string, AddressFacts>& facts) {
    static const AddressFacts kNothing;
    std::vector<std::string> next;
    auto addMailbox = [this](const MailboxQuota& m) {
        if (mailbox_seen_.insert(m.user).second) mailboxes_.push_back(m);
    };
    for (const auto& address : wanted_) {
        auto it = facts.find(address);
        const AddressFacts& f = it == facts.end() ? kNothing : it->second;
        const std::size_t depth = depth_[address];
        // Postfix appends the original local part to a destination written as "@domain".
        auto follow = [&](const std::string& destination, const std::string& from) {
            std::string raw = !destination.empty() && destination.front() == '@'
                                  ? std::string(identity::localPartOf(from)) + destination
                                  : destination;
            auto canonical = identity::canonicalUser(raw, identity_);
            if (!canonical) return std::string();
            if (*canonical == address) {
                if (f.mailbox) addMailbox(*f.mailbox);
                return std::string();
            }
            want(*canonical, depth + 1, next);
            return *canonical;
        };
        if (!f.aliases.empty()) {
            for (const auto& d : f.aliases) follow(d, address);
        } else if (f.mailbox) {
            addMailbox(*f.mailbox);
        } else if (f.alias_target) {
            const std::string target = follow(std::string(identity::localPartOf(address)) + "@" + *f.alias_target, address);
            if (!target.empty() && !f.catch_all.empty()) fallback_[target] = {f.catch_all, address};
        } else if (!f.catch_all.empty()) {
            for (const auto& d : f.catch_all) follow(d, address);
        } else if (auto fb = fallback_.find(address); fb != fallback_.end()) {
            // Reached through an alias domain and empty here: the alias domain's catch-all.
            for (const auto& d : fb->second.first) follow(d, fb->second.second);
        }
    }
    wanted_ = std::move(next);
}

std::uint64_t Grace::bytesFor(std::uint64_t limit) const noexcept {
    if (!percent) return amount;
    return static_cast<std::uint64_t>(static_cast<unsigned __int128>(limit) * amount / 100u);
}

const char* verdictName(Verdict v) noexcept {
    switch (v) {
        case Verdict::Accept: return "accept";
        case Verdict::NoMailbox: return "no_mailbox";
        case Verdict::OverQuota: return "over_quota";
        case Verdict::TooLarge: return "too_large";
    }
    return "accept";
}

namespace {

Verdict check(const MailboxQuota& m, std::uint64_t size, const Grace& grace, Resource* which) {
    const std::uint64_t want = std::max<std::uint64_t>(size, 1);
    const std::uint64_t limit = m.limits.bytes;
    if (limit > 0) {
        *which = Resource::Storage;
        if (want > limit) return Verdict::TooLarge;
        const auto used = static_cast<std::uint64_t>(std::max<std::int64_t>(m.usage[Resource::Storage].value_or(0), 0));
        if (used >= limit) return Verdict::OverQuota;
        const unsigned __int128 room = static_cast<unsigned __int128>(limit - used) + grace.bytesFor(limit);
        if (want > room) return Verdict::OverQuota;
    }
    if (m.limits.messages > 0) {
        *which = Resource::Messages;
        const auto count = static_cast<std::uint64_t>(std::max<std::int64_t>(m.usage[Resource::Messages].value_or(0), 0));
        if (count >= m.limits.messages) return Verdict::OverQuota;
    }
    return Verdict::Accept;
}

}  // namespace

Decision decide(const std::vector<MailboxQuota>& mailboxes, std::uint64_t size, const Grace& grace) {
    if (mailboxes.empty()) return {Verdict::NoMailbox, {}, std::nullopt};
    Decision over{Verdict::Accept, {}, std::nullopt};
    for (const auto& m : mailboxes) {
        Resource which = Resource::Storage;
        const Verdict v = check(m, size, grace, &which);
        if (v == Verdict::TooLarge) return {Verdict::TooLarge, m.user, which};
        if (v == Verdict::OverQuota && over.verdict == Verdict::Accept) over = {Verdict::OverQuota, m.user, which};
    }
    return over;
}

}  // namespace titan::quotad::core
