// Dovecot 2.3 compatible password schemes: verify a stored "{SCHEME}data" hash against a
// plaintext and generate new hashes the way `doveadm pw` does (protocols.md section 8).
// Does not fetch passwords, rate-limit, or know about users; DIGEST-MD5, SCRAM-*, OTP and
// PLAIN-MD4 are not supported (they are InvalidInput "unknown scheme").
// Layer: common/password (base + libxcrypt, libsodium, OpenSSL). All functions are thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"

namespace titan::password {

// Verify `plain` against `stored`.
// * `stored` is "{SCHEME}data"; without a "{...}" prefix `default_scheme` is used, as Dovecot
//   prepends default_pass_scheme. With an empty `default_scheme`, a bare "$1$..." string is
//   MD5-CRYPT (Dovecot's password_get_scheme()); anything else is InvalidInput.
// * Scheme names are case-insensitive; a ".b64"/".base64"/".hex" suffix forces the data
//   encoding. Binary schemes with a fixed length guess hex vs base64 from the length.
// * Returns true on match, false on mismatch. An empty `stored`, or empty data after the
//   prefix (or a PLAIN-TRUNC "0-"), never matches (false). A `plain` containing a NUL byte
//   never matches (Dovecot handles passwords as C strings). DES-CRYPT uses 8 characters and
//   bcrypt 72 bytes of `plain`, as crypt(3) does.
// * InvalidInput: unknown scheme or suffix, "{" without "}", data that does not decode or
//   does not have the scheme's format. Internal: a library call failed unexpectedly.
// * Comparisons of secret-derived bytes are constant time (CRYPTO_memcmp).
titan::Result<bool> verify(std::string_view stored, std::string_view plain,
                           std::string_view default_scheme = "PLAIN");

// Generate "{SCHEME}data" for `plain` with fresh random salt and Dovecot's generation
// defaults: SHA256/512-CRYPT 5000 rounds (not written) with a 16-char salt, BLF-CRYPT
// "$2y$" cost 5, MD5-CRYPT 8-char salt, PBKDF2 5000 rounds with a 16-char salt, SSHA*/SMD5
// 4-byte salt, ARGON2I/ARGON2ID libsodium "interactive" limits (ARGON2ID with t=3, as
// Dovecot). CRYPT and MD5 generate BLF-CRYPT and MD5-CRYPT data, as Dovecot does;
// PLAIN-TRUNC writes "<len>-<password>". The prefix is `scheme` upper-cased as given (an
// encoding suffix is honoured and kept). InvalidInput: unknown scheme, `plain` contains a
// NUL byte, or is 512 bytes or longer for a crypt(3) scheme. Internal: no randomness or a
// library failure.
titan::Result<std::string> generate(std::string_view scheme, std::string_view plain);

// True when `scheme` (case-insensitive, alias or canonical, optional encoding suffix) can be
// used with verify() and generate().
bool isSupported(std::string_view scheme);

// Canonical names of all supported schemes (aliases such as CLEAR, SHA1, HMAC-MD5 omitted),
// in a stable order.
std::vector<std::string> supportedSchemes();

// The scheme `stored` would be verified with, upper-cased as written (no alias resolution,
// an encoding suffix is kept, e.g. "SHA256.HEX"). Without a "{...}" prefix: upper-cased
// `default_scheme`; if that is empty, "MD5-CRYPT" for a "$1$" string, else "". A "{" without
// "}" gives "". Does not check that the scheme is supported.
std::string schemeOf(std::string_view stored, std::string_view default_scheme);

}  // namespace titan::password
