#!/bin/bash
# titan-policyd benchmark against the policy servers operators run today, in one run,
# side by side (as root, Debian 12; needs the postgrey and postfwd packages):
#
#   tests/bench/policy_run.sh [--duration S] [--connections N] [--keys N] [--no-renice]
#
# Starts a private MariaDB (127.0.0.1:13706) under a temporary directory, then for each
# scenario one server at a time, loaded by titan-bench (--protocol policy) with N
# connections (default 64) sending the RCPT requests Postfix 3.7 sends:
#   greylist   titan-policyd `greylist` rule (delay 1s)         vs postgrey --delay=1
#   rules      titan-policyd deny list on the recipient plus a   vs postfwd2 with the same
#              per-client-address rate limit (never reached)        two rules (rate())
# Keys: N distinct (client /24, sender, recipient) triplets (default 1000), round-robin;
# after the warm-up every greylist triplet has passed its delay. Each server is also run
# with 4 connections to show latency below saturation; titan-policyd also open loop
# (titan-bench --rate) at half of its 64-connection rate, where the issue sets the p99
# target. Prints a table (Markdown).
# Ports: policyd 12043, postgrey 12046, postfwd2 12047 (cache 12045). Every process it
# starts is stopped on exit. Knobs: BUILD_DIR (default build-policyd), BENCH_KEEP=1,
# BENCH_RESULTS_DIR=DIR (the JSON of every measurement and the servers' VmHWM in
# DIR/policy/, for all.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FIX=$ROOT/tests/fixtures
BUILD=${BUILD_DIR:-$ROOT/build-policyd}
DB_PORT=13706
POLICYD_PORT=12043
POSTGREY_PORT=12046
POSTFWD_PORT=12047
POSTFWD_CACHE_PORT=12045
DURATION=5
CONNECTIONS=64
KEYS=1000
RENICE=1
while (( $# )); do
    case $1 in
        --duration) DURATION=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --keys) KEYS=$2; shift 2 ;;
        --no-renice) RENICE=0; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "policy_run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $(id -u) == 0 ]] || { echo "policy_run.sh: run as root" >&2; exit 2; }
for tool in postgrey postfwd2; do
    command -v $tool >/dev/null || { echo "policy_run.sh: $tool missing (apt-get install postgrey postfwd)" >&2; exit 2; }
done

echo "== building titan-policyd, titanctl, titan-bench in $BUILD"
cmake -S "$ROOT" -B "$BUILD" > /dev/null
cmake --build "$BUILD" -j2 --target titan-policyd titanctl titan-bench > /dev/null
POLICYD=$BUILD/policyd/titan-policyd
BENCH=$BUILD/tests/bench/titan-bench
TITANCTL=$BUILD/titanctl/titanctl

T=$(mktemp -d /tmp/titan-policy-bench.XXXXXX)
chmod 755 "$T"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [[ -s $T/postgrey.pid ]] && kill "$(cat "$T/postgrey.pid")" 2>/dev/null || true
    [[ -s $T/postfwd.pid ]] && kill "$(cat "$T/postfwd.pid")" 2>/dev/null || true
    "$FIX/mariadb-down.sh" "$T/db" > /dev/null 2>&1 || true
    [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$T"
}
trap cleanup EXIT
if (( RENICE )); then renice -n -15 -p $$ > /dev/null; fi

"$FIX/mariadb-up.sh" "$T/db" $DB_PORT > /dev/null
echo titanpw > "$T/db.password"
cat > "$T/ctl.yaml" <<EOF
database: {hosts: ["127.0.0.1:$DB_PORT"], user: titan, password_file: $T/db.password, name: titan}
dict: {listen: [{path: $T/unused.sock}]}
EOF
"$TITANCTL" --config "$T/ctl.yaml" db migrate > /dev/null

for i in $(seq 1 "$KEYS"); do
    printf 'client_address=10.%d.%d.7\tsender=s%d@example.org\trecipient=r%d@example.test\tinstance=%d.1\n' \
        $(( i / 250 % 256 )) $(( i % 250 )) "$i" "$i" "$i"
done > "$T/keys.txt"

port_open() { ss -Hltn "sport = :$1" | grep -qF "127.0.0.1:$1"; }
wait_port() { for _ in $(seq 1 100); do port_open "$1" && return 0; sleep 0.1; done; echo "port $1 not listening" >&2; return 1; }

policyd_up() {  # $1 = rules (YAML list items)
    cat > "$T/policyd.yaml" <<EOF
log: {level: warning}
database: {hosts: ["127.0.0.1:$DB_PORT"], user: titan, password_file: $T/db.password, name: titan}
policy: {listen: [{address: "127.0.0.1:$POLICYD_PORT"}], log_decisions: none}
rules:
$1
EOF
    "$POLICYD" --config "$T/policyd.yaml" > "$T/policyd.log" 2>&1 &
    POLICYD_PID=$!
    PIDS+=("$POLICYD_PID")
    wait_port $POLICYD_PORT
}
HWM=()  # "server<TAB>scenario<TAB>VmHWM kB", read just before each server stops
hwm() { printf '%s\t%s\t%s' "$1" "$2" "$(awk '/^VmHWM/ {print $2}' "/proc/$3/status" 2>/dev/null)"; }
policyd_down() { HWM+=("$(hwm titan-policyd "$1" "$POLICYD_PID")"); kill "$POLICYD_PID"; wait "$POLICYD_PID" 2>/dev/null || true; }

RESULTS=()
rate_of() { /usr/bin/python3 -c 'import json, sys; print(json.loads(sys.argv[1])["rate"])' "$1"; }
measure() {  # $1 scenario, $2 server, $3 pid, $4 port
    local conns
    for conns in "$CONNECTIONS" 4; do
        local out
        out=$("$BENCH" --protocol policy --tcp "127.0.0.1:$4" --keys "$T/keys.txt" --connections "$conns" \
              --duration "$DURATION" --warmup 3 --timeout 10 --watch-pid "server=$3" --json)
        RESULTS+=("$(printf '%s\t%s\t%s\t%s' "$1" "$2" "$conns" "$out")")
        if [[ -n ${BENCH_RESULTS_DIR:-} ]]; then
            mkdir -p "$BENCH_RESULTS_DIR/policy"
            printf '%s\n' "$out" > "$BENCH_RESULTS_DIR/policy/$1.$2.$conns.json"
        fi
        echo "   $2, $conns connections: $(rate_of "$out") decisions/s"
        if [[ $2 == titan-policyd && $conns == "$CONNECTIONS" ]]; then
            # The latency target is at half of the maximum rate: an open-loop run there.
            local half=$(( $(rate_of "$out") / 2 ))
            if (( half > 0 )); then
                out=$("$BENCH" --protocol policy --tcp "127.0.0.1:$4" --keys "$T/keys.txt" --connections "$conns" \
                      --rate "$half" --duration "$DURATION" --warmup 3 --timeout 10 --watch-pid "server=$3" --json)
                RESULTS+=("$(printf '%s\t%s\t%s\t%s' "$1" "$2" "$conns, open loop at $half/s" "$out")")
                echo "   $2, $conns connections, open loop at $half/s: p99 $(/usr/bin/python3 -c 'import json, sys; print(json.loads(sys.argv[1])["latency_us"]["p99"])' "$out") us"
            fi
        fi
    done
}

echo "== ceiling: titan-bench's own echo server (fixed DUNNO reply)"
"$BENCH" --serve-echo-tcp 127.0.0.1:$POLICYD_PORT --protocol policy --echo-reply-bytes 14 > "$T/echo.log" 2>&1 &
ECHO_PID=$!
PIDS+=("$ECHO_PID")
wait_port $POLICYD_PORT
measure ceiling echo "$ECHO_PID" $POLICYD_PORT
kill "$ECHO_PID"; wait "$ECHO_PID" 2>/dev/null || true
for _ in $(seq 1 50); do port_open $POLICYD_PORT || break; sleep 0.1; done

echo "== greylist"
policyd_up "  - {name: grey, type: greylist, delay: 1s}"
measure greylist titan-policyd "$POLICYD_PID" $POLICYD_PORT
policyd_down greylist
mkdir -p "$T/postgrey"
chown postgrey:postgrey "$T/postgrey"
postgrey --inet=127.0.0.1:$POSTGREY_PORT --dbdir="$T/postgrey" --pidfile="$T/postgrey.pid" --daemonize \
    --delay=1 --hostname=mx.example.test > "$T/postgrey.stdout" 2>&1
wait_port $POSTGREY_PORT
measure greylist postgrey "$(cat "$T/postgrey.pid")" $POSTGREY_PORT
HWM+=("$(hwm postgrey greylist "$(cat "$T/postgrey.pid")")")
kill "$(cat "$T/postgrey.pid")"

echo "== rules (deny list + rate limit per client)"
policyd_up "  - {name: lists, type: lists, sql: false, deny: {recipients: [blocked@example.test]}}
  - {name: per-client, type: rate_limit, key: client_address, windows: [{limit: 100000000, period: 1h}]}"
measure rules titan-policyd "$POLICYD_PID" $POLICYD_PORT
policyd_down rules
cat > "$T/postfwd.cf" <<'EOF'
id=BLOCK01; recipient==blocked@example.test; action=REJECT blocked
id=RATE01; client_address=~/./; action=rate(client_address/100000000/3600/450 4.7.1 rate limit reached)
EOF
postfwd2 --file="$T/postfwd.cf" --interface=127.0.0.1 --port=$POSTFWD_PORT --cache_interface=127.0.0.1 \
    --cache_port=$POSTFWD_CACHE_PORT --pidfile="$T/postfwd.pid" --user=nobody --group=nogroup --nodns \
    > "$T/postfwd.stdout" 2>&1 < /dev/null
wait_port $POSTFWD_PORT
measure rules postfwd2 "$(cat "$T/postfwd.pid")" $POSTFWD_PORT

echo
echo "| scenario | server | connections | decisions/s | p50 ms | p99 ms | errors | server CPU |"
echo "|---|---|---|---|---|---|---|---|"
for r in "${RESULTS[@]}"; do
    IFS=$'\t' read -r scenario server conns json <<< "$r"
    echo "$json" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
def find(obj, *names):
    for n in names:
        if isinstance(obj, dict) and n in obj:
            return obj[n]
    return None
lat = d.get("latency_us") or d.get("latency") or {}
rate = find(d, "rate", "requests_per_second", "req_per_s") or 0
cpu = d.get("cpu_percent") or {}
server_cpu = cpu.get("server") if isinstance(cpu, dict) else None
cpu_text = ("%.0f%%" % server_cpu) if server_cpu is not None else "-"
if sys.argv[2] == "postfwd2":
    cpu_text = "n/a (prefork children)"
if sys.argv[2] == "echo":
    cpu_text = "-"
print("| %s | %s | %s | %.0f | %.2f | %.2f | %d | %s |" % (sys.argv[1], sys.argv[2], sys.argv[3], rate,
      (lat.get("p50", 0) or 0) / 1000.0, (lat.get("p99", 0) or 0) / 1000.0, d.get("errors_total", 0), cpu_text))
' "$scenario" "$server" "$conns"
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
for h in "${HWM[@]}"; do echo "VmHWM: $h kB"; done
if [[ -n ${BENCH_RESULTS_DIR:-} ]]; then printf '%s\n' "${HWM[@]}" > "$BENCH_RESULTS_DIR/policy/rss.txt"; fi
