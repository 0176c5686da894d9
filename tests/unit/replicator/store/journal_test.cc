#include "replicator/store/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace titan::replicator;
using queue::Priority;

namespace {

queue::Time at(long long ms) { return queue::Time(std::chrono::milliseconds(ms)); }

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/titan-journal-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() {
        if (std::system(("rm -rf '" + path + "'").c_str()) != 0) {
            // best effort: a leftover directory under /tmp is harmless
        }
    }
};

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

queue::DirtyRecord dirty(const char* user, Priority p, long long ms) {
    return queue::DirtyRecord{queue::DirtyState{user, p, at(ms), false}};
}

}  // namespace

TEST_CASE("journal file: created with a header, appended, replayed after reopening", "[glue]") {
    TempDir dir;
    store::JournalOptions opts{dir.path + "/queue.journal", true, 1 << 20};
    queue::Replay replay;
    {
        auto j = store::Journal::open(opts, &replay);
        REQUIRE(j);
        CHECK(replay.records == 0);
        CHECK(slurp(opts.path) == queue::encodeRecord(queue::HeaderRecord{}));
        (*j)->append(dirty("a@x", Priority::High, 10));
        CHECK((*j)->hasBuffered());
        CHECK(slurp(opts.path).find("a@x") == std::string::npos);  // nothing before flush
        REQUIRE((*j)->flush(true));
        (*j)->append(dirty("b@x", Priority::Low, 20));
        (*j)->append(queue::CleanRecord{"a@x"});
        REQUIRE((*j)->flush(false));
        struct stat st{};
        REQUIRE(::stat(opts.path.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
        CHECK((*j)->bytes() == static_cast<std::size_t>(st.st_size));
    }
    auto j = store::Journal::open(opts, &replay);
    REQUIRE(j);
    CHECK(replay.header);
    CHECK(replay.dirty.size() == 1);
    CHECK(replay.dirty.count("b@x") == 1);
}

TEST_CASE("journal file: a torn last line loses only that record", "[glue]") {
    TempDir dir;
    store::JournalOptions opts{dir.path + "/queue.journal", true, 1 << 20};
    queue::Replay replay;
    {
        auto j = store::Journal::open(opts, &replay);
        REQUIRE(j);
        (*j)->append(dirty("a@x", Priority::High, 10));
        REQUIRE((*j)->flush(true));
    }
    // A crash in the middle of a write: half a record, no LF.
    std::string half = queue::encodeRecord(dirty("torn@x", Priority::High, 11));
    {
        std::ofstream f(opts.path, std::ios::app);
        f << half.substr(0, half.size() / 2);
    }
    auto j = store::Journal::open(opts, &replay);
    REQUIRE(j);
    CHECK(replay.torn_tail);
    CHECK(replay.dirty.count("a@x") == 1);
    CHECK(replay.dirty.count("torn@x") == 0);
    // The next record starts on a line of its own and is not lost.
    (*j)->append(dirty("c@x", Priority::Low, 12));
    REQUIRE((*j)->flush(true));
    j->reset();
    auto again = store::Journal::open(opts, &replay);
    REQUIRE(again);
    CHECK(replay.bad_lines == 1);  // the torn half, now terminated
    CHECK_FALSE(replay.torn_tail);
    CHECK(replay.dirty.count("a@x") == 1);
    CHECK(replay.dirty.count("c@x") == 1);
}

TEST_CASE("journal file: compaction keeps the state and shrinks the file", "[glue]") {
    TempDir dir;
    store::JournalOptions opts{dir.path + "/queue.journal", false, 4096};
    queue::Replay replay;
    auto j = store::Journal::open(opts, &replay);
    REQUIRE(j);
    for (int i = 0; i < 500; ++i) {
        std::string u = "user" + std::to_string(i) + "@example.test";
        (*j)->append(dirty(u.c_str(), Priority::High, i));
        (*j)->append(queue::CleanRecord{u});
    }
    (*j)->append(dirty("left@x", Priority::Sync, 7));
    REQUIRE((*j)->flush(true));
    CHECK((*j)->wantsCompaction(2));
    CHECK_FALSE((*j)->wantsCompaction(100000));
    auto before = (*j)->bytes();
    REQUIRE((*j)->compact({dirty("left@x", Priority::Sync, 7), queue::PauseRecord{"dc2", true}}));
    CHECK((*j)->bytes() < before / 10);
    CHECK_FALSE((*j)->wantsCompaction(2));
    CHECK(::access((opts.path + ".tmp").c_str(), F_OK) != 0);
    // appends after a compaction go to the new file
    (*j)->append(dirty("after@x", Priority::Low, 8));
    REQUIRE((*j)->flush(true));
    j->reset();
    auto again = store::Journal::open(opts, &replay);
    REQUIRE(again);
    CHECK(replay.bad_lines == 0);
    CHECK(replay.dirty.size() == 2);
    CHECK(replay.dirty.at("left@x").priority == Priority::Sync);
    CHECK(replay.dirty.count("after@x") == 1);
    CHECK(replay.paused.count("dc2") == 1);
}

TEST_CASE("journal file: unusable paths are configuration errors", "[glue]") {
    queue::Replay replay;
    CHECK_FALSE(store::Journal::open({"", true, 1 << 20}, &replay));
    auto r = store::Journal::open({"/nonexistent-dir/queue.journal", true, 1 << 20}, &replay);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == titan::ErrorCode::Config);
}
