#include "replicator/queue/journal_format.h"

#include <catch2/catch.hpp>

using namespace titan::replicator::queue;

namespace {
Time at(long long ms) { return Time(std::chrono::milliseconds(ms)); }
}  // namespace

TEST_CASE("journal: CRC-32 is zlib's", "[codec]") {
    CHECK(crc32("") == 0x00000000U);
    CHECK(crc32("123456789") == 0xCBF43926U);
    CHECK(crc32("The quick brown fox jumps over the lazy dog") == 0x414FA339U);
}

TEST_CASE("journal: every record survives encode and decode", "[codec]") {
    const Record records[] = {
        HeaderRecord{},
        DirtyRecord{DirtyState{"bob@example.test", Priority::High, at(1767225600000), false}},
        DirtyRecord{DirtyState{"a\tb\nc\001@x", Priority::Sync, at(0), true}},
        DirtyRecord{DirtyState{"full@x", Priority::Full, at(5), true}},
        CleanRecord{"bob@example.test"},
        PauseRecord{"dc2", true},
        PauseRecord{"dc-3.example", false},
        SweepRecord{"", at(42)},
        SweepRecord{"m@x", at(43)},
    };
    for (const auto& r : records) {
        std::string line = encodeRecord(r);
        INFO(line);
        REQUIRE(line.back() == '\n');
        CHECK(line.find('\n') == line.size() - 1);
        auto back = decodeRecord(std::string_view(line).substr(0, line.size() - 1));
        REQUIRE(back);
        CHECK(*back == r);
    }
}

TEST_CASE("journal: any damaged byte is detected", "[codec]") {
    std::string line = encodeRecord(DirtyRecord{DirtyState{"bob@example.test", Priority::Low, at(123), false}});
    line.pop_back();
    for (std::size_t i = 0; i < line.size(); ++i) {
        std::string bad = line;
        bad[i] = static_cast<char>(bad[i] ^ 0x20);
        INFO("byte " << i);
        CHECK_FALSE(decodeRecord(bad));
    }
    CHECK_FALSE(decodeRecord(line.substr(0, line.size() - 1)));  // truncated
    CHECK_FALSE(decodeRecord(""));
    CHECK_FALSE(decodeRecord("C\tbob@x\tlow\t1\t0"));  // no CRC
}

TEST_CASE("journal: semantically bad records are refused even with a good CRC", "[codec]") {
    auto withCrc = [](const std::string& body) {
        char buf[9];
        std::snprintf(buf, sizeof(buf), "%08x", crc32(body));
        return body + "\t" + buf;
    };
    const char* bodies[] = {
        "C\tbob@x\tnone\t1\t0",       // priority none
        "C\tbob@x\turgent\t1\t0",     // unknown priority
        "C\tbob@x\tlow\t-1\t0",       // negative time
        "C\tbob@x\tlow\t1\t2",        // bad flag
        "C\t\tlow\t1\t0",             // empty user
        "D\t",                        // empty user
        "P\tdc2\tyes",                // bad flag
        "X\tsomething",               // unknown type
        "H\tsomething-else\t1",       // wrong magic
        "H\ttitan-replicator-journal\t2",  // unknown version
    };
    for (const char* b : bodies) {
        INFO(b);
        CHECK_FALSE(decodeRecord(withCrc(b)));
    }
}

TEST_CASE("journal: replay folds records into the state to restore", "[codec]") {
    std::string file;
    file += encodeRecord(HeaderRecord{});
    file += encodeRecord(DirtyRecord{DirtyState{"a@x", Priority::Low, at(100), false}});
    file += encodeRecord(DirtyRecord{DirtyState{"a@x", Priority::Sync, at(200), false}});
    file += encodeRecord(DirtyRecord{DirtyState{"b@x", Priority::High, at(300), true}});
    file += encodeRecord(CleanRecord{"b@x"});
    file += encodeRecord(DirtyRecord{DirtyState{"b@x", Priority::Low, at(400), false}});
    file += encodeRecord(DirtyRecord{DirtyState{"c@x", Priority::Low, at(500), false}});
    file += "garbage line\n";
    file += encodeRecord(CleanRecord{"c@x"});
    file += "\n";
    file += encodeRecord(PauseRecord{"dc2", true});
    file += encodeRecord(PauseRecord{"dc3", true});
    file += encodeRecord(PauseRecord{"dc3", false});
    file += encodeRecord(SweepRecord{"m@x", at(7)});
    file += encodeRecord(SweepRecord{"n@x", at(7)});
    std::string torn = encodeRecord(DirtyRecord{DirtyState{"d@x", Priority::High, at(600), false}});
    file += torn.substr(0, torn.size() / 2);

    Replay r = replay(file);
    CHECK(r.header);
    CHECK(r.bad_lines == 1);
    CHECK(r.torn_tail);
    REQUIRE(r.dirty.size() == 2);
    const DirtyState& a = r.dirty.at("a@x");
    CHECK(a.priority == Priority::Sync);  // highest of its records
    CHECK(a.oldest == at(100));           // oldest of its records
    const DirtyState& b = r.dirty.at("b@x");
    CHECK(b.priority == Priority::Low);  // the D reset it
    CHECK_FALSE(b.full);
    CHECK(r.dirty.count("c@x") == 0);
    CHECK(r.dirty.count("d@x") == 0);  // torn: never acknowledged
    CHECK(r.paused == std::map<std::string, bool>{{"dc2", true}});
    REQUIRE(r.sweep);
    CHECK(r.sweep->cursor == "n@x");
    CHECK(replay("").records == 0);
}
