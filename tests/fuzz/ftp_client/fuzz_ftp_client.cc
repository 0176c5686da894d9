// Fuzz target for mod_titan's reader of titan-authd answers (contrib/proftpd/
// titan_client.c): the input is taken as an HTTP response and as a JSON body. Checks:
// the HTTP parser's verdict on every prefix is consistent with the whole; the JSON reader
// stays inside its buffers, never returns more members than asked, and a string the
// module encodes reads back to the same bytes. Layer: tests (links titan_proftpd_client).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "titan_client.h"

#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                 \
        }                                                                                 \
    } while (0)

namespace {

void checkHttp(const char* data, size_t size) {
    int status = 0;
    size_t off = 0, len = 0;
    int whole = titan_http_parse(data, size, 1, &status, &off, &len);
    FUZZ_CHECK(whole == 0 || whole == -1);
    if (whole == 0) {
        FUZZ_CHECK(status >= 100 && status <= 599);
        FUZZ_CHECK(off <= size && len <= size - off);
    }
    int open = titan_http_parse(data, size, 0, &status, &off, &len);
    FUZZ_CHECK(open == 0 || open == 1 || open == -1);
    if (open == 0) FUZZ_CHECK(off + len <= size);
}

void checkJson(const char* data, size_t size) {
    std::vector<titan_member> members(TITAN_MAX_MEMBERS);
    for (size_t store_len : {size_t{16}, size + 1, size * 4 + 64}) {
        std::vector<char> store(store_len);
        int n = titan_json_parse_object(data, size, members.data(), TITAN_MAX_MEMBERS, store.data(), store.size());
        FUZZ_CHECK(n >= -1 && n <= TITAN_MAX_MEMBERS);
        for (int i = 0; i < n; ++i) {
            for (const char* s : {members[static_cast<size_t>(i)].key, members[static_cast<size_t>(i)].value}) {
                FUZZ_CHECK(s >= store.data() && s < store.data() + store.size());
                FUZZ_CHECK(std::memchr(s, 0, static_cast<size_t>(store.data() + store.size() - s)) != nullptr);
            }
        }
    }
}

// Encode the input as a JSON string (as mod_titan builds request bodies) and read it back.
void checkRoundTrip(const char* data, size_t size) {
    if (size > 512 || std::memchr(data, 0, size) != nullptr) return;  // NUL: refused by design
    std::vector<char> buf(size * 6 + 16);
    titan_buf b;
    titan_buf_init(&b, buf.data(), buf.size());
    titan_buf_adds(&b, "{\"k\":");
    titan_buf_json_string(&b, data, size);
    titan_buf_adds(&b, "}");
    FUZZ_CHECK(!b.failed);
    std::vector<titan_member> members(2);
    std::vector<char> store(size + 8);
    int n = titan_json_parse_object(b.data, b.len, members.data(), 2, store.data(), store.size());
    FUZZ_CHECK(n == 1);
    FUZZ_CHECK(std::strlen(members[0].value) == size && std::memcmp(members[0].value, data, size) == 0);
    (void)titan_utf8_valid(data, size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
    const char* data = reinterpret_cast<const char*>(bytes);
    checkHttp(data, size);
    checkJson(data, size);
    checkRoundTrip(data, size);
    return 0;
}
