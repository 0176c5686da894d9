#include "authd/core/auth_dict.h"

#include <nlohmann/json.hpp>

#include "common/base/strings.h"

namespace titan::authd::core {
namespace {
constexpr std::string_view kPassdbPrefix = "shared/passdb/";
}

DictKey parseDictKey(std::string_view key) {
    if (base::startsWith(key, kPassdbPrefix)) {
        std::string_view rest = key.substr(kPassdbPrefix.size());
        size_t slash = rest.find('/');
        if (slash == std::string_view::npos || slash == 0 || slash + 1 >= rest.size()) return UnknownKey{};
        return PassdbKey{std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1))};
    }
    if (base::startsWith(key, kUserdbPrefix)) {
        std::string_view rest = key.substr(kUserdbPrefix.size());
        if (rest.empty()) return UnknownKey{};
        return UserdbKey{std::string(rest)};
    }
    return UnknownKey{};
}

bool isUserIteration(std::string_view path) {
    return path == kUserdbPrefix || path == kUserdbPrefix.substr(0, kUserdbPrefix.size() - 1);
}

Access checkAccess(const Mailbox& m, std::string_view service) {
    if (!m.active) return Access::AccountDisabled;
    std::string s = base::asciiLower(service);
    bool allowed = true;
    if (s == "imap") allowed = m.imap;
    else if (s == "pop3") allowed = m.pop3;
    else if (s == "smtp" || s == "submission") allowed = m.smtp;
    else if (s == "ftp") allowed = m.ftp;
    return allowed ? Access::Allowed : Access::ServiceDisabled;
}

std::string passdbJson(const Mailbox& m, std::string_view service) {
    nlohmann::json j;
    j["user"] = m.username;
    if (!m.password_hash.empty()) j["password"] = m.password_hash;
    switch (checkAccess(m, service)) {
        case Access::Allowed: break;
        case Access::AccountDisabled:
            j["nologin"] = "y";
            j["reason"] = m.disabled_reason.empty() ? "Account disabled" : m.disabled_reason;
            break;
        case Access::ServiceDisabled: {
            std::string name = base::asciiLower(service);
            for (auto& c : name) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
            j["nologin"] = "y";
            j["reason"] = name + " access is disabled for this account";
            break;
        }
    }
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string userdbJson(const Mailbox& m, const UserdbDefaults& defaults) {
    nlohmann::json j;
    j["user"] = m.username;
    j["home"] = m.home;
    if (auto uid = m.uid ? m.uid : defaults.uid) j["uid"] = std::to_string(*uid);
    if (auto gid = m.gid ? m.gid : defaults.gid) j["gid"] = std::to_string(*gid);
    if (m.quota_bytes > 0) j["quota_rule"] = "*:storage=" + std::to_string(m.quota_bytes) + "B";
    if (m.quota_messages > 0) j["quota_rule2"] = "*:messages=" + std::to_string(m.quota_messages);
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace titan::authd::core
