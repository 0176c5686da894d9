// Fuzz target for the Dovecot dict codec and the line framer (common/proto). The input is
// a byte stream as a dict server or client would read it: it is framed into lines, the
// first line is tried as a hello, every line as a command (majors 3 and 4, default and
// tiny limits) and as a reply. Whatever parses is re-encoded and must parse back to the
// same value; escaping and framing invariants are checked on the raw bytes.
// Layer: tests (links titan_proto only).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/proto/dovecot_dict/dict.h"
#include "common/proto/line_framer.h"

namespace {

using namespace titan::proto;

#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                 \
        }                                                                                 \
    } while (0)

const dict::DictLimits kDefaultLimits{};
const dict::DictLimits kTinyLimits{16, 16, 4};

void checkEscaping(std::string_view bytes) {
    const std::string wire = dict::escape(bytes);
    FUZZ_CHECK(dict::unescape(wire) == bytes);
    FUZZ_CHECK(wire.find_first_of(std::string_view("\0\t\r\n", 4)) == std::string::npos);
    // Splitting is the inverse of joining escaped fields.
    const auto fields = dict::splitFields(bytes);
    if (!fields.empty() && !(fields.size() == 1 && fields[0].empty())) {
        std::string joined;
        for (std::size_t i = 0; i < fields.size(); ++i) {
            if (i != 0) joined += '\t';
            joined += dict::escape(fields[i]);
        }
        FUZZ_CHECK(dict::splitFields(joined) == fields);
    }
}

// Checks the framer's contract for one call and returns the lines of `input`.
std::vector<std::string_view> frame(std::string_view input, const FramerLimits& limits,
                                    std::string* end_state) {
    std::vector<std::string_view> lines;
    std::string_view rest = input;
    for (;;) {
        const auto r = nextLine(rest, limits);
        if (const auto* line = std::get_if<Line>(&r)) {
            FUZZ_CHECK(line->consumed >= 1 && line->consumed <= rest.size());
            FUZZ_CHECK(rest[line->consumed - 1] == '\n');
            FUZZ_CHECK(line->text.data() == rest.data());
            FUZZ_CHECK(line->text.size() <= limits.max_line_bytes);
            FUZZ_CHECK(line->text.find('\n') == std::string_view::npos);
            FUZZ_CHECK(rest.substr(0, line->consumed - 1).find('\n') == std::string_view::npos);
            lines.push_back(line->text);
            rest.remove_prefix(line->consumed);
            continue;
        }
        if (std::holds_alternative<NeedMore>(r)) {
            FUZZ_CHECK(rest.find('\n') == std::string_view::npos);
            FUZZ_CHECK(rest.size() <= limits.max_line_bytes + (limits.strip_cr ? 1 : 0));
            *end_state = "need more";
        } else {
            FUZZ_CHECK(std::get<LineTooLong>(r).limit == limits.max_line_bytes);
            FUZZ_CHECK(rest.size() > limits.max_line_bytes);
            *end_state = "too long";
        }
        return lines;
    }
}

// Feeding the same bytes one at a time must give the same lines and end state.
void checkIncremental(std::string_view input, const FramerLimits& limits,
                      const std::vector<std::string_view>& want_lines,
                      const std::string& want_end) {
    std::vector<std::string> got;
    std::string buffer;
    std::string end = "need more";
    for (char c : input) {
        buffer += c;
        for (;;) {
            const auto r = nextLine(buffer, limits);
            if (const auto* line = std::get_if<Line>(&r)) {
                got.emplace_back(line->text);
                buffer.erase(0, line->consumed);
                continue;
            }
            if (std::holds_alternative<LineTooLong>(r)) end = "too long";
            break;
        }
        if (end == "too long") break;
    }
    FUZZ_CHECK(end == want_end);
    FUZZ_CHECK(got.size() == want_lines.size());
    for (std::size_t i = 0; i < got.size(); ++i) FUZZ_CHECK(got[i] == want_lines[i]);
}

void checkHello(std::string_view line) {
    const auto r = dict::parseHello(line);
    if (const auto* hello = std::get_if<dict::Hello>(&r)) {
        FUZZ_CHECK(hello->major == 3 || hello->major == 4);
        const std::string wire = dict::encodeHello(*hello);
        FUZZ_CHECK(!wire.empty() && wire.back() == '\n' && wire.find('\n') == wire.size() - 1);
        const auto again = dict::parseHello(std::string_view(wire).substr(0, wire.size() - 1));
        FUZZ_CHECK(std::holds_alternative<dict::Hello>(again));
        FUZZ_CHECK(std::get<dict::Hello>(again) == *hello);
    } else {
        FUZZ_CHECK(!std::get<dict::ProtocolError>(r).reason.empty());
    }
}

void checkCommand(std::string_view line, int major) {
    const auto r = dict::parseCommand(line, kDefaultLimits, major);
    const auto tiny = dict::parseCommand(line, kTinyLimits, major);
    if (const auto* cmd = std::get_if<dict::Command>(&r)) {
        const std::string wire = dict::encodeCommand(*cmd);
        FUZZ_CHECK(!wire.empty() && wire.back() == '\n' && wire.find('\n') == wire.size() - 1);
        // The re-encoded line fits the line limit the codec recommends.
        const auto framed =
            nextLine(wire, FramerLimits{dict::recommendedMaxLineBytes(kDefaultLimits), false});
        FUZZ_CHECK(std::holds_alternative<Line>(framed));
        const auto again = dict::parseCommand(std::get<Line>(framed).text, kDefaultLimits, major);
        FUZZ_CHECK(std::holds_alternative<dict::Command>(again));
        FUZZ_CHECK(std::get<dict::Command>(again) == *cmd);
        FUZZ_CHECK(dict::commandName(*cmd)[0] != '\0');
        // Tighter limits can only refuse more, never parse differently.
        if (const auto* small = std::get_if<dict::Command>(&tiny)) FUZZ_CHECK(*small == *cmd);
    } else {
        FUZZ_CHECK(!std::get<dict::ProtocolError>(r).reason.empty());
        FUZZ_CHECK(std::holds_alternative<dict::ProtocolError>(tiny));
    }
}

void checkReply(std::string_view line) {
    const auto r = dict::parseReply(line);
    if (const auto* reply = std::get_if<dict::Reply>(&r)) {
        if (reply->kind == dict::ReplyKind::IterEnd) {
            FUZZ_CHECK(line.empty() && reply->fields.empty());
            return;
        }
        FUZZ_CHECK(!reply->fields.empty());
        if (reply->kind == dict::ReplyKind::Multi) {
            FUZZ_CHECK(!reply->async);
            // Re-encoding the values gives a line that parses to the same values.
            const std::string wire = dict::encodeLookupMulti(reply->values);
            const auto again = dict::parseReply(std::string_view(wire).substr(0, wire.size() - 1));
            FUZZ_CHECK(std::holds_alternative<dict::Reply>(again));
            FUZZ_CHECK(std::get<dict::Reply>(again).values == reply->values);
        } else if (reply->kind == dict::ReplyKind::Ok && !reply->async) {
            const std::string wire = dict::encodeLookupFound(reply->fields[0]);
            const auto again = dict::parseReply(std::string_view(wire).substr(0, wire.size() - 1));
            FUZZ_CHECK(std::holds_alternative<dict::Reply>(again));
            FUZZ_CHECK(std::get<dict::Reply>(again).fields ==
                       std::vector<std::string>{reply->fields[0]});
        }
    } else {
        FUZZ_CHECK(!line.empty());
        FUZZ_CHECK(!std::get<dict::ProtocolError>(r).reason.empty());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    checkEscaping(input);

    // Small limits exercise LineTooLong; the recommended one is what a server uses.
    const FramerLimits framers[] = {
        {dict::recommendedMaxLineBytes(kDefaultLimits), false},
        {32, false},
        {32, true},
    };
    std::vector<std::string_view> lines;
    for (const auto& limits : framers) {
        std::string end;
        auto got = frame(input, limits, &end);
        if (size <= 1024) checkIncremental(input, limits, got, end);
        if (&limits == &framers[0]) lines = std::move(got);
    }

    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (i == 0) checkHello(lines[i]);
        checkCommand(lines[i], 3);
        checkCommand(lines[i], 4);
        checkReply(lines[i]);
    }
    return 0;
}
