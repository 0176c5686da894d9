// authd's storage interface for Postfix's lookup tables (socketmap maps): domains,
// alias domains, mailboxes, aliases and sender-login grants, one key per call. Kept apart
// from Store (store.h), which serves user logins. Asynchronous: `done` runs on the loop
// thread, never inside the call (STYLE 3.3). "No such row" is an empty optional; a failure
// is an Error (Unavailable when the database cannot answer). Keys are canonical (see
// common/identity); rows are expected canonical too. Implementations: MysqlMapsStore
// (production), MemoryMapsStore (tests). Layer: authd/store.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/base/result.h"

namespace titan::authd::store {

struct DomainEntry {
    // Empty: an active local domain. Otherwise this is an active alias domain of the
    // active local domain `alias_for`.
    std::string alias_for;
    bool operator==(const DomainEntry&) const = default;
};

class MapsStore {
public:
    virtual ~MapsStore() = default;

    using DomainDone = std::function<void(Result<std::optional<DomainEntry>>)>;
    // An active domain (domains) or an active alias domain (alias_domains) named `domain`.
    virtual void fetchDomain(const std::string& domain, DomainDone done) = 0;

    using MailboxDone = std::function<void(Result<std::optional<std::string>>)>;
    // The canonical user name of the active mailbox `address` in an active domain.
    virtual void fetchMailbox(const std::string& address, MailboxDone done) = 0;

    using ListDone = std::function<void(Result<std::optional<std::vector<std::string>>>)>;
    // The destinations of the active alias rows for `source` (an address or "@domain")
    // in an active domain, in insertion order; nullopt when there is none.
    virtual void fetchAliases(const std::string& source, ListDone done) = 0;
    // The logins granted in sender_logins for `address` (an address or "@domain"), in
    // insertion order; nullopt when there is none.
    virtual void fetchSenderLogins(const std::string& address, ListDone done) = 0;
};

}  // namespace titan::authd::store
