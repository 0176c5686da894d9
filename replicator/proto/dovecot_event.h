// Dovecot 2.4's change signal: one line of its event_exporter (driver `unix`, format
// `json`; the `http-post` driver sends the same text as a request body) carrying a
// `push_notification_finished` event, i.e. "a transaction changed
// user U's mail". Dovecot 2.4 has no replication plugin; this is what feeds the queue
// there (docs/protocols: contrib/dovecot-2.4/conf.d/30-titan-replication.conf).
// Pure codec: picks the few members the replicator needs out of one JSON object, skips
// the rest; no I/O, no identity rule. Layer: replicator/proto (base only).
//
// Input: one LF-terminated line (the LF and the framing are the caller's) holding one
// JSON object (RFC 8259), as the stats process writes it, e.g.
//   {"event":"push_notification_finished","fields":{"user":"bob@example.test",
//    "service":"lmtp","reason_code":["lmtp:cmd_data"],"rcpt_to":"bob@example.test"}}
// Used members: "event" (string), and inside "fields": "user" (string), "service"
// (string), "reason_code" (a string, or an array of strings). Everything else is
// skipped, whatever its type; a repeated member keeps the last value.
// Leniency and limits: whitespace around tokens is allowed; a line of only whitespace
// is an error; nesting deeper than kMaxEventDepth, raw control bytes or NUL (also as
// \u0000) inside strings, bad escapes, unpaired surrogates and trailing bytes after the
// object are errors; numbers are checked for JSON's shape, not converted. The caller
// bounds the line length (kMaxEventLineBytes is a sensible frame limit).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace titan::replicator::proto {

inline constexpr std::size_t kMaxEventLineBytes = 64 * 1024;
inline constexpr std::size_t kMaxEventDepth = 16;

struct ChangeEvent {
    std::string name;                       // "event"; empty when absent
    std::string user;                       // fields.user (not canonicalised); empty when absent
    std::string service;                    // fields.service; empty when absent
    std::vector<std::string> reason_codes;  // fields.reason_code
    bool operator==(const ChangeEvent&) const = default;
};

struct EventError {
    std::string reason;  // constant text, usable as a log field
    bool operator==(const EventError&) const = default;
};

using EventParse = std::variant<ChangeEvent, EventError>;

// Parses one exported event line (without its LF). Errors: "not a JSON object", "bad
// JSON", "too deep", "control byte in string", "NUL in string", "bad escape",
// "trailing data".
EventParse parseEventLine(std::string_view line);

// True when the change was written by doveadm's own replication (the loop trap: a sync
// writes into both sides, and each write raises an event of its own). dsync marks its
// transactions with the reason codes doveadm:cmd_dsync_server (the remote side),
// doveadm:cmd_sync and doveadm:cmd_backup (the side that ran the command).
bool writtenByReplication(const ChangeEvent& event);

// The exact JSON this codec reads back into `event` (tests and fuzzing): an object with
// "event" and "fields" {"user", "service", "reason_code": [...]}.
std::string encodeEventLine(const ChangeEvent& event);

}  // namespace titan::replicator::proto
