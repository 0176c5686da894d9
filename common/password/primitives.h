// Thin wrappers over libxcrypt, libsodium and OpenSSL for the password schemes: digests,
// randomness, crypt(3), PBKDF2-HMAC-SHA1, Argon2 and the CRAM-MD5 HMAC context export.
// Knows nothing about "{SCHEME}" strings or encodings (see password.cc, encoding.h).
// Internal to common/password. Layer: common/password. All functions are thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/base/result.h"

namespace titan::password::detail {

enum class Digest { Md5, Sha1, Sha256, Sha512 };

// Output size in bytes: 16, 20, 32, 64.
size_t digestSize(Digest d) noexcept;

// H(a || b).
titan::Result<std::string> digest(Digest d, std::string_view a, std::string_view b = {});

// Same size and same bytes, in time independent of the content (CRYPTO_memcmp).
bool equalsConstantTime(std::string_view a, std::string_view b) noexcept;

// `n` bytes from the OpenSSL CSPRNG.
titan::Result<std::string> randomBytes(size_t n);

// `n` characters from "./0-9A-Za-z" (Dovecot's salt alphabet), uniformly distributed.
titan::Result<std::string> randomSaltChars(size_t n);

// libxcrypt refuses passphrases of this many bytes or more.
inline constexpr size_t kCryptMaxPassphrase = 512;

// crypt(3) via crypt_rn(): hash `plain` with `setting` (a salt string or a whole stored
// hash). InvalidInput when libxcrypt rejects the setting, `plain` is too long, or either
// contains a NUL byte.
titan::Result<std::string> cryptHash(std::string_view plain, std::string_view setting);

// crypt_gensalt_rn() with libxcrypt's own entropy: prefix "$1$", "$5$", "$6$", "$2y$" or ""
// (DES); `count` 0 means the method's default.
titan::Result<std::string> cryptGensalt(const char* prefix, unsigned long count);

// PBKDF2-HMAC-SHA1 with `rounds` >= 1, `key_len` bytes of output.
titan::Result<std::string> pbkdf2Sha1(std::string_view plain, std::string_view salt,
                                      unsigned rounds, size_t key_len);

// The 32-byte CRAM-MD5 context of HMAC-MD5 keyed with `key`: MD5 state words a,b,c,d
// (little-endian) after the outer pad block, then after the inner pad block.
std::string cramMd5Context(std::string_view key);

// libsodium crypto_pwhash_str_verify() of a "$argon2i$..."/"$argon2id$..." string.
// InvalidInput when the string is not a well-formed Argon2 hash that libsodium accepts.
titan::Result<bool> argon2Verify(std::string_view encoded, std::string_view plain);

// crypto_pwhash_str_alg() with the libsodium "interactive" limits (Argon2id: t >= 3, as
// Dovecot works around libsodium 1.0.13).
titan::Result<std::string> argon2Generate(std::string_view plain, bool argon2id);

}  // namespace titan::password::detail
