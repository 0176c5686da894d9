#include "authd/core/throttle.h"

namespace titan::authd::core {

const char* scopeName(Scope s) noexcept { return s == Scope::Ip ? "ip" : "user"; }

std::string Throttle::key(Scope s, const std::string& subject) {
    return std::string(s == Scope::Ip ? "i:" : "u:") + subject;
}

bool Throttle::exempt(const std::string& ip) const { return !ip.empty() && options_.exempt.contains(ip); }

bool Throttle::isBlocked(const Entry& e, unsigned limit, TimePoint now) const {
    return limit > 0 && e.failures >= limit && now - e.last_failure < options_.block_time;
}

std::optional<std::string> Throttle::blocked(const std::string& ip, const std::string& user, TimePoint now) const {
    if (!ip.empty() && !exempt(ip)) {
        auto it = entries_.find(key(Scope::Ip, ip));
        if (it != entries_.end() && isBlocked(it->second, options_.max_ip_failures, now)) {
            return "too many failed logins from this address";
        }
    }
    if (!user.empty()) {
        auto it = entries_.find(key(Scope::User, user));
        if (it != entries_.end() && isBlocked(it->second, options_.max_user_failures, now)) {
            return "too many failed logins for this account";
        }
    }
    return std::nullopt;
}

void Throttle::bump(Scope s, const std::string& subject, TimePoint now) {
    auto k = key(s, subject);
    auto it = entries_.find(k);
    if (it == entries_.end()) {
        if (entries_.size() >= options_.max_keys) prune(now);
        if (entries_.size() >= options_.max_keys) return;  // bounded; shared counters still apply
        it = entries_.emplace(std::move(k), Entry{now, now, 0}).first;
    }
    Entry& e = it->second;
    if (now - e.window_start > options_.window) {
        e.window_start = now;
        e.failures = 0;
    }
    ++e.failures;
    e.last_failure = now;
}

void Throttle::recordFailure(const std::string& ip, const std::string& user, TimePoint now) {
    if (!ip.empty() && !exempt(ip)) bump(Scope::Ip, ip, now);
    if (!user.empty()) bump(Scope::User, user, now);
}

void Throttle::merge(Scope scope, const std::string& subject, unsigned failures, std::chrono::milliseconds age,
                     TimePoint now) {
    if (scope == Scope::Ip && exempt(subject)) return;
    auto k = key(scope, subject);
    auto it = entries_.find(k);
    TimePoint last = now - age;
    if (it == entries_.end()) {
        if (entries_.size() >= options_.max_keys) return;
        entries_.emplace(std::move(k), Entry{last, last, failures});
        return;
    }
    Entry& e = it->second;
    if (failures > e.failures) e.failures = failures;
    if (last > e.last_failure) e.last_failure = last;
}

void Throttle::prune(TimePoint now) {
    for (auto it = entries_.begin(); it != entries_.end();) {
        const Entry& e = it->second;
        bool over = now - e.window_start > options_.window && now - e.last_failure >= options_.block_time;
        it = over ? entries_.erase(it) : std::next(it);
    }
}

}  // namespace titan::authd::core
