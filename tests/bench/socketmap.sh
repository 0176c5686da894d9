#!/bin/bash
# The titan-authd socketmap benchmark (Postfix maps), in one command (as root):
#
#   tests/bench/socketmap.sh [--users N] [--duration S] [--connections N]
#
# Starts a private MariaDB (127.0.0.1:14106) and titan-authd with its socketmap server
# (tests/fixtures/, under a temporary directory), loads N mailboxes (default 10000) with
# one alias each, then measures with titan-bench --protocol socketmap over authd's unix
# socketmap socket, as Postfix's smtpd asks for one RCPT (aliases, then mailboxes):
#   cached        cache warm, persistent connections
#   uncached-mbx  cache.ttl and negative_ttl 0: every mailboxes lookup is one query
#   uncached-ali  the same for aliases (domain, address and catch-all: three queries)
#   echo          titan-bench's socketmap echo server: the ceiling of client + transport
# Prints one line per scenario and titan-authd's VmHWM. Builds nothing: BUILD_DIR (default
# build-smap) must hold titan-authd, titanctl and titan-bench. Every process it starts is
# stopped on exit. BENCH_RESULTS_DIR=DIR copies the JSON results and rss.txt into
# DIR/socketmap/ (all.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FIX=$ROOT/tests/fixtures
BUILD=${BUILD_DIR:-$ROOT/build-smap}
DB_PORT=14106
USERS=10000
DURATION=5
WARMUP=1
CONNECTIONS=32
while (( $# )); do
    case $1 in
        --users) USERS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "socketmap.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $USERS =~ ^[0-9]+$ ]] && (( USERS >= 1 && USERS <= 1000000 )) || { echo "socketmap.sh: --users 1..1000000" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "socketmap.sh: run as root (the MariaDB fixture needs it)" >&2; exit 2; }
BENCH=$BUILD/tests/bench/titan-bench
[[ -x $BENCH && -x $BUILD/authd/titan-authd ]] || { echo "socketmap.sh: build titan-authd titanctl titan-bench in $BUILD first" >&2; exit 2; }
PY=/usr/bin/python3
say() { printf '\n== %s\n' "$*"; }

T=$(mktemp -d /tmp/titan-smap-bench.XXXXXX)
chmod 755 "$T"
ECHO_PID=
cleanup() {
    set +e
    if [[ -n $ECHO_PID ]]; then kill -TERM "$ECHO_PID" 2>/dev/null; wait "$ECHO_PID" 2>/dev/null; fi
    "$FIX/authd-down.sh" "$T/authd" > /dev/null 2>&1
    "$FIX/mariadb-down.sh" "$T/db" > /dev/null 2>&1
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "MariaDB on 127.0.0.1:$DB_PORT and titan-authd (socketmap) under $T"
"$FIX/mariadb-up.sh" "$T/db" "$DB_PORT" > /dev/null
. "$T/db/env"
authd_up() {  # authd_up TTL NEGATIVE_TTL: start, or reconfigure and reload (SIGHUP)
    TITAN_BIN=$BUILD DB_DIR=$T/db CACHE_TTL=$1 NEGATIVE_TTL=$2 METRICS_PORT= HOME_ROOT=$T/mail \
        LOG_LEVEL=warning SOCKETMAP=1 "$FIX/authd-up.sh" "$T/authd" > /dev/null
    . "$T/authd/env"
    sleep 0.3  # a reload is asynchronous
}
authd_up 1h 1h
CTL=("$TITANCTL" --config "$AUTHD_CONFIG")
"${CTL[@]}" db migrate > /dev/null
"${CTL[@]}" domain add bench.test > /dev/null
mariadb --defaults-file="$MARIADB_DEFAULTS" "$MARIADB_DATABASE" <<SQL
INSERT INTO mailboxes (domain_id, username, local_part, password_hash, home)
SELECT d.id, CONCAT('user', s.seq, '@bench.test'), CONCAT('user', s.seq), '', CONCAT('$T/mail/user', s.seq)
FROM seq_1_to_${USERS} s JOIN domains d ON d.name = 'bench.test';
INSERT INTO aliases (domain_id, source, destination)
SELECT d.id, CONCAT('alias', s.seq, '@bench.test'), CONCAT('user', s.seq, '@bench.test')
FROM seq_1_to_${USERS} s JOIN domains d ON d.name = 'bench.test';
SQL

# One RCPT: Postfix asks aliases, then mailboxes; half the recipients are aliases.
KEYS=$T/keys.txt
for ((i = 1; i <= USERS; i++)); do
    printf 'aliases user%d@bench.test\nmailboxes user%d@bench.test\naliases alias%d@bench.test\n' "$i" "$i" "$i"
done > "$KEYS"
NKEYS=$((USERS * 3))

bench() {  # bench NAME SOCKET [titan-bench options...]
    local name=$1 sock=$2
    shift 2
    "$BENCH" --protocol socketmap --socket "$sock" --label "$name" --json "$@" > "$T/$name.json" || true
    $PY - "$T/$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cpu = ", ".join("%s %s%%" % kv for kv in r["cpu_percent"].items())
print("  %-14s %9d req/s  p50 %7.1f us  p99 %8.1f us  errors %d  not found %d  (cpu: %s)" % (
    r["label"], r["rate"], r["latency_us"]["p50"], r["latency_us"]["p99"], r["errors_total"],
    r["replies"]["not_found"], cpu))
if r["errors_total"]:
    print("  first error:", r.get("first_error"))
PY
}
WATCH=(--watch-pid "titan-authd=$AUTHD_PID" --watch-pid "mariadbd=$MARIADB_PID")
say "warming the cache (every key once)"
bench warm "$AUTHD_SOCKETMAP_SOCKET" --connections "$CONNECTIONS" --keys "$KEYS" --requests "$NKEYS" "${WATCH[@]}"
say "measuring: ${DURATION}s each after ${WARMUP}s warm-up, $CONNECTIONS connections"
bench cached "$AUTHD_SOCKETMAP_SOCKET" --connections "$CONNECTIONS" --keys "$KEYS" --duration "$DURATION" \
    --warmup "$WARMUP" "${WATCH[@]}"
bench cached-1conn "$AUTHD_SOCKETMAP_SOCKET" --connections 1 --keys "$KEYS" --duration "$DURATION" \
    --warmup "$WARMUP" "${WATCH[@]}"
authd_up 0s 0s
bench uncached-mbx "$AUTHD_SOCKETMAP_SOCKET" --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" \
    --key-template 'mailboxes user%d@bench.test' --key-count "$USERS" "${WATCH[@]}"
bench uncached-ali "$AUTHD_SOCKETMAP_SOCKET" --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" \
    --key-template 'aliases alias%d@bench.test' --key-count "$USERS" "${WATCH[@]}"

"$BENCH" --protocol socketmap --serve-echo "$T/echo.sock" --echo-reply-bytes 32 --duration 600 2> "$T/echo.log" &
ECHO_PID=$!
for _ in $(seq 1 100); do [[ -S $T/echo.sock ]] && break; sleep 0.05; done
bench echo "$T/echo.sock" --connections "$CONNECTIONS" --keys "$KEYS" --duration "$DURATION" --warmup "$WARMUP" \
    --watch-pid "echo=$ECHO_PID"
AUTHD_HWM=$(awk '/^VmHWM/ {print $2}' "/proc/$AUTHD_PID/status")
echo "  titan-authd VmHWM (peak RSS) $((AUTHD_HWM / 1024)) MiB"
if [[ -n ${BENCH_RESULTS_DIR:-} ]]; then
    mkdir -p "$BENCH_RESULTS_DIR/socketmap"
    cp "$T"/*.json "$BENCH_RESULTS_DIR/socketmap/"
    printf 'titan-authd\tsocketmap, %s mailboxes + %s aliases\t%s\n' "$USERS" "$USERS" "$AUTHD_HWM" \
        > "$BENCH_RESULTS_DIR/socketmap/rss.txt"
fi
