// The SASL mechanisms authd offers over the Dovecot auth-client protocol, PLAIN
// (RFC 4616) and LOGIN, as pure state machines: decoded client data in, a challenge,
// complete credentials or a failure out. They do not check passwords, canonicalise
// names or encode base64 (auth_client.h does). Layer: common/proto (titan_base only).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "common/proto/dovecot_auth/auth_client.h"

namespace titan::proto::dovecot_auth {

// ---------------------------------------------------------------------------------------
// PLAIN: one message `authzid NUL authcid NUL password`.
//   * Without an initial response the server first sends an empty challenge.
//   * Exactly two NUL bytes (fewer or more: Malformed).
//   * authcid must not be empty (EmptyUser).
//   * authzid must be empty or equal to authcid (byte for byte); anything else asks to
//     log in as another user, a master-user feature authd does not offer
//     (AuthzidMismatch).
//   * authcid and authzid <= max_user_bytes, password <= max_password_bytes (TooLong).
//     An empty password is passed on (it can never match a stored hash).
// LOGIN: challenge "Username:", the user name, challenge "Password:", the password.
//   * An initial response (even an empty one) is the user name; the server then asks
//     for the password at once.
//   * An empty user name fails at once (EmptyUser); a NUL in the user name or the
//     password is Malformed; sizes as for PLAIN (TooLong).
// Every step after the last is a caller bug (the conversation never makes one) and
// yields Malformed.
// ---------------------------------------------------------------------------------------

inline constexpr std::string_view kLoginUserChallenge = "Username:";
inline constexpr std::string_view kLoginPasswordChallenge = "Password:";

struct MechanismState {
    Mechanism mechanism = Mechanism::Plain;
    int stage = 0;     // 0 before start; counts the client data consumed
    std::string user;  // LOGIN: the user name between the two challenges
};

// The server needs more data: send CONT with this challenge (raw bytes).
struct Challenge {
    std::string data;
    bool operator==(const Challenge&) const = default;
};

// Everything needed to check the password.
struct Credentials {
    std::string authzid;  // empty, or equal to user
    std::string user;     // authentication identity as typed, never empty
    std::string password;
    bool operator==(const Credentials&) const = default;
};

enum class MechanismError {
    Malformed,        // wrong number of NULs, NUL inside a LOGIN field, extra step
    EmptyUser,        // no authentication identity
    AuthzidMismatch,  // PLAIN authzid names another user
    TooLong,          // a field over its AuthLimits bound
};

// "malformed", "empty_user", "authzid_mismatch", "too_long" (logs, metric labels).
const char* mechanismErrorName(MechanismError e) noexcept;

struct MechanismFailure {
    MechanismError error = MechanismError::Malformed;
    std::string user;  // the identity when it was readable and within bounds, else empty
    bool operator==(const MechanismFailure&) const = default;
};

using MechanismStep = std::variant<Challenge, Credentials, MechanismFailure>;

// Starts `mechanism`. initial_response: the decoded resp= data, or nullopt when the
// client sent none. `state` is reset and then advanced.
MechanismStep startMechanism(MechanismState& state, Mechanism mechanism,
                             const std::optional<std::string>& initial_response,
                             const AuthLimits& limits);

// Feeds the decoded data of one CONT line after a Challenge.
MechanismStep continueMechanism(MechanismState& state, std::string_view response,
                                const AuthLimits& limits);

}  // namespace titan::proto::dovecot_auth
