#include "replicator/runner/process.h"

#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include "common/log/log.h"

namespace titan::replicator::runner {
namespace {

enum class Kind : int { Out, Err, Pid, Deadline, Kill, Poll };

int pidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

timeval toTimeval(std::chrono::milliseconds d) {
    if (d.count() < 0) d = std::chrono::milliseconds(0);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(d.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
    return tv;
}

}  // namespace

struct ProcessRunner::Child {
    struct Handle {
        ProcessRunner* runner;
        std::uint64_t id;
        Kind kind;
    };
    std::uint64_t id = 0;
    pid_t pid = -1;
    int out_fd = -1;
    int err_fd = -1;
    int pid_fd = -1;
    bool exited = false;
    bool drain_armed = false;
    SpawnRequest request;
    Done done;
    ProcessResult result;
    std::chrono::steady_clock::time_point started;
    Handle h_out, h_err, h_pid, h_deadline, h_kill, h_poll;
    struct event* ev_out = nullptr;
    struct event* ev_err = nullptr;
    struct event* ev_pid = nullptr;
    struct event* ev_deadline = nullptr;
    struct event* ev_kill = nullptr;
    struct event* ev_poll = nullptr;

    void closeIo() {
        for (auto** ev : {&ev_out, &ev_err, &ev_pid, &ev_deadline, &ev_kill, &ev_poll}) {
            if (*ev != nullptr) {
                event_free(*ev);
                *ev = nullptr;
            }
        }
        for (int* fd : {&out_fd, &err_fd, &pid_fd}) {
            if (*fd >= 0) {
                ::close(*fd);
                *fd = -1;
            }
        }
    }
};

ProcessRunner::ProcessRunner(event::Loop& loop) : loop_(loop) {}

ProcessRunner::~ProcessRunner() {
    for (auto& [id, c] : children_) {
        c->closeIo();
        if (c->pid > 0 && !c->exited) {
            ::kill(-c->pid, SIGKILL);
            int status = 0;
            while (::waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
            }
        }
    }
}

std::uint64_t ProcessRunner::start(SpawnRequest request, Done done) {
    auto child = std::make_unique<Child>();
    Child& c = *child;
    c.id = next_id_++;
    c.request = std::move(request);
    c.done = std::move(done);
    c.started = std::chrono::steady_clock::now();
    c.h_out = {this, c.id, Kind::Out};
    c.h_err = {this, c.id, Kind::Err};
    c.h_pid = {this, c.id, Kind::Pid};
    c.h_deadline = {this, c.id, Kind::Deadline};
    c.h_kill = {this, c.id, Kind::Kill};
    c.h_poll = {this, c.id, Kind::Poll};
    event_base* base = loop_.base();

    auto fail = [&](const std::string& why) {
        c.result.spawn_failed = true;
        c.result.spawn_error = why;
        c.exited = true;
        // Reported from the loop, never inside start().
        c.ev_deadline = evtimer_new(base, &ProcessRunner::onTimer, &c.h_deadline);
        timeval zero{};
        evtimer_add(c.ev_deadline, &zero);
        std::uint64_t id = c.id;
        children_.emplace(id, std::move(child));
        return id;
    };

    if (c.request.argv.empty() || c.request.argv[0].empty() || c.request.argv[0][0] != '/') {
        return fail("argv[0] must be an absolute path");
    }
    int out_pipe[2] = {-1, -1};
    int err_pipe[2] = {-1, -1};
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
        int e = errno;
        ::close(out_pipe[0]);
        ::close(out_pipe[1]);
        return fail(std::string("pipe: ") + std::strerror(e));
    }

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigset_t all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);  // undo our SIG_IGN of SIGPIPE
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<char*> argv;
    for (auto& a : c.request.argv) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& e : c.request.env) envp.push_back(e.data());
    envp.push_back(nullptr);

    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (rc != 0) {
        ::close(out_pipe[0]);
        ::close(err_pipe[0]);
        return fail("spawn " + c.request.argv[0] + ": " + std::strerror(rc));
    }
    c.pid = pid;
    c.out_fd = out_pipe[0];
    c.err_fd = err_pipe[0];
    for (int fd : {c.out_fd, c.err_fd}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    c.ev_out = event_new(base, c.out_fd, EV_READ | EV_PERSIST, &ProcessRunner::onIo, &c.h_out);
    c.ev_err = event_new(base, c.err_fd, EV_READ | EV_PERSIST, &ProcessRunner::onIo, &c.h_err);
    event_add(c.ev_out, nullptr);
    event_add(c.ev_err, nullptr);
    c.pid_fd = pidfdOpen(pid);
    if (c.pid_fd >= 0) {
        c.ev_pid = event_new(base, c.pid_fd, EV_READ, &ProcessRunner::onIo, &c.h_pid);
        event_add(c.ev_pid, nullptr);
    } else {
        // No pidfd (old kernel): poll for the exit.
        c.ev_poll = event_new(base, -1, EV_PERSIST, &ProcessRunner::onTimer, &c.h_poll);
        timeval tv = toTimeval(std::chrono::milliseconds(20));
        event_add(c.ev_poll, &tv);
    }
    c.ev_deadline = evtimer_new(base, &ProcessRunner::onTimer, &c.h_deadline);
    timeval deadline = toTimeval(c.request.timeout);
    evtimer_add(c.ev_deadline, &deadline);
    std::uint64_t id = c.id;
    children_.emplace(id, std::move(child));
    return id;
}

void ProcessRunner::cancel(std::uint64_t id) {
    auto it = children_.find(id);
    if (it == children_.end()) return;
    Child& c = *it->second;
    if (c.pid <= 0 || c.exited) return;
    ::kill(-c.pid, SIGTERM);
    if (c.ev_kill == nullptr) {
        c.ev_kill = evtimer_new(loop_.base(), &ProcessRunner::onTimer, &c.h_kill);
        timeval tv = toTimeval(c.request.kill_grace);
        evtimer_add(c.ev_kill, &tv);
    }
}

void ProcessRunner::onIo(int fd, short /*what*/, void* arg) noexcept {
    auto* h = static_cast<Child::Handle*>(arg);
    ProcessRunner* self = h->runner;
    try {
        auto it = self->children_.find(h->id);
        if (it == self->children_.end()) return;
        Child& c = *it->second;
        if (h->kind == Kind::Pid) {
            int status = 0;
            pid_t r = ::waitpid(c.pid, &status, WNOHANG);
            if (r == c.pid) {
                c.exited = true;
                if (WIFEXITED(status)) c.result.exit_code = WEXITSTATUS(status);
                if (WIFSIGNALED(status)) c.result.signal = WTERMSIG(status);
                if (c.ev_pid != nullptr) {
                    event_free(c.ev_pid);
                    c.ev_pid = nullptr;
                }
            }
            self->check(h->id);
            return;
        }
        bool is_out = h->kind == Kind::Out;
        std::string& sink = is_out ? c.result.out : c.result.err;
        bool& truncated = is_out ? c.result.out_truncated : c.result.err_truncated;
        char buf[16384];
        for (;;) {
            ssize_t n = ::read(fd, buf, sizeof(buf));
            if (n > 0) {
                std::size_t room = c.request.max_output > sink.size() ? c.request.max_output - sink.size() : 0;
                std::size_t take = std::min(room, static_cast<std::size_t>(n));
                sink.append(buf, take);
                if (take < static_cast<std::size_t>(n)) truncated = true;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            // EOF or error: this stream is done.
            struct event*& ev = is_out ? c.ev_out : c.ev_err;
            int& owned = is_out ? c.out_fd : c.err_fd;
            if (ev != nullptr) {
                event_free(ev);
                ev = nullptr;
            }
            if (owned >= 0) {
                ::close(owned);
                owned = -1;
            }
            break;
        }
        self->check(h->id);
    } catch (const std::exception& e) {
        log::error("process runner callback failed", {{"error", e.what()}});
    }
}

void ProcessRunner::onTimer(int /*fd*/, short /*what*/, void* arg) noexcept {
    auto* h = static_cast<Child::Handle*>(arg);
    ProcessRunner* self = h->runner;
    try {
        auto it = self->children_.find(h->id);
        if (it == self->children_.end()) return;
        Child& c = *it->second;
        switch (h->kind) {
            case Kind::Deadline:
                if (c.result.spawn_failed) {
                    self->finish(h->id);
                    return;
                }
                if (c.exited) {
                    // Exited, but something (a grandchild) still holds the pipes open.
                    self->finish(h->id);
                    return;
                }
                c.result.timed_out = true;
                ::kill(-c.pid, SIGTERM);
                if (c.ev_kill == nullptr) {
                    c.ev_kill = evtimer_new(self->loop_.base(), &ProcessRunner::onTimer, &c.h_kill);
                    timeval tv = toTimeval(c.request.kill_grace);
                    evtimer_add(c.ev_kill, &tv);
                }
                return;
            case Kind::Kill:
                if (!c.exited) ::kill(-c.pid, SIGKILL);
                return;
            case Kind::Poll: {
                int status = 0;
                if (::waitpid(c.pid, &status, WNOHANG) == c.pid) {
                    c.exited = true;
                    if (WIFEXITED(status)) c.result.exit_code = WEXITSTATUS(status);
                    if (WIFSIGNALED(status)) c.result.signal = WTERMSIG(status);
                    event_free(c.ev_poll);
                    c.ev_poll = nullptr;
                    self->check(h->id);
                }
                return;
            }
            default: return;
        }
    } catch (const std::exception& e) {
        log::error("process runner timer failed", {{"error", e.what()}});
    }
}

void ProcessRunner::check(std::uint64_t id) {
    auto it = children_.find(id);
    if (it == children_.end()) return;
    Child& c = *it->second;
    if (!c.exited) return;
    if (c.out_fd < 0 && c.err_fd < 0) {
        finish(id);
        return;
    }
    if (!c.drain_armed) {
        // The program is gone; give the pipes a moment to deliver their last bytes.
        c.drain_armed = true;
        if (c.ev_deadline != nullptr) event_del(c.ev_deadline);
        timeval tv = toTimeval(std::chrono::milliseconds(500));
        if (c.ev_deadline == nullptr) c.ev_deadline = evtimer_new(loop_.base(), &ProcessRunner::onTimer, &c.h_deadline);
        evtimer_add(c.ev_deadline, &tv);
    }
}

void ProcessRunner::finish(std::uint64_t id) {
    auto it = children_.find(id);
    if (it == children_.end()) return;
    std::unique_ptr<Child> c = std::move(it->second);
    children_.erase(it);
    c->closeIo();
    c->result.duration =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - c->started);
    Done done = std::move(c->done);
    ProcessResult result = std::move(c->result);
    c.reset();
    if (done) done(std::move(result));
}

}  // namespace titan::replicator::runner
