// The replication queue's journal file: append-only, flushed with fdatasync before a
// request counts as accepted, replayed at start and compacted by rewriting it from
// the live queue (temporary file, fsync, rename, fsync of the directory), so a kill -9
// at any moment leaves either the old or the new complete file.
// Records and replay rules: replicator/queue/journal_format.h. Blocking file I/O on
// the calling (loop) thread: appends are small and group-committed per loop callback.
// Layer: replicator/store.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "replicator/queue/journal_format.h"

namespace titan::replicator::store {

struct JournalOptions {
    std::string path;                      // the journal file; its directory must exist
    bool fsync = true;                     // fdatasync on every flush(true)
    std::size_t compact_min_bytes = 1 << 20;  // never compact a smaller file
};

class Journal {
public:
    // Opens (creating it with a header when missing) and replays the file into
    // `replay`. A damaged line is skipped and counted in replay. Errors: Config (the
    // file or its directory cannot be read, created or opened for appending).
    static Result<std::unique_ptr<Journal>> open(const JournalOptions& options, queue::Replay* replay);
    ~Journal();
    Journal(const Journal&) = delete;
    Journal& operator=(const Journal&) = delete;

    // Buffers one record; nothing reaches the file before flush().
    void append(const queue::Record& record);
    bool hasBuffered() const noexcept { return !buffer_.empty(); }

    // Writes the buffered records, then fdatasync when `sync` (and options.fsync).
    // Errors: Unavailable (write or sync failed; the records stay buffered and are
    // written again by the next flush, after a line break that ends any torn line).
    Status flush(bool sync);

    // True when the file has grown past compact_min_bytes and is more than four
    // times the size a rewrite of `live_records` records would have.
    bool wantsCompaction(std::size_t live_records) const;

    // Replaces the file by `records` (a header is added first); buffered records are
    // dropped, since the snapshot includes their effect. Errors: Unavailable (the
    // old file stays in use).
    Status compact(const std::vector<queue::Record>& records);

    std::size_t bytes() const noexcept { return bytes_; }
    const std::string& path() const noexcept { return options_.path; }
    void setFsync(bool on) { options_.fsync = on; }

private:
    explicit Journal(JournalOptions options);
    Status openAppend();

    JournalOptions options_;
    int fd_ = -1;
    std::string buffer_;
    std::size_t bytes_ = 0;
    std::size_t avg_record_ = 64;
    bool torn_ = false;  // a write failed part way: start the next one on a new line
};

}  // namespace titan::replicator::store
