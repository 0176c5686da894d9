#include "replicator/store/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace titan::replicator::store {
namespace {

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string dirOf(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// Writes all of data (retrying short writes and EINTR).
bool writeAll(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

Status syncDir(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Error::unavailable(errnoText("open " + dir));
    int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) return Error::unavailable(errnoText("fsync " + dir));
    return {};
}

}  // namespace

Journal::Journal(JournalOptions options) : options_(std::move(options)) {}

Journal::~Journal() {
    if (fd_ >= 0) {
        if (!buffer_.empty()) (void)flush(true);
        ::close(fd_);
    }
}

Status Journal::openAppend() {
    int fd = ::open(options_.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Error::config(errnoText("open " + options_.path));
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
    struct stat st{};
    if (::fstat(fd_, &st) == 0) bytes_ = static_cast<std::size_t>(st.st_size);
    return {};
}

Result<std::unique_ptr<Journal>> Journal::open(const JournalOptions& options, queue::Replay* replay) {
    if (options.path.empty()) return Error::config("journal path is empty");
    std::unique_ptr<Journal> j(new Journal(options));
    std::string content;
    int rfd = ::open(options.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (rfd >= 0) {
        char buf[65536];
        for (;;) {
            ssize_t n = ::read(rfd, buf, sizeof(buf));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                auto e = errnoText("read " + options.path);
                ::close(rfd);
                return Error::config(e);
            }
            if (n == 0) break;
            content.append(buf, static_cast<std::size_t>(n));
        }
        ::close(rfd);
    } else if (errno != ENOENT) {
        return Error::config(errnoText("open " + options.path));
    }
    *replay = queue::replay(content);
    if (auto st = j->openAppend(); !st) return std::move(st).error();
    if (content.empty()) {
        j->append(queue::HeaderRecord{});
        if (auto st = j->flush(true); !st) return Error::config(st.error().message);
        if (auto st = syncDir(dirOf(options.path)); !st) return Error::config(st.error().message);
    } else if (replay->torn_tail) {
        j->torn_ = true;  // the next write starts on a fresh line
    }
    return j;
}

void Journal::append(const queue::Record& record) { buffer_ += queue::encodeRecord(record); }

Status Journal::flush(bool sync) {
    if (fd_ < 0) return Error::unavailable("journal is not open");
    if (!buffer_.empty()) {
        if (torn_) buffer_.insert(buffer_.begin(), '\n');
        torn_ = false;
        if (!writeAll(fd_, buffer_.data(), buffer_.size())) {
            auto e = errnoText("write " + options_.path);
            torn_ = true;
            if (buffer_.front() == '\n') buffer_.erase(0, 1);
            return Error::unavailable(e);
        }
        bytes_ += buffer_.size();
        buffer_.clear();
    }
    if (sync && options_.fsync && ::fdatasync(fd_) != 0) return Error::unavailable(errnoText("fdatasync " + options_.path));
    return {};
}

bool Journal::wantsCompaction(std::size_t live_records) const {
    if (bytes_ < options_.compact_min_bytes) return false;
    return bytes_ > 4 * (live_records + 1) * avg_record_;
}

Status Journal::compact(const std::vector<queue::Record>& records) {
    std::string tmp = options_.path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return Error::unavailable(errnoText("open " + tmp));
    std::string out = queue::encodeRecord(queue::HeaderRecord{});
    for (const auto& r : records) out += queue::encodeRecord(r);
    bool ok = writeAll(fd, out.data(), out.size()) && ::fsync(fd) == 0;
    auto e = errnoText("write " + tmp);
    ::close(fd);
    if (!ok) {
        ::unlink(tmp.c_str());
        return Error::unavailable(e);
    }
    if (::rename(tmp.c_str(), options_.path.c_str()) != 0) {
        auto re = errnoText("rename " + tmp);
        ::unlink(tmp.c_str());
        return Error::unavailable(re);
    }
    (void)syncDir(dirOf(options_.path));
    buffer_.clear();
    torn_ = false;
    if (auto st = openAppend(); !st) return Error::unavailable(st.error().message);
    if (!records.empty()) avg_record_ = std::max<std::size_t>(16, out.size() / (records.size() + 1));
    return {};
}

}  // namespace titan::replicator::store
