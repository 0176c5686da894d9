#include "tests/bench/dict_protocol.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "common/proto/dovecot_dict/dict.h"
#include "tests/bench/policy_protocol.h"
#include "tests/bench/quota_protocol.h"
#include "tests/bench/sasl_protocol.h"
#include "tests/bench/socketmap_protocol.h"

namespace titan::bench {

namespace dict = proto::dict;

namespace {

class DictClientSession : public ClientSession {
public:
    explicit DictClientSession(const std::string& hello) : hello_(hello) {}

    void appendGreeting(std::string& out) override { out.append(hello_); }

    Scan scanReply(std::string_view in) override {
        std::size_t lf = in.find('\n');
        if (lf == std::string_view::npos) {
            if (in.size() > DictProtocol::kMaxReplyBytes) return Scan::invalid("reply line too long");
            return Scan::needMore();
        }
        std::string_view line = in.substr(0, lf);
        if (!line.empty() && line.front() == 'O') {
            // The common reply, checked without unescaping its value: for an O line
            // parseReply() only refuses a raw NUL, so the outcome is the same.
            if (line.find('\0') != std::string_view::npos) return Scan::invalid("unparsable reply: NUL byte");
            return Scan::complete(lf + 1, Outcome::Found);
        }
        auto parsed = dict::parseReply(line);
        if (const auto* err = std::get_if<dict::ProtocolError>(&parsed)) {
            return Scan::invalid("unparsable reply: " + err->reason);
        }
        const auto& reply = std::get<dict::Reply>(parsed);
        if (reply.async) return Scan::invalid("commit reply to a lookup");
        switch (reply.kind) {
            case dict::ReplyKind::Ok:
            case dict::ReplyKind::Multi: return Scan::complete(lf + 1, Outcome::Found);
            case dict::ReplyKind::NotFound: return Scan::complete(lf + 1, Outcome::NotFound);
            case dict::ReplyKind::Fail: return Scan::complete(lf + 1, Outcome::Fail);
            case dict::ReplyKind::WriteUncertain: return Scan::invalid("W reply to a lookup");
            case dict::ReplyKind::IterEnd: return Scan::invalid("empty line in reply to a lookup");
        }
        return Scan::invalid("unknown reply kind");
    }

private:
    const std::string& hello_;
};

class DictEchoSession : public EchoSession {
public:
    explicit DictEchoSession(std::string reply) : reply_(std::move(reply)) {}

    std::size_t consume(std::string_view in, std::string& out) override {
        std::size_t used = 0;
        for (;;) {
            std::size_t lf = in.find('\n', used);
            if (lf == std::string_view::npos) break;
            if (hello_done_) {
                out.append(reply_);
            } else {
                if (lf == used || in[used] != 'H') return std::string_view::npos;
                hello_done_ = true;  // the hello has no answer
            }
            used = lf + 1;
        }
        if (in.size() - used > DictProtocol::kMaxReplyBytes) return std::string_view::npos;
        return used;
    }

private:
    std::string reply_;
    bool hello_done_ = false;
};

// `O{"user":"echo","pad":"xxx..."}\n` padded to `bytes` in total (at least the
// unpadded form).
std::string echoReply(std::size_t bytes) {
    std::string head = "O{\"user\":\"echo\",\"pad\":\"";
    std::string tail = "\"}\n";
    std::size_t fixed = head.size() + tail.size();
    std::size_t pad = bytes > fixed ? bytes - fixed : 0;
    return head + std::string(pad, 'x') + tail;
}

}  // namespace

std::string DictProtocol::prepareRequest(std::string_view key_line, std::string* error) const {
    std::string_view key = key_line;
    std::string_view user;
    std::size_t tab = key_line.find('\t');
    if (tab != std::string_view::npos) {
        key = key_line.substr(0, tab);
        user = key_line.substr(tab + 1);
    } else {
        std::size_t slash = key.rfind('/');
        user = slash == std::string_view::npos ? std::string_view() : key.substr(slash + 1);
    }
    dict::Lookup lookup{std::string(key), std::string(user)};
    std::string line = dict::encodeCommand(lookup);
    // Only send what a server accepts from Dovecot: the line must parse back to itself.
    auto back = dict::parseCommand(std::string_view(line).substr(0, line.size() - 1), dict::DictLimits{}, 3);
    const auto* cmd = std::get_if<dict::Command>(&back);
    if (cmd == nullptr || !(*cmd == dict::Command(lookup))) {
        if (error != nullptr) {
            const auto* err = std::get_if<dict::ProtocolError>(&back);
            *error = "not a valid dict lookup key" + (err != nullptr ? ": " + err->reason : std::string());
        }
        return {};
    }
    return line;
}

std::unique_ptr<ClientSession> DictProtocol::newSession() const {
    return std::make_unique<DictClientSession>(hello_);
}

std::unique_ptr<EchoSession> DictProtocol::newEchoSession(std::size_t reply_bytes) const {
    return std::make_unique<DictEchoSession>(echoReply(std::min(reply_bytes, kMaxReplyBytes)));
}

std::unique_ptr<Protocol> makeProtocol(std::string_view name) {
    if (name == "dict") return std::make_unique<DictProtocol>();
    if (name == "policy") return std::make_unique<PolicyProtocol>();
    if (name == "socketmap") return std::make_unique<SocketmapProtocol>();
    if (name == "dict-quota") return std::make_unique<QuotaProtocol>();
    if (name == "sasl") return std::make_unique<SaslProtocol>();
    return nullptr;
}

std::vector<std::string> protocolNames() { return {"dict", "policy", "socketmap", "dict-quota", "sasl"}; }

}  // namespace titan::bench
