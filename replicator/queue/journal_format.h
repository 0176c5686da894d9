// The on-disk format of the replication queue's journal: one record per line, each
// with its own CRC-32, so a torn or damaged line is detected and skipped instead of
// poisoning the rest. Pure codec and replay fold: no I/O (store/journal does the
// files). Layer: replicator/queue (base + common/proto tab-escaping).
//
// Grammar (fields tab-separated and tab-escaped, protocols.md 3.2):
//   line   = record TAB crc LF          crc = 8 lower-case hex digits, CRC-32 (IEEE)
//                                              of the record bytes before the TAB
//   record = "H" TAB "titan-replicator-journal" TAB "1"       header, first line
//          / "C" TAB user TAB priority TAB oldest-ms TAB full  user dirty (full: 0/1)
//          / "D" TAB user                                     user clean
//          / "P" TAB peer TAB paused                          peer paused 0/1
//          / "F" TAB cursor TAB pass-start-ms                 full-sync sweep progress
// Replay: C records of one user merge (highest priority, oldest time, full if any)
// until a D clears the user; the last P per peer and the last F win. Empty lines are
// ignored. A line whose CRC does not match, or that does not parse, is counted and
// skipped; a last line without LF (a torn write) is counted separately.
// Example: "C\tbob@example.test\thigh\t1767225600000\t0\t1c291ca3\n"
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "replicator/queue/queue.h"

namespace titan::replicator::queue {

struct HeaderRecord {
    bool operator==(const HeaderRecord&) const = default;
};
struct DirtyRecord {
    DirtyState state;
    bool operator==(const DirtyRecord& o) const {
        return state.user == o.state.user && state.priority == o.state.priority && state.oldest == o.state.oldest &&
               state.full == o.state.full;
    }
};
struct CleanRecord {
    std::string user;
    bool operator==(const CleanRecord&) const = default;
};
struct PauseRecord {
    std::string peer;
    bool paused = false;
    bool operator==(const PauseRecord&) const = default;
};
struct SweepRecord {
    std::string cursor;  // last user handed to the sweep ("" = start of a pass)
    Time pass_started{};
    bool operator==(const SweepRecord&) const = default;
};
using Record = std::variant<HeaderRecord, DirtyRecord, CleanRecord, PauseRecord, SweepRecord>;

// CRC-32 (IEEE 802.3, as zlib's crc32()).
std::uint32_t crc32(std::string_view data) noexcept;

// One complete line including its CRC and LF.
std::string encodeRecord(const Record& record);

// Decodes one line without its LF. nullopt: bad CRC, unknown record type or bad
// fields (a record of type C with priority none is bad too).
std::optional<Record> decodeRecord(std::string_view line);

struct Replay {
    std::map<std::string, DirtyState> dirty;  // users to restore
    std::map<std::string, bool> paused;       // peer -> paused (only true entries matter)
    std::optional<SweepRecord> sweep;
    std::size_t records = 0;     // lines decoded
    std::size_t bad_lines = 0;   // CRC or format errors (skipped)
    bool torn_tail = false;      // the data did not end with LF (last line skipped)
    bool header = false;         // a header record was seen
};

// Folds a whole journal file into the state it describes.
Replay replay(std::string_view content);

}  // namespace titan::replicator::queue
