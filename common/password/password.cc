#include "common/password/password.h"

#include <optional>

#include "common/base/strings.h"
#include "common/password/encoding.h"
#include "common/password/primitives.h"

namespace titan::password {

namespace {

using detail::Digest;

enum class Encoding { None, Base64, Hex };

enum class Kind {
    Plain,
    PlainTrunc,
    Crypt,        // CRYPT, DES-CRYPT, SHA256-CRYPT, SHA512-CRYPT: crypt(3), "$2?$" -> blowfish
    BlfCrypt,
    Md5Crypt,
    Md5,          // "$1$..." MD5-CRYPT or PLAIN-MD5 data
    Digest,       // unsalted digest of the password
    Salted,       // digest(password || salt) || salt
    CramMd5,
    Pbkdf2,
    Argon2i,
    Argon2id,
};

struct SchemeInfo {
    std::string_view name;       // as looked up (upper case)
    std::string_view canonical;  // equals name unless this is an alias
    Kind kind;
    Encoding encoding;           // default data encoding
    size_t raw_len;              // fixed decoded length, 0 = variable
    Digest digest = Digest::Md5;     // for Kind::Digest and Kind::Salted
    const char* gensalt = "";        // Kind::Crypt generation: crypt_gensalt prefix ...
    unsigned long gensalt_count = 0; // ... and count (0: the method's default)
};

// Generation defaults (Dovecot 2.3): SHA2-CRYPT 5000 rounds (crypt_gensalt then leaves
// "rounds=" out, as Dovecot does), BLF-CRYPT cost 5, PBKDF2 5000 rounds and a 16-character
// salt, SSHA*/SMD5 a 4-byte salt.
constexpr unsigned long kSha2CryptRounds = 5000;
constexpr unsigned long kBlfCost = 5;
constexpr size_t kSaltedSaltLen = 4;
constexpr size_t kPbkdf2SaltLen = 16;
constexpr unsigned kPbkdf2Rounds = 5000;
constexpr size_t kPbkdf2KeyLen = 20;
// Dovecot's CRYPT_BLF_PREFIX_LEN: "$2y$nn$" + 22 salt characters + 1. A BLF-CRYPT hash
// must be at least this long, and this much of it is the crypt setting.
constexpr size_t kBlfSettingLen = 7 + 22 + 1;

// Dovecot 2.3 src/auth/password-scheme.c builtin_schemes[], password-scheme-crypt.c,
// password-scheme-sodium.c. Order is the order of supportedSchemes().
constexpr SchemeInfo kSchemes[] = {
    {"PLAIN", "PLAIN", Kind::Plain, Encoding::None, 0},
    {"CLEAR", "PLAIN", Kind::Plain, Encoding::None, 0},
    {"CLEARTEXT", "PLAIN", Kind::Plain, Encoding::None, 0},
    {"PLAIN-TRUNC", "PLAIN-TRUNC", Kind::PlainTrunc, Encoding::None, 0},
    {"CRYPT", "CRYPT", Kind::Crypt, Encoding::None, 0, Digest::Md5, "$2y$", kBlfCost},  // generates BLF-CRYPT
    {"DES-CRYPT", "DES-CRYPT", Kind::Crypt, Encoding::None, 0, Digest::Md5, ""},
    {"MD5-CRYPT", "MD5-CRYPT", Kind::Md5Crypt, Encoding::None, 0},
    {"MD5", "MD5", Kind::Md5, Encoding::None, 0},
    {"SHA256-CRYPT", "SHA256-CRYPT", Kind::Crypt, Encoding::None, 0, Digest::Md5, "$5$", kSha2CryptRounds},
    {"SHA512-CRYPT", "SHA512-CRYPT", Kind::Crypt, Encoding::None, 0, Digest::Md5, "$6$", kSha2CryptRounds},
    {"BLF-CRYPT", "BLF-CRYPT", Kind::BlfCrypt, Encoding::None, 0},
    {"SHA", "SHA", Kind::Digest, Encoding::Base64, 20, Digest::Sha1},
    {"SHA1", "SHA", Kind::Digest, Encoding::Base64, 20, Digest::Sha1},
    {"SHA256", "SHA256", Kind::Digest, Encoding::Base64, 32, Digest::Sha256},
    {"SHA512", "SHA512", Kind::Digest, Encoding::Base64, 64, Digest::Sha512},
    {"SSHA", "SSHA", Kind::Salted, Encoding::Base64, 0, Digest::Sha1},
    {"SSHA256", "SSHA256", Kind::Salted, Encoding::Base64, 0, Digest::Sha256},
    {"SSHA512", "SSHA512", Kind::Salted, Encoding::Base64, 0, Digest::Sha512},
    {"SMD5", "SMD5", Kind::Salted, Encoding::Base64, 0, Digest::Md5},
    {"PLAIN-MD5", "PLAIN-MD5", Kind::Digest, Encoding::Hex, 16, Digest::Md5},
    {"LDAP-MD5", "LDAP-MD5", Kind::Digest, Encoding::Base64, 16, Digest::Md5},
    {"CRAM-MD5", "CRAM-MD5", Kind::CramMd5, Encoding::Hex, 32},
    {"HMAC-MD5", "CRAM-MD5", Kind::CramMd5, Encoding::Hex, 32},
    {"PBKDF2", "PBKDF2", Kind::Pbkdf2, Encoding::None, 0},
    {"ARGON2I", "ARGON2I", Kind::Argon2i, Encoding::None, 0},
    {"ARGON2ID", "ARGON2ID", Kind::Argon2id, Encoding::None, 0},
};

struct Lookup {
    const SchemeInfo* info;
    Encoding encoding;
    bool explicit_encoding;  // a ".hex"/".b64" suffix was given
};

// A scheme name for error messages: bounded, printable ASCII only.
std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 40)) out.push_back(c > 0x20 && c < 0x7f ? c : '?');
    if (s.size() > 40) out += "...";
    return out;
}

std::optional<Lookup> lookup(std::string_view full) {
    std::string_view name = full;
    std::optional<std::string_view> suffix;
    if (const size_t dot = full.find('.'); dot != std::string_view::npos) {
        name = full.substr(0, dot);
        suffix = full.substr(dot + 1);
    }
    const SchemeInfo* info = nullptr;
    for (const auto& s : kSchemes) {
        if (base::iequals(s.name, name)) {
            info = &s;
            break;
        }
    }
    if (info == nullptr) return std::nullopt;
    if (!suffix) return Lookup{info, info->encoding, false};
    if (base::iequals(*suffix, "b64") || base::iequals(*suffix, "base64")) {
        return Lookup{info, Encoding::Base64, true};
    }
    if (base::iequals(*suffix, "hex")) return Lookup{info, Encoding::Hex, true};
    return std::nullopt;  // unknown encoding: an unknown scheme, as in Dovecot
}

// Dovecot's password_decode(): undo the data encoding and check a fixed length.
titan::Result<std::string> decode(std::string_view data, const Lookup& l) {
    Encoding enc = l.encoding;
    bool guessed = false;
    if (enc != Encoding::None && l.info->raw_len != 0 && !l.explicit_encoding) {
        enc = data.size() == l.info->raw_len * 2 ? Encoding::Hex : Encoding::Base64;
        guessed = true;
    }
    std::optional<std::string> raw;
    switch (enc) {
        case Encoding::None: raw = std::string(data); break;
        case Encoding::Hex:
            raw = detail::hexDecode(data);
            if (!raw && !guessed) return titan::Error::invalidInput("password data is not valid hex");
            if (!raw) raw = detail::base64Decode(data);  // some lengths fit both encodings
            if (!raw) return titan::Error::invalidInput("password data is neither hex nor base64");
            break;
        case Encoding::Base64:
            raw = detail::base64Decode(data);
            if (!raw) return titan::Error::invalidInput("password data is not valid base64");
            break;
    }
    if (l.info->raw_len != 0 && raw->size() != l.info->raw_len) {
        return titan::Error::invalidInput("password data has length " + std::to_string(raw->size()) +
                                          ", " + std::string(l.info->canonical) + " needs " +
                                          std::to_string(l.info->raw_len));
    }
    return std::move(*raw);
}

std::string encode(std::string_view raw, Encoding enc) {
    switch (enc) {
        case Encoding::None: return std::string(raw);
        case Encoding::Hex: return detail::hexEncode(raw);
        case Encoding::Base64: return detail::base64Encode(raw);
    }
    return std::string(raw);
}

titan::Result<bool> compareDigest(titan::Result<std::string> computed, std::string_view stored) {
    if (!computed) return std::move(computed).error();
    return detail::equalsConstantTime(*computed, stored);
}

// crypt(3): hash with the stored string as setting and compare the whole result.
titan::Result<bool> cryptCompare(std::string_view stored, std::string_view setting,
                                 std::string_view plain) {
    if (plain.size() >= detail::kCryptMaxPassphrase) return false;  // libxcrypt refuses it
    return compareDigest(detail::cryptHash(plain, setting), stored);
}

// Dovecot crypt_verify_blowfish(): "$2<lower-case letter>$", at least 30 characters, and
// only the first 30 used as setting.
titan::Result<bool> verifyBlowfish(std::string_view raw, std::string_view plain) {
    if (raw.size() < kBlfSettingLen || raw[0] != '$' || raw[1] != '2' || raw[2] < 'a' ||
        raw[2] > 'z' || raw[3] != '$') {
        return titan::Error::invalidInput("not a BLF-CRYPT hash");
    }
    return cryptCompare(raw, raw.substr(0, kBlfSettingLen), plain);
}

// Dovecot crypt_verify(): "$2?$" goes to the blowfish code, the rest to crypt(3).
titan::Result<bool> verifyCrypt(std::string_view raw, std::string_view plain) {
    if (raw.size() > 4 && raw[0] == '$' && raw[1] == '2' && raw[3] == '$') {
        return verifyBlowfish(raw, plain);
    }
    return cryptCompare(raw, raw, plain);
}

titan::Result<bool> verifyMd5Crypt(std::string_view raw, std::string_view plain) {
    if (!raw.starts_with("$1$")) return titan::Error::invalidInput("not an MD5-CRYPT hash");
    return cryptCompare(raw, raw, plain);
}

titan::Result<bool> verifyPlainTrunc(std::string_view raw, std::string_view plain) {
    // "<length>-<password>": the stored password may be a truncated prefix.
    size_t i = 0;
    size_t trunc_len = 0;  // saturates above raw.size(): no stored password is that long
    for (; i < raw.size() && raw[i] >= '0' && raw[i] <= '9'; ++i) {
        if (trunc_len <= raw.size()) trunc_len = trunc_len * 10 + static_cast<size_t>(raw[i] - '0');
    }
    if (i == raw.size() || raw[i] != '-') {
        return titan::Error::invalidInput("PLAIN-TRUNC data lacks the <length>- prefix");
    }
    const std::string_view stored = raw.substr(i + 1);
    if (stored.empty()) return false;  // would match every password
    if (stored.size() == trunc_len && plain.size() >= trunc_len) {
        return detail::equalsConstantTime(stored, plain.substr(0, trunc_len));
    }
    return detail::equalsConstantTime(stored, plain);
}

titan::Result<bool> verifySalted(Digest d, std::string_view raw, std::string_view plain) {
    const size_t n = detail::digestSize(d);
    if (raw.size() <= n) return titan::Error::invalidInput("salted hash too short (no salt)");
    return compareDigest(detail::digest(d, plain, raw.substr(n)), raw.substr(0, n));
}

titan::Result<bool> verifyPbkdf2(std::string_view raw, std::string_view plain) {
    // "$1$<salt>$<rounds>$<40 hex>"; the salt is used as text, not decoded.
    if (!raw.starts_with("$1$")) return titan::Error::invalidInput("PBKDF2 data lacks the $1$ prefix");
    const auto fields = base::split(raw.substr(3), '$');
    if (fields.size() != 3) return titan::Error::invalidInput("PBKDF2 data needs $1$salt$rounds$hash");
    const auto rounds = base::parseUnsigned(fields[1]);
    if (!rounds || *rounds == 0 || *rounds > 0x7fffffffULL) {
        return titan::Error::invalidInput("PBKDF2 rounds invalid");
    }
    const auto key = fields[2].size() == kPbkdf2KeyLen * 2 ? detail::hexDecode(fields[2]) : std::nullopt;
    if (!key) return titan::Error::invalidInput("PBKDF2 hash is not 40 hex digits");
    return compareDigest(
        detail::pbkdf2Sha1(plain, fields[0], static_cast<unsigned>(*rounds), kPbkdf2KeyLen), *key);
}

titan::Result<bool> verifyMd5(std::string_view raw, std::string_view plain) {
    if (raw.starts_with("$1$")) return verifyMd5Crypt(raw, plain);
    static const Lookup kPlainMd5 = *lookup("PLAIN-MD5");
    auto md5 = decode(raw, kPlainMd5);
    if (!md5) return titan::Error::invalidInput("not a valid MD5-CRYPT or PLAIN-MD5 password");
    return compareDigest(detail::digest(Digest::Md5, plain), *md5);
}

titan::Result<bool> verifyRaw(const SchemeInfo& s, std::string_view raw, std::string_view plain) {
    switch (s.kind) {
        case Kind::Plain: return detail::equalsConstantTime(raw, plain);
        case Kind::PlainTrunc: return verifyPlainTrunc(raw, plain);
        case Kind::Crypt: return verifyCrypt(raw, plain);
        case Kind::BlfCrypt: return verifyBlowfish(raw, plain);
        case Kind::Md5Crypt: return verifyMd5Crypt(raw, plain);
        case Kind::Md5: return verifyMd5(raw, plain);
        case Kind::Digest: return compareDigest(detail::digest(s.digest, plain), raw);
        case Kind::Salted: return verifySalted(s.digest, raw, plain);
        case Kind::CramMd5: return detail::equalsConstantTime(detail::cramMd5Context(plain), raw);
        case Kind::Pbkdf2: return verifyPbkdf2(raw, plain);
        case Kind::Argon2i:
        case Kind::Argon2id: return detail::argon2Verify(raw, plain);  // either variant, as Dovecot
    }
    return titan::Error::internal("unhandled password scheme");
}

titan::Result<std::string> cryptGenerate(const char* prefix, unsigned long count,
                                         std::string_view plain) {
    auto setting = detail::cryptGensalt(prefix, count);
    if (!setting) return std::move(setting).error();
    return detail::cryptHash(plain, *setting);
}

titan::Result<std::string> generateRaw(const SchemeInfo& s, std::string_view plain) {
    switch (s.kind) {
        case Kind::Plain: return std::string(plain);
        case Kind::PlainTrunc: return std::to_string(plain.size()) + "-" + std::string(plain);
        case Kind::Crypt: return cryptGenerate(s.gensalt, s.gensalt_count, plain);
        case Kind::BlfCrypt: return cryptGenerate("$2y$", kBlfCost, plain);
        case Kind::Md5Crypt:
        case Kind::Md5: return cryptGenerate("$1$", 0, plain);
        case Kind::Digest: return detail::digest(s.digest, plain);
        case Kind::Salted: {
            auto salt = detail::randomBytes(kSaltedSaltLen);
            if (!salt) return std::move(salt).error();
            auto hash = detail::digest(s.digest, plain, *salt);
            if (!hash) return std::move(hash).error();
            return *hash + *salt;
        }
        case Kind::CramMd5: return detail::cramMd5Context(plain);
        case Kind::Pbkdf2: {
            auto salt = detail::randomSaltChars(kPbkdf2SaltLen);
            if (!salt) return std::move(salt).error();
            auto key = detail::pbkdf2Sha1(plain, *salt, kPbkdf2Rounds, kPbkdf2KeyLen);
            if (!key) return std::move(key).error();
            return "$1$" + *salt + "$" + std::to_string(kPbkdf2Rounds) + "$" + detail::hexEncode(*key);
        }
        case Kind::Argon2i: return detail::argon2Generate(plain, false);
        case Kind::Argon2id: return detail::argon2Generate(plain, true);
    }
    return titan::Error::internal("unhandled password scheme");
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return out;
}

struct Split {
    std::string_view scheme;
    std::string_view data;
};

// Dovecot auth_request_set_password() + password_get_scheme(). nullopt: no usable scheme.
std::optional<Split> splitStored(std::string_view stored, std::string_view default_scheme) {
    if (stored.starts_with('{')) {
        const size_t close = stored.find('}');
        if (close == std::string_view::npos) return std::nullopt;
        return Split{stored.substr(1, close - 1), stored.substr(close + 1)};
    }
    if (!default_scheme.empty()) return Split{default_scheme, stored};
    if (stored.starts_with("$1$")) {
        // "$1$<salt>$<hash>[$<ignored>]"
        const size_t salt_end = stored.find('$', 3);
        if (salt_end != std::string_view::npos) {
            const size_t hash_end = stored.find('$', salt_end + 1);
            return Split{"MD5-CRYPT", stored.substr(0, hash_end)};
        }
    }
    return std::nullopt;
}

}  // namespace

titan::Result<bool> verify(std::string_view stored, std::string_view plain,
                           std::string_view default_scheme) {
    if (stored.empty()) return false;
    const auto split = splitStored(stored, default_scheme);
    if (!split) return titan::Error::invalidInput("stored password has no {SCHEME} prefix");
    const auto l = lookup(split->scheme);
    if (!l) return titan::Error::invalidInput("unknown password scheme '" + printable(split->scheme) + "'");
    if (split->data.empty()) return false;
    auto raw = decode(split->data, *l);
    if (!raw) return std::move(raw).error();
    if (raw->empty()) return false;
    if (plain.find('\0') != std::string_view::npos) return false;
    return verifyRaw(*l->info, *raw, plain);
}

titan::Result<std::string> generate(std::string_view scheme, std::string_view plain) {
    const auto l = lookup(scheme);
    if (!l) return titan::Error::invalidInput("unknown password scheme '" + printable(scheme) + "'");
    if (plain.find('\0') != std::string_view::npos) {
        return titan::Error::invalidInput("password contains a NUL byte");
    }
    auto raw = generateRaw(*l->info, plain);
    if (!raw) return std::move(raw).error();
    return "{" + upper(scheme) + "}" + encode(*raw, l->encoding);
}

bool isSupported(std::string_view scheme) { return lookup(scheme).has_value(); }

std::vector<std::string> supportedSchemes() {
    std::vector<std::string> out;
    for (const auto& s : kSchemes) {
        if (s.name == s.canonical) out.emplace_back(s.name);
    }
    return out;
}

std::string schemeOf(std::string_view stored, std::string_view default_scheme) {
    const auto split = splitStored(stored, default_scheme);
    return split ? upper(split->scheme) : std::string();
}

}  // namespace titan::password
