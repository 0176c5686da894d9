#include "authd/core/ftp.h"

#include <nlohmann/json.hpp>

#include "common/base/strings.h"

namespace titan::authd::core {
namespace {

constexpr size_t kMaxPathBytes = 1024;

std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace

bool isCleanAbsolutePath(std::string_view path) {
    if (path.empty() || path.size() > kMaxPathBytes || path.front() != '/') return false;
    if (base::hasControlBytes(path)) return false;
    if (path == "/") return true;
    std::string_view rest = path.substr(1);
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    for (auto part : base::split(rest, '/')) {
        if (part.empty() || part == "." || part == "..") return false;
    }
    return true;
}

Result<std::string> expandFtpHome(std::string_view home_template, std::string_view user) {
    size_t at = user.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 >= user.size()) {
        return Error::invalidInput("user name has no local part and domain");
    }
    std::string_view local = user.substr(0, at);
    std::string_view domain = user.substr(at + 1);
    std::string out;
    for (size_t i = 0; i < home_template.size(); ++i) {
        char c = home_template[i];
        if (c != '%' || i + 1 >= home_template.size()) {
            out += c;
            continue;
        }
        switch (home_template[++i]) {
            case 'd': out += domain; break;
            case 'n': out += local; break;
            case 'u': out += user; break;
            case '%': out += '%'; break;
            default: return Error::invalidInput(std::string("unknown escape %") + home_template[i] + " in ftp home");
        }
    }
    if (!isCleanAbsolutePath(out)) return Error::invalidInput("ftp home '" + out + "' is not a clean absolute path");
    return out;
}

Result<FtpUser> resolveFtpUser(const Mailbox& m, const FtpSettings& settings, std::optional<uint32_t> fallback_uid,
                               std::optional<uint32_t> fallback_gid) {
    FtpUser u;
    u.user = m.username;
    const FtpAccount row = m.ftp_account.value_or(FtpAccount{});
    if (row.home) {
        if (!isCleanAbsolutePath(*row.home)) {
            return Error::invalidInput("ftp_accounts.home '" + *row.home + "' is not a clean absolute path");
        }
        u.home = *row.home;
    } else {
        auto home = expandFtpHome(settings.home, m.username);
        if (!home) return std::move(home).error();
        u.home = std::move(*home);
    }
    auto uid = row.uid ? row.uid : settings.default_uid ? settings.default_uid : fallback_uid;
    auto gid = row.gid ? row.gid : settings.default_gid ? settings.default_gid : fallback_gid;
    if (!uid || !gid) return Error::invalidInput("no uid/gid: set ftp.default_uid/default_gid or the row's own");
    if (*uid < settings.min_uid || *uid == 0) {
        return Error::invalidInput("uid " + std::to_string(*uid) + " is below ftp.min_uid");
    }
    if (*gid < settings.min_gid || *gid == 0) {
        return Error::invalidInput("gid " + std::to_string(*gid) + " is below ftp.min_gid");
    }
    if (*uid == 0xFFFFFFFFU || *gid == 0xFFFFFFFFU) return Error::invalidInput("uid/gid -1 is not usable");
    u.uid = *uid;
    u.gid = *gid;
    u.limits = row;
    return u;
}

std::string ftpLookupFoundJson(const FtpUser& u) {
    nlohmann::json j;
    j["status"] = "found";
    j["user"] = u.user;
    j["home"] = u.home;
    j["uid"] = u.uid;
    j["gid"] = u.gid;
    const FtpAccount& l = u.limits;
    j["quota_per_session"] = l.per_session;
    j["quota_hard"] = l.hard_limit;
    j["bytes_in_avail"] = l.bytes_in;
    j["bytes_out_avail"] = l.bytes_out;
    j["bytes_xfer_avail"] = l.bytes_xfer;
    j["files_in_avail"] = l.files_in;
    j["files_out_avail"] = l.files_out;
    j["files_xfer_avail"] = l.files_xfer;
    return dump(j);
}

std::string ftpStatusJson(std::string_view status, std::string_view reason) {
    nlohmann::json j;
    j["status"] = std::string(status);
    if (!reason.empty()) j["reason"] = std::string(reason);
    return dump(j);
}

std::string ftpTallyJson(const FtpTally& t) {
    nlohmann::json j;
    j["status"] = "found";
    j["bytes_in_used"] = t.bytes_in;
    j["bytes_out_used"] = t.bytes_out;
    j["bytes_xfer_used"] = t.bytes_xfer;
    j["files_in_used"] = t.files_in;
    j["files_out_used"] = t.files_out;
    j["files_xfer_used"] = t.files_xfer;
    return dump(j);
}

}  // namespace titan::authd::core
