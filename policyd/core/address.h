// Envelope addresses as policyd keys: the project's identity rule (common/identity: domain
// lower-cased and IDNA-encoded, local part per policy) plus recipient_delimiter detail
// removal, and the extra normalisation greylisting applies to senders (BATV, SRS, VERP
// digits). Never fails: an address the identity rule refuses (Postfix accepted it, e.g.
// "john..doe"@x or raw 8-bit bytes) becomes its ASCII-lower-cased text, so it is still a key.
// Pure. Layer: policyd/core.
#pragma once

#include <string>
#include <string_view>

#include "common/identity/identity.h"

namespace titan::policyd::core {

struct AddressOptions {
    identity::Options identity;
    // Postfix recipient_delimiter: any of these bytes starts the detail ("+", "+-").
    // Empty: no detail removal.
    std::string recipient_delimiter = "+";
};

// "Bob+Tag@Example.COM" -> "bob@example.com". "" stays "". An address without '@' is
// lower-cased as a whole. A detail is not removed when the delimiter is the first byte.
std::string addressKey(std::string_view raw, const AddressOptions& options);

// The canonical domain of an address ("" when there is none); invalid domains are
// ASCII-lower-cased as they are.
std::string domainKey(std::string_view raw);

// Greylisting's sender key: addressKey after unwrapping BATV ("prvs=TAG=user@d",
// "msprvs1=TAG=user@d") and SRS ("SRS0=HH=TT=orig.example=user@fwd" -> user@orig.example;
// SRS1 likewise), and with every all-digit token of the local part (between . - _ = +)
// replaced by '#', so per-message VERP/bounce senders share one triplet. "" -> "<>".
std::string greylistSenderKey(std::string_view raw, const AddressOptions& options);

}  // namespace titan::policyd::core
