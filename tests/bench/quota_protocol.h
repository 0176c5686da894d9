// titan-bench module for Dovecot's dict protocol as the 2.3 quota plugin (`quota =
// dict:...:proxy:<socket>:quota`) writes after every save or expunge: hello
// `H3 2 0 <empty user> quota`, then per request one transaction `B<id> <user>`,
// `A<id> priv/quota/storage <bytes>`, `A<id> priv/quota/messages 1`, `C<id>`, answered
// by one commit reply (O = applied, N = no stored usage, F/W = failed). Ids count from 1
// per connection, as Dovecot's client does. Layer: tests/bench.
#pragma once

#include "tests/bench/protocol.h"

namespace titan::bench {

class QuotaProtocol : public Protocol {
public:
    static constexpr std::size_t kMaxReplyBytes = 1 << 16;

    const char* name() const override { return "dict-quota"; }
    // A key line is USER or USER<TAB>BYTES (the storage increment, a signed decimal;
    // default 1024). The messages counter always moves by one.
    std::string prepareRequest(std::string_view key, std::string* error) const override;
    std::unique_ptr<ClientSession> newSession() const override;
    std::unique_ptr<EchoSession> newEchoSession(std::size_t reply_bytes) const override;
};

}  // namespace titan::bench
