// titan-bench module for Postfix's socketmap lookup tables as Postfix's dict_sockmap
// client speaks them: no greeting, one netstring request `<map> <key>` per lookup, each
// answered by one netstring (OK: found, NOTFOUND: not found, TEMP/PERM/other: failure).
// Key lines are `<map> <key>` (e.g. "mailboxes user1@bench.test"). Uses the project
// codec (common/proto/socketmap). Layer: tests/bench.
#pragma once

#include "tests/bench/protocol.h"

namespace titan::bench {

class SocketmapProtocol : public Protocol {
public:
    const char* name() const override { return "socketmap"; }
    std::string prepareRequest(std::string_view key, std::string* error) const override;
    std::unique_ptr<ClientSession> newSession() const override;
    std::unique_ptr<EchoSession> newEchoSession(std::size_t reply_bytes) const override;
};

}  // namespace titan::bench
