#include "tests/bench/policy_protocol.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <variant>

namespace titan::bench {

namespace policy = proto::policy;

namespace {

class PolicyClientSession : public ClientSession {
public:
    Scan scanReply(std::string_view in) override {
        std::size_t consumed = 0;
        policy::PolicyLimits limits;
        limits.max_line_bytes = PolicyProtocol::kMaxReplyBytes;
        auto r = policy::decodeReply(in, &consumed, limits);
        if (std::holds_alternative<policy::NeedMore>(r)) {
            if (in.size() > PolicyProtocol::kMaxReplyBytes) return Scan::invalid("reply too long");
            return Scan::needMore();
        }
        if (const auto* err = std::get_if<policy::ProtocolError>(&r)) return Scan::invalid("bad reply: " + err->reason);
        const auto& reply = std::get<policy::Reply>(r);
        if (!reply.action) return Scan::complete(consumed, Outcome::Fail);
        return Scan::complete(consumed, policyOutcome(*reply.action));
    }
};

class PolicyEchoSession : public EchoSession {
public:
    explicit PolicyEchoSession(std::string reply) : reply_(std::move(reply)) {}

    std::size_t consume(std::string_view in, std::string& out) override {
        decoder_.append(in);
        for (;;) {
            auto r = decoder_.next();
            if (std::holds_alternative<policy::NeedMore>(r)) break;
            if (std::holds_alternative<policy::ProtocolError>(r)) return std::string_view::npos;
            out.append(reply_);
        }
        return in.size();  // the decoder keeps what it needs
    }

private:
    policy::Decoder decoder_;
    std::string reply_;
};

}  // namespace

Outcome policyOutcome(std::string_view action) {
    std::string word(action.substr(0, action.find(' ')));
    for (auto& c : word) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (word == "REJECT" || word.rfind("DEFER", 0) == 0) return Outcome::NotFound;
    if (word.size() == 3 && (word[0] == '4' || word[0] == '5')) return Outcome::NotFound;
    return Outcome::Found;
}

std::string PolicyProtocol::prepareRequest(std::string_view key, std::string* error) const {
    policy::PolicyRequest base;
    base.protocol_state = policy::ProtocolState::Rcpt;
    base.protocol_name = "ESMTP";
    base.client_address = "192.0.2.1";
    base.client_name = "unknown";
    base.client_port = 40000;
    base.reverse_client_name = "unknown";
    base.server_address = "127.0.0.1";
    base.server_port = 25;
    base.helo_name = "client.example.org";
    base.sender = "sender@example.org";
    base.recipient = "rcpt@example.test";
    base.instance = "1.2.3";
    policy::Request request = policy::toRequest(base);
    std::size_t from = 0;
    while (from < key.size()) {
        std::size_t tab = key.find('\t', from);
        std::string_view pair = key.substr(from, tab == std::string_view::npos ? std::string_view::npos : tab - from);
        from = tab == std::string_view::npos ? key.size() : tab + 1;
        if (pair.empty()) continue;
        std::size_t eq = pair.find('=');
        if (eq == std::string_view::npos || eq == 0) {
            if (error != nullptr) *error = "a key line is TAB-separated name=value pairs";
            return {};
        }
        std::string name(pair.substr(0, eq));
        std::string value(pair.substr(eq + 1));
        bool replaced = false;
        for (auto& a : request.attributes) {
            if (a.name == name) {
                a.value = value;
                replaced = true;
            }
        }
        if (!replaced) request.attributes.push_back({name, value});
    }
    std::string wire = policy::encodeRequest(request);
    // Only send what a server accepts from Postfix: the request must decode to itself.
    policy::Decoder d;
    d.append(wire);
    auto back = d.next();
    const auto* decoded = std::get_if<policy::Request>(&back);
    if (decoded == nullptr || !(*decoded == request)) {
        if (error != nullptr) *error = "not a valid policy request";
        return {};
    }
    return wire;
}

std::unique_ptr<ClientSession> PolicyProtocol::newSession() const { return std::make_unique<PolicyClientSession>(); }

std::unique_ptr<EchoSession> PolicyProtocol::newEchoSession(std::size_t reply_bytes) const {
    std::string head = "action=DUNNO\n";
    std::string reply = head;
    const std::size_t fixed = head.size() + 1;
    if (reply_bytes > fixed + 3) reply += "x=" + std::string(std::min(reply_bytes, kMaxReplyBytes) - fixed - 3, 'x') + "\n";
    reply += "\n";
    return std::make_unique<PolicyEchoSession>(std::move(reply));
}

}  // namespace titan::bench
