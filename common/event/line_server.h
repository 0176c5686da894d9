// A server for LF-terminated line protocols (Dovecot dict/auth, Postfix policy
// framing is line based too): listeners, per-connection limits and lifetimes.
// It enforces the bounds (line bytes, commands in progress, output bytes, idle time,
// connection count) and hands complete lines to a protocol handler. Another framing
// (netstrings) can be plugged in with a Framer. It knows nothing about any protocol.
// Loop thread only. Layer: common/event.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/base/result.h"
#include "common/event/listener.h"
#include "common/event/loop.h"

struct bufferevent;
struct evconnlistener;
struct sockaddr;

namespace titan::event {

enum class DisconnectReason : int {
    PeerClosed, IdleTimeout, LineTooLong, ProtocolError, OutputOverflow, Shutdown, IoError, Internal,
};
inline constexpr int kDisconnectReasonCount = 8;
const char* disconnectReasonName(DisconnectReason r) noexcept;

struct ServerLimits {
    size_t max_connections = 1024;          // accepting pauses at this count
    std::chrono::milliseconds idle_timeout{60000};
    size_t max_line_bytes = 65536;          // longer lines: logged disconnect
    size_t max_pending = 1000;              // commands in progress per connection, then stop reading
    size_t max_output_bytes = 4u << 20;     // above this, reading pauses until the peer drains
    bool strip_cr = false;                  // accept CR LF (policy) or keep CR as data (dict)
};

// How a connection's input is cut into messages. The default (an empty `next`) is
// LF-terminated lines, as described above; a protocol with other framing (Postfix
// socketmap netstrings) supplies its own. Every limit still applies, with
// max_line_bytes bounding one message, and each message reaches LineHandler::onLine().
struct Frame {
    enum class Kind { Message, NeedMore, TooLong, Malformed };
    Kind kind = Kind::NeedMore;
    std::string_view text;  // Message: the message handed to onLine()
    size_t consumed = 0;    // Message: bytes to drop from the front of the input
    std::string error;      // Malformed: why, for the log (never quotes peer bytes)
};

struct Framer {
    // Cuts the first message from `buffered`, the front of the input. Must be pure and
    // decide within max_message_bytes + overhead bytes: the server passes at most that
    // many, and treats NeedMore on a full window as TooLong. TooLong and Malformed
    // close the connection (logged; reasons line_too_long and protocol_error).
    std::function<Frame(std::string_view buffered, size_t max_message_bytes)> next;
    size_t overhead = 0;  // framing bytes around a message of max_message_bytes
};

class LineConnection;

// Protocol logic for one connection. Owned by its LineConnection.
class LineHandler {
public:
    virtual ~LineHandler() = default;
    // One complete line, without its LF. May write, close, or start async work.
    virtual void onLine(std::string_view line) = 0;
    // Commands still in progress; at max_pending the connection stops reading until
    // the handler calls LineConnection::resume().
    virtual size_t pending() const { return 0; }
    // The output buffer has drained below half of max_output_bytes.
    virtual void onOutputDrained() {}
    // The connection is closing; no further write() reaches the peer.
    virtual void onClose(DisconnectReason /*reason*/) {}
};

class LineServer;

class LineConnection : public std::enable_shared_from_this<LineConnection> {
public:
    LineConnection(LineServer& server, uint64_t id, bufferevent* bev, std::string peer);
    ~LineConnection();
    LineConnection(const LineConnection&) = delete;
    LineConnection& operator=(const LineConnection&) = delete;

    // Queue bytes for the peer. Ignored once the connection is closing. Bytes written
    // while the lines of one read are being handled go out together after the last one.
    void write(std::string_view data);
    // Close with a reason. Output already queued is flushed first (bounded by the idle
    // timeout); input is no longer read. Safe to call from inside onLine().
    void close(DisconnectReason reason);
    // After a pending command finished: process buffered lines and read again.
    void resume();

    bool closing() const noexcept { return closing_; }
    uint64_t id() const noexcept { return id_; }
    const std::string& peer() const noexcept { return peer_; }
    size_t outputBytes() const;
    std::weak_ptr<LineConnection> weak() { return weak_from_this(); }
    LineHandler* handler() const noexcept { return handler_.get(); }

private:
    friend class LineServer;
    void processInput();
    bool nextFramed(std::string* text);
    void send(std::string_view data);
    void flushBatch();
    void finish();
    static void onRead(bufferevent* bev, void* arg) noexcept;
    static void onWrite(bufferevent* bev, void* arg) noexcept;
    static void onEvent(bufferevent* bev, short what, void* arg) noexcept;

    LineServer& server_;
    uint64_t id_;
    bufferevent* bev_;
    std::string peer_;
    std::unique_ptr<LineHandler> handler_;
    std::string batch_;  // written during processInput(), sent when it ends
    bool closing_ = false;
    bool finished_ = false;
    bool reading_paused_ = false;
    bool in_process_ = false;
    DisconnectReason reason_ = DisconnectReason::PeerClosed;
};

// Creates the handler for a new connection.
using HandlerFactory = std::function<std::unique_ptr<LineHandler>(LineConnection&)>;

class LineServer {
public:
    // `framer` cuts the input into messages; the default is LF-terminated lines.
    LineServer(Loop& loop, std::string name, ServerLimits limits, HandlerFactory factory, Framer framer = {});
    ~LineServer();
    LineServer(const LineServer&) = delete;
    LineServer& operator=(const LineServer&) = delete;

    // Bind and start accepting. May be called for several listeners. Errors: Config.
    Status listen(const ListenSpec& spec);
    // New limits apply to new reads and new connections (SIGHUP reload).
    void setLimits(const ServerLimits& limits) { limits_ = limits; }
    const ServerLimits& limits() const noexcept { return limits_; }

    // Graceful stop: stop accepting, close idle connections now and busy ones when
    // their pending commands finish; `done` runs when none is left or at `deadline`.
    void shutdown(std::chrono::milliseconds deadline, std::function<void()> done);

    size_t connections() const noexcept { return conns_.size(); }
    const std::string& name() const noexcept { return name_; }
    uint64_t acceptedTotal() const noexcept { return accepted_; }
    uint64_t disconnects(DisconnectReason r) const noexcept { return disconnects_[static_cast<int>(r)]; }

private:
    friend class LineConnection;
    void onAccept(int fd, const std::string& peer);
    void remove(uint64_t id, DisconnectReason reason);
    void updateAccepting();
    void checkShutdownDone();
    static void acceptCb(evconnlistener* l, int fd, ::sockaddr* addr, int len, void* arg) noexcept;
    static void reapCb(int fd, short what, void* arg) noexcept;

    Loop& loop_;
    std::string name_;
    ServerLimits limits_;
    HandlerFactory factory_;
    Framer framer_;
    std::vector<evconnlistener*> listeners_;
    std::vector<std::string> unix_paths_;
    std::unordered_map<uint64_t, std::shared_ptr<LineConnection>> conns_;
    std::vector<std::shared_ptr<LineConnection>> graveyard_;
    struct event* reap_ev_ = nullptr;
    uint64_t next_id_ = 1;
    uint64_t accepted_ = 0;
    std::array<uint64_t, kDisconnectReasonCount> disconnects_{};
    bool accepting_ = true;
    bool shutting_down_ = false;
    std::function<void()> shutdown_done_;
    std::unique_ptr<Timer> shutdown_timer_;
};

}  // namespace titan::event
