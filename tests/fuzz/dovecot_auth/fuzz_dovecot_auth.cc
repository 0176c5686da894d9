// Fuzz target for the Dovecot auth-client codec, the PLAIN/LOGIN mechanisms and the
// per-connection conversation (common/proto/dovecot_auth). The input is a byte stream
// as authd's SASL listener reads it: it is framed into lines and driven through a
// Conversation (default and tiny limits, every Verify answered at once, every delayed
// FAIL released at once). Every server line must parse back as a reply; every command
// that parses re-encodes to a line that parses to the same value; base64 and the
// mechanisms are exercised on the raw bytes. Layer: tests (links titan_proto only).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/proto/dovecot_auth/auth_client.h"
#include "common/proto/dovecot_auth/base64.h"
#include "common/proto/dovecot_auth/conversation.h"
#include "common/proto/dovecot_auth/mechanisms.h"
#include "common/proto/line_framer.h"

namespace {

using namespace titan::proto;
using namespace titan::proto::dovecot_auth;

#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                 \
        }                                                                                 \
    } while (0)

// Every server output is a sequence of well-formed reply lines.
void checkReplies(std::string_view out) {
    while (!out.empty()) {
        const std::size_t lf = out.find('\n');
        FUZZ_CHECK(lf != std::string_view::npos);
        const auto r = parseReply(out.substr(0, lf));
        FUZZ_CHECK(std::holds_alternative<Reply>(r));
        out.remove_prefix(lf + 1);
    }
}

void checkBase64(std::string_view bytes) {
    const std::string enc = base64Encode(bytes);
    FUZZ_CHECK(isBase64Alphabet(enc));
    const auto dec = base64Decode(enc);
    FUZZ_CHECK(dec && *dec == bytes);
    if (const auto d = base64Decode(bytes)) {
        FUZZ_CHECK(isBase64Alphabet(bytes));
        FUZZ_CHECK(bytes.size() % 4 == 0);
        FUZZ_CHECK(d->size() <= bytes.size() / 4 * 3);
    }
}

void checkMechanisms(std::string_view bytes) {
    AuthLimits tiny;
    tiny.max_user_bytes = 8;
    tiny.max_password_bytes = 8;
    for (const AuthLimits& limits : {AuthLimits{}, tiny}) {
        MechanismState st;
        const auto step = startMechanism(st, Mechanism::Plain, std::string(bytes), limits);
        if (const auto* c = std::get_if<Credentials>(&step)) {
            FUZZ_CHECK(!c->user.empty() && c->user.size() <= limits.max_user_bytes);
            FUZZ_CHECK(c->password.size() <= limits.max_password_bytes);
            FUZZ_CHECK(c->authzid.empty() || c->authzid == c->user);
            FUZZ_CHECK(c->user.find('\0') == std::string::npos);
        } else {
            FUZZ_CHECK(std::holds_alternative<MechanismFailure>(step));
        }
        MechanismState login;
        (void)startMechanism(login, Mechanism::Login, std::nullopt, limits);
        const auto user = continueMechanism(login, bytes, limits);
        if (!std::holds_alternative<MechanismFailure>(user)) {
            const auto pass = continueMechanism(login, bytes, limits);
            if (const auto* c = std::get_if<Credentials>(&pass)) FUZZ_CHECK(c->user == bytes);
        }
    }
}

void checkCommand(std::string_view line) {
    for (std::uint32_t minor : {0u, 2u}) {
        const auto r = parseCommand(line, minor);
        if (const auto* cmd = std::get_if<Command>(&r)) {
            const std::string wire = encodeCommand(*cmd);
            FUZZ_CHECK(!wire.empty() && wire.back() == '\n' && wire.find('\n') == wire.size() - 1);
            const auto again = parseCommand(std::string_view(wire).substr(0, wire.size() - 1), 2);
            FUZZ_CHECK(std::holds_alternative<Command>(again));
            FUZZ_CHECK(std::get<Command>(again) == *cmd);
        } else {
            FUZZ_CHECK(!std::get<ProtocolError>(r).reason.empty());
        }
    }
}

void runConversation(const std::vector<std::string_view>& lines, const ConversationOptions& options) {
    Conversation conv(options);
    std::string out;
    for (std::string_view line : lines) {
        Step s = conv.onLine(line);
        FUZZ_CHECK(conv.requests() <= options.limits.max_requests);
        FUZZ_CHECK(conv.busy() <= conv.requests());
        if (s.error) {
            FUZZ_CHECK(s.event == Event::ProtocolError && s.reply.empty());
            break;
        }
        out += s.reply;
        if (s.verify) {
            FUZZ_CHECK(!s.verify->service.empty() && !s.verify->user.empty());
            FUZZ_CHECK(s.verify->password.size() <= options.limits.max_password_bytes);
            const auto id = conv.finish(s.verify->ticket);
            FUZZ_CHECK(id && *id == s.verify->id);
            FUZZ_CHECK(!conv.finish(s.verify->ticket));
            out += (s.verify->password == "secret") ? encodeOk(*id, s.verify->user)
                                                    : encodeFail(Fail{*id, s.verify->user, "", ""});
        }
        if (s.delayed_fail) {
            const auto id = conv.finish(s.delayed_fail->ticket);
            FUZZ_CHECK(id && *id == s.delayed_fail->fail.id);
            out += encodeFail(s.delayed_fail->fail);
        }
    }
    checkReplies(out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    checkBase64(input);
    checkMechanisms(input);
    const std::string reason = printableReason(input, 64);
    FUZZ_CHECK(reason.size() <= 64);
    for (char c : reason) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);

    std::vector<std::string_view> lines;
    std::string_view rest = input;
    for (;;) {
        const auto r = nextLine(rest, FramerLimits{AuthLimits{}.max_line_bytes, false});
        const auto* line = std::get_if<Line>(&r);
        if (line == nullptr) break;
        lines.push_back(line->text);
        rest.remove_prefix(line->consumed);
    }
    for (std::string_view line : lines) {
        checkCommand(line);
        (void)parseVersion(line);
        (void)parseCpid(line);
        (void)parseReply(line);
    }
    ConversationOptions tiny;
    tiny.mechanisms = {Mechanism::Login};
    tiny.limits.max_requests = 2;
    tiny.limits.max_user_bytes = 8;
    tiny.limits.max_password_bytes = 8;
    runConversation(lines, ConversationOptions{});
    runConversation(lines, tiny);
    return 0;
}
