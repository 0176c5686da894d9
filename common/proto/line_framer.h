// Incremental line framing shared by every line-oriented protocol server (dict proxy,
// policy delegation, ...). Finds the next LF-terminated line in bytes the caller has
// already buffered. It does no I/O, owns no buffer and never copies: the returned text
// is a view into the caller's bytes. Protocol parsing is left to the codecs.
// Layer: common/proto (standard library only).
#pragma once

#include <cstddef>
#include <string_view>
#include <variant>

namespace titan::proto {

struct FramerLimits {
    // Longest accepted line in bytes, not counting the LF (nor a CR removed by strip_cr).
    // A line of exactly max_line_bytes is accepted; one byte more is LineTooLong.
    std::size_t max_line_bytes = 64 * 1024;
    // Remove one CR directly before the LF. Dovecot protocols: false (a CR is data).
    bool strip_cr = false;
};

// One complete line. text excludes the LF (and the CR when stripped) and points into the
// buffer passed to nextLine(); consumed is the number of bytes to drop from the front of
// that buffer, LF included.
struct Line {
    std::string_view text;
    std::size_t consumed = 0;
    bool operator==(const Line&) const = default;
};

// No LF yet and the buffered bytes are still within the limit: read more.
struct NeedMore {
    bool operator==(const NeedMore&) const = default;
};

// The line at the front of the buffer exceeds `limit`. Reported as soon as more than
// limit bytes (limit + 1 with strip_cr, when the last of them is a CR) are buffered
// without an LF, so a peer cannot make us buffer without bound. There is no
// resynchronisation: the caller answers with an error (if the protocol has one) and
// closes the connection.
struct LineTooLong {
    std::size_t limit = 0;
    bool operator==(const LineTooLong&) const = default;
};

using FrameResult = std::variant<Line, NeedMore, LineTooLong>;

// Looks for the first line in `buffered`. Pure and O(min(buffered.size(), limit)): call it
// again after dropping Line::consumed bytes to get the next line. Bytes other than LF
// (and the one CR with strip_cr) are never interpreted, NUL included.
FrameResult nextLine(std::string_view buffered, const FramerLimits& limits);

// Same, with strip_cr given explicitly (limits.strip_cr is ignored).
FrameResult nextLine(std::string_view buffered, const FramerLimits& limits, bool strip_cr);

}  // namespace titan::proto
