// titan-bench: load generator for the Titanicarus daemons' line protocols (Dovecot dict
// and quota dict, Postfix policy and socketmap, Dovecot auth-client SASL), the echo
// ceiling server it is compared against, and the raw password-hash rate of the machine
// (the ceiling for SASL). See docs/BENCHMARKS.md.
//
// Only loopback TCP and unix sockets; every run is bounded in time and requests.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/base/strings.h"
#include "tests/bench/echo_server.h"
#include "tests/bench/hash_rate.h"
#include "tests/bench/load_generator.h"
#include "tests/bench/protocol.h"

using namespace titan;
using namespace titan::bench;

namespace {

// Hard bounds: a run can never be open-ended.
constexpr double kMaxDurationS = 3600;
constexpr double kDefaultDurationS = 5;
constexpr double kRequestsModeTimeCapS = 600;  // --requests without --duration
constexpr std::uint64_t kMaxRequests = 1000000000ull;
constexpr std::size_t kMaxConnections = 10000;
constexpr std::size_t kMaxKeys = 10000000;
constexpr double kMaxWarmupS = 60;
constexpr std::uint64_t kMaxPipeline = 128;

const char* kUsage =
    "usage: titan-bench [--protocol NAME] (--socket PATH | --tcp HOST:PORT)\n"
    "                   (--keys FILE | --key-template TEMPLATE --key-count N)\n"
    "                   [--connections N] [--duration SECONDS | --requests N] [--warmup SECONDS]\n"
    "                   [--mode persistent|per-request] [--pipeline N] [--rate N] [--timeout SECONDS]\n"
    "                   [--watch-pid NAME=PID]... [--label TEXT] [--json]\n"
    "       titan-bench --serve-echo PATH | --serve-echo-tcp HOST:PORT\n"
    "                   [--protocol NAME] [--echo-reply-bytes N] [--duration SECONDS]\n"
    "       titan-bench --hash-rate [--threads N] [--duration SECONDS] [--hash STORED]\n"
    "                   [--password TEXT] [--hash-api crypt|verify] [--label TEXT] [--json]\n"
    "\n"
    "Load generator for the Titanicarus daemons (one event loop, N connections, one\n"
    "request in flight per connection). Loopback TCP and unix sockets only.\n"
    "\n"
    "  --socket PATH / --tcp HOST:PORT   server to load (HOST: 127.0.0.0/8, ::1, localhost)\n"
    "  --protocol NAME                   dict (default; Dovecot passdb/userdb lookups),\n"
    "                                    dict-quota (Dovecot quota transactions), policy\n"
    "                                    (Postfix policy delegation), socketmap (Postfix),\n"
    "                                    sasl (Dovecot auth-client, AUTH PLAIN, service=smtp)\n"
    "  --keys FILE                       one request key per line, used round-robin; a line\n"
    "                                    is for dict KEY or KEY<TAB>USER, for dict-quota USER\n"
    "                                    or USER<TAB>BYTES, for policy NAME=VALUE<TAB>...,\n"
    "                                    for socketmap MAP<SPACE>KEY, for sasl USER or\n"
    "                                    USER<TAB>PASSWORD (default password bench-password)\n"
    "  --key-template T --key-count N    keys T with %d replaced by 1..N\n"
    "  --connections N                   concurrent connections (default 16, max 10000)\n"
    "  --duration SECONDS                measured window (default 5, max 3600)\n"
    "  --requests N                      stop after N requests (max 1e9; time-bounded by\n"
    "                                    --duration, default 600 s)\n"
    "  --warmup SECONDS                  load without measuring first (default 0, max 60)\n"
    "  --mode persistent|per-request     keep connections, or connect + greet per request\n"
    "  --rate N                          open loop: start N requests/s in total on a schedule\n"
    "                                    (a request that waits for a free connection counts\n"
    "                                    from when it started waiting); default:\n"
    "                                    closed loop (next request when one is answered)\n"
    "  --pipeline N                      requests in flight per persistent connection\n"
    "                                    (default 1, max 128)\n"
    "  --timeout SECONDS                 per request, connecting included (default 5)\n"
    "  --watch-pid NAME=PID              also report that process's CPU use in the window\n"
    "  --label TEXT                      copied into the JSON output\n"
    "  --json                            one JSON object on stdout instead of text\n"
    "  --serve-echo PATH                 run the ceiling server: answer every request with a\n"
    "  --serve-echo-tcp HOST:PORT        fixed reply until SIGTERM/SIGINT (or --duration)\n"
    "  --echo-reply-bytes N              size of the fixed reply (default 128)\n"
    "  --hash-rate                       no sockets: verify one password hash in a loop on N\n"
    "                                    threads for --duration seconds and report the rate\n"
    "  --threads N                       hashing threads (default: the number of CPUs)\n"
    "  --hash STORED                     the hash, {SCHEME}data or a crypt string (default:\n"
    "                                    a fresh {SHA512-CRYPT} of --password, 5000 rounds)\n"
    "  --password TEXT                   the password (default bench-password)\n"
    "  --hash-api crypt|verify           crypt: libxcrypt crypt_rn() directly (default);\n"
    "                                    verify: titan::password::verify(), as titan-authd\n"
    "\n"
    "Exit status: 0 when requests completed and none failed (N = not found is not a\n"
    "failure), 1 otherwise, 2 for usage errors.\n";

struct Watch {
    std::string name;
    int pid = 0;
    double cpu_start = -1;
    double cpu_end = -1;
};

struct Cli {
    std::string protocol = "dict";
    bool hash_rate = false;
    std::optional<std::size_t> threads;
    std::optional<std::string> hash, password;
    HashApi hash_api = HashApi::Crypt;
    std::optional<std::string> socket_path, tcp, echo_path, echo_tcp;
    std::optional<std::string> keys_file, key_template;
    std::optional<std::uint64_t> key_count, requests, echo_reply_bytes;
    std::optional<double> duration;
    std::size_t connections = 16;
    std::size_t pipeline = 1;
    double rate = 0;
    double warmup = 0;
    double timeout = 5;
    Mode mode = Mode::Persistent;
    bool json = false;
    std::string label;
    std::vector<Watch> watches;
};

[[noreturn]] void usageError(const std::string& msg) {
    std::cerr << "titan-bench: " << msg << "\n" << "run titan-bench --help for usage\n";
    std::exit(2);
}

std::uint64_t parseCount(const std::string& opt, const std::string& v, std::uint64_t lo, std::uint64_t hi) {
    auto n = base::parseUnsigned(v);
    if (!n || *n < lo || *n > hi) {
        usageError(opt + " wants a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
    }
    return *n;
}

double parseSeconds(const std::string& opt, const std::string& v, double lo, double hi) {
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || end == nullptr || *end != '\0' || !std::isfinite(d) || d < lo || d > hi) {
        std::ostringstream m;
        m << opt << " wants seconds from " << lo << " to " << hi;
        usageError(m.str());
    }
    return d;
}

Cli parseCli(int argc, char** argv) {
    Cli cli;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usageError(a + " needs a value");
            return argv[++i];
        };
        if (a == "--help" || a == "-h") {
            std::cout << kUsage;
            std::exit(0);
        } else if (a == "--protocol") {
            cli.protocol = value();
        } else if (a == "--socket") {
            cli.socket_path = value();
        } else if (a == "--tcp") {
            cli.tcp = value();
        } else if (a == "--serve-echo") {
            cli.echo_path = value();
        } else if (a == "--serve-echo-tcp") {
            cli.echo_tcp = value();
        } else if (a == "--echo-reply-bytes") {
            cli.echo_reply_bytes = parseCount(a, value(), 1, 1 << 20);
        } else if (a == "--keys") {
            cli.keys_file = value();
        } else if (a == "--key-template") {
            cli.key_template = value();
        } else if (a == "--key-count") {
            cli.key_count = parseCount(a, value(), 1, kMaxKeys);
        } else if (a == "--connections") {
            cli.connections = static_cast<std::size_t>(parseCount(a, value(), 1, kMaxConnections));
        } else if (a == "--rate") {
            cli.rate = static_cast<double>(parseCount(a, value(), 1, 10000000));
        } else if (a == "--pipeline") {
            cli.pipeline = static_cast<std::size_t>(parseCount(a, value(), 1, kMaxPipeline));
        } else if (a == "--duration") {
            cli.duration = parseSeconds(a, value(), 0.01, kMaxDurationS);
        } else if (a == "--requests") {
            cli.requests = parseCount(a, value(), 1, kMaxRequests);
        } else if (a == "--warmup") {
            cli.warmup = parseSeconds(a, value(), 0, kMaxWarmupS);
        } else if (a == "--timeout") {
            cli.timeout = parseSeconds(a, value(), 0.001, 60);
        } else if (a == "--mode") {
            std::string m = value();
            if (m == "persistent") cli.mode = Mode::Persistent;
            else if (m == "per-request") cli.mode = Mode::PerRequest;
            else usageError("--mode is persistent or per-request");
        } else if (a == "--watch-pid") {
            std::string v = value();
            auto eq = v.find('=');
            if (eq == std::string::npos || eq == 0) usageError("--watch-pid wants NAME=PID");
            Watch w;
            w.name = v.substr(0, eq);
            w.pid = static_cast<int>(parseCount(a, v.substr(eq + 1), 1, 1u << 30));
            cli.watches.push_back(w);
        } else if (a == "--hash-rate") {
            cli.hash_rate = true;
        } else if (a == "--threads") {
            cli.threads = static_cast<std::size_t>(parseCount(a, value(), 1, 256));
        } else if (a == "--hash") {
            cli.hash = value();
        } else if (a == "--password") {
            cli.password = value();
        } else if (a == "--hash-api") {
            std::string m = value();
            if (m == "crypt") cli.hash_api = HashApi::Crypt;
            else if (m == "verify") cli.hash_api = HashApi::Verify;
            else usageError("--hash-api is crypt or verify");
        } else if (a == "--label") {
            cli.label = value();
        } else if (a == "--json") {
            cli.json = true;
        } else {
            usageError("unknown option " + a);
        }
    }
    return cli;
}

// Seconds of CPU (user + system) the process has used, or -1.
double processCpuSeconds(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!f || !std::getline(f, stat)) return -1;
    auto close = stat.rfind(')');
    if (close == std::string::npos) return -1;
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    // Fields after the name start at 3 (state); utime is 14, stime 15.
    for (int n = 3; n <= 15 && rest >> field; ++n) {
        if (n == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
        if (n == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double selfCpuSeconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto s = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
    return s(ru.ru_utime) + s(ru.ru_stime);
}

// Connections need a descriptor each; lift the soft limit towards the hard one.
void ensureDescriptors(std::size_t connections) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t want = static_cast<rlim_t>(connections) + 64;
    if (rl.rlim_cur >= want) return;
    rl.rlim_cur = std::min(want, rl.rlim_max);
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want) {
        usageError("--connections " + std::to_string(connections) + " needs more file descriptors than the limit (" +
                   std::to_string(rl.rlim_max) + ")");
    }
}

std::vector<std::string> keyLines(const Cli& cli) {
    std::vector<std::string> keys;
    if (cli.keys_file) {
        std::ifstream f(*cli.keys_file);
        if (!f) usageError("cannot read " + *cli.keys_file);
        std::string line;
        while (std::getline(f, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.empty()) continue;
            if (keys.size() >= kMaxKeys) usageError(*cli.keys_file + " has more than 10000000 keys");
            keys.push_back(std::move(line));
        }
        if (keys.empty()) usageError(*cli.keys_file + " has no keys");
        return keys;
    }
    const std::string& t = *cli.key_template;
    auto at = t.find("%d");
    if (at == std::string::npos || t.find("%d", at + 2) != std::string::npos) {
        usageError("--key-template needs exactly one %d");
    }
    keys.reserve(static_cast<std::size_t>(*cli.key_count));
    for (std::uint64_t i = 1; i <= *cli.key_count; ++i) {
        keys.push_back(t.substr(0, at) + std::to_string(i) + t.substr(at + 2));
    }
    return keys;
}

double us(std::uint64_t ns) { return std::round(static_cast<double>(ns) / 100.0) / 10.0; }

nlohmann::json toJson(const Cli& cli, const Protocol& protocol, const LoadOptions& opt, const LoadStats& s,
                      double self_cpu) {
    nlohmann::json j;
    if (!cli.label.empty()) j["label"] = cli.label;
    j["protocol"] = protocol.name();
    j["target"] = opt.endpoint.text;
    j["mode"] = opt.mode == Mode::Persistent ? "persistent" : "per-request";
    j["connections"] = opt.connections;
    j["pipeline"] = opt.mode == Mode::Persistent ? opt.pipeline : 1;
    j["warmup_s"] = opt.warmup_s;
    j["elapsed_s"] = std::round(s.elapsed_s * 1000) / 1000;
    j["requests"] = s.completed();
    j["rate"] = s.elapsed_s > 0 ? std::llround(static_cast<double>(s.completed()) / s.elapsed_s) : 0LL;
    j["replies"] = {{"found", s.found}, {"not_found", s.not_found}, {"fail", s.fail}};
    j["errors"] = {{"connect_failed", s.connect_failed}, {"protocol_error", s.protocol_error},
                   {"disconnected", s.disconnected},     {"timeout", s.timeout},
                   {"fail", s.fail}};
    j["errors_total"] = s.errors();
    if (!s.first_error.empty()) j["first_error"] = s.first_error;
    const auto& h = s.latency;
    j["latency_us"] = {{"min", us(h.min())},
                       {"mean", std::round(h.mean() / 100.0) / 10.0},
                       {"p50", us(h.percentile(0.50))},
                       {"p90", us(h.percentile(0.90))},
                       {"p99", us(h.percentile(0.99))},
                       {"p999", us(h.percentile(0.999))},
                       {"max", us(h.max())}};
    j["connects"] = s.connects;
    j["connect_retries"] = s.connect_retries;
    j["unfinished"] = s.unfinished;
    if (opt.rate > 0) {
        j["target_rate"] = opt.rate;
        j["queued"] = s.queued;
        j["dropped"] = s.dropped;
    }
    j["time_capped"] = s.time_capped;
    auto pct = [&](double cpu) { return s.elapsed_s > 0 ? std::round(cpu / s.elapsed_s * 1000) / 10 : 0.0; };
    j["cpu_percent"]["titan-bench"] = pct(self_cpu);
    for (const auto& w : cli.watches) {
        if (w.cpu_start >= 0 && w.cpu_end >= 0) j["cpu_percent"][w.name] = pct(w.cpu_end - w.cpu_start);
        else j["cpu_percent"][w.name] = nullptr;
    }
    return j;
}

void printText(const nlohmann::json& j) {
    auto num = [](const nlohmann::json& v) { return v.is_null() ? std::string("?") : v.dump(); };
    std::printf("titan-bench: %s over %s, %s connections, %s, %s in flight each, %.2f s measured\n",
                j["protocol"].get<std::string>().c_str(), j["target"].get<std::string>().c_str(),
                num(j["connections"]).c_str(), j["mode"].get<std::string>().c_str(), num(j["pipeline"]).c_str(),
                j["elapsed_s"].get<double>());
    std::printf("  requests   %s completed, %s req/s (found %s, not found %s, fail %s)\n", num(j["requests"]).c_str(),
                num(j["rate"]).c_str(), num(j["replies"]["found"]).c_str(), num(j["replies"]["not_found"]).c_str(),
                num(j["replies"]["fail"]).c_str());
    const auto& l = j["latency_us"];
    std::printf("  latency    p50 %s us, p90 %s us, p99 %s us, p99.9 %s us, max %s us\n", num(l["p50"]).c_str(),
                num(l["p90"]).c_str(), num(l["p99"]).c_str(), num(l["p999"]).c_str(), num(l["max"]).c_str());
    const auto& e = j["errors"];
    std::printf("  errors     %s: connect failed %s, protocol error %s, disconnected %s, timeout %s, fail %s\n",
                num(j["errors_total"]).c_str(), num(e["connect_failed"]).c_str(), num(e["protocol_error"]).c_str(),
                num(e["disconnected"]).c_str(), num(e["timeout"]).c_str(), num(e["fail"]).c_str());
    if (j.contains("first_error")) std::printf("  first error: %s\n", j["first_error"].get<std::string>().c_str());
    std::string cpu;
    for (const auto& [name, v] : j["cpu_percent"].items()) cpu += " " + name + " " + num(v) + "%";
    std::printf("  cpu       %s\n", cpu.c_str());
    std::printf("  connects %s, unfinished %s%s\n", num(j["connects"]).c_str(), num(j["unfinished"]).c_str(),
                j["time_capped"].get<bool>() ? ", stopped at the time bound before --requests were done" : "");
    if (j.contains("target_rate")) {
        std::printf("  open loop  target %s req/s; %s waited for a free connection, %s dropped\n",
                    num(j["target_rate"]).c_str(), num(j["queued"]).c_str(), num(j["dropped"]).c_str());
    }
}

int runHashRate(const Cli& cli) {
    if (cli.socket_path || cli.tcp || cli.echo_path || cli.echo_tcp || cli.keys_file || cli.key_template) {
        usageError("--hash-rate uses no sockets and no keys");
    }
    HashRateOptions o;
    if (cli.hash) o.stored = *cli.hash;
    if (cli.password) o.password = *cli.password;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = cli.threads.value_or(cpus > 0 ? static_cast<std::size_t>(cpus) : 1);
    o.duration_s = cli.duration.value_or(kDefaultDurationS);
    o.api = cli.hash_api;
    auto r = measureHashRate(o);
    if (!r) {
        std::cerr << "titan-bench: --hash-rate: " << r.error().message << "\n";
        return 1;
    }
    const HashRateResult& h = *r;
    auto rate = [&](std::uint64_t n) { return h.elapsed_s > 0 ? std::round(static_cast<double>(n) / h.elapsed_s * 10) / 10 : 0.0; };
    nlohmann::json j;
    if (!cli.label.empty()) j["label"] = cli.label;
    j["mode"] = "hash-rate";
    j["scheme"] = h.scheme;
    j["api"] = o.api == HashApi::Crypt ? "crypt_rn" : "password::verify";
    j["threads"] = o.threads;
    j["elapsed_s"] = std::round(h.elapsed_s * 1000) / 1000;
    j["verified"] = h.verified;
    j["rate"] = rate(h.verified);
    j["per_thread_rate"] = nlohmann::json::array();
    for (auto n : h.per_thread) j["per_thread_rate"].push_back(rate(n));
    j["mismatches"] = h.mismatches;
    j["errors_total"] = h.mismatches;
    j["cpu_percent"]["titan-bench"] = h.elapsed_s > 0 ? std::round(h.cpu_s / h.elapsed_s * 1000) / 10 : 0.0;
    if (cli.json) {
        std::cout << j.dump() << "\n";
    } else {
        std::printf("titan-bench: %s verified with %s on %zu threads, %.2f s\n", h.scheme.c_str(),
                    j["api"].get<std::string>().c_str(), o.threads, h.elapsed_s);
        std::printf("  rate       %.1f verifications/s (%llu, mismatches %llu), cpu %.0f%%\n", j["rate"].get<double>(),
                    static_cast<unsigned long long>(h.verified), static_cast<unsigned long long>(h.mismatches),
                    j["cpu_percent"]["titan-bench"].get<double>());
    }
    return h.verified > 0 && h.mismatches == 0 ? 0 : 1;
}

int runEcho(const Cli& cli, const Protocol& protocol) {
    EchoOptions eo;
    auto ep = cli.echo_path ? unixEndpoint(*cli.echo_path) : tcpEndpoint(*cli.echo_tcp);
    if (!ep) usageError(ep.error().message);
    eo.endpoint = *ep;
    if (cli.echo_reply_bytes) eo.reply_bytes = static_cast<std::size_t>(*cli.echo_reply_bytes);
    eo.max_seconds = cli.duration.value_or(kMaxDurationS);
    ensureDescriptors(kMaxConnections);
    return serveEcho(protocol, eo);
}

}  // namespace

int main(int argc, char** argv) {
    Cli cli = parseCli(argc, argv);
    if (cli.hash_rate) return runHashRate(cli);
    if (cli.threads || cli.hash || cli.password) usageError("--threads, --hash and --password go with --hash-rate");
    auto protocol = makeProtocol(cli.protocol);
    if (!protocol) usageError("unknown --protocol " + cli.protocol);

    if (cli.echo_path || cli.echo_tcp) {
        if (cli.echo_path && cli.echo_tcp) usageError("--serve-echo and --serve-echo-tcp exclude each other");
        if (cli.socket_path || cli.tcp) usageError("--serve-echo does not take --socket/--tcp");
        return runEcho(cli, *protocol);
    }

    if (static_cast<bool>(cli.socket_path) == static_cast<bool>(cli.tcp)) usageError("give exactly one of --socket, --tcp");
    if (static_cast<bool>(cli.keys_file) == static_cast<bool>(cli.key_template)) {
        usageError("give exactly one of --keys, --key-template");
    }
    if (cli.key_template && !cli.key_count) usageError("--key-template needs --key-count");

    LoadOptions opt;
    auto ep = cli.socket_path ? unixEndpoint(*cli.socket_path) : tcpEndpoint(*cli.tcp);
    if (!ep) usageError(ep.error().message);
    opt.endpoint = *ep;
    opt.connections = cli.connections;
    opt.mode = cli.mode;
    if (cli.pipeline > 1 && cli.mode == Mode::PerRequest) usageError("--pipeline needs --mode persistent");
    opt.pipeline = cli.pipeline;
    opt.rate = cli.rate;
    opt.max_requests = cli.requests.value_or(0);
    opt.duration_s = cli.duration.value_or(cli.requests ? kRequestsModeTimeCapS : kDefaultDurationS);
    opt.warmup_s = cli.warmup;
    opt.timeout_s = cli.timeout;
    ensureDescriptors(opt.connections);

    std::vector<std::string> requests;
    {
        auto keys = keyLines(cli);
        requests.reserve(keys.size());
        for (const auto& k : keys) {
            std::string error;
            std::string req = protocol->prepareRequest(k, &error);
            if (req.empty()) usageError("key '" + k.substr(0, 200) + "': " + error);
            requests.push_back(std::move(req));
        }
    }

    double self_start = 0, self_end = 0;
    std::function<void()> open = [&] {
        self_start = selfCpuSeconds();
        for (auto& w : cli.watches) w.cpu_start = processCpuSeconds(w.pid);
    };
    std::function<void()> closed = [&] {
        self_end = selfCpuSeconds();
        for (auto& w : cli.watches) w.cpu_end = processCpuSeconds(w.pid);
    };
    LoadGenerator gen(*protocol, std::move(requests), opt);
    LoadStats stats = gen.run(open, closed);

    nlohmann::json j = toJson(cli, *protocol, opt, stats, self_end - self_start);
    if (cli.json) {
        std::cout << j.dump() << "\n";
    } else {
        printText(j);
    }
    return stats.completed() > 0 && stats.errors() == 0 ? 0 : 1;
}
