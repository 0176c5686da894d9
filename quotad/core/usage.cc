#include "quotad/core/usage.h"

#include <algorithm>
#include <limits>

namespace titan::quotad::core {

std::optional<Resource> parseQuotaKey(std::string_view key) noexcept {
    if (key == kStorageKey) return Resource::Storage;
    if (key == kMessagesKey) return Resource::Messages;
    return std::nullopt;
}

std::string_view quotaKey(Resource r) noexcept { return r == Resource::Storage ? kStorageKey : kMessagesKey; }

const char* resourceName(Resource r) noexcept { return r == Resource::Storage ? "storage" : "messages"; }

WarningRules::WarningRules(std::vector<Threshold> thresholds) : all_(std::move(thresholds)) {
    for (std::size_t i = 0; i < all_.size(); ++i) sorted_[static_cast<std::size_t>(all_[i].resource)].push_back(i);
    for (auto& v : sorted_) {
        std::stable_sort(v.begin(), v.end(), [this](std::size_t a, std::size_t b) { return all_[a].percent < all_[b].percent; });
    }
}

std::uint8_t WarningRules::levelOf(Resource r, std::int64_t used, std::uint64_t limit) const noexcept {
    if (limit == 0 || used <= 0) return 0;
    const auto& idx = sorted_[static_cast<std::size_t>(r)];
    std::uint8_t level = 0;
    for (std::size_t i : idx) {
        // used * 100 >= percent * limit, in 128 bits: neither side can overflow.
        unsigned __int128 lhs = static_cast<unsigned __int128>(used) * 100u;
        unsigned __int128 rhs = static_cast<unsigned __int128>(all_[i].percent) * limit;
        if (lhs < rhs) break;
        if (level == std::numeric_limits<std::uint8_t>::max()) break;
        ++level;
    }
    return level;
}

std::size_t WarningRules::indexOf(Resource r, std::uint8_t level) const noexcept {
    const auto& idx = sorted_[static_cast<std::size_t>(r)];
    if (level == 0 || idx.empty()) return 0;
    return idx[std::min<std::size_t>(level, idx.size()) - 1];
}

namespace {

// a + b without overflow: saturates at the int64 range.
std::int64_t saturatingAdd(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t out = 0;
    if (__builtin_add_overflow(a, b, &out)) {
        return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
    }
    return out;
}

}  // namespace

BatchResult applyBatch(const std::vector<CommitRequest>& batch, const std::map<std::string, Row>& current,
                       const std::map<std::string, Limits>& limits, const WarningRules& rules) {
    BatchResult out;
    out.statuses.reserve(batch.size());
    // Working copy of the rows the batch touches; `exists` tells a new row from a stored one.
    struct Work {
        Row row;
        bool existed = false;
        bool exists = false;
    };
    std::map<std::string, Work> work;
    for (const auto& commit : batch) {
        auto [it, inserted] = work.try_emplace(commit.user);
        if (inserted) {
            if (auto c = current.find(commit.user); c != current.end()) {
                it->second.row = c->second;
                it->second.existed = it->second.exists = true;
            }
        }
        Work& w = it->second;
        const Usage before = w.row.usage;
        CommitStatus status = CommitStatus::Ok;
        bool writes = false;
        for (const Op& op : commit.ops) {
            auto& value = w.row.usage[op.resource];
            switch (op.kind) {
                case Op::Kind::Set:
                    writes = true;
                    if (op.value < 0) {
                        out.clamps.push_back({commit.user, op.resource, op.value});
                        value = 0;
                    } else {
                        value = op.value;
                    }
                    break;
                case Op::Kind::Unset:
                    writes = true;
                    value.reset();
                    break;
                case Op::Kind::Inc: {
                    if (!value) {
                        status = CommitStatus::NotFound;
                        break;
                    }
                    writes = true;
                    std::int64_t next = saturatingAdd(*value, op.value);
                    if (next < 0) {
                        out.clamps.push_back({commit.user, op.resource, next});
                        next = 0;
                    }
                    value = next;
                    break;
                }
            }
        }
        if (writes) w.exists = true;
        out.statuses.push_back(status);
        if (!w.exists || rules.empty()) continue;
        const Limits lim = [&] {
            auto l = limits.find(commit.user);
            return l == limits.end() ? Limits{} : l->second;
        }();
        for (Resource r : kResources) {
            const auto& now = w.row.usage[r];
            if (!now) continue;  // unknown until Dovecot recounts: keep the stored level
            auto& stored = w.row.warn_level[static_cast<std::size_t>(r)];
            const std::uint8_t level = rules.levelOf(r, *now, lim.of(r));
            if (level > stored && before[r]) {
                out.warnings.push_back({commit.user, r, rules.indexOf(r, level), *now, lim.of(r)});
            }
            stored = level;
        }
    }
    for (auto& [user, w] : work) {
        if (!w.exists) continue;
        if (w.existed) {
            auto c = current.find(user);
            if (c != current.end() && c->second == w.row) continue;
        }
        out.changed.emplace(user, w.row);
    }
    return out;
}

}  // namespace titan::quotad::core
