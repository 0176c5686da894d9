"""Postfix SMTP AUTH through titan-authd (smtpd_sasl_type = dovecot): a real Postfix
submission listener asks authd's SASL socket, authd checks the passwords in a real
MariaDB, and swaks plays the mail client. PLAIN and LOGIN with right and wrong
passwords, the canonical user name, accounts or the smtp service disabled, app
passwords and their scope, per-user throttling, and a MariaDB outage: a user authd
has never seen gets 454 (try again later), never 535, while a cached user still logs
in. No Dovecot is involved: authd answers Postfix itself."""
import os
import re
import unicodedata
import subprocess
import time
import unittest
import urllib.request

import titanstack
from titanstack import FIXTURES, alive, read_env, run

# Ports of this module (loopback only).
DB_PORT = 14006
SMTP_PORT = 14025
SUBMISSION_PORT = 14587
METRICS_PORT = 19650

# Short enough to keep the module fast, long enough to measure.
FAILURE_DELAY = 0.5

STACK = None


class SaslStack(titanstack.Stack):
    """MariaDB, titan-authd with a SASL listener, and Postfix whose submission service
    authenticates through it. Dovecot is not started."""

    def start(self):
        try:
            self.db_up()
            self.authd_up()
            self.ctl("db", "migrate")
            self.postfix_up()
        except Exception:
            self.stop()
            raise
        return self

    def db_up(self):
        run([os.path.join(FIXTURES, "mariadb-up.sh"), self.db_dir, str(DB_PORT)])
        self.env.update(read_env(os.path.join(self.db_dir, "env")))

    def authd_up(self):
        # The fixture writes the configuration and starts authd; the SASL listener is
        # added to that configuration and authd restarted with it (listeners are not
        # reloadable).
        self.authd_env.update({"METRICS_PORT": str(METRICS_PORT), "MAX_IP_FAILURES": "1000",
                               "MAX_USER_FAILURES": "3"})
        super().authd_up()
        run([os.path.join(FIXTURES, "authd-down.sh"), self.authd_dir])
        self.sasl_socket = os.path.join(self.authd_dir, "run", "authd-sasl.sock")
        with open(self.env["AUTHD_CONFIG"], "a") as f:
            f.write("sasl:\n"
                    "  listen:\n"
                    "    - path: %s\n"
                    "      mode: \"0666\"\n"
                    "  failure_delay: %dms\n"
                    "  mechanisms: [plain, login]\n" % (self.sasl_socket, int(FAILURE_DELAY * 1000)))
        run([self.env["AUTHD_BIN"], "--config", self.env["AUTHD_CONFIG"], "--check-config"])
        self.start_authd()

    def start_authd(self):
        if os.path.exists(self.sasl_socket):
            os.unlink(self.sasl_socket)
        with open(self.env["AUTHD_LOG"], "ab") as log:
            p = subprocess.Popen([self.env["AUTHD_BIN"], "--config", self.env["AUTHD_CONFIG"]],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                 close_fds=True)
        self.authd_proc = p  # authd-down.sh stops it by the pid file; stop() reaps it
        with open(os.path.join(self.authd_dir, "authd.pid"), "w") as f:
            f.write("%d\n" % p.pid)
        if not self.wait_for(lambda: os.path.exists(self.sasl_socket), timeout=10):
            raise RuntimeError("titan-authd did not open its SASL socket:\n" + self.authd_log()[-2000:])

    def stop(self, purge=None):
        super().stop(purge)
        proc = getattr(self, "authd_proc", None)
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def postfix_up(self):
        env = {"LMTP": os.path.join(self.dir, "no-lmtp"), "SMTP_PORT": str(SMTP_PORT),
               "SUBMISSION_PORT": str(SUBMISSION_PORT), "SASL": self.sasl_socket}
        run([os.path.join(FIXTURES, "postfix-up.sh"), self.postfix_dir], env=env)
        self.env.update(read_env(os.path.join(self.postfix_dir, "env")))

    def auth(self, mechanism, user, password, quit_after="AUTH", extra=()):
        """swaks AUTH on the submission port; returns (SMTP reply line to AUTH, seconds)."""
        t0 = time.monotonic()
        p = run(["swaks", "--server", "127.0.0.1", "--port", str(SUBMISSION_PORT), "--quit-after", quit_after,
                 "--auth", mechanism, "--auth-user", user, "--auth-password", password, "--timeout", "20"]
                + list(extra), check=False)
        elapsed = time.monotonic() - t0
        # The server's final answer to AUTH: the first 235/4xx/5xx line after AUTH.
        for line in p.stdout.splitlines():
            m = re.match(r"^<[-~*]{1,3}\s+((?:235|4\d\d|5\d\d)[ -].*)$", line.strip())
            if m:
                return m.group(1), elapsed
        return "no reply: " + p.stdout[-500:] + p.stderr[-500:], elapsed

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % METRICS_PORT, timeout=5) as r:
            return r.read().decode()

    def metric(self, series):
        m = re.search(r"^%s (\S+)$" % re.escape(series), self.metrics(), re.M)
        return float(m.group(1)) if m else 0.0

    def postfix_log(self):
        with open(self.env["POSTFIX_LOG"], errors="replace") as f:
            return f.read()


def setUpModule():
    global STACK
    STACK = SaslStack(cache_ttl="60s", negative_ttl="1s", stale_if_error="1h", with_postfix=True).start()
    STACK.ctl("domain", "add", "example.test")
    # Each user fails at most twice here, except victim: three failures block a user.
    STACK.add_user("alice@example.test", "alice-pw")
    STACK.add_user("bob@example.test", "bob-pw")
    STACK.add_user("carol@example.test", "carol-pw")
    STACK.add_user("nosmtp@example.test", "nosmtp-pw", "--smtp", "off")
    STACK.add_user("held@example.test", "held-pw")
    STACK.ctl("user", "disable", "held@example.test", "--reason", "Account on hold: unpaid invoice")
    STACK.add_user("victim@example.test", "victim-pw")
    STACK.add_user("cached@example.test", "cached-pw")
    STACK.add_user("uncached@example.test", "uncached-pw")
    STACK.add_user("j\u00f6rg@example.test", "M\u00fcsst3_kl4ppen")
    STACK.add_user("burst@example.test", "burst-pw")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class SaslTests(unittest.TestCase):
    def test_plain_right_password(self):
        before = STACK.metric('authd_sasl_requests_total{mechanism="plain",result="ok"}')
        reply, _ = STACK.auth("PLAIN", "alice@example.test", "alice-pw")
        self.assertTrue(reply.startswith("235 "), reply)
        self.assertEqual(STACK.metric('authd_sasl_requests_total{mechanism="plain",result="ok"}'), before + 1)

    def test_name_and_password_typed_decomposed(self):
        # Bug-log rows 3-4 (anchors-auth-repl.md): "ö" and "ü" typed as a letter plus a
        # combining mark (NFD), as some keyboards send them, are the same name and
        # password; authd checks the bytes as received, then their NFC form.
        nfd = lambda s: unicodedata.normalize("NFD", s)
        reply, _ = STACK.auth("PLAIN", nfd("J\u00f6rg@example.test"), nfd("M\u00fcsst3_kl4ppen"))
        self.assertTrue(reply.startswith("235 "), reply)
        reply, _ = STACK.auth("PLAIN", "j\u00f6rg@example.test", "Musst3_kl4ppen")
        self.assertTrue(reply.startswith("535 "), reply)

    def test_login_right_password(self):
        reply, _ = STACK.auth("LOGIN", "alice@example.test", "alice-pw")
        self.assertTrue(reply.startswith("235 "), reply)

    def test_plain_wrong_password_fails_after_the_delay(self):
        reply, elapsed = STACK.auth("PLAIN", "bob@example.test", "wrong")
        self.assertTrue(reply.startswith("535 5.7.8"), reply)
        self.assertGreaterEqual(elapsed, FAILURE_DELAY)

    def test_login_wrong_password(self):
        reply, elapsed = STACK.auth("LOGIN", "bob@example.test", "wrong")
        self.assertTrue(reply.startswith("535 5.7.8"), reply)
        self.assertGreaterEqual(elapsed, FAILURE_DELAY)

    def test_unknown_user(self):
        reply, _ = STACK.auth("PLAIN", "nobody@example.test", "whatever")
        self.assertTrue(reply.startswith("535 5.7.8"), reply)

    def test_user_name_is_canonicalised(self):
        # Up to RCPT, so Postfix opens a queue file and logs the SASL login with it.
        reply, _ = STACK.auth("PLAIN", "Alice@EXAMPLE.Test", "alice-pw", quit_after="RCPT",
                              extra=["--from", "alice@example.test", "--to", "alice@example.test"])
        self.assertTrue(reply.startswith("235 "), reply)
        # Postfix logs the user name authd returned in OK.
        self.assertTrue(STACK.wait_for(lambda: "sasl_username=alice@example.test" in STACK.postfix_log(), timeout=5))
        self.assertNotIn("sasl_username=Alice@EXAMPLE.Test", STACK.postfix_log())

    def test_smtp_disabled_is_refused_with_the_reason(self):
        reply, _ = STACK.auth("PLAIN", "nosmtp@example.test", "nosmtp-pw")
        self.assertTrue(reply.startswith("535 5.7.8"), reply)
        self.assertRegex(reply.lower(), r"authentication failed: .*(smtp|disabled)")
        # LOGIN too: the flag is checked whatever the mechanism.
        reply, _ = STACK.auth("LOGIN", "nosmtp@example.test", "nosmtp-pw")
        self.assertTrue(reply.startswith("535 5.7.8"), reply)

    def test_disabled_account_is_refused_with_its_reason(self):
        reply, _ = STACK.auth("PLAIN", "held@example.test", "held-pw")
        self.assertTrue(reply.startswith("535 5.7.8"), reply)
        self.assertIn("unpaid invoice", reply)

    def test_app_password_scoped_to_smtp(self):
        out = STACK.ctl("app-password", "add", "carol@example.test", "phone", "--services", "smtp").stdout
        secret = re.search(r"\): (\S+)", out).group(1)
        reply, _ = STACK.auth("PLAIN", "carol@example.test", secret)
        self.assertTrue(reply.startswith("235 "), reply)
        out = STACK.ctl("app-password", "add", "carol@example.test", "tablet", "--services", "imap").stdout
        imap_only = re.search(r"\): (\S+)", out).group(1)
        reply, _ = STACK.auth("PLAIN", "carol@example.test", imap_only)
        self.assertTrue(reply.startswith("535 5.7.8"), reply)

    def test_throttled_user_is_refused_even_with_the_right_password(self):
        for _ in range(3):
            reply, _ = STACK.auth("PLAIN", "victim@example.test", "guess")
            self.assertTrue(reply.startswith("535 5.7.8"), reply)
        reply, _ = STACK.auth("PLAIN", "victim@example.test", "victim-pw")
        self.assertTrue(reply.startswith("535 5.7.8"), reply)
        self.assertIn("too many failed logins", reply.lower())
        self.assertGreaterEqual(STACK.metric('authd_sasl_requests_total{mechanism="plain",result="throttled"}'), 1)

    def test_a_burst_of_logins_is_audited_completely(self):
        # Audit rows and last logins are written behind, many logins per transaction:
        # 300 pipelined logins (more than one transaction carries) leave 300 audit rows
        # and one last-login row.
        import base64
        import socket
        n = 300
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(STACK.sasl_socket)
        resp = base64.b64encode(b"\0burst@example.test\0burst-pw").decode()
        lines = ["VERSION\t1\t0", "CPID\t4242"]
        lines += ["AUTH\t%d\tPLAIN\tservice=smtp\tnologin\trip=192.0.2.77\tresp=%s" % (i + 1, resp) for i in range(n)]
        s.sendall(("\n".join(lines) + "\n").encode())
        data = b""
        deadline = time.monotonic() + 20
        while data.count(b"\nOK\t") < n and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        self.assertEqual(data.count(b"\nOK\t"), n, data[-500:])
        count = lambda: int(STACK.sql("SELECT COUNT(*) FROM auth_events WHERE username = 'burst@example.test'"
                                      " AND result = 'ok'")[0][0])
        self.assertTrue(STACK.wait_for(lambda: count() == n, timeout=10), count())
        self.assertEqual(STACK.sql("SELECT service, remote_ip FROM last_logins WHERE username = 'burst@example.test'"),
                         [["smtp", "192.0.2.77"]])

    def test_malformed_client_is_a_logged_disconnect(self):
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(STACK.sasl_socket)
        s.sendall(b"VERSION\t1\t0\nCPID\t42\nAUTH\t1\tPLAIN\n")  # no service=
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        self.assertIn(b"MECH\tPLAIN\tplaintext\n", data)
        self.assertTrue(data.endswith(b"DONE\n"), data)  # nothing after the handshake
        self.assertTrue(STACK.wait_for(lambda: "sasl protocol error" in STACK.authd_log(), timeout=5))
        self.assertTrue(alive(STACK.authd_pid()))

    def test_zz_database_outage(self):
        # Runs last (name order): MariaDB is stopped, then started again.
        reply, _ = STACK.auth("PLAIN", "cached@example.test", "cached-pw")
        self.assertTrue(reply.startswith("235 "), reply)
        tempfails = STACK.metric("authd_sasl_tempfail_disconnects_total")
        STACK.db_down()
        try:
            reply, _ = STACK.auth("PLAIN", "cached@example.test", "cached-pw")
            self.assertTrue(reply.startswith("235 "), reply)
            reply, _ = STACK.auth("PLAIN", "uncached@example.test", "uncached-pw")
            self.assertTrue(reply.startswith("454 4.7.0"), reply)
            reply, _ = STACK.auth("LOGIN", "uncached@example.test", "uncached-pw")
            self.assertTrue(reply.startswith("454 4.7.0"), reply)
            self.assertEqual(STACK.metric("authd_sasl_tempfail_disconnects_total"), tempfails + 2)
            # Postfix reconnects by itself: the cached user still works on the same smtpd.
            reply, _ = STACK.auth("PLAIN", "cached@example.test", "cached-pw")
            self.assertTrue(reply.startswith("235 "), reply)
            self.assertTrue(alive(STACK.authd_pid()))
        finally:
            STACK.db_up()
        self.assertTrue(STACK.wait_for(
            lambda: STACK.auth("PLAIN", "uncached@example.test", "uncached-pw")[0].startswith("235 "),
            timeout=15, interval=0.5))


if __name__ == "__main__":
    unittest.main()
