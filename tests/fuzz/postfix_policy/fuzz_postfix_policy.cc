// Fuzz target for the Postfix policy delegation codec (common/proto/postfix_policy). The
// input is a byte stream as titan-policyd reads it from Postfix: it is decoded in one piece,
// in two pieces split in the middle and line by line, with default and tiny limits; all
// must agree. Every decoded request is re-encoded and must decode to itself; the typed
// view must round-trip through toRequest; the same bytes are also read as replies.
// Layer: tests (links titan_proto only).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/proto/postfix_policy/policy.h"

namespace {

using namespace titan::proto::policy;

#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                 \
        }                                                                                 \
    } while (0)

struct Outcome {
    std::vector<Request> requests;
    bool failed = false;
    bool operator==(const Outcome&) const = default;
};

Outcome decodeChunks(const std::vector<std::string_view>& chunks, const PolicyLimits& limits) {
    Decoder d(limits);
    Outcome out;
    for (auto chunk : chunks) {
        d.append(chunk);
        while (!out.failed) {
            DecodeResult r = d.next();
            if (std::holds_alternative<NeedMore>(r)) break;
            if (std::holds_alternative<ProtocolError>(r)) {
                out.failed = true;
                break;
            }
            out.requests.push_back(std::get<Request>(std::move(r)));
        }
    }
    return out;
}

void checkRequest(const Request& r, const PolicyLimits& limits) {
    // Re-encoding gives the same request back (names/values never hold NUL or LF).
    const std::string wire = encodeRequest(r);
    Decoder d(limits);
    d.append(wire);
    DecodeResult back = d.next();
    FUZZ_CHECK(std::holds_alternative<Request>(back));
    FUZZ_CHECK(std::get<Request>(back) == r);
    auto typed = parseRequest(r);
    if (auto* p = std::get_if<PolicyRequest>(&typed)) {
        auto again = parseRequest(toRequest(*p));
        FUZZ_CHECK(std::holds_alternative<PolicyRequest>(again));
        FUZZ_CHECK(std::get<PolicyRequest>(again) == *p);
    }
    // Any value as an action yields exactly one reply carrying it.
    const std::string reply = encodeReply(r.get("sender"));
    std::size_t consumed = 0;
    auto decoded = decodeReply(reply, &consumed);
    FUZZ_CHECK(std::holds_alternative<Reply>(decoded));
    FUZZ_CHECK(consumed == reply.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const PolicyLimits limits_list[] = {PolicyLimits{}, PolicyLimits{24, 6, 4, 64}};
    for (const auto& limits : limits_list) {
        const Outcome whole = decodeChunks({input}, limits);
        const std::size_t mid = size / 2;
        FUZZ_CHECK(decodeChunks({input.substr(0, mid), input.substr(mid)}, limits) == whole);
        if (size <= 512) {
            std::vector<std::string_view> bytes;
            for (std::size_t i = 0; i < size; ++i) bytes.push_back(input.substr(i, 1));
            FUZZ_CHECK(decodeChunks(bytes, limits) == whole);
        }
        for (const auto& r : whole.requests) checkRequest(r, limits);
    }
    std::size_t consumed = 0;
    auto reply = decodeReply(input, &consumed);
    if (std::holds_alternative<Reply>(reply)) FUZZ_CHECK(consumed <= size && consumed > 0);
    return 0;
}
