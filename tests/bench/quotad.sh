#!/bin/bash
# The titan-quotad benchmark, in one command (as root, Debian 12 with dovecot-mysql):
#
#   tests/bench/quotad.sh [--users N] [--duration S] [--connections N] [--rounds N]
#                         [--no-renice]
#
# Starts a private MariaDB (127.0.0.1:13806), titan-quotad, and Dovecot's own dict server
# with its MySQL backend (package dovecot-mysql) on the SAME database, all under a
# temporary directory; gives N users (default 10000) a usage row in both schemas, then
# measures with titan-bench the quota update Dovecot's quota plugin sends after every
# delivery (B, A storage, A messages, C), spread over the N users:
#   quotad / dovecot-dict            persistent connections
#   quotad-per-request / dovecot-dict-per-request
#                                    connect + hello per transaction (Dovecot's client
#                                    default, idle_msecs=0)
#   policy                           RCPT checks over quotad's Postfix policy socket
#   echo (once)                      titan-bench's dict-quota echo server: the ceiling
# Both dict servers get the hello Dovecot 2.3.19 sends (H3 2 0 <empty> quota). Every
# scenario runs --rounds times (default 3), the servers alternating, and the median is
# reported (a shared machine is noisy). Then checks that both stores counted every
# acknowledged update. As in run.sh, this script, MariaDB, titan-quotad and Dovecot run at
# nice -15, each in its own scheduler autogroup with that nice too (--no-renice: unchanged),
# so both servers get the same share of a shared machine.
# Builds nothing: BUILD_DIR (default build-quotad) must hold titan-quotad, titanctl and
# titan-bench. BENCH_RESULTS_DIR=DIR copies the JSON results and quotad's VmHWM (rss.txt)
# into DIR/quotad/ (all.sh). QUOTAD_POOL, QUOTAD_WRITES, QUOTAD_READS set quotad's database.pool_size,
# storage.max_write_inflight and max_read_inflight (defaults 4, 2, 2, as shipped). Every process it starts is stopped on exit; BENCH_KEEP=1 keeps the files.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FIX=$ROOT/tests/fixtures
BUILD=${BUILD_DIR:-$ROOT/build-quotad}
DB_PORT=13806
USERS=10000
DURATION=5
WARMUP=1
CONNECTIONS=32
ROUNDS=3
RENICE=1
while (( $# )); do
    case $1 in
        --users) USERS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --no-renice) RENICE=0; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "quotad.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $USERS =~ ^[0-9]+$ ]] && (( USERS >= 1 && USERS <= 1000000 )) || { echo "quotad.sh: --users 1..1000000" >&2; exit 2; }
[[ $ROUNDS =~ ^[0-9]+$ ]] && (( ROUNDS >= 1 && ROUNDS <= 20 )) || { echo "quotad.sh: --rounds 1..20" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "quotad.sh: run as root (the MariaDB fixture needs it)" >&2; exit 2; }
BENCH=$BUILD/tests/bench/titan-bench
QUOTAD=$BUILD/quotad/titan-quotad
TITANCTL=$BUILD/titanctl/titanctl
for b in "$BENCH" "$QUOTAD" "$TITANCTL"; do
    [[ -x $b ]] || { echo "quotad.sh: build titan-quotad titanctl titan-bench in $BUILD first" >&2; exit 2; }
done
[[ -f /usr/lib/dovecot/modules/dict/libdriver_mysql.so ]] || { echo "quotad.sh: install dovecot-mysql" >&2; exit 2; }
PY=/usr/bin/python3
say() { printf '\n== %s\n' "$*"; }

T=$(mktemp -d /tmp/titan-quotad-bench.XXXXXX)
chmod 755 "$T"
QUOTAD_PID=
ECHO_PID=
OWN_AUTOGROUP_NICE=
cleanup() {
    set +e
    if [[ -n $OWN_AUTOGROUP_NICE ]]; then echo "$OWN_AUTOGROUP_NICE" > "/proc/$$/autogroup" 2>/dev/null; fi
    if [[ -n $QUOTAD_PID ]]; then kill -TERM "$QUOTAD_PID" 2>/dev/null; wait "$QUOTAD_PID" 2>/dev/null; fi
    if [[ -n $ECHO_PID ]]; then kill -TERM "$ECHO_PID" 2>/dev/null; wait "$ECHO_PID" 2>/dev/null; fi
    if [[ -s $T/dovecot/run/master.pid ]]; then
        local p
        p=$(cat "$T/dovecot/run/master.pid")
        kill -TERM "$p" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    fi
    "$FIX/mariadb-down.sh" "$T/db" > /dev/null 2>&1
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
boost() {  # boost PID: nice -15 for the process and its autogroup
    (( RENICE )) || return 0
    renice -n -15 -p "$1" > /dev/null 2>&1 || true
    if [[ -w /proc/$1/autogroup ]]; then echo -15 > "/proc/$1/autogroup" 2>/dev/null || true; fi
}
if (( RENICE )); then
    [[ -r /proc/$$/autogroup ]] && OWN_AUTOGROUP_NICE=$(awk '{print $3}' "/proc/$$/autogroup")
    boost $$
fi

say "MariaDB on 127.0.0.1:$DB_PORT, $USERS users"
"$FIX/mariadb-up.sh" "$T/db" "$DB_PORT" > /dev/null
. "$T/db/env"
boost "$MARIADB_PID"
printf 'titanpw\n' > "$T/db.password"
chmod 600 "$T/db.password"
cat > "$T/ctl.yaml" <<YAML
database:
  hosts: ["127.0.0.1:$DB_PORT"]
  user: $MARIADB_USER
  password_file: $T/db.password
  name: $MARIADB_DATABASE
dict:
  listen:
    - path: $T/unused.sock
YAML
"$TITANCTL" --config "$T/ctl.yaml" db migrate > /dev/null
"$TITANCTL" --config "$T/ctl.yaml" domain add bench.test > /dev/null
mariadb --defaults-file="$MARIADB_DEFAULTS" "$MARIADB_DATABASE" <<SQL
INSERT INTO mailboxes (domain_id, username, local_part, password_hash, home, quota_bytes, quota_messages)
SELECT d.id, CONCAT('user', s.seq, '@bench.test'), CONCAT('user', s.seq), '', CONCAT('/nonexistent/user', s.seq),
       10737418240, 1000000
FROM seq_1_to_${USERS} s JOIN domains d ON d.name = 'bench.test';
INSERT INTO quota_usage (username, bytes, messages)
SELECT CONCAT('user', s.seq, '@bench.test'), 0, 0 FROM seq_1_to_${USERS} s;
-- The table of Dovecot's documented dict-sql quota setup.
CREATE TABLE dovecot_quota (
  username VARCHAR(320) NOT NULL PRIMARY KEY,
  bytes BIGINT NOT NULL DEFAULT 0,
  messages INTEGER NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO dovecot_quota (username, bytes, messages)
SELECT CONCAT('user', s.seq, '@bench.test'), 0, 0 FROM seq_1_to_${USERS} s;
SQL

say "titan-quotad and Dovecot's dict server (dict-sql, MySQL driver) under $T"
mkdir -p "$T/quotad"
cat > "$T/quotad/quotad.yaml" <<YAML
log:
  level: warning
database:
  hosts: ["127.0.0.1:$DB_PORT"]
  user: $MARIADB_USER
  password_file: $T/db.password
  name: $MARIADB_DATABASE
  pool_size: ${QUOTAD_POOL:-4}
storage:
  max_write_inflight: ${QUOTAD_WRITES:-2}
  max_read_inflight: ${QUOTAD_READS:-2}
dict:
  listen:
    - path: $T/quotad/dict.sock
      mode: "0666"
policy:
  listen:
    - path: $T/quotad/policy.sock
      mode: "0666"
YAML
# Its own session (and autogroup), like the Dovecot master below.
setsid "$QUOTAD" --config "$T/quotad/quotad.yaml" >> "$T/quotad/quotad.log" 2>&1 < /dev/null &
QUOTAD_PID=$!
boost "$QUOTAD_PID"
mkdir -p "$T/dovecot/run" "$T/dovecot/state"
chmod 755 "$T/dovecot"
cat > "$T/dovecot/dict-sql.conf.ext" <<EOF
connect = host=127.0.0.1 port=$DB_PORT dbname=$MARIADB_DATABASE user=$MARIADB_USER password=titanpw
map {
  pattern = priv/quota/storage
  table = dovecot_quota
  username_field = username
  value_field = bytes
}
map {
  pattern = priv/quota/messages
  table = dovecot_quota
  username_field = username
  value_field = messages
}
EOF
chmod 644 "$T/dovecot/dict-sql.conf.ext"
cat > "$T/dovecot/dovecot.conf" <<EOF
# only Dovecot's dict service (one process per connection, its default client_limit = 1)
instance_name = dovecot-quota-bench
base_dir = $T/dovecot/run
state_dir = $T/dovecot/state
protocols =
listen = 127.0.0.1
ssl = no
log_path = $T/dovecot/dovecot.log
info_log_path = $T/dovecot/dovecot.log
dict {
  quota = mysql:$T/dovecot/dict-sql.conf.ext
}
service dict {
  unix_listener dict {
    mode = 0666
  }
}
EOF
dovecot -c "$T/dovecot/dovecot.conf"
for _ in $(seq 1 50); do [[ -s $T/dovecot/run/master.pid ]] && break; sleep 0.05; done
boost "$(cat "$T/dovecot/run/master.pid")"  # dict processes are forked later and inherit it
for _ in $(seq 1 100); do
    [[ -S $T/quotad/dict.sock && -S $T/quotad/policy.sock && -S $T/dovecot/run/dict ]] && break
    sleep 0.05
done
[[ -S $T/quotad/dict.sock && -S $T/dovecot/run/dict ]] || { tail "$T/quotad/quotad.log" "$T/dovecot/dovecot.log"; exit 1; }

bench() {  # bench NAME PROTOCOL SOCKET [titan-bench options...]  -> $T/NAME.json
    local name=$1 proto=$2 sock=$3
    shift 3
    "$BENCH" --protocol "$proto" --socket "$sock" --label "$name" --json "$@" > "$T/$name.json" || true
}
KEYS=(--key-template 'user%d@bench.test' --key-count "$USERS")
COMMON=(--connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP")
QW=(--watch-pid "titan-quotad=$QUOTAD_PID" --watch-pid "mariadbd=$MARIADB_PID")
DW=(--watch-pid "mariadbd=$MARIADB_PID")
say "quota updates (B/A/A/C) and RCPT checks: $CONNECTIONS connections, ${DURATION}s each after ${WARMUP}s" \
    "warm-up, $ROUNDS rounds alternating the servers"
for ((r = 1; r <= ROUNDS; r++)); do
    bench "quotad.$r" dict-quota "$T/quotad/dict.sock" "${KEYS[@]}" "${COMMON[@]}" "${QW[@]}"
    bench "dovecot-dict.$r" dict-quota "$T/dovecot/run/dict" "${KEYS[@]}" "${COMMON[@]}" "${DW[@]}"
    bench "quotad-per-request.$r" dict-quota "$T/quotad/dict.sock" "${KEYS[@]}" "${COMMON[@]}" --mode per-request "${QW[@]}"
    bench "dovecot-dict-per-request.$r" dict-quota "$T/dovecot/run/dict" "${KEYS[@]}" "${COMMON[@]}" --mode per-request "${DW[@]}"
    bench "policy.$r" policy "$T/quotad/policy.sock" --key-template 'recipient=user%d@bench.test' --key-count "$USERS" \
        "${COMMON[@]}" "${QW[@]}"
    printf '  round %d of %d done\n' "$r" "$ROUNDS"
done

# The ceiling: titan-bench's dict-quota echo server (answers every commit at once).
"$BENCH" --protocol dict-quota --serve-echo "$T/echo.sock" --duration 600 2> "$T/echo.log" &
ECHO_PID=$!
boost "$ECHO_PID"
for _ in $(seq 1 100); do [[ -S $T/echo.sock ]] && break; sleep 0.05; done
bench echo.1 dict-quota "$T/echo.sock" "${KEYS[@]}" "${COMMON[@]}" --watch-pid "echo=$ECHO_PID"
kill -TERM "$ECHO_PID"; wait "$ECHO_PID" 2>/dev/null || true
ECHO_PID=
QUOTAD_HWM=$(awk '/^VmHWM/ {print $2}' "/proc/$QUOTAD_PID/status")
if [[ -n ${BENCH_RESULTS_DIR:-} ]]; then
    mkdir -p "$BENCH_RESULTS_DIR/quotad"
    cp "$T"/*.json "$BENCH_RESULTS_DIR/quotad/"
    printf 'titan-quotad\tquota dict + policy, %s users\t%s\n' "$USERS" "$QUOTAD_HWM" > "$BENCH_RESULTS_DIR/quotad/rss.txt"
fi
say "results (median of $ROUNDS rounds; titan-quotad VmHWM $((QUOTAD_HWM / 1024)) MiB)"
COUNTS=$(for table in quota_usage dovecot_quota; do
    mariadb --defaults-file="$MARIADB_DEFAULTS" -N -B "$MARIADB_DATABASE" -e "SELECT '$table', SUM(messages) FROM $table"
done)
$PY - "$T" "$ROUNDS" "$COUNTS" <<'PY'
import json, os, statistics, sys
t, rounds, counts = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runs = {}
for name in sorted(os.listdir(t)):
    if name.endswith(".json"):
        r = json.load(open(os.path.join(t, name)))
        runs.setdefault(r["label"].rsplit(".", 1)[0], []).append(r)
def med(rs, f):
    return statistics.median(f(r) for r in rs)
print("  %-26s %9s %9s %9s  %s" % ("scenario", "per s", "p50 us", "p99 us", "rates of the rounds; errors; cpu (median)"))
rate = {}
for label in ("quotad", "dovecot-dict", "quotad-per-request", "dovecot-dict-per-request", "policy", "echo"):
    rs = runs.get(label, [])
    if not rs:
        continue
    rate[label] = med(rs, lambda r: r["rate"])
    cpu = {}
    for r in rs:
        for k, v in r["cpu_percent"].items():
            if v is not None:
                cpu.setdefault(k, []).append(v)
    print("  %-26s %9d %9.0f %9.0f  %s; errors %d; %s" % (
        label, rate[label], med(rs, lambda r: r["latency_us"]["p50"]), med(rs, lambda r: r["latency_us"]["p99"]),
        "/".join(str(r["rate"]) for r in rs), sum(r["errors_total"] + r["replies"]["fail"] for r in rs),
        ", ".join("%s %.0f%%" % (k, statistics.median(v)) for k, v in sorted(cpu.items()))))
for a, b in (("quotad", "dovecot-dict"), ("quotad-per-request", "dovecot-dict-per-request")):
    if rate.get(b):
        print("  %s / %s = %.2fx" % (a, b, rate[a] / rate[b]))
acked = {"quota_usage": 0, "dovecot_quota": 0}
for label, rs in runs.items():
    if label in ("policy", "echo"):
        continue
    key = "quota_usage" if label.startswith("quotad") else "dovecot_quota"
    acked[key] += sum(r["replies"]["found"] for r in rs)
stored = dict(line.split("\t") for line in counts.splitlines())
for table in ("quota_usage", "dovecot_quota"):
    ok = int(stored[table]) >= acked[table]
    print("  %-14s updates stored %s >= acknowledged in the measured windows %d: %s" % (
        table, stored[table], acked[table], "ok" if ok else "LOST UPDATES"))
PY
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg);" \
     "$(mariadbd --version | awk '{print $3}'), $(dovecot --version | cut -d' ' -f1), build $(awk -F= '/^CMAKE_BUILD_TYPE/ {print $2}' "$BUILD/CMakeCache.txt"), nice $(ps -o ni= -p $$ | tr -d ' ')"
