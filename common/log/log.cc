#include "common/log/log.h"

#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <nlohmann/json.hpp>

#include "common/base/strings.h"

namespace titan::log {

namespace {

struct State {
    std::atomic<int> min_level{static_cast<int>(Level::Info)};
    std::mutex mu;  // guards everything below and serialises output
    Sink sink = Sink::Stderr;
    Format format = Format::Logfmt;
    std::string ident = "titan";  // openlog() keeps the pointer: only changed after closelog()
    bool syslog_open = false;
    std::function<void(Level, const std::string&)> capture;
};

// Never destroyed, so threads still logging during static destruction stay safe.
State& state() {
    static State* s = new State();
    return *s;
}

std::string timestamp() {
    using namespace std::chrono;
    const auto now = system_clock::now();
    const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms % 1000));
    return buf;
}

// logfmt keys cannot be quoted; anything outside the key alphabet becomes '_'.
std::string logfmtKey(std::string_view k) {
    if (k.empty()) return "_";
    std::string out(k);
    for (char& c : out) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= ' ' || u >= 0x7f || c == '=' || c == '"' || c == '\\') c = '_';
    }
    return out;
}

std::string formatLogfmt(bool with_ts, Level level, std::string_view msg,
                         std::initializer_list<Field> fields) {
    std::string line;
    line.reserve(96);
    if (with_ts) {
        line += "ts=";
        line += timestamp();
        line += ' ';
    }
    line += "level=";
    line += levelName(level);
    line += " msg=";
    line += base::logfmtQuote(msg);
    for (const Field& f : fields) {
        line += ' ';
        line += logfmtKey(f.key);
        line += '=';
        line += base::logfmtQuote(f.value);
    }
    return line;
}

nlohmann::ordered_json jsonValue(const Field& f) {
    switch (f.kind) {
        case Field::Kind::Signed: {
            long long v = 0;
            std::from_chars(f.value.data(), f.value.data() + f.value.size(), v);
            return v;
        }
        case Field::Kind::Unsigned: {
            unsigned long long v = 0;
            std::from_chars(f.value.data(), f.value.data() + f.value.size(), v);
            return v;
        }
        case Field::Kind::Float: {
            double v = 0;
            std::from_chars(f.value.data(), f.value.data() + f.value.size(), v);
            return v;
        }
        case Field::Kind::Bool: return f.value == "true";
        case Field::Kind::String: break;
    }
    return f.value;
}

std::string formatJson(bool with_ts, Level level, std::string_view msg,
                       std::initializer_list<Field> fields) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    if (with_ts) j["ts"] = timestamp();
    j["level"] = levelName(level);
    j["msg"] = std::string(msg);
    for (const Field& f : fields) {
        std::string key(f.key);
        if (j.contains(key)) key = "field." + key;
        if (j.contains(key)) continue;  // a third copy of one key adds nothing
        j[key] = jsonValue(f);
    }
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

int syslogPriority(Level level) {
    switch (level) {
        case Level::Debug: return LOG_DEBUG;
        case Level::Info: return LOG_INFO;
        case Level::Warning: return LOG_WARNING;
        case Level::Error: return LOG_ERR;
    }
    return LOG_ERR;
}

void writeAll(int fd, const std::string& s) {
    const char* p = s.data();
    size_t left = s.size();
    while (left > 0) {
        const ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        p += n;
        left -= static_cast<size_t>(n);
    }
}

}  // namespace

Field::Field(std::string_view k, long long v) : key(k), value(std::to_string(v)), kind(Kind::Signed) {}

Field::Field(std::string_view k, unsigned long long v)
    : key(k), value(std::to_string(v)), kind(Kind::Unsigned) {}

Field::Field(std::string_view k, double v) : key(k) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    value.assign(buf, ec == std::errc() ? end : buf);
    kind = std::isfinite(v) ? Kind::Float : Kind::String;
}

void configure(Level min_level, Sink sink, Format format, std::string_view ident) {
    State& s = state();
    std::lock_guard lock(s.mu);
    if (s.syslog_open && (sink != Sink::Syslog || ident != s.ident)) {
        closelog();
        s.syslog_open = false;
    }
    if (ident != s.ident) s.ident = std::string(ident);
    if (sink == Sink::Syslog && !s.syslog_open) {
        openlog(s.ident.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
        s.syslog_open = true;
    }
    s.sink = sink;
    s.format = format;
    s.min_level.store(static_cast<int>(min_level), std::memory_order_relaxed);
}

bool enabled(Level level) noexcept {
    return static_cast<int>(level) >= state().min_level.load(std::memory_order_relaxed);
}

void write(Level level, std::string_view msg, std::initializer_list<Field> fields) noexcept {
    if (!enabled(level)) return;
    try {
        State& s = state();
        std::lock_guard lock(s.mu);
        const bool to_syslog = !s.capture && s.sink == Sink::Syslog;
        std::string line = s.format == Format::Json ? formatJson(!to_syslog, level, msg, fields)
                                                    : formatLogfmt(!to_syslog, level, msg, fields);
        if (s.capture) {
            s.capture(level, line);
        } else if (to_syslog) {
            syslog(syslogPriority(level), "%s", line.c_str());
        } else {
            line += '\n';
            writeAll(STDERR_FILENO, line);
        }
    } catch (...) {
        // Logging must never take a daemon down; the line is lost.
    }
}

std::optional<Level> parseLevel(std::string_view name) noexcept {
    if (name == "debug") return Level::Debug;
    if (name == "info") return Level::Info;
    if (name == "warning") return Level::Warning;
    if (name == "error") return Level::Error;
    return std::nullopt;
}

const char* levelName(Level level) noexcept {
    switch (level) {
        case Level::Debug: return "debug";
        case Level::Info: return "info";
        case Level::Warning: return "warning";
        case Level::Error: return "error";
    }
    return "error";
}

void setCaptureForTest(std::function<void(Level, const std::string& line)> capture) {
    State& s = state();
    std::lock_guard lock(s.mu);
    s.capture = std::move(capture);
}

}  // namespace titan::log
