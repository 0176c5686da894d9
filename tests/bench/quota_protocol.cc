#include "tests/bench/quota_protocol.h"

#include <variant>

#include "common/base/strings.h"
#include "common/proto/dovecot_dict/dict.h"

namespace titan::bench {

namespace dict = proto::dict;

namespace {

const std::string kHello = dict::encodeHello(dict::Hello{3, 2, 0, "", "quota"});

class QuotaClientSession : public ClientSession {
public:
    void appendGreeting(std::string& out) override { out.append(kHello); }

    // `prepared` is "<escaped user>\t<bytes>"; the transaction id is this connection's.
    void appendRequest(std::string& out, std::string_view prepared) override {
        const std::size_t tab = prepared.find('\t');
        const std::string id = std::to_string(next_id_++);
        out.append("B").append(id).append("\t").append(prepared.substr(0, tab)).append("\n");
        out.append("A").append(id).append("\tpriv/quota/storage\t").append(prepared.substr(tab + 1)).append("\n");
        out.append("A").append(id).append("\tpriv/quota/messages\t1\n");
        out.append("C").append(id).append("\n");
    }

    // Dovecot's own dict server answers a client of minor >= 1 asynchronously: "*<n>"
    // when it reads the commit, "+<n>\t<reply>" when done (one request in flight, so
    // the two lines belong together). A simple server answers with the reply line.
    Scan scanReply(std::string_view in) override {
        std::size_t start = 0;
        if (!in.empty() && in.front() == '*') {
            start = in.find('\n');
            if (start == std::string_view::npos) return Scan::needMore();
            ++start;
        }
        const std::size_t lf = in.find('\n', start);
        if (lf == std::string_view::npos) {
            if (in.size() > QuotaProtocol::kMaxReplyBytes) return Scan::invalid("reply line too long");
            return Scan::needMore();
        }
        std::string_view line = in.substr(start, lf - start);
        if (!line.empty() && line.front() == '+') {
            const std::size_t tab = line.find('\t');
            if (tab == std::string_view::npos) return Scan::invalid("async reply without a reply");
            line.remove_prefix(tab + 1);
        }
        auto parsed = dict::parseReply(line);
        if (const auto* err = std::get_if<dict::ProtocolError>(&parsed)) {
            return Scan::invalid("unparsable reply: " + err->reason);
        }
        switch (std::get<dict::Reply>(parsed).kind) {
            case dict::ReplyKind::Ok: return Scan::complete(lf + 1, Outcome::Found);
            case dict::ReplyKind::NotFound: return Scan::complete(lf + 1, Outcome::NotFound);
            case dict::ReplyKind::Fail:
            case dict::ReplyKind::WriteUncertain: return Scan::complete(lf + 1, Outcome::Fail);
            case dict::ReplyKind::Multi:
            case dict::ReplyKind::IterEnd: return Scan::invalid("not a commit reply");
        }
        return Scan::invalid("unknown reply kind");
    }

private:
    std::uint64_t next_id_ = 1;
};

// Answers every C<id> with O<id>; B, A and the hello get nothing, as on a real server.
class QuotaEchoSession : public EchoSession {
public:
    explicit QuotaEchoSession(std::size_t pad) : pad_(pad) {}

    std::size_t consume(std::string_view in, std::string& out) override {
        std::size_t used = 0;
        for (;;) {
            const std::size_t lf = in.find('\n', used);
            if (lf == std::string_view::npos) break;
            const std::string_view line = in.substr(used, lf - used);
            if (line.empty()) return std::string_view::npos;
            if (line.front() == 'C') {
                out.append("O").append(line.substr(1));
                if (pad_ > 0) out.append("\t").append(pad_, 'x');
                out.append("\n");
            }
            used = lf + 1;
        }
        if (in.size() - used > QuotaProtocol::kMaxReplyBytes) return std::string_view::npos;
        return used;
    }

private:
    std::size_t pad_;
};

}  // namespace

std::string QuotaProtocol::prepareRequest(std::string_view key, std::string* error) const {
    std::string_view user = key;
    std::string_view bytes = "1024";
    if (const std::size_t tab = key.find('\t'); tab != std::string_view::npos) {
        user = key.substr(0, tab);
        bytes = key.substr(tab + 1);
    }
    if (user.empty() || !base::parseSigned(bytes)) {
        if (error != nullptr) *error = "a key line is USER or USER<TAB>BYTES (signed decimal)";
        return {};
    }
    return dict::escape(user) + "\t" + std::string(bytes);
}

std::unique_ptr<ClientSession> QuotaProtocol::newSession() const { return std::make_unique<QuotaClientSession>(); }

std::unique_ptr<EchoSession> QuotaProtocol::newEchoSession(std::size_t reply_bytes) const {
    // "O<id>\n" is about 4 bytes; anything asked beyond pads a trailing field.
    return std::make_unique<QuotaEchoSession>(reply_bytes > 8 ? std::min(reply_bytes, kMaxReplyBytes) - 8 : 0);
}

}  // namespace titan::bench
