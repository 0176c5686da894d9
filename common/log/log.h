// Structured logging (STYLE 3.7): a constant message plus key/value fields, one line per
// write(), as logfmt or JSON, to stderr (journald) or syslog.
// It does not rate-limit, carry per-connection context or redact: callers pass only
// non-secret fields and keep their own context (e.g. a "conn.id" field).
// Layer: common/log (base only; nlohmann_json inside the .cc).
#pragma once

#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace titan::log {

enum class Level { Debug, Info, Warning, Error };
enum class Sink { Stderr, Syslog };
enum class Format { Logfmt, Json };

// One key/value pair. The key is not copied: pass a string literal (lowercase, dotted:
// "client.address"). The value is rendered to text at construction; numbers and booleans
// stay numbers and booleans in JSON output.
struct Field {
    enum class Kind : unsigned char { String, Signed, Unsigned, Float, Bool };

    Field(std::string_view k, std::string_view v) : key(k), value(v) {}
    Field(std::string_view k, const char* v) : key(k), value(v != nullptr ? v : "") {}
    Field(std::string_view k, const std::string& v) : key(k), value(v) {}
    Field(std::string_view k, int v) : Field(k, static_cast<long long>(v)) {}
    Field(std::string_view k, long v) : Field(k, static_cast<long long>(v)) {}
    Field(std::string_view k, long long v);
    Field(std::string_view k, unsigned v) : Field(k, static_cast<unsigned long long>(v)) {}
    Field(std::string_view k, unsigned long v) : Field(k, static_cast<unsigned long long>(v)) {}
    Field(std::string_view k, unsigned long long v);
    Field(std::string_view k, double v);  // NaN and infinities are written as strings
    Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), kind(Kind::Bool) {}

    std::string_view key;
    std::string value;
    Kind kind = Kind::String;
};

// Sets the minimum level, the sink, the line format and the syslog ident (also used as the
// syslog program name; ignored for stderr). Thread-safe; call at start-up and on reload.
// Before the first call: Info, Stderr, Logfmt, ident "titan". Syslog uses facility LOG_MAIL.
void configure(Level min_level, Sink sink, Format format, std::string_view ident);

// True when a message at this level would be written. Lock-free; use it to skip building
// expensive fields.
bool enabled(Level level) noexcept;

// Writes one line if enabled(level). Thread-safe: lines from different threads never
// interleave. Never throws; a line that cannot be written is dropped.
// logfmt:  ts=2026-12-03T18:00:00.123Z level=info msg="dict server listening" socket=/run/x.sock
// JSON:    {"ts":"2026-12-03T18:00:00.123Z","level":"info","msg":"...","socket":"/run/x.sock"}
// Values are quoted with base::logfmtQuote; JSON replaces invalid UTF-8 with U+FFFD. Keys
// "ts", "level", "msg" and repeated keys are written as "field.<key>" in JSON. Syslog lines
// omit ts (syslog stamps them).
void write(Level level, std::string_view msg, std::initializer_list<Field> fields = {}) noexcept;

inline void debug(std::string_view msg, std::initializer_list<Field> fields = {}) noexcept {
    write(Level::Debug, msg, fields);
}
inline void info(std::string_view msg, std::initializer_list<Field> fields = {}) noexcept {
    write(Level::Info, msg, fields);
}
inline void warning(std::string_view msg, std::initializer_list<Field> fields = {}) noexcept {
    write(Level::Warning, msg, fields);
}
inline void error(std::string_view msg, std::initializer_list<Field> fields = {}) noexcept {
    write(Level::Error, msg, fields);
}

// "debug", "info", "warning", "error" (exact, lowercase) -> Level; anything else -> nullopt.
std::optional<Level> parseLevel(std::string_view name) noexcept;

// The lowercase name parseLevel accepts.
const char* levelName(Level level) noexcept;

// Test hook: while set, every enabled line goes to `capture` (in the configured format, with
// ts, without a trailing newline) instead of the sink. Calls are serialised; the hook must not
// log. Pass nullptr to restore the sink.
void setCaptureForTest(std::function<void(Level, const std::string& line)> capture);

}  // namespace titan::log
