#include "replicator/core/dsync.h"

#include <catch2/catch.hpp>

using namespace titan::replicator::core;

namespace {
Site site(const char* name, const char* host, unsigned port, bool tls = false) {
    return Site{name, Endpoint{host, port}, tls, "", true};
}
}  // namespace

TEST_CASE("dsync: sync argv, never a shell line", "[core]") {
    DoveadmSettings s;
    s.path = "/usr/bin/doveadm";
    s.config = "/etc/dovecot/dovecot.conf";
    auto argv = syncArgv(s, "/var/lib/titan-replicator/doveadm-dc2.conf", "bob@example.test",
                         site("dc2", "dc2.example.net", 12345), false, "");
    CHECK(argv == std::vector<std::string>{"/usr/bin/doveadm", "-c", "/var/lib/titan-replicator/doveadm-dc2.conf",
                                           "sync", "-u", "bob@example.test", "-N", "-l", "30", "-T", "60", "-s", "",
                                           "tcp:dc2.example.net:12345"});
    s.all_namespaces = false;
    argv = syncArgv(s, "", "-weird@example.test", site("dc3", "10.0.0.3", 4000, true), true, "AQAAAA==");
    CHECK(argv == std::vector<std::string>{"/usr/bin/doveadm", "sync", "-u", "-weird@example.test", "-l", "30", "-T",
                                           "60", "-f", "-s", "AQAAAA==", "tcps:10.0.0.3:4000"});
}

TEST_CASE("dsync: INBOX GUID commands, local and remote", "[core]") {
    DoveadmSettings s;
    auto peer = site("dc2", "127.0.0.1", 22310);
    CHECK(guidStatusArgv(s, "", "bob@x", nullptr) ==
          std::vector<std::string>{"/usr/bin/doveadm", "-f", "flow", "mailbox", "status", "-u", "bob@x", "guid", "INBOX"});
    CHECK(guidStatusArgv(s, "/c.conf", "bob@x", &peer) ==
          std::vector<std::string>{"/usr/bin/doveadm", "-c", "/c.conf", "-f", "flow", "mailbox", "status", "-S",
                                   "127.0.0.1:22310", "-u", "bob@x", "guid", "INBOX"});
    CHECK(guidUpdateArgv(s, "/c.conf", "bob@x", &peer, "0123456789abcdef0123456789abcdef") ==
          std::vector<std::string>{"/usr/bin/doveadm", "-c", "/c.conf", "mailbox", "update", "-S", "127.0.0.1:22310",
                                   "-u", "bob@x", "--mailbox-guid", "0123456789abcdef0123456789abcdef", "INBOX"});
}

TEST_CASE("dsync: exit classification", "[core]") {
    struct Case {
        const char* name;
        ExitInfo exit;
        SyncOutcome want;
    };
    const Case cases[] = {
        {"ok", {false, false, 0, 0, ""}, SyncOutcome::Success},
        {"run again", {false, false, 0, 2, "Warning: Mailbox changes caused a desync"}, SyncOutcome::RunAgain},
        {"guid trap",
         {false, false, 0, 2,
          "Warning: Mailbox changes caused a desync. You may want to run dsync again: Remote lost mailbox GUID "
          "5011923958bf116b301c000083ecc375 (maybe it was just deleted?)"},
         SyncOutcome::GuidConflict},
        {"no user", {false, false, 0, 67, "Error: User doesn't exist"}, SyncOutcome::NoUser},
        {"refused", {false, false, 0, 75, "Fatal: connect(127.0.0.1:22310) failed: Connection refused"},
         SyncOutcome::PeerDown},
        {"user lock busy", {false, false, 0, 75, "Couldn't lock .dovecot-sync.lock: Timed out"}, SyncOutcome::Failed},
        {"unavailable", {false, false, 0, 69, ""}, SyncOutcome::PeerDown},
        {"no host", {false, false, 0, 68, ""}, SyncOutcome::PeerDown},
        {"timeout", {false, true, 15, -1, ""}, SyncOutcome::PeerDown},
        {"signal", {false, false, 11, -1, ""}, SyncOutcome::Failed},
        {"spawn failed", {true, false, 0, -1, ""}, SyncOutcome::Failed},
        {"other", {false, false, 0, 1, "Error: something"}, SyncOutcome::Failed},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        CHECK(classify(c.exit) == c.want);
    }
}

TEST_CASE("dsync: state, GUID and error text parsing", "[core]") {
    CHECK(parseState("AQAAAFDN/gZEvxFrzBoAAIPsw3VEvxFrAQAAAAEAAAAAAAAAAAAAAAAAAAABAAAAC0zlNA==\n") ==
          "AQAAAFDN/gZEvxFrzBoAAIPsw3VEvxFrAQAAAAEAAAAAAAAAAAAAAAAAAAABAAAAC0zlNA==");
    CHECK_FALSE(parseState(""));
    CHECK_FALSE(parseState("\n"));
    CHECK_FALSE(parseState("not base64!\n"));
    CHECK_FALSE(parseState(std::string(65537, 'A')));
    CHECK(parseGuid("INBOX guid=804e3d2659bf116bcc1a000083ecc375\n") == "804e3d2659bf116bcc1a000083ecc375");
    CHECK(parseGuid("INBOX guid=804e3d2659bf116bcc1a000083ecc375") == "804e3d2659bf116bcc1a000083ecc375");
    CHECK_FALSE(parseGuid("INBOX guid=804e3d2659bf116bcc1a000083ecc37\n"));   // 31 digits
    CHECK_FALSE(parseGuid("INBOX guid=804e3d2659bf116bcc1a000083ecc3755\n"));  // 33 digits
    CHECK_FALSE(parseGuid("INBOX guid=804E3D2659BF116BCC1A000083ECC375\n"));   // not Dovecot's form
    CHECK_FALSE(parseGuid(""));
    CHECK(errorSummary("line one\nError: second\n\n") == "Error: second");
    CHECK(errorSummary("a\tb\x01") == "a b ");
    CHECK(errorSummary(std::string(500, 'x')).size() == 200);
    CHECK(errorSummary("") == "");
}

TEST_CASE("dsync: which INBOX GUID wins", "[core]") {
    CHECK(localGuidWins("dc1", "dc2", "dc1"));
    CHECK_FALSE(localGuidWins("dc2", "dc1", "dc1"));
    CHECK_FALSE(localGuidWins("dc1", "dc2", "dc2"));
    // neither is home: the name sorting first, the same answer from both sides
    CHECK(localGuidWins("dc2", "dc3", "dc1"));
    CHECK_FALSE(localGuidWins("dc3", "dc2", "dc1"));
    CHECK(localGuidWins("a", "b", ""));
}

TEST_CASE("dsync: endpoints and site names", "[core]") {
    CHECK(parseEndpoint("dc2.example.net:12345").value() == Endpoint{"dc2.example.net", 12345});
    CHECK(parseEndpoint("127.0.0.1:1").value() == Endpoint{"127.0.0.1", 1});
    for (const char* bad : {"", "host", ":123", "host:", "host:0", "host:65536", "host:12x", "-host:1", "ho st:1",
                            "host;rm:1", "[::1]:1"}) {
        INFO(bad);
        CHECK_FALSE(parseEndpoint(bad));
    }
    CHECK(validSiteName("dc1"));
    CHECK(validSiteName("eu-west_1.a"));
    CHECK(validSiteName(std::string(64, 'a')));
    CHECK_FALSE(validSiteName(std::string(65, 'a')));
    CHECK_FALSE(validSiteName(""));
    CHECK_FALSE(validSiteName("dc 1"));
    CHECK_FALSE(validSiteName("dc\"1"));
    CHECK(destination(Site{"x", {"h", 2}, true, "", true}) == "tcps:h:2");
}
