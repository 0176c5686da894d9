// The RCPT-time quota decision: which mailboxes a recipient address reaches (recipient
// delimiter, alias domains, aliases, catch-alls), and whether a message of a given size
// may still be accepted for them. Pure: the store feeds the facts it reads level by level
// into an Expander; decide() turns them into a verdict. The glue maps verdicts to the
// configured reply texts. Layer: quotad/core (base + common/identity, no I/O).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/identity/identity.h"
#include "quotad/core/usage.h"

namespace titan::quotad::core {

// ---- recipient address -----------------------------------------------------------------

// The canonical mailbox key of a Postfix `recipient` value: the address detail after the
// first recipient delimiter character in the local part is removed ("bob+lists@x" ->
// "bob@x"; `delimiters` empty = none; a local part that starts with a delimiter is kept
// whole), then identity::canonicalUser applies the one identity rule. nullopt when the
// value is empty, has no '@', or fails the identity rule (the caller answers at once
// without touching the database).
std::optional<std::string> recipientKey(std::string_view recipient, std::string_view delimiters,
                                        const identity::Options& identity);

// ---- alias expansion -----------------------------------------------------------------

// What the database holds about one address (canonical "local@domain").
struct MailboxQuota {
    std::string user;
    Limits limits;
    Usage usage;  // unset values: Dovecot has not counted yet (treated as 0 by decide())
    bool operator==(const MailboxQuota&) const = default;
};

struct AddressFacts {
    std::optional<MailboxQuota> mailbox;      // mailboxes row of this exact address
    std::vector<std::string> aliases;         // active aliases rows with source = address
    std::vector<std::string> catch_all;       // active aliases rows with source = "@domain"
    std::optional<std::string> alias_target;  // the domain is an alias domain of this domain
};

struct ExpanderLimits {
    std::size_t max_depth = 8;       // alias hops followed from the recipient
    std::size_t max_addresses = 64;  // distinct addresses looked at, in total
};

// Resolves one recipient to the local mailboxes it delivers to, the way Postfix's
// virtual_alias_maps plus a mailbox table resolve it in hosting setups:
//   1. an address with alias rows is replaced by their destinations (an alias pointing at
//      itself keeps its mailbox, as Postfix does);
//   2. otherwise an address with a mailbox row is that mailbox;
//   3. otherwise an address in an alias domain continues as local@target-domain, and if
//      that address has nothing (no alias, mailbox or catch-all), the alias domain's own
//      catch-all applies (the order titan-authd's socketmap gives Postfix);
//   4. otherwise the domain's catch-all ("@domain") rows, if any;
//   5. otherwise it reaches nothing here (external or unknown: not quotad's business).
// Destinations are canonicalised with the identity rule (invalid ones are dropped); each
// address is visited once; depth and total count are bounded (truncated() then reports it).
// Usage: while (!done()) { feed(lookup(wanted())); }  then mailboxes().
class Expander {
public:
    Expander(std::string recipient, ExpanderLimits limits, identity::Options identity);

    // Addresses whose facts are needed next; empty once done().
    const std::vector<std::string>& wanted() const noexcept { return wanted_; }
    // Facts for (at least) every wanted address; a missing entry means "nothing stored".
    void feed(const std::map<std::string, AddressFacts>& facts);
    bool done() const noexcept { return wanted_.empty(); }

    // The mailboxes reached, each once, in the order found.
    const std::vector<MailboxQuota>& mailboxes() const noexcept { return mailboxes_; }
    // True when a depth or count limit cut the expansion short.
    bool truncated() const noexcept { return truncated_; }

private:
    void want(const std::string& address, std::size_t depth, std::vector<std::string>& next);

    ExpanderLimits limits_;
    identity::Options identity_;
    std::vector<std::string> wanted_;
    std::map<std::string, std::size_t> depth_;  // address -> depth at which it was queued
    std::set<std::string> seen_;
    std::set<std::string> mailbox_seen_;
    // local@target -> the alias domain's catch-all, used when local@target has nothing
    std::map<std::string, std::pair<std::vector<std::string>, std::string>> fallback_;
    std::vector<MailboxQuota> mailboxes_;
    bool truncated_ = false;
};

// ---- the decision -------------------------------------------------------------------------

// Extra room a delivery may use once, when the mailbox is below its storage limit
// (Dovecot's quota_grace, default 10 %): either a percentage of the limit or bytes.
struct Grace {
    bool percent = true;
    std::uint64_t amount = 10;
    std::uint64_t bytesFor(std::uint64_t limit) const noexcept;
    bool operator==(const Grace&) const = default;
};

enum class Verdict {
    Accept,     // every mailbox reached has room (or no limit)
    NoMailbox,  // the address reaches no local mailbox: DUNNO, existence is checked elsewhere
    OverQuota,  // a mailbox reached is full (temporary: 452 4.2.2)
    TooLarge,   // the message is larger than a reached mailbox's whole quota (552 5.2.2)
};
const char* verdictName(Verdict v) noexcept;

struct Decision {
    Verdict verdict = Verdict::NoMailbox;
    std::string user;  // the mailbox that decided OverQuota/TooLarge (else empty)
    std::optional<Resource> resource;
    bool operator==(const Decision&) const = default;
};

// For one mailbox: `size` is the SIZE= value (0 = not given, tested as 1 byte).
//   storage limit L > 0, usage U (unset = 0), grace G = grace.bytesFor(L):
//     size > L          -> TooLarge (larger than the whole quota: it never fits; Dovecot's
//                          own check ignores the grace here too)
//     U >= L            -> OverQuota (already full: grace only helps the last message in)
//     size > L - U + G  -> OverQuota
//   message limit M > 0, count C:  C + 1 > M -> OverQuota
// Over all mailboxes: any TooLarge wins, then any OverQuota, else Accept; no mailboxes ->
// NoMailbox.
Decision decide(const std::vector<MailboxQuota>& mailboxes, std::uint64_t size, const Grace& grace);

}  // namespace titan::quotad::core
