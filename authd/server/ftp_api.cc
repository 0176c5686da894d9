#include "authd/server/ftp_api.h"

#include <openssl/crypto.h>

#include <nlohmann/json.hpp>

#include "common/base/strings.h"
#include "common/log/log.h"
#include "common/net/cidr.h"
#include "common/proto/dovecot_auth/base64.h"

namespace titan::authd {
namespace {

using nlohmann::json;

// Largest delta accepted per field and request: far above any single transfer, small
// enough that no sum of them overflows a BIGINT column in practice.
constexpr int64_t kMaxTallyDelta = int64_t{1} << 50;

HttpResponse bad(const std::string& why) { return {400, core::ftpStatusJson("error", why)}; }

// A string member, bounded; nullopt when missing, not a string, too long, or not UTF-8.
std::optional<std::string> stringField(const json& j, const char* name, size_t max_bytes) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    const auto& s = it->get_ref<const std::string&>();
    if (s.size() > max_bytes) return std::nullopt;
    return s;
}

// An optional address member: absent or "" is empty; otherwise it must be an IP address.
std::optional<std::string> addressField(const json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end()) return std::string();
    if (!it->is_string()) return std::nullopt;
    const auto& s = it->get_ref<const std::string&>();
    if (s.empty()) return s;
    if (s.size() > kFtpMaxAddressBytes) return std::nullopt;
    auto a = net::Address::parse(s);
    if (!a) return std::nullopt;
    return a->str();
}

std::optional<json> parseObject(const std::string& body) {
    auto j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    return j;
}

}  // namespace

FtpApi::FtpApi(UserLookup& lookup, PasswordAuthenticator& auth, store::FtpTallyStore* tally,
               metrics::Registry& metrics, core::FtpSettings settings, core::UserdbDefaults fallback)
    : lookup_(lookup),
      auth_(auth),
      tally_(tally),
      metrics_(metrics),
      settings_(std::move(settings)),
      fallback_(fallback) {}

FtpApi::~FtpApi() = default;

void FtpApi::reconfigure(core::FtpSettings settings, core::UserdbDefaults fallback) {
    settings_ = std::move(settings);
    fallback_ = fallback;
}

void FtpApi::count(const char* route, const std::string& status) {
    metrics_
        .counter("authd_ftp_requests_total", "FTP module requests by route and answer",
                 std::string("route=\"") + route + "\",status=\"" + status + "\"")
        .inc();
}

bool FtpApi::authorized(std::string_view authorization) const {
    const std::string& key = settings_.key;
    if (key.empty()) return true;
    constexpr std::string_view kBearer = "Bearer ";
    if (authorization.size() != kBearer.size() + key.size() || authorization.substr(0, kBearer.size()) != kBearer) {
        return false;
    }
    return CRYPTO_memcmp(authorization.data() + kBearer.size(), key.data(), key.size()) == 0;
}

void FtpApi::addRoutes(HttpApi& api) {
    auto add = [this, &api](const std::string& path, void (FtpApi::*handler)(const std::string&, Reply)) {
        api.route(path, [this, handler](const HttpRequest& r, Responder respond) {
            if (!authorized(r.authorization)) {
                count("any", "unauthorized");
                log::warning("ftp request without the right key", {{"client.address", r.peer}, {"path", r.path}});
                respond({401, core::ftpStatusJson("error", "unauthorized")});
                return;
            }
            if (r.method != "POST") {
                respond({405, core::ftpStatusJson("error", "POST only")});
                return;
            }
            (this->*handler)(r.body, [respond](HttpResponse response) { respond(std::move(response)); });
        });
    };
    add("/ftp/v1/lookup", &FtpApi::handleLookup);
    add("/ftp/v1/auth", &FtpApi::handleAuth);
    add("/ftp/v1/tally", &FtpApi::handleTally);
}

void FtpApi::handleLookup(const std::string& body, Reply reply) {
    auto j = parseObject(body);
    auto user = j ? stringField(*j, "user", kFtpMaxUserBytes) : std::nullopt;
    if (!user) {
        count("lookup", "error");
        reply(bad("expected {\"user\": string}"));
        return;
    }
    std::weak_ptr<bool> alive = alive_;
    lookup_.lookup(*user, [this, alive, reply](const UserLookup::Answer& a) {
        if (alive.expired()) return;
        switch (a.outcome) {
            case UserLookup::Outcome::NotFound:
                count("lookup", "not_found");
                reply({200, core::ftpStatusJson("not_found")});
                return;
            case UserLookup::Outcome::Unavailable:
                count("lookup", "unavailable");
                reply({200, core::ftpStatusJson("unavailable", "user database temporarily unavailable")});
                return;
            case UserLookup::Outcome::Found: break;
        }
        core::UserdbDefaults fb = fallback_;
        auto resolved = core::resolveFtpUser(*a.mailbox, settings_, fb.uid, fb.gid);
        if (!resolved) {
            count("lookup", "invalid");
            log::warning("ftp account unusable", {{"user", a.mailbox->username}, {"error", resolved.error().message}});
            reply({200, core::ftpStatusJson("invalid", "account not usable for FTP")});
            return;
        }
        count("lookup", a.stale ? "found_stale" : "found");
        reply({200, core::ftpLookupFoundJson(*resolved)});
    });
}

void FtpApi::handleAuth(const std::string& body, Reply reply) {
    auto j = parseObject(body);
    if (!j) {
        count("auth", "error");
        reply(bad("expected a JSON object"));
        return;
    }
    auto user = stringField(*j, "user", kFtpMaxUserBytes);
    // Base64 keeps any password byte intact (FTP clients may send non-UTF-8).
    auto encoded = stringField(*j, "password_base64", (kFtpMaxPasswordBytes + 2) / 3 * 4);
    auto remote = addressField(*j, "remote_ip");
    auto local = addressField(*j, "local_ip");
    std::string password;
    bool password_ok = false;
    if (encoded) {
        if (auto decoded = proto::dovecot_auth::base64Decode(*encoded)) {
            password.swap(*decoded);
            password_ok = password.size() <= kFtpMaxPasswordBytes;
        }
    }
    if (!user || !password_ok || !remote || !local) {
        OPENSSL_cleanse(password.data(), password.size());
        count("auth", "error");
        reply(bad("expected {\"user\", \"password_base64\", \"remote_ip\", \"local_ip\"}"));
        return;
    }
    // Copied, then wiped: a moved-from short string would keep its bytes.
    AuthRequest req{"ftp", std::move(*user), password, std::move(*remote), std::move(*local)};
    OPENSSL_cleanse(password.data(), password.size());
    OPENSSL_cleanse(encoded->data(), encoded->size());
    std::weak_ptr<bool> alive = alive_;
    auth_.authenticate(std::move(req), [this, alive, reply](const AuthOutcome& out) {
        if (alive.expired()) return;
        json r;
        r["status"] = authStatusName(out.status);
        if (!out.user.empty()) r["user"] = out.user;
        if (!out.reason.empty()) r["reason"] = out.reason;
        count("auth", authStatusName(out.status));
        reply({200, r.dump(-1, ' ', false, json::error_handler_t::replace)});
    });
}

void FtpApi::handleTally(const std::string& body, Reply reply) {
    auto j = parseObject(body);
    auto raw_user = j ? stringField(*j, "user", kFtpMaxUserBytes) : std::nullopt;
    auto op = j ? stringField(*j, "op", 8) : std::nullopt;
    if (!raw_user || !op || (*op != "read" && *op != "add")) {
        count("tally", "error");
        reply(bad("expected {\"user\": string, \"op\": \"read\"|\"add\"}"));
        return;
    }
    core::FtpTally delta;
    if (*op == "add") {
        std::pair<const char*, int64_t*> fields[] = {
            {"bytes_in", &delta.bytes_in},   {"bytes_out", &delta.bytes_out}, {"bytes_xfer", &delta.bytes_xfer},
            {"files_in", &delta.files_in},   {"files_out", &delta.files_out}, {"files_xfer", &delta.files_xfer}};
        for (auto [name, field] : fields) {
            auto it = j->find(name);
            if (it == j->end()) continue;
            if (!it->is_number_integer() || it->get<int64_t>() > kMaxTallyDelta || it->get<int64_t>() < -kMaxTallyDelta) {
                count("tally", "error");
                reply(bad(std::string(name) + " must be an integer delta"));
                return;
            }
            *field = it->get<int64_t>();
        }
    }
    if (tally_ == nullptr) {
        count("tally", "unavailable");
        reply({200, core::ftpStatusJson("unavailable", "no tally store")});
        return;
    }
    // Only mailboxes get tallies: a name nobody can log in with never creates a row.
    std::weak_ptr<bool> alive = alive_;
    lookup_.lookup(*raw_user, [this, alive, reply, read = *op == "read", delta](const UserLookup::Answer& a) {
        if (alive.expired()) return;
        if (a.outcome != UserLookup::Outcome::Found) {
            bool missing = a.outcome == UserLookup::Outcome::NotFound;
            count("tally", missing ? "not_found" : "unavailable");
            reply({200, missing ? core::ftpStatusJson("not_found")
                                : core::ftpStatusJson("unavailable", "user database temporarily unavailable")});
            return;
        }
        std::string user = a.mailbox->username;
        auto done = [this, alive, reply, user](Result<core::FtpTally> r) {
            if (alive.expired()) return;
            if (!r) {
                count("tally", "unavailable");
                log::warning("ftp tally failed", {{"user", user}, {"error", r.error().message}});
                reply({200, core::ftpStatusJson("unavailable", "tally temporarily unavailable")});
                return;
            }
            count("tally", "found");
            reply({200, core::ftpTallyJson(*r)});
        };
        if (read) {
            tally_->fetchTally(user, std::move(done));
        } else {
            tally_->storeTallyDelta(user, delta, std::move(done));
        }
    });
}

}  // namespace titan::authd
