#include "common/config/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <optional>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "common/base/strings.h"

namespace titan::config {

namespace detail {

struct Pos {
    int line = 0;    // 1-based; 0 = unknown
    int column = 0;  // 1-based
};

// The effective configuration, built as keys are read. Nodes live in Document::arena and
// are never freed before the Document, so relinking a key never leaves a dangling pointer.
struct EffNode {
    enum class Kind { Null, Scalar, Map, Seq };
    Kind kind = Kind::Null;
    std::string scalar;
    std::vector<std::pair<std::string, EffNode*>> map;
    std::vector<EffNode*> seq;
};

struct MapEntry {
    YAML::Node node;  // meaningful only when present
    bool present = false;
    std::string path;
    Pos pos;                        // where errors about absent keys point
    std::vector<std::string> read;  // keys read, in order: candidates for suggestions
    EffNode* eff = nullptr;
};

struct ErrorEntry {
    Pos pos;
    std::string text;
};

struct Document {
    std::string name;
    std::string base_dir;  // for relative secret file paths; "" = working directory
    std::vector<MapEntry> maps;
    std::map<std::string, std::size_t, std::less<>> by_path;
    std::map<std::string, std::vector<std::size_t>, std::less<>> lists;
    std::vector<ErrorEntry> errors;
    std::deque<EffNode> arena;
    bool finished = false;
};

}  // namespace detail

namespace {

using detail::Document;
using detail::EffNode;
using detail::ErrorEntry;
using detail::MapEntry;
using detail::Pos;

constexpr std::size_t kMaxSecretBytes = 64 * 1024;
constexpr std::size_t kMaxShownValue = 64;

Pos posOf(const YAML::Node& n) {
    const YAML::Mark m = n.Mark();
    if (m.is_null()) return {};
    return {m.line + 1, m.column + 1};
}

std::string joinPath(std::string_view parent, std::string_view key) {
    if (parent.empty()) return std::string(key);
    if (key.empty()) return std::string(parent);
    std::string out(parent);
    out += '.';
    out += key;
    return out;
}

void addError(Document& d, Pos pos, std::string_view path, std::string_view message) {
    std::string text = d.name;
    if (pos.line > 0) {
        text += ':' + std::to_string(pos.line) + ':' + std::to_string(pos.column);
    }
    text += ": ";
    if (!path.empty()) {
        text += path;
        text += ": ";
    }
    text += message;
    d.errors.push_back({pos, std::move(text)});
}

// A value as shown after "got": quoted and escaped scalars, cut at kMaxShownValue bytes.
std::string quote(std::string_view s) {
    static const char* hex = "0123456789abcdef";
    std::string out = "\"";
    const std::size_t n = std::min(s.size(), kMaxShownValue);
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    if (n < s.size()) out += "...";
    out += '"';
    return out;
}

std::string describe(const YAML::Node& n) {
    if (n.IsNull()) return "null";
    if (n.IsSequence()) return "a list";
    if (n.IsMap()) return "a map";
    if (n.IsScalar()) return quote(n.Scalar());
    return "nothing";
}

EffNode* newEff(Document& d, EffNode::Kind kind, std::string scalar = {}) {
    EffNode& n = d.arena.emplace_back();
    n.kind = kind;
    n.scalar = std::move(scalar);
    return &n;
}

void setEff(EffNode* map, std::string_view key, EffNode* value) {
    for (auto& [k, v] : map->map) {
        if (k == key) {
            v = value;
            return;
        }
    }
    map->map.emplace_back(std::string(key), value);
}

void recordScalar(Document& d, std::size_t idx, std::string_view key, std::string value) {
    setEff(d.maps[idx].eff, key, newEff(d, EffNode::Kind::Scalar, std::move(value)));
}

void markRead(MapEntry& m, std::string_view key) {
    if (std::find(m.read.begin(), m.read.end(), key) == m.read.end()) m.read.emplace_back(key);
}

struct Found {
    YAML::Node key;
    YAML::Node value;
};

// An empty value ("key:") is marked at the next token, often on a later line; point at its key
// then, as that is where the operator looks.
Pos valuePos(const Found& f) {
    const Pos v = posOf(f.value);
    const Pos k = posOf(f.key);
    if (f.value.IsNull() && v.line != k.line) return k;
    return v;
}

std::optional<Found> findKey(const MapEntry& m, std::string_view key) {
    if (!m.present) return std::nullopt;
    for (auto it = m.node.begin(); it != m.node.end(); ++it) {
        if (it->first.IsScalar() && it->first.Scalar() == key) return Found{it->first, it->second};
    }
    return std::nullopt;
}

// Registers a map (or an absent one) under `path`, checking its keys once.
std::size_t registerMap(Document& d, std::string path, const YAML::Node* node, Pos pos) {
    if (auto it = d.by_path.find(path); it != d.by_path.end()) return it->second;
    MapEntry e;
    e.path = path;
    e.pos = pos;
    e.eff = newEff(d, EffNode::Kind::Map);
    if (node != nullptr) {
        e.node = *node;
        e.present = true;
        std::map<std::string, int> first_line;
        for (auto it = node->begin(); it != node->end(); ++it) {
            const Pos kp = posOf(it->first);
            if (!it->first.IsScalar()) {
                addError(d, kp, path, "keys must be plain strings, got " + describe(it->first));
                continue;
            }
            const std::string& k = it->first.Scalar();
            auto [at, inserted] = first_line.emplace(k, kp.line);
            if (!inserted) {
                addError(d, kp, joinPath(path, k),
                         "duplicate key (first at line " + std::to_string(at->second) + ")");
            }
        }
    }
    d.maps.push_back(std::move(e));
    d.by_path.emplace(std::move(path), d.maps.size() - 1);
    return d.maps.size() - 1;
}

// Marks `key` read and returns its scalar text and position. Missing -> nullopt without an
// error; null or not a scalar -> nullopt with an error "expected <expected>, got ...".
struct Scalar {
    std::string text;
    Pos pos;
};

std::optional<Scalar> scalarFor(Document& d, std::size_t idx, std::string_view key,
                                std::string_view expected) {
    MapEntry& m = d.maps[idx];
    markRead(m, key);
    const auto f = findKey(m, key);
    if (!f) return std::nullopt;
    if (!f->value.IsScalar()) {
        addError(d, valuePos(*f), joinPath(m.path, key),
                 "expected " + std::string(expected) + ", got " + describe(f->value));
        return std::nullopt;
    }
    return Scalar{f->value.Scalar(), posOf(f->value)};
}

void typeError(Document& d, std::size_t idx, std::string_view key, const Scalar& s,
               std::string_view expected) {
    addError(d, s.pos, joinPath(d.maps[idx].path, key),
             "expected " + std::string(expected) + ", got " + quote(s.text));
}

// Runs one getter body; any exception becomes an error on that key and the default.
template <typename T, typename F>
T guarded(Document& d, std::size_t idx, std::string_view key, T def, F&& body) {
    try {
        return body();
    } catch (const std::exception& e) {
        try {
            addError(d, d.maps[idx].pos, joinPath(d.maps[idx].path, key),
                     std::string("cannot read value: ") + e.what());
        } catch (...) {
        }
    } catch (...) {
        try {
            addError(d, d.maps[idx].pos, joinPath(d.maps[idx].path, key), "cannot read value");
        } catch (...) {
        }
    }
    return def;
}

// Integer followed by a unit from `units`; an empty unit must be listed to allow bare numbers.
struct Quantity {
    enum class Status { Ok, Malformed, Overflow };
    Status status = Status::Malformed;
    unsigned long long value = 0;
};

Quantity parseQuantity(std::string_view s,
                       std::initializer_list<std::pair<std::string_view, unsigned long long>> units) {
    std::size_t digits = 0;
    while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
    if (digits == 0) return {};
    const std::string_view unit = s.substr(digits);
    unsigned long long factor = 0;
    for (const auto& [name, f] : units) {
        if (name == unit) factor = f;
    }
    if (factor == 0) return {};
    const auto n = base::parseUnsigned(s.substr(0, digits));
    if (!n || *n > ULLONG_MAX / factor) return {Quantity::Status::Overflow, 0};
    return {Quantity::Status::Ok, *n * factor};
}

unsigned levenshtein(std::string_view a, std::string_view b) {
    std::vector<unsigned> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<unsigned>(j);
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = static_cast<unsigned>(i);
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const unsigned sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0U : 1U);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

// The read key closest to `key`, if close enough to be a plausible typo or truncation.
std::optional<std::string> suggest(std::string_view key, const std::vector<std::string>& known) {
    const std::string lk = base::asciiLower(key);
    std::optional<std::string> best;
    unsigned best_d = UINT_MAX;
    for (const std::string& k : known) {
        const std::string lc = base::asciiLower(k);
        const unsigned d = levenshtein(lk, lc);
        const std::size_t shorter = std::min(lk.size(), lc.size());
        const bool prefix = shorter >= 3 && (base::startsWith(lk, lc) || base::startsWith(lc, lk));
        const bool close = d <= std::max<std::size_t>(2, lk.size() / 3) || prefix;
        if (close && d < best_d) {
            best_d = d;
            best = k;
        }
    }
    return best;
}

void addUnknownKeyErrors(Document& d) {
    for (const MapEntry& m : d.maps) {
        if (!m.present) continue;
        for (auto it = m.node.begin(); it != m.node.end(); ++it) {
            if (!it->first.IsScalar()) continue;
            const std::string& k = it->first.Scalar();
            if (std::find(m.read.begin(), m.read.end(), k) != m.read.end()) continue;
            std::string msg = "unknown key";
            if (auto s = suggest(k, m.read)) msg += " (did you mean " + joinPath(m.path, *s) + "?)";
            addError(d, posOf(it->first), joinPath(m.path, k), msg);
        }
    }
}

std::vector<ErrorEntry> sortedErrors(const Document& d) {
    std::vector<ErrorEntry> out = d.errors;
    std::stable_sort(out.begin(), out.end(), [](const ErrorEntry& a, const ErrorEntry& b) {
        return std::pair(a.pos.line, a.pos.column) < std::pair(b.pos.line, b.pos.column);
    });
    return out;
}

void emit(YAML::Emitter& out, const EffNode* n) {
    switch (n->kind) {
        case EffNode::Kind::Null: out << YAML::Null; break;
        case EffNode::Kind::Scalar: out << n->scalar; break;
        case EffNode::Kind::Map:
            if (n->map.empty()) out << YAML::Flow;
            out << YAML::BeginMap;
            for (const auto& [k, v] : n->map) {
                out << YAML::Key << k << YAML::Value;
                emit(out, v);
            }
            out << YAML::EndMap;
            break;
        case EffNode::Kind::Seq:
            if (n->seq.empty()) out << YAML::Flow;
            out << YAML::BeginSeq;
            for (const EffNode* v : n->seq) emit(out, v);
            out << YAML::EndSeq;
            break;
    }
}

// Reads a whole file; an error string (strerror) on failure. Stops after `limit` bytes.
std::optional<std::string> readFile(const std::string& path, std::size_t limit,
                                    std::string& content) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::string(std::strerror(errno));
    content.clear();
    char buf[8192];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            return std::string(std::strerror(err));
        }
        if (n == 0) break;
        content.append(buf, static_cast<std::size_t>(n));
        if (content.size() > limit) break;
    }
    ::close(fd);
    return std::nullopt;
}

Result<Reader> configError(const std::string& name, Pos pos, std::string_view message) {
    std::string text = name;
    if (pos.line > 0) text += ':' + std::to_string(pos.line) + ':' + std::to_string(pos.column);
    text += ": ";
    text += message;
    return Error::config(std::move(text));
}

}  // namespace

// ---- Section -------------------------------------------------------------------------------

std::string Section::getString(std::string_view key, std::string_view def) {
    Document& d = *doc_;
    return guarded(d, index_, key, std::string(def), [&] {
        std::string v(def);
        if (auto s = scalarFor(d, index_, key, "string")) v = std::move(s->text);
        recordScalar(d, index_, key, v);
        return v;
    });
}

long long Section::getInt(std::string_view key, long long def, long long min, long long max) {
    Document& d = *doc_;
    return guarded(d, index_, key, def, [&] {
        const std::string expected =
            "integer " + std::to_string(min) + ".." + std::to_string(max);
        long long v = def;
        if (auto s = scalarFor(d, index_, key, expected)) {
            const auto n = base::parseSigned(s->text);
            if (n && *n >= min && *n <= max) {
                v = *n;
            } else {
                typeError(d, index_, key, *s, expected);
            }
        }
        recordScalar(d, index_, key, std::to_string(v));
        return v;
    });
}

bool Section::getBool(std::string_view key, bool def) {
    Document& d = *doc_;
    return guarded(d, index_, key, def, [&] {
        constexpr std::string_view expected = "boolean (true or false)";
        bool v = def;
        if (auto s = scalarFor(d, index_, key, expected)) {
            if (s->text == "true" || s->text == "yes" || s->text == "on") {
                v = true;
            } else if (s->text == "false" || s->text == "no" || s->text == "off") {
                v = false;
            } else {
                typeError(d, index_, key, *s, expected);
            }
        }
        recordScalar(d, index_, key, v ? "true" : "false");
        return v;
    });
}

std::chrono::milliseconds Section::getDuration(std::string_view key, std::chrono::milliseconds def,
                                               std::chrono::milliseconds min,
                                               std::chrono::milliseconds max) {
    Document& d = *doc_;
    return guarded(d, index_, key, def, [&] {
        const std::string range = "duration " + formatDuration(min) + ".." + formatDuration(max);
        std::chrono::milliseconds v = def;
        if (auto s = scalarFor(d, index_, key, range)) {
            const Quantity q = parseQuantity(
                s->text, {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000},
                          {"d", 86'400'000}});
            const auto lo = static_cast<unsigned long long>(std::max<long long>(min.count(), 0));
            const auto hi = static_cast<unsigned long long>(std::max<long long>(max.count(), 0));
            if (q.status == Quantity::Status::Malformed) {
                typeError(d, index_, key, *s,
                          range + " (integer with unit ms, s, m, h or d; bare = seconds)");
            } else if (q.status == Quantity::Status::Overflow || q.value < lo || q.value > hi ||
                       max.count() < 0) {
                typeError(d, index_, key, *s, range);
            } else {
                v = std::chrono::milliseconds(static_cast<long long>(q.value));
            }
        }
        recordScalar(d, index_, key, formatDuration(v));
        return v;
    });
}

unsigned long long Section::getSize(std::string_view key, unsigned long long def,
                                    unsigned long long min, unsigned long long max) {
    Document& d = *doc_;
    return guarded(d, index_, key, def, [&] {
        const std::string range = "size " + formatSize(min) + ".." + formatSize(max);
        unsigned long long v = def;
        if (auto s = scalarFor(d, index_, key, range)) {
            constexpr unsigned long long kKi = 1024;
            const Quantity q = parseQuantity(
                s->text, {{"", 1}, {"B", 1}, {"K", kKi}, {"KiB", kKi}, {"M", kKi * kKi},
                          {"MiB", kKi * kKi}, {"G", kKi * kKi * kKi}, {"GiB", kKi * kKi * kKi},
                          {"T", kKi * kKi * kKi * kKi}, {"TiB", kKi * kKi * kKi * kKi}});
            if (q.status == Quantity::Status::Malformed) {
                typeError(d, index_, key, *s,
                          range + " (integer with unit B, K, KiB, M, MiB, G, GiB, T or TiB; "
                                  "bare = bytes)");
            } else if (q.status == Quantity::Status::Overflow || q.value < min || q.value > max) {
                typeError(d, index_, key, *s, range);
            } else {
                v = q.value;
            }
        }
        recordScalar(d, index_, key, formatSize(v));
        return v;
    });
}

std::string Section::getEnum(std::string_view key, std::string_view def,
                             std::initializer_list<std::string_view> allowed) {
    Document& d = *doc_;
    return guarded(d, index_, key, std::string(def), [&] {
        std::string expected = "one of ";
        for (auto it = allowed.begin(); it != allowed.end(); ++it) {
            if (it != allowed.begin()) expected += '|';
            expected += *it;
        }
        std::string v(def);
        if (auto s = scalarFor(d, index_, key, expected)) {
            if (std::find(allowed.begin(), allowed.end(), s->text) != allowed.end()) {
                v = std::move(s->text);
            } else {
                typeError(d, index_, key, *s, expected);
            }
        }
        recordScalar(d, index_, key, v);
        return v;
    });
}

std::vector<std::string> Section::getStringList(std::string_view key,
                                                std::vector<std::string> def) {
    Document& d = *doc_;
    return guarded(d, index_, key, def, [&] {
        MapEntry& m = d.maps[index_];
        markRead(m, key);
        std::vector<std::string> v = def;
        if (const auto f = findKey(m, key)) {
            const std::string path = joinPath(m.path, key);
            if (!f->value.IsSequence()) {
                addError(d, valuePos(*f), path,
                         "expected list of strings, got " + describe(f->value));
            } else {
                std::vector<std::string> items;
                bool ok = true;
                std::size_t i = 0;
                for (auto it = f->value.begin(); it != f->value.end(); ++it, ++i) {
                    if (!it->IsScalar()) {
                        addError(d, posOf(*it), path + "[" + std::to_string(i) + "]",
                                 "expected string, got " + describe(*it));
                        ok = false;
                    } else {
                        items.push_back(it->Scalar());
                    }
                }
                if (ok) v = std::move(items);
            }
        }
        EffNode* seq = newEff(d, EffNode::Kind::Seq);
        for (const std::string& s : v) seq->seq.push_back(newEff(d, EffNode::Kind::Scalar, s));
        setEff(d.maps[index_].eff, key, seq);
        return v;
    });
}

std::string Section::getSecretFile(std::string_view key) {
    Document& d = *doc_;
    return guarded(d, index_, key, std::string(), [&] {
        std::string secret;
        const auto s = scalarFor(d, index_, key, "file name");
        if (!s && !has(key)) {
            setEff(d.maps[index_].eff, key, newEff(d, EffNode::Kind::Null));
            return secret;
        }
        recordScalar(d, index_, key, "<redacted>");
        if (!s) return secret;
        if (s->text.empty()) {
            typeError(d, index_, key, *s, "file name");
            return secret;
        }
        std::string file = s->text;
        if (file.front() != '/' && !d.base_dir.empty()) {
            file = d.base_dir + (d.base_dir.back() == '/' ? "" : "/") + file;
        }
        const std::string path = joinPath(d.maps[index_].path, key);
        if (auto err = readFile(file, kMaxSecretBytes, secret)) {
            addError(d, s->pos, path, "cannot read secret file " + quote(file) + ": " + *err);
            secret.clear();
            return secret;
        }
        if (secret.size() > kMaxSecretBytes) {
            addError(d, s->pos, path,
                     "secret file " + quote(file) + " is larger than " +
                         std::to_string(kMaxSecretBytes) + " bytes");
            secret.clear();
            return secret;
        }
        if (!secret.empty() && secret.back() == '\n') {
            secret.pop_back();
            if (!secret.empty() && secret.back() == '\r') secret.pop_back();
        }
        if (secret.empty()) addError(d, s->pos, path, "secret file " + quote(file) + " is empty");
        return secret;
    });
}

unsigned Section::getFileMode(std::string_view key, unsigned def) {
    Document& d = *doc_;
    return guarded(d, index_, key, def, [&] {
        constexpr std::string_view expected = "octal file mode 0000..07777 (e.g. \"0660\")";
        unsigned v = def;
        if (auto s = scalarFor(d, index_, key, expected)) {
            std::string_view t = s->text;
            if (base::startsWith(t, "0o")) t.remove_prefix(2);
            unsigned mode = 0;
            bool ok = !t.empty() && t.size() <= 5;
            for (char c : t) {
                if (c < '0' || c > '7') {
                    ok = false;
                    break;
                }
                mode = mode * 8 + static_cast<unsigned>(c - '0');
            }
            if (ok && mode <= 07777) {
                v = mode;
            } else {
                typeError(d, index_, key, *s, expected);
            }
        }
        char buf[16];
        std::snprintf(buf, sizeof buf, "%04o", v);
        recordScalar(d, index_, key, buf);
        return v;
    });
}

bool Section::has(std::string_view key) const {
    try {
        return findKey(doc_->maps[index_], key).has_value();
    } catch (...) {
        return false;
    }
}

Section Section::child(std::string_view key) {
    Document& d = *doc_;
    // The fallback (this section) is only reached after an internal error, which finish()
    // reports, so the config is rejected whatever is read through it.
    return guarded(d, index_, key, *this, [&] {
        MapEntry& m = d.maps[index_];
        markRead(m, key);
        std::string path = joinPath(m.path, key);
        const Pos parent_pos = m.pos;
        std::size_t idx = 0;
        if (auto it = d.by_path.find(path); it != d.by_path.end()) {
            idx = it->second;
        } else if (const auto f = findKey(m, key); f && f->value.IsMap()) {
            idx = registerMap(d, std::move(path), &f->value, valuePos(*f));
        } else {
            Pos pos = parent_pos;
            if (f) {
                pos = valuePos(*f);
                addError(d, pos, path, "expected section (map), got " + describe(f->value));
            }
            idx = registerMap(d, std::move(path), nullptr, pos);
        }
        setEff(d.maps[index_].eff, key, d.maps[idx].eff);
        return Section(doc_, idx);
    });
}

std::vector<Section> Section::list(std::string_view key) {
    Document& d = *doc_;
    return guarded(d, index_, key, std::vector<Section>(), [&] {
        MapEntry& m = d.maps[index_];
        markRead(m, key);
        const std::string path = joinPath(m.path, key);
        auto known = d.lists.find(path);
        if (known == d.lists.end()) {
            std::vector<std::size_t> items;
            if (const auto f = findKey(m, key)) {
                if (!f->value.IsSequence()) {
                    addError(d, valuePos(*f), path,
                             "expected list of sections, got " + describe(f->value));
                } else {
                    std::size_t i = 0;
                    for (auto it = f->value.begin(); it != f->value.end(); ++it, ++i) {
                        const std::string item_path = path + "[" + std::to_string(i) + "]";
                        const YAML::Node item = *it;
                        if (!item.IsMap()) {
                            addError(d, posOf(item), item_path,
                                     "expected section (map), got " + describe(item));
                            continue;
                        }
                        items.push_back(registerMap(d, item_path, &item, posOf(item)));
                    }
                }
            }
            known = d.lists.emplace(path, std::move(items)).first;
        }
        EffNode* seq = newEff(d, EffNode::Kind::Seq);
        std::vector<Section> out;
        for (std::size_t idx : known->second) {
            seq->seq.push_back(d.maps[idx].eff);
            out.push_back(Section(doc_, idx));
        }
        setEff(d.maps[index_].eff, key, seq);
        return out;
    });
}

void Section::error(std::string_view key, std::string_view message) {
    Document& d = *doc_;
    guarded(d, index_, key, 0, [&] {
        const MapEntry& m = d.maps[index_];
        Pos pos = m.pos;
        if (!key.empty()) {
            if (const auto f = findKey(m, key)) pos = valuePos(*f);
        }
        addError(d, pos, joinPath(m.path, key), message);
        return 0;
    });
}

const std::string& Section::path() const { return doc_->maps[index_].path; }

// ---- Reader --------------------------------------------------------------------------------

Reader::Reader(std::unique_ptr<Document> doc) : doc_(std::move(doc)) {}
Reader::Reader(Reader&&) noexcept = default;
Reader& Reader::operator=(Reader&&) noexcept = default;
Reader::~Reader() = default;

Result<Reader> Reader::loadString(std::string_view yaml, std::string_view name) {
    const std::string file(name);
    try {
        auto doc = std::make_unique<Document>();
        doc->name = file;
        const std::vector<YAML::Node> docs = YAML::LoadAll(std::string(yaml));
        if (docs.size() > 1) {
            return configError(file, posOf(docs[1]), "expected one YAML document, got " +
                                                         std::to_string(docs.size()));
        }
        const Pos start{1, 1};
        if (docs.empty() || docs[0].IsNull()) {
            registerMap(*doc, "", nullptr, start);
        } else if (docs[0].IsMap()) {
            const Pos p = posOf(docs[0]);
            registerMap(*doc, "", &docs[0], p.line > 0 ? p : start);
        } else {
            return configError(file, posOf(docs[0]),
                               "expected a map of settings at the top level, got " +
                                   describe(docs[0]));
        }
        return Reader(std::move(doc));
    } catch (const YAML::Exception& e) {
        const Pos pos = e.mark.is_null() ? Pos{} : Pos{e.mark.line + 1, e.mark.column + 1};
        return configError(file, pos, "syntax error: " + e.msg);
    } catch (const std::exception& e) {
        return configError(file, {}, std::string("cannot parse: ") + e.what());
    } catch (...) {
        return configError(file, {}, "cannot parse");
    }
}

Result<Reader> Reader::loadFile(const std::string& path) {
    try {
        std::string text;
        if (auto err = readFile(path, SIZE_MAX - 1, text)) {
            return Error::config(path + ": cannot read: " + *err);
        }
        auto r = loadString(text, path);
        if (!r) return r;
        const auto slash = path.rfind('/');
        if (slash != std::string::npos) r->doc_->base_dir = path.substr(0, slash + 1);
        return r;
    } catch (...) {
        return Error::config(path + ": cannot read");
    }
}

Section Reader::root() { return Section(doc_.get(), 0); }

Status Reader::finish() {
    try {
        if (!doc_->finished) {
            addUnknownKeyErrors(*doc_);
            doc_->finished = true;
        }
        if (doc_->errors.empty()) return {};
        std::string all;
        for (const ErrorEntry& e : sortedErrors(*doc_)) {
            if (!all.empty()) all += '\n';
            all += e.text;
        }
        return Error::config(std::move(all));
    } catch (...) {
        return Error::config(doc_->name + ": cannot check configuration");
    }
}

std::vector<std::string> Reader::errors() const {
    std::vector<std::string> out;
    try {
        for (const ErrorEntry& e : sortedErrors(*doc_)) out.push_back(e.text);
    } catch (...) {
    }
    return out;
}

std::string Reader::dumpEffective() const {
    try {
        YAML::Emitter out;
        emit(out, doc_->maps[0].eff);
        std::string text = out.c_str();
        text += '\n';
        return text;
    } catch (...) {
        return "# cannot dump configuration\n";
    }
}

// ---- formatting ----------------------------------------------------------------------------

std::string formatDuration(std::chrono::milliseconds d) {
    const long long ms = d.count();
    if (ms == 0) return "0s";
    static constexpr std::pair<long long, const char*> kUnits[] = {
        {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}};
    for (const auto& [factor, unit] : kUnits) {
        if (ms % factor == 0) return std::to_string(ms / factor) + unit;
    }
    return std::to_string(ms) + "ms";
}

std::string formatSize(unsigned long long bytes) {
    if (bytes == 0) return "0";
    static constexpr std::pair<unsigned long long, const char*> kUnits[] = {
        {1ULL << 40, "TiB"}, {1ULL << 30, "GiB"}, {1ULL << 20, "MiB"}, {1ULL << 10, "KiB"}};
    for (const auto& [factor, unit] : kUnits) {
        if (bytes % factor == 0) return std::to_string(bytes / factor) + unit;
    }
    return std::to_string(bytes);
}

}  // namespace titan::config
