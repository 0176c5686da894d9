#include "replicator/proto/dovecot_event.h"

#include <cstdint>
#include <optional>

namespace titan::replicator::proto {
namespace {

class Reader {
public:
    explicit Reader(std::string_view in) : in_(in) {}

    std::optional<EventError> run(ChangeEvent& out) {
        skipSpace();
        if (atEnd() || in_[pos_] != '{') return EventError{"not a JSON object"};
        if (!object(1, [&](const std::string& key, std::size_t depth) { return topMember(key, depth, out); })) {
            return error();
        }
        skipSpace();
        if (!atEnd()) return EventError{"trailing data"};
        return std::nullopt;
    }

private:
    bool atEnd() const { return pos_ >= in_.size(); }
    EventError error() const { return EventError{reason_ != nullptr ? reason_ : "bad JSON"}; }
    bool fail(const char* reason) {
        if (reason_ == nullptr) reason_ = reason;
        return false;
    }
    void skipSpace() {
        while (!atEnd() && (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\r' || in_[pos_] == '\n')) ++pos_;
    }
    bool expect(char c) {
        skipSpace();
        if (atEnd() || in_[pos_] != c) return fail("bad JSON");
        ++pos_;
        return true;
    }
    char peek() {
        skipSpace();
        return atEnd() ? '\0' : in_[pos_];
    }

    // An object at pos_ ('{'), calling member(key, depth) with pos_ at each value; the
    // callback must consume the value.
    template <typename F>
    bool object(std::size_t depth, F&& member) {
        if (depth > kMaxEventDepth) return fail("too deep");
        if (!expect('{')) return false;
        if (peek() == '}') {
            ++pos_;
            return true;
        }
        for (;;) {
            std::string key;
            if (peek() != '"' || !string(&key)) return fail("bad JSON");
            if (!expect(':')) return false;
            if (!member(key, depth)) return false;
            char c = peek();
            ++pos_;
            if (c == '}') return true;
            if (c != ',') return fail("bad JSON");
        }
    }

    template <typename F>
    bool array(std::size_t depth, F&& element) {
        if (depth > kMaxEventDepth) return fail("too deep");
        if (!expect('[')) return false;
        if (peek() == ']') {
            ++pos_;
            return true;
        }
        for (;;) {
            if (!element(depth)) return false;
            char c = peek();
            ++pos_;
            if (c == ']') return true;
            if (c != ',') return fail("bad JSON");
        }
    }

    bool skipValue(std::size_t depth) {
        switch (peek()) {
            case '{': return object(depth + 1, [this](const std::string&, std::size_t d) { return skipValue(d); });
            case '[': return array(depth + 1, [this](std::size_t d) { return skipValue(d); });
            case '"': return string(nullptr);
            case 't': return literal("true");
            case 'f': return literal("false");
            case 'n': return literal("null");
            default: return number();
        }
    }

    bool literal(std::string_view word) {
        if (in_.substr(pos_, word.size()) != word) return fail("bad JSON");
        pos_ += word.size();
        return true;
    }

    bool number() {
        auto digits = [this] {
            std::size_t start = pos_;
            while (!atEnd() && in_[pos_] >= '0' && in_[pos_] <= '9') ++pos_;
            return pos_ > start;
        };
        if (!atEnd() && in_[pos_] == '-') ++pos_;
        if (!atEnd() && in_[pos_] == '0') {
            ++pos_;
        } else if (!digits()) {
            return fail("bad JSON");
        }
        if (!atEnd() && in_[pos_] == '.') {
            ++pos_;
            if (!digits()) return fail("bad JSON");
        }
        if (!atEnd() && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
            ++pos_;
            if (!atEnd() && (in_[pos_] == '+' || in_[pos_] == '-')) ++pos_;
            if (!digits()) return fail("bad JSON");
        }
        return true;
    }

    bool hex4(std::uint32_t& out) {
        if (in_.size() - pos_ < 4) return fail("bad escape");
        out = 0;
        for (int i = 0; i < 4; ++i) {
            char c = in_[pos_++];
            out <<= 4;
            if (c >= '0' && c <= '9') out |= static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f') out |= static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') out |= static_cast<std::uint32_t>(c - 'A' + 10);
            else return fail("bad escape");
        }
        return true;
    }

    static void utf8(std::string& out, std::uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    // A string at pos_ ('"'); out == nullptr skips it (still fully checked).
    bool string(std::string* out) {
        if (!expect('"')) return false;
        std::string scratch;
        std::string& s = out != nullptr ? *out : scratch;
        s.clear();
        for (;;) {
            if (atEnd()) return fail("bad JSON");
            char c = in_[pos_++];
            if (c == '"') return true;
            if (c == '\0') return fail("NUL in string");
            if (static_cast<unsigned char>(c) < 0x20) return fail("control byte in string");
            if (c != '\\') {
                if (out != nullptr) s += c;
                continue;
            }
            if (atEnd()) return fail("bad escape");
            char e = in_[pos_++];
            switch (e) {
                case '"': s += '"'; break;
                case '\\': s += '\\'; break;
                case '/': s += '/'; break;
                case 'b': s += '\b'; break;
                case 'f': s += '\f'; break;
                case 'n': s += '\n'; break;
                case 'r': s += '\r'; break;
                case 't': s += '\t'; break;
                case 'u': {
                    std::uint32_t cp = 0;
                    if (!hex4(cp)) return false;
                    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("bad escape");
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        std::uint32_t lo = 0;
                        if (in_.substr(pos_, 2) != "\\u") return fail("bad escape");
                        pos_ += 2;
                        if (!hex4(lo)) return false;
                        if (lo < 0xDC00 || lo > 0xDFFF) return fail("bad escape");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    if (cp == 0) return fail("NUL in string");
                    utf8(s, cp);
                    break;
                }
                default: return fail("bad escape");
            }
        }
    }

    // A string member: a string value is stored, any other value skipped.
    bool stringOrSkip(std::string& into, std::size_t depth) {
        if (peek() == '"') return string(&into);
        return skipValue(depth);
    }

    bool topMember(const std::string& key, std::size_t depth, ChangeEvent& out) {
        if (key == "event") return stringOrSkip(out.name, depth);
        if (key == "fields" && peek() == '{') {
            return object(depth + 1, [&](const std::string& k, std::size_t d) { return fieldMember(k, d, out); });
        }
        return skipValue(depth);
    }

    bool fieldMember(const std::string& key, std::size_t depth, ChangeEvent& out) {
        if (key == "user") return stringOrSkip(out.user, depth);
        if (key == "service") return stringOrSkip(out.service, depth);
        if (key == "reason_code") {
            out.reason_codes.clear();
            if (peek() == '"') {
                out.reason_codes.emplace_back();
                return string(&out.reason_codes.back());
            }
            if (peek() == '[') {
                return array(depth + 1, [&](std::size_t d) {
                    if (peek() != '"') return skipValue(d);
                    out.reason_codes.emplace_back();
                    return string(&out.reason_codes.back());
                });
            }
        }
        return skipValue(depth);
    }

    std::string_view in_;
    std::size_t pos_ = 0;
    const char* reason_ = nullptr;
};

void appendJsonString(std::string& out, std::string_view s) {
    static const char kHex[] = "0123456789abcdef";
    out += '"';
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20) {
            out += "\\u00";
            out += kHex[u >> 4];
            out += kHex[u & 0xF];
        } else {
            out += c;
        }
    }
    out += '"';
}

}  // namespace

EventParse parseEventLine(std::string_view line) {
    ChangeEvent out;
    Reader reader(line);
    if (auto err = reader.run(out)) return *err;
    return out;
}

bool writtenByReplication(const ChangeEvent& event) {
    for (const auto& code : event.reason_codes) {
        if (code == "doveadm:cmd_dsync_server" || code == "doveadm:cmd_sync" || code == "doveadm:cmd_backup") {
            return true;
        }
    }
    return false;
}

std::string encodeEventLine(const ChangeEvent& event) {
    std::string out = "{\"event\":";
    appendJsonString(out, event.name);
    out += ",\"fields\":{\"user\":";
    appendJsonString(out, event.user);
    out += ",\"service\":";
    appendJsonString(out, event.service);
    out += ",\"reason_code\":[";
    for (std::size_t i = 0; i < event.reason_codes.size(); ++i) {
        if (i > 0) out += ',';
        appendJsonString(out, event.reason_codes[i]);
    }
    out += "]}}";
    return out;
}

}  // namespace titan::replicator::proto
