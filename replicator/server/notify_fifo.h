// The replication-notify fifo that Dovecot's replication plugin writes to
// ("<user>\t<low|high>\n", protocols.md 6.3), owned by titan-replicator in place of
// Dovecot's aggregator. It creates the fifo (mode and group from the config), keeps a
// writer of its own open so the reader never sees end-of-file, frames lines with a
// bound, and re-creates the fifo if something removed or replaced it. Lines are
// handed to a callback; a malformed or overlong line is logged, counted and skipped
// (the fifo has no reply channel). Loop thread only. Layer: replicator/server.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/base/result.h"
#include "common/event/loop.h"
#include "replicator/proto/notify.h"

struct event;

namespace titan::replicator::server {

struct FifoSpec {
    std::string path;
    unsigned mode = 0660;
    std::string group;  // empty: keep the process's group
};

class NotifyFifo {
public:
    struct Handlers {
        std::function<void(const proto::Notification&)> notification;
        std::function<void(const std::string& reason)> bad_line;  // counted by the caller
        std::function<void()> batch_done;  // after each read: the caller commits its journal
    };

    NotifyFifo(event::Loop& loop, FifoSpec spec, Handlers handlers);
    ~NotifyFifo();
    NotifyFifo(const NotifyFifo&) = delete;
    NotifyFifo& operator=(const NotifyFifo&) = delete;

    // Creates the fifo (one left at the path by an earlier run is reused, so writers
    // holding it open stay connected; any other kind of file is an error), applies
    // mode and group, and starts reading. Errors: Config.
    Status open();
    // Stops reading and removes the fifo (writers then get ENXIO and the plugin stops
    // notifying, as it does when Dovecot's own aggregator is down).
    void close();

    // Re-creates the fifo when the path no longer names ours. Called periodically.
    void check();

    unsigned long long lines() const noexcept { return lines_; }

private:
    static void onRead(int fd, short what, void* arg) noexcept;
    void readAvailable();
    void closeFds();

    event::Loop& loop_;
    FifoSpec spec_;
    Handlers handlers_;
    int read_fd_ = -1;
    int write_fd_ = -1;  // keeps the fifo open for writing: no EOF when writers come and go
    struct event* ev_ = nullptr;
    dev_t dev_ = 0;
    ino_t ino_ = 0;
    std::string buffer_;
    bool discarding_ = false;  // inside an overlong line: drop bytes up to the next LF
    unsigned long long lines_ = 0;
    std::unique_ptr<event::Timer> check_timer_;
};

}  // namespace titan::replicator::server
