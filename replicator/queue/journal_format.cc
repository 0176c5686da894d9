#include "replicator/queue/journal_format.h"

#include <array>
#include <cstdio>
#include <vector>

#include "common/base/strings.h"
#include "common/proto/dovecot_dict/dict.h"

namespace titan::replicator::queue {
namespace {

constexpr std::string_view kMagic = "titan-replicator-journal";

std::array<std::uint32_t, 256> makeTable() {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1U) != 0 ? 0xEDB88320U ^ (c >> 1) : c >> 1;
        t[i] = c;
    }
    return t;
}

std::string hex8(std::uint32_t v) {
    char buf[9];
    std::snprintf(buf, sizeof(buf), "%08x", v);
    return std::string(buf, 8);
}

std::string join(const std::vector<std::string>& fields) {
    std::string out;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i > 0) out += '\t';
        out += titan::proto::dict::escape(fields[i]);
    }
    return out;
}

std::string millis(Time t) { return std::to_string(t.time_since_epoch().count()); }

std::optional<Time> parseMillis(const std::string& s) {
    auto v = base::parseUnsigned(s);
    if (!v || *v > static_cast<unsigned long long>(INT64_MAX)) return std::nullopt;
    return Time(std::chrono::milliseconds(static_cast<std::int64_t>(*v)));
}

std::optional<bool> parseFlag(const std::string& s) {
    if (s == "0") return false;
    if (s == "1") return true;
    return std::nullopt;
}

}  // namespace

std::uint32_t crc32(std::string_view data) noexcept {
    static const auto table = makeTable();
    std::uint32_t c = 0xFFFFFFFFU;
    for (unsigned char ch : data) c = table[(c ^ ch) & 0xFFU] ^ (c >> 8);
    return c ^ 0xFFFFFFFFU;
}

std::string encodeRecord(const Record& record) {
    std::string body;
    if (std::holds_alternative<HeaderRecord>(record)) {
        body = join({"H", std::string(kMagic), "1"});
    } else if (const auto* d = std::get_if<DirtyRecord>(&record)) {
        body = join({"C", d->state.user, priorityName(d->state.priority), millis(d->state.oldest),
                     d->state.full ? "1" : "0"});
    } else if (const auto* c = std::get_if<CleanRecord>(&record)) {
        body = join({"D", c->user});
    } else if (const auto* p = std::get_if<PauseRecord>(&record)) {
        body = join({"P", p->peer, p->paused ? "1" : "0"});
    } else if (const auto* s = std::get_if<SweepRecord>(&record)) {
        body = join({"F", s->cursor, millis(s->pass_started)});
    }
    return body + "\t" + hex8(crc32(body)) + "\n";
}

std::optional<Record> decodeRecord(std::string_view line) {
    auto tab = line.rfind('\t');
    if (tab == std::string_view::npos || line.size() - tab - 1 != 8) return std::nullopt;
    std::string_view body = line.substr(0, tab);
    if (hex8(crc32(body)) != line.substr(tab + 1)) return std::nullopt;
    auto f = titan::proto::dict::splitFields(body);
    if (f.empty()) return std::nullopt;
    const std::string& type = f[0];
    if (type == "H" && f.size() == 3 && f[1] == kMagic && f[2] == "1") return HeaderRecord{};
    if (type == "C" && f.size() == 5 && !f[1].empty()) {
        auto prio = parsePriority(f[2]);
        auto oldest = parseMillis(f[3]);
        auto full = parseFlag(f[4]);
        if (!prio || *prio == Priority::None || !oldest || !full) return std::nullopt;
        return DirtyRecord{DirtyState{f[1], *prio, *oldest, *full}};
    }
    if (type == "D" && f.size() == 2 && !f[1].empty()) return CleanRecord{f[1]};
    if (type == "P" && f.size() == 3 && !f[1].empty()) {
        auto paused = parseFlag(f[2]);
        if (!paused) return std::nullopt;
        return PauseRecord{f[1], *paused};
    }
    if (type == "F" && f.size() == 3) {
        auto started = parseMillis(f[2]);
        if (!started) return std::nullopt;
        return SweepRecord{f[1], *started};
    }
    return std::nullopt;
}

Replay replay(std::string_view content) {
    Replay r;
    while (!content.empty()) {
        auto lf = content.find('\n');
        if (lf == std::string_view::npos) {
            r.torn_tail = true;
            break;
        }
        std::string_view line = content.substr(0, lf);
        content.remove_prefix(lf + 1);
        if (line.empty()) continue;
        auto rec = decodeRecord(line);
        if (!rec) {
            ++r.bad_lines;
            continue;
        }
        ++r.records;
        if (std::holds_alternative<HeaderRecord>(*rec)) {
            r.header = true;
        } else if (auto* d = std::get_if<DirtyRecord>(&*rec)) {
            auto [it, created] = r.dirty.try_emplace(d->state.user, d->state);
            if (!created) {
                DirtyState& s = it->second;
                s.priority = maxPriority(s.priority, d->state.priority);
                s.oldest = std::min(s.oldest, d->state.oldest);
                s.full = s.full || d->state.full;
            }
        } else if (auto* c = std::get_if<CleanRecord>(&*rec)) {
            r.dirty.erase(c->user);
        } else if (auto* p = std::get_if<PauseRecord>(&*rec)) {
            if (p->paused) {
                r.paused[p->peer] = true;
            } else {
                r.paused.erase(p->peer);
            }
        } else if (auto* s = std::get_if<SweepRecord>(&*rec)) {
            r.sweep = *s;
        }
    }
    return r;
}

}  // namespace titan::replicator::queue
