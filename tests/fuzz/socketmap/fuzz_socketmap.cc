// Fuzz target for the Postfix socketmap codec (common/proto/socketmap). The input is a
// byte stream as a socketmap server or client would read it: it is cut into netstrings
// (default and tiny limits), each payload is parsed as a request and as a reply, and
// whatever parses is re-encoded and must parse back to the same value. Feeding the
// same bytes one at a time must give the same frames and the same final state.
// Layer: tests (links titan_proto only).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/proto/socketmap/socketmap.h"

namespace {

using namespace titan::proto::socketmap;

#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                 \
        }                                                                                 \
    } while (0)

const Limits kDefaultLimits{};
const Limits kTinyLimits{4, 8};

enum class End { NeedMore, TooLong, Malformed };

End endOf(const FrameResult& r) {
    if (std::holds_alternative<TooLong>(r)) return End::TooLong;
    if (std::holds_alternative<Malformed>(r)) return End::Malformed;
    return End::NeedMore;
}

// Cuts `input` into frames, checking the framer's contract on each call.
std::vector<std::string_view> frame(std::string_view input, std::size_t max, End* end) {
    std::vector<std::string_view> frames;
    std::string_view rest = input;
    for (;;) {
        const auto r = nextNetstring(rest, max);
        if (const auto* n = std::get_if<Netstring>(&r)) {
            FUZZ_CHECK(n->payload.size() <= max);
            FUZZ_CHECK(n->consumed <= rest.size() && n->consumed > n->payload.size() + 2);
            FUZZ_CHECK(rest[n->consumed - 1] == ',');
            FUZZ_CHECK(n->payload.data() + n->payload.size() == rest.data() + n->consumed - 1);
            // Re-encoding gives the canonical frame for the same payload.
            const std::string again = encodeNetstring(n->payload);
            const auto r2 = nextNetstring(again, max);
            FUZZ_CHECK(std::holds_alternative<Netstring>(r2));
            FUZZ_CHECK(std::get<Netstring>(r2).payload == n->payload);
            FUZZ_CHECK(std::get<Netstring>(r2).consumed == again.size());
            frames.push_back(n->payload);
            rest.remove_prefix(n->consumed);
            continue;
        }
        if (std::holds_alternative<NeedMore>(r)) {
            // Never asks for more than one bounded frame.
            FUZZ_CHECK(rest.size() <= kMaxLengthDigits + 1 + max + 1);
        } else if (const auto* t = std::get_if<TooLong>(&r)) {
            FUZZ_CHECK(t->limit == max);
        } else {
            FUZZ_CHECK(!std::get<Malformed>(r).reason.empty());
        }
        *end = endOf(r);
        return frames;
    }
}

void checkIncremental(std::string_view input, std::size_t max, const std::vector<std::string_view>& want,
                      End want_end) {
    std::vector<std::string> got;
    std::string buffer;
    End end = End::NeedMore;
    for (char c : input) {
        buffer += c;
        for (;;) {
            const auto r = nextNetstring(buffer, max);
            if (const auto* n = std::get_if<Netstring>(&r)) {
                got.emplace_back(n->payload);
                buffer.erase(0, n->consumed);
                continue;
            }
            end = endOf(r);
            break;
        }
        if (end != End::NeedMore) break;
    }
    FUZZ_CHECK(end == want_end);
    FUZZ_CHECK(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) FUZZ_CHECK(got[i] == want[i]);
}

void checkRequest(std::string_view payload) {
    const auto r = parseRequest(payload, kDefaultLimits);
    const auto tiny = parseRequest(payload, kTinyLimits);
    if (const auto* req = std::get_if<Request>(&r)) {
        FUZZ_CHECK(!req->name.empty() && req->name.size() <= kDefaultLimits.max_name_bytes);
        FUZZ_CHECK(req->key.size() <= kDefaultLimits.max_key_bytes);
        FUZZ_CHECK(req->name.size() + 1 + req->key.size() == payload.size());
        const std::string wire = encodeRequest(req->name, req->key);
        const auto framed = nextNetstring(wire, maxRequestBytes(kDefaultLimits));
        FUZZ_CHECK(std::holds_alternative<Netstring>(framed));
        const auto again = parseRequest(std::get<Netstring>(framed).payload, kDefaultLimits);
        FUZZ_CHECK(std::holds_alternative<Request>(again));
        FUZZ_CHECK(std::get<Request>(again) == *req);
        // Tighter limits can only refuse more, never parse differently.
        if (const auto* small = std::get_if<Request>(&tiny)) FUZZ_CHECK(*small == *req);
    } else {
        FUZZ_CHECK(!std::get<ProtocolError>(r).reason.empty());
        FUZZ_CHECK(std::holds_alternative<ProtocolError>(tiny));
    }
}

void checkReply(std::string_view payload) {
    const Reply reply = parseReply(payload);
    std::string wire;
    switch (reply.status) {
        case Status::Ok: wire = encodeOk(reply.text); break;
        case Status::NotFound: wire = encodeNotFound(); break;
        case Status::Temp: wire = encodeTemp(reply.text); break;
        case Status::Perm: wire = encodePerm(reply.text); break;
        case Status::Unknown: FUZZ_CHECK(reply.text == payload); return;
    }
    FUZZ_CHECK(statusName(reply.status)[0] != '\0');
    const auto framed = nextNetstring(wire, payload.size() + 16);
    FUZZ_CHECK(std::holds_alternative<Netstring>(framed));
    FUZZ_CHECK(parseReply(std::get<Netstring>(framed).payload) == reply);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t limits[] = {maxRequestBytes(kDefaultLimits), 8, 0};
    std::vector<std::string_view> frames;
    for (std::size_t max : limits) {
        End end = End::NeedMore;
        auto got = frame(input, max, &end);
        if (size <= 2048) checkIncremental(input, max, got, end);
        if (max == limits[0]) frames = std::move(got);
    }
    for (std::string_view payload : frames) {
        checkRequest(payload);
        checkReply(payload);
    }
    checkRequest(input);
    checkReply(input);
    return 0;
}
