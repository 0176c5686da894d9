"""titan-authd serving Dovecot 2.4.1 and Postfix 3.10 (the Debian 13 packages, run from
the cached Debian 13 tree): IMAP and POP3 logins through the shipped Lua passdb/userdb
script and authd's HTTP API, the same per-service switches, canonical names, app
passwords and brute-force budget as on 2.3, `doveadm user '*'`, outages seen as
temporary failures, and Postfix 3.10 submission with SMTP AUTH through authd's SASL
front end, delivering over LMTP into Dovecot 2.4.

Skipped, with the reason, only when the Debian 13 tree cannot be built because the
Debian mirror is unreachable."""
import imaplib
import json
import os
import poplib
import re
import socket
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from titanstack import alive, run
from titanstack24 import Stack24

PORTS = {"db": 14406, "http": 19951, "metrics": 19950, "imap": 14443, "pop3": 14410, "smtp": 14425,
         "submission": 14487}
STACK = None
# Per-user limits come from authd's userdb (quota_storage_size, quota_message_count); the
# default is a global setting, since a value inside the quota block would beat the userdb.
QUOTA_CONF = """
mail_plugins {
  quota = yes
}
protocol imap {
  mail_plugins {
    imap_quota = yes
  }
}
quota_storage_size = 10M
quota "User quota" {
  driver = count
}
"""


def setUpModule():
    global STACK
    with tempfile.NamedTemporaryFile("w", prefix="titan-it24-quota-", suffix=".conf", delete=False) as f:
        f.write(QUOTA_CONF)
    try:
        # Two users per page, so `doveadm user '*'` walks several pages of the listing.
        STACK = Stack24(PORTS, cache_ttl="60s", negative_ttl="1s", stale_if_error="1h",
                        authd_env={"MAX_IP_FAILURES": "10", "MAX_USER_FAILURES": "30", "BLOCK_TIME": "10m"},
                        dovecot_env={"AUTH_PAGE": "2", "EXTRA_CONF": f.name}).start()
    finally:
        os.unlink(f.name)
    STACK.ctl("domain", "add", "Example.TEST")
    STACK.add_user("alice@example.test", "alice-pw-1")
    STACK.add_user("bob@example.test", "bob-pw-1")
    STACK.add_user("popper@example.test", "popper-pw", "--imap", "off")
    STACK.add_user("frozen@example.test", "frozen-pw")
    STACK.ctl("user", "disable", "frozen@example.test", "--reason", "Unpaid invoice")
    STACK.add_user("victim@example.test", "victim-pw")
    STACK.add_user("sender@example.test", "sender-pw")
    STACK.add_user("nosmtp@example.test", "nosmtp-pw", "--smtp", "off")
    STACK.add_user("limited@example.test", "limited-pw", "--quota", "1M", "--quota-messages", "50")
    # For the outage test, created long before it (a fresh change-log entry drops the
    # user from authd's cache once more when the poller sees it).
    STACK.add_user("cached@example.test", "cached-pw")
    STACK.add_user("uncached@example.test", "uncached-pw")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class SourceIMAP(imaplib.IMAP4):
    """IMAP from a chosen loopback source address (127.0.0.0/8 is all ours)."""

    def __init__(self, source):
        self._source = source
        super().__init__("127.0.0.1", PORTS["imap"], timeout=20)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self._source, 0))


def imap_login(user, password, source="127.0.0.1"):
    conn = SourceIMAP(source)
    try:
        conn.login(user, password)
    except Exception:
        conn.shutdown()
        raise
    return conn


def imap_result(user, password, source="127.0.0.1"):
    """'OK' or the server's text for a failed login."""
    try:
        conn = imap_login(user, password, source)
    except imaplib.IMAP4.error as e:
        return str(e)
    conn.logout()
    return "OK"


def pop3_result(user, password):
    conn = poplib.POP3("127.0.0.1", PORTS["pop3"], timeout=20)
    try:
        conn.user(user)
        conn.pass_(password)
        conn.quit()
        return "OK"
    except poplib.error_proto as e:
        conn.close()
        return str(e)


def http(path, body=None, method=None, key=None):
    """(status, decoded JSON or None) from authd's HTTP API, with the stack's key unless
    another one ("" for none) is given."""
    url = "http://127.0.0.1:%d%s" % (PORTS["http"], path)
    req = urllib.request.Request(url, data=body, method=method)
    key = STACK.http_key if key is None else key
    if key:
        req.add_header("Authorization", "Bearer " + key)
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read().decode() or "null")
    except urllib.error.HTTPError as e:
        data = e.read().decode(errors="replace")
        try:
            return e.code, json.loads(data)
        except ValueError:
            return e.code, None


def metric(series):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % PORTS["metrics"], timeout=5) as r:
        m = re.search(r"^%s (\S+)$" % re.escape(series), r.read().decode(), re.M)
    return float(m.group(1)) if m else 0.0


def swaks(*args):
    return run(["swaks", "--server", "127.0.0.1", "--timeout", "20"] + list(args), check=False)


def auth_reply(p):
    """The server's final answer to AUTH in a swaks transcript."""
    for line in p.stdout.splitlines():
        m = re.match(r"^<[-~*]{1,3}\s+((?:235|4\d\d|5\d\d)[ -].*)$", line.strip())
        if m:
            return m.group(1)
    return "no reply: " + p.stdout[-500:] + p.stderr[-500:]


def inbox_subjects(user, password):
    conn = imap_login(user, password)
    try:
        conn.select("INBOX")
        typ, data = conn.search(None, "ALL")
        subjects = []
        for num in data[0].split():
            typ, msg = conn.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            subjects.append(msg[0][1].decode(errors="replace").strip())
        return subjects
    finally:
        conn.logout()


class LoginTests(unittest.TestCase):
    def test_versions_are_the_debian_13_packages(self):
        self.assertTrue(STACK.env["DOVECOT_VERSION"].startswith("2.4."), STACK.env["DOVECOT_VERSION"])
        self.assertTrue(STACK.env["POSTFIX_VERSION"].startswith("3.10."), STACK.env["POSTFIX_VERSION"])

    def test_imap_and_pop3_login(self):
        conn = imap_login("alice@example.test", "alice-pw-1")
        typ, _ = conn.select("INBOX")
        self.assertEqual(typ, "OK")
        conn.logout()
        self.assertEqual(pop3_result("alice@example.test", "alice-pw-1"), "OK")

    def test_wrong_password_and_unknown_user_fail_alike(self):
        self.assertIn("AUTHENTICATIONFAILED", imap_result("bob@example.test", "wrong"))
        self.assertIn("[AUTH]", pop3_result("bob@example.test", "wrong"))
        self.assertIn("AUTHENTICATIONFAILED", imap_result("nobody@example.test", "whatever"))
        self.assertIn("AUTHENTICATIONFAILED", imap_result("no-domain-at-all", "whatever"))

    def test_imap_disabled_user_fails_imap_but_logs_in_to_pop3(self):
        self.assertIn("IMAP access is disabled", imap_result("popper@example.test", "popper-pw"))
        self.assertEqual(pop3_result("popper@example.test", "popper-pw"), "OK")
        # The reason is only given for the right password.
        self.assertIn("AUTHENTICATIONFAILED", imap_result("popper@example.test", "wrong"))

    def test_disabled_account_is_refused_with_reason(self):
        self.assertIn("Unpaid invoice", imap_result("frozen@example.test", "frozen-pw"))
        self.assertIn("Unpaid invoice", pop3_result("frozen@example.test", "frozen-pw"))

    def test_mixed_case_login_lands_in_the_canonical_maildir(self):
        conn = imap_login("Bob@Example.TEST", "bob-pw-1")
        typ, _ = conn.append("INBOX", None, None, b"From: a@example.org\r\nSubject: case-24\r\n\r\nbody\r\n")
        self.assertEqual(typ, "OK")
        conn.logout()
        self.assertIn("Subject: case-24", inbox_subjects("bob@example.test", "bob-pw-1"))
        homes = os.listdir(os.path.join(STACK.mail_root, "example.test"))
        self.assertIn("bob", homes)
        self.assertNotIn("Bob", homes)

    def test_app_password_is_scoped_to_its_service(self):
        out = STACK.ctl("app-password", "add", "alice@example.test", "mail-app", "--services", "imap").stdout
        secret = re.search(r"\): (\S+)", out).group(1)
        self.assertEqual(imap_result("alice@example.test", secret), "OK")
        self.assertIn("[AUTH]", pop3_result("alice@example.test", secret))

    def test_password_change_takes_effect_at_once(self):
        STACK.add_user("changer@example.test", "old-password")
        self.assertEqual(imap_result("changer@example.test", "old-password"), "OK")
        STACK.ctl("user", "passwd", "changer@example.test", password="new-password")
        self.assertEqual(imap_result("changer@example.test", "new-password"), "OK")
        self.assertIn("AUTHENTICATIONFAILED", imap_result("changer@example.test", "old-password"))

    def test_ten_failures_block_the_address_even_with_the_right_password(self):
        attacker = "127.0.0.2"
        self.assertEqual(imap_result("victim@example.test", "victim-pw", attacker), "OK")
        for i in range(10):
            self.assertIn("AUTHENTICATIONFAILED", imap_result("victim@example.test", "guess-%d" % i, attacker))
        refused = imap_result("victim@example.test", "victim-pw", attacker)
        self.assertIn("too many failed", refused.lower())
        # The budget is per address: another one logs in.
        self.assertEqual(imap_result("victim@example.test", "victim-pw", "127.0.0.3"), "OK")
        self.assertGreaterEqual(
            metric('authd_dovecot24_requests_total{kind="verify",result="throttled"}'), 1)

    def test_no_password_hash_reaches_dovecot(self):
        self.assertEqual(imap_result("alice@example.test", "alice-pw-1"), "OK")
        status, body = http("/dovecot/passdb?user=alice@example.test&protocol=imap")
        self.assertEqual((status, body), (200, {"user": "alice@example.test"}))
        self.assertNotIn("$6$", STACK.dovecot_log())
        # doveadm auth lookup works without a hash (a pure lookup).
        out = STACK.doveadm("auth", "lookup", "Alice@Example.test").stdout
        self.assertIn("alice@example.test", out)


class DoveadmTests(unittest.TestCase):
    def test_doveadm_user_star_lists_every_user_across_pages(self):
        out = STACK.doveadm("user", "*").stdout.split()
        users = ["alice@example.test", "bob@example.test", "cached@example.test", "frozen@example.test",
                 "limited@example.test", "nosmtp@example.test", "popper@example.test", "sender@example.test", "uncached@example.test",
                 "victim@example.test"]
        for user in users:
            self.assertIn(user, out)
        self.assertEqual(len(out), len(set(out)))  # no page boundary repeats a user

    def test_doveadm_user_shows_userdb_fields(self):
        out = STACK.doveadm("user", "BOB@example.test").stdout
        self.assertIn("user\tbob@example.test", out)
        self.assertIn(STACK.in_tree(os.path.join(STACK.mail_root, "example.test", "bob")), out)
        self.assertRegex(out, r"uid\t\d+")

    def test_quota_limits_come_from_the_userdb(self):
        conn = imap_login("limited@example.test", "limited-pw")
        typ, data = conn.getquotaroot("INBOX")
        conn.logout()
        self.assertEqual(typ, "OK")
        self.assertIn(b'"User quota" (STORAGE 0 1024 MESSAGE 0 50)', data[1])
        conn = imap_login("bob@example.test", "bob-pw-1")
        typ, data = conn.getquotaroot("INBOX")
        conn.logout()
        self.assertRegex(data[1][0].decode(), r'"User quota" \(STORAGE \d+ 10240\)')  # the global default

    def test_doveadm_user_unknown(self):
        p = STACK.doveadm("user", "nobody@example.test", check=False)
        self.assertEqual(p.returncode, 67, p.stdout + p.stderr)  # EX_NOUSER


class HttpApiTests(unittest.TestCase):
    """authd's Dovecot 2.4 endpoints with hostile or broken input: clear errors, no crash."""

    def test_malformed_requests_get_clear_errors(self):
        self.assertEqual(http("/dovecot/verify", body=b"user=a&password=%zz&protocol=imap")[0], 400)
        self.assertEqual(http("/dovecot/verify", body=b"user=a&password=b")[0], 400)  # no protocol
        self.assertEqual(http("/dovecot/verify", body=b'{"user":1}')[0], 400)
        self.assertEqual(http("/dovecot/verify")[0], 405)
        self.assertEqual(http("/dovecot/userdb")[0], 400)
        self.assertEqual(http("/dovecot/users?limit=0")[0], 400)
        self.assertEqual(http("/dovecot/users?limit=99999")[0], 400)
        self.assertEqual(http("/dovecot/nothing")[0], 404)
        # Over the 64 KiB body bound: refused, not read.
        self.assertNotEqual(http("/dovecot/verify", body=b"user=a&password=" + b"x" * (70 * 1024))[0], 200)
        # A password longer than Dovecot forwards is a plain failure.
        status, body = http("/dovecot/verify", body=b"user=alice%40example.test&protocol=imap&password="
                            + b"x" * 5000)
        self.assertEqual((status, body), (200, {"result": "fail"}))
        self.assertTrue(alive(STACK.authd_pid()))

    def test_requests_without_the_key_are_refused(self):
        for path in ("/dovecot/userdb?user=alice@example.test", "/dovecot/users",
                     "/dovecot/passdb?user=alice@example.test&protocol=imap"):
            self.assertEqual(http(path, key="")[0], 401, path)
            self.assertEqual(http(path, key=STACK.http_key + "x")[0], 401, path)
            self.assertEqual(http(path)[0], 200, path)
        body = b"user=alice%40example.test&protocol=imap&password=alice-pw-1"
        self.assertEqual(http("/dovecot/verify", body=body, key=""), (401, {"error": "unauthorized"}))
        self.assertEqual(http("/dovecot/verify", body=body), (200, {"result": "ok", "user": "alice@example.test"}))

    def test_user_listing_pages_in_order(self):
        seen, after = [], ""
        for _ in range(20):
            status, body = http("/dovecot/users?limit=3&after=" + urllib.parse.quote(after))
            self.assertEqual(status, 200)
            seen += body["users"]
            if not body["more"]:
                break
            after = body["users"][-1]
        self.assertEqual(seen, sorted(seen))
        self.assertIn("alice@example.test", seen)
        self.assertEqual(len(seen), len(set(seen)))


class PostfixTests(unittest.TestCase):
    """Postfix 3.10: SMTP AUTH through authd's SASL front end (auth-client protocol, which
    Dovecot 2.4 itself answers with VERSION 1 3), recipients through authd's socketmap,
    delivery over LMTP into Dovecot 2.4 (userdb through the Lua script)."""

    def submit(self, user, password, to, subject):
        return swaks("--port", str(PORTS["submission"]), "--auth", "PLAIN", "--auth-user", user,
                     "--auth-password", password, "--from", user, "--to", to, "--header", "Subject: " + subject)

    def assert_delivered(self, user, password, subject):
        self.assertTrue(STACK.wait_for(lambda: ("Subject: " + subject) in inbox_subjects(user, password),
                                       timeout=20), "%s never reached %s" % (subject, user))

    def test_submission_with_sasl_delivers_into_dovecot_24(self):
        p = self.submit("Sender@Example.TEST", "sender-pw", "alice@example.test", "pf310-submission")
        self.assertTrue(auth_reply(p).startswith("235 "), p.stdout[-2000:])
        self.assertEqual(p.returncode, 0, p.stdout[-2000:])
        self.assert_delivered("alice@example.test", "alice-pw-1", "pf310-submission")
        with open(STACK.env["POSTFIX_LOG"], errors="replace") as f:
            log = f.read()
        self.assertIn("sasl_username=sender@example.test", log)

    def test_submission_refuses_wrong_password_and_disabled_smtp(self):
        reply = auth_reply(self.submit("sender@example.test", "wrong", "alice@example.test", "x"))
        self.assertTrue(reply.startswith("535 5.7.8"), reply)
        reply = auth_reply(self.submit("nosmtp@example.test", "nosmtp-pw", "alice@example.test", "x"))
        self.assertTrue(reply.startswith("535 5.7.8"), reply)
        reply = auth_reply(self.submit("frozen@example.test", "frozen-pw", "alice@example.test", "x"))
        self.assertTrue(reply.startswith("535 5.7.8"), reply)
        self.assertIn("unpaid invoice", reply.lower())

    def test_unknown_recipient_is_refused_through_the_socketmap(self):
        p = swaks("--port", str(PORTS["smtp"]), "--from", "someone@example.org", "--to", "nobody@example.test",
                  "--quit-after", "RCPT")
        self.assertIn("550 5.1.1", p.stdout, p.stdout[-2000:])
        p = swaks("--port", str(PORTS["smtp"]), "--from", "someone@example.org", "--to", "Bob@Example.Test",
                  "--header", "Subject: pf310-plain")
        self.assertEqual(p.returncode, 0, p.stdout[-2000:])
        self.assert_delivered("bob@example.test", "bob-pw-1", "pf310-plain")


class ZOutageTests(unittest.TestCase):
    """Runs last (unittest orders classes by name): stops and restarts MariaDB and authd."""

    def test_database_outage_and_authd_outage(self):
        self.assertEqual(imap_result("cached@example.test", "cached-pw"), "OK")
        STACK.db_down()
        try:
            # Known to authd's cache: still logs in; a wrong password is still wrong.
            self.assertEqual(imap_result("cached@example.test", "cached-pw"), "OK")
            self.assertEqual(pop3_result("cached@example.test", "cached-pw"), "OK")
            self.assertIn("AUTHENTICATIONFAILED", imap_result("cached@example.test", "nope"))
            # Unknown to the cache: a temporary failure, never "wrong password".
            err = imap_result("uncached@example.test", "uncached-pw")
            self.assertIn("UNAVAILABLE", err)
            self.assertNotIn("AUTHENTICATIONFAILED", err)
            self.assertIn("[SYS/TEMP]", pop3_result("uncached@example.test", "uncached-pw"))
            # The user listing fails loudly instead of coming back short.
            self.assertNotEqual(STACK.doveadm("user", "*", check=False).returncode, 0)
            self.assertTrue(alive(STACK.authd_pid()))
        finally:
            STACK.db_up()
        # Back: the same user logs in without restarting authd.
        self.assertTrue(STACK.wait_for(lambda: imap_result("uncached@example.test", "uncached-pw") == "OK",
                                       interval=0.5))

        # authd itself down: Dovecot answers with a temporary failure too.
        STACK.authd_down()
        try:
            err = imap_result("alice@example.test", "alice-pw-1")
            self.assertIn("UNAVAILABLE", err)
            self.assertNotIn("AUTHENTICATIONFAILED", err)
        finally:
            STACK.authd_up()
        self.assertTrue(STACK.wait_for(lambda: imap_result("alice@example.test", "alice-pw-1") == "OK",
                                       interval=0.5))


if __name__ == "__main__":
    unittest.main()
