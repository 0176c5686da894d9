#!/bin/bash
# titanctl's help needs no configuration file: every help form answers on stdout with
# exit 0 where /etc/titan/authd.yaml does not exist, and names the command groups.
# usage: help_test.sh PATH/TO/titanctl
set -euo pipefail
CTL=${1:?usage: help_test.sh PATH/TO/titanctl}
missing=/nonexistent/authd.yaml
check() {  # check EXPECTED-SUBSTRING ARGS...
    local want=$1; shift
    local out
    out=$("$CTL" --config "$missing" "$@") || { echo "titanctl $* failed (exit $?)" >&2; exit 1; }
    grep -qF -- "$want" <<< "$out" || { echo "titanctl $*: '$want' not in:" >&2; echo "$out" >&2; exit 1; }
}
check "titanctl quota help" --help
check "titanctl replication help" help
for group in quota ftp policy replication alias; do
    check "$group" "$group" help
done
check "policy" policy --help
# A real command still needs the configuration, and says which file is missing.
if err=$("$CTL" --config "$missing" user list 2>&1); then
    echo "user list without a configuration succeeded" >&2; exit 1
fi
grep -qF "$missing" <<< "$err" || { echo "the error does not name the file: $err" >&2; exit 1; }
echo "ok"
