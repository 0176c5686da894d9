#include "common/proto/line_framer.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace titan::proto;

namespace {

// Bytes made readable for failure messages.
std::string visible(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '\n')
            out += "\\n";
        else if (c == '\r')
            out += "\\r";
        else if (c == '\t')
            out += "\\t";
        else if (c == '\0')
            out += "\\0";
        else
            out += c;
    }
    return out;
}

std::string describe(const FrameResult& r) {
    if (const auto* line = std::get_if<Line>(&r)) {
        return "Line{\"" + visible(line->text) + "\", " + std::to_string(line->consumed) + "}";
    }
    if (std::holds_alternative<NeedMore>(r)) return "NeedMore";
    return "LineTooLong{" + std::to_string(std::get<LineTooLong>(r).limit) + "}";
}

FrameResult line(std::string_view text, std::size_t consumed) { return Line{text, consumed}; }

// Feeds `input` in chunks that end at the given offsets, the way a connection buffer
// grows, and returns every line plus the final state ("NeedMore" or "LineTooLong{n}").
std::vector<std::string> drain(std::string_view input, const std::vector<std::size_t>& cuts,
                               const FramerLimits& limits) {
    std::vector<std::string> out;
    std::string buffer;
    std::size_t from = 0;
    auto pump = [&]() -> bool {
        for (;;) {
            const auto r = nextLine(buffer, limits);
            if (const auto* l = std::get_if<Line>(&r)) {
                out.emplace_back(l->text);
                buffer.erase(0, l->consumed);
                continue;
            }
            if (std::holds_alternative<LineTooLong>(r)) {
                out.push_back(describe(r));
                return false;
            }
            return true;
        }
    };
    for (std::size_t cut : cuts) {
        buffer.append(input.substr(from, cut - from));
        from = cut;
        if (!pump()) return out;
    }
    buffer.append(input.substr(from));
    if (pump()) out.emplace_back("NeedMore");
    return out;
}

}  // namespace

TEST_CASE("nextLine: each outcome, CR handling and every limit at -1/0/+1", "[codec]") {
    struct Case {
        const char* name;
        std::string in;
        std::size_t max;
        bool strip_cr;
        FrameResult want;
    };
    using namespace std::string_literals;
    const Case cases[] = {
        {"empty buffer", "", 8, false, NeedMore{}},
        {"partial line", "abc", 8, false, NeedMore{}},
        {"one line", "abc\n", 8, false, line("abc", 4)},
        {"empty line", "\n", 8, false, line("", 1)},
        {"first of two", "a\nbc\n", 8, false, line("a", 2)},
        {"CR kept without strip", "abc\r\n", 8, false, line("abc\r", 5)},
        {"CR stripped", "abc\r\n", 8, true, line("abc", 5)},
        {"strip: CR-only line", "\r\n", 8, true, line("", 2)},
        {"strip: only one CR removed", "a\r\r\n", 8, true, line("a\r", 4)},
        {"strip: inner CR kept", "a\rb\n", 8, true, line("a\rb", 4)},
        {"strip: bare LF accepted", "ab\n", 8, true, line("ab", 3)},
        {"NUL is not the framer's business", "a\0b\n"s, 8, false,
         line(std::string_view("a\0b", 3), 4)},
        {"limit -1", "abc\n", 4, false, line("abc", 4)},
        {"limit 0", "abcd\n", 4, false, line("abcd", 5)},
        {"limit +1", "abcde\n", 4, false, LineTooLong{4}},
        {"limit 0 without LF yet", "abcd", 4, false, NeedMore{}},
        {"limit +1 detected before the LF", "abcde", 4, false, LineTooLong{4}},
        {"limit: CR counts without strip", "abcd\r\n", 4, false, LineTooLong{4}},
        {"limit: CR counts without strip, early", "abcd\r", 4, false, LineTooLong{4}},
        {"strip limit -1", "abc\r\n", 4, true, line("abc", 5)},
        {"strip limit 0", "abcd\r\n", 4, true, line("abcd", 6)},
        {"strip limit 0, CR buffered", "abcd\r", 4, true, NeedMore{}},
        {"strip limit +1", "abcde\r\n", 4, true, LineTooLong{4}},
        {"strip limit +1 without CR", "abcde\n", 4, true, LineTooLong{4}},
        {"strip limit +1 early", "abcde", 4, true, LineTooLong{4}},
        {"strip: byte after the CR", "abcd\rx", 4, true, LineTooLong{4}},
        {"strip: two CRs", "abcd\r\r\n", 4, true, LineTooLong{4}},
        {"zero limit: empty line", "\n", 0, false, line("", 1)},
        {"zero limit: one byte", "a", 0, false, LineTooLong{0}},
        {"zero limit strip: CR", "\r", 0, true, NeedMore{}},
        {"zero limit strip: CRLF", "\r\n", 0, true, line("", 2)},
        {"limit applies per line", "ab\n" + std::string(100, 'x'), 4, false, line("ab", 3)},
        {"huge buffer without LF", std::string(100000, 'x'), 65536, false, LineTooLong{65536}},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        const auto got = nextLine(c.in, FramerLimits{c.max, c.strip_cr});
        INFO("got " << describe(got) << ", want " << describe(c.want));
        CHECK(got == c.want);
        if (const auto* l = std::get_if<Line>(&got)) {
            // The text is a view into the caller's bytes, never a copy.
            CHECK(l->text.data() == c.in.data());
        }
    }
}

TEST_CASE("nextLine: the explicit strip_cr argument overrides FramerLimits", "[codec]") {
    const FramerLimits keep{16, false};
    const FramerLimits strip{16, true};
    CHECK(nextLine("ab\r\n", keep, true) == line("ab", 4));
    CHECK(nextLine("ab\r\n", strip, false) == line("ab\r", 4));
    CHECK(nextLine("ab\r\n", strip) == line("ab", 4));
    CHECK(FramerLimits{}.max_line_bytes == 64 * 1024);
    CHECK_FALSE(FramerLimits{}.strip_cr);
}

TEST_CASE("nextLine: input split at every byte gives the same lines", "[codec]") {
    struct Case {
        const char* name;
        std::string in;
        FramerLimits limits;
        std::vector<std::string> want;
    };
    const Case cases[] = {
        {"dict session",
         "H3\t2\t0\t\tquota\nLpriv/quota/storage\tbob\n\nB1\tbob\nC1\nLpart",
         FramerLimits{64, false},
         {"H3\t2\t0\t\tquota", "Lpriv/quota/storage\tbob", "", "B1\tbob", "C1", "NeedMore"}},
        {"CRLF kept", "a\r\nb\r\n\r\n", FramerLimits{64, false}, {"a\r", "b\r", "\r", "NeedMore"}},
        {"CRLF stripped",
         "request=x\r\nname=y\r\n\r\nz\n",
         FramerLimits{64, true},
         {"request=x", "name=y", "", "z", "NeedMore"}},
        {"lines at the limit then one over",
         "abcd\nabc\nabcde\nok\n",
         FramerLimits{4, false},
         {"abcd", "abc", "LineTooLong{4}"}},
        {"strip: CR at the limit then one over",
         "abcd\r\nabcd\rx\n",
         FramerLimits{4, true},
         {"abcd", "LineTooLong{4}"}},
        {"over the limit without any LF",
         "ab\ncdefgh",
         FramerLimits{4, false},
         {"ab", "LineTooLong{4}"}},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        CHECK(drain(c.in, {}, c.limits) == c.want);
        for (std::size_t cut = 0; cut <= c.in.size(); ++cut) {
            INFO("split at " << cut);
            CHECK(drain(c.in, {cut}, c.limits) == c.want);
        }
        std::vector<std::size_t> every;
        for (std::size_t i = 1; i <= c.in.size(); ++i) every.push_back(i);
        INFO("one byte at a time");
        CHECK(drain(c.in, every, c.limits) == c.want);
    }
}
