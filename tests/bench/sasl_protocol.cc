#include "tests/bench/sasl_protocol.h"

#include <unistd.h>

#include <algorithm>
#include <variant>
#include <vector>

#include "common/base/strings.h"
#include "common/proto/dovecot_auth/auth_client.h"
#include "common/proto/dovecot_auth/base64.h"

namespace titan::bench {

namespace da = proto::dovecot_auth;

namespace {

class SaslClientSession : public ClientSession {
public:
    explicit SaslClientSession(std::uint32_t pid) : pid_(pid) {}

    // Postfix 3.7's xsasl_dovecot client: protocol minor 0, its own pid.
    void appendGreeting(std::string& out) override {
        out.append(da::encodeVersion(da::Version{1, 0}));
        out.append(da::encodeCpid(da::Cpid{pid_}));
    }

    bool awaitsGreetingReply() const override { return true; }

    // The server's handshake, VERSION to DONE. Rescanned from the start on every call
    // (the generator keeps the bytes until Complete); it is short.
    Scan scanGreeting(std::string_view in) override {
        std::size_t pos = 0;
        bool first = true;
        bool plain = false;
        bool mech_seen = false;
        for (;;) {
            const std::size_t lf = in.find('\n', pos);
            if (lf == std::string_view::npos) {
                if (in.size() > SaslProtocol::kMaxHandshakeBytes) return Scan::invalid("handshake too long");
                return Scan::needMore();
            }
            if (lf + 1 > SaslProtocol::kMaxHandshakeBytes) return Scan::invalid("handshake too long");
            const std::string_view line = in.substr(pos, lf - pos);
            pos = lf + 1;
            const std::string_view word = line.substr(0, line.find('\t'));
            if (first) {
                // The server's VERSION line has the client's format: major must be 1.
                if (word != "VERSION" || !std::holds_alternative<da::Version>(da::parseVersion(line))) {
                    return Scan::invalid("handshake does not start with VERSION 1");
                }
                first = false;
                continue;
            }
            if (word == "MECH") {
                mech_seen = true;
                const auto fields = base::split(line, '\t');
                if (fields.size() >= 2 && da::parseMechanismName(fields[1]) == da::Mechanism::Plain &&
                    std::find(fields.begin() + 2, fields.end(), std::string_view("private")) == fields.end()) {
                    plain = true;
                }
            } else if (word == "SPID" && !mech_seen) {
                // What Postfix refuses too: an auth-master socket, not a client socket.
                return Scan::invalid("SPID before any MECH: not an auth-client socket");
            } else if (word == "DONE") {
                if (!plain) return Scan::invalid("the server does not offer PLAIN");
                return Scan::complete(pos, Outcome::Found);
            }
            // SPID, CUID, COOKIE and unknown lines: ignored, as Postfix does.
        }
    }

    // `prepared` is the AUTH line after its id.
    void appendRequest(std::string& out, std::string_view prepared) override {
        const std::uint32_t id = next_id_;
        next_id_ = next_id_ == UINT32_MAX ? 1 : next_id_ + 1;
        in_flight_.push_back(id);
        out.append("AUTH\t").append(std::to_string(id)).append("\t").append(prepared);
    }

    Scan scanReply(std::string_view in) override {
        const std::size_t lf = in.find('\n');
        if (lf == std::string_view::npos) {
            if (in.size() > SaslProtocol::kMaxReplyBytes) return Scan::invalid("reply line too long");
            return Scan::needMore();
        }
        auto parsed = da::parseReply(in.substr(0, lf));
        if (const auto* err = std::get_if<da::ProtocolError>(&parsed)) {
            return Scan::invalid("unparsable reply: " + err->reason);
        }
        const auto& reply = std::get<da::Reply>(parsed);
        auto it = std::find(in_flight_.begin(), in_flight_.end(), reply.id);
        if (it == in_flight_.end()) return Scan::invalid("reply for an id not in flight");
        in_flight_.erase(it);
        switch (reply.kind) {
            case da::ReplyKind::Ok: return Scan::complete(lf + 1, Outcome::Found);
            case da::ReplyKind::Fail: return Scan::complete(lf + 1, Outcome::Fail);
            case da::ReplyKind::Cont: return Scan::invalid("CONT reply to PLAIN with an initial response");
        }
        return Scan::invalid("unknown reply kind");
    }

private:
    std::uint32_t pid_;
    std::uint32_t next_id_ = 1;
    std::vector<std::uint32_t> in_flight_;  // ids sent and not answered, oldest first
};

class SaslEchoSession : public EchoSession {
public:
    SaslEchoSession(std::uint32_t pid, std::uint64_t cuid, std::size_t reply_bytes)
        : pid_(pid), cuid_(cuid), reply_bytes_(reply_bytes) {}

    std::size_t consume(std::string_view in, std::string& out) override {
        std::size_t used = 0;
        for (;;) {
            const std::size_t lf = in.find('\n', used);
            if (lf == std::string_view::npos) break;
            const std::string_view line = in.substr(used, lf - used);
            used = lf + 1;
            switch (state_) {
                case State::Version:
                    if (!base::startsWith(line, "VERSION\t")) return std::string_view::npos;
                    out.append(da::encodeHandshake(
                        da::Handshake{{da::Mechanism::Plain, da::Mechanism::Login}, pid_, cuid_,
                                      "00000000000000000000000000000000"}));
                    state_ = State::Cpid;
                    break;
                case State::Cpid:
                    if (!base::startsWith(line, "CPID\t")) return std::string_view::npos;
                    state_ = State::Requests;
                    break;
                case State::Requests:
                    if (base::startsWith(line, "CANCEL\t")) break;
                    if (!base::startsWith(line, "AUTH\t")) return std::string_view::npos;
                    appendOk(line.substr(5, line.find('\t', 5) - 5), out);
                    break;
            }
        }
        if (in.size() - used > SaslProtocol::kMaxReplyBytes) return std::string_view::npos;
        return used;
    }

private:
    enum class State { Version, Cpid, Requests };

    // OK <id> user=echo [pad=xxx...], `reply_bytes_` in all when that is longer.
    void appendOk(std::string_view id, std::string& out) const {
        const std::size_t start = out.size();
        out.append("OK\t").append(id).append("\tuser=echo");
        const std::size_t len = out.size() - start + 1;  // with the LF
        constexpr std::size_t kPadField = 5;             // "\tpad="
        if (reply_bytes_ > len + kPadField) out.append("\tpad=").append(reply_bytes_ - len - kPadField, 'x');
        out.append("\n");
    }

    std::uint32_t pid_;
    std::uint64_t cuid_;
    std::size_t reply_bytes_;
    State state_ = State::Version;
};

}  // namespace

SaslProtocol::SaslProtocol() : pid_(static_cast<std::uint32_t>(::getpid())) {
    if (pid_ == 0) pid_ = 1;
}

std::string SaslProtocol::prepareRequest(std::string_view key, std::string* error) const {
    std::string_view user = key;
    std::string_view password = kDefaultPassword;
    if (const std::size_t tab = key.find('\t'); tab != std::string_view::npos) {
        user = key.substr(0, tab);
        password = key.substr(tab + 1);
    }
    if (user.empty() || user.find('\0') != std::string_view::npos || password.find('\0') != std::string_view::npos) {
        if (error != nullptr) *error = "a key line is USER or USER<TAB>PASSWORD (no NUL bytes, USER not empty)";
        return {};
    }
    std::string response;
    response.reserve(user.size() + password.size() + 2);
    response.append(1, '\0').append(user).append(1, '\0').append(password);
    da::Auth auth;
    auth.id = 1;
    auth.mechanism = "PLAIN";
    auth.service = "smtp";
    auth.local_ip = "127.0.0.1";
    auth.remote_ip = "127.0.0.1";
    auth.response = da::Response::Present;
    auth.initial_response = response;
    // Only send what a server accepts: the line must parse back to the request.
    const std::string line = da::encodeCommand(auth);
    auto back = da::parseCommand(std::string_view(line).substr(0, line.size() - 1), 0);
    const auto* cmd = std::get_if<da::Command>(&back);
    if (cmd == nullptr || !(*cmd == da::Command(auth))) {
        if (error != nullptr) *error = "not a valid AUTH request";
        return {};
    }
    da::wipe(response);
    // Postfix's own parameter order; the codec's encoder omits `nologin`.
    return "PLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=127.0.0.1\tresp=" + da::base64Encode(auth.initial_response) +
           "\n";
}

std::unique_ptr<ClientSession> SaslProtocol::newSession() const { return std::make_unique<SaslClientSession>(pid_); }

std::unique_ptr<EchoSession> SaslProtocol::newEchoSession(std::size_t reply_bytes) const {
    static std::uint64_t cuid = 0;  // the echo server is single-threaded
    return std::make_unique<SaslEchoSession>(pid_, ++cuid, std::min(reply_bytes, kMaxReplyBytes - 1));
}

}  // namespace titan::bench
