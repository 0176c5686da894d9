#!/bin/bash
# The titan-authd benchmark, in one command (as root, Debian 12, like scripts/test.sh):
#
#   tests/bench/run.sh [--users N] [--duration S] [--connections N] [--million] [--no-docs]
#                      [--no-renice]
#
# Builds a Release tree (build-bench/), starts a private MariaDB (127.0.0.1:13606) and
# titan-authd with the fixtures in tests/fixtures/ under a temporary directory, bulk-loads
# N users (default 10000), then measures with titan-bench over authd's unix dict socket:
#   cached-persistent   cache warm, persistent connections
#   cached-per-request  cache warm, connect + hello per lookup (Dovecot's default)
#   uncached            cache.ttl 0: every lookup is a database query
#   echo-persistent / echo-per-request   titan-bench's echo server: the ceiling
# and the peak RSS of titan-authd; with --million also after 1,000,000 users were
# loaded into its cache (adds 1-3 minutes). Prints a table and rewrites the results
# section of docs/BENCHMARKS.md (unless --no-docs). Every process it starts is stopped
# on exit. After the build, it and everything it starts run at nice -15, and so do their
# scheduler autogroups (--no-renice: unchanged), so other work on a shared machine
# disturbs the measurements less.
# Knobs: BUILD_DIR (default build-bench), BENCH_KEEP=1 keeps the temporary directory,
# BENCH_RESULTS_DIR=DIR copies the JSON results and rss.txt into DIR/run/ (all.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export CMDLINE="tests/bench/run.sh${*:+ $*}"
FIX=$ROOT/tests/fixtures
BUILD=${BUILD_DIR:-$ROOT/build-bench}
DB_PORT=13606
USERS=10000
DURATION=5
WARMUP=1
CONNECTIONS=32
MILLION=0
RENICE=1
DOCS=1
while (( $# )); do
    case $1 in
        --users) USERS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --million) MILLION=1; shift ;;
        --no-renice) RENICE=0; shift ;;
        --no-docs) DOCS=0; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $USERS =~ ^[0-9]+$ ]] && (( USERS >= 1 && USERS <= 1000000 )) || { echo "run.sh: --users 1..1000000" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "run.sh: run as root (the MariaDB fixture needs it)" >&2; exit 2; }
PY=/usr/bin/python3
t_start=$(date +%s)
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
say() { printf '\n== %s\n' "$*"; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }  # seconds since T0

# ---- build (Release) -----------------------------------------------------------------
say "building (Release) in $BUILD"
mkdir -p "$BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release > "$BUILD/bench-build.log" 2>&1 \
    && cmake --build "$BUILD" -j"$(nproc)" --target titan-authd titanctl titan-bench >> "$BUILD/bench-build.log" 2>&1 \
    || { tail -30 "$BUILD/bench-build.log"; echo "run.sh: build failed (log: $BUILD/bench-build.log)" >&2; exit 1; }
BENCH=$BUILD/tests/bench/titan-bench
t_built=$(date +%s)

# ---- private MariaDB + titan-authd -------------------------------------------------------
T=$(mktemp -d /tmp/titan-bench.XXXXXX)
chmod 755 "$T"
ECHO_PID=
OWN_AUTOGROUP_NICE=
cleanup() {
    set +e
    if [[ -n $OWN_AUTOGROUP_NICE ]]; then echo "$OWN_AUTOGROUP_NICE" > "/proc/$$/autogroup" 2>/dev/null; fi
    if [[ -n $ECHO_PID ]]; then kill -TERM "$ECHO_PID" 2>/dev/null; wait "$ECHO_PID" 2>/dev/null; fi
    "$FIX/authd-down.sh" "$T/authd" > /dev/null 2>&1
    "$FIX/mariadb-down.sh" "$T/db" > /dev/null 2>&1
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Scheduling weight: nice -15 for this shell (inherited by everything started below)
# and for the autogroups of the daemons, which start their own sessions. With
# autogroups (kernel.sched_autogroup_enabled) nice only ranks processes within a
# session, so the autogroup's own nice is raised too; this shell's is restored on exit.
NICE=0
boost() {  # boost PID
    (( RENICE )) || return 0
    renice -n -15 -p "$1" > /dev/null 2>&1 || true
    if [[ -w /proc/$1/autogroup ]]; then echo -15 > "/proc/$1/autogroup" 2>/dev/null || true; fi
}
if (( RENICE )); then
    [[ -r /proc/$$/autogroup ]] && OWN_AUTOGROUP_NICE=$(awk '{print $3}' "/proc/$$/autogroup")
    boost $$
    NICE=$(ps -o ni= -p $$ | tr -d ' ')
fi
export NICE
mkdir -p "$T/results"
RES=$T/results

say "starting MariaDB on 127.0.0.1:$DB_PORT and titan-authd under $T"
"$FIX/mariadb-up.sh" "$T/db" "$DB_PORT"
. "$T/db/env"
boost "$MARIADB_PID"
authd_up() {  # authd_up CACHE_TTL: start, or reconfigure and reload (SIGHUP)
    TITAN_BIN=$BUILD DB_DIR=$T/db CACHE_TTL=$1 NEGATIVE_TTL=5s METRICS_PORT= HOME_ROOT=$T/mail \
        LOG_LEVEL=warning "$FIX/authd-up.sh" "$T/authd" > /dev/null
    . "$T/authd/env"
    boost "$AUTHD_PID"
    sleep 0.3  # a reload is asynchronous
}
authd_up 1h
CTL=("$TITANCTL" --config "$AUTHD_CONFIG")
"${CTL[@]}" db migrate > /dev/null
"${CTL[@]}" domain add bench.test > /dev/null
MDB=(mariadb --defaults-file="$MARIADB_DEFAULTS" "$MARIADB_DATABASE")

# n users user1..userN@bench.test, all with one SHA512-CRYPT hash from titanctl.
HASH=$(printf 'bench-password\n' | "${CTL[@]}" password hash)
add_users() {  # add_users FROM TO
    "${MDB[@]}" <<SQL
INSERT INTO mailboxes (domain_id, username, local_part, password_hash, home)
SELECT d.id, CONCAT('user', s.seq, '@bench.test'), CONCAT('user', s.seq), '$HASH',
       CONCAT('$T/mail/bench.test/user', s.seq)
FROM seq_${1}_to_${2} s JOIN domains d ON d.name = 'bench.test';
SQL
}
t0=$(date +%s.%N)
add_users 1 "$USERS"
say "$USERS users inserted in $(elapsed "$t0") s"

# A login is one passdb and one userdb lookup: the key file alternates them.
KEYS=$T/keys.txt
for ((i = 1; i <= USERS; i++)); do
    printf 'shared/passdb/imap/user%d@bench.test\nshared/userdb/user%d@bench.test\n' "$i" "$i"
done > "$KEYS"
NKEYS=$((USERS * 2))

bench() {  # bench NAME SOCKET [titan-bench options...]; JSON into $RES/NAME.json
    local name=$1 sock=$2
    shift 2
    "$BENCH" --socket "$sock" --label "$name" --json "$@" > "$RES/$name.json" || true
    $PY - "$RES/$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cpu = ", ".join("%s %s%%" % kv for kv in r["cpu_percent"].items())
print("  %-20s %9d req/s  p50 %7.1f us  p99 %8.1f us  errors %d  not found %d  (cpu: %s)" % (
    r["label"], r["rate"], r["latency_us"]["p50"], r["latency_us"]["p99"], r["errors_total"],
    r["replies"]["not_found"], cpu))
if r["errors_total"]:
    print("  first error:", r.get("first_error"))
PY
}
cache_entries() {  # authd_cache_entries from the admin socket's `stats`
    $PY - "$AUTHD_ADMIN_SOCKET" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b"stats\n")
data = b""
while not (data.endswith(b"OK\n") or b"\nERR" in data or data.startswith(b"ERR")):
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
for line in data.decode().splitlines():
    if line.startswith("authd_cache_entries "):
        print(int(float(line.split()[1])))
PY
}
authd_hwm() { awk '/^VmHWM/ {print $2}' "/proc/$AUTHD_PID/status"; }
authd_rss() { awk '/^VmRSS/ {print $2}' "/proc/$AUTHD_PID/status"; }

# ---- scenarios -------------------------------------------------------------------------
WATCH=(--watch-pid "titan-authd=$AUTHD_PID" --watch-pid "mariadbd=$MARIADB_PID")
COMMON=(--connections "$CONNECTIONS" --keys "$KEYS")
say "warming the cache (every key once)"
bench warm "$AUTHD_DICT_SOCKET" "${COMMON[@]}" --requests "$NKEYS" "${WATCH[@]}"

say "measuring: ${DURATION}s each after ${WARMUP}s warm-up, $CONNECTIONS connections"
bench cached-persistent "$AUTHD_DICT_SOCKET" "${COMMON[@]}" --duration "$DURATION" --warmup "$WARMUP" "${WATCH[@]}"
bench cached-per-request "$AUTHD_DICT_SOCKET" "${COMMON[@]}" --duration "$DURATION" --warmup "$WARMUP" \
    --mode per-request "${WATCH[@]}"

# Uncached: passdb keys only, so no two requests in flight ask for the same user (authd
# would answer both from one query) and each lookup is one database query.
authd_up 0s
bench uncached "$AUTHD_DICT_SOCKET" --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" \
    --key-template 'shared/passdb/imap/user%d@bench.test' --key-count "$USERS" "${WATCH[@]}"
authd_up 1h
RSS_SMALL_HWM=$(authd_hwm)
RSS_SMALL=$(authd_rss)
CACHED_SMALL=$(cache_entries)

"$BENCH" --serve-echo "$T/echo.sock" --duration 600 2> "$T/echo.log" &
ECHO_PID=$!
boost "$ECHO_PID"
for _ in $(seq 1 100); do [[ -S $T/echo.sock ]] && break; sleep 0.05; done
bench echo-persistent "$T/echo.sock" "${COMMON[@]}" --duration "$DURATION" --warmup "$WARMUP" --watch-pid "echo=$ECHO_PID"
bench echo-per-request "$T/echo.sock" "${COMMON[@]}" --duration "$DURATION" --warmup "$WARMUP" --mode per-request \
    --watch-pid "echo=$ECHO_PID"
kill -TERM "$ECHO_PID"; wait "$ECHO_PID" 2>/dev/null || true
ECHO_PID=

# ---- memory with 1,000,000 cached users ------------------------------------------------
MILLION_NOTE="not measured in this run (tests/bench/run.sh --million adds it)"
if (( MILLION )); then
    say "memory: loading 1,000,000 users into MariaDB and into authd's cache"
    t0=$(date +%s.%N)
    # Larger buffer pool for the bulk load (the fixture's 64M is sized for the tests).
    "${MDB[@]}" -e "SET GLOBAL innodb_buffer_pool_size = 512*1024*1024" || true
    for ((lo = USERS + 1; lo <= 1000000; lo += 250000)); do
        hi=$((lo + 249999)); (( hi > 1000000 )) && hi=1000000
        add_users "$lo" "$hi"
    done
    t_insert=$(elapsed "$t0")
    bench million-load "$AUTHD_DICT_SOCKET" --connections 64 --key-template 'shared/userdb/user%d@bench.test' \
        --key-count 1000000 --requests 1000000 --duration 240 "${WATCH[@]}"
    t_total=$(elapsed "$t0")
    CACHED_MILLION=$(cache_entries)
    RSS_MILLION_HWM=$(authd_hwm)
    RSS_MILLION=$(authd_rss)
    MILLION_NOTE=$(awk -v i="$t_insert" -v t="$t_total" 'BEGIN { printf "insert %.0f s, cache load %.0f s", i, t - i }')
fi

# ---- report ----------------------------------------------------------------------------
MARIADB_VERSION=$(mariadb --defaults-file="$MARIADB_DEFAULTS" -N -B -e 'SELECT VERSION()')
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain -- authd common 2>/dev/null) ]]; then COMMIT="$COMMIT (with uncommitted changes in authd/ or common/)"; fi
export CACHED_SMALL RES USERS DURATION WARMUP CONNECTIONS COMMIT MARIADB_VERSION RSS_SMALL RSS_SMALL_HWM MILLION MILLION_NOTE
export RSS_MILLION=${RSS_MILLION:-} RSS_MILLION_HWM=${RSS_MILLION_HWM:-} CACHED_MILLION=${CACHED_MILLION:-} DOCS ROOT
export CPU_MODEL=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
export CPU_COUNT=$(nproc)
export MEM_TOTAL=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
export KERNEL=$(uname -r)
export OS_NAME=$(. /etc/os-release && echo "$PRETTY_NAME")
export GCC_VERSION=$(gcc -dumpfullversion 2>/dev/null || echo unknown)
export LIBEVENT_VERSION=$(pkg-config --modversion libevent 2>/dev/null || echo unknown)
export VIRT=$(systemd-detect-virt 2>/dev/null || lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -n 1)
export LOADAVG_START LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
export RUN_DATE=$(date -u +%Y-%m-%d)
export RUN_SECONDS=$(( $(date +%s) - t_built ))
export BUILD_SECONDS=$(( t_built - t_start ))
$PY - <<'PY'
import json, os, re

E = os.environ
res = E["RES"]
def load(name):
    try:
        return json.load(open(os.path.join(res, name + ".json")))
    except (OSError, ValueError):
        return None

rows = [("cached-persistent", "echo-persistent", "cached, persistent connections"),
        ("cached-per-request", "echo-per-request", "cached, connection per request"),
        ("uncached", "echo-persistent", "uncached (cache.ttl 0), persistent"),
        ("echo-persistent", "echo-persistent", "echo ceiling, persistent"),
        ("echo-per-request", "echo-per-request", "echo ceiling, connection per request")]

def cpu(r, name):
    v = r["cpu_percent"].get(name)
    return "-" if v is None else "%.0f %%" % v

table = ["| scenario | req/s | p50 | p99 | of ceiling | req per server CPU-second | errors | CPU server / mariadbd / bench |",
         "|---|---:|---:|---:|---:|---:|---:|---|"]
text = ["%-38s %9s %9s %9s %8s %10s %7s" % ("scenario", "req/s", "p50 us", "p99 us", "ceiling", "per-cpu-s", "errors")]
for name, ceiling, title in rows:
    r, c = load(name), load(ceiling)
    if r is None:
        continue
    frac = "%.0f %%" % (100.0 * r["rate"] / c["rate"]) if c and c["rate"] else "-"
    server = "echo" if name.startswith("echo") else "titan-authd"
    server_cpu = r["cpu_percent"].get(server)
    # What one fully used core of the server process would answer: robust to other load.
    per_cpu = int(r["rate"] * 100.0 / server_cpu) if server_cpu else 0
    cpus = "%s / %s / %s" % (cpu(r, server), cpu(r, "mariadbd") if server != "echo" else "-", cpu(r, "titan-bench"))
    lat = r["latency_us"]
    errors = r["errors_total"]
    table.append("| %s | %s | %.0f µs | %.0f µs | %s | %s | %d | %s |" % (
        title, "{:,}".format(int(r["rate"])), lat["p50"], lat["p99"], frac, "{:,}".format(per_cpu), errors, cpus))
    text.append("%-38s %9d %9.1f %9.1f %8s %10d %7d" % (title, r["rate"], lat["p50"], lat["p99"], frac, per_cpu, errors))

def mib(kib):
    return "%.1f MiB" % (int(kib) / 1024.0) if kib else "-"
mem = ["| titan-authd memory | VmRSS | VmHWM (peak) |", "|---|---:|---:|",
       "| after the runs above (%s users cached) | %s | %s |" % (
           "{:,}".format(int(E["CACHED_SMALL"] or 0)), mib(E["RSS_SMALL"]), mib(E["RSS_SMALL_HWM"]))]
if E["MILLION"] == "1" and E.get("RSS_MILLION"):
    m = load("million-load")
    cached = int(E["CACHED_MILLION"] or 0)
    mem.append("| after 1,000,000 users were looked up once (%s users cached) | %s | %s |" % (
        "{:,}".format(cached), mib(E["RSS_MILLION"]), mib(E["RSS_MILLION_HWM"])))
    per_user = (int(E["RSS_MILLION"]) - int(E["RSS_SMALL"])) * 1024.0 / max(cached - int(E["CACHED_SMALL"] or 0), 1)
    million_line = ("1,000,000 users: %s; the 1,000,000 uncached lookups ran at %s req/s (errors %d); "
                    "about %.0f bytes of RSS per cached user." % (
                        E["MILLION_NOTE"], "{:,}".format(int(m["rate"])) if m else "?",
                        m["errors_total"] if m else -1, per_user))
else:
    million_line = "1,000,000 users: " + E["MILLION_NOTE"] + "."

print("\n" + "\n".join(text))
print("\n" + "\n".join(mem[2:]).replace("| ", "").replace(" |", ""))
print(million_line)

if E["DOCS"] != "1":
    raise SystemExit(0)

machine = [
    "* Machine: %s, %s CPUs (%s), %s RAM, kernel %s, %s." % (
        E["CPU_MODEL"], E["CPU_COUNT"], E["VIRT"] or "bare metal", E["MEM_TOTAL"], E["KERNEL"], E["OS_NAME"]),
    "* Versions: titan-authd at commit %s (Release, GCC %s, libevent %s), MariaDB %s." % (
        E["COMMIT"], E["GCC_VERSION"], E["LIBEVENT_VERSION"], E["MARIADB_VERSION"]),
    "* Run: `%s` on %s: %s users, %s connections, %s s measured after %s s warm-up per scenario; "
    "load average %s at the start, %s at the end (other work on the machine competes for the "
    "same cores; the measured processes ran at nice %s); build %s s, run %s s." % (
        E["CMDLINE"], E["RUN_DATE"], "{:,}".format(int(E["USERS"])), E["CONNECTIONS"], E["DURATION"], E["WARMUP"],
        E["LOADAVG_START"], E["LOADAVG_END"], E["NICE"], E["BUILD_SECONDS"], E["RUN_SECONDS"]),
]
section = "\n".join(["<!-- bench:results:begin (generated by tests/bench/run.sh; edits are overwritten) -->",
                     "", *machine, "", *table, "", *mem, "", million_line, "",
                     "<!-- bench:results:end -->"])
path = os.path.join(E["ROOT"], "docs", "BENCHMARKS.md")
doc = open(path).read()
new, n = re.subn(r"<!-- bench:results:begin.*?<!-- bench:results:end -->", lambda _: section, doc, flags=re.S)
if n != 1:
    raise SystemExit("docs/BENCHMARKS.md: results markers not found")
open(path, "w").write(new)
print("\nresults written to docs/BENCHMARKS.md")
PY
if [[ -n ${BENCH_RESULTS_DIR:-} ]]; then
    mkdir -p "$BENCH_RESULTS_DIR/run"
    cp "$RES"/*.json "$BENCH_RESULTS_DIR/run/"
    {
        printf 'titan-authd\tdict, %s users cached\t%s\n' "$CACHED_SMALL" "$RSS_SMALL_HWM"
        if [[ -n ${RSS_MILLION_HWM:-} ]]; then printf 'titan-authd\tdict, %s users cached\t%s\n' "$CACHED_MILLION" "$RSS_MILLION_HWM"; fi
    } > "$BENCH_RESULTS_DIR/run/rss.txt"
fi
say "done in $(( $(date +%s) - t_start )) s (build $(( t_built - t_start )) s)"
