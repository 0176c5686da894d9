// Typed, validated reading of one daemon's YAML config file (STYLE 3.6).
// Getters parse units, bounds, enums and secret files at load time, collect every error
// with file:line:column and the dotted key, reject unknown keys, and record the effective
// values for --dump-config. It does not define any daemon's schema or hold snapshots.
// Layer: common/config (base + yaml-cpp; yaml-cpp stays out of this header). Nothing throws.
#pragma once

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"

namespace titan::config {

class Reader;
namespace detail {
struct Document;  // the Reader's state, defined in config.cc
}

// A view of one YAML map inside a Reader, with its dotted path ("mysql", "listeners[0]";
// "" for the root). Cheap to copy; valid while its Reader lives. Not thread-safe.
//
// Every getter follows the same rules:
// - a missing key yields the default;
// - an explicit null ("key:" or "key: ~"), a wrong type, a malformed value or a value out of
//   bounds records an error "file:line:col: dotted.key: expected ..., got ..." and yields the
//   default, so reading continues and every error is reported by Reader::finish();
// - the key is marked as read (so finish() does not call it unknown) and its effective value
//   is recorded for Reader::dumpEffective().
class Section {
public:
    // Any scalar, verbatim.
    std::string getString(std::string_view key, std::string_view def);

    // Decimal integer in min..max: "expected integer 1..65535, got \"33o6\"".
    long long getInt(std::string_view key, long long def, long long min, long long max);

    // true/false (also yes/no, on/off), lowercase.
    bool getBool(std::string_view key, bool def);

    // Non-negative integer with unit ms, s, m, h or d ("250ms", "30s", "5m", "1h", "2d");
    // a bare integer means seconds. Must lie in min..max.
    std::chrono::milliseconds getDuration(std::string_view key, std::chrono::milliseconds def,
                                          std::chrono::milliseconds min,
                                          std::chrono::milliseconds max);

    // Non-negative integer with unit B, K/KiB, M/MiB, G/GiB or T/TiB, all powers of 1024
    // ("64KiB", "10M" = 10 MiB); a bare integer means bytes. Must lie in min..max.
    unsigned long long getSize(std::string_view key, unsigned long long def,
                               unsigned long long min, unsigned long long max);

    // One of `allowed` (exact, lowercase by convention).
    std::string getEnum(std::string_view key, std::string_view def,
                        std::initializer_list<std::string_view> allowed);

    // A YAML sequence of scalars ([] allowed).
    std::vector<std::string> getStringList(std::string_view key, std::vector<std::string> def);

    // The value names a file holding a secret (e.g. "password_file"); returns its content
    // with one trailing newline ("\n" or "\r\n") removed. A relative path is resolved against
    // the config file's directory. Missing key -> "" and no error. Unreadable, empty or
    // larger than 64 KiB -> error naming the file and the key. Dumped as "<redacted>".
    std::string getSecretFile(std::string_view key);

    // Permission bits, always read as octal ("0660", 0660 or 660), at most 07777.
    // Dumped as a four-digit octal string.
    unsigned getFileMode(std::string_view key, unsigned def);

    // True when the key is present (even if null). Does not mark it read.
    bool has(std::string_view key) const;

    // The map under `key`. Missing -> an empty section (every getter yields its default).
    // Null or not a map -> error, and an empty section.
    Section child(std::string_view key);

    // The sequence of maps under `key` ("listeners[0]", "listeners[1]", ...). Missing -> empty.
    // Not a sequence -> error and empty; an element that is not a map -> error, element skipped.
    std::vector<Section> list(std::string_view key);

    // Records an error for cross-key validation, at the key's value if present, otherwise at
    // this section. An empty key names the section itself.
    void error(std::string_view key, std::string_view message);

    // The dotted path of this section ("" for the root).
    const std::string& path() const;

private:
    friend class Reader;
    Section(detail::Document* doc, std::size_t index) : doc_(doc), index_(index) {}

    detail::Document* doc_;
    std::size_t index_;  // into the document's table of maps
};

// Owns one parsed document, its file name, the error list, the record of keys read and the
// effective values. Movable; Sections stay valid across moves. Not thread-safe.
class Reader {
public:
    // Reads and parses `path`. Errors (Config): unreadable file ("path: cannot read: ..."),
    // YAML syntax error ("path:line:col: syntax error: ..."), more than one document, or a
    // top-level value that is not a map. An empty file is an empty map.
    static Result<Reader> loadFile(const std::string& path);

    // As loadFile, parsing `yaml` and naming it `name` in errors (tests, --check-config on
    // stdin). Relative secret file paths are resolved against the working directory.
    static Result<Reader> loadString(std::string_view yaml, std::string_view name);

    Reader(Reader&&) noexcept;
    Reader& operator=(Reader&&) noexcept;
    ~Reader();

    // The top-level map.
    Section root();

    // Adds one "unknown key" error for every key of every map reached through root(),
    // child() or list() that was never read, suggesting the nearest key that was read; then
    // returns OK, or a Config error listing every error, one per line, sorted by position.
    // Calling it again returns the same answer.
    Status finish();

    // Every error recorded so far, in order of position (unknown keys only after finish()).
    std::vector<std::string> errors() const;

    // YAML of every key read, with its effective value (defaults included, durations and
    // sizes in canonical units, secrets "<redacted>"), in reading order, ending in "\n".
    std::string dumpEffective() const;

private:
    explicit Reader(std::unique_ptr<detail::Document> doc);
    std::unique_ptr<detail::Document> doc_;
};

// Canonical text used in messages and dumps: largest exact unit ("90s" -> "90s",
// "120s" -> "2m", 0 -> "0s"), and sizes in the largest exact binary unit ("64KiB", "1000").
std::string formatDuration(std::chrono::milliseconds d);
std::string formatSize(unsigned long long bytes);

}  // namespace titan::config
