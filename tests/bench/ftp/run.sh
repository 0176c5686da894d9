#!/bin/bash
# FTP login benchmark: ProFTPd 1.3.8 with mod_titan (asking titan-authd) against the
# same ProFTPd with the stock mod_sql + mod_sql_mysql reading the same mailboxes table,
# which is what operators run today. Everything private, on loopback, under a temporary
# directory; stops what it started.
#
# usage: tests/bench/ftp/run.sh [--no-docs] [--users N] [--seconds S] [--threads N]
# env:   TITAN_BIN (build directory; default build/); BENCH_RESULTS_DIR=DIR also writes
#        DIR/ftp/{mod_titan,mod_sql}.json (for tests/bench/all.sh)
# Needs proftpd-core, proftpd-dev (mod_titan is built) and, for the comparison,
# proftpd-mod-mysql (skipped with a note when absent). Writes its results into the
# "FTP logins" section of docs/BENCHMARKS.md unless --no-docs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
FIX=$ROOT/tests/fixtures
. "$FIX/lib.sh"
TITAN_BIN=${TITAN_BIN:-$ROOT/build}
USERS=200 SECONDS_=5 THREADS=8 DOCS=1
while [[ $# -gt 0 ]]; do
    case $1 in
        --no-docs) DOCS=0 ;;
        --users) USERS=$2; shift ;;
        --seconds) SECONDS_=$2; shift ;;
        --threads) THREADS=$2; shift ;;
        *) die "unknown argument $1" ;;
    esac
    shift
done
PY=/usr/bin/python3
PASSWORD=bench-ftp-password

T=$(mktemp -d /tmp/titan-ftpbench.XXXXXX)
chmod 755 "$T"
cleanup() {
    "$FIX/proftpd-down.sh" "$T/titan-ftpd" >/dev/null 2>&1 || true
    [[ -f $T/sql-ftpd/run/proftpd.pid ]] && stop_pidfile "$T/sql-ftpd/run/proftpd.pid" proftpd
    "$FIX/authd-down.sh" "$T/authd" >/dev/null 2>&1 || true
    "$FIX/mariadb-down.sh" "$T/db" >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT

FTP_UID=$(id -u ftp 2>/dev/null || id -u nobody)
FTP_GID=$(getent group nogroup | cut -d: -f3)
"$FIX/mariadb-up.sh" "$T/db" 14306 >/dev/null
. "$T/db/env"
TITAN_BIN=$TITAN_BIN DB_DIR=$T/db METRICS_PORT=19850 HTTP_PORT=19851 FTP=1 CACHE_TTL=1h \
    FTP_HOME="$T/homes/%d/%n" FTP_UID=$FTP_UID FTP_GID=$FTP_GID MAX_IP_FAILURES=0 MAX_USER_FAILURES=0 \
    LOG_LEVEL=warning "$FIX/authd-up.sh" "$T/authd" >/dev/null
. "$T/authd/env"
CTL=("$TITANCTL" --config "$AUTHD_CONFIG")
"${CTL[@]}" db migrate >/dev/null
"${CTL[@]}" domain add bench.test >/dev/null
HASH=$(printf '%s\n' "$PASSWORD" | "${CTL[@]}" password hash SHA512-CRYPT)
mkdir -p "$T/homes/bench.test"
{
    echo "INSERT INTO mailboxes (domain_id, username, local_part, password_hash, ftp, home) VALUES"
    for i in $(seq 1 "$USERS"); do
        sep=","; [[ $i == "$USERS" ]] && sep=";"
        echo "((SELECT id FROM domains WHERE name = 'bench.test'), 'ftp$i@bench.test', 'ftp$i', '$HASH', 1, '/nonexistent')$sep"
        echo "ftp$i@bench.test" >> "$T/users.txt"
        mkdir -p "$T/homes/bench.test/ftp$i"
    done
} > "$T/users.sql"
chown -R "$FTP_UID:$FTP_GID" "$T/homes/bench.test"
mariadb --defaults-file="$MARIADB_DEFAULTS" "$MARIADB_DATABASE" < "$T/users.sql"

# ---- ProFTPd + mod_titan -----------------------------------------------------------
TITAN_BIN=$TITAN_BIN AUTHD_HTTP=127.0.0.1:19851 FTP_PORT=14021 PASV_PORTS="14030 14039" NO_DELAY=1 \
    "$FIX/proftpd-up.sh" "$T/titan-ftpd" >/dev/null
# Warm authd's cache (one lookup per user), as on a server in steady use.
while read -r u; do
    curl -s -o /dev/null -X POST "http://127.0.0.1:19851/ftp/v1/lookup" -d "{\"user\":\"$u\"}"
done < "$T/users.txt"

run_load() {
    "$PY" "$ROOT/tests/bench/ftp/ftp_logins.py" "$1" "$T/users.txt" "$PASSWORD" \
        --threads "$THREADS" --seconds "$SECONDS_" --warmup 1
}
echo "== mod_titan (authd cache warm)"
TITAN_JSON=$(run_load 127.0.0.1:14021)
echo "$TITAN_JSON"

# ---- ProFTPd + mod_sql (mod_sql_mysql), same table, same hashes --------------------
SQL_JSON=""
if [[ -f /usr/lib/proftpd/mod_sql_mysql.so ]]; then
    D=$T/sql-ftpd
    mkdir -p "$D/etc" "$D/run" "$D/log" "$D/modules"
    chmod 755 "$D"
    ln -sf /usr/lib/proftpd/mod_sql.so /usr/lib/proftpd/mod_sql_mysql.so "$D/modules/"
    cat > "$D/etc/proftpd.conf" <<EOF
ServerType standalone
ServerName "mod_sql bench"
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
Port 14022
PassivePorts 14040 14049
PidFile $D/run/proftpd.pid
ScoreboardFile $D/run/proftpd.scoreboard
DelayTable $D/run/proftpd.delay
ControlsEngine off
SystemLog $D/log/proftpd.log
WtmpLog off
UseReverseDNS off
User nobody
Group nogroup
MaxInstances 100
DefaultRoot ~
RequireValidShell off
UseFtpUsers off
AuthPAM off
DelayEngine off
ModulePath $D/modules
LoadModule mod_sql.c
LoadModule mod_sql_mysql.c
SQLEngine on
SQLBackend mysql
SQLConnectInfo $MARIADB_DATABASE@127.0.0.1:14306 $MARIADB_USER ${TITAN_DB_PASSWORD:-titanpw}
SQLAuthenticate users
SQLAuthTypes Crypt
SQLMinID 100
# The stored value is Dovecot's {SHA512-CRYPT}\$6\$...: crypt(3) gets the part after '}'.
SQLUserInfo custom:/titan_user
SQLNamedQuery titan_user SELECT "m.username, SUBSTRING(m.password_hash, LOCATE('}', m.password_hash) + 1), $FTP_UID, $FTP_GID, CONCAT('$T/homes/', d.name, '/', m.local_part), NULL FROM mailboxes m JOIN domains d ON d.id = m.domain_id WHERE m.username = '%U' AND m.ftp = 1 AND m.active = 1 AND d.active = 1"
AuthOrder mod_sql.c mod_auth_unix.c
EOF
    proftpd -t -c "$D/etc/proftpd.conf" > "$D/log/configtest.log" 2>&1 || { cat "$D/log/configtest.log"; exit 1; }
    ( close_extra_fds; exec proftpd -c "$D/etc/proftpd.conf" > "$D/log/stdout" 2>&1 < /dev/null )
    wait_for 10 port_open 127.0.0.1 14022 || die "mod_sql proftpd did not start"
    echo "== mod_sql + mod_sql_mysql"
    SQL_JSON=$(run_load 127.0.0.1:14022)
    echo "$SQL_JSON"
else
    echo "== mod_sql: skipped (apt-get install proftpd-mod-mysql to compare)"
fi
if [[ -n ${BENCH_RESULTS_DIR:-} ]]; then
    mkdir -p "$BENCH_RESULTS_DIR/ftp"
    printf '%s\n' "$TITAN_JSON" > "$BENCH_RESULTS_DIR/ftp/mod_titan.json"
    if [[ -n $SQL_JSON ]]; then printf '%s\n' "$SQL_JSON" > "$BENCH_RESULTS_DIR/ftp/mod_sql.json"; fi
fi

[[ $DOCS == 1 ]] || exit 0
"$PY" - "$ROOT/docs/BENCHMARKS.md" "$TITAN_JSON" "$SQL_JSON" "$USERS" "$THREADS" "$SECONDS_" <<'EOF'
import json, platform, subprocess, sys, time
path, titan, sql, users, threads, seconds = sys.argv[1:7]
rows = [("mod_titan → titan-authd (HTTP, cache warm)", json.loads(titan))]
if sql:
    rows.append(("mod_sql + mod_sql_mysql (one MariaDB connection per session)", json.loads(sql)))
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True,
                     text=True).stdout.strip()
out = ["<!-- ftp:results:begin (generated by tests/bench/ftp/run.sh; edits are overwritten) -->",
       "Run %s on %s, %s cores, %s; %s users, %s client threads, %s s measured after 1 s of warm-up;"
       " load average %s when it ended (other work on the machine lowers both rows alike)."
       % (time.strftime("%Y-%m-%d"), cpu or platform.machine(), subprocess.run(["nproc"], capture_output=True,
          text=True).stdout.strip(), platform.platform(), users, threads, seconds,
          open("/proc/loadavg").read().split()[0]),
       "",
       "| server | logins/s | p50 ms | p90 ms | p99 ms | failures |",
       "|---|---|---|---|---|---|"]
for name, r in rows:
    out.append("| %s | %s | %s | %s | %s | %s |" % (name, r["per_second"], r["p50_ms"], r["p90_ms"], r["p99_ms"],
                                                   r["failures"]))
if not sql:
    out.append("")
    out.append("mod_sql was not measured: proftpd-mod-mysql is not installed.")
out.append("<!-- ftp:results:end -->")
text = open(path).read()
begin = text.find("<!-- ftp:results:begin")
end = text.find("<!-- ftp:results:end -->")
if begin < 0 or end < 0:
    raise SystemExit("docs/BENCHMARKS.md has no ftp:results markers")
text = text[:begin] + "\n".join(out) + text[end + len("<!-- ftp:results:end -->"):]
open(path, "w").write(text)
print("docs/BENCHMARKS.md updated")
EOF
