// titan-bench --hash-rate: how many password hashes this machine verifies per second,
// the ceiling for SASL authentications (a PLAIN login costs one verification). N
// threads, each verifying the same stored hash in a loop for a fixed time, either with
// libxcrypt's crypt_rn() directly (the raw rate: crypt(3) schemes only) or through
// titan::password::verify(), which titan-authd's hashing pool calls. No sockets.
// Layer: tests/bench (titan_password, libxcrypt).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/base/result.h"

namespace titan::bench {

enum class HashApi { Crypt, Verify };

struct HashRateOptions {
    // "{SCHEME}data" as stored in mailboxes.password_hash, or a bare crypt string
    // ("$6$..."). Empty: a fresh {SHA512-CRYPT} hash of `password` with Dovecot's
    // defaults (5000 rounds), as titanctl password hash makes it.
    std::string stored;
    std::string password = "bench-password";
    std::size_t threads = 2;
    double duration_s = 5;
    HashApi api = HashApi::Crypt;
};

struct HashRateResult {
    std::string stored;            // the hash verified
    std::string scheme;            // e.g. "SHA512-CRYPT"
    std::uint64_t verified = 0;    // verifications that matched, in the window
    std::uint64_t mismatches = 0;  // must stay 0: the password does not match the hash
    std::vector<std::uint64_t> per_thread;
    double elapsed_s = 0;
    double cpu_s = 0;  // user + system time of this process in the window
};

// Limits: 1..256 threads, 0.01..3600 s. InvalidInput: a hash crypt_rn() does not take
// (HashApi::Crypt), or that does not match `password` at all.
Result<HashRateResult> measureHashRate(const HashRateOptions& options);

}  // namespace titan::bench
