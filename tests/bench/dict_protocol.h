// titan-bench module for Dovecot's dict proxy protocol as the passdb/userdb `dict`
// driver speaks it: hello `H3 2 0 <empty user> auth`, then `L<key>\t<user>` lookups,
// each answered by one O/M (found), N (not found) or F (failure) line. Iterations and
// transactions are not generated. Uses the project codec (common/proto/dovecot_dict).
// Layer: tests/bench.
#pragma once

#include "common/proto/dovecot_dict/dict.h"
#include "tests/bench/protocol.h"

namespace titan::bench {

class DictProtocol : public Protocol {
public:
    // Longest reply line accepted from the server before it counts as a protocol error.
    static constexpr std::size_t kMaxReplyBytes = 1 << 20;

    const char* name() const override { return "dict"; }
    // A key line is `KEY` or `KEY<TAB>USER`. Without an explicit user the user field is
    // the key's last path component ("shared/passdb/imap/bob@x" -> "bob@x"), which is
    // what Dovecot sends for passdb/userdb keys.
    std::string prepareRequest(std::string_view key, std::string* error) const override;
    // Sessions refer to this object: it must outlive them.
    std::unique_ptr<ClientSession> newSession() const override;
    std::unique_ptr<EchoSession> newEchoSession(std::size_t reply_bytes) const override;

private:
    // Dovecot 2.3's passdb/userdb dict client: protocol 3.2, string values, no user in
    // the hello, dict name from `uri = proxy:<socket>:auth`.
    std::string hello_ = proto::dict::encodeHello(proto::dict::Hello{3, 2, 0, "", "auth"});
};

}  // namespace titan::bench
