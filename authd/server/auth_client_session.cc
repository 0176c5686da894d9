#include "authd/server/auth_client_session.h"

#include <sys/random.h>
#include <unistd.h>

#include <utility>

#include "common/log/log.h"

namespace titan::authd {

namespace da = proto::dovecot_auth;

namespace {

const char* mechanismLabel(da::Mechanism m) { return m == da::Mechanism::Plain ? "plain" : "login"; }

const char* statusLabel(AuthStatus s) {
    switch (s) {
        case AuthStatus::Ok: return "ok";
        case AuthStatus::Failed: return "failed";
        case AuthStatus::AccountDisabled: return "account_disabled";
        case AuthStatus::ServiceDisabled: return "service_disabled";
        case AuthStatus::Throttled: return "throttled";
        case AuthStatus::TempFail: return "tempfail";
    }
    return "failed";
}

constexpr AuthStatus kStatuses[] = {AuthStatus::Ok,       AuthStatus::Failed,    AuthStatus::AccountDisabled,
                                    AuthStatus::ServiceDisabled, AuthStatus::Throttled, AuthStatus::TempFail};
constexpr da::Event kRejections[] = {da::Event::MechanismFailed,        da::Event::CredentialsTooLong,
                                     da::Event::InvalidBase64,          da::Event::UnexpectedContinuation,
                                     da::Event::UnknownRequest,         da::Event::TooManyRequests};

// 16 random bytes as 32 hex digits (the handshake COOKIE; Postfix does not use it, but
// Dovecot's login processes would, so it is never predictable).
std::string makeCookie() {
    unsigned char bytes[16] = {0};
    size_t got = 0;
    while (got < sizeof(bytes)) {
        ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
        if (n <= 0) break;
        got += static_cast<size_t>(n);
    }
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned char b : bytes) {
        out += hex[b >> 4];
        out += hex[b & 15];
    }
    return out;
}

std::string disabledReason(const AuthOutcome& o) {
    std::string r = da::printableReason(o.reason);
    if (!r.empty()) return r;
    return o.status == AuthStatus::ServiceDisabled ? "This service is disabled for the account"
                                                   : "Account disabled";
}

}  // namespace

event::ServerLimits defaultSaslLimits() {
    event::ServerLimits l;
    l.max_connections = 1024;
    l.idle_timeout = std::chrono::minutes(10);
    l.max_line_bytes = da::AuthLimits{}.max_line_bytes;
    l.max_pending = da::AuthLimits{}.max_requests;
    l.max_output_bytes = 1u << 20;
    l.strip_cr = false;
    return l;
}

SaslSettings effectiveSaslSettings(const SaslSettings& settings, const event::ServerLimits& limits) {
    SaslSettings s = settings;
    s.limits.max_requests = limits.max_pending;
    s.limits.max_line_bytes = limits.max_line_bytes;
    return s;
}

// ---- metrics ---------------------------------------------------------------------------

SaslMetrics::SaslMetrics(metrics::Registry& r)
    : registry(r),
      protocol_errors(r.counter("authd_sasl_protocol_errors_total",
                                "SASL connections closed because of a malformed line")),
      tempfail_disconnects(r.counter("authd_sasl_tempfail_disconnects_total",
                                     "SASL connections closed because the backend could not answer "
                                     "(the client reports a temporary failure)")),
      cancelled(r.counter("authd_sasl_cancelled_total", "SASL requests ended by the client (CANCEL)")),
      delayed_fails(r.counter("authd_sasl_delayed_fails_total", "SASL FAIL replies sent after the failure delay")),
      check_seconds(r.histogram("authd_sasl_check_duration_seconds", "Time to check SASL credentials")) {
    // Every label combination exists from the start, so a scrape shows zeros and the
    // hot path never takes the registry's lock.
    for (da::Mechanism m : {da::Mechanism::Plain, da::Mechanism::Login}) {
        for (AuthStatus s : kStatuses) {
            std::string labels = std::string("mechanism=\"") + mechanismLabel(m) + "\",result=\"" + statusLabel(s) + "\"";
            by_key_[labels] = &r.counter("authd_sasl_requests_total", "SASL credentials checks by mechanism and result",
                                         labels);
        }
    }
    for (da::Event e : kRejections) {
        std::string labels = std::string("reason=\"") + da::eventName(e) + "\"";
        by_key_[labels] = &r.counter("authd_sasl_rejected_total",
                                     "SASL requests failed without a credentials check, by reason", labels);
    }
}

metrics::Counter& SaslMetrics::result(da::Mechanism m, AuthStatus s) {
    return *by_key_.at(std::string("mechanism=\"") + mechanismLabel(m) + "\",result=\"" + statusLabel(s) + "\"");
}

metrics::Counter& SaslMetrics::rejected(da::Event e) {
    return *by_key_.at(std::string("reason=\"") + da::eventName(e) + "\"");
}

// ---- session ---------------------------------------------------------------------------

AuthClientSession::AuthClientSession(event::LineConnection& conn, event::Loop& loop, Authenticator& authenticator,
                                     std::shared_ptr<const SaslSettings> settings, SaslMetrics& metrics,
                                     std::uint32_t server_pid)
    : conn_(conn),
      loop_(loop),
      authenticator_(authenticator),
      settings_(std::move(settings)),
      metrics_(metrics),
      conversation_(da::ConversationOptions{settings_->mechanisms, settings_->limits}) {
    da::Handshake hs;
    hs.mechanisms = settings_->mechanisms;
    hs.server_pid = server_pid;
    hs.connection_id = conn_.id();
    hs.cookie = makeCookie();
    conn_.write(da::encodeHandshake(hs));
}

AuthClientSession::~AuthClientSession() { *alive_ = false; }

void AuthClientSession::onClose(event::DisconnectReason /*reason*/) {
    // Timers stay until the destructor: this may run inside one of their callbacks.
    closed_ = true;
    *alive_ = false;
}

void AuthClientSession::protocolError(const std::string& reason) {
    metrics_.protocol_errors.inc();
    log::warning("sasl protocol error, disconnecting",
                 {{"conn.id", conn_.id()}, {"peer", conn_.peer()}, {"reason", reason}});
    conn_.close(event::DisconnectReason::ProtocolError);
}

void AuthClientSession::onLine(std::string_view line) {
    if (closed_) return;
    if (draining_) return;  // closing after a backend failure: new work is not started
    da::Step step = conversation_.onLine(line);
    if (step.error) {
        protocolError(step.error->reason);
        return;
    }
    switch (step.event) {
        case da::Event::Cancelled: metrics_.cancelled.inc(); break;
        case da::Event::MechanismFailed:
        case da::Event::CredentialsTooLong:
        case da::Event::InvalidBase64:
        case da::Event::UnexpectedContinuation:
        case da::Event::UnknownRequest:
        case da::Event::TooManyRequests:
            metrics_.rejected(step.event).inc();
            log::debug("sasl request rejected", {{"conn.id", conn_.id()},
                                                 {"reason", da::eventName(step.event)},
                                                 {"sasl.username", step.user}});
            if (step.event == da::Event::TooManyRequests) {
                log::warning("sasl client exceeds its concurrent request limit",
                             {{"conn.id", conn_.id()}, {"peer", conn_.peer()},
                              {"limit", static_cast<unsigned long long>(settings_->limits.max_requests)}});
            }
            break;
        default: break;
    }
    if (!step.reply.empty()) conn_.write(step.reply);
    if (step.delayed_fail) {
        sendAfterDelay(step.delayed_fail->ticket, std::move(step.delayed_fail->fail));
    }
    if (step.verify) startCheck(std::move(*step.verify));
}

void AuthClientSession::startCheck(da::Verify verify) {
    AuthRequest req;
    req.service = verify.service;
    req.user = verify.user;
    req.password = verify.password;  // copied, then wiped: a moved-from short string keeps its bytes
    da::wipe(verify.password);
    req.remote_ip = verify.remote_ip;
    req.local_ip = verify.local_ip;
    const auto started = std::chrono::steady_clock::now();
    std::weak_ptr<bool> alive = alive_;
    authenticator_.authenticate(
        std::move(req),
        [this, alive, started, ticket = verify.ticket, mechanism = verify.mechanism, user = std::move(verify.user),
         rip = std::move(verify.remote_ip), service = std::move(verify.service)](const AuthOutcome& outcome) {
            auto token = alive.lock();
            if (!token || !*token) return;  // the connection is gone: nobody to answer
            metrics_.check_seconds.observe(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
            onChecked(ticket, mechanism, user, rip, service, outcome);
        });
}

void AuthClientSession::onChecked(std::uint64_t ticket, da::Mechanism mechanism, const std::string& typed_user,
                                  const std::string& remote_ip, const std::string& service,
                                  const AuthOutcome& outcome) {
    AuthStatus status = outcome.status;
    if (status == AuthStatus::Ok && outcome.user.empty()) {
        // Postfix needs user= in OK; without it the only honest answer is "try later".
        log::error("authenticator accepted credentials without a user name", {{"conn.id", conn_.id()}});
        status = AuthStatus::TempFail;
    }
    metrics_.result(mechanism, status).inc();
    log::debug("sasl credentials checked",
               {{"conn.id", conn_.id()}, {"sasl.username", typed_user}, {"sasl.mechanism", mechanismLabel(mechanism)},
                {"client.address", remote_ip}, {"service", service}, {"result", statusLabel(status)}});
    const std::string& user = outcome.user.empty() ? typed_user : outcome.user;
    switch (status) {
        case AuthStatus::Ok:
            if (auto id = conversation_.finish(ticket)) conn_.write(da::encodeOk(*id, outcome.user));
            break;
        case AuthStatus::TempFail:
            // A FAIL would be a permanent 535; a closed connection makes Postfix answer
            // 454 4.7.0. Everything already owed on this connection is answered first.
            if (!conversation_.finish(ticket)) break;  // cancelled: nobody waits for it
            metrics_.tempfail_disconnects.inc();
            log::warning("authentication backend unavailable, closing the SASL connection (client gets a temporary failure)",
                         {{"conn.id", conn_.id()}, {"sasl.username", typed_user}, {"client.address", remote_ip},
                          {"service", service}, {"owed", static_cast<unsigned long long>(conversation_.busy())}});
            draining_ = true;
            break;
        case AuthStatus::Failed:
            sendAfterDelay(ticket, da::Fail{0, user, {}, {}});
            break;
        case AuthStatus::AccountDisabled:
        case AuthStatus::ServiceDisabled:
            sendAfterDelay(ticket, da::Fail{0, user, std::string(da::kCodeUserDisabled), disabledReason(outcome)});
            break;
        case AuthStatus::Throttled: {
            std::string reason = da::printableReason(outcome.reason);
            if (reason.empty()) reason = "Too many failed login attempts, try again later";
            sendAfterDelay(ticket, da::Fail{0, user, {}, std::move(reason)});
            break;
        }
    }
    drainOrResume();
}

void AuthClientSession::sendAfterDelay(std::uint64_t ticket, da::Fail fail) {
    if (settings_->failure_delay.count() <= 0) {
        sendFail(ticket, std::move(fail));
        return;
    }
    Delayed d;
    d.fail = std::move(fail);
    std::weak_ptr<bool> alive = alive_;
    d.timer = loop_.after(settings_->failure_delay, [this, alive, ticket] {
        auto token = alive.lock();
        if (!token || !*token) return;
        sendDelayed(ticket);
    });
    delayed_[ticket] = std::move(d);
}

void AuthClientSession::sendDelayed(std::uint64_t ticket) {
    fired_.clear();  // timers of earlier callbacks; never the one running now
    auto it = delayed_.find(ticket);
    if (it == delayed_.end()) return;
    da::Fail fail = std::move(it->second.fail);
    fired_.push_back(std::move(it->second.timer));
    delayed_.erase(it);
    metrics_.delayed_fails.inc();
    sendFail(ticket, std::move(fail));
    drainOrResume();
}

void AuthClientSession::sendFail(std::uint64_t ticket, da::Fail fail) {
    // The conversation alone knows whether the request still runs (CANCEL, or a CONT
    // that ended it, drops the answer) and under which id.
    auto id = conversation_.finish(ticket);
    if (!id) return;
    fail.id = *id;
    conn_.write(da::encodeFail(fail));
}

void AuthClientSession::drainOrResume() {
    if (closed_) return;
    if (draining_ && conversation_.busy() == 0) {
        // Shutdown is the closest reason: the server ends the connection on purpose;
        // the tempfail counter and the warning above say why.
        conn_.close(event::DisconnectReason::Shutdown);
        return;
    }
    conn_.resume();
}

// ---- listener --------------------------------------------------------------------------

SaslServer::SaslServer(event::Loop& loop, Authenticator& authenticator, metrics::Registry& registry,
                       const SaslSettings& settings)
    : loop_(loop),
      authenticator_(authenticator),
      registry_(registry),
      metrics_(registry),
      settings_(std::make_shared<const SaslSettings>(settings)),
      pid_(static_cast<std::uint32_t>(getpid())) {}

Status SaslServer::listen(const std::vector<event::ListenSpec>& specs, const event::ServerLimits& limits) {
    if (specs.empty()) return {};
    settings_ = std::make_shared<const SaslSettings>(effectiveSaslSettings(*settings_, limits));
    server_ = std::make_unique<event::LineServer>(loop_, "sasl", limits, [this](event::LineConnection& conn) {
        return std::make_unique<AuthClientSession>(conn, loop_, authenticator_, settings_, metrics_, pid_);
    });
    for (const auto& spec : specs) {
        if (auto st = server_->listen(spec); !st) return st;
    }
    event::LineServer* server = server_.get();
    registry_.gaugeFunction("authd_sasl_connections", "Open SASL connections", "",
                            [server] { return static_cast<double>(server->connections()); });
    for (int r = 0; r < event::kDisconnectReasonCount; ++r) {
        auto reason = static_cast<event::DisconnectReason>(r);
        registry_.gaugeFunction("authd_sasl_disconnects", "SASL connections closed, by reason",
                                std::string("reason=\"") + event::disconnectReasonName(reason) + "\"",
                                [server, reason] { return static_cast<double>(server->disconnects(reason)); });
    }
    return {};
}

void SaslServer::reconfigure(const event::ServerLimits& limits, const SaslSettings& settings) {
    settings_ = std::make_shared<const SaslSettings>(effectiveSaslSettings(settings, limits));
    if (server_) server_->setLimits(limits);
}

void SaslServer::shutdown(std::chrono::milliseconds deadline, std::function<void()> done) {
    if (!server_) {
        done();
        return;
    }
    server_->shutdown(deadline, std::move(done));
}

}  // namespace titan::authd
