#!/bin/bash
# Every Titanicarus benchmark in one command, one table (as root, Debian 12 with the peer
# packages: dovecot-core, dovecot-mysql, postgrey, postfwd; --slow also proftpd-core,
# proftpd-dev, proftpd-mod-mysql):
#
#   tests/bench/all.sh [--duration S] [--slow] [--no-million] [--no-docs] [--only NAMES]
#
# Builds a Release tree once (BUILD_DIR, or TITAN_BIN; default build-bench/), then runs,
# one after the other (never two at once), each with its own private servers:
#   run.sh --million  titan-authd dict lookups (cached, per request, uncached) vs echo,
#                     and authd's peak RSS with 10,000 and with 1,000,000 cached users
#   socketmap.sh      titan-authd socketmap lookups (cached, uncached) vs echo
#   sasl.sh           titan-authd SASL vs Dovecot's auth service vs the raw hash rate
#   policy_run.sh     titan-policyd vs postgrey (greylisting) and postfwd2 (rules)
#   quotad.sh         titan-quotad vs Dovecot's dict-sql server (quota updates)
# and with --slow also tests/bench/ftp/run.sh (mod_titan vs mod_sql) and
# replicator/bench/replication_lag.py (titan-replicator vs Dovecot's replicator), which
# take several minutes. --only takes a comma list of run,socketmap,sasl,policy,quotad,
# ftp,replication. --duration (default 5) is each measured window; --no-million skips
# the 1,000,000-user memory run (1-3 minutes).
#
# Then prints one table (ours, peer, ratio, fraction of the ceiling: the echo server of
# the same protocol, or for SASL the raw SHA512-CRYPT rate) and each daemon's VmHWM
# (peak RSS) under load against the 64 MiB target, and rewrites the bench:summary
# section of docs/BENCHMARKS.md with machine, versions, date and load average (each
# script also rewrites its own results section, except with --no-docs). Each script's
# full output is kept in the results directory it prints (BENCH_KEEP_RESULTS=0 removes
# it). Ratios measured in one run hold better than absolute rates on a shared machine.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CMDLINE="tests/bench/all.sh${*:+ $*}"
BUILD=${BUILD_DIR:-${TITAN_BIN:-$ROOT/build-bench}}
DURATION=5
SLOW=0
MILLION=1
DOCS=1
ONLY=run,socketmap,sasl,policy,quotad
while (( $# )); do
    case $1 in
        --duration) DURATION=$2; shift 2 ;;
        --slow) SLOW=1; shift ;;
        --no-million) MILLION=0; shift ;;
        --no-docs) DOCS=0; shift ;;
        --only) ONLY=$2; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "all.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
(( SLOW )) && [[ $ONLY == run,socketmap,sasl,policy,quotad ]] && ONLY=$ONLY,ftp,replication
[[ $DURATION =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "all.sh: --duration wants seconds" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "all.sh: run as root (the fixtures need it)" >&2; exit 2; }
wants() { [[ ",$ONLY," == *",$1,"* ]]; }
PY=/usr/bin/python3
t_start=$(date +%s)
export LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
R=$(mktemp -d /tmp/titan-bench-all.XXXXXX)
chmod 755 "$R"
mkdir -p "$R/logs"
export BENCH_RESULTS_DIR=$R
echo "== results and logs in $R"

echo "== building (Release) in $BUILD"
mkdir -p "$BUILD"
if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release > "$R/logs/build.log" 2>&1 &&
       cmake --build "$BUILD" -j"$(nproc)" --target titan-authd titanctl titan-bench titan-policyd titan-quotad \
           >> "$R/logs/build.log" 2>&1; }; then
    tail -30 "$R/logs/build.log"
    echo "all.sh: build failed (log: $R/logs/build.log)" >&2
    exit 1
fi
if wants replication; then cmake --build "$BUILD" -j"$(nproc)" --target titan-replicator >> "$R/logs/build.log" 2>&1; fi
# mod_titan exists only when proftpd-dev is installed; ftp/run.sh says so if it is missing.
if wants ftp; then cmake --build "$BUILD" -j"$(nproc)" --target mod_titan >> "$R/logs/build.log" 2>&1; fi
t_built=$(date +%s)
export BUILD_DIR=$BUILD TITAN_BIN=$BUILD

STATUS=()
step() {  # step NAME COMMAND...: run one benchmark, its output into logs/NAME.log
    local name=$1 t0 rc
    shift
    t0=$(date +%s)
    echo "== $name: $*"
    "$@" > "$R/logs/$name.log" 2>&1
    rc=$?
    STATUS+=("$(printf '%s\t%s\t%s\t%s' "$name" "$rc" "$(( $(date +%s) - t0 ))" "$(cut -d' ' -f1 /proc/loadavg)")")
    if (( rc != 0 )); then
        echo "   FAILED (exit $rc); last lines of $R/logs/$name.log:"
        tail -8 "$R/logs/$name.log" | sed 's/^/   | /'
    else
        echo "   done in $(( $(date +%s) - t0 )) s"
    fi
}
NODOCS=()
(( DOCS )) || NODOCS=(--no-docs)
MILLION_ARG=()
(( MILLION )) && MILLION_ARG=(--million)
wants run && step run "$ROOT/tests/bench/run.sh" --duration "$DURATION" "${MILLION_ARG[@]}" "${NODOCS[@]}"
wants socketmap && step socketmap "$ROOT/tests/bench/socketmap.sh" --duration "$DURATION"
wants sasl && step sasl "$ROOT/tests/bench/sasl.sh" --duration "$DURATION" "${NODOCS[@]}"
wants policy && step policy "$ROOT/tests/bench/policy_run.sh" --duration "$DURATION"
wants quotad && step quotad "$ROOT/tests/bench/quotad.sh" --duration "$DURATION"
wants ftp && step ftp "$ROOT/tests/bench/ftp/run.sh" --seconds "$DURATION" "${NODOCS[@]}"
wants replication && step replication "$ROOT/replicator/bench/replication_lag.py" "${NODOCS[@]}"

# ---- one table --------------------------------------------------------------------------
export R DOCS ROOT CMDLINE DURATION
export STATUS_LINES=$(printf '%s\n' "${STATUS[@]}")
export LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
export RUN_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
export RUN_SECONDS=$(( $(date +%s) - t_built ))
export BUILD_SECONDS=$(( t_built - t_start ))
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]]; then COMMIT="$COMMIT (with uncommitted changes)"; fi
export COMMIT
export CPU_MODEL=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
export CPU_COUNT=$(nproc)
export MEM_TOTAL=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
export KERNEL=$(uname -r)
export OS_NAME=$(. /etc/os-release && echo "$PRETTY_NAME")
export VIRT=$(systemd-detect-virt 2>/dev/null || lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -n 1)
ver() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo "not installed"; }
export VERSIONS="GCC $(gcc -dumpfullversion 2>/dev/null || echo ?), libevent $(pkg-config --modversion libevent 2>/dev/null || echo ?), MariaDB $(ver mariadb-server), Dovecot $(ver dovecot-core), postgrey $(ver postgrey), postfwd $(ver postfwd), ProFTPd $(ver proftpd-core)"
$PY - <<'PY'
import json, os, re, statistics

E = os.environ
R = E["R"]

def runs(script):
    """label -> [results]; a trailing .N (round) is dropped from the label."""
    out = {}
    d = os.path.join(R, script)
    if not os.path.isdir(d):
        return out
    for name in sorted(os.listdir(d)):
        if not name.endswith(".json"):
            continue
        try:
            data = json.load(open(os.path.join(d, name)))
        except ValueError:
            continue
        label = data.get("label") if isinstance(data, dict) else None
        label = label or name[:-5]
        if re.search(r"\.\d+$", label) and script in ("sasl", "quotad"):
            label = label.rsplit(".", 1)[0]
        out.setdefault(label, []).append(data)
    return out

def med(rs, key="rate"):
    v = [r[key] for r in rs or [] if isinstance(r, dict) and r.get(key) is not None]
    return statistics.median(v) if v else None

def errs(rs):
    return sum(r.get("errors_total", 0) for r in rs or [] if isinstance(r, dict))

run, smap, sasl, quota, ftp = runs("run"), runs("socketmap"), runs("sasl"), runs("quotad"), runs("ftp")
policy = runs("policy")
def pol(name):  # the policy measurement with the most connections
    cands = [(int(k.rsplit(".", 1)[1]), v) for k, v in policy.items() if k.startswith(name + ".")]
    return max(cands, key=lambda c: c[0])[1] if cands else None

rows = []  # (what, ours, peer name, peer, ceiling name, ceiling, errors, higher is better)
def row(what, ours, peer_name, peer, ceil_name, ceil, errors, unit="/s"):
    rows.append((what, ours, peer_name, peer, ceil_name, ceil, errors, unit))

row("authd dict lookups, cached, persistent", med(run.get("cached-persistent")), "", None,
    "echo", med(run.get("echo-persistent")), errs(run.get("cached-persistent")))
row("authd dict lookups, cached, connection per lookup", med(run.get("cached-per-request")), "", None,
    "echo", med(run.get("echo-per-request")), errs(run.get("cached-per-request")))
row("authd dict lookups, uncached (MariaDB per lookup)", med(run.get("uncached")), "", None,
    "echo", med(run.get("echo-persistent")), errs(run.get("uncached")))
row("authd socketmap lookups, cached", med(smap.get("cached")), "", None, "echo", med(smap.get("echo")),
    errs(smap.get("cached")))
row("authd socketmap lookups, uncached mailboxes", med(smap.get("uncached-mbx")), "", None, "echo",
    med(smap.get("echo")), errs(smap.get("uncached-mbx")))
row("authd SASL PLAIN {SHA512-CRYPT}, persistent", med(sasl.get("authd")), "Dovecot auth (sql)", med(sasl.get("dovecot")),
    "raw hash rate", med(sasl.get("hash-rate")), errs(sasl.get("authd")) + errs(sasl.get("dovecot")))
row("authd SASL PLAIN {SHA512-CRYPT}, connection per login", med(sasl.get("authd-per-request")), "Dovecot auth (sql)",
    med(sasl.get("dovecot-per-request")), "raw hash rate", med(sasl.get("hash-rate")),
    errs(sasl.get("authd-per-request")) + errs(sasl.get("dovecot-per-request")))
row("policyd greylisting (pass cache)", med(pol("greylist.titan-policyd")), "postgrey", med(pol("greylist.postgrey")),
    "echo", med(pol("ceiling.echo")), errs(pol("greylist.titan-policyd")) + errs(pol("greylist.postgrey")))
row("policyd deny list + rate limit", med(pol("rules.titan-policyd")), "postfwd2", med(pol("rules.postfwd2")),
    "echo", med(pol("ceiling.echo")), errs(pol("rules.titan-policyd")) + errs(pol("rules.postfwd2")))
row("quotad quota updates, persistent", med(quota.get("quotad")), "Dovecot dict-sql", med(quota.get("dovecot-dict")),
    "echo", med(quota.get("echo")), errs(quota.get("quotad")) + errs(quota.get("dovecot-dict")))
row("quotad quota updates, connection per update", med(quota.get("quotad-per-request")), "Dovecot dict-sql",
    med(quota.get("dovecot-dict-per-request")), "", None,
    errs(quota.get("quotad-per-request")) + errs(quota.get("dovecot-dict-per-request")))
row("quotad RCPT quota checks (policy)", med(quota.get("policy")), "", None, "", None, errs(quota.get("policy")))
if ftp:
    row("FTP logins, mod_titan → authd", med(ftp.get("mod_titan"), "per_second"), "mod_sql",
        med(ftp.get("mod_sql"), "per_second"), "", None,
        sum(r.get("failures", 0) for r in (ftp.get("mod_titan") or []) + (ftp.get("mod_sql") or [])))
lag = {}
try:
    for m in json.load(open(os.path.join(R, "replication", "modes.json"))):
        lag[m["mode"]] = m
except (OSError, ValueError):
    pass
if lag:
    for mode in ("titan-sync", "titan-async"):
        if mode in lag and "dovecot" in lag:
            row("replication lag p50, %s (lower is better)" % mode, lag[mode]["lag_p50_s"] * 1000, "Dovecot replicator",
                lag["dovecot"]["lag_p50_s"] * 1000, "", None,
                lag[mode]["missing"] + lag[mode]["failed"] + lag["dovecot"]["missing"] + lag["dovecot"]["failed"], " ms")

def num(v, unit="/s"):
    if v is None:
        return "-"
    return ("{:,.0f}".format(v) if v >= 100 else "{:,.1f}".format(v)) + (" ms" if unit == " ms" else "")

md = ["| what | ours | peer | ratio | of ceiling | errors |", "|---|---:|---:|---:|---:|---:|"]
txt = ["%-52s %10s %10s %7s %10s %6s" % ("what", "ours", "peer", "ratio", "of ceiling", "errors")]
for what, ours, peer_name, peer, ceil_name, ceil, errors, unit in rows:
    if ours is None and peer is None:
        continue
    if unit == " ms":
        ratio = "%.2f×" % (peer / ours) if ours and peer else "-"  # how many times faster
    else:
        ratio = "%.2f×" % (ours / peer) if ours and peer else "-"
    frac = "%.0f %% of %s" % (100.0 * ours / ceil, ceil_name) if ours and ceil else "-"
    peer_txt = "%s (%s)" % (num(peer, unit), peer_name) if peer is not None else "-"
    md.append("| %s | %s | %s | %s | %s | %d |" % (what, num(ours, unit), peer_txt, ratio, frac, errors))
    txt.append("%-52s %10s %10s %7s %10s %6d" % (what[:52], num(ours, unit), num(peer, unit), ratio,
                                                  frac.split(" of ")[0], errors))

# Peak RSS under load.
mem_md = ["| daemon | under | VmHWM (peak RSS) | target ≤ 64 MiB |", "|---|---|---:|---|"]
mem_txt = []
for script in ("run", "socketmap", "sasl", "policy", "quotad"):
    try:
        lines = open(os.path.join(R, script, "rss.txt")).read().splitlines()
    except OSError:
        continue
    for line in lines:
        parts = line.split("\t")
        if len(parts) != 3 or not parts[2].strip().isdigit():
            continue
        daemon, under, kib = parts[0], parts[1], int(parts[2])
        ours = daemon.startswith("titan-")
        verdict = ("met" if kib <= 64 * 1024 else "**over**") if ours else "(peer)"
        mem_md.append("| %s | %s | %.1f MiB | %s |" % (daemon, under, kib / 1024.0, verdict))
        mem_txt.append("%-14s %-44s %8.1f MiB  %s" % (daemon, under[:44], kib / 1024.0, verdict.replace("*", "")))

status = []
for line in E["STATUS_LINES"].splitlines():
    if not line.strip():
        continue
    name, rc, secs, load = line.split("\t")
    status.append("%s %s (%s s, load %s)" % (name, "ok" if rc == "0" else "FAILED exit " + rc, secs, load))

print("\n" + "\n".join(txt))
print("\n" + "\n".join(mem_txt))
print("\nscripts: " + "; ".join(status))

if E["DOCS"] != "1":
    raise SystemExit(0)
head = [
    "* Machine: %s, %s CPUs (%s), %s RAM, kernel %s, %s." % (
        E["CPU_MODEL"], E["CPU_COUNT"], E["VIRT"] or "bare metal", E["MEM_TOTAL"], E["KERNEL"], E["OS_NAME"]),
    "* Versions: Titanicarus at commit %s (Release); %s." % (E["COMMIT"], E["VERSIONS"]),
    "* Run: `%s` on %s, %s s measured per scenario; load average %s at the start, %s at the end; build %s s, "
    "benchmarks %s s. Scripts: %s." % (E["CMDLINE"], E["RUN_DATE"], E["DURATION"], E["LOADAVG_START"],
                                       E["LOADAVG_END"], E["BUILD_SECONDS"], E["RUN_SECONDS"], "; ".join(status)),
]
section = "\n".join(["<!-- bench:summary:begin (generated by tests/bench/all.sh; edits are overwritten) -->", "",
                     *head, "", *md, "", *mem_md, "", "<!-- bench:summary:end -->"])
path = os.path.join(E["ROOT"], "docs", "BENCHMARKS.md")
doc = open(path).read()
new, n = re.subn(r"<!-- bench:summary:begin.*?<!-- bench:summary:end -->", lambda _: section, doc, flags=re.S)
if n != 1:
    raise SystemExit("docs/BENCHMARKS.md: bench:summary markers not found")
open(path, "w").write(new)
print("\nsummary written to docs/BENCHMARKS.md")
PY
echo "== all done in $(( $(date +%s) - t_start )) s; results and logs in $R"
if [[ ${BENCH_KEEP_RESULTS:-1} == 0 ]]; then rm -rf "$R"; fi
