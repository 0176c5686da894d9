// The dict and policy sessions behind a real LineServer on a temporary unix socket, with
// the memory store: what a Dovecot or Postfix client sees on the wire.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <event2/event.h>

#include <cstdlib>
#include <cstring>

#include "common/proto/dovecot_dict/dict.h"
#include "common/proto/postfix_policy/policy.h"
#include "quotad/server/dict_session.h"
#include "quotad/server/policy_session.h"
#include "quotad/store/memory_store.h"

using namespace titan;
using namespace titan::quotad;
using core::Resource;

namespace {

std::string tempSocketPath(const char* name) {
    char tmpl[] = "/tmp/quotad-test-XXXXXX";
    const char* dir = mkdtemp(tmpl);
    REQUIRE(dir != nullptr);
    return std::string(dir) + "/" + name;
}

struct Server {
    event::Loop loop;
    metrics::Registry registry;
    store::MemoryStore store{loop};
    UsageService usage{loop, store, BatchSettings{}, registry};
    PolicyService policy{store};
    DictMetrics dict_metrics{registry};
    PolicyMetrics policy_metrics{registry};
    std::shared_ptr<const DictSettings> dict_settings = std::make_shared<DictSettings>();
    std::shared_ptr<const PolicySettings> policy_settings = std::make_shared<PolicySettings>();
    std::string dict_path = tempSocketPath("dict.sock");
    std::string policy_path = tempSocketPath("policy.sock");
    event::LineServer dict{loop, "dict", event::ServerLimits{}, [this](event::LineConnection& c) {
                               return std::make_unique<DictSession>(c, usage, dict_settings, dict_metrics);
                           }};
    event::LineServer pol{loop, "policy", policyLimits(), [this](event::LineConnection& c) {
                              return std::make_unique<PolicySession>(c, policy, policy_settings, policy_metrics);
                          }};

    static event::ServerLimits policyLimits() {
        event::ServerLimits l;
        l.max_line_bytes = proto::policy::PolicyLimits{}.max_line_bytes + 1;
        return l;
    }

    Server() {
        event::ListenSpec d;
        d.path = dict_path;
        REQUIRE(dict.listen(d).ok());
        event::ListenSpec p;
        p.path = policy_path;
        REQUIRE(pol.listen(p).ok());
    }
    ~Server() {
        unlink(dict_path.c_str());
        unlink(policy_path.c_str());
        rmdir(dict_path.substr(0, dict_path.rfind('/')).c_str());
        rmdir(policy_path.substr(0, policy_path.rfind('/')).c_str());
    }
    void spin(int turns = 20) {
        for (int i = 0; i < turns; ++i) event_base_loop(loop.base(), EVLOOP_ONCE | EVLOOP_NONBLOCK);
    }
    core::Row row(std::optional<std::int64_t> b, std::optional<std::int64_t> m) {
        core::Row r;
        r.usage[Resource::Storage] = b;
        r.usage[Resource::Messages] = m;
        return r;
    }
};

// A non-blocking client; every read spins the server's loop until data or EOF arrives.
struct Client {
    Server& server;
    int fd = -1;
    std::string in;
    bool eof = false;

    Client(Server& s, const std::string& path) : server(s) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        std::strncpy(sun.sun_path, path.c_str(), sizeof(sun.sun_path) - 1);
        REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) == 0);
        server.spin(2);
    }
    ~Client() { close(fd); }
    void send(const std::string& data) {
        REQUIRE(::send(fd, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size()));
    }
    void pump() {
        for (int i = 0; i < 200; ++i) {
            server.spin(1);
            char buf[65536];
            ssize_t n = recv(fd, buf, sizeof(buf), 0);
            if (n > 0) in.append(buf, static_cast<size_t>(n));
            if (n == 0) {
                eof = true;
                return;
            }
        }
    }
    // The next LF-terminated line (without LF), waiting for it; "<eof>" or "<none>".
    std::string line() {
        for (int round = 0; round < 5; ++round) {
            auto pos = in.find('\n');
            if (pos != std::string::npos) {
                std::string l = in.substr(0, pos);
                in.erase(0, pos + 1);
                return l;
            }
            if (eof) return "<eof>";
            pump();
        }
        return "<none>";
    }
};

std::string policyRequest(const std::string& state, const std::string& recipient, const std::string& size = "0") {
    return "request=smtpd_access_policy\nprotocol_state=" + state + "\nprotocol_name=ESMTP\nclient_address=192.0.2.1\n"
           "sender=a@example.org\nrecipient=" + recipient + "\nsize=" + size + "\ninstance=1.2.3\n\n";
}

}  // namespace

TEST_CASE("dict session: Dovecot's quota conversation", "[glue]") {
    Server s;
    Client c(s, s.dict_path);
    c.send("H3\t2\t0\t\tquota\n");
    // Unknown user: N, so Dovecot recounts and writes fresh values.
    c.send("Lpriv/quota/storage\tBob@Example.TEST\n");
    CHECK(c.line() == "N");
    c.send("B1\tbob@example.test\nA1\tpriv/quota/storage\t280\nA1\tpriv/quota/messages\t1\nC1\n");
    CHECK(c.line() == "N1");
    c.send("B2\tbob@example.test\nU2\tpriv/quota/storage\nU2\tpriv/quota/messages\n"
           "S2\tpriv/quota/storage\t0\nS2\tpriv/quota/messages\t0\nC2\n");
    CHECK(c.line() == "O2");
    c.send("B3\tbob@example.test\nT3\t1700000000\t0\nA3\tpriv/quota/storage\t2350\nA3\tpriv/quota/messages\t1\nC3\n"
           "Lpriv/quota/storage\tbob@example.test\nLpriv/quota/messages\tbob@example.test\n");
    CHECK(c.line() == "O3");
    CHECK(c.line() == "O2350");  // the lookup sees the commit before it (read-your-writes)
    CHECK(c.line() == "O1");
    CHECK(s.store.rows().at("bob@example.test") == s.row(2350, 1));
    // Expunge: negative increments; below zero clamps.
    c.send("B4\tbob@example.test\nA4\tpriv/quota/storage\t-9999\nA4\tpriv/quota/messages\t-1\nC4\n");
    CHECK(c.line() == "O4");
    CHECK(s.store.rows().at("bob@example.test") == s.row(0, 0));
    // Async commit (D) of old clients, rollback, empty transaction.
    c.send("B5\tbob@example.test\nA5\tpriv/quota/storage\t5\nD5\nB6\tbob@example.test\nA6\tpriv/quota/storage\t5\nR6\n");
    CHECK(c.line() == "AO5");
    c.send("Lpriv/quota/storage\tbob@example.test\n");
    CHECK(c.line() == "O5");
    // Other keys: lookup N, a transaction writing one fails at commit.
    c.send("Lshared/last-login/bob@example.test\tbob@example.test\n");
    CHECK(c.line() == "N");
    c.send("B7\tbob@example.test\nS7\tpriv/quota/other\t1\nA7\tpriv/quota/storage\t1\nC7\n");
    CHECK(c.line().rfind("F7\t", 0) == 0);
    c.send("B8\tbob@example.test\nS8\tpriv/quota/storage\tlots\nC8\n");
    CHECK(c.line().rfind("F8\t", 0) == 0);
    c.send("B9\t\nA9\tpriv/quota/storage\t1\nC9\n");
    CHECK(c.line().rfind("F9\t", 0) == 0);
    CHECK(s.store.rows().at("bob@example.test") == s.row(5, 0));
    // Iteration of the user's quota keys.
    c.send("I1\t0\tpriv/quota/\tbob@example.test\n");
    CHECK(c.line() == "Opriv/quota/storage\t5");
    CHECK(c.line() == "Opriv/quota/messages\t0");
    CHECK(c.line() == "");
    c.send("I8\t0\tpriv/quota/\tbob@example.test\nI1\t0\tshared/\t\n");
    CHECK(c.line() == "Opriv/quota/storage\t");
    CHECK(c.line() == "Opriv/quota/messages\t");
    CHECK(c.line() == "");
    CHECK(c.line() == "");
}

TEST_CASE("dict session: quota_clone (major 4) sets values", "[glue]") {
    Server s;
    Client c(s, s.dict_path);
    c.send("H4\t0\t0\t\tquota_clone\nB1\tann@example.test\t0\nS1\tpriv/quota/storage\t4096\n"
           "S1\tpriv/quota/messages\t3\nC1\n");
    CHECK(c.line() == "O1");
    CHECK(s.store.rows().at("ann@example.test") == s.row(4096, 3));
}

TEST_CASE("dict session: database outage gives F, never a wrong value", "[glue]") {
    Server s;
    s.store.putRow("bob@example.test", s.row(10, 1));
    Client c(s, s.dict_path);
    c.send("H3\t2\t0\t\tquota\n");
    s.store.setDownForTest(true);
    c.send("Lpriv/quota/storage\tbob@example.test\n");
    CHECK(c.line().rfind("F", 0) == 0);
    c.send("B1\tbob@example.test\nA1\tpriv/quota/storage\t1\nC1\n");
    CHECK(c.line().rfind("F1\t", 0) == 0);
    s.store.setDownForTest(false);
    s.store.uncertainNextCommitForTest();
    c.send("B2\tbob@example.test\nA2\tpriv/quota/storage\t1\nC2\n");
    CHECK(c.line().rfind("W2\t", 0) == 0);
}

TEST_CASE("dict session: protocol errors are logged disconnects", "[glue]") {
    const char* bad[] = {
        "H2\t1\t0\tbob\tquota\n",                       // major 2 (Dovecot < 2.3.17)
        "H3\t2\t0\t\tquota\nA1\tpriv/quota/storage\t1\n",  // no transaction 1
        "H3\t2\t0\t\tquota\nB1\tbob@x.test\nB1\tbob@x.test\n",  // id reused
        "H3\t2\t0\t\tquota\nB1\tbob@x.test\nA1\tpriv/quota/storage\t1x\n",
        "H3\t2\t0\t\tquota\nVpriv/quota/storage\n",
        "H3\t2\t0\t\tquota\nLno-prefix\tbob\n",
    };
    for (const char* input : bad) {
        INFO(input);
        Server s;
        Client c(s, s.dict_path);
        c.send(input);
        CHECK(c.line() == "<eof>");
        CHECK(s.dict.disconnects(event::DisconnectReason::ProtocolError) == 1);
    }
}

TEST_CASE("dict session: transaction limits at the bound and one more", "[glue]") {
    Server s;
    auto settings = std::make_shared<DictSettings>();
    settings->max_transactions = 2;
    settings->max_ops_per_transaction = 2;
    s.dict_settings = settings;
    {
        Client c(s, s.dict_path);
        c.send("H3\t2\t0\t\tquota\nB1\ta@x.test\nB2\ta@x.test\nS1\tpriv/quota/storage\t1\n"
               "S1\tpriv/quota/messages\t1\nC1\nR2\n");
        CHECK(c.line() == "O1");
        c.send("B3\ta@x.test\nB4\ta@x.test\nB5\ta@x.test\n");
        CHECK(c.line() == "<eof>");
    }
    Client c(s, s.dict_path);
    c.send("H3\t2\t0\t\tquota\nB1\ta@x.test\nA1\tpriv/quota/storage\t1\nA1\tpriv/quota/storage\t1\n"
           "A1\tpriv/quota/storage\t1\n");
    CHECK(c.line() == "<eof>");
}

TEST_CASE("dict session: input split at every byte gives the same answers", "[glue]") {
    const std::string input =
        "H3\t2\t0\t\tquota\nB1\tbob@example.test\nS1\tpriv/quota/storage\t77\nS1\tpriv/quota/messages\t2\nC1\n"
        "Lpriv/quota/storage\tbob@example.test\n";
    for (size_t cut = 1; cut < input.size(); ++cut) {
        INFO(cut);
        Server s;
        Client c(s, s.dict_path);
        c.send(input.substr(0, cut));
        s.spin(3);
        c.send(input.substr(cut));
        CHECK(c.line() == "O1");
        CHECK(c.line() == "O77");
    }
}

TEST_CASE("policy session: RCPT checks, other states, malformed recipients", "[glue]") {
    Server s;
    s.store.putMailbox("full@example.test", core::Limits{1000, 0});
    s.store.putRow("full@example.test", s.row(1000, 1));
    s.store.putMailbox("small@example.test", core::Limits{1000, 0});
    s.store.putRow("small@example.test", s.row(10, 1));
    s.store.putAlias("alias@example.test", "full@example.test");
    Client c(s, s.policy_path);
    auto ask = [&](const std::string& request) {
        c.send(request);
        std::string action = c.line();
        CHECK(c.line() == "");
        return action;
    };
    CHECK(ask(policyRequest("RCPT", "full@example.test")) == "action=452 4.2.2 Mailbox is full");
    CHECK(ask(policyRequest("RCPT", "Alias+x@Example.TEST")) == "action=452 4.2.2 Mailbox is full");
    CHECK(ask(policyRequest("RCPT", "small@example.test", "100")) == "action=DUNNO");
    CHECK(ask(policyRequest("RCPT", "small@example.test", "5000")) ==
          "action=552 5.2.2 Message is larger than the mailbox quota");
    CHECK(ask(policyRequest("RCPT", "unknown@example.test")) == "action=DUNNO");
    CHECK(ask(policyRequest("RCPT", "\"john..doe\"@example.org")) == "action=DUNNO");
    CHECK(ask(policyRequest("RCPT", "not-an-address")) == "action=DUNNO");
    CHECK(ask(policyRequest("RCPT", "")) == "action=DUNNO");
    CHECK(ask(policyRequest("END-OF-MESSAGE", "")) == "action=DUNNO");
    CHECK(ask(policyRequest("DATA", "full@example.test")) == "action=DUNNO");
    CHECK(ask(policyRequest("MAIL", "")) == "action=DUNNO");
    // Two requests in one write: two replies, in order.
    c.send(policyRequest("RCPT", "full@example.test") + policyRequest("RCPT", "small@example.test"));
    CHECK(c.line() == "action=452 4.2.2 Mailbox is full");
    CHECK(c.line() == "");
    CHECK(c.line() == "action=DUNNO");
    CHECK(c.line() == "");
    s.store.setDownForTest(true);
    CHECK(ask(policyRequest("RCPT", "full@example.test")) == "action=DEFER_IF_PERMIT Quota service temporarily unavailable");
}

TEST_CASE("policy session: configured reply texts", "[glue]") {
    Server s;
    auto settings = std::make_shared<PolicySettings>();
    settings->replies.over_quota = "452 4.2.2 Quota exceeded, try later";
    settings->replies.accept = "OK";
    s.policy_settings = settings;
    s.store.putMailbox("full@example.test", core::Limits{1000, 0});
    s.store.putRow("full@example.test", s.row(2000, 1));
    s.store.putMailbox("ok@example.test", core::Limits{0, 0});
    Client c(s, s.policy_path);
    c.send(policyRequest("RCPT", "full@example.test"));
    CHECK(c.line() == "action=452 4.2.2 Quota exceeded, try later");
    CHECK(c.line() == "");
    c.send(policyRequest("RCPT", "ok@example.test"));
    CHECK(c.line() == "action=OK");
}

TEST_CASE("policy session: a malformed request is a disconnect without a reply", "[glue]") {
    Server s;
    Client c(s, s.policy_path);
    c.send("request=smtpd_access_policy\nno equals sign here\n\n");
    CHECK(c.line() == "<eof>");
    CHECK(s.pol.disconnects(event::DisconnectReason::ProtocolError) == 1);
    Client c2(s, s.policy_path);
    c2.send("request=smtpd_access_policy\nprotocol_state=RCPT\nsize=12x\n\n");
    CHECK(c2.line() == "<eof>");
}
