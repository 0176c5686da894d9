#!/bin/bash
# The titan-quotad benchmark, in one command (as root, Debian 12 with dovecot-mysql):
#
#   tests/bench/quotad.sh [--users N] [--duration S] [--connections N]
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
# Both dict servers get the hello Dovecot 2.3.19 sends (H3 2 0 <empty> quota). Prints one
# line per scenario, then checks that both stores counted every acknowledged update.
# Builds nothing: BUILD_DIR (default build-quotad) must hold titan-quotad, titanctl and
# titan-bench. Every process it starts is stopped on exit; BENCH_KEEP=1 keeps the files.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FIX=$ROOT/tests/fixtures
BUILD=${BUILD_DIR:-$ROOT/build-quotad}
DB_PORT=13806
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
        *) echo "quotad.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $USERS =~ ^[0-9]+$ ]] && (( USERS >= 1 && USERS <= 1000000 )) || { echo "quotad.sh: --users 1..1000000" >&2; exit 2; }
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
cleanup() {
    set +e
    if [[ -n $QUOTAD_PID ]]; then kill -TERM "$QUOTAD_PID" 2>/dev/null; wait "$QUOTAD_PID" 2>/dev/null; fi
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

say "MariaDB on 127.0.0.1:$DB_PORT, $USERS users"
"$FIX/mariadb-up.sh" "$T/db" "$DB_PORT" > /dev/null
. "$T/db/env"
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
dict:
  listen:
    - path: $T/quotad/dict.sock
      mode: "0666"
policy:
  listen:
    - path: $T/quotad/policy.sock
      mode: "0666"
YAML
"$QUOTAD" --config "$T/quotad/quotad.yaml" >> "$T/quotad/quotad.log" 2>&1 < /dev/null &
QUOTAD_PID=$!
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
for _ in $(seq 1 100); do
    [[ -S $T/quotad/dict.sock && -S $T/quotad/policy.sock && -S $T/dovecot/run/dict ]] && break
    sleep 0.05
done
[[ -S $T/quotad/dict.sock && -S $T/dovecot/run/dict ]] || { tail "$T/quotad/quotad.log" "$T/dovecot/dovecot.log"; exit 1; }

RESULTS=$T/results.txt
: > "$RESULTS"
bench() {  # bench NAME PROTOCOL SOCKET [titan-bench options...]
    local name=$1 proto=$2 sock=$3
    shift 3
    "$BENCH" --protocol "$proto" --socket "$sock" --label "$name" --json "$@" > "$T/$name.json" || true
    $PY - "$T/$name.json" <<'PY' | tee -a "$RESULTS"
import json, sys
r = json.load(open(sys.argv[1]))
cpu = ", ".join("%s %s%%" % kv for kv in r["cpu_percent"].items())
print("  %-26s %8d /s  p50 %7.1f us  p99 %8.1f us  ok %d  not found %d  errors %d  (cpu: %s)" % (
    r["label"], r["rate"], r["latency_us"]["p50"], r["latency_us"]["p99"], r["replies"]["found"],
    r["replies"]["not_found"], r["errors_total"], cpu or "-"))
if r["errors_total"]:
    print("  first error:", r.get("first_error"))
PY
}
KEYS=(--key-template 'user%d@bench.test' --key-count "$USERS")
COMMON=(--connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP")
say "quota updates (B/A/A/C), $CONNECTIONS connections, ${DURATION}s each after ${WARMUP}s warm-up"
bench quotad dict-quota "$T/quotad/dict.sock" "${KEYS[@]}" "${COMMON[@]}" \
    --watch-pid "titan-quotad=$QUOTAD_PID" --watch-pid "mariadbd=$MARIADB_PID"
bench dovecot-dict dict-quota "$T/dovecot/run/dict" "${KEYS[@]}" "${COMMON[@]}" --watch-pid "mariadbd=$MARIADB_PID"
bench quotad-per-request dict-quota "$T/quotad/dict.sock" "${KEYS[@]}" "${COMMON[@]}" --mode per-request \
    --watch-pid "titan-quotad=$QUOTAD_PID" --watch-pid "mariadbd=$MARIADB_PID"
bench dovecot-dict-per-request dict-quota "$T/dovecot/run/dict" "${KEYS[@]}" "${COMMON[@]}" --mode per-request \
    --watch-pid "mariadbd=$MARIADB_PID"
say "RCPT policy checks (recipient user<n>@bench.test, no SIZE)"
bench policy policy "$T/quotad/policy.sock" --key-template 'recipient=user%d@bench.test' --key-count "$USERS" \
    "${COMMON[@]}" --watch-pid "titan-quotad=$QUOTAD_PID" --watch-pid "mariadbd=$MARIADB_PID"

say "every acknowledged update is stored"
$PY - "$T" <<'PY'
import json, os, sys
t = sys.argv[1]
acked = {}
for name in os.listdir(t):
    if name.endswith(".json") and name != "policy.json":
        r = json.load(open(os.path.join(t, name)))
        key = "quota_usage" if r["label"].startswith("quotad") else "dovecot_quota"
        # warm-up requests are answered too; the JSON counts only the measured window
        acked[key] = acked.get(key, 0) + r["replies"]["found"]
print("  acknowledged in the measured windows:", acked)
PY
for table in quota_usage dovecot_quota; do
    printf '  %-14s messages counted: ' "$table"
    mariadb --defaults-file="$MARIADB_DEFAULTS" -N -B "$MARIADB_DATABASE" -e "SELECT SUM(messages) FROM $table"
done
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg);" \
     "$(mariadbd --version | awk '{print $3}'), $(dovecot --version | cut -d' ' -f1), build $(awk -F= '/^CMAKE_BUILD_TYPE/ {print $2}' "$BUILD/CMakeCache.txt")"
