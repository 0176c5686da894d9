// policyd's pure decisions: the facts derived from one request (keys, direction,
// transaction recipients), which rules apply, what a rate limit counts and charges, the
// all-or-nothing end-of-message charge, list matching, sender ownership, the account
// guard's thresholds, and action texts. No I/O, no clock: `now` is a parameter.
// Layer: policyd/core (base, common/identity, proto value types).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/proto/postfix_policy/policy.h"
#include "policyd/core/rules.h"

namespace titan::policyd::core {

using proto::policy::PolicyRequest;
using proto::policy::ProtocolState;

// Everything the rules look at, normalised once per request.
struct RequestFacts {
    ProtocolState state = ProtocolState::Unknown;
    std::string instance;
    bool authenticated = false;
    std::string sasl_user;       // canonical login; "" when not authenticated
    std::optional<IpAddress> client;
    std::string client_address;  // as sent
    std::string client_name;     // lower-case verified name ("unknown" when none)
    bool outbound = false;       // authenticated or from a trusted network
    std::string sender;          // as sent ("" = null sender)
    std::string sender_key;      // addressKey(sender)
    std::string sender_domain;   // domainKey(sender)
    std::string recipient_key;   // addressKey(recipient); "" when none
    std::string recipient_domain;
    // Recipients of the transaction: at RCPT the current one; at DATA/END-OF-MESSAGE the
    // ones this connection saw accepted at RCPT for the same instance, else `recipient`.
    std::vector<std::string> recipients;
    std::uint64_t recipient_count = 0;
    std::uint64_t size = 0;
};

// `transaction_recipients`: recipient keys tracked by the session for this instance.
RequestFacts makeFacts(const PolicyRequest& request, const EngineOptions& options,
                       const std::vector<std::string>& transaction_recipients);

// Direction filter only (each rule kind has its own state rules below).
bool directionMatches(const Rule& rule, const RequestFacts& facts);

// ---- rate limits ------------------------------------------------------------------

// One stored counter: (rule, window index, subject).
struct CounterKey {
    std::string rule;
    std::uint8_t window = 0;
    std::string subject;
    auto operator<=>(const CounterKey&) const = default;
};

struct Charge {
    std::string subject;
    std::uint64_t amount = 0;
    bool operator==(const Charge&) const = default;
};

// The subjects and amounts a rate-limit rule checks (RCPT, DATA) or charges
// (END-OF-MESSAGE) for this request; empty when it does not apply (other states, no key:
// e.g. a SASL-user key on unauthenticated mail). Amounts: messages 1; recipients 1 at RCPT,
// recipient_count later; bytes max(1, size). Keys: an empty sender (and its domain) is keyed
// by the SASL user when authenticated, else by the client network ("client:<net>").
// Recipient-domain keys split the transaction's recipients by domain.
std::vector<Charge> rateLimitCharges(const RateLimitRule& rule, const RequestFacts& facts);

// The counter keys of a rule's charges, one per window.
std::vector<CounterKey> counterKeys(const Rule& rule, const std::vector<Charge>& charges);

struct RateCheck {
    bool allowed = true;
    std::chrono::milliseconds retry_after{0};
    std::string subject;  // the refused subject
};

// RCPT/DATA: would every charge fit every window? Missing states count as unused.
RateCheck checkRate(const Rule& rule, const std::vector<Charge>& charges,
                    const std::map<CounterKey, CounterState>& states, std::int64_t now);

// One rate-limit rule's part of an end-of-message charge.
struct RatePlan {
    std::size_t rule_index = 0;  // into the configured rules (for the caller)
    Rule rule;
    std::vector<Charge> charges;
};

struct ChargeDecision {
    bool accepted = true;
    std::size_t refused_by = 0;                   // index into the plans when !accepted
    std::chrono::milliseconds retry_after{0};
    std::string subject;
    std::vector<std::size_t> dry_run_exceeded;    // plans (dry-run) that would have refused
    std::map<CounterKey, CounterState> updates;   // states to store when accepted
};

// END-OF-MESSAGE, all or nothing: the message is accepted only if every non-dry-run plan
// fits every window; then every plan (dry-run ones too) is charged. Otherwise nothing is
// charged and `refused_by` names the first refusing plan in rule order.
ChargeDecision decideCharges(const std::vector<RatePlan>& plans, const std::map<CounterKey, CounterState>& states,
                             std::int64_t now);

// ---- lists --------------------------------------------------------------------------

// What in `facts` matches `entries` ("client 192.0.2.0/24", "sender @example.com", ...),
// or nullopt. Recipient entries match the current recipient (RCPT) or any transaction
// recipient.
std::optional<std::string> matchList(const ListEntries& entries, const RequestFacts& facts);

// Normalises one list entry of `kind` ("client", "client_name", "sender", "recipient")
// into `entries`. Errors: InvalidInput (bad CIDR, empty value, unknown kind).
Status addListEntry(ListEntries& entries, std::string_view kind, std::string_view value, const AddressOptions& options);

bool clientNameMatches(const std::vector<std::string>& patterns, std::string_view client_name);

// ---- sender login ---------------------------------------------------------------------

// True when the envelope sender is one of `owned` (addressKey-normalised addresses, or
// "@domain" for a whole domain).
bool senderOwned(const RequestFacts& facts, const std::vector<std::string>& owned);

// ---- account guard ----------------------------------------------------------------------

struct GuardCounts {
    std::uint64_t messages = 0;           // in the window, this one included
    std::uint64_t recipient_domains = 0;  // distinct
    std::uint64_t client_networks = 0;    // distinct
    bool operator==(const GuardCounts&) const = default;
};

// "messages 201 > 200 per 1h" for the first threshold passed, or nullopt.
std::optional<std::string> guardTrigger(const GuardRule& rule, const GuardCounts& counts);

// Distinct recipient domains of a transaction (sorted).
std::vector<std::string> recipientDomains(const RequestFacts& facts);

// ---- transactions ------------------------------------------------------------------------

// The recipients of the mail transaction in progress on one policy connection, so that
// DATA and END-OF-MESSAGE (where Postfix sends `recipient` only when there is exactly one)
// know every recipient domain. Postfix sends a connection's requests one at a time and a
// new `instance` value starts a new transaction (the previous one was delivered or
// aborted). Only recipients this service did not refuse are kept, at most max_recipients.
class TransactionTracker {
public:
    explicit TransactionTracker(std::size_t max_recipients = 1000) : max_(max_recipients) {}
    // Before evaluating a request: the recipients so far (reset on a new instance).
    const std::vector<std::string>& recipientsFor(std::string_view instance);
    // After answering it.
    void record(ProtocolState state, const std::string& recipient_key, std::string_view action);
    void setMaxRecipients(std::size_t max) { max_ = max; }

private:
    std::size_t max_;
    std::string instance_;
    std::vector<std::string> recipients_;
};

// ---- actions ---------------------------------------------------------------------------

// `{retry}` -> seconds (rounded up, at least 1), `{rule}` -> rule name.
std::string formatAction(std::string_view action, std::string_view rule, std::chrono::milliseconds retry);

// Label for metrics: "dunno", "ok", "reject", "defer", "defer_if_permit", "defer_if_reject",
// "hold", "discard", "4xx", "5xx", "other".
std::string actionLabel(std::string_view action);

// True for actions that refuse the command (reject, defer*, 4xx, 5xx).
bool actionRefuses(std::string_view action);

}  // namespace titan::policyd::core
