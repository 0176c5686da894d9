#include "common/event/line_server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <exception>
#include <new>

#include "common/log/log.h"
#include "common/proto/line_framer.h"

namespace titan::event {

const char* disconnectReasonName(DisconnectReason r) noexcept {
    switch (r) {
        case DisconnectReason::PeerClosed: return "peer_closed";
        case DisconnectReason::IdleTimeout: return "idle_timeout";
        case DisconnectReason::LineTooLong: return "line_too_long";
        case DisconnectReason::ProtocolError: return "protocol_error";
        case DisconnectReason::OutputOverflow: return "output_overflow";
        case DisconnectReason::Shutdown: return "shutdown";
        case DisconnectReason::IoError: return "io_error";
        case DisconnectReason::Internal: return "internal";
    }
    return "internal";
}

namespace {

std::string peerName(const sockaddr* addr, int len) {
    if (addr == nullptr || len <= 0) return "unix";
    char buf[INET6_ADDRSTRLEN] = {0};
    if (addr->sa_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(addr);
        inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
        return std::string(buf) + ":" + std::to_string(ntohs(a->sin_port));
    }
    if (addr->sa_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(addr);
        inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf));
        return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a->sin6_port));
    }
    return "unix";
}

timeval toTimeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

// Every libevent callback goes through this barrier: an exception must never unwind
// through C frames. std::bad_alloc is not caught: the process aborts.
template <typename F>
void barrier(LineConnection* conn, F&& f) noexcept {
    try {
        f();
    } catch (const std::bad_alloc&) {
        std::terminate();
    } catch (const std::exception& e) {
        log::error("internal error in connection handler", {{"conn.id", conn->id()}, {"error", e.what()}});
        conn->close(DisconnectReason::Internal);
    }
}

}  // namespace

LineConnection::LineConnection(LineServer& server, uint64_t id, bufferevent* bev, std::string peer)
    : server_(server), id_(id), bev_(bev), peer_(std::move(peer)) {}

LineConnection::~LineConnection() {
    if (bev_ != nullptr) bufferevent_free(bev_);
}

size_t LineConnection::outputBytes() const {
    return bev_ == nullptr ? 0 : evbuffer_get_length(bufferevent_get_output(bev_)) + batch_.size();
}

void LineConnection::write(std::string_view data) {
    if (closing_ || bev_ == nullptr) return;
    if (in_process_) {
        // Answers to the lines of one read leave together when processInput() ends.
        batch_.append(data);
        return;
    }
    send(data);
}

void LineConnection::flushBatch() {
    if (batch_.empty() || bev_ == nullptr) return;
    send(batch_);
    batch_.clear();
}

void LineConnection::send(std::string_view data) {
    if (data.empty()) return;
    if (evbuffer_get_length(bufferevent_get_output(bev_)) == 0) {
        // Nothing queued: hand the bytes to the socket now. What fits leaves without the
        // loop arming (and then disarming) a write event for it, which costs two
        // epoll_ctl calls and a wake-up. The rest (EAGAIN, or an error the bufferevent
        // then reports) is queued below, in order.
        ssize_t n = ::send(bufferevent_getfd(bev_), data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) data.remove_prefix(static_cast<size_t>(n));
        if (data.empty()) return;
    }
    bufferevent_write(bev_, data.data(), data.size());
    if (outputBytes() > server_.limits_.max_output_bytes && !reading_paused_) {
        // Back-pressure: the peer is not reading its answers. Stop reading its
        // commands until the output drains (onWrite resumes).
        reading_paused_ = true;
        bufferevent_disable(bev_, EV_READ);
    }
}

void LineConnection::close(DisconnectReason reason) {
    if (closing_) return;
    flushBatch();
    closing_ = true;
    reason_ = reason;
    if (bev_ != nullptr) bufferevent_disable(bev_, EV_READ);
    bool flush = reason != DisconnectReason::PeerClosed && reason != DisconnectReason::IoError && outputBytes() > 0;
    if (flush) {
        // onWrite finishes once the output is gone; the idle timeout bounds the wait.
        bufferevent_setwatermark(bev_, EV_WRITE, 0, 0);
        return;
    }
    finish();
}

void LineConnection::finish() {
    if (finished_) return;
    finished_ = true;
    closing_ = true;
    if (handler_) handler_->onClose(reason_);
    server_.remove(id_, reason_);
}

void LineConnection::resume() {
    if (closing_) return;
    if (server_.shutting_down_ && handler_->pending() == 0) {
        close(DisconnectReason::Shutdown);
        return;
    }
    processInput();
}

void LineConnection::processInput() {
    if (in_process_ || closing_ || bev_ == nullptr) return;  // re-entered from a handler callback
    in_process_ = true;
    auto self = shared_from_this();
    const ServerLimits& limits = server_.limits_;
    evbuffer* in = bufferevent_get_input(bev_);
    bool paused_for_pending = false;
    while (!closing_) {
        if (handler_->pending() >= limits.max_pending) {
            paused_for_pending = true;
            break;
        }
        size_t len = evbuffer_get_length(in);
        if (len == 0) break;
        if (server_.framer_.next) {
            std::string message;
            if (!nextFramed(&message)) break;
            handler_->onLine(message);
            continue;
        }
        size_t eol_len = 0;
        evbuffer_ptr pos = evbuffer_search_eol(in, nullptr, &eol_len, EVBUFFER_EOL_LF);
        size_t window = pos.pos < 0 ? std::min(len, limits.max_line_bytes + 1)
                                    : std::min(static_cast<size_t>(pos.pos) + 1, limits.max_line_bytes + 2);
        auto* data = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(window)));
        proto::FramerLimits fl{limits.max_line_bytes};
        auto framed = proto::nextLine(std::string_view(data, window), fl, limits.strip_cr);
        if (std::holds_alternative<proto::NeedMore>(framed)) break;
        if (std::holds_alternative<proto::LineTooLong>(framed)) {
            log::warning("line too long, disconnecting",
                         {{"server", server_.name_}, {"conn.id", id_}, {"peer", peer_},
                          {"limit", static_cast<unsigned long long>(limits.max_line_bytes)}});
            close(DisconnectReason::LineTooLong);
            break;
        }
        const auto& line = std::get<proto::Line>(framed);
        std::string text(line.text);
        evbuffer_drain(in, line.consumed);
        handler_->onLine(text);
    }
    flushBatch();
    if (!closing_) {
        bool want_read = !paused_for_pending && outputBytes() <= limits.max_output_bytes;
        if (want_read && reading_paused_) {
            reading_paused_ = false;
            bufferevent_enable(bev_, EV_READ);
        } else if (!want_read && !reading_paused_) {
            reading_paused_ = true;
            bufferevent_disable(bev_, EV_READ);
        }
    }
    in_process_ = false;
}

bool LineConnection::nextFramed(std::string* text) {
    const ServerLimits& limits = server_.limits_;
    evbuffer* in = bufferevent_get_input(bev_);
    size_t len = evbuffer_get_length(in);
    size_t window = std::min(len, limits.max_line_bytes + server_.framer_.overhead);
    auto* data = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(window)));
    Frame frame = server_.framer_.next(std::string_view(data, window), limits.max_line_bytes);
    if (frame.kind == Frame::Kind::NeedMore && window < len) frame.kind = Frame::Kind::TooLong;
    switch (frame.kind) {
        case Frame::Kind::Message:
            text->assign(frame.text);
            evbuffer_drain(in, frame.consumed);
            return true;
        case Frame::Kind::NeedMore:
            return false;
        case Frame::Kind::TooLong:
            log::warning("message too long, disconnecting",
                         {{"server", server_.name_}, {"conn.id", id_}, {"peer", peer_},
                          {"limit", static_cast<unsigned long long>(limits.max_line_bytes)}});
            close(DisconnectReason::LineTooLong);
            return false;
        case Frame::Kind::Malformed:
            log::warning("malformed framing, disconnecting",
                         {{"server", server_.name_}, {"conn.id", id_}, {"peer", peer_}, {"error", frame.error}});
            close(DisconnectReason::ProtocolError);
            return false;
    }
    return false;
}

void LineConnection::onRead(bufferevent* /*bev*/, void* arg) noexcept {
    auto* conn = static_cast<LineConnection*>(arg);
    barrier(conn, [&] { conn->processInput(); });
}

void LineConnection::onWrite(bufferevent* /*bev*/, void* arg) noexcept {
    auto* conn = static_cast<LineConnection*>(arg);
    barrier(conn, [&] {
        auto self = conn->shared_from_this();
        if (conn->closing_) {
            if (conn->outputBytes() == 0) conn->finish();
            return;
        }
        if (conn->reading_paused_ && conn->outputBytes() <= conn->server_.limits_.max_output_bytes / 2) {
            conn->handler_->onOutputDrained();
            conn->processInput();
        } else {
            conn->handler_->onOutputDrained();
        }
    });
}

void LineConnection::onEvent(bufferevent* /*bev*/, short what, void* arg) noexcept {
    auto* conn = static_cast<LineConnection*>(arg);
    barrier(conn, [&] {
        auto self = conn->shared_from_this();
        if (what & BEV_EVENT_TIMEOUT) {
            // A write timeout means not one byte of the answers left for a whole idle
            // period: the peer does not read. That is idleness too (and the connection
            // would otherwise be held, with its full output buffer, for ever).
            bool stalled = (what & BEV_EVENT_WRITING) != 0 && conn->outputBytes() > 0;
            bool busy = !stalled &&
                        (conn->handler_->pending() > 0 || (conn->outputBytes() > 0 && !conn->closing_));
            if (busy) {
                // Waiting on our own backend or on a slow reader is not idleness of the
                // peer; keep the connection (each command has its own deadline).
                if (!conn->reading_paused_) bufferevent_enable(conn->bev_, EV_READ);
                bufferevent_enable(conn->bev_, EV_WRITE);
                return;
            }
            if (!conn->closing_) conn->reason_ = DisconnectReason::IdleTimeout;
            conn->closing_ = true;
            conn->finish();
            return;
        }
        if (what & BEV_EVENT_EOF) {
            // The peer closed; answers still owed cannot be delivered.
            if (!conn->closing_) conn->reason_ = DisconnectReason::PeerClosed;
            conn->closing_ = true;
            conn->finish();
            return;
        }
        if (what & BEV_EVENT_ERROR) {
            if (!conn->closing_) conn->reason_ = DisconnectReason::IoError;
            conn->closing_ = true;
            conn->finish();
        }
    });
}

LineServer::LineServer(Loop& loop, std::string name, ServerLimits limits, HandlerFactory factory, Framer framer)
    : loop_(loop), name_(std::move(name)), limits_(limits), factory_(std::move(factory)), framer_(std::move(framer)) {
    reap_ev_ = event_new(loop_.base(), -1, 0, &LineServer::reapCb, this);
}

LineServer::~LineServer() {
    for (auto* l : listeners_) evconnlistener_free(l);
    for (const auto& p : unix_paths_) unlink(p.c_str());
    for (auto& [id, conn] : conns_) {
        conn->finished_ = true;  // no callbacks into a server being destroyed
    }
    conns_.clear();
    graveyard_.clear();
    if (reap_ev_ != nullptr) event_free(reap_ev_);
}

Status LineServer::listen(const ListenSpec& spec) {
    auto fd = bindListener(spec);
    if (!fd) return std::move(fd).error();
    evconnlistener* l = evconnlistener_new(loop_.base(), &LineServer::acceptCb, this,
                                           LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, *fd);
    if (l == nullptr) {
        ::close(*fd);
        return Error::config("cannot listen on " + spec.describe());
    }
    listeners_.push_back(l);
    if (!spec.path.empty()) unix_paths_.push_back(spec.path);
    log::info("listening", {{"server", name_}, {"on", spec.describe()}});
    return {};
}

void LineServer::acceptCb(evconnlistener* /*l*/, int fd, sockaddr* addr, int len, void* arg) noexcept {
    auto* self = static_cast<LineServer*>(arg);
    try {
        self->onAccept(fd, peerName(addr, len));
    } catch (const std::bad_alloc&) {
        std::terminate();
    } catch (const std::exception& e) {
        log::error("accept failed", {{"server", self->name_}, {"error", e.what()}});
        ::close(fd);
    }
}

void LineServer::onAccept(int fd, const std::string& peer) {
    if (shutting_down_) {
        ::close(fd);
        return;
    }
    bufferevent* bev = bufferevent_socket_new(loop_.base(), fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == nullptr) {
        ::close(fd);
        return;
    }
    uint64_t id = next_id_++;
    auto conn = std::make_shared<LineConnection>(*this, id, bev, peer);
    conn->handler_ = factory_(*conn);
    bufferevent_setcb(bev, &LineConnection::onRead, &LineConnection::onWrite, &LineConnection::onEvent, conn.get());
    timeval idle = toTimeval(limits_.idle_timeout);
    bufferevent_set_timeouts(bev, &idle, &idle);
    bufferevent_setwatermark(bev, EV_WRITE, limits_.max_output_bytes / 2, 0);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    conns_.emplace(id, std::move(conn));
    ++accepted_;
    updateAccepting();
}

void LineServer::remove(uint64_t id, DisconnectReason reason) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    ++disconnects_[static_cast<int>(reason)];
    if (reason != DisconnectReason::PeerClosed && reason != DisconnectReason::Shutdown) {
        log::info("connection closed", {{"server", name_}, {"conn.id", id}, {"peer", it->second->peer_},
                                       {"reason", disconnectReasonName(reason)}});
    }
    if (it->second->bev_ != nullptr) bufferevent_disable(it->second->bev_, EV_READ | EV_WRITE);
    // Destroy later: we may be inside one of this connection's own callbacks.
    graveyard_.push_back(std::move(it->second));
    conns_.erase(it);
    timeval zero{0, 0};
    event_add(reap_ev_, &zero);
    updateAccepting();
    checkShutdownDone();
}

void LineServer::reapCb(int /*fd*/, short /*what*/, void* arg) noexcept {
    static_cast<LineServer*>(arg)->graveyard_.clear();
}

void LineServer::updateAccepting() {
    bool want = !shutting_down_ && conns_.size() < limits_.max_connections;
    if (want == accepting_) return;
    accepting_ = want;
    for (auto* l : listeners_) {
        if (want) evconnlistener_enable(l);
        else evconnlistener_disable(l);
    }
    if (!want && !shutting_down_) {
        log::warning("connection limit reached, not accepting",
                     {{"server", name_}, {"max_connections", static_cast<unsigned long long>(limits_.max_connections)}});
    }
}

void LineServer::shutdown(std::chrono::milliseconds deadline, std::function<void()> done) {
    shutting_down_ = true;
    shutdown_done_ = std::move(done);
    updateAccepting();
    std::vector<std::shared_ptr<LineConnection>> idle;
    for (auto& [id, conn] : conns_) {
        if (conn->handler_->pending() == 0) idle.push_back(conn);
    }
    for (auto& c : idle) c->close(DisconnectReason::Shutdown);
    shutdown_timer_ = loop_.after(deadline, [this] {
        std::vector<std::shared_ptr<LineConnection>> all;
        for (auto& [id, conn] : conns_) all.push_back(conn);
        for (auto& c : all) {
            c->closing_ = true;
            c->reason_ = DisconnectReason::Shutdown;
            c->finish();
        }
        checkShutdownDone();
    });
    checkShutdownDone();
}

void LineServer::checkShutdownDone() {
    if (!shutting_down_ || !conns_.empty() || !shutdown_done_) return;
    auto done = std::move(shutdown_done_);
    shutdown_done_ = nullptr;
    done();
}

}  // namespace titan::event
