// Codec for Postfix's socketmap lookup-table protocol (socketmap_table(5), Postfix 2.10+):
// netstring framing, request parsing and reply encoding for the server side, and the
// client direction (request encoding, reply parsing) for tests and benchmarks.
// It does no I/O, keeps no connection state and knows nothing about map names or what
// a key means: canonicalising keys and answering them belong to the daemon.
// Layer: common/proto (titan_base only).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace titan::proto::socketmap {

// ---------------------------------------------------------------------------------------
// Wire format (protocols.md section 2, Postfix src/util/dict_sockmap.c and netstring.c).
//
// Framing: every request and every reply is one netstring, `<length>:<payload>,`, where
// <length> is the payload size in ASCII decimal. Postfix writes it without leading zeros
// and reads exactly: digits, ':', <length> bytes, ','. A connection carries any number of
// requests one after the other; Postfix sends the next one only after the reply.
//
// Request payload:  <name> SP <key>
//   <name>  the map name: everything after the last ':' of the table name in main.cf.
//   <key>   everything after the first SP, raw bytes, no escaping (may hold SP, UTF-8).
// Reply payload (the status is case-sensitive):
//   OK SP <data>        found; <data> is the value (must not be empty, see below)
//   NOTFOUND SP         not found
//   TEMP SP <reason>    temporary failure (Postfix defers: 451 in smtpd)
//   PERM SP <reason>    permanent/configuration failure
//   (Postfix also accepts TIMEOUT SP <reason> as temporary; anything else is logged as
//   unknown and treated as temporary.)
//
// Rules and leniency (this codec, server side):
//   * Length prefix: 1 to kMaxLengthDigits ASCII digits, leading zeros accepted (Postfix's
//     reader accepts them too). No sign, no spaces. Anything else before ':' is
//     Malformed; more digits than kMaxLengthDigits is Malformed.
//   * A length above the payload limit is TooLong, reported as soon as the digits read
//     so far exceed the limit, before the payload arrives: nothing unbounded is buffered.
//   * The byte after the payload must be ','; anything else is Malformed.
//   * There is no resynchronisation after Malformed or TooLong: the server closes the
//     connection (logged). Postfix then reports a temporary lookup failure.
//   * Inside a well-framed request: no SP at all, an empty name, a name with bytes
//     outside 0x21..0x7e, a name over max_name_bytes, a key over max_key_bytes or a NUL
//     anywhere is a ProtocolError. The frame is intact, so the server answers PERM and
//     keeps the connection. An empty key is valid (the daemon answers NOTFOUND).
//   * Keys are not case-folded here: Postfix does not fold them for socketmap tables.
//
// Postfix's side of the limits: replies above 100000 payload bytes are a temporary
// failure; `OK` without the space is read as "not found"; `OK ` with empty data makes
// Postfix log a configuration error. Callers must send non-empty OK data of at most
// kPostfixMaxReplyBytes - 3 bytes.
//
// Example exchange on one connection:
//   C: 21:mailboxes bob@ex.test,            -> Request{"mailboxes", "bob@ex.test"}
//   S: 14:OK bob@ex.test,                   <- encodeOk("bob@ex.test")
//   C: 23:mailboxes nobody@ex.test,
//   S: 9:NOTFOUND ,                         <- encodeNotFound()
//   C: 15:domains ex.test,
//   S: 37:TEMP user database is unavailable, <- encodeTemp("user database is unavailable")
// ---------------------------------------------------------------------------------------

// Longest length prefix accepted, in digits (leading zeros included).
inline constexpr std::size_t kMaxLengthDigits = 10;

// Largest reply payload Postfix 3.7 accepts (DICT_SOCKMAP_DEF_MAX_REPLY).
inline constexpr std::size_t kPostfixMaxReplyBytes = 100000;

struct Limits {
    std::size_t max_name_bytes = 64;
    std::size_t max_key_bytes = 4096;
};

// Largest request payload within `limits`: name, SP, key. Use it as the netstring limit.
std::size_t maxRequestBytes(const Limits& limits);

// ---- framing -----------------------------------------------------------------------

// One complete netstring at the front of the buffer. payload points into the caller's
// bytes; consumed counts the whole frame (prefix, ':', payload, ',').
struct Netstring {
    std::string_view payload;
    std::size_t consumed = 0;
    bool operator==(const Netstring&) const = default;
};

// The frame is incomplete and still within the limits: read more.
struct NeedMore {
    bool operator==(const NeedMore&) const = default;
};

// The announced length exceeds the limit (`limit` is the payload limit).
struct TooLong {
    std::size_t limit = 0;
    bool operator==(const TooLong&) const = default;
};

// Not a netstring. The reason never quotes peer bytes.
struct Malformed {
    std::string reason;
    bool operator==(const Malformed&) const = default;
};

using FrameResult = std::variant<Netstring, NeedMore, TooLong, Malformed>;

// Looks for the first netstring in `buffered` whose payload is at most max_payload_bytes.
// Pure; reads at most kMaxLengthDigits + 2 + max_payload_bytes bytes of the buffer. Call
// again after dropping Netstring::consumed bytes for the next frame. The same bytes split
// anywhere give the same frames: a prefix of a valid stream is NeedMore or a frame.
FrameResult nextNetstring(std::string_view buffered, std::size_t max_payload_bytes);

// `<size>:<payload>,` with no leading zeros.
std::string encodeNetstring(std::string_view payload);

// ---- server side ---------------------------------------------------------------------

struct Request {
    std::string name;
    std::string key;
    bool operator==(const Request&) const = default;
};

// Why a request was refused; names the rule, never quotes peer data.
struct ProtocolError {
    std::string reason;
    bool operator==(const ProtocolError&) const = default;
};

// Parses one request payload (the netstring's content).
std::variant<Request, ProtocolError> parseRequest(std::string_view payload, const Limits& limits = {});

// Replies, each a complete netstring.
std::string encodeOk(std::string_view data);         // OK <data>
std::string encodeNotFound();                        // NOTFOUND <SP>
std::string encodeTemp(std::string_view reason);     // TEMP <reason>
std::string encodePerm(std::string_view reason);     // PERM <reason>

// ---- client side (tests, benchmarks) ---------------------------------------------------

// `<len>:<name> <key>,`. parseRequest() gives {name, key} back when they are within its
// limits, the name is non-empty printable ASCII without SP, and neither holds a NUL.
std::string encodeRequest(std::string_view name, std::string_view key);

enum class Status { Ok, NotFound, Temp, Perm, Unknown };

struct Reply {
    Status status = Status::NotFound;
    // Ok: the value; Temp/Perm: the reason (TIMEOUT is reported as Temp); Unknown: the
    // whole payload; NotFound: empty.
    std::string text;
    bool operator==(const Reply&) const = default;
};

// Reads one reply payload as Postfix does: the status is what precedes the first SP
// (case-sensitive). "OK" without SP counts as NotFound, like Postfix; "NOTFOUND" may
// lack the SP. Never fails: unrecognised statuses are Status::Unknown.
Reply parseReply(std::string_view payload);

// Short lower-case status name ("ok", "notfound", "temp", "perm", "unknown").
const char* statusName(Status status) noexcept;

}  // namespace titan::proto::socketmap
