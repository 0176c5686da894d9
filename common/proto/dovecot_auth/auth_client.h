// Codec for Dovecot's auth-client protocol, server side: what Postfix speaks with
// smtpd_sasl_type = dovecot (Dovecot 2.3.19's auth server is the reference). Parses the
// client's VERSION, CPID, AUTH, CONT and CANCEL lines into value types and encodes the
// server's handshake and CONT/OK/FAIL replies; the client direction is here too, for
// tests and tools. It does not frame lines (line_framer.h), keep request state or run
// mechanisms (conversation.h, mechanisms.h). Layer: common/proto (titan_base only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace titan::proto::dovecot_auth {

// ---------------------------------------------------------------------------------------
// Wire format (protocols.md section 4). Every line is LF-terminated; a CR is data, never
// stripped. Fields are separated by TAB and tab-escaped as in the dict protocol
// (dovecot_dict/dict.h: \001 1, \001 t, \001 r, \001 n, \001 0).
//
// Server -> client, sent at once on connect without waiting for the client:
//   VERSION \t 1 \t 2
//   MECH \t <NAME> \t plaintext          one per offered mechanism, in configured order
//   SPID \t <server pid>
//   CUID \t <connection id>
//   COOKIE \t <32 hex digits>
//   DONE
// Client -> server handshake (may arrive before the server's lines):
//   VERSION \t <major> \t <minor>        major must be 1; minor is any uint32
//   CPID \t <client pid>                 non-zero uint32
// Requests:
//   AUTH \t <id> \t <mechanism> [\t <param>]...
//   CONT \t <id> \t <base64 data>
//   CANCEL \t <id>
// Replies:
//   CONT \t <id> \t <base64 challenge>   ("CONT\t7\t" for an empty challenge)
//   OK \t <id> \t user=<user>
//   FAIL \t <id> [\t user=<user>] [\t code=<code>] [\t reason=<text>]
//
// Rules and leniency (Dovecot 2.3.19's server decides strictness):
//   * ids are plain decimal uint32 (leading zeros accepted; empty, signs, spaces and
//     overflow refused). AUTH ids must be non-zero; CONT/CANCEL accept any uint32 (an
//     id that is not running is answered, not a protocol error).
//   * AUTH parameters are `name=value` (split at the first '=') or a bare `name`, each
//     field unescaped. Known: service= (required and non-empty), lip=, rip= (kept only
//     when they are a valid IPv4 or IPv6 address, otherwise silently dropped, as
//     Dovecot does), secured / secured=<anything>, valid-client-cert, resp=<base64>.
//     resp= must be the last parameter. Unknown parameters (nologin, session=, lport=,
//     debug, ...) are ignored. A repeated parameter: the last value wins.
//   * resp=: with client minor < 2 an empty value means "no initial response" (Exim
//     compatibility); with minor >= 2 it means an empty initial response. "resp==" is
//     an empty initial response for every minor. Any other value is strict base64
//     (base64.h); invalid base64 is not a protocol error but a per-request failure
//     (Auth::response == Response::InvalidBase64).
//   * CONT: the data is everything after the second TAB, taken raw (base64 needs no
//     escaping); a TAB or any other byte outside the alphabet makes it invalid base64
//     (a per-request failure, Cont::valid == false).
//   * CANCEL: exactly one id; extra fields are refused.
//   * VERSION and CPID: extra trailing fields are ignored (forward compatibility).
//   * A raw NUL or LF anywhere in a line, an unknown command, or a malformed id are
//     protocol errors: the server closes the connection, as Dovecot does ("BUG: ...").
//
// Limits (AuthLimits): lines up to max_line_bytes (16384, Dovecot's
// AUTH_CLIENT_MAX_LINE_LENGTH; the framer enforces it); requests alive on one
// connection, credential sizes: see conversation.h and mechanisms.h.
//
// Example (protocols.md 4.6 A; \t is TAB, every line ends with LF):
//   S: VERSION\t1\t2  MECH\tPLAIN\tplaintext  MECH\tLOGIN\tplaintext  SPID\t812
//      CUID\t9  COOKIE\t5e0f1c2d3b4a69788796a5b4c3d2e1f0  DONE
//   C: VERSION\t1\t0                               -> Version{1, 0}
//   C: CPID\t20411                                 -> Cpid{20411}
//   C: AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=192.0.2.10\trip=198.51.100.7\tsecured\t
//      resp=AGpvaG5AZXhhbXBsZS5jb20Ac2VjcmV0      -> Auth{1, "PLAIN", "smtp", ...}
//   S: OK\t1\tuser=john@example.com                <- encodeOk(1, "john@example.com")
// ---------------------------------------------------------------------------------------

inline constexpr std::uint32_t kProtocolMajor = 1;
inline constexpr std::uint32_t kProtocolMinor = 2;

struct AuthLimits {
    // Longest request line, LF excluded. Dovecot's own server refuses longer ones.
    std::size_t max_line_bytes = 16384;
    // Requests alive on one connection: awaiting the client's CONT, being checked, or
    // waiting for a delayed FAIL. One more AUTH gets an immediate FAIL.
    std::size_t max_requests = 64;
    // Decoded sizes: the authentication identity (PLAIN authcid, LOGIN user name) and the
    // PLAIN authorization identity; the password. One byte more is an immediate FAIL.
    std::size_t max_user_bytes = 512;
    std::size_t max_password_bytes = 1024;
};

enum class Mechanism { Plain, Login };

// "PLAIN" / "LOGIN" (upper case, as sent in MECH lines).
const char* mechanismName(Mechanism m) noexcept;
// Case-insensitive, as Dovecot's mech_module_find(). nullopt for any other name.
std::optional<Mechanism> parseMechanismName(std::string_view name) noexcept;

// ---- client -> server -----------------------------------------------------------------

struct Version {
    std::uint32_t major = kProtocolMajor;
    std::uint32_t minor = 0;
    bool operator==(const Version&) const = default;
};

struct Cpid {
    std::uint32_t pid = 0;  // non-zero
    bool operator==(const Cpid&) const = default;
};

enum class Response {
    Absent,         // no resp= (or an empty one from a client with minor < 2)
    Present,        // initial_response holds the decoded bytes (possibly empty)
    InvalidBase64,  // resp= was not valid base64: fail this request, keep the connection
};

struct Auth {
    std::uint32_t id = 0;
    std::string mechanism;  // as sent; match with parseMechanismName()
    std::string service;    // non-empty
    std::string local_ip;   // valid address text or empty
    std::string remote_ip;  // valid address text or empty
    bool secured = false;
    bool valid_client_cert = false;
    Response response = Response::Absent;
    std::string initial_response;  // decoded; Present only
    bool operator==(const Auth&) const = default;
};

struct Cont {
    std::uint32_t id = 0;
    bool valid = true;  // false: the data was not valid base64
    std::string data;   // decoded; empty when !valid
    bool operator==(const Cont&) const = default;
};

struct Cancel {
    std::uint32_t id = 0;
    bool operator==(const Cancel&) const = default;
};

using Command = std::variant<Auth, Cont, Cancel>;

// Why a line was refused. Names the command and field; never quotes data beyond the
// command word, so it may be logged as is. Every ProtocolError means "close the
// connection".
struct ProtocolError {
    std::string reason;
    bool operator==(const ProtocolError&) const = default;
};

// First client line (without its LF): VERSION with major 1.
std::variant<Version, ProtocolError> parseVersion(std::string_view line);

// Second client line: CPID with a non-zero pid.
std::variant<Cpid, ProtocolError> parseCpid(std::string_view line);

// Any later line: AUTH, CONT or CANCEL. `client_minor` is Version::minor (it changes
// how an empty resp= is read).
std::variant<Command, ProtocolError> parseCommand(std::string_view line, std::uint32_t client_minor);

// True for a valid IPv4 or IPv6 address text (what lip=/rip= must hold).
bool isIpAddress(std::string_view text) noexcept;

// ---- server -> client: each returns full lines ending in LF ---------------------------

struct Handshake {
    std::vector<Mechanism> mechanisms;  // MECH lines, in this order
    std::uint32_t server_pid = 0;
    std::uint64_t connection_id = 0;
    std::string cookie;  // 32 lower-case hex digits (16 random bytes)
};

// VERSION, MECH..., SPID, CUID, COOKIE, DONE.
std::string encodeHandshake(const Handshake& h);

// CONT \t id \t base64(challenge)
std::string encodeCont(std::uint32_t id, std::string_view challenge);

// OK \t id \t user=<escaped user>
std::string encodeOk(std::uint32_t id, std::string_view user);

// Known FAIL codes (Postfix ignores them; Dovecot's login processes read them).
inline constexpr std::string_view kCodeTempFail = "temp_fail";
inline constexpr std::string_view kCodeUserDisabled = "user_disabled";
inline constexpr std::string_view kCodeInvalidBase64 = "invalid_base64";

struct Fail {
    std::uint32_t id = 0;
    std::string user;    // omitted when empty
    std::string code;    // omitted when empty
    std::string reason;  // omitted when empty; Postfix shows it after "535 5.7.8 ..."
    bool operator==(const Fail&) const = default;
};

// FAIL \t id [\t user=..] [\t code=..] [\t reason=..], values escaped.
std::string encodeFail(const Fail& fail);

// Text fit for reason=: control bytes and DEL become spaces, runs of spaces collapse,
// leading and trailing spaces go, and the result is cut to at most max_bytes (never
// inside a UTF-8 sequence). Postfix copies reason= verbatim into its SMTP reply.
std::string printableReason(std::string_view text, std::size_t max_bytes = 200);

// ---- client direction (tests and tools): inverses of the parsers ----------------------

std::string encodeVersion(const Version& v);  // VERSION \t major \t minor \n
std::string encodeCpid(const Cpid& c);        // CPID \t pid \n

// One request line ending in LF. For Auth: service, then lip/rip when set, secured,
// valid-client-cert, and resp= last when Present (empty data is sent as "resp=="); an
// invalid response (Response::InvalidBase64, Cont::valid == false) is sent as "@".
// parseCommand(line without LF, 2) gives `cmd` back whenever its strings contain no
// NUL, the service and mechanism are non-empty and the addresses are valid.
std::string encodeCommand(const Command& cmd);

enum class ReplyKind { Cont, Ok, Fail };

struct Reply {
    ReplyKind kind = ReplyKind::Fail;
    std::uint32_t id = 0;
    std::string data;                 // Cont: decoded challenge
    std::vector<std::string> fields;  // Ok/Fail: unescaped fields after the id
    bool operator==(const Reply&) const = default;
};

// Parses one reply line (without its LF): CONT, OK or FAIL. Invalid base64 in CONT is
// an error.
std::variant<Reply, ProtocolError> parseReply(std::string_view line);

// Overwrites the bytes of a string that held a secret, then clears it.
void wipe(std::string& secret) noexcept;

}  // namespace titan::proto::dovecot_auth
