// Quota usage accounting, the pure heart of titan-quotad: the two dict keys Dovecot's quota
// plugin uses, the writes of one dict transaction, and how a batch of committed
// transactions changes the stored rows (signed increments that never wrap and clamp at 0,
// "not found" for an increment of an unset value, warning thresholds crossed).
// No I/O, no clock, no logging: the store runs applyBatch() inside its database
// transaction and the glue logs and counts what it reports. Layer: quotad/core (base only).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace titan::quotad::core {

// The two usage counters of a mailbox, as Dovecot's quota `dict` backend and quota_clone
// name them: priv/quota/storage (bytes) and priv/quota/messages (message count).
enum class Resource : std::uint8_t { Storage = 0, Messages = 1 };
inline constexpr std::size_t kResourceCount = 2;
inline constexpr std::array<Resource, kResourceCount> kResources = {Resource::Storage, Resource::Messages};

inline constexpr std::string_view kStorageKey = "priv/quota/storage";
inline constexpr std::string_view kMessagesKey = "priv/quota/messages";

// The resource a dict key names, or nullopt for every other key (exact match, case
// sensitive, as Dovecot sends them).
std::optional<Resource> parseQuotaKey(std::string_view key) noexcept;
std::string_view quotaKey(Resource r) noexcept;
// "storage" / "messages", for logs, metrics and warning commands.
const char* resourceName(Resource r) noexcept;

// Stored usage of one user. nullopt = unset: Dovecot has to recount (a lookup answers N).
struct Usage {
    std::array<std::optional<std::int64_t>, kResourceCount> value{};

    std::optional<std::int64_t>& operator[](Resource r) { return value[static_cast<std::size_t>(r)]; }
    const std::optional<std::int64_t>& operator[](Resource r) const {
        return value[static_cast<std::size_t>(r)];
    }
    bool operator==(const Usage&) const = default;
};

// One write of a dict transaction (S, U or A; T carries nothing we store).
struct Op {
    enum class Kind : std::uint8_t { Set, Unset, Inc };
    Kind kind = Kind::Inc;
    Resource resource = Resource::Storage;
    std::int64_t value = 0;  // Set: the new value; Inc: the signed difference; Unset: unused
    bool operator==(const Op&) const = default;
};

// One committed dict transaction: the user of its B line (canonical) and its writes in order.
struct CommitRequest {
    std::string user;
    std::vector<Op> ops;
};

// The stored state of one user: usage plus, per resource, how many warning thresholds are
// currently reached (so a threshold fires once per crossing, whichever node commits).
struct Row {
    Usage usage;
    std::array<std::uint8_t, kResourceCount> warn_level{};
    bool operator==(const Row&) const = default;
};

// The mailbox's limits (mailboxes.quota_bytes / quota_messages); 0 = unlimited.
struct Limits {
    std::uint64_t bytes = 0;
    std::uint64_t messages = 0;
    std::uint64_t of(Resource r) const noexcept { return r == Resource::Storage ? bytes : messages; }
    bool operator==(const Limits&) const = default;
};

// A warning threshold: `percent` of the resource's limit (1..1000).
struct Threshold {
    Resource resource = Resource::Storage;
    std::uint32_t percent = 100;
    bool operator==(const Threshold&) const = default;
};

// Thresholds sorted per resource (ascending percent); index = position in `all`.
class WarningRules {
public:
    WarningRules() = default;
    // Keeps the given order for indexes (the config's order); duplicates are allowed.
    explicit WarningRules(std::vector<Threshold> thresholds);
    bool empty() const noexcept { return all_.empty(); }
    const std::vector<Threshold>& all() const noexcept { return all_; }
    // How many thresholds of `r` a usage of `used` reaches under `limit` (0 when the
    // limit is 0 = unlimited). Exact integer arithmetic, no overflow.
    std::uint8_t levelOf(Resource r, std::int64_t used, std::uint64_t limit) const noexcept;
    // The index (into all()) of the level-th lowest threshold of `r` (level >= 1).
    std::size_t indexOf(Resource r, std::uint8_t level) const noexcept;

private:
    std::vector<Threshold> all_;
    std::array<std::vector<std::size_t>, kResourceCount> sorted_;  // indexes, ascending percent
};

enum class CommitStatus : std::uint8_t {
    Ok,        // applied
    NotFound,  // applied, but an increment met an unset value (the dict `N` reply: recount)
};

// A threshold reached by a commit: the row's level rose and the usage was known before.
struct WarningEvent {
    std::string user;
    Resource resource = Resource::Storage;
    std::size_t threshold = 0;  // index into WarningRules::all()
    std::int64_t used = 0;
    std::uint64_t limit = 0;
    bool operator==(const WarningEvent&) const = default;
};

// A value that would have gone below 0 (or a negative Set) and was stored as 0.
struct ClampEvent {
    std::string user;
    Resource resource = Resource::Storage;
    std::int64_t attempted = 0;  // the negative result (saturated at INT64_MIN)
    bool operator==(const ClampEvent&) const = default;
};

struct BatchResult {
    std::vector<CommitStatus> statuses;      // one per commit, in order
    std::map<std::string, Row> changed;      // rows to write back (final state)
    std::vector<WarningEvent> warnings;
    std::vector<ClampEvent> clamps;
};

// Applies `batch` in order to `current` (the stored rows of the batch's users; a user
// without an entry has no row). Rules, per op:
//   Set v    -> value = max(v, 0)                       (v < 0 is clamped and reported)
//   Unset    -> value = unset
//   Inc d    -> unset value: stays unset, the commit's status becomes NotFound (the dict
//               protocol's answer that makes Dovecot recount); known value: value + d,
//               saturating at INT64_MAX, and clamped to 0 (reported) below zero.
// A commit whose ops change nothing still reports Ok. After each commit, for each
// resource with rules: level = rules.levelOf(new value, limit); if it rose and the value
// was known before the commit, one WarningEvent for the highest threshold now reached;
// the row stores the new level either way (an unset value keeps the stored level).
// `limits` may lack users (treated as unlimited).
BatchResult applyBatch(const std::vector<CommitRequest>& batch, const std::map<std::string, Row>& current,
                       const std::map<std::string, Limits>& limits, const WarningRules& rules);

}  // namespace titan::quotad::core
