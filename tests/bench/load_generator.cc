#include "tests/bench/load_generator.h"

#include <errno.h>
#include <event2/event.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <deque>

#include "common/event/loop.h"

namespace titan::bench {

namespace {

std::uint64_t nowNs() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

timeval toTimeval(double seconds) {
    timeval tv{};
    auto us = static_cast<long long>(std::llround(seconds * 1e6));
    tv.tv_sec = static_cast<time_t>(us / 1000000);
    tv.tv_usec = static_cast<suseconds_t>(us % 1000000);
    return tv;
}

constexpr double kConnectBackoffS = 0.1;   // after a refused or failed connect
constexpr double kErrorBackoffS = 0.01;    // after a protocol error or a disconnect
constexpr double kEagainRetryS = 0.001;    // unix socket backlog full
constexpr double kTickS = 0.01;            // timeout scan
constexpr std::size_t kMaxBacklog = 100000; // open loop: due requests waiting for a connection

enum class ErrorKind { ConnectFailed, ProtocolError, Disconnected, Timeout };

}  // namespace

struct LoadGenerator::Impl {
    enum class State { Down, Connecting, Greeting, Open, Backoff };

    struct Pending {
        std::uint64_t started_ns = 0;
        std::uint64_t epoch = 0;
        std::size_t request = 0;
        bool written = false;
    };

    struct Conn {
        Impl* gen = nullptr;
        int fd = -1;
        ::event* rev = nullptr;    // read readiness of fd (persistent)
        ::event* wev = nullptr;    // connect completion / room to write
        ::event* timer = nullptr;  // backoff and connect retries
        State state = State::Down;
        bool retry_connect = false;  // the timer retries the connect (pending requests kept)
        std::unique_ptr<ClientSession> session;
        std::deque<Pending> pending;  // requests issued and not answered, oldest first
        std::string in;
        std::string out;
        std::size_t out_off = 0;
    };

    Impl(const Protocol& p, std::vector<std::string> r, LoadOptions o)
        : protocol(p), requests(std::move(r)), opt(std::move(o)) {}

    const Protocol& protocol;
    std::vector<std::string> requests;
    LoadOptions opt;
    event::Loop loop;
    std::vector<Conn> conns;
    LoadStats stats;
    std::uint64_t epoch = 0;
    bool measuring = false;
    bool stopping = false;
    std::uint64_t window_start_ns = 0;
    std::uint64_t window_end_ns = 0;
    std::uint64_t issued = 0;       // requests started in the window
    std::uint64_t outstanding = 0;  // requests in flight on all connections
    std::size_t next_request = 0;
    // Open loop: times (ns) at which due requests found no free connection.
    std::deque<std::uint64_t> backlog;
    std::uint64_t next_due_ns = 0;
    std::uint64_t interval_ns = 0;
    std::size_t next_conn = 0;
    char buf[65536];
    const std::function<void()>* window_open = nullptr;
    const std::function<void()>* window_closed = nullptr;

    bool counted(const Pending& p) const noexcept { return measuring && p.epoch == epoch; }

    void noteError(ErrorKind kind, const std::string& what) {
        switch (kind) {
            case ErrorKind::ConnectFailed: ++stats.connect_failed; break;
            case ErrorKind::ProtocolError: ++stats.protocol_error; break;
            case ErrorKind::Disconnected: ++stats.disconnected; break;
            case ErrorKind::Timeout: ++stats.timeout; break;
        }
        if (stats.first_error.empty()) stats.first_error = what;
    }

    // ---- connection plumbing ------------------------------------------------------
    void closeFd(Conn& c) {
        if (c.fd >= 0) {
            event_del(c.rev);
            event_del(c.wev);
            if (opt.mode == Mode::PerRequest && !opt.endpoint.isUnix()) {
                // The client closes first: reset instead of leaving the port in TIME_WAIT,
                // or a fast per-request run exhausts the ephemeral ports.
                linger lg{1, 0};
                setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            }
            ::close(c.fd);
            c.fd = -1;
        }
        c.in.clear();
        c.out.clear();
        c.out_off = 0;
        c.session.reset();
        c.state = State::Down;
    }

    void armTimer(Conn& c, double seconds) {
        timeval tv = toTimeval(seconds);
        event_add(c.timer, &tv);
    }

    void armWrite(Conn& c) {
        if (event_pending(c.wev, EV_WRITE, nullptr)) return;
        event_assign(c.wev, loop.base(), c.fd, EV_WRITE, &Impl::onWritable, &c);
        event_add(c.wev, nullptr);
    }

    // Every request in flight on the connection failed: count them, drop the connection,
    // and start again after a short pause.
    void failConnection(Conn& c, ErrorKind kind, const std::string& what) {
        for (const auto& p : c.pending) {
            if (counted(p)) noteError(kind, what);
        }
        outstanding -= c.pending.size();
        c.pending.clear();
        closeFd(c);
        c.retry_connect = false;
        c.state = State::Backoff;
        armTimer(c, kind == ErrorKind::ConnectFailed ? kConnectBackoffS : kErrorBackoffS);
        checkDone();
    }

    bool mayIssue() const noexcept {
        if (stopping) return false;
        if (measuring && opt.max_requests > 0 && issued >= opt.max_requests) return false;
        return true;
    }

    std::size_t depth() const noexcept { return opt.mode == Mode::PerRequest ? 1 : opt.pipeline; }

    // Keep the connection's pipeline full: issue requests up to the depth, connecting
    // first when needed. A connection with nothing to do when the run is over parks.
    void fill(Conn& c) {
        if (c.state == State::Connecting || c.state == State::Greeting || c.state == State::Backoff) return;
        std::uint64_t now = 0;
        while (c.pending.size() < depth() && mayIssue() && (opt.rate <= 0 || !backlog.empty())) {
            if (now == 0) now = nowNs();
            // Open loop: the backlog's requests count from when they fell due.
            std::uint64_t started = now;
            if (opt.rate > 0) {
                started = backlog.front();
                backlog.pop_front();
            }
            Pending p{started, epoch, next_request, false};
            next_request = next_request + 1 == requests.size() ? 0 : next_request + 1;
            if (measuring) ++issued;
            ++outstanding;
            if (c.state == State::Open) {
                c.session->appendRequest(c.out, requests[p.request]);
                p.written = true;
            }
            c.pending.push_back(p);
        }
        if (c.pending.empty()) {
            if (c.fd >= 0 && opt.mode == Mode::PerRequest) closeFd(c);
            checkDone();
            return;
        }
        if (c.fd < 0) {
            connect(c);
            return;
        }
        flush(c);
    }

    void connect(Conn& c) {
        c.fd = openSocket(opt.endpoint);
        if (c.fd < 0) {
            failConnection(c, ErrorKind::ConnectFailed, std::string("socket: ") + std::strerror(errno));
            return;
        }
        int r = ::connect(c.fd, reinterpret_cast<const sockaddr*>(&opt.endpoint.addr), opt.endpoint.addr_len);
        if (r == 0) {
            connected(c);
            return;
        }
        int err = errno;
        if (err == EINPROGRESS) {
            c.state = State::Connecting;
            armWrite(c);
            return;
        }
        if (err == EAGAIN && opt.endpoint.isUnix()) {
            // The listener's backlog is full: not an error of the server, retry shortly.
            ::close(c.fd);
            c.fd = -1;
            if (measuring) ++stats.connect_retries;
            c.state = State::Backoff;
            c.retry_connect = true;
            armTimer(c, kEagainRetryS);
            return;
        }
        failConnection(c, ErrorKind::ConnectFailed, "connect " + opt.endpoint.text + ": " + std::strerror(err));
    }

    void writeUnsent(Conn& c) {
        for (auto& p : c.pending) {
            if (p.written) continue;
            c.session->appendRequest(c.out, requests[p.request]);
            p.written = true;
        }
    }

    void connected(Conn& c) {
        if (measuring) ++stats.connects;
        event_assign(c.rev, loop.base(), c.fd, EV_READ | EV_PERSIST, &Impl::onReadable, &c);
        event_add(c.rev, nullptr);
        c.session = protocol.newSession();
        c.session->appendGreeting(c.out);
        if (c.session->awaitsGreetingReply()) {
            c.state = State::Greeting;
        } else {
            c.state = State::Open;
            writeUnsent(c);
        }
        flush(c);
    }

    void flush(Conn& c) {
        while (c.out_off < c.out.size()) {
            ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
            if (n > 0) {
                c.out_off += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                armWrite(c);
                return;
            }
            failConnection(c, ErrorKind::Disconnected, std::string("send: ") + std::strerror(errno));
            return;
        }
        c.out.clear();
        c.out_off = 0;
    }

    void onConnectDone(Conn& c) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err != 0) {
            failConnection(c, ErrorKind::ConnectFailed, "connect " + opt.endpoint.text + ": " + std::strerror(err));
            return;
        }
        connected(c);
    }

    // Consume every complete reply in c.in, then top the pipeline up.
    void onInput(Conn& c) {
        std::size_t used = 0;
        std::uint64_t now = 0;
        while (used < c.in.size()) {
            std::string_view rest = std::string_view(c.in).substr(used);
            if (c.state == State::Greeting) {
                Scan scan = c.session->scanGreeting(rest);
                if (scan.status == Scan::Status::NeedMore) break;
                if (scan.status == Scan::Status::Invalid) {
                    failConnection(c, ErrorKind::ProtocolError, scan.error);
                    return;
                }
                used += scan.consumed;
                c.state = State::Open;
                writeUnsent(c);
                continue;
            }
            if (c.pending.empty() || c.state != State::Open) {
                failConnection(c, ErrorKind::ProtocolError, "more reply bytes than requests");
                return;
            }
            Scan scan = c.session->scanReply(rest);
            if (scan.status == Scan::Status::NeedMore) break;
            if (scan.status == Scan::Status::Invalid) {
                failConnection(c, ErrorKind::ProtocolError, scan.error);
                return;
            }
            used += scan.consumed;
            Pending p = c.pending.front();
            c.pending.pop_front();
            --outstanding;
            if (counted(p)) {
                if (now == 0) now = nowNs();
                stats.latency.record(now - p.started_ns);
                switch (scan.outcome) {
                    case Outcome::Found: ++stats.found; break;
                    case Outcome::NotFound: ++stats.not_found; break;
                    case Outcome::Fail:
                        ++stats.fail;
                        if (stats.first_error.empty()) stats.first_error = "failure reply from the server";
                        break;
                }
            }
        }
        c.in.erase(0, used);
        if (opt.mode == Mode::PerRequest && c.pending.empty() && c.state == State::Open) {
            if (!c.in.empty()) {
                failConnection(c, ErrorKind::ProtocolError, "more reply bytes than requests");
                return;
            }
            closeFd(c);
        }
        fill(c);
        // Open loop: also start what fell due since the last tick, so requests leave
        // close to their time instead of in one burst per millisecond tick.
        if (opt.rate > 0) schedule();
    }

    // ---- libevent callbacks ---------------------------------------------------------
    static void onReadable(evutil_socket_t /*fd*/, short /*what*/, void* arg) noexcept {
        auto& c = *static_cast<Conn*>(arg);
        Impl& g = *c.gen;
        ssize_t n = ::read(c.fd, g.buf, sizeof(g.buf));
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        if (n <= 0) {
            std::string what = n == 0 ? "connection closed by the server" : std::string("read: ") + std::strerror(errno);
            if (!c.pending.empty()) {
                g.failConnection(c, ErrorKind::Disconnected, what);
            } else {
                g.closeFd(c);
                g.fill(c);
            }
            return;
        }
        c.in.append(g.buf, static_cast<std::size_t>(n));
        g.onInput(c);
    }

    static void onWritable(evutil_socket_t /*fd*/, short /*what*/, void* arg) noexcept {
        auto& c = *static_cast<Conn*>(arg);
        if (c.state == State::Connecting) {
            c.gen->onConnectDone(c);
        } else if (c.fd >= 0) {
            c.gen->flush(c);
        }
    }

    static void onTimer(evutil_socket_t /*fd*/, short /*what*/, void* arg) noexcept {
        auto& c = *static_cast<Conn*>(arg);
        if (c.state != State::Backoff) return;
        c.state = State::Down;
        if (c.retry_connect && !c.pending.empty()) {
            c.retry_connect = false;
            c.gen->connect(c);
            return;
        }
        c.gen->fill(c);
    }

    // ---- open loop --------------------------------------------------------------------
    // Starts every request that is due: on a connection with room, else into the backlog
    // (counted from when it fell due, started when a connection frees up).
    void schedule() {
        if (stopping) return;
        const std::uint64_t now = nowNs();
        // Nothing is answered while this runs, so a connection found busy stays busy and
        // one full scan without a free connection ends the search for this tick.
        bool none_free = false;
        auto freeConn = [&]() -> Conn* {
            if (none_free) return nullptr;
            for (std::size_t i = 0; i < conns.size(); ++i) {
                Conn& c = conns[(next_conn + i) % conns.size()];
                bool ready = c.state == State::Open || c.state == State::Down;
                if (ready && c.pending.size() < depth()) {
                    next_conn = (next_conn + i + 1) % conns.size();
                    return &c;
                }
            }
            none_free = true;
            return nullptr;
        };
        // What waited first (counted from the tick that found no free connection).
        while (!backlog.empty() && mayIssue()) {
            Conn* c = freeConn();
            if (c == nullptr) break;
            fill(*c);
            if (stopping) return;
        }
        while (next_due_ns <= now) {
            next_due_ns += interval_ns;
            if (!mayIssue()) continue;
            Conn* c = backlog.empty() ? freeConn() : nullptr;
            if (c != nullptr) {
                backlog.push_back(now);  // on time: counted from now, sent at once
                fill(*c);
                if (stopping) return;
                continue;
            }
            if (backlog.size() >= kMaxBacklog) {
                if (measuring) ++stats.dropped;
                continue;
            }
            if (measuring) ++stats.queued;
            // Counted from this tick, not from `due`: the pacer's own lateness (libevent
            // timers have millisecond resolution) is not the server's.
            backlog.push_back(now);
        }
    }

    // ---- run control ----------------------------------------------------------------
    void scanTimeouts() {
        std::uint64_t now = nowNs();
        auto limit = static_cast<std::uint64_t>(opt.timeout_s * 1e9);
        for (auto& c : conns) {
            if (!c.pending.empty() && now - c.pending.front().started_ns > limit) {
                failConnection(c, ErrorKind::Timeout, "no reply within the timeout");
            }
        }
    }

    void openWindow() {
        ++epoch;
        measuring = true;
        issued = 0;
        stats = LoadStats{};
        backlog.clear();  // what waited through the warm-up is not measured
        window_start_ns = nowNs();
        if (window_open != nullptr && *window_open) (*window_open)();
    }

    void closeWindow(bool time_capped) {
        if (stopping) return;
        stopping = true;
        window_end_ns = nowNs();
        if (window_closed != nullptr && *window_closed) (*window_closed)();
        for (const auto& c : conns) {
            for (const auto& p : c.pending) {
                if (counted(p)) ++stats.unfinished;
            }
        }
        stats.time_capped = time_capped && opt.max_requests > 0;
        loop.stop();
    }

    void checkDone() {
        if (measuring && opt.max_requests > 0 && issued >= opt.max_requests && outstanding == 0) closeWindow(false);
    }

    LoadStats run() {
        conns.resize(opt.connections);
        for (auto& c : conns) {
            c.gen = this;
            c.rev = event_new(loop.base(), -1, 0, &Impl::onReadable, &c);
            c.wev = event_new(loop.base(), -1, 0, &Impl::onWritable, &c);
            c.timer = evtimer_new(loop.base(), &Impl::onTimer, &c);
        }
        auto tick = loop.every(std::chrono::milliseconds(static_cast<int>(kTickS * 1000)), [this] { scanTimeouts(); });
        std::unique_ptr<event::Timer> warmup_timer;
        std::unique_ptr<event::Timer> end_timer;
        auto ms = [](double s) { return std::chrono::milliseconds(static_cast<long long>(std::llround(s * 1000))); };
        auto startWindow = [&] {
            openWindow();
            end_timer = loop.after(ms(opt.duration_s), [this] { closeWindow(true); });
        };
        if (opt.warmup_s > 0) {
            warmup_timer = loop.after(ms(opt.warmup_s), startWindow);
        } else {
            startWindow();
        }
        std::unique_ptr<event::Timer> pacer;
        if (opt.rate > 0) {
            interval_ns = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(1e9 / opt.rate)));
            next_due_ns = nowNs();
            // libevent's timers have millisecond resolution: each tick starts what fell due.
            pacer = loop.every(std::chrono::milliseconds(1), [this] { schedule(); });
            schedule();
        } else {
            for (auto& c : conns) fill(c);
        }
        if (!stopping) loop.run();
        stats.elapsed_s = static_cast<double>(window_end_ns - window_start_ns) / 1e9;
        for (auto& c : conns) {
            closeFd(c);
            event_free(c.rev);
            event_free(c.wev);
            event_free(c.timer);
        }
        return std::move(stats);
    }
};

LoadGenerator::LoadGenerator(const Protocol& protocol, std::vector<std::string> requests, LoadOptions options)
    : impl_(std::make_unique<Impl>(protocol, std::move(requests), std::move(options))) {}

LoadGenerator::~LoadGenerator() = default;

LoadStats LoadGenerator::run(const std::function<void()>& window_open, const std::function<void()>& window_closed) {
    impl_->window_open = &window_open;
    impl_->window_closed = &window_closed;
    return impl_->run();
}

}  // namespace titan::bench
