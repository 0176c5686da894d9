// Greylisting decisions over one stored triplet (client network, sender key, recipient key)
// and the client network's auto-allow record. Pure: `now` (ms since the epoch) is a
// parameter; the store reads and writes the states atomically around these calls.
// Layer: policyd/core.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace titan::policyd::core {

struct GreylistParams {
    std::chrono::milliseconds delay{std::chrono::minutes(5)};         // first retry accepted after this
    std::chrono::milliseconds retry_window{std::chrono::hours(48)};   // ...and before first_seen + this
    std::chrono::milliseconds expire{std::chrono::hours(24 * 35)};    // a passed triplet is forgotten
                                                                      // after this long unseen
    std::uint32_t auto_allow_after = 5;  // passed triplets that allow-list the network (0: never)
    std::chrono::milliseconds auto_allow_ttl{std::chrono::hours(24 * 35)};
};

struct TripletState {
    std::int64_t first_seen = 0;
    std::int64_t last_seen = 0;
    std::int64_t passed_at = 0;  // 0: never passed
    std::uint32_t attempts = 0;
    bool operator==(const TripletState&) const = default;
};

struct ClientState {
    std::uint32_t passes = 0;        // triplets from this network that passed
    std::int64_t allowed_until = 0;  // auto-allow-listed until (ms); 0: not
    bool operator==(const ClientState&) const = default;
};

enum class GreylistVerdict {
    Defer,        // first attempt, retry too early, or too late (restarted)
    Pass,         // the triplet passed (now or before)
    AutoAllowed,  // the network is auto-allow-listed
};

struct GreylistDecision {
    GreylistVerdict verdict = GreylistVerdict::Defer;
    const char* reason = "new";   // new, early, restarted, retry, known, auto_allowed
    TripletState triplet;         // state to store (unchanged for AutoAllowed)
    bool write_triplet = true;
    bool first_pass = false;      // this request is the triplet's first pass
    std::chrono::milliseconds retry_in{0};  // Defer: time left until a retry passes
};

// Decides one RCPT. `triplet` is the stored state (nullopt: none). A state unseen for
// longer than `expire`, or never passed and older than delay + retry_window, starts over.
GreylistDecision decideGreylist(const GreylistParams& params, const std::optional<TripletState>& triplet,
                                const ClientState& client, std::int64_t now);

// The client record after one triplet's first pass: counts it, and allow-lists the
// network for auto_allow_ttl once auto_allow_after passes are reached.
ClientState recordPass(const GreylistParams& params, ClientState client, std::int64_t now);

}  // namespace titan::policyd::core
