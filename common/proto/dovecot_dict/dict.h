// Codec for Dovecot's dict proxy protocol (the `proxy:` dict client <-> a dict server),
// major versions 3 (Dovecot 2.3.17-2.3.21) and 4 (Dovecot 2.4): tab-escaping, command
// parsing, reply encoding, and the client direction (command encoding, reply parsing).
// It does not frame lines (see common/proto/line_framer.h), keep transaction state,
// check that a priv/ key comes with a user, or validate user names: those belong to the
// daemon. Layer: common/proto (titan_base only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace titan::proto::dict {

// ---------------------------------------------------------------------------------------
// Wire format (protocols.md section 3).
//
// Framing: one request or reply per LF-terminated line. Dovecot's own server reads lines
// of up to 64 KiB; a CR is never stripped (it is data). Frame with
// FramerLimits{.max_line_bytes = recommendedMaxLineBytes(limits), .strip_cr = false}.
//
// Escaping, inside every field: 0x00 -> \001 '0', 0x01 -> \001 '1', TAB -> \001 't',
// CR -> \001 'r', LF -> \001 'n'. Decoding: \001 X gives the byte above for X in 0 1 t r n
// and X itself for any other X; a lone \001 at the end of a field is dropped. A line is
// split on raw TAB first, then each field is unescaped; an empty string is zero fields.
//
// Client -> server (the letter is directly followed by the first field):
//   hello   H<major> TAB <minor> TAB <value type> TAB <user> TAB <dict name>
//   lookup  L<key> [TAB <user>]
//   iterate I<flags> TAB <max rows> TAB <path> [TAB <user>]
//   begin   B<id> [TAB <user> [TAB <expire secs>]]      (expire secs: major 4 only)
//   set     S<id> TAB <key> TAB <value>
//   unset   U<id> TAB <key>
//   inc     A<id> TAB <key> TAB <diff>
//   stamp   T<id> TAB <secs> TAB <nsecs>
//   commit  C<id>          async commit (old clients)  D<id>
//   rollback R<id>
//
// Server -> client (replies to L, I, C and D only; write commands get none):
//   lookup   O<value> | M<values> | N | F<error>
//   iterate  O<key> TAB <value> ... then an empty line; or F<error>
//   commit   O<id> | N<id> | F<id> TAB <error> | W<id> TAB <error>; answers to D carry an
//            extra leading A (AO1, AF1 TAB <error>)
//   M: each value is escaped, the results are joined with TAB and the whole string is
//   escaped again, so it travels as one field.
//
// Rules and leniency (Dovecot 2.3.19's server is the reference for strictness):
//   * Field counts: at least 1 for L, B, C, D, R; at least 3 for I; exactly 3 for S, A, T;
//     exactly 2 for U; at least 5 for H. Extra trailing fields where "at least" applies
//     are ignored, as Dovecot does. With major 4 the third B field is the expire time;
//     with major 3 it is ignored.
//   * Numbers are plain ASCII decimal: ids, flags, minor, value type, expire secs and
//     nsecs are unsigned 32-bit, max rows unsigned 64-bit; A diff and T secs are signed
//     64-bit with an optional '-' (no '+'). Empty, spaces, other signs, overflow -> error.
//     Leading zeros are accepted. T nsecs must be below 1000000000. The hello major must
//     be 3 or 4 and the value type 0 (string) or 1 (uint32).
//   * Keys (L, S, U, A) and the I path must start with "shared/" or "priv/". Whether a
//     priv/ key has a non-empty user is checked by the daemon (the user of S/U/A is the
//     one given at B).
//   * NUL is rejected anywhere: raw in the line, or escaped (\001 '0') in any field.
//     Dovecot carries fields as C strings, so no real client sends one. A raw LF in a
//     line passed to the parsers is also an error.
//   * Unknown command letters (including V from 2.3.20+/2.4, which no 2.3.19 or 2.4.1
//     component sends) are errors naming the letter. All errors mean "close the
//     connection", as Dovecot's server does.
//   * Invalid UTF-8, SQL metacharacters, quotes, backslashes: data, passed through.
//
// Limits (DictLimits), measured on unescaped bytes: key and I path <= max_key_bytes
// (4096), S value <= max_value_bytes (65536), user of H/L/I/B <= max_user_bytes (512).
// A field exactly at its limit is accepted; one byte more is an error.
//
// Example exchange (\t is TAB; every line ends with LF):
//   C: H3\t2\t0\t\tquota
//   C: Lpriv/quota/storage\tbob@example.com          -> Lookup{key, user}
//   S: O1048576                                       <- encodeLookupFound("1048576")
//   C: B1\tbob@example.com                            -> Begin{1, user}
//   C: A1\tpriv/quota/storage\t2350                   -> AtomicInc{1, key, 2350}
//   C: C1                                             -> Commit{1, false}
//   S: O1                                             <- encodeCommit(CommitResult::Ok, 1)
// ---------------------------------------------------------------------------------------

// Tab-escapes one field (the five bytes listed above); everything else is copied.
std::string escape(std::string_view raw);

// Reverses escape(); also accepts any \001 X as X and drops a lone trailing \001.
std::string unescape(std::string_view field);

// Splits on raw TAB and unescapes each field. "" -> {}; "a\t" -> {"a", ""}.
std::vector<std::string> splitFields(std::string_view line);

struct DictLimits {
    std::size_t max_key_bytes = 4096;
    std::size_t max_value_bytes = 65536;
    std::size_t max_user_bytes = 512;
};

// A line limit that admits every command within `limits` even when each byte is escaped
// (the longest is S: letter, id, two TABs, key and value at twice their size). Never
// below Dovecot's own 64 KiB.
std::size_t recommendedMaxLineBytes(const DictLimits& limits);

struct Hello {
    int major = 3;                 // 3 or 4
    std::uint32_t minor = 2;       // >= 1: timing fields and async ids; >= 2: M replies
    std::uint32_t value_type = 0;  // 0 string, 1 uint32
    std::string user;              // empty for every 2.3.17+ client
    std::string dict_name;
    bool operator==(const Hello&) const = default;
};

struct Lookup {
    std::string key;
    std::string user;
    bool operator==(const Lookup&) const = default;
};

// Iterate flag bits.
inline constexpr std::uint32_t kIterRecurse = 1;
inline constexpr std::uint32_t kIterSortByKey = 2;
inline constexpr std::uint32_t kIterSortByValue = 4;
inline constexpr std::uint32_t kIterNoValue = 8;
inline constexpr std::uint32_t kIterExactKey = 16;
inline constexpr std::uint32_t kIterAsync = 32;

struct Iterate {
    std::uint32_t flags = 0;     // kIter* bits; unknown bits are passed through
    std::uint64_t max_rows = 0;  // 0 = unlimited
    std::string path;
    std::string user;
    bool operator==(const Iterate&) const = default;
};

struct Begin {
    std::uint32_t id = 0;
    std::string user;
    std::optional<std::uint32_t> expire_secs;  // major 4 only (2.4 always sends it)
    bool operator==(const Begin&) const = default;
};

struct Set {
    std::uint32_t id = 0;
    std::string key;
    std::string value;
    bool operator==(const Set&) const = default;
};

struct Unset {
    std::uint32_t id = 0;
    std::string key;
    bool operator==(const Unset&) const = default;
};

struct AtomicInc {
    std::uint32_t id = 0;
    std::string key;
    long long diff = 0;
    bool operator==(const AtomicInc&) const = default;
};

struct Timestamp {
    std::uint32_t id = 0;
    long long secs = 0;
    std::uint32_t nsecs = 0;  // < 1000000000
    bool operator==(const Timestamp&) const = default;
};

struct Commit {
    std::uint32_t id = 0;
    bool async = false;  // sent as D: the reply gets an 'A' prefix
    bool operator==(const Commit&) const = default;
};

struct Rollback {
    std::uint32_t id = 0;
    bool operator==(const Rollback&) const = default;
};

using Command =
    std::variant<Lookup, Iterate, Begin, Set, Unset, AtomicInc, Timestamp, Commit, Rollback>;

// Why a line was refused. The reason names the command and field but never quotes data
// beyond the command letter; callers may log it as is.
struct ProtocolError {
    std::string reason;
    bool operator==(const ProtocolError&) const = default;
};

// Short lower-case name of the command ("lookup", "iterate", "begin", "set", "unset",
// "atomic_inc", "timestamp", "commit", "rollback"), for logs and metrics labels.
const char* commandName(const Command& cmd) noexcept;

// Parses the first line of a connection (without its LF). Accepts majors 3 and 4; user
// longer than limits.max_user_bytes is an error.
std::variant<Hello, ProtocolError> parseHello(std::string_view line, const DictLimits& limits = {});

// Parses one request line (without its LF) after the hello. `major` is Hello::major (3 or
// 4; anything else is an error); it only changes how B's third field is read.
std::variant<Command, ProtocolError> parseCommand(std::string_view line, const DictLimits& limits,
                                                  int major);

// ---- server replies: each returns one full line ending in LF -------------------------

std::string encodeLookupFound(std::string_view value);                    // O<value>
std::string encodeLookupMulti(const std::vector<std::string>& values);    // M<values>
std::string encodeNotFound();                                             // N
std::string encodeFail(std::string_view message);                         // F<message>
std::string encodeIterRow(std::string_view key, std::string_view value);  // O<key>\t<value>
std::string encodeIterEnd();                                              // (empty line)
// F<message>, escaped like every field: Dovecot's client unescapes every reply line
// (Dovecot's own server writes this one text raw).
std::string encodeIterFail(std::string_view message);

enum class CommitResult { Ok, NotFound, Failed, WriteUncertain };

// O<id> / N<id> / F<id>\t<message> / W<id>\t<message>; `message` is only sent for Failed
// and WriteUncertain. async (the commit came as D) prefixes 'A'.
std::string encodeCommit(CommitResult result, std::uint32_t id, std::string_view message = {},
                         bool async = false);

// ---- client direction (test tools): exact inverses of the parsers --------------------

// One request line ending in LF. parseCommand(line without LF, limits, major) gives `cmd`
// back whenever its fields are within limits, contain no NUL, keys are valid, and
// Begin::expire_secs is only set for major 4. Lookup/Iterate/Begin always send the user
// field, even when empty, as Dovecot does.
std::string encodeCommand(const Command& cmd);

// H<major>\t<minor>\t<value type>\t<user>\t<dict name>\n
std::string encodeHello(const Hello& hello);

enum class ReplyKind { Ok, Multi, NotFound, Fail, WriteUncertain, IterEnd };

struct Reply {
    ReplyKind kind = ReplyKind::Ok;
    bool async = false;  // 'A' prefix (answer to D)
    // Unescaped fields after the code letter. As in Dovecot's client the first field is
    // always present, possibly empty ("N" -> {""}, "O" -> {""}, "Ok\tv" -> {"k", "v"});
    // IterEnd has none.
    std::vector<std::string> fields;
    // Multi only: the values carried in fields[0].
    std::vector<std::string> values;
    bool operator==(const Reply&) const = default;
};

// Parses one reply line (without its LF): O, M, N, F, W, optionally after A, or an empty
// line (end of iteration). Async-id lines (*, +) and NUL bytes are errors. Escaped NULs
// are accepted in replies.
std::variant<Reply, ProtocolError> parseReply(std::string_view line);

}  // namespace titan::proto::dict
