#include "tests/unit/common/sql/mariadb_fixture.h"

#include <arpa/inet.h>
#include <glob.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>

#include <catch2/catch.hpp>

#ifndef TITAN_SOURCE_DIR
#error "TITAN_SOURCE_DIR must name the source tree (compile definition)"
#endif

namespace titan::sql::test {
namespace {

constexpr const char* kDirPrefix = "/tmp/titan-sql-test.";
constexpr unsigned kFirstPort = 13406;
constexpr unsigned kPortSpan = 40;

std::string fixture(const char* script) { return std::string(TITAN_SOURCE_DIR) + "/tests/fixtures/" + script; }

bool processAlive(pid_t pid) {
    if (pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH)) return false;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

// Stops and removes servers left behind by test processes that died.
void purgeLeftovers() {
    glob_t g{};
    const std::string pattern = std::string(kDirPrefix) + "*";
    if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i) {
            const std::string dir = g.gl_pathv[i];
            std::ifstream owner(dir + "/owner.pid");
            long pid = 0;
            if (!(owner >> pid) || processAlive(static_cast<pid_t>(pid))) continue;
            std::string out;
            runCommand("'" + fixture("mariadb-down.sh") + "' '" + dir + "' --purge", out);
        }
    }
    globfree(&g);
}

}  // namespace

int runCommand(const std::string& command, std::string& output) {
    output.clear();
    FILE* p = popen((command + " 2>&1").c_str(), "r");
    if (p == nullptr) return -1;
    char buf[4096];
    size_t n = 0;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
    const int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

long long msSince(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
}

void TestDb::create() {
    purgeLeftovers();
    char tmpl[] = "/tmp/titan-sql-test.XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    REQUIRE(chmod(dir_.c_str(), 0755) == 0);  // mkdtemp makes 0700; /tmp itself is searchable

    unsigned first = kFirstPort + static_cast<unsigned>(getpid()) % kPortSpan;
    if (const char* env = std::getenv("TITAN_SQL_TEST_PORT")) first = static_cast<unsigned>(std::atoi(env));
    std::string out, tried;
    for (unsigned i = 0; i < kPortSpan; ++i) {
        const unsigned port = kFirstPort + (first - kFirstPort + i) % kPortSpan;
        const int rc = runCommand("'" + fixture("mariadb-up.sh") + "' '" + dir_ + "' " + std::to_string(port), out);
        if (rc == 0) {
            port_ = port;
            running_ = true;
            // Lets a later run purge this server if this process dies without cleaning up.
            std::ofstream(dir_ + "/owner.pid") << getpid() << "\n";
            return;
        }
        tried += "port " + std::to_string(port) + ": " + out + "\n";
        // Another process holds the port (or won the race for it): take the next.
        if (out.find("already in use") == std::string::npos && out.find("exited during start-up") == std::string::npos) {
            break;
        }
    }
    FAIL("mariadb-up.sh failed:\n" << tried);
}

void TestDb::start() {
    if (running_) return;
    std::string out;
    const int rc = runCommand("'" + fixture("mariadb-up.sh") + "' '" + dir_ + "' " + std::to_string(port_), out);
    INFO(out);
    REQUIRE(rc == 0);
    running_ = true;
}

void TestDb::stop() {
    std::string out;
    const int rc = runCommand("'" + fixture("mariadb-down.sh") + "' '" + dir_ + "'", out);
    INFO(out);
    REQUIRE(rc == 0);
    running_ = false;
}

TestDb::~TestDb() {
    if (dir_.empty()) return;
    std::string out;
    if (runCommand("'" + fixture("mariadb-down.sh") + "' '" + dir_ + "' --purge", out) != 0) {
        std::fprintf(stderr, "%s", out.c_str());
    }
}

Options TestDb::tcpOptions() const {
    Options o;
    o.hosts = {HostSpec{"127.0.0.1", port_, ""}};
    o.user = "titan";
    o.password = "titanpw";
    o.database = "titan";
    o.connect_timeout = std::chrono::milliseconds(2000);
    o.read_timeout = std::chrono::milliseconds(5000);
    o.write_timeout = std::chrono::milliseconds(5000);
    o.retry_interval = std::chrono::milliseconds(2000);
    o.pool_size = 2;
    return o;
}

Options TestDb::socketOptions() const {
    Options o = tcpOptions();
    o.hosts = {HostSpec{"", 0, socket()}};
    return o;
}

TestDb& testDb() {
    static TestDb db;  // destroyed at exit: stops and purges the server
    if (db.dir_.empty()) {
        db.create();
    } else {
        db.start();
    }
    return db;
}

unsigned deadPort() {
    static const unsigned port = [] {
        const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t len = sizeof a;
        REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        return static_cast<unsigned>(ntohs(a.sin_port));  // fd stays open: nobody else gets the port
    }();
    return port;
}

}  // namespace titan::sql::test
