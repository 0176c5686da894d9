#include "replicator/proto/notify.h"

#include <catch2/catch.hpp>

#include "common/proto/line_framer.h"

using namespace titan::replicator::proto;

namespace {

std::string describe(const NotifyParse& p) {
    if (const auto* n = std::get_if<Notification>(&p)) return "user=" + n->user + " prio=" + notifyPriorityName(n->priority);
    return "error=" + std::get<NotifyError>(p).reason;
}

}  // namespace

TEST_CASE("notify: valid lines and errors", "[codec]") {
    struct Case {
        const char* name;
        std::string line;
        std::string want;
    };
    const Case cases[] = {
        {"low", "bob@example.test\tlow", "user=bob@example.test prio=low"},
        {"high", "bob@example.test\thigh", "user=bob@example.test prio=high"},
        {"sync", "bob@example.test\tsync", "user=bob@example.test prio=sync"},
        {"extra fields ignored", "bob@example.test\thigh\textra\t1", "user=bob@example.test prio=high"},
        {"escaped tab in user", std::string("a\001tb@x\tlow"), "user=a\tb@x prio=low"},
        {"escaped escape", std::string("a\0011b@x\tlow"), std::string("user=a\001b@x prio=low")},
        {"not lower-cased", "Bob@Example.TEST\tlow", "user=Bob@Example.TEST prio=low"},
        {"empty line", "", "error=missing priority"},
        {"no tab", "bob@example.test", "error=missing priority"},
        {"empty user", "\tlow", "error=empty user"},
        {"none is refused", "bob@example.test\tnone", "error=unknown priority"},
        {"upper case priority", "bob@example.test\tLOW", "error=unknown priority"},
        {"empty priority", "bob@example.test\t", "error=unknown priority"},
        {"escaped NUL in user", std::string("bo\0010b@x\tlow"), "error=NUL in user"},
        {"CR is data", "bob@example.test\tlow\r", "error=unknown priority"},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        CHECK(describe(parseNotifyLine(c.line)) == c.want);
    }
}

TEST_CASE("notify: encode is the inverse of parse", "[codec]") {
    for (auto prio : {NotifyPriority::Low, NotifyPriority::High, NotifyPriority::Sync}) {
        for (const std::string& user : std::vector<std::string>{"bob@example.test", "a\tb@c", "x\001\r\ny@z"}) {
            Notification n{user, prio};
            auto line = encodeNotifyLine(n);
            CHECK(line.find('\n') == std::string::npos);
            auto back = parseNotifyLine(line);
            REQUIRE(std::holds_alternative<Notification>(back));
            CHECK(std::get<Notification>(back) == n);
        }
    }
}

TEST_CASE("notify: framed input split at every byte gives the same notifications", "[codec]") {
    const std::string stream = "a@x\tlow\nb@y\thigh\nbad\nc@z\tsync\n";
    titan::proto::FramerLimits limits;
    limits.max_line_bytes = kMaxLineBytes;
    for (std::size_t split = 0; split <= stream.size(); ++split) {
        std::string buffer;
        std::vector<std::string> got;
        for (const std::string& part : {stream.substr(0, split), stream.substr(split)}) {
            buffer += part;
            for (;;) {
                auto r = titan::proto::nextLine(buffer, limits);
                if (!std::holds_alternative<titan::proto::Line>(r)) break;
                auto line = std::get<titan::proto::Line>(r);
                got.push_back(describe(parseNotifyLine(line.text)));
                buffer.erase(0, line.consumed);
            }
        }
        INFO("split at " << split);
        CHECK(got == std::vector<std::string>{"user=a@x prio=low", "user=b@y prio=high", "error=missing priority",
                                              "user=c@z prio=sync"});
    }
}

TEST_CASE("notify: line limit at -1, 0 and +1", "[codec]") {
    titan::proto::FramerLimits limits;
    limits.max_line_bytes = kMaxLineBytes;
    for (long delta : {-1L, 0L, 1L}) {
        std::string user(static_cast<std::size_t>(static_cast<long>(kMaxLineBytes) + delta - 4), 'u');
        std::string line = user + "\tlow";
        REQUIRE(static_cast<long>(line.size()) == static_cast<long>(kMaxLineBytes) + delta);
        std::string framed = line + "\n";
        auto r = titan::proto::nextLine(framed, limits);
        INFO("delta " << delta);
        if (delta <= 0) {
            REQUIRE(std::holds_alternative<titan::proto::Line>(r));
            CHECK(describe(parseNotifyLine(std::get<titan::proto::Line>(r).text)) == "user=" + user + " prio=low");
        } else {
            CHECK(std::holds_alternative<titan::proto::LineTooLong>(r));
        }
    }
}
