// authd's storage interface: asynchronous mailbox lookups and user listing.
// Completions run on the loop thread, never inside the call (STYLE 3.3).
// "No such user" is an empty optional; a failure is an Error (Unavailable when the
// database cannot answer). Implementations: MysqlStore (production), MemoryStore
// (unit and contract tests). Layer: authd/store.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "authd/core/mailbox.h"
#include "common/base/result.h"

namespace titan::authd::store {

using core::Mailbox;

class Store {
public:
    virtual ~Store() = default;

    using MailboxDone = std::function<void(Result<std::optional<Mailbox>>)>;
    // Look up one mailbox by canonical user name.
    virtual void fetchMailbox(const std::string& user, MailboxDone done) = 0;

    using PageDone = std::function<void(Result<std::vector<Mailbox>>)>;
    // Up to `limit` mailboxes whose canonical user name is greater than `after`, in
    // ascending order (keyset pagination for user iteration; "" starts at the beginning).
    virtual void fetchUserPage(const std::string& after, size_t limit, PageDone done) = 0;
};

}  // namespace titan::authd::store
