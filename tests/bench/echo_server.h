// The ceiling for titan-bench results: a single-threaded server on one libevent loop
// (like the daemons) that answers every request of a protocol with one fixed reply and
// does nothing else. Measuring it with the same client settings gives the machine's
// raw round-trip limit on that transport; a daemon's rate is reported as a fraction of
// it. Loopback and unix sockets only. Layer: tests/bench.
#pragma once

#include <cstddef>

#include "tests/bench/endpoint.h"
#include "tests/bench/protocol.h"

namespace titan::bench {

struct EchoOptions {
    Endpoint endpoint;
    std::size_t reply_bytes = 128;  // each fixed reply, terminator included
    double max_seconds = 3600;      // exits after this long even if never stopped
};

// Listens on options.endpoint (a stale unix socket file is replaced) and serves until
// SIGTERM or SIGINT or max_seconds. Prints one "listening" line on stderr once the
// socket accepts connections. Returns the process exit status.
int serveEcho(const Protocol& protocol, const EchoOptions& options);

}  // namespace titan::bench
