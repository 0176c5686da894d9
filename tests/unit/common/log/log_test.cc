#include "common/log/log.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace titan::log;

namespace {

struct Captured {
    Level level;
    std::string line;
};

// Installs a capture hook for one test and restores the defaults afterwards.
class Capture {
public:
    explicit Capture(Level min = Level::Debug, Format format = Format::Logfmt) {
        configure(min, Sink::Stderr, format, "titan-test");
        setCaptureForTest([this](Level l, const std::string& line) {
            std::lock_guard lock(mu_);
            lines_.push_back({l, line});
        });
    }
    ~Capture() {
        setCaptureForTest(nullptr);
        configure(Level::Info, Sink::Stderr, Format::Logfmt, "titan");
    }
    std::vector<Captured> lines() {
        std::lock_guard lock(mu_);
        return lines_;
    }

private:
    std::mutex mu_;
    std::vector<Captured> lines_;
};

// RFC 3339 UTC with milliseconds: 2026-12-03T18:00:00.123Z.
bool isTimestamp(std::string_view s) {
    constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (s.size() != shape.size()) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        const bool ok = shape[i] == 'd' ? (s[i] >= '0' && s[i] <= '9') : s[i] == shape[i];
        if (!ok) return false;
    }
    return true;
}

// Drops the "ts=... " prefix after checking its shape.
std::string withoutTs(const std::string& line) {
    INFO("line: " << line);
    REQUIRE(line.size() > 28);
    REQUIRE(line.compare(0, 3, "ts=") == 0);
    REQUIRE(isTimestamp(std::string_view(line).substr(3, 24)));
    REQUIRE(line[27] == ' ');
    return line.substr(28);
}

}  // namespace

TEST_CASE("parseLevel accepts exactly the four lowercase names", "[core]") {
    struct Case { const char* in; std::optional<Level> want; };
    const Case cases[] = {
        {"debug", Level::Debug}, {"info", Level::Info},          {"warning", Level::Warning},
        {"error", Level::Error}, {"Info", std::nullopt},         {"warn", std::nullopt},
        {"", std::nullopt},      {"errors", std::nullopt},       {" info", std::nullopt},
    };
    for (const auto& c : cases) {
        INFO("input \"" << c.in << "\"");
        CHECK(parseLevel(c.in) == c.want);
    }
    for (Level l : {Level::Debug, Level::Info, Level::Warning, Level::Error}) {
        CHECK(parseLevel(levelName(l)) == l);
    }
}

TEST_CASE("logfmt line: ts, level, quoted msg, fields in order", "[core]") {
    Capture cap;
    info("dict server listening", {{"socket", "/run/x.sock"}});
    const auto lines = cap.lines();
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].level == Level::Info);
    CHECK(withoutTs(lines[0].line) == R"(level=info msg="dict server listening" socket=/run/x.sock)");
}

TEST_CASE("logfmt field values are quoted and typed", "[core]") {
    struct Case { const char* name; Field field; const char* want; };
    const std::string owned = "owned string";
    const char* null_text = nullptr;
    const Case cases[] = {
        {"plain", {"k", "plain"}, "k=plain"},
        {"space", {"k", "two words"}, R"(k="two words")"},
        {"quote", {"k", R"(a"b)"}, R"(k="a\"b")"},
        {"backslash", {"k", R"(a\b)"}, R"(k="a\\b")"},
        {"equals", {"k", "a=b"}, R"(k="a=b")"},
        {"newline", {"k", "a\nb"}, R"(k="a\nb")"},
        {"control", {"k", "a\x01"}, R"(k="a\x01")"},
        {"empty", {"k", ""}, R"(k="")"},
        {"null char pointer", {"k", null_text}, R"(k="")"},
        {"std::string", {"k", owned}, R"(k="owned string")"},
        {"string_view", {"k", std::string_view("view")}, "k=view"},
        {"int", {"k", -42}, "k=-42"},
        {"unsigned", {"k", 42U}, "k=42"},
        {"long", {"k", -7L}, "k=-7"},
        {"unsigned long", {"k", 7UL}, "k=7"},
        {"long long min", {"k", -9223372036854775807LL - 1}, "k=-9223372036854775808"},
        {"unsigned long long max", {"k", 18446744073709551615ULL}, "k=18446744073709551615"},
        {"double", {"k", 0.25}, "k=0.25"},
        {"bool true", {"k", true}, "k=true"},
        {"bool false", {"k", false}, "k=false"},
        {"key with space", {"a b", "v"}, "a_b=v"},
        {"empty key", {"", "v"}, "_=v"},
    };
    for (const auto& c : cases) {
        Capture cap;
        info("m", {c.field});
        const auto lines = cap.lines();
        REQUIRE(lines.size() == 1);
        const std::string got = withoutTs(lines[0].line);
        const std::string want = std::string("level=info msg=m ") + c.want;
        INFO(c.name << ": got " << got << ", want " << want);
        CHECK(got == want);
    }
}

TEST_CASE("each level writes its name; levels below the minimum are dropped", "[core]") {
    Capture cap(Level::Warning);
    CHECK_FALSE(enabled(Level::Debug));
    CHECK_FALSE(enabled(Level::Info));
    CHECK(enabled(Level::Warning));
    CHECK(enabled(Level::Error));
    debug("d");
    info("i");
    warning("w");
    error("e");
    write(Level::Error, "x", {{"n", 1}});
    const auto lines = cap.lines();
    REQUIRE(lines.size() == 3);
    CHECK(lines[0].level == Level::Warning);
    CHECK(withoutTs(lines[0].line) == "level=warning msg=w");
    CHECK(withoutTs(lines[1].line) == "level=error msg=e");
    CHECK(withoutTs(lines[2].line) == "level=error msg=x n=1");
}

TEST_CASE("debug level enables everything", "[core]") {
    Capture cap(Level::Debug);
    debug("d");
    REQUIRE(cap.lines().size() == 1);
    CHECK(withoutTs(cap.lines()[0].line) == "level=debug msg=d");
}

TEST_CASE("JSON line keeps types, order and escapes", "[core]") {
    Capture cap(Level::Debug, Format::Json);
    warning("client misbehaved", {{"client.address", "192.0.2.1"},
                                  {"count", 3},
                                  {"big", 18446744073709551615ULL},
                                  {"ratio", 0.5},
                                  {"tls", true},
                                  {"text", "quote\" newline\n"},
                                  {"nan", std::numeric_limits<double>::quiet_NaN()},
                                  {"bad.utf8", "a\xff"},
                                  {"msg", "shadow"},
                                  {"count", 4}});
    const auto lines = cap.lines();
    REQUIRE(lines.size() == 1);
    const std::string& line = lines[0].line;
    CHECK(line.find('\n') == std::string::npos);
    const auto j = nlohmann::ordered_json::parse(line);
    std::vector<std::string> keys;
    for (const auto& item : j.items()) keys.push_back(item.key());
    CHECK(keys == std::vector<std::string>{"ts", "level", "msg", "client.address", "count", "big",
                                           "ratio", "tls", "text", "nan", "bad.utf8",
                                           "field.msg", "field.count"});
    CHECK(isTimestamp(j["ts"].get<std::string>()));
    CHECK(j["level"] == "warning");
    CHECK(j["msg"] == "client misbehaved");
    CHECK(j["client.address"] == "192.0.2.1");
    CHECK(j["count"].is_number_integer());
    CHECK(j["count"] == 3);
    CHECK(j["big"].get<unsigned long long>() == 18446744073709551615ULL);
    CHECK(j["ratio"].is_number_float());
    CHECK(j["ratio"] == 0.5);
    CHECK(j["tls"] == true);
    CHECK(j["text"] == "quote\" newline\n");
    CHECK(j["nan"] == "nan");
    CHECK(j["bad.utf8"] == "a\xef\xbf\xbd");
    CHECK(j["field.msg"] == "shadow");
    CHECK(j["field.count"] == 4);
}

TEST_CASE("syslog sink is replaced by the capture hook, with ts", "[core]") {
    Capture cap;
    configure(Level::Info, Sink::Syslog, Format::Logfmt, "titan-test");
    info("started", {{"version", "0.1.0"}});
    const auto lines = cap.lines();
    REQUIRE(lines.size() == 1);
    CHECK(withoutTs(lines[0].line) == "level=info msg=started version=0.1.0");
}

TEST_CASE("concurrent writers produce whole lines, none lost", "[core]") {
    constexpr int kThreads = 8;
    constexpr int kLines = 500;
    Capture cap;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([t] {
            for (int i = 0; i < kLines; ++i) info("tick", {{"thread", t}, {"i", i}});
        });
    }
    for (auto& th : threads) th.join();
    const auto lines = cap.lines();
    REQUIRE(lines.size() == static_cast<size_t>(kThreads * kLines));
    std::set<std::string> want;
    for (int t = 0; t < kThreads; ++t) {
        for (int i = 0; i < kLines; ++i) {
            want.insert("level=info msg=tick thread=" + std::to_string(t) + " i=" + std::to_string(i));
        }
    }
    std::set<std::string> got;
    for (const auto& l : lines) got.insert(withoutTs(l.line));
    CHECK(got == want);
}

TEST_CASE("stderr sink writes one newline-terminated line per call from many threads", "[core]") {
    constexpr int kThreads = 4;
    constexpr int kLines = 200;
    char path[] = "/tmp/titan-log-test-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    const int saved = dup(STDERR_FILENO);
    REQUIRE(saved >= 0);
    REQUIRE(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    configure(Level::Info, Sink::Stderr, Format::Logfmt, "titan-test");
    const std::string pad(300, 'x');  // long lines make interleaving visible if unserialised
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([t, &pad] {
            for (int i = 0; i < kLines; ++i) info("tick", {{"thread", t}, {"pad", pad}});
        });
    }
    for (auto& th : threads) th.join();
    dup2(saved, STDERR_FILENO);
    close(saved);

    std::string content;
    char buf[65536];
    lseek(fd, 0, SEEK_SET);
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) content.append(buf, static_cast<size_t>(n));
    close(fd);
    unlink(path);

    std::multiset<std::string> want;
    for (int t = 0; t < kThreads; ++t) {
        for (int i = 0; i < kLines; ++i) {
            want.insert("level=info msg=tick thread=" + std::to_string(t) + " pad=" + pad);
        }
    }
    std::multiset<std::string> got;
    size_t start = 0;
    for (size_t nl; (nl = content.find('\n', start)) != std::string::npos; start = nl + 1) {
        got.insert(withoutTs(content.substr(start, nl - start)));
    }
    CHECK(start == content.size());
    CHECK(got == want);
}
