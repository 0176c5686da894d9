#include "tests/bench/socketmap_protocol.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "common/proto/socketmap/socketmap.h"

namespace titan::bench {

namespace sm = proto::socketmap;

namespace {

class SocketmapClientSession : public ClientSession {
public:
    Scan scanReply(std::string_view in) override {
        auto r = sm::nextNetstring(in, sm::kPostfixMaxReplyBytes);
        if (std::holds_alternative<sm::NeedMore>(r)) return Scan::needMore();
        if (std::holds_alternative<sm::TooLong>(r)) return Scan::invalid("reply longer than Postfix accepts");
        if (const auto* m = std::get_if<sm::Malformed>(&r)) return Scan::invalid("unparsable reply: " + m->reason);
        const auto& ns = std::get<sm::Netstring>(r);
        switch (sm::parseReply(ns.payload).status) {
            case sm::Status::Ok: return Scan::complete(ns.consumed, Outcome::Found);
            case sm::Status::NotFound: return Scan::complete(ns.consumed, Outcome::NotFound);
            case sm::Status::Temp:
            case sm::Status::Perm:
            case sm::Status::Unknown: return Scan::complete(ns.consumed, Outcome::Fail);
        }
        return Scan::invalid("unknown reply status");
    }
};

class SocketmapEchoSession : public EchoSession {
public:
    explicit SocketmapEchoSession(std::string reply) : reply_(std::move(reply)) {}

    std::size_t consume(std::string_view in, std::string& out) override {
        std::size_t used = 0;
        for (;;) {
            auto r = sm::nextNetstring(in.substr(used), sm::maxRequestBytes(sm::Limits{}));
            if (std::holds_alternative<sm::NeedMore>(r)) break;
            const auto* ns = std::get_if<sm::Netstring>(&r);
            if (ns == nullptr) return std::string_view::npos;
            out.append(reply_);
            used += ns->consumed;
        }
        return used;
    }

private:
    std::string reply_;
};

}  // namespace

std::string SocketmapProtocol::prepareRequest(std::string_view key_line, std::string* error) const {
    std::size_t sp = key_line.find(' ');
    if (sp == std::string_view::npos) {
        if (error != nullptr) *error = "a socketmap key line is '<map> <key>'";
        return {};
    }
    std::string wire = sm::encodeRequest(key_line.substr(0, sp), key_line.substr(sp + 1));
    auto frame = sm::nextNetstring(wire, sm::maxRequestBytes(sm::Limits{}));
    const auto* ns = std::get_if<sm::Netstring>(&frame);
    if (ns == nullptr || !std::holds_alternative<sm::Request>(sm::parseRequest(ns->payload))) {
        if (error != nullptr) *error = "not a valid socketmap request";
        return {};
    }
    return wire;
}

std::unique_ptr<ClientSession> SocketmapProtocol::newSession() const {
    return std::make_unique<SocketmapClientSession>();
}

std::unique_ptr<EchoSession> SocketmapProtocol::newEchoSession(std::size_t reply_bytes) const {
    // "OK " and a value padded so the whole netstring is about reply_bytes.
    std::size_t data = std::clamp<std::size_t>(reply_bytes, 16, sm::kPostfixMaxReplyBytes - 3) - 10;
    return std::make_unique<SocketmapEchoSession>(sm::encodeOk(std::string(data, 'x')));
}

}  // namespace titan::bench
