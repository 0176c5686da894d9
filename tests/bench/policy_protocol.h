// titan-bench module for the Postfix policy delegation protocol, as Postfix 3.7's smtpd
// speaks it: every request carries the 29 attributes smtpd sends (an RCPT by default),
// one request in flight per connection, the reply is `action=...` plus an empty line.
// Uses the project codec (common/proto/postfix_policy). Layer: tests/bench.
#pragma once

#include "common/proto/postfix_policy/policy.h"
#include "tests/bench/protocol.h"

namespace titan::bench {

class PolicyProtocol : public Protocol {
public:
    static constexpr std::size_t kMaxReplyBytes = 1 << 16;

    const char* name() const override { return "policy"; }
    // A key line is TAB-separated name=value pairs replacing attributes of the default
    // request (protocol_state=RCPT, client_address=192.0.2.1, sender=sender@example.org,
    // recipient=rcpt@example.test, instance=1.2.3, ...); an empty line is the default
    // request. Unknown names are added (Postfix's later attributes).
    std::string prepareRequest(std::string_view key, std::string* error) const override;
    std::unique_ptr<ClientSession> newSession() const override;
    std::unique_ptr<EchoSession> newEchoSession(std::size_t reply_bytes) const override;
};

// How a reply's action is counted: DUNNO, OK and other accepting actions are Found,
// refusals (REJECT, DEFER*, 4xx, 5xx) NotFound, a reply without action Fail.
Outcome policyOutcome(std::string_view action);

}  // namespace titan::bench
