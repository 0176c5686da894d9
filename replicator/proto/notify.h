// The Dovecot 2.3 replication-notify protocol, as the replication plugin speaks it to
// the aggregator (protocols.md 6.3): one request per line, tab-separated and
// tab-escaped (protocols.md 3.2), on the fifo and on the sync socket.
// Pure codec: no I/O, no identity rule (the caller canonicalises the user).
// Layer: replicator/proto (base + common/proto).
//
// Grammar (LF-terminated line, the LF and the framing are the caller's):
//   line     = user TAB priority *( TAB ignored-field )
//   user     = 1*byte, tab-escaped (\001 1, \001 t, \001 r, \001 n, \001 0)
//   priority = "low" / "high" / "sync"          (exact, lower case)
// Leniency: extra fields are ignored (the aggregator does the same); "none" is
// rejected (it crashes Dovecot's aggregator, so the plugin never sends it); NUL in
// the user is rejected. The sync socket answers "+\n" (replicated) or "-\n"
// (failed or timed out); the fifo has no reply channel, so "sync" there is
// treated as "high".
// Example: C: "bob@example.test\tsync"  S: "+"
//
// Limits: Dovecot's aggregator reads at most 8192 bytes per line; callers frame
// with kMaxLineBytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace titan::replicator::proto {

inline constexpr std::size_t kMaxLineBytes = 8192;

enum class NotifyPriority { Low, High, Sync };

const char* notifyPriorityName(NotifyPriority p) noexcept;

struct Notification {
    std::string user;  // unescaped, as sent (not canonicalised)
    NotifyPriority priority = NotifyPriority::Low;
    bool operator==(const Notification&) const = default;
};

struct NotifyError {
    std::string reason;  // constant text for logs and metrics labels
    bool operator==(const NotifyError&) const = default;
};

using NotifyParse = std::variant<Notification, NotifyError>;

// Parses one line without its LF. Errors: "missing priority", "empty user",
// "NUL in user", "unknown priority".
NotifyParse parseNotifyLine(std::string_view line);

// The exact inverse of parseNotifyLine for a valid Notification (no LF appended).
std::string encodeNotifyLine(const Notification& n);

// Replies on the sync socket.
inline constexpr std::string_view kSyncOk = "+\n";
inline constexpr std::string_view kSyncFail = "-\n";

}  // namespace titan::replicator::proto
