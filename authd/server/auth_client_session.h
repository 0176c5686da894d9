// Postfix SASL (smtpd_sasl_type = dovecot) served by authd over the Dovecot
// auth-client protocol: one AuthClientSession per connection, and SaslServer, the
// listener that main.cc creates when `sasl.listen` is set. The session runs the
// handshake, drives the PLAIN/LOGIN conversation (common/proto/dovecot_auth), asks the
// Authenticator, and turns its answer into the protocol's signal: OK, a FAIL after the
// failure delay, or — when the backend cannot answer — a closed connection, which
// Postfix reports as a temporary 454 (a FAIL would be a permanent 535). It does not
// check passwords itself. Loop thread only. Layer: authd/server.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "authd/service/authenticator.h"
#include "common/event/line_server.h"
#include "common/event/loop.h"
#include "common/metrics/metrics.h"
#include "common/proto/dovecot_auth/conversation.h"

namespace titan::authd {

// The `sasl:` settings a session reads (snapshot taken when the connection opens).
struct SaslSettings {
    // Offered in this order (MECH lines). Config: mechanisms: [plain, login].
    std::vector<proto::dovecot_auth::Mechanism> mechanisms{proto::dovecot_auth::Mechanism::Plain,
                                                           proto::dovecot_auth::Mechanism::Login};
    // Every FAIL that follows a credentials check or a mechanism failure waits this
    // long (Dovecot's auth_failure_delay); 0 sends it at once. Protocol-level failures
    // (invalid base64, unexpected continuation, limits) are always sent at once.
    std::chrono::milliseconds failure_delay{2000};
    // Codec bounds. max_requests follows limits.max_pending (see saslServerLimits()).
    proto::dovecot_auth::AuthLimits limits;
};

// Connection limits for the SASL listener when the config names none: Dovecot's 16 KiB
// line, 64 requests per connection, and a 10 minute idle timeout (Postfix keeps its
// connection for the life of each smtpd process; closing it early only costs a
// reconnect, but a close racing a request would turn that request into a 454).
event::ServerLimits defaultSaslLimits();

// Metrics of the SASL front end (all counters; names in the .cc).
struct SaslMetrics {
    explicit SaslMetrics(metrics::Registry& r);
    // authd_sasl_requests_total{mechanism, result}: one per credentials check.
    metrics::Counter& result(proto::dovecot_auth::Mechanism m, AuthStatus s);
    // authd_sasl_rejected_total{reason}: requests failed without a credentials check.
    metrics::Counter& rejected(proto::dovecot_auth::Event e);

    metrics::Registry& registry;
    metrics::Counter& protocol_errors;      // connections closed for a malformed line
    metrics::Counter& tempfail_disconnects; // connections closed because the backend failed
    metrics::Counter& cancelled;            // requests ended by CANCEL
    metrics::Counter& delayed_fails;        // FAILs sent after the failure delay
    metrics::Histogram& check_seconds;      // Authenticator latency

private:
    std::map<std::string, metrics::Counter*> by_key_;
};

class AuthClientSession : public event::LineHandler {
public:
    // Writes the server handshake at once. `server_pid` is sent as SPID.
    AuthClientSession(event::LineConnection& conn, event::Loop& loop, Authenticator& authenticator,
                      std::shared_ptr<const SaslSettings> settings, SaslMetrics& metrics, std::uint32_t server_pid);
    ~AuthClientSession() override;
    AuthClientSession(const AuthClientSession&) = delete;
    AuthClientSession& operator=(const AuthClientSession&) = delete;

    void onLine(std::string_view line) override;
    // Credentials being checked plus FAILs waiting for their delay.
    size_t pending() const override { return conversation_.busy(); }
    void onClose(event::DisconnectReason reason) override;

private:
    void startCheck(proto::dovecot_auth::Verify verify);
    void onChecked(std::uint64_t ticket, proto::dovecot_auth::Mechanism mechanism, const std::string& typed_user,
                   const std::string& remote_ip, const std::string& service, const AuthOutcome& outcome);
    void sendAfterDelay(std::uint64_t ticket, proto::dovecot_auth::Fail fail);
    void sendDelayed(std::uint64_t ticket);
    void sendFail(std::uint64_t ticket, proto::dovecot_auth::Fail fail);
    void drainOrResume();
    void protocolError(const std::string& reason);

    event::LineConnection& conn_;
    event::Loop& loop_;
    Authenticator& authenticator_;
    std::shared_ptr<const SaslSettings> settings_;
    SaslMetrics& metrics_;
    proto::dovecot_auth::Conversation conversation_;
    struct Delayed {
        proto::dovecot_auth::Fail fail;
        std::unique_ptr<event::Timer> timer;
    };
    std::map<std::uint64_t, Delayed> delayed_;
    // Timers whose callback is running or ran: destroyed outside their own callback.
    std::vector<std::unique_ptr<event::Timer>> fired_;
    // After a backend failure: answer what is still owed, then close.
    bool draining_ = false;
    bool closed_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// The SASL listener: a LineServer of AuthClientSessions, its metrics and gauges.
class SaslServer {
public:
    SaslServer(event::Loop& loop, Authenticator& authenticator, metrics::Registry& registry,
               const SaslSettings& settings);

    // Binds every spec (before privileges are dropped); nothing when `specs` is empty.
    // Errors: Config.
    Status listen(const std::vector<event::ListenSpec>& specs, const event::ServerLimits& limits);
    // SIGHUP: mechanisms, failure delay and limits apply to new connections; listeners
    // need a restart.
    void reconfigure(const event::ServerLimits& limits, const SaslSettings& settings);
    // Graceful stop: owed answers (delayed FAILs included) are sent first. `done` runs
    // at once when nothing listens.
    void shutdown(std::chrono::milliseconds deadline, std::function<void()> done);

    bool enabled() const noexcept { return server_ != nullptr; }
    size_t connections() const noexcept { return server_ ? server_->connections() : 0; }

private:
    event::Loop& loop_;
    Authenticator& authenticator_;
    metrics::Registry& registry_;
    SaslMetrics metrics_;
    std::shared_ptr<const SaslSettings> settings_;
    std::uint32_t pid_;
    std::unique_ptr<event::LineServer> server_;
};

// The SaslSettings a session should run with under `limits` (max_requests and the
// line bound follow the connection limits).
SaslSettings effectiveSaslSettings(const SaslSettings& settings, const event::ServerLimits& limits);

}  // namespace titan::authd
