#include "authd/server/dovecot24_api.h"

#include <openssl/crypto.h>

#include <nlohmann/json.hpp>

#include "common/base/strings.h"
#include "common/log/log.h"

namespace titan::authd {
namespace {

std::string dumpJson(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpResponse errorResponse(int status, const std::string& message) {
    return {status, dumpJson(nlohmann::json{{"error", message}})};
}

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

Result<std::string> percentDecode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%') {
            if (i + 2 >= s.size()) return Error::invalidInput("truncated %-escape");
            int hi = hexValue(s[i + 1]);
            int lo = hexValue(s[i + 2]);
            if (hi < 0 || lo < 0) return Error::invalidInput("bad %-escape");
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

const std::string* find(const std::map<std::string, std::string>& m, const char* key) {
    auto it = m.find(key);
    return it == m.end() ? nullptr : &it->second;
}

std::string queryValue(const HttpRequest& r, const char* key) {
    auto it = r.query.find(key);
    return it == r.query.end() ? std::string() : it->second;
}

const char* outcomeLabel(UserLookup::Outcome o) {
    switch (o) {
        case UserLookup::Outcome::Found: return "found";
        case UserLookup::Outcome::NotFound: return "notfound";
        case UserLookup::Outcome::Unavailable: return "tempfail";
    }
    return "tempfail";
}

void wipe(std::map<std::string, std::string>& fields) {
    for (auto& [k, v] : fields) OPENSSL_cleanse(v.data(), v.size());
}

}  // namespace

Result<std::map<std::string, std::string>> parseFormBody(std::string_view body) {
    std::map<std::string, std::string> out;
    for (std::string_view part : base::split(body, '&')) {
        if (part.empty()) continue;
        size_t eq = part.find('=');
        auto name = percentDecode(part.substr(0, eq));
        if (!name) return std::move(name).error();
        auto value = percentDecode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1));
        if (!value) return std::move(value).error();
        out.emplace(std::move(*name), std::move(*value));  // the first value wins
    }
    return out;
}

Result<std::map<std::string, std::string>> parseRequestFields(std::string_view body) {
    size_t first = body.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos || body[first] != '{') return parseFormBody(body);
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Error::invalidInput("malformed JSON object");
    std::map<std::string, std::string> out;
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (!it.value().is_string()) return Error::invalidInput("field '" + it.key() + "' is not a string");
        out.emplace(it.key(), it.value().get<std::string>());
    }
    return out;
}

std::string userdb24Json(const core::Mailbox& m, const core::UserdbDefaults& defaults) {
    nlohmann::json j;
    j["user"] = m.username;
    j["home"] = m.home;
    if (auto uid = m.uid ? m.uid : defaults.uid) j["uid"] = std::to_string(*uid);
    if (auto gid = m.gid ? m.gid : defaults.gid) j["gid"] = std::to_string(*gid);
    // 2.4 takes userdb fields as setting overrides: quota_rule is gone.
    if (m.quota_bytes > 0) j["quota_storage_size"] = std::to_string(m.quota_bytes) + "B";
    if (m.quota_messages > 0) j["quota_message_count"] = std::to_string(m.quota_messages);
    return dumpJson(j);
}

std::string passdb24Json(const core::Mailbox& m, std::string_view protocol) {
    // The 2.3 rule and texts, without the hash (passwords are verified in authd).
    auto j = nlohmann::json::parse(core::passdbJson(m, protocol), nullptr, false);
    if (j.is_object()) j.erase("password");
    return dumpJson(j);
}

HttpResponse verifyResponse(const AuthOutcome& o, std::string_view protocol) {
    nlohmann::json j;
    switch (o.status) {
        case AuthStatus::Ok:
            j["result"] = "ok";
            j["user"] = o.user;
            return {200, dumpJson(j)};
        case AuthStatus::Failed:
            return {200, R"({"result":"fail"})"};
        case AuthStatus::AccountDisabled:
            j["result"] = "disabled";
            j["user"] = o.user;
            j["reason"] = o.reason.empty() ? std::string("Account disabled") : o.reason;
            return {200, dumpJson(j)};
        case AuthStatus::ServiceDisabled: {
            // The 2.3 dict path's text, so clients see the same on 2.3 and 2.4.
            std::string name;
            for (char c : protocol) name += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
            j["result"] = "disabled";
            j["user"] = o.user;
            j["reason"] = name + " access is disabled for this account";
            return {200, dumpJson(j)};
        }
        case AuthStatus::Throttled:
            j["result"] = "throttled";
            j["reason"] = o.reason.empty() ? std::string("Too many failed logins, try again later") : o.reason;
            return {200, dumpJson(j)};
        case AuthStatus::TempFail:
            j["result"] = "tempfail";
            j["reason"] = o.reason.empty() ? std::string("Temporary authentication failure") : o.reason;
            return {503, dumpJson(j)};
    }
    return {503, R"({"result":"tempfail"})"};
}

bool dovecot24Authorized(std::string_view authorization, std::string_view key) {
    if (key.empty()) return true;
    constexpr std::string_view kBearer = "Bearer ";
    if (authorization.size() != kBearer.size() + key.size() || !base::startsWith(authorization, kBearer)) {
        return false;
    }
    return CRYPTO_memcmp(authorization.data() + kBearer.size(), key.data(), key.size()) == 0;
}

void Dovecot24Metrics::count(const char* kind, const char* result) {
    registry
        .counter("authd_dovecot24_requests_total", "Dovecot 2.4 (Lua) requests by kind and result",
                 std::string("kind=\"") + kind + "\",result=\"" + result + "\"")
        .inc();
}

void addDovecot24Routes(HttpApi& api, UserLookup& lookup, store::Store& store, Authenticator& auth,
                        std::function<Dovecot24Settings()> settings, Dovecot24Metrics& metrics) {
    // Every endpoint first checks the shared secret, when one is configured.
    auto guarded = [&api, &metrics, settings](const std::string& path, const char* kind, HttpApi::Handler handler) {
        api.route(path, [&metrics, settings, kind, handler = std::move(handler)](const HttpRequest& r,
                                                                                 Responder respond) {
            if (!dovecot24Authorized(r.authorization, settings().key)) {
                metrics.count(kind, "unauthorized");
                log::debug("dovecot24 request without the right key", {{"client.address", r.peer}, {"path", r.path}});
                respond(errorResponse(401, "unauthorized"));
                return;
            }
            handler(r, std::move(respond));
        });
    };

    guarded("/dovecot/verify", "verify", [&auth, &metrics](const HttpRequest& r, Responder respond) {
        if (r.method != "POST") {
            respond(errorResponse(405, "POST only"));
            return;
        }
        auto fields = parseRequestFields(r.body);
        if (!fields) {
            metrics.count("verify", "invalid");
            respond(errorResponse(400, fields.error().message));
            return;
        }
        const std::string* user = find(*fields, "user");
        const std::string* password = find(*fields, "password");
        const std::string* protocol = find(*fields, "protocol");
        const std::string* remote = find(*fields, "remote_ip");
        const std::string* local = find(*fields, "local_ip");
        const char* problem = nullptr;
        if (user == nullptr || password == nullptr || protocol == nullptr || protocol->empty()) {
            problem = "user, password and protocol are required";
        } else if (protocol->size() > kDovecot24MaxProtocol || base::hasControlBytes(*protocol)) {
            problem = "bad protocol";
        } else if ((remote != nullptr && remote->size() > kDovecot24MaxAddress) ||
                   (local != nullptr && local->size() > kDovecot24MaxAddress)) {
            problem = "address too long";
        }
        if (problem != nullptr) {
            wipe(*fields);
            metrics.count("verify", "invalid");
            respond(errorResponse(400, problem));
            return;
        }
        if (user->size() > kDovecot24MaxUser || password->size() > kDovecot24MaxPassword) {
            // Longer than Dovecot itself forwards: a plain failure, without hashing it.
            wipe(*fields);
            metrics.count("verify", "fail");
            respond({200, R"({"result":"fail"})"});
            return;
        }
        AuthRequest req;
        req.service = base::asciiLower(*protocol);
        req.user = *user;
        req.password = *password;
        req.remote_ip = remote != nullptr ? *remote : std::string();
        req.local_ip = local != nullptr ? *local : std::string();
        wipe(*fields);
        std::string service = req.service;
        auth.authenticate(std::move(req), [respond, &metrics, service](const AuthOutcome& outcome) {
            metrics.count("verify", authStatusName(outcome.status));
            respond(verifyResponse(outcome, service));
        });
    });

    auto lookupRoute = [&lookup, &metrics, settings](const char* kind, bool passdb) {
        return [&lookup, &metrics, settings, kind, passdb](const HttpRequest& r, Responder respond) {
            if (r.method != "GET") {
                respond(errorResponse(405, "GET only"));
                return;
            }
            auto it = r.query.find("user");
            std::string protocol = base::asciiLower(queryValue(r, "protocol"));
            if (it == r.query.end() || protocol.size() > kDovecot24MaxProtocol) {
                metrics.count(kind, "invalid");
                respond(errorResponse(400, "user is required"));
                return;
            }
            if (it->second.size() > kDovecot24MaxUser) {
                metrics.count(kind, "notfound");
                respond(errorResponse(404, "unknown user"));
                return;
            }
            lookup.lookup(it->second, [respond, &metrics, settings, kind, passdb,
                                       protocol](const UserLookup::Answer& a) {
                metrics.count(kind, outcomeLabel(a.outcome));
                switch (a.outcome) {
                    case UserLookup::Outcome::Found:
                        respond({200, passdb ? passdb24Json(*a.mailbox, protocol)
                                             : userdb24Json(*a.mailbox, settings().userdb_defaults)});
                        return;
                    case UserLookup::Outcome::NotFound:
                        respond(errorResponse(404, "unknown user"));
                        return;
                    case UserLookup::Outcome::Unavailable:
                        respond(errorResponse(503, "user database temporarily unavailable"));
                        return;
                }
            });
        };
    };
    guarded("/dovecot/passdb", "passdb", lookupRoute("passdb", true));
    guarded("/dovecot/userdb", "userdb", lookupRoute("userdb", false));

    guarded("/dovecot/users", "users", [&store, &metrics, settings](const HttpRequest& r, Responder respond) {
        if (r.method != "GET") {
            respond(errorResponse(405, "GET only"));
            return;
        }
        std::string after = queryValue(r, "after");
        size_t limit = std::max<size_t>(1, std::min(settings().page, kDovecot24MaxPage));
        if (auto it = r.query.find("limit"); it != r.query.end()) {
            auto n = base::parseUnsigned(it->second);
            if (!n || *n == 0 || *n > kDovecot24MaxPage) {
                metrics.count("users", "invalid");
                respond(errorResponse(400, "limit must be 1.." + std::to_string(kDovecot24MaxPage)));
                return;
            }
            limit = static_cast<size_t>(*n);
        }
        if (after.size() > kDovecot24MaxUser) {
            metrics.count("users", "invalid");
            respond(errorResponse(400, "after is too long"));
            return;
        }
        // One row more than asked tells whether another page follows.
        store.fetchUserPage(after, limit + 1, [respond, &metrics, limit](Result<std::vector<core::Mailbox>> page) {
            if (!page) {
                log::warning("user listing failed", {{"error", page.error().message}});
                metrics.count("users", "tempfail");
                respond(errorResponse(503, "user database temporarily unavailable"));
                return;
            }
            nlohmann::json names = nlohmann::json::array();
            for (size_t i = 0; i < page->size() && i < limit; ++i) names.push_back((*page)[i].username);
            metrics.count("users", "ok");
            respond({200, dumpJson(nlohmann::json{{"users", names}, {"more", page->size() > limit}})});
        });
    });
}

}  // namespace titan::authd
