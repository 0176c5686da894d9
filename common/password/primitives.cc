#include "common/password/primitives.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>

// CRAM-MD5 stores the MD5 chaining state after one 64-byte block, which only the low-level
// MD5 API exposes; OpenSSL 3 marks that API deprecated.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <openssl/md5.h>
#pragma GCC diagnostic pop

namespace titan::password::detail {

namespace {

const EVP_MD* evpDigest(Digest d) noexcept {
    switch (d) {
        case Digest::Md5: return EVP_md5();
        case Digest::Sha1: return EVP_sha1();
        case Digest::Sha256: return EVP_sha256();
        case Digest::Sha512: return EVP_sha512();
    }
    return nullptr;
}

bool hasNul(std::string_view s) noexcept { return s.find('\0') != std::string_view::npos; }

// crypt_rn() scratch space (32 KiB): on the heap, not on worker stacks; wiped after use.
struct CryptScratch {
    std::unique_ptr<crypt_data> data = std::make_unique<crypt_data>();
    ~CryptScratch() { OPENSSL_cleanse(data.get(), sizeof(crypt_data)); }
};

titan::Status sodiumReady() {
    // sodium_init() must run before any other libsodium call; a function-local static is
    // initialised exactly once even with concurrent callers.
    static const int rc = sodium_init();
    if (rc < 0) return titan::Error::internal("sodium_init failed");
    return {};
}

void putLe32(unsigned char* p, uint32_t v) noexcept {
    p[0] = static_cast<unsigned char>(v & 0xff);
    p[1] = static_cast<unsigned char>((v >> 8) & 0xff);
    p[2] = static_cast<unsigned char>((v >> 16) & 0xff);
    p[3] = static_cast<unsigned char>((v >> 24) & 0xff);
}

}  // namespace

size_t digestSize(Digest d) noexcept {
    switch (d) {
        case Digest::Md5: return 16;
        case Digest::Sha1: return 20;
        case Digest::Sha256: return 32;
        case Digest::Sha512: return 64;
    }
    return 0;
}

titan::Result<std::string> digest(Digest d, std::string_view a, std::string_view b) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    std::string out(digestSize(d), '\0');
    unsigned int len = 0;
    if (!ctx || EVP_DigestInit_ex(ctx.get(), evpDigest(d), nullptr) != 1 ||
        EVP_DigestUpdate(ctx.get(), a.data(), a.size()) != 1 ||
        EVP_DigestUpdate(ctx.get(), b.data(), b.size()) != 1 ||
        EVP_DigestFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len) != 1 ||
        len != out.size()) {
        return titan::Error::internal("OpenSSL digest failed");
    }
    return out;
}

bool equalsConstantTime(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

titan::Result<std::string> randomBytes(size_t n) {
    std::string out(n, '\0');
    if (n > static_cast<size_t>(INT_MAX) ||
        (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)) {
        return titan::Error::internal("RAND_bytes failed");
    }
    return out;
}

titan::Result<std::string> randomSaltChars(size_t n) {
    static constexpr char kSaltChars[] =
        "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    static_assert(sizeof(kSaltChars) - 1 == 64, "64 symbols: 6 bits of a random byte each");
    auto bytes = randomBytes(n);
    if (!bytes) return std::move(bytes).error();
    std::string out = std::move(bytes).value();
    for (char& c : out) c = kSaltChars[static_cast<unsigned char>(c) & 0x3f];
    return out;
}

titan::Result<std::string> cryptHash(std::string_view plain, std::string_view setting) {
    if (plain.size() >= kCryptMaxPassphrase) return titan::Error::invalidInput("password too long for crypt");
    if (hasNul(plain) || hasNul(setting)) return titan::Error::invalidInput("NUL byte in crypt input");
    const std::string phrase(plain);
    const std::string salt(setting);
    CryptScratch scratch;
    errno = 0;
    const char* out = crypt_rn(phrase.c_str(), salt.c_str(), scratch.data.get(),
                               static_cast<int>(sizeof(crypt_data)));
    if (out == nullptr) {
        if (errno == ENOMEM) return titan::Error::internal("crypt_rn: out of memory");
        return titan::Error::invalidInput("crypt setting not accepted by libxcrypt");
    }
    return std::string(out);
}

titan::Result<std::string> cryptGensalt(const char* prefix, unsigned long count) {
    char out[CRYPT_GENSALT_OUTPUT_SIZE];
    if (crypt_gensalt_rn(prefix, count, nullptr, 0, out, static_cast<int>(sizeof(out))) == nullptr) {
        return titan::Error::internal("crypt_gensalt_rn failed");
    }
    return std::string(out);
}

titan::Result<std::string> pbkdf2Sha1(std::string_view plain, std::string_view salt,
                                      unsigned rounds, size_t key_len) {
    if (rounds == 0 || rounds > static_cast<unsigned>(INT_MAX)) {
        return titan::Error::invalidInput("PBKDF2 rounds out of range");
    }
    if (plain.size() > static_cast<size_t>(INT_MAX) || salt.size() > static_cast<size_t>(INT_MAX) ||
        key_len > static_cast<size_t>(INT_MAX)) {
        return titan::Error::invalidInput("PBKDF2 input too long");
    }
    std::string out(key_len, '\0');
    const char* pw = plain.empty() ? "" : plain.data();
    if (PKCS5_PBKDF2_HMAC_SHA1(pw, static_cast<int>(plain.size()),
                               reinterpret_cast<const unsigned char*>(salt.empty() ? "" : salt.data()),
                               static_cast<int>(salt.size()), static_cast<int>(rounds),
                               static_cast<int>(key_len),
                               reinterpret_cast<unsigned char*>(out.data())) != 1) {
        return titan::Error::internal("PKCS5_PBKDF2_HMAC_SHA1 failed");
    }
    return out;
}

std::string cramMd5Context(std::string_view key) {
    constexpr size_t kBlock = 64;
    unsigned char k[kBlock] = {};
    if (key.size() > kBlock) {
        // RFC 2104: keys longer than the block are hashed first.
        EVP_Digest(key.data(), key.size(), k, nullptr, EVP_md5(), nullptr);
    } else if (!key.empty()) {
        std::memcpy(k, key.data(), key.size());
    }
    unsigned char ipad[kBlock];
    unsigned char opad[kBlock];
    for (size_t i = 0; i < kBlock; ++i) {
        ipad[i] = static_cast<unsigned char>(k[i] ^ 0x36);
        opad[i] = static_cast<unsigned char>(k[i] ^ 0x5c);
    }

    unsigned char out[32];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    MD5_CTX inner;
    MD5_CTX outer;
    MD5_Init(&outer);
    MD5_Update(&outer, opad, kBlock);
    MD5_Init(&inner);
    MD5_Update(&inner, ipad, kBlock);
    const uint32_t words[8] = {outer.A, outer.B, outer.C, outer.D,
                               inner.A, inner.B, inner.C, inner.D};
    OPENSSL_cleanse(&inner, sizeof(inner));
    OPENSSL_cleanse(&outer, sizeof(outer));
#pragma GCC diagnostic pop
    for (size_t i = 0; i < 8; ++i) putLe32(out + 4 * i, words[i]);

    std::string result(reinterpret_cast<const char*>(out), sizeof(out));
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(ipad, sizeof(ipad));
    OPENSSL_cleanse(opad, sizeof(opad));
    return result;
}

titan::Result<bool> argon2Verify(std::string_view encoded, std::string_view plain) {
    if (auto st = sodiumReady(); !st) return std::move(st).error();
    const bool argon2id = encoded.starts_with(crypto_pwhash_argon2id_STRPREFIX);
    const bool argon2i = encoded.starts_with(crypto_pwhash_argon2i_STRPREFIX);
    if ((!argon2id && !argon2i) || hasNul(encoded)) {
        return titan::Error::invalidInput("not an Argon2 hash");
    }
    const std::string str(encoded);
    // crypto_pwhash_str_verify() answers -1 for a mismatch and for garbage alike;
    // crypto_pwhash_str_needs_rehash() parses without hashing and answers -1 only for garbage.
    if (crypto_pwhash_str_needs_rehash(str.c_str(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                       crypto_pwhash_MEMLIMIT_INTERACTIVE) < 0) {
        return titan::Error::invalidInput("malformed Argon2 hash");
    }
    const char* pw = plain.empty() ? "" : plain.data();
    return crypto_pwhash_str_verify(str.c_str(), pw, plain.size()) == 0;
}

titan::Result<std::string> argon2Generate(std::string_view plain, bool argon2id) {
    if (auto st = sodiumReady(); !st) return std::move(st).error();
    char out[crypto_pwhash_STRBYTES] = {};
    unsigned long long ops;
    size_t mem;
    int alg;
    if (argon2id) {
        ops = std::max<unsigned long long>(crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE, 3);
        mem = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
        alg = crypto_pwhash_ALG_ARGON2ID13;
    } else {
        ops = crypto_pwhash_argon2i_OPSLIMIT_INTERACTIVE;
        mem = crypto_pwhash_argon2i_MEMLIMIT_INTERACTIVE;
        alg = crypto_pwhash_ALG_ARGON2I13;
    }
    const char* pw = plain.empty() ? "" : plain.data();
    if (crypto_pwhash_str_alg(out, pw, plain.size(), ops, mem, alg) != 0) {
        return titan::Error::internal("crypto_pwhash_str_alg failed");
    }
    return std::string(out);
}

}  // namespace titan::password::detail
