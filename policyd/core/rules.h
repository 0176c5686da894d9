// The policy rules as configured: an ordered list, each with its own action, fail action
// (what to answer when the database cannot) and dry-run switch. Plain data, filled by
// policyd/config.cc and read by the engine, the evaluator and the stores.
// Layer: policyd/core.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "policyd/core/address.h"
#include "policyd/core/counter.h"
#include "policyd/core/greylist.h"
#include "policyd/core/network.h"

namespace titan::policyd::core {

enum class Direction {
    Any,
    Inbound,   // not outbound
    Outbound,  // SASL-authenticated, or the client is in networks.trusted
};

// What a rate limit counts per key.
enum class KeyKind { SaslUsername, Sender, SenderDomain, ClientAddress, RecipientDomain };
enum class CountUnit { Messages, Recipients, Bytes };

const char* keyKindName(KeyKind k) noexcept;
const char* countUnitName(CountUnit u) noexcept;
const char* directionName(Direction d) noexcept;

// Allow/deny list entries (from the config file or the policy_lists table).
//   clients       CIDR or address, IPv4 and IPv6
//   client_names  "mx.example.com" exact, ".example.com" any name below it
//   senders, recipients  "user@example.com" (detail-insensitive), "@example.com" that
//                 domain, ".example.com" any domain below it
struct ListEntries {
    std::vector<Network> clients;
    std::vector<std::string> client_names;  // lower-case
    std::vector<std::string> senders;       // normalised (addressKey / domainKey)
    std::vector<std::string> recipients;
    bool empty() const noexcept {
        return clients.empty() && client_names.empty() && senders.empty() && recipients.empty();
    }
};

struct ListsRule {
    ListEntries allow;  // match: stop evaluating, answer allow_action
    ListEntries deny;   // match: answer the rule's action
    bool use_sql = true;                // also the policy_lists table (cached, see lists_refresh)
    std::string allow_action = "DUNNO";
};

struct RateLimitRule {
    KeyKind key = KeyKind::SaslUsername;
    CountUnit count = CountUnit::Messages;
    Algorithm algorithm = Algorithm::FixedWindow;
    std::vector<WindowSpec> windows;  // all must allow; at least one
    unsigned ipv4_prefix = 32;        // client networks for ClientAddress keys and for the
    unsigned ipv6_prefix = 64;        // unauthenticated null-sender fallback
};

struct GreylistRule {
    GreylistParams params;
    unsigned ipv4_prefix = 24;
    unsigned ipv6_prefix = 64;
    std::vector<Network> allow_clients;
    std::vector<std::string> allow_client_names;  // as ListEntries::client_names
};

struct SenderLoginRule {
    bool allow_null_sender = false;  // authenticated MAIL FROM:<>
};

struct GuardRule {
    std::chrono::milliseconds window{std::chrono::hours(1)};
    std::uint64_t max_messages = 0;           // 0: not checked
    std::uint64_t max_recipient_domains = 0;  // distinct, in the window
    std::uint64_t max_client_networks = 0;    // distinct, in the window
    unsigned ipv4_prefix = 24;
    unsigned ipv6_prefix = 64;
    std::string held_action = "450 4.7.1 Account on hold because of unusual sending activity, contact support";
};

enum class RuleKind { Lists, RateLimit, Greylist, SenderLogin, AccountGuard };
const char* ruleKindName(RuleKind k) noexcept;

struct Rule {
    std::string name;
    RuleKind kind = RuleKind::Lists;
    Direction direction = Direction::Any;
    std::string action;       // answer when the rule refuses (or holds)
    std::string fail_action;  // answer when its facts cannot be fetched; "DUNNO" fails open
    bool dry_run = false;     // log and count what it would answer, never answer it
    std::variant<ListsRule, RateLimitRule, GreylistRule, SenderLoginRule, GuardRule> spec;

    bool failOpen() const;  // fail_action's first word is DUNNO
};

struct EngineOptions {
    AddressOptions address;
    std::vector<Network> trusted_networks;  // outbound without SASL (e.g. webmail hosts)
};

}  // namespace titan::policyd::core
