// titan-bench's load generator: one libevent loop driving N client connections, each
// with a fixed number of requests in flight (closed loop: a connection sends its next
// request when one is answered; one in flight unless pipelining is asked for), or, with
// a rate, starting requests on a schedule (open loop). Persistent mode keeps each connection open;
// per-request mode opens a connection, sends the greeting and one request, and closes
// after the reply (Dovecot's default dict client behaviour). Runs are always bounded
// by time, and optionally by a request count. Protocol details live in Protocol.
// Single-threaded. Layer: tests/bench.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tests/bench/endpoint.h"
#include "tests/bench/latency_histogram.h"
#include "tests/bench/protocol.h"

namespace titan::bench {

enum class Mode { Persistent, PerRequest };

struct LoadOptions {
    Endpoint endpoint;
    std::size_t connections = 16;
    Mode mode = Mode::Persistent;
    std::size_t pipeline = 1;       // requests in flight per connection (persistent mode)
    double duration_s = 5;          // measured window; with max_requests, an upper bound
    std::uint64_t max_requests = 0;  // 0: run for duration_s
    double warmup_s = 0;            // load without recording before the window opens
    double timeout_s = 5;           // per request, connecting included
    // Open loop: requests start at this total rate (per second) whatever the replies do,
    // spread over the connections (each still at most `pipeline` in flight); 0: closed
    // loop. A request that finds every connection busy waits for one, and its latency
    // counts from then (no coordinated omission; the pacer ticks every millisecond).
    double rate = 0;
};

struct LoadStats {
    // Replies (each completes one request).
    std::uint64_t found = 0;
    std::uint64_t not_found = 0;
    std::uint64_t fail = 0;  // the server's failure reply (dict F)
    // Requests that got no reply.
    std::uint64_t connect_failed = 0;
    std::uint64_t protocol_error = 0;  // unparsable or unexpected reply
    std::uint64_t disconnected = 0;    // the server closed or reset the connection
    std::uint64_t timeout = 0;
    // Informational.
    std::uint64_t connects = 0;         // connections established in the window
    std::uint64_t connect_retries = 0;  // unix connect() refused with EAGAIN (full backlog), retried
    std::uint64_t unfinished = 0;       // requests still in flight when the window closed
    std::uint64_t queued = 0;           // open loop: requests that waited for a free connection
    std::uint64_t dropped = 0;          // open loop: not started (backlog over its bound)
    bool time_capped = false;           // a --requests run stopped at the time bound
    std::string first_error;            // the first error's description, for diagnosis
    LatencyHistogram latency;           // every reply (found, not found, fail)
    double elapsed_s = 0;

    std::uint64_t completed() const noexcept { return found + not_found + fail; }
    std::uint64_t errors() const noexcept { return connect_failed + protocol_error + disconnected + timeout + fail; }
};

class LoadGenerator {
public:
    // `requests` are Protocol::prepareRequest() results, used round-robin from the
    // first; `protocol` must outlive the generator.
    LoadGenerator(const Protocol& protocol, std::vector<std::string> requests, LoadOptions options);
    ~LoadGenerator();
    LoadGenerator(const LoadGenerator&) = delete;
    LoadGenerator& operator=(const LoadGenerator&) = delete;

    // Runs once. `window_open` runs when the measured window opens (after the warmup),
    // `window_closed` when it closes; both may be empty.
    LoadStats run(const std::function<void()>& window_open, const std::function<void()>& window_closed);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace titan::bench
