// Fuzz target for titan-replicator's codecs: the Dovecot 2.3 replication-notify lines
// (replicator/proto/notify), Dovecot 2.4's exported change events
// (replicator/proto/dovecot_event) and the queue journal (replicator/queue/journal_format).
// The input is cut into LF-terminated lines, framed with the notify line limit; each
// line is parsed as a notification, as an exported event and as a journal record, and whatever parses must
// re-encode to something that parses back to the same value. The whole input is also
// replayed as a journal file, which must account for every line.
// Layer: tests (links titan_replicator_core only).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "common/proto/line_framer.h"
#include "replicator/proto/dovecot_event.h"
#include "replicator/proto/notify.h"
#include "replicator/queue/journal_format.h"

namespace {

using namespace titan::replicator;

#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                 \
        }                                                                                 \
    } while (0)

void checkLine(std::string_view line) {
    auto n = proto::parseNotifyLine(line);
    if (const auto* note = std::get_if<proto::Notification>(&n)) {
        FUZZ_CHECK(!note->user.empty());
        auto again = proto::parseNotifyLine(proto::encodeNotifyLine(*note));
        FUZZ_CHECK(std::holds_alternative<proto::Notification>(again));
        FUZZ_CHECK(std::get<proto::Notification>(again) == *note);
    } else {
        FUZZ_CHECK(!std::get<proto::NotifyError>(n).reason.empty());
    }
    auto ev = proto::parseEventLine(line);
    if (const auto* e = std::get_if<proto::ChangeEvent>(&ev)) {
        auto again = proto::parseEventLine(proto::encodeEventLine(*e));
        FUZZ_CHECK(std::holds_alternative<proto::ChangeEvent>(again));
        FUZZ_CHECK(std::get<proto::ChangeEvent>(again) == *e);
    } else {
        FUZZ_CHECK(!std::get<proto::EventError>(ev).reason.empty());
    }
    if (auto rec = queue::decodeRecord(line)) {
        std::string enc = queue::encodeRecord(*rec);
        FUZZ_CHECK(!enc.empty() && enc.back() == '\n');
        auto back = queue::decodeRecord(std::string_view(enc).substr(0, enc.size() - 1));
        FUZZ_CHECK(back.has_value());
        FUZZ_CHECK(*back == *rec);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    titan::proto::FramerLimits limits;
    limits.max_line_bytes = proto::kMaxLineBytes;
    std::string_view rest = input;
    for (;;) {
        auto r = titan::proto::nextLine(rest, limits);
        if (const auto* line = std::get_if<titan::proto::Line>(&r)) {
            FUZZ_CHECK(line->consumed <= rest.size());
            checkLine(line->text);
            rest.remove_prefix(line->consumed);
            continue;
        }
        break;
    }
    auto replay = queue::replay(input);
    std::size_t lines = 0;
    for (char c : input) lines += c == '\n' ? 1 : 0;
    FUZZ_CHECK(replay.records + replay.bad_lines <= lines);
    FUZZ_CHECK(replay.torn_tail == (!input.empty() && input.back() != '\n'));
    for (const auto& [user, state] : replay.dirty) {
        FUZZ_CHECK(user == state.user);
        FUZZ_CHECK(state.priority != queue::Priority::None);
    }
    return 0;
}
