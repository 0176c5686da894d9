#include "common/proto/dovecot_auth/mechanisms.h"

#include <algorithm>

namespace titan::proto::dovecot_auth {
namespace {

MechanismFailure failure(MechanismError e, std::string_view user, const AuthLimits& limits) {
    MechanismFailure f{e, {}};
    // Only a readable name goes back to the caller (it may end up in FAIL user=).
    if (!user.empty() && user.size() <= limits.max_user_bytes && user.find('\0') == std::string_view::npos) {
        f.user.assign(user);
    }
    return f;
}

MechanismStep plainMessage(std::string_view msg, const AuthLimits& limits) {
    if (std::count(msg.begin(), msg.end(), '\0') != 2) return failure(MechanismError::Malformed, {}, limits);
    const std::size_t first = msg.find('\0');
    const std::size_t second = msg.find('\0', first + 1);
    std::string_view authzid = msg.substr(0, first);
    std::string_view authcid = msg.substr(first + 1, second - first - 1);
    std::string_view password = msg.substr(second + 1);
    if (authcid.size() > limits.max_user_bytes || authzid.size() > limits.max_user_bytes ||
        password.size() > limits.max_password_bytes) {
        return failure(MechanismError::TooLong, authcid, limits);
    }
    if (authcid.empty()) return failure(MechanismError::EmptyUser, {}, limits);
    if (!authzid.empty() && authzid != authcid) return failure(MechanismError::AuthzidMismatch, authcid, limits);
    return Credentials{std::string(authzid), std::string(authcid), std::string(password)};
}

MechanismStep loginUser(MechanismState& state, std::string_view user, const AuthLimits& limits) {
    if (user.size() > limits.max_user_bytes) return failure(MechanismError::TooLong, {}, limits);
    if (user.find('\0') != std::string_view::npos) return failure(MechanismError::Malformed, {}, limits);
    if (user.empty()) return failure(MechanismError::EmptyUser, {}, limits);
    state.user.assign(user);
    return Challenge{std::string(kLoginPasswordChallenge)};
}

MechanismStep loginPassword(MechanismState& state, std::string_view password, const AuthLimits& limits) {
    if (password.size() > limits.max_password_bytes) return failure(MechanismError::TooLong, state.user, limits);
    if (password.find('\0') != std::string_view::npos) return failure(MechanismError::Malformed, state.user, limits);
    Credentials c{{}, std::move(state.user), std::string(password)};
    state.user.clear();
    return c;
}

}  // namespace

const char* mechanismErrorName(MechanismError e) noexcept {
    switch (e) {
        case MechanismError::Malformed: return "malformed";
        case MechanismError::EmptyUser: return "empty_user";
        case MechanismError::AuthzidMismatch: return "authzid_mismatch";
        case MechanismError::TooLong: return "too_long";
    }
    return "malformed";
}

MechanismStep startMechanism(MechanismState& state, Mechanism mechanism,
                             const std::optional<std::string>& initial_response, const AuthLimits& limits) {
    state = MechanismState{mechanism, 0, {}};
    if (!initial_response) {
        state.stage = 0;
        if (mechanism == Mechanism::Plain) return Challenge{};
        return Challenge{std::string(kLoginUserChallenge)};
    }
    return continueMechanism(state, *initial_response, limits);
}

MechanismStep continueMechanism(MechanismState& state, std::string_view response, const AuthLimits& limits) {
    const int stage = state.stage++;
    switch (state.mechanism) {
        case Mechanism::Plain:
            if (stage == 0) return plainMessage(response, limits);
            break;
        case Mechanism::Login:
            if (stage == 0) return loginUser(state, response, limits);
            if (stage == 1) return loginPassword(state, response, limits);
            break;
    }
    return failure(MechanismError::Malformed, {}, limits);
}

}  // namespace titan::proto::dovecot_auth
