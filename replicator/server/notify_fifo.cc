#include "replicator/server/notify_fifo.h"

#include <event2/event.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include "common/log/log.h"
#include "common/proto/line_framer.h"

namespace titan::replicator::server {
namespace {
std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }
}  // namespace

NotifyFifo::NotifyFifo(event::Loop& loop, FifoSpec spec, Handlers handlers)
    : loop_(loop), spec_(std::move(spec)), handlers_(std::move(handlers)) {}

NotifyFifo::~NotifyFifo() { closeFds(); }

void NotifyFifo::closeFds() {
    if (ev_ != nullptr) {
        event_free(ev_);
        ev_ = nullptr;
    }
    for (int* fd : {&read_fd_, &write_fd_}) {
        if (*fd >= 0) {
            ::close(*fd);
            *fd = -1;
        }
    }
}

Status NotifyFifo::open() {
    closeFds();
    struct stat st{};
    if (::lstat(spec_.path.c_str(), &st) == 0) {
        // A fifo left by an earlier run is reused: Dovecot processes that still hold it
        // open keep writing to the same one.
        if (!S_ISFIFO(st.st_mode)) return Error::config(spec_.path + " exists and is not a fifo");
    } else {
        mode_t old = ::umask(0177);
        int rc = ::mkfifo(spec_.path.c_str(), 0600);
        ::umask(old);
        if (rc != 0) return Error::config(errnoText("mkfifo " + spec_.path));
    }
    if (!spec_.group.empty()) {
        struct group* g = ::getgrnam(spec_.group.c_str());
        if (g == nullptr) return Error::config("unknown group '" + spec_.group + "' for " + spec_.path);
        if (::chown(spec_.path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
            return Error::config(errnoText("chown " + spec_.path));
        }
    }
    if (::chmod(spec_.path.c_str(), static_cast<mode_t>(spec_.mode)) != 0) {
        return Error::config(errnoText("chmod " + spec_.path));
    }
    read_fd_ = ::open(spec_.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (read_fd_ < 0) return Error::config(errnoText("open " + spec_.path));
    write_fd_ = ::open(spec_.path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (write_fd_ < 0) return Error::config(errnoText("open for writing " + spec_.path));
    if (::fstat(read_fd_, &st) != 0) return Error::config(errnoText("fstat " + spec_.path));
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    buffer_.clear();
    discarding_ = false;
    ev_ = event_new(loop_.base(), read_fd_, EV_READ | EV_PERSIST, &NotifyFifo::onRead, this);
    event_add(ev_, nullptr);
    if (!check_timer_) check_timer_ = loop_.every(std::chrono::milliseconds(2000), [this] { check(); });
    return {};
}

void NotifyFifo::close() {
    check_timer_.reset();
    if (read_fd_ >= 0) {
        struct stat st{};
        if (::lstat(spec_.path.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) ::unlink(spec_.path.c_str());
    }
    closeFds();
}

void NotifyFifo::check() {
    struct stat st{};
    bool ours = ::lstat(spec_.path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode) && st.st_dev == dev_ && st.st_ino == ino_;
    if (ours) return;
    log::warning("notify fifo was removed or replaced; re-creating it", {{"path", spec_.path}});
    if (read_fd_ >= 0) readAvailable();  // whatever is still in the old one
    if (auto s = open(); !s) log::error("cannot re-create the notify fifo", {{"error", s.error().message}});
}

void NotifyFifo::onRead(int /*fd*/, short /*what*/, void* arg) noexcept {
    auto* self = static_cast<NotifyFifo*>(arg);
    try {
        self->readAvailable();
    } catch (const std::exception& e) {
        log::error("notify fifo read failed", {{"error", e.what()}});
    }
}

void NotifyFifo::readAvailable() {
    char buf[16384];
    bool any = false;
    for (int rounds = 0; rounds < 64; ++rounds) {
        ssize_t n = ::read(read_fd_, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // EAGAIN; EOF cannot happen while we hold a writer
        buffer_.append(buf, static_cast<std::size_t>(n));
        any = true;
        titan::proto::FramerLimits limits;
        limits.max_line_bytes = proto::kMaxLineBytes;
        std::size_t pos = 0;
        for (;;) {
            std::string_view rest(buffer_.data() + pos, buffer_.size() - pos);
            if (discarding_) {
                auto lf = rest.find('\n');
                if (lf == std::string_view::npos) {
                    pos = buffer_.size();
                    break;
                }
                pos += lf + 1;
                discarding_ = false;
                continue;
            }
            auto fr = titan::proto::nextLine(rest, limits);
            if (std::holds_alternative<titan::proto::NeedMore>(fr)) break;
            if (std::holds_alternative<titan::proto::LineTooLong>(fr)) {
                if (handlers_.bad_line) handlers_.bad_line("line too long");
                discarding_ = true;
                continue;
            }
            const auto& line = std::get<titan::proto::Line>(fr);
            pos += line.consumed;
            ++lines_;
            auto parsed = proto::parseNotifyLine(line.text);
            if (const auto* note = std::get_if<proto::Notification>(&parsed)) {
                if (handlers_.notification) handlers_.notification(*note);
            } else if (handlers_.bad_line) {
                handlers_.bad_line(std::get<proto::NotifyError>(parsed).reason);
            }
        }
        buffer_.erase(0, pos);
    }
    if (any && handlers_.batch_done) handlers_.batch_done();
}

}  // namespace titan::replicator::server
