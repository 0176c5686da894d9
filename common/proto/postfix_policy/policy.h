// Codec for Postfix's SMTPD policy delegation protocol (check_policy_service), both
// directions: request decoding (incremental, from bytes or from framed lines), a typed view
// of the attributes Postfix 3.7+ sends, reply encoding, and the client side (request
// encoding, reply decoding) for tests and the benchmark tool. It does no I/O, keeps no
// state between requests, and knows nothing of rules, stores or actions' meaning.
// Layer: common/proto (titan_base only). Shared by titan-policyd and titan-quotad.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/proto/line_framer.h"

namespace titan::proto::policy {

// ---------------------------------------------------------------------------------------
// Wire format (protocols.md section 1; Postfix SMTPD_POLICY_README, attr_print_plain.c).
//
//   request  = *( name "=" value LF ) LF        one attribute per line, empty line ends it
//   reply    = *( name "=" value LF ) LF        the server sends "action=<text>" first
//
// Values are raw bytes, never escaped: spaces, '=', UTF-8 and other 8-bit bytes are data.
// Postfix reuses one connection for many requests, strictly one at a time; every request
// gets exactly one reply and the connection stays open.
//
// Decoding rules (choices this codec makes; each is tested):
//   * A line is split at its FIRST '=': "sender=a=b@x" is sender -> "a=b@x".
//   * "name=" is present with an empty value. Every request starts from an empty attribute
//     set: nothing is inherited from an earlier request on the same connection.
//   * A repeated attribute: the FIRST value wins (the rule Postfix itself applies to the
//     `action` of our replies). Later copies are counted in the limits and dropped.
//   * Unknown attribute names are kept in Request::attributes and otherwise ignored.
//   * CR: one CR directly before the LF is stripped (CR LF from hand-typed sessions); a CR
//     anywhere else is data.
//   * Errors (ProtocolError): a NUL byte; a line without '='; an empty name; a name longer
//     than max_name_bytes; a line longer than max_line_bytes; more than max_attributes
//     lines in one request; more than max_request_bytes in one request. After an error the
//     decoder stays failed: the caller logs and closes the connection, as the protocol
//     prescribes (Postfix then retries and finally applies its default_action).
//   * An empty line with no attributes before it is an empty request, not an error; the
//     typed view (parseRequest) then has every field empty.
//
// Limits (PolicyLimits), each exact: a value at the limit is accepted, one more is an error.
//
// Typed view (parseRequest): the attributes Postfix 3.7 sends plus compatibility_level,
// mail_version and server_name from later releases. A missing attribute reads as empty
// (or 0); Postfix may send unavailable values empty, as 0, or not at all. Numeric
// attributes must be empty or ASCII decimal that fits: anything else is a ProtocolError.
// `request`, when present, must be "smtpd_access_policy".
//
// Example exchange (every line ends in LF; the empty line ends the request):
//   C: request=smtpd_access_policy
//   C: protocol_state=RCPT
//   C: client_address=198.51.100.7
//   C: sender=alice@example.net
//   C: recipient=bob@example.com
//   C: ...
//   C:
//   S: action=DEFER_IF_PERMIT Greylisted, try again later
//   S:
// ---------------------------------------------------------------------------------------

struct PolicyLimits {
    std::size_t max_line_bytes = 64 * 1024;       // one attribute line, without LF (and CR)
    std::size_t max_name_bytes = 128;             // attribute name
    std::size_t max_attributes = 256;             // lines in one request (Postfix 3.7 sends 29)
    std::size_t max_request_bytes = 1024 * 1024;  // all lines of one request, LFs included
};

// One attribute as received.
struct Attribute {
    std::string name;
    std::string value;
    bool operator==(const Attribute&) const = default;
};

// All attributes of one request, in arrival order, without repeats (first one kept).
struct Request {
    std::vector<Attribute> attributes;
    // Value of `name`, or nullptr when it was not sent. O(attributes).
    const std::string* find(std::string_view name) const noexcept;
    // Value of `name`, or "" when it was not sent.
    std::string_view get(std::string_view name) const noexcept;
    bool operator==(const Request&) const = default;
};

// The line or request is incomplete: feed more bytes (the framer's type, shared).
using ::titan::proto::NeedMore;

// Why input was refused. The reason names the rule and at most the attribute name's
// length, never the data; callers may log it as is.
struct ProtocolError {
    std::string reason;
    bool operator==(const ProtocolError&) const = default;
};

using DecodeResult = std::variant<Request, NeedMore, ProtocolError>;

// Incremental request decoder for one connection. Two ways to feed it, not to be mixed:
//   * addLine(): lines already framed by the caller, one at a time (common/event's
//     LineServer with strip_cr = false and max_line_bytes = limits.max_line_bytes + 1:
//     addLine strips the CR itself, so a CR is never removed twice);
//   * append() + next(): raw bytes split anywhere; the decoder frames them itself.
// Not thread-safe; cheap to construct.
class Decoder {
public:
    explicit Decoder(PolicyLimits limits = {});

    // One line without its LF (a trailing CR is stripped here too). Returns the finished
    // Request on the empty line, NeedMore after an attribute line, or ProtocolError.
    // After a Request the decoder is ready for the next one; after a ProtocolError every
    // later call returns the same error.
    DecodeResult addLine(std::string_view line);

    // Buffers raw bytes. The buffer is bounded by what next() consumes: a caller that
    // calls next() until NeedMore after each append() never holds more than one line
    // beyond max_line_bytes.
    void append(std::string_view bytes);
    // The next complete Request from the buffered bytes, NeedMore, or ProtocolError
    // (sticky). Call repeatedly: several requests may be buffered.
    DecodeResult next();

    // True after a ProtocolError.
    bool failed() const noexcept { return error_.has_value(); }
    // Bytes of a request in progress (attribute lines received, LFs included).
    std::size_t requestBytes() const noexcept { return request_bytes_; }
    // Buffered raw bytes not consumed yet (append() path only).
    std::size_t buffered() const noexcept { return buffer_.size() - offset_; }

private:
    DecodeResult fail(std::string reason);
    DecodeResult addStripped(std::string_view line);

    PolicyLimits limits_;
    Request current_;
    std::size_t lines_ = 0;
    std::size_t request_bytes_ = 0;
    std::optional<ProtocolError> error_;
    std::string buffer_;
    std::size_t offset_ = 0;
};

// ---- typed view of a request ---------------------------------------------------------

enum class ProtocolState {
    Connect, Ehlo, Helo, Mail, Rcpt, Data, EndOfMessage, Vrfy, Etrn,
    Unknown,  // empty, missing or a value this codec does not know
};

// "CONNECT", "EHLO", "HELO", "MAIL", "RCPT", "DATA", "END-OF-MESSAGE", "VRFY", "ETRN"
// (exact, upper case as Postfix sends; lower case is accepted too) -> state.
ProtocolState parseProtocolState(std::string_view text) noexcept;
// Upper-case wire name; "UNKNOWN" for Unknown.
const char* protocolStateName(ProtocolState state) noexcept;

// What Postfix tells the policy server (protocols.md 1.2). Strings are raw bytes as sent.
struct PolicyRequest {
    ProtocolState protocol_state = ProtocolState::Unknown;
    std::string protocol_state_text;  // as sent (for logs when Unknown)
    std::string protocol_name;        // SMTP / ESMTP
    std::string client_address;       // IPv4 or IPv6 text, no brackets
    std::string client_name;          // verified name or "unknown"
    std::uint32_t client_port = 0;
    std::string reverse_client_name;
    std::string server_address;
    std::uint32_t server_port = 0;
    std::string helo_name;
    std::string sender;     // empty: null sender (or before MAIL)
    std::string recipient;  // RCPT/VRFY; at DATA/END-OF-MESSAGE only with one recipient
    std::uint64_t recipient_count = 0;  // non-zero only at DATA and END-OF-MESSAGE
    std::string queue_id;
    std::string instance;   // one SMTP transaction on this connection
    std::uint64_t size = 0; // MAIL FROM SIZE= (0 if none); the real size at END-OF-MESSAGE
    std::string etrn_domain;
    std::string stress;     // "" or "yes"
    std::string sasl_method;
    std::string sasl_username;  // empty: not authenticated
    std::string sasl_sender;
    std::string ccert_subject;  // xtext-encoded, as sent
    std::string ccert_issuer;
    std::string ccert_fingerprint;
    std::string ccert_pubkey_fingerprint;
    std::string encryption_protocol;
    std::string encryption_cipher;
    std::uint32_t encryption_keysize = 0;
    std::string policy_context;
    std::string compatibility_level;  // Postfix 3.8+
    std::string mail_version;         // Postfix 3.8+
    std::string server_name;          // TLS SNI, later 3.x
    bool operator==(const PolicyRequest&) const = default;
};

// Typed view of a decoded Request (rules above). Errors: a malformed number (non-digit,
// sign, overflow of the field's type) or a `request` other than smtpd_access_policy.
std::variant<PolicyRequest, ProtocolError> parseRequest(const Request& request);

// ---- server replies --------------------------------------------------------------------

// "action=<action>\n\n". Bytes Postfix cannot carry (NUL, CR, LF) become spaces, so one
// call always yields exactly one well-formed reply. The action text is the caller's
// (an access(5) right-hand side: "DUNNO", "DEFER_IF_PERMIT text", "450 4.7.1 text", ...).
std::string encodeReply(std::string_view action);

// As encodeReply, with extra attribute lines after `action` (Postfix skips them).
// Names must be non-empty without '=', NUL, CR or LF (such pairs are dropped); values
// are sanitised like the action.
std::string encodeReply(std::string_view action, const std::vector<Attribute>& extra);

// ---- client direction (tests, benchmark) -----------------------------------------------

// The request as Postfix writes it: "name=value\n" per attribute, then "\n". Pairs whose
// name is empty or contains '=', NUL, CR or LF, or whose value contains NUL, CR or LF, are
// dropped (they cannot be represented). decode(encodeRequest(r)) == r for every request
// without such pairs, repeats or over-limit sizes.
std::string encodeRequest(const Request& request);

// The attributes of a typed request in Postfix 3.7's order (with the three newer ones
// appended when non-empty). protocol_state is protocol_state_text when that is set, else
// the state's wire name, so parseRequest(toRequest(p)) == p for every parsed p.
Request toRequest(const PolicyRequest& request);

// A decoded reply: its action (first `action` attribute, as Postfix reads it) and every
// attribute in order.
struct Reply {
    std::optional<std::string> action;  // nullopt: no action line (Postfix: failed try)
    std::vector<Attribute> attributes;
    bool operator==(const Reply&) const = default;
};

// Decodes one reply from the front of `bytes`: `consumed` is set to the reply's length,
// terminating empty line included. NeedMore when incomplete; ProtocolError for the
// request-side errors above. Repeated `action`: the first counts, like Postfix.
std::variant<Reply, NeedMore, ProtocolError> decodeReply(std::string_view bytes,
                                                         std::size_t* consumed,
                                                         const PolicyLimits& limits = {});

}  // namespace titan::proto::policy
