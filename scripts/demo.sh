#!/bin/bash
# Start the demo stack on this machine (Debian 12, as root): a private MariaDB,
# titan-authd, Dovecot (IMAP 10143, POP3 10110, LMTP) and Postfix (SMTP 10025),
# all on 127.0.0.1, everything under $TITAN_DEMO_DIR (default /tmp/titan-demo).
# Creates domain example.test and mailbox demo@example.test, delivers a welcome
# message through Postfix, and prints how to log in.
#
# usage: scripts/demo.sh          start (or restart) the demo
#        scripts/demo.sh stop     stop it (files are kept; add --purge to delete)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO=${TITAN_DEMO_DIR:-/tmp/titan-demo}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
F=$ROOT/tests/fixtures

stop() {
    for part in postfix dovecot authd mariadb; do
        [[ -d $DEMO/$part ]] && "$F/$part-down.sh" "$DEMO/$part" || true
    done
    if [[ ${1:-} == --purge ]]; then rm -rf "$DEMO"; fi
    echo "demo stopped"
}
if [[ ${1:-} == stop ]]; then shift; stop "$@"; exit 0; fi

"$ROOT/scripts/install-deps.sh"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target titan-authd titanctl

mkdir -p "$DEMO"
chmod 755 "$DEMO"
"$F/mariadb-up.sh" "$DEMO/mariadb"
# Dovecot's fixture creates $DEMO/dovecot/mail (owned by vmail): mail homes go there.
TITAN_BIN=$BUILD_DIR DB_DIR=$DEMO/mariadb HOME_ROOT=$DEMO/dovecot/mail SASL=1 SOCKETMAP=1 \
    "$F/authd-up.sh" "$DEMO/authd"
. "$DEMO/authd/env"
CTL=("$TITANCTL" --config "$AUTHD_CONFIG")
"${CTL[@]}" db migrate
AUTHD_DICT_SOCKET=$AUTHD_DICT_SOCKET NAME=demo "$F/dovecot-up.sh" "$DEMO/dovecot"
. "$DEMO/dovecot/env"
# Postfix: recipients, domains and aliases from authd's socketmap; SMTP AUTH on the
# submission port (10587) checked by authd; delivery over LMTP to Dovecot.
LMTP=$DOVECOT_LMTP SASL=$AUTHD_SASL_SOCKET SOCKETMAP=$AUTHD_SOCKETMAP_SOCKET "$F/postfix-up.sh" "$DEMO/postfix"
. "$DEMO/postfix/env"

"${CTL[@]}" domain list | grep -q '^example.test' || "${CTL[@]}" domain add example.test
if ! "${CTL[@]}" user show demo@example.test > /dev/null 2>&1; then
    echo "demo-password" | "${CTL[@]}" user add demo@example.test --quota 1G
    swaks --server 127.0.0.1 --port 10025 --from welcome@example.org --to demo@example.test \
          --header "Subject: Welcome to Titanicarus" \
          --body "This message came in through Postfix, was delivered over LMTP by Dovecot (userdb from titan-authd) and is read over IMAP with a password checked against MariaDB." \
          > "$DEMO/swaks.log" 2>&1 || { cat "$DEMO/swaks.log"; exit 1; }
    # The demo user sends itself a message with SMTP AUTH, checked by titan-authd.
    swaks --server 127.0.0.1 --port 10587 --auth PLAIN --auth-user demo@example.test \
          --auth-password demo-password --from demo@example.test --to demo@example.test \
          --header "Subject: Sent with SMTP AUTH" \
          --body "Submitted on port 10587; the password was checked by titan-authd (SASL)." \
          > "$DEMO/swaks-auth.log" 2>&1 || { cat "$DEMO/swaks-auth.log"; exit 1; }
fi
# Wait (bounded) until both messages are in the mailbox.
for _ in $(seq 1 50); do
    n=$(curl -s --user 'demo@example.test:demo-password' 'imap://127.0.0.1:10143/INBOX' -X 'EXAMINE INBOX' \
        | awk '/EXISTS/ {print $2}')
    [[ ${n:-0} -ge 2 ]] && break
    sleep 0.2
done
echo "Inbox of demo@example.test, read over IMAP:"
for i in $(seq 1 "${n:-0}"); do
    curl -s --user 'demo@example.test:demo-password' \
         "imap://127.0.0.1:10143/INBOX;MAILINDEX=$i;SECTION=HEADER.FIELDS%20(SUBJECT)" | tr -d '\r' | sed '/^$/d; s/^/  /'
done

cat <<MSG

Titanicarus demo is running (everything under $DEMO, loopback only).

  Mailbox:  demo@example.test   password: demo-password

  Read the inbox over IMAP:
    curl -s --user 'demo@example.test:demo-password' 'imap://127.0.0.1:10143/INBOX;MAILINDEX=1'
  Or over POP3:
    curl -s --user 'demo@example.test:demo-password' 'pop3://127.0.0.1:10110/1'
  Send more mail (port 10025 receives; port 10587 needs SMTP AUTH, checked by titan-authd):
    swaks --server 127.0.0.1 --port 10025 --to demo@example.test
    swaks --server 127.0.0.1 --port 10587 --auth PLAIN --auth-user demo@example.test --auth-password demo-password --to demo@example.test
  Manage users (database settings come from authd's config):
    $TITANCTL --config $AUTHD_CONFIG user add alice@example.test
    $TITANCTL --config $AUTHD_CONFIG user show demo@example.test
  List users through Dovecot:   doveadm -c $DOVECOT_CONF user '*'
  Metrics:                      curl -s http://$AUTHD_METRICS/metrics
  Logs:                         $AUTHD_LOG  $DOVECOT_LOG  $POSTFIX_LOG

  Stop:  $0 stop
MSG
