#include "common/config/config.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace titan::config;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {

Reader load(const std::string& yaml, const char* name = "t.yaml") {
    auto r = Reader::loadString(yaml, name);
    if (!r) FAIL("load failed: " << r.error().message);
    return std::move(r).value();
}

// Errors joined one per line, as finish() reports them; "" when the config is valid.
std::string finishErrors(Reader& r) {
    const titan::Status st = r.finish();
    if (st) return "";
    CHECK(st.error().code == titan::ErrorCode::Config);
    return st.error().message;
}

// A private directory removed with its files at the end of the test.
class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/titan-config-test-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path_ = tmpl;
    }
    ~TempDir() {
        for (const auto& f : files_) unlink(f.c_str());
        rmdir(path_.c_str());
    }
    std::string write(const std::string& name, const std::string& content) {
        const std::string p = path_ + "/" + name;
        std::ofstream(p, std::ios::binary) << content;
        files_.push_back(p);
        return p;
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
    std::vector<std::string> files_;
};

}  // namespace

TEST_CASE("durations: every unit, bare seconds and malformed forms", "[core]") {
    struct Case { const char* in; long long want_ms; const char* error; };
    const Case cases[] = {
        {"250ms", 250, nullptr},
        {"30s", 30'000, nullptr},
        {"5m", 300'000, nullptr},
        {"1h", 3'600'000, nullptr},
        {"2d", 172'800'000, nullptr},
        {"45", 45'000, nullptr},
        {"0", 0, nullptr},
        {"0ms", 0, nullptr},
        {"007s", 7000, nullptr},
        {"\"30s\"", 30'000, nullptr},
        {"5x", -1, "t.yaml:1:4: d: expected duration 0s..30d (integer with unit ms, s, m, h or d; bare = seconds), got \"5x\""},
        {"1.5s", -1, "(integer with unit"},
        {"-5s", -1, "(integer with unit"},
        {"30 s", -1, "(integer with unit"},
        {"s", -1, "(integer with unit"},
        {"30S", -1, "(integer with unit"},
        {"1h30m", -1, "(integer with unit"},
        {"\"\"", -1, "(integer with unit"},
        {"99999999999999999999d", -1, "expected duration 0s..30d, got \"99999999999999999999d\""},
        {"9999999999999999d", -1, "expected duration 0s..30d, got \"9999999999999999d\""},
        {"31d", -1, "expected duration 0s..30d, got \"31d\""},
        {"~", -1, "t.yaml:1:4: d: expected duration 0s..30d, got null"},
        {"", -1, "t.yaml:1:1: d: expected duration 0s..30d, got null"},
        {"[1s]", -1, "expected duration 0s..30d, got a list"},
        {"{a: 1}", -1, "expected duration 0s..30d, got a map"},
    };
    for (const auto& c : cases) {
        Reader r = load(std::string("d: ") + c.in + "\n");
        const milliseconds got = r.root().getDuration("d", 42ms, 0ms, 30 * 24h);
        const std::string errors = finishErrors(r);
        INFO("input " << c.in << ": got " << got.count() << "ms, errors: " << errors);
        if (c.error == nullptr) {
            CHECK(errors.empty());
            CHECK(got.count() == c.want_ms);
        } else {
            CHECK(errors.find(c.error) != std::string::npos);
            CHECK(got == 42ms);  // the default, so reading can go on
        }
    }
}

TEST_CASE("durations at min-1, min, max, max+1", "[core]") {
    struct Case { const char* in; bool ok; };
    const Case cases[] = {
        {"999ms", false}, {"1s", true}, {"1000ms", true}, {"1h", true}, {"3600s", true},
        {"3600001ms", false}, {"61m", false},
    };
    for (const auto& c : cases) {
        Reader r = load(std::string("timeout: ") + c.in);
        const milliseconds got = r.root().getDuration("timeout", 5s, 1s, 1h);
        const std::string errors = finishErrors(r);
        INFO("input " << c.in << ": errors: " << errors);
        CHECK(errors.empty() == c.ok);
        if (!c.ok) CHECK(errors == std::string("t.yaml:1:10: timeout: expected duration 1s..1h, got \"") + c.in + "\"");
        if (!c.ok) CHECK(got == 5s);
    }
}

TEST_CASE("sizes: every unit, bare bytes and malformed forms", "[core]") {
    constexpr unsigned long long kKi = 1024;
    struct Case { const char* in; unsigned long long want; const char* error; };
    const Case cases[] = {
        {"0", 0, nullptr},
        {"1000", 1000, nullptr},
        {"512B", 512, nullptr},
        {"64K", 64 * kKi, nullptr},
        {"64KiB", 64 * kKi, nullptr},
        {"1MiB", kKi * kKi, nullptr},
        {"10M", 10 * kKi * kKi, nullptr},
        {"1G", kKi * kKi * kKi, nullptr},
        {"2GiB", 2 * kKi * kKi * kKi, nullptr},
        {"1T", kKi * kKi * kKi * kKi, nullptr},
        {"3TiB", 3 * kKi * kKi * kKi * kKi, nullptr},
        {"16777215TiB", 16777215ULL << 40, nullptr},
        {"18446744073709551615", 18446744073709551615ULL, nullptr},
        {"1X", 0, "t.yaml:1:4: s: expected size 0..18446744073709551615 (integer with unit B, K, KiB, M, MiB, G, GiB, T or TiB; bare = bytes), got \"1X\""},
        {"1kb", 0, "(integer with unit"},
        {"1 MiB", 0, "(integer with unit"},
        {"1.5M", 0, "(integer with unit"},
        {"-1", 0, "(integer with unit"},
        {"MiB", 0, "(integer with unit"},
        {"16777216TiB", 0, "expected size 0..18446744073709551615, got \"16777216TiB\""},
        {"18446744073709551616", 0, "expected size 0..18446744073709551615, got"},
        {"null", 0, "got null"},
    };
    for (const auto& c : cases) {
        Reader r = load(std::string("s: ") + c.in);
        const unsigned long long got = r.root().getSize("s", 7, 0, 18446744073709551615ULL);
        const std::string errors = finishErrors(r);
        INFO("input " << c.in << ": got " << got << ", errors: " << errors);
        if (c.error == nullptr) {
            CHECK(errors.empty());
            CHECK(got == c.want);
        } else {
            CHECK(errors.find(c.error) != std::string::npos);
            CHECK(got == 7);
        }
    }
}

TEST_CASE("sizes at min-1, min, max, max+1", "[core]") {
    struct Case { const char* in; bool ok; };
    const Case cases[] = {
        {"1023", false}, {"1024", true}, {"1KiB", true}, {"1MiB", true}, {"1048576", true},
        {"1048577", false}, {"2M", false},
    };
    for (const auto& c : cases) {
        Reader r = load(std::string("max_line_bytes: ") + c.in);
        const auto got = r.root().getSize("max_line_bytes", 4096, 1024, 1024 * 1024);
        const std::string errors = finishErrors(r);
        INFO("input " << c.in << ": errors: " << errors);
        CHECK(errors.empty() == c.ok);
        if (!c.ok) {
            CHECK(errors == std::string("t.yaml:1:17: max_line_bytes: expected size 1KiB..1MiB, got \"") + c.in + "\"");
            CHECK(got == 4096);
        }
    }
}

TEST_CASE("integers: bounds at min-1, min, max, max+1 and malformed", "[core]") {
    struct Case { const char* in; long long want; bool ok; };
    const Case cases[] = {
        {"0", 0, false},        {"1", 1, true},          {"65535", 65535, true},
        {"65536", 0, false},    {"3306", 3306, true},    {"\"3306\"", 3306, true},
        {"33o6", 0, false},     {"-1", 0, false},        {"3306.0", 0, false},
        {"0x10", 0, false},     {"+80", 0, false},       {"99999999999999999999", 0, false},
        {"", 0, false},
    };
    for (const auto& c : cases) {
        Reader r = load(std::string("mysql:\n  port: ") + c.in + "\n");
        const long long got = r.root().child("mysql").getInt("port", 3306, 1, 65535);
        const std::string errors = finishErrors(r);
        INFO("input " << c.in << ": got " << got << ", errors: " << errors);
        CHECK(errors.empty() == c.ok);
        CHECK(got == (c.ok ? c.want : 3306));
    }
    Reader r = load("mysql:\n  host: db\n  port: 33o6\n");
    auto mysql = r.root().child("mysql");
    CHECK(mysql.getString("host", "localhost") == "db");
    CHECK(mysql.getInt("port", 3306, 1, 65535) == 3306);
    CHECK(finishErrors(r) == "t.yaml:3:9: mysql.port: expected integer 1..65535, got \"33o6\"");

    Reader neg = load("n: -5");
    CHECK(neg.root().getInt("n", 0, -5, 5) == -5);
    CHECK(finishErrors(neg).empty());
}

TEST_CASE("booleans, enums and strings", "[core]") {
    struct BoolCase { const char* in; bool want; bool ok; };
    const BoolCase bools[] = {
        {"true", true, true},   {"false", false, true}, {"yes", true, true},
        {"no", false, true},    {"on", true, true},     {"off", false, true},
        {"True", true, false},  {"1", true, false},     {"maybe", true, false},
        {"~", true, false},
    };
    for (const auto& c : bools) {
        Reader r = load(std::string("b: ") + c.in);
        const bool got = r.root().getBool("b", true);
        const std::string errors = finishErrors(r);
        INFO("input " << c.in << ": errors: " << errors);
        CHECK(errors.empty() == c.ok);
        CHECK(got == c.want);
        if (!c.ok) CHECK(errors.find("t.yaml:1:4: b: expected boolean (true or false), got ") == 0);
    }

    struct EnumCase { const char* in; const char* want; const char* error; };
    const EnumCase enums[] = {
        {"mysql", "mysql", nullptr},
        {"memory", "memory", nullptr},
        {"MySQL", "memory", "t.yaml:1:10: backend: expected one of mysql|memory, got \"MySQL\""},
        {"sqlite", "memory", "t.yaml:1:10: backend: expected one of mysql|memory, got \"sqlite\""},
        {"~", "memory", "t.yaml:1:10: backend: expected one of mysql|memory, got null"},
    };
    for (const auto& c : enums) {
        Reader r = load(std::string("backend: ") + c.in);
        const std::string got = r.root().getEnum("backend", "memory", {"mysql", "memory"});
        const std::string errors = finishErrors(r);
        INFO("input " << c.in << ": errors: " << errors);
        CHECK(got == c.want);
        if (c.error == nullptr) CHECK(errors.empty());
        else CHECK(errors == c.error);
    }

    Reader r = load("a: hello world\nb: \"\"\nc: 123\nd: ~\ne: [x]\n");
    auto root = r.root();
    CHECK(root.getString("a", "z") == "hello world");
    CHECK(root.getString("b", "z") == "");
    CHECK(root.getString("c", "z") == "123");
    CHECK(root.getString("d", "z") == "z");
    CHECK(root.getString("e", "z") == "z");
    CHECK(root.getString("missing", "def") == "def");
    CHECK(finishErrors(r) ==
          "t.yaml:4:4: d: expected string, got null\n"
          "t.yaml:5:4: e: expected string, got a list");
}

TEST_CASE("string lists", "[core]") {
    using V = std::vector<std::string>;
    struct Case { const char* in; V want; const char* error; };
    const Case cases[] = {
        {"[a, b, c]", V{"a", "b", "c"}, nullptr},
        {"[]", V{}, nullptr},
        {"\n  - one\n  - two", V{"one", "two"}, nullptr},
        {"a", V{"def"}, "t.yaml:1:8: hosts: expected list of strings, got \"a\""},
        {"[a, [b], c]", V{"def"}, "t.yaml:1:12: hosts[1]: expected string, got a list"},
        {"[a, ~]", V{"def"}, "hosts[1]: expected string, got null"},
        {"~", V{"def"}, "hosts: expected list of strings, got null"},
    };
    for (const auto& c : cases) {
        Reader r = load(std::string("hosts: ") + c.in);
        const V got = r.root().getStringList("hosts", {"def"});
        const std::string errors = finishErrors(r);
        INFO("input " << c.in << ": errors: " << errors);
        CHECK(got == c.want);
        if (c.error == nullptr) CHECK(errors.empty());
        else CHECK(errors.find(c.error) != std::string::npos);
    }
}

TEST_CASE("file modes are octal", "[core]") {
    struct Case { const char* in; unsigned want; bool ok; };
    const Case cases[] = {
        {"0660", 0660, true},  {"\"0660\"", 0660, true}, {"660", 0660, true},
        {"0o600", 0600, true}, {"0", 0, true},           {"07777", 07777, true},
        {"010000", 0, false},  {"0890", 0, false},       {"rw-rw----", 0, false},
        {"\"\"", 0, false},    {"~", 0, false},
    };
    for (const auto& c : cases) {
        Reader r = load(std::string("mode: ") + c.in);
        const unsigned got = r.root().getFileMode("mode", 0640);
        const std::string errors = finishErrors(r);
        INFO("input " << c.in << ": got " << std::oct << got << ", errors: " << errors);
        CHECK(errors.empty() == c.ok);
        CHECK(got == (c.ok ? c.want : 0640U));
        if (!c.ok) CHECK(errors.find("t.yaml:1:7: mode: expected octal file mode") == 0);
    }
}

TEST_CASE("unknown keys are rejected with the nearest read key suggested", "[core]") {
    Reader r = load(
        "mysqll:\n"             // 1
        "  port: 1\n"           // 2
        "log_level: info\n"     // 3
        "listen:\n"             // 4
        "  socket: /run/x\n"    // 5
        "  sokcet_mode: 0660\n" // 6
        "  zzz: 1\n"            // 7
        "listeners:\n"          // 8
        "  - address: a\n"      // 9
        "    adress: b\n"       // 10
        "password: x\n");       // 11
    auto root = r.root();
    root.child("mysql").getInt("port", 3306, 1, 65535);
    root.getEnum("log_level", "info", {"debug", "info"});
    auto listen = root.child("listen");
    listen.getString("socket", "");
    listen.getFileMode("socket_mode", 0660);
    for (auto l : root.list("listeners")) l.getString("address", "");
    root.getSecretFile("password_file");
    CHECK(finishErrors(r) ==
          "t.yaml:1:1: mysqll: unknown key (did you mean mysql?)\n"
          "t.yaml:6:3: listen.sokcet_mode: unknown key (did you mean listen.socket_mode?)\n"
          "t.yaml:7:3: listen.zzz: unknown key\n"
          "t.yaml:10:5: listeners[0].adress: unknown key (did you mean listeners[0].address?)\n"
          "t.yaml:11:1: password: unknown key (did you mean password_file?)");
    // A second finish() reports the same, without duplicates.
    CHECK(finishErrors(r).size() == std::string(r.finish().error().message).size());
    CHECK(r.errors().size() == 5);
}

TEST_CASE("has() does not mark a key read; absent sections yield defaults", "[core]") {
    Reader r = load("tls:\n  cert: /c\n");
    auto root = r.root();
    CHECK(root.has("tls"));
    CHECK_FALSE(root.has("mysql"));
    auto mysql = root.child("mysql");
    CHECK(mysql.path() == "mysql");
    CHECK(mysql.getString("host", "localhost") == "localhost");
    CHECK(mysql.child("pool").getInt("size", 4, 1, 64) == 4);
    CHECK(finishErrors(r) == "t.yaml:1:1: tls: unknown key");
}

TEST_CASE("several errors are all collected, sorted by position", "[core]") {
    Reader r = load(
        "b: maybe\n"
        "port: 70000\n"
        "timeout: 5x\n"
        "extra: 1\n"
        "size: 1Q\n");
    auto root = r.root();
    // Read out of file order: the report is still in file order.
    root.getSize("size", 1, 0, 100);
    root.getDuration("timeout", 1s, 0s, 1h);
    root.getInt("port", 1, 1, 65535);
    root.getBool("b", false);
    root.error("", "port and timeout conflict");
    const std::string errors = finishErrors(r);
    CHECK(errors ==
          "t.yaml:1:1: port and timeout conflict\n"
          "t.yaml:1:4: b: expected boolean (true or false), got \"maybe\"\n"
          "t.yaml:2:7: port: expected integer 1..65535, got \"70000\"\n"
          "t.yaml:3:10: timeout: expected duration 0s..1h (integer with unit ms, s, m, h or d; bare = seconds), got \"5x\"\n"
          "t.yaml:4:1: extra: unknown key\n"
          "t.yaml:5:7: size: expected size 0..100 (integer with unit B, K, KiB, M, MiB, G, GiB, T or TiB; bare = bytes), got \"1Q\"");
}

TEST_CASE("Section::error points at the key, or at the section when the key is absent", "[core]") {
    Reader r = load("db:\n  min: 5\n  max: 2\nother: 1\n");
    auto db = r.root().child("db");
    const auto lo = db.getInt("min", 1, 0, 100);
    const auto hi = db.getInt("max", 1, 0, 100);
    if (lo > hi) db.error("max", "must be >= min");
    db.error("socket", "is required");
    r.root().child("empty").error("host", "is required");
    r.root().getInt("other", 0, 0, 9);
    CHECK(finishErrors(r) ==
          "t.yaml:1:1: empty.host: is required\n"
          "t.yaml:2:3: db.socket: is required\n"
          "t.yaml:3:8: db.max: must be >= min");
}

TEST_CASE("child and list reject values of the wrong shape", "[core]") {
    Reader r = load(
        "tls: yes\n"
        "mysql:\n"
        "listeners:\n"
        "  - address: a\n"
        "  - just-a-string\n"
        "  - address: c\n"
        "upstreams: foo\n");
    auto root = r.root();
    CHECK(root.child("tls").getString("cert", "none") == "none");
    CHECK(root.child("mysql").getInt("port", 3306, 1, 65535) == 3306);
    const auto listeners = root.list("listeners");
    REQUIRE(listeners.size() == 2);
    CHECK(listeners[0].path() == "listeners[0]");
    CHECK(listeners[1].path() == "listeners[2]");
    std::vector<std::string> addresses;
    for (auto l : listeners) addresses.push_back(l.getString("address", ""));
    CHECK(addresses == std::vector<std::string>{"a", "c"});
    CHECK(root.list("upstreams").empty());
    CHECK(root.list("missing").empty());
    // Reading again does not repeat errors.
    CHECK(root.list("listeners").size() == 2);
    root.child("tls");
    CHECK(finishErrors(r) ==
          "t.yaml:1:6: tls: expected section (map), got \"yes\"\n"
          "t.yaml:2:1: mysql: expected section (map), got null\n"
          "t.yaml:5:5: listeners[1]: expected section (map), got \"just-a-string\"\n"
          "t.yaml:7:12: upstreams: expected list of sections, got \"foo\"");
}

TEST_CASE("duplicate and non-string keys are errors", "[core]") {
    Reader r = load("a: 1\nb: 2\na: 3\n[x]: 4\n");
    CHECK(r.root().getInt("a", 0, 0, 9) == 1);
    r.root().getInt("b", 0, 0, 9);
    CHECK(finishErrors(r) ==
          "t.yaml:3:1: a: duplicate key (first at line 1)\n"
          "t.yaml:4:1: keys must be plain strings, got a list");
}

TEST_CASE("documents that cannot be loaded", "[core]") {
    struct Case { const char* name; const char* in; const char* error; };
    const Case cases[] = {
        {"unclosed flow sequence", "a: [1, 2\nb: 3\n", "t.yaml:2:2: syntax error: end of sequence flow not found"},
        {"unclosed flow map", "{a: 1\n", "t.yaml:2:1: syntax error: end of map flow not found"},
        {"bad indentation", "a:\n  b: 1\n c: 2\n", "t.yaml:3:2: syntax error: end of map not found"},
        {"tab indentation", "a:\n\tb: 1\n", "t.yaml:2:3: syntax error: illegal map value"},
        {"map value in plain scalar", "a: b: c\n", "t.yaml:1:5: syntax error: illegal map value"},
        {"undefined alias", "a: *nope\n", "t.yaml:1:4: syntax error: the referenced anchor is not defined"},
        {"two documents", "a: 1\n---\nb: 2\n", "t.yaml:3:1: expected one YAML document, got 2"},
        {"top-level list", "- a\n- b\n", "t.yaml:1:1: expected a map of settings at the top level, got a list"},
        {"top-level scalar", "hello\n", "t.yaml:1:1: expected a map of settings at the top level, got \"hello\""},
    };
    for (const auto& c : cases) {
        auto r = Reader::loadString(c.in, "t.yaml");
        REQUIRE_FALSE(r.ok());
        INFO(c.name << ": got " << r.error().message);
        CHECK(r.error().code == titan::ErrorCode::Config);
        CHECK(r.error().message == c.error);
    }
    for (const char* empty : {"", "# only a comment\n", "---\n", "~\n"}) {
        auto r = Reader::loadString(empty, "t.yaml");
        REQUIRE(r.ok());
        CHECK(r->root().getInt("port", 25, 1, 65535) == 25);
        CHECK(r->finish().ok());
    }
}

TEST_CASE("loadFile names the file in errors and resolves relative secret files", "[core]") {
    TempDir dir;
    auto missing = Reader::loadFile(dir.path() + "/nope.yaml");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().message == dir.path() + "/nope.yaml: cannot read: No such file or directory");

    const std::string bad = dir.write("bad.yaml", "a: 1\nb: [\n");
    auto syntax = Reader::loadFile(bad);
    REQUIRE_FALSE(syntax.ok());
    CHECK(syntax.error().message.find(bad + ":3:1: syntax error: ") == 0);

    dir.write("db.pass", "s3cret\n");
    const std::string path = dir.write("authd.yaml", "mysql:\n  password_file: db.pass\n  port: 33o6\n");
    auto r = Reader::loadFile(path);
    REQUIRE(r.ok());
    auto mysql = r->root().child("mysql");
    CHECK(mysql.getSecretFile("password_file") == "s3cret");
    mysql.getInt("port", 3306, 1, 65535);
    CHECK(finishErrors(*r) == path + ":3:9: mysql.port: expected integer 1..65535, got \"33o6\"");
}

TEST_CASE("secret files: readable, trailing newline, missing, empty, too large", "[core]") {
    TempDir dir;
    struct Case { const char* name; const char* file; std::string content; const char* want; const char* error; };
    const Case cases[] = {
        {"plain", "a", "pw", "pw", nullptr},
        {"one newline stripped", "b", "pw\n", "pw", nullptr},
        {"only one newline stripped", "c", "pw\n\n", "pw\n", nullptr},
        {"crlf stripped", "d", "pw\r\n", "pw", nullptr},
        {"inner newline kept", "e", "p\nw", "p\nw", nullptr},
        {"empty", "f", "", "", "is empty"},
        {"only newline", "g", "\n", "", "is empty"},
        {"64 KiB", "h", std::string(65536, 'x'), nullptr, nullptr},
        {"64 KiB + 1", "i", std::string(65537, 'x'), "", "is larger than 65536 bytes"},
    };
    for (const auto& c : cases) {
        const std::string file = dir.write(c.file, c.content);
        Reader r = load("password_file: " + file + "\n");
        const std::string got = r.root().getSecretFile("password_file");
        const std::string errors = finishErrors(r);
        INFO(c.name << ": errors: " << errors);
        CHECK(got == (c.want != nullptr ? std::string(c.want) : c.content));
        if (c.error == nullptr) {
            CHECK(errors.empty());
        } else {
            CHECK(errors == "t.yaml:1:16: password_file: secret file \"" + file + "\" " + c.error);
        }
    }

    Reader r = load("a: " + dir.path() + "/absent\nb: " + dir.path() + "\nc: ~\nd: \"\"\n");
    auto root = r.root();
    CHECK(root.getSecretFile("a").empty());
    CHECK(root.getSecretFile("b").empty());
    CHECK(root.getSecretFile("c").empty());
    CHECK(root.getSecretFile("d").empty());
    CHECK(root.getSecretFile("unset").empty());
    CHECK(finishErrors(r) ==
          "t.yaml:1:4: a: cannot read secret file \"" + dir.path() + "/absent\": No such file or directory\n"
          "t.yaml:2:4: b: cannot read secret file \"" + dir.path() + "\": Is a directory\n"
          "t.yaml:3:4: c: expected file name, got null\n"
          "t.yaml:4:4: d: expected file name, got \"\"");
}

TEST_CASE("dumpEffective lists every key read with defaults, canonical units, secrets redacted",
          "[core]") {
    TempDir dir;
    const std::string secret = dir.write("pw", "hunter2\n");
    Reader r = load(
        "mysql:\n"
        "  host: db.example.test\n"
        "  password_file: " + secret + "\n"
        "  timeout: 300s\n"
        "listeners:\n"
        "  - address: 127.0.0.1:25\n"
        "  - address: \"[::1]:25\"\n"
        "    max_line: 64K\n");
    auto root = r.root();
    auto mysql = root.child("mysql");
    mysql.getString("host", "localhost");
    mysql.getInt("port", 3306, 1, 65535);
    CHECK(mysql.getSecretFile("password_file") == "hunter2");
    mysql.getDuration("timeout", 5s, 1s, 1h);
    for (auto l : root.list("listeners")) {
        l.getString("address", "");
        l.getSize("max_line", 2048, 1, 1 << 20);
    }
    root.child("tls").getBool("enabled", false);
    root.getStringList("domains", {"a.test", "b.test"});
    root.getFileMode("socket_mode", 0660);
    root.getSecretFile("api_key_file");
    REQUIRE(r.finish().ok());

    const std::string dump = r.dumpEffective();
    CHECK(dump.find("hunter2") == std::string::npos);
    CHECK(dump.find(secret) == std::string::npos);
    CHECK(dump ==
          "mysql:\n"
          "  host: db.example.test\n"
          "  port: 3306\n"
          "  password_file: <redacted>\n"
          "  timeout: 5m\n"
          "listeners:\n"
          "  - address: 127.0.0.1:25\n"
          "    max_line: 2KiB\n"
          "  - address: \"[::1]:25\"\n"
          "    max_line: 64KiB\n"
          "tls:\n"
          "  enabled: false\n"
          "domains:\n"
          "  - a.test\n"
          "  - b.test\n"
          "socket_mode: 0660\n"
          "api_key_file: ~\n");

    // The dump reads back to the same values.
    Reader again = load(dump);
    auto m2 = again.root().child("mysql");
    CHECK(m2.getString("host", "") == "db.example.test");
    CHECK(m2.getInt("port", 0, 1, 65535) == 3306);
    CHECK(m2.getDuration("timeout", 0ms, 0ms, 1h) == 5min);
    auto l2 = again.root().list("listeners");
    REQUIRE(l2.size() == 2);
    CHECK(l2[1].getString("address", "") == "[::1]:25");
    CHECK(again.root().getFileMode("socket_mode", 0) == 0660U);
}

TEST_CASE("dump of an empty reading and of empty lists", "[core]") {
    Reader r = load("a: 1\n");
    CHECK(r.dumpEffective() == "{}\n");
    r.root().list("items");
    r.root().getStringList("names", {});
    CHECK(r.dumpEffective() == "items: []\nnames: []\n");
}

TEST_CASE("formatDuration and formatSize pick the largest exact unit", "[core]") {
    struct D { milliseconds in; const char* want; };
    const D durations[] = {
        {0ms, "0s"}, {250ms, "250ms"}, {1500ms, "1500ms"}, {30s, "30s"}, {90s, "90s"},
        {120s, "2m"}, {1h, "1h"}, {25h, "25h"}, {48h, "2d"},
    };
    for (const auto& c : durations) CHECK(formatDuration(c.in) == c.want);
    struct S { unsigned long long in; const char* want; };
    const S sizes[] = {
        {0, "0"}, {1000, "1000"}, {1024, "1KiB"}, {1536, "1536"}, {65536, "64KiB"},
        {1ULL << 20, "1MiB"}, {3ULL << 30, "3GiB"}, {1ULL << 40, "1TiB"},
        {18446744073709551615ULL, "18446744073709551615"},
    };
    for (const auto& c : sizes) CHECK(formatSize(c.in) == c.want);
}
