#!/bin/bash
# CI smoke test for titan-bench (ctest bench:echo_smoke): start the echo ceiling server
# on a private unix socket, load it for about a second in each connection mode, and
# require a non-zero rate, all replies "found" and no errors; then the same, shorter, for
# every other protocol module (policy, socketmap, dict-quota, sasl) against its own echo
# server, and the --hash-rate mode. No root, no daemons; about 5 s.
#
# usage: smoke_test.sh PATH/TO/titan-bench
set -euo pipefail
BENCH=${1:?usage: smoke_test.sh PATH/TO/titan-bench}
T=$(mktemp -d /tmp/titan-bench-smoke.XXXXXX)
echo_pid=
pids=()
cleanup() {
    for p in $echo_pid "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$T"
}
trap cleanup EXIT

# --duration bounds the server's life even if this script is killed.
"$BENCH" --serve-echo "$T/echo.sock" --duration 60 2> "$T/echo.log" &
echo_pid=$!
for _ in $(seq 1 100); do
    [[ -S $T/echo.sock ]] && break
    sleep 0.05
done
[[ -S $T/echo.sock ]] || { cat "$T/echo.log" >&2; echo "echo server did not start" >&2; exit 1; }

check() {  # check NAME JSON
    local name=$1 json=$2
    echo "$name: $json"
    # titan-bench exits non-zero on errors or zero requests; check the numbers as well.
    /usr/bin/python3 - "$json" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
problems = []
if not r["rate"] > 0:
    problems.append("rate is zero")
if r["errors_total"] != 0:
    problems.append("errors: %s" % r["errors"])
if r["replies"]["found"] != r["requests"] or r["requests"] == 0:
    problems.append("not every reply was 'found': %s" % r["replies"])
if not 0 < r["latency_us"]["p50"] <= r["latency_us"]["p99"] <= r["latency_us"]["max"]:
    problems.append("latency percentiles out of order: %s" % r["latency_us"])
if r["connects"] < 1:
    problems.append("no connection counted")
if problems:
    sys.exit("; ".join(problems))
PY
}

keys=(--key-template 'shared/userdb/user%d@bench.test' --key-count 1000)
check persistent "$("$BENCH" --socket "$T/echo.sock" --connections 8 --duration 1 "${keys[@]}" --json)"
check per-request "$("$BENCH" --socket "$T/echo.sock" --connections 4 --duration 0.5 --mode per-request "${keys[@]}" --json)"
check pipelined "$("$BENCH" --socket "$T/echo.sock" --connections 4 --pipeline 8 --duration 0.5 "${keys[@]}" --json)"
check requests "$("$BENCH" --socket "$T/echo.sock" --connections 4 --requests 2000 "${keys[@]}" --json)"

# Refusals: no server, and a non-loopback address.
if "$BENCH" --socket "$T/none.sock" --duration 0.2 "${keys[@]}" --json > "$T/none.json"; then
    echo "a run against a missing socket must fail" >&2
    exit 1
fi
grep -q '"connect_failed":[1-9]' "$T/none.json" || { echo "connect failures not counted: $(cat "$T/none.json")" >&2; exit 1; }
if "$BENCH" --tcp 192.0.2.1:1 --duration 0.2 "${keys[@]}" 2>/dev/null; then
    echo "a non-loopback address must be refused" >&2
    exit 1
fi
# Every other protocol module against its own echo server: persistent and per request.
declare -A template=(
    [policy]='recipient=user%d@bench.test'
    [socketmap]='mailboxes user%d@bench.test'
    [dict-quota]='user%d@bench.test'
    [sasl]='user%d@bench.test'
)
for proto in policy socketmap dict-quota sasl; do
    sock=$T/echo-$proto.sock
    "$BENCH" --protocol "$proto" --serve-echo "$sock" --duration 60 2> "$T/echo-$proto.log" &
    pids+=($!)
    for _ in $(seq 1 100); do
        [[ -S $sock ]] && break
        sleep 0.05
    done
    [[ -S $sock ]] || { cat "$T/echo-$proto.log" >&2; echo "$proto echo server did not start" >&2; exit 1; }
    pkeys=(--protocol "$proto" --key-template "${template[$proto]}" --key-count 100)
    check "$proto persistent" "$("$BENCH" --socket "$sock" --connections 4 --duration 0.3 "${pkeys[@]}" --json)"
    check "$proto per-request" "$("$BENCH" --socket "$sock" --connections 2 --duration 0.3 --mode per-request "${pkeys[@]}" --json)"
done

# The raw hash rate (the SASL ceiling): verifications counted, none mismatched.
hash=$("$BENCH" --hash-rate --threads 1 --duration 0.2 --json)
echo "hash-rate: $hash"
/usr/bin/python3 - "$hash" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
if not (r["verified"] > 0 and r["rate"] > 0 and r["mismatches"] == 0 and r["scheme"] == "SHA512-CRYPT"):
    sys.exit("hash-rate numbers not sane: %s" % r)
PY
echo "smoke test passed"
