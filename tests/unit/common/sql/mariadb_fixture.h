// Test support: one private MariaDB per test process, started on first use with
// tests/fixtures/mariadb-up.sh in a fresh /tmp directory on a free port from
// 13406 up, and stopped and purged (mariadb-down.sh --purge) at process exit.
// Not a library: compiled into the sql test binary only.
#pragma once

#include <chrono>
#include <string>

#include "common/sql/connection.h"

namespace titan::sql::test {

class TestDb {
public:
    // Starts the server (or restarts it after stop()); fails the test on error.
    void start();
    // Stops the server, keeping its data (mariadb-down.sh DIR).
    void stop();
    bool running() const { return running_; }

    const std::string& dir() const { return dir_; }
    unsigned port() const { return port_; }
    std::string socket() const { return dir_ + "/mysql.sock"; }

    // Options for user titan over TCP 127.0.0.1:port (pool_size 2, short timeouts).
    Options tcpOptions() const;
    // The same over the unix socket.
    Options socketOptions() const;

    ~TestDb();

private:
    friend TestDb& testDb();
    void create();
    std::string dir_;
    unsigned port_ = 0;
    bool running_ = false;
};

// The process-wide instance, running (started or restarted as needed).
TestDb& testDb();

// A 127.0.0.1 port that refuses connections for the life of the process
// (bound, never listening).
unsigned deadPort();

// Runs a shell command, returns its exit status; output goes to `output`.
int runCommand(const std::string& command, std::string& output);

// Milliseconds elapsed since `t0`.
long long msSince(std::chrono::steady_clock::time_point t0);

}  // namespace titan::sql::test
