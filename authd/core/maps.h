// What authd answers for Postfix's lookup tables (served over socketmap): the rules of
// the domains, mailboxes, aliases and senders maps, as pure functions over "facts"
// (database rows about one key). A resolver names the facts it still needs or gives the
// final answer; the service fetches facts (cache, store) and calls it again. No I/O,
// no clock, no logging. Layer: authd/core.
//
// Keys are canonicalised with common/identity (domain lower-case + IDNA, local part per
// policy). Postfix sends socketmap tables only the full key (no user@domain after
// user+ext@domain, no @domain, no parent domains), so the detail and catch-all steps
// below are done here. The rules:
//
//   domains   D        OK D when D is an active domain or an active alias domain (of an
//                      active domain).
//   mailboxes A        OK <mailbox> when A, or A without its detail (user+ext@d -> user@d),
//                      is an active mailbox of an active domain.
//   aliases   A        local domain: the destinations of the alias A; else of A without its
//                      detail (the detail is then appended to each destination, as Postfix's
//                      propagate_unmatched_extensions=virtual does; configurable); else, when
//                      the domain has a catch-all (@d), A itself if A is a mailbox (so the
//                      catch-all does not swallow real mailboxes), otherwise the catch-all's
//                      destinations. Alias domain a -> t: the aliases of local@a (as
//                      above); else local@t when local@t resolves in t (alias, mailbox or
//                      catch-all; Postfix then expands local@t); else the catch-all @a.
//                      Destinations are joined with ','.
//   senders   A        the SASL logins allowed to use A as MAIL FROM
//                      (smtpd_sender_login_maps): the mailbox A (or A without detail); the
//                      mailboxes an exact alias A delivers to directly (one level, catch-alls
//                      never grant); logins granted in the sender_logins table for A, A
//                      without detail, or @domain. For an alias domain address, the same
//                      rules apply to its rewrite in the target domain, plus explicit grants
//                      on the alias-domain address. Joined with ','; NOTFOUND when nobody.
//
// Outage rule: facts may come from cache entries past their TTL while the database fails
// (stale-if-error). A "not found" about a domain is trusted even when stale; a NOTFOUND
// answer that rests on stale "not found" facts about addresses is `uncertain` (the
// server then answers TEMP), except an aliases NOTFOUND for an address known to be a
// mailbox, which is the normal answer for a mailbox.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/base/result.h"
#include "common/identity/identity.h"

namespace titan::authd::core::maps {

enum class MapKind { Domains, Mailboxes, Aliases, Senders };
inline constexpr int kMapKindCount = 4;
const char* mapKindName(MapKind kind) noexcept;  // "domains", "mailboxes", "aliases", "senders"

// One kind of database fact; each is fetched by one key.
enum class FactKind {
    Domain,        // key: canonical domain. {""}: active local domain; {"t"}: alias domain of t
    Mailbox,       // key: canonical address. {username}: an active mailbox of an active domain
    Aliases,       // key: canonical address or "@domain". The active destinations, in order
    SenderLogins,  // key: canonical address or "@domain". Logins granted in sender_logins
};
const char* factKindName(FactKind kind) noexcept;

// A fact's value: nullopt when there is no such row.
using FactValue = std::optional<std::vector<std::string>>;

struct FactKey {
    FactKind kind = FactKind::Domain;
    std::string key;
    bool operator==(const FactKey&) const = default;
};

// "<kind letter>:<key>", unique per fact (cache and coalescing key).
std::string factCacheKey(FactKind kind, std::string_view key);

struct Settings {
    identity::Options identity;
    // Characters that start an address extension (Postfix recipient_delimiter; any of
    // them, first occurrence). Empty: no detail handling.
    std::string recipient_delimiter = "+";
    // Append the unmatched detail to destinations found through the detail-less alias.
    bool propagate_detail = true;
    // Alias destinations checked for ownership in the senders map.
    size_t max_owner_checks = 50;
};

// A canonical address, split. base is the address without its detail ("" when the
// local part has no delimiter after its first byte); detail includes the delimiter.
struct Address {
    std::string full;
    std::string local;
    std::string domain;
    std::string base;
    std::string detail;
    bool operator==(const Address&) const = default;
};

// Canonicalise an address key. InvalidInput as identity::canonicalUser.
Result<Address> parseAddress(std::string_view raw, const Settings& settings);

// A parsed request. A key that cannot be canonicalised is answered NOTFOUND at once.
struct Query {
    MapKind map = MapKind::Domains;
    std::string domain;  // Domains: canonical domain
    Address address;     // other maps
};

struct Answer {
    bool found = false;
    std::string data;        // found: the value (never empty)
    bool uncertain = false;  // not found, resting on stale negative facts (see above)
    bool stale = false;      // some fact used came from a stale cache entry
    bool operator==(const Answer&) const = default;
};

// Facts the resolver still needs (fetch them, then call resolve() again).
struct Need {
    std::vector<FactKey> facts;
    bool operator==(const Need&) const = default;
};

using Step = std::variant<Need, Answer>;

// Either a Query or the immediate answer for a malformed key (NOTFOUND).
std::variant<Query, Answer> parseQuery(MapKind map, std::string_view raw_key, const Settings& settings);

// Where the resolver reads facts.
class FactSource {
public:
    virtual ~FactSource() = default;
    // The fact, or nullptr when it is not known yet. *stale tells whether it came from a
    // cache entry past its TTL. The pointer stays valid during one resolve() call.
    virtual const FactValue* find(FactKind kind, std::string_view key, bool* stale) = 0;
};

// One resolution step: Need (every missing fact the current step depends on; never
// empty) or the final Answer. Deterministic for the same facts; a resolution ends after
// at most 6 rounds of Need.
Step resolve(const Query& query, FactSource& facts, const Settings& settings);

}  // namespace titan::authd::core::maps
