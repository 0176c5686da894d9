"""titan-authd serving Dovecot 2.3 (passdb/userdb over the dict protocol) with
real MariaDB, Dovecot and Postfix: what an operator's users see when they log in
over IMAP and POP3 and receive mail."""
import email
import imaplib
import os
import poplib
import unicodedata
import signal
import subprocess
import time
import unittest
import urllib.request

from titanstack import IMAP_PORT, METRICS_PORT, POP3_PORT, Stack, alive, run

STACK = None


def setUpModule():
    global STACK
    STACK = Stack().start()
    STACK.ctl("domain", "add", "Example.TEST")
    STACK.add_user("alice@example.test", "alice-pw-1")
    STACK.add_user("bob@example.test", "bob-pw-1")
    STACK.add_user("popper@example.test", "popper-pw", "--imap", "off")
    STACK.add_user("frozen@example.test", "frozen-pw")
    STACK.ctl("user", "disable", "frozen@example.test", "--reason", "Unpaid invoice")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def imap_login(user, password):
    conn = imaplib.IMAP4("127.0.0.1", IMAP_PORT, timeout=10)
    try:
        conn.login(user, password)
    except Exception:
        conn.shutdown()
        raise
    return conn


def imap_error(user, password):
    """The server's text for a failed login (raises if the login succeeds)."""
    try:
        conn = imap_login(user, password)
    except imaplib.IMAP4.error as e:
        return str(e)
    conn.logout()
    raise AssertionError("login of %s unexpectedly succeeded" % user)


def pop3_login(user, password):
    conn = poplib.POP3("127.0.0.1", POP3_PORT, timeout=10)
    try:
        conn.user(user)
        conn.pass_(password)
    except Exception:
        conn.close()
        raise
    return conn


def pop3_error(user, password):
    try:
        conn = pop3_login(user, password)
    except poplib.error_proto as e:
        return str(e)
    conn.quit()
    raise AssertionError("POP3 login of %s unexpectedly succeeded" % user)


class LoginTests(unittest.TestCase):
    def test_imap_login_succeeds_for_active_user(self):
        conn = imap_login("alice@example.test", "alice-pw-1")
        typ, data = conn.select("INBOX")
        self.assertEqual(typ, "OK")
        conn.logout()

    def test_pop3_login_succeeds_for_active_user(self):
        conn = pop3_login("alice@example.test", "alice-pw-1")
        count, _size = conn.stat()
        self.assertGreaterEqual(count, 0)
        conn.quit()

    def test_wrong_password_fails(self):
        self.assertIn("AUTHENTICATIONFAILED", imap_error("alice@example.test", "wrong"))
        self.assertIn("[AUTH]", pop3_error("alice@example.test", "wrong"))

    def test_unknown_user_fails_as_authentication_failure(self):
        self.assertIn("AUTHENTICATIONFAILED", imap_error("nobody@example.test", "whatever"))
        self.assertIn("AUTHENTICATIONFAILED", imap_error("no-domain-at-all", "whatever"))

    def test_imap_disabled_user_fails_imap_but_logs_in_to_pop3(self):
        err = imap_error("popper@example.test", "popper-pw")
        self.assertIn("IMAP access is disabled", err)
        conn = pop3_login("popper@example.test", "popper-pw")
        conn.quit()

    def test_disabled_account_is_refused_with_reason(self):
        self.assertIn("Unpaid invoice", imap_error("frozen@example.test", "frozen-pw"))
        self.assertIn("Unpaid invoice", pop3_error("frozen@example.test", "frozen-pw"))

    def test_enable_after_disable_takes_effect(self):
        STACK.add_user("toggle@example.test", "toggle-pw")
        imap_login("toggle@example.test", "toggle-pw").logout()
        STACK.ctl("user", "disable", "toggle@example.test")
        self.assertIn("disabled", imap_error("toggle@example.test", "toggle-pw"))
        STACK.ctl("user", "enable", "toggle@example.test")
        imap_login("toggle@example.test", "toggle-pw").logout()

    def test_password_change_takes_effect(self):
        STACK.add_user("changer@example.test", "old-password")
        imap_login("changer@example.test", "old-password").logout()
        STACK.ctl("user", "passwd", "changer@example.test", password="new-password")
        imap_login("changer@example.test", "new-password").logout()
        self.assertIn("AUTHENTICATIONFAILED", imap_error("changer@example.test", "old-password"))

    def test_mixed_case_login_lands_in_the_same_maildir(self):
        conn = imap_login("Bob@Example.TEST", "bob-pw-1")
        msg = b"From: a@example.org\r\nSubject: case-test\r\n\r\nbody\r\n"
        typ, _ = conn.append("INBOX", None, None, msg)
        self.assertEqual(typ, "OK")
        conn.logout()
        conn = imap_login("bob@example.test", "bob-pw-1")
        conn.select("INBOX")
        typ, data = conn.search(None, "SUBJECT", "case-test")
        self.assertEqual(typ, "OK")
        self.assertEqual(len(data[0].split()), 1)
        conn.logout()
        domain_dir = os.path.join(STACK.mail_root, "example.test")
        self.assertIn("bob", os.listdir(domain_dir))
        self.assertNotIn("Bob", os.listdir(domain_dir))
        self.assertEqual(os.listdir(STACK.mail_root), ["example.test"])

    def test_utf8_names_typed_nfc_or_nfd_are_one_account(self):
        # Bug-log rows 1-4 (anchors-auth-repl.md): a non-ASCII name is one account
        # however it is typed, and titanctl hashes the NFC form of the password.
        nfc_user = "\u00e9lodie.l\u00e9ger@example.test"
        nfd = lambda s: unicodedata.normalize("NFD", s)
        password = "M\u00fcsst3_kl4ppen"
        STACK.add_user(nfd("\u00c9lodie.L\u00e9ger@Example.TEST"), nfd(password))
        self.assertIn(nfc_user, STACK.ctl("user", "show", nfd(nfc_user)).stdout)
        # Dovecot 2.3 checks the hash itself: the NFC password, under any spelling of the name.
        for typed in (nfc_user, nfd(nfc_user), nfd("\u00c9LODIE.L\u00e9ger@example.test")):
            conn = pop3_login(typed, password)
            conn.quit()
        self.assertIn("\u00e9lodie.l\u00e9ger", os.listdir(os.path.join(STACK.mail_root, "example.test")))
        self.assertNotIn(nfd("\u00e9lodie.l\u00e9ger"), os.listdir(os.path.join(STACK.mail_root, "example.test")))
        self.assertIn("authentication failed", pop3_error(nfc_user, "Musst3_kl4ppen").lower())
        # Names Dovecot's default auth_username_chars would refuse before authd is asked.
        STACK.add_user("^_^@example.test", "smiley-pw")
        imap_login("^_^@example.test", "smiley-pw").logout()

    def test_doveadm_user_star_lists_every_user(self):
        out = STACK.doveadm("user", "*").stdout.split()
        for user in ("alice@example.test", "bob@example.test", "popper@example.test", "frozen@example.test"):
            self.assertIn(user, out)

    def test_doveadm_user_shows_userdb_fields(self):
        out = STACK.doveadm("user", "bob@example.test").stdout
        self.assertIn(os.path.join(STACK.mail_root, "example.test", "bob"), out)
        self.assertIn("uid", out)


class DeliveryTests(unittest.TestCase):
    def _wait_for_subject(self, user, password, subject):
        def found():
            conn = imap_login(user, password)
            try:
                conn.select("INBOX")
                typ, data = conn.search(None, "SUBJECT", subject)
                return typ == "OK" and len(data[0].split()) == 1
            finally:
                conn.logout()
        return STACK.wait_for(found, timeout=20, interval=0.3)

    def test_lmtp_delivery_through_postfix_is_read_back_over_imap(self):
        p = STACK.swaks("alice@example.test", "lmtp-delivery-1")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(self._wait_for_subject("alice@example.test", "alice-pw-1", "lmtp-delivery-1"))

    def test_delivery_to_mixed_case_recipient_reaches_the_canonical_mailbox(self):
        p = STACK.swaks("Alice@EXAMPLE.test", "lmtp-delivery-case")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(self._wait_for_subject("alice@example.test", "alice-pw-1", "lmtp-delivery-case"))
        self.assertNotIn("Alice", os.listdir(os.path.join(STACK.mail_root, "example.test")))


class DictProtocolTests(unittest.TestCase):
    """Raw dict-protocol input on authd's socket, as a hostile local process could send."""

    def _session(self):
        s = STACK.dict_connect()
        s.sendall(b"H3\t2\t0\t\tauth\n")
        return s

    def _read_line(self, s):
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(1)
            if not chunk:
                return None  # disconnected
            buf += chunk
        return buf

    def _assert_closed(self, s):
        s.settimeout(5)
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        self.assertEqual(data, b"")
        s.close()

    def _assert_still_serving(self):
        s = self._session()
        s.sendall(b"Lshared/passdb/imap/alice@example.test\talice@example.test\n")
        line = self._read_line(s)
        self.assertTrue(line.startswith(b"O{"), line)
        s.close()
        self.assertTrue(alive(STACK.authd_pid()))

    def test_passdb_lookup_returns_hash_and_canonical_user(self):
        s = self._session()
        s.sendall(b"Lshared/passdb/imap/Alice@Example.Test\tAlice@Example.Test\n")
        line = self._read_line(s)
        self.assertTrue(line.startswith(b'O{'), line)
        self.assertIn(b'"user":"alice@example.test"', line)
        self.assertIn(b'"password":"{SHA512-CRYPT}$6$', line)
        s.close()

    def test_pipelined_lookups_are_answered_in_order(self):
        s = self._session()
        users = ["alice", "nobody1", "bob", "nobody2"] * 25
        s.sendall(b"".join(b"Lshared/userdb/%s@example.test\t\n" % u.encode() for u in users))
        for u in users:
            line = self._read_line(s)
            if u.startswith("nobody"):
                self.assertEqual(line, b"N\n")
            else:
                self.assertIn(('"user":"%s@example.test"' % u).encode(), line)
        s.close()

    def test_lookup_sent_one_byte_at_a_time(self):
        s = self._session()
        for b in b"Lshared/userdb/bob@example.test\t\n":
            s.sendall(bytes([b]))
            time.sleep(0.002)
        self.assertIn(b'"user":"bob@example.test"', self._read_line(s))
        s.close()

    def test_user_iteration(self):
        s = self._session()
        s.sendall(b"I0\t0\tshared/userdb/\t\n")
        rows = []
        while True:
            line = self._read_line(s)
            self.assertIsNotNone(line)
            if line == b"\n":
                break
            rows.append(line)
        keys = [r.split(b"\t")[0] for r in rows]
        self.assertIn(b"Oshared/userdb/alice@example.test", keys)
        self.assertIn(b"Oshared/userdb/bob@example.test", keys)
        self.assertEqual(keys, sorted(keys))
        s.close()

    def test_iteration_honours_max_rows(self):
        s = self._session()
        s.sendall(b"I8\t2\tshared/userdb/\t\n")
        lines = [self._read_line(s) for _ in range(3)]
        self.assertEqual(lines[2], b"\n")
        self.assertTrue(all(l.startswith(b"Oshared/userdb/") for l in lines[:2]))
        s.close()

    def test_sql_metacharacters_and_bad_names_are_not_found(self):
        s = self._session()
        for user in (b"x' OR '1'='1@example.test", b"alice@example.test'; DROP TABLE mailboxes; --",
                     b"\xff\xfe@example.test", b"al\x01tice@example.test", b"", b"@", b"a" * 400 + b"@example.test"):
            s.sendall(b"Lshared/passdb/imap/" + user + b"\t\n")
            self.assertEqual(self._read_line(s), b"N\n", user)
        s.close()
        self._assert_still_serving()

    def test_unknown_key_is_not_found(self):
        s = self._session()
        s.sendall(b"Lpriv/quota/storage\talice@example.test\nLshared/other/thing\t\n")
        self.assertEqual(self._read_line(s), b"N\n")
        self.assertEqual(self._read_line(s), b"N\n")
        s.close()

    def test_unknown_command_letter_disconnects(self):
        s = self._session()
        s.sendall(b"Zwhatever\n")
        self._assert_closed(s)
        self._assert_still_serving()

    def test_raw_nul_byte_disconnects(self):
        s = self._session()
        s.sendall(b"Lshared/passdb/imap/al\x00ice@example.test\t\n")
        self._assert_closed(s)
        self._assert_still_serving()

    def test_escaped_nul_byte_disconnects(self):
        s = self._session()
        s.sendall(b"Lshared/passdb/imap/al\x010ice@example.test\t\n")
        self._assert_closed(s)
        self._assert_still_serving()

    def test_missing_hello_disconnects(self):
        s = STACK.dict_connect()
        s.sendall(b"Lshared/userdb/alice@example.test\t\n")
        self._assert_closed(s)

    def test_wrong_protocol_major_disconnects(self):
        s = STACK.dict_connect()
        s.sendall(b"H2\t1\t0\talice@example.test\tauth\n")
        self._assert_closed(s)

    def test_over_long_line_disconnects(self):
        s = self._session()
        try:
            s.sendall(b"L" + b"a" * (1 << 20))
        except (BrokenPipeError, ConnectionResetError):
            pass
        self._assert_closed(s)
        self._assert_still_serving()

    def test_broken_escape_is_decoded_not_fatal(self):
        s = self._session()
        # \x01 followed by an unknown letter decodes to that letter; a trailing lone
        # \x01 is dropped (Dovecot's own rule): the key stays well formed.
        s.sendall(b"Lshared/userdb/\x01alice@example.test\x01\t\n")
        self.assertIn(b'"user":"alice@example.test"', self._read_line(s))
        s.close()

    def test_commit_on_read_only_dict_fails_cleanly(self):
        s = self._session()
        s.sendall(b"B1\talice@example.test\nS1\tshared/last-login/alice\t123\nC1\n")
        line = self._read_line(s)
        self.assertTrue(line.startswith(b"F1\t"), line)
        s.close()

    def test_transaction_command_with_unknown_id_disconnects(self):
        s = self._session()
        s.sendall(b"S7\tshared/x\ty\n")
        self._assert_closed(s)


class OperationsTests(unittest.TestCase):
    def test_metrics_endpoint_reports_requests(self):
        imap_login("alice@example.test", "alice-pw-1").logout()
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % METRICS_PORT, timeout=5).read().decode()
        self.assertIn('authd_dict_requests_total{kind="passdb",result="found"}', body)
        self.assertIn("authd_cache_entries", body)

    def test_check_config_names_file_line_and_key(self):
        bad = os.path.join(STACK.dir, "bad.yaml")
        with open(bad, "w") as f:
            f.write("dict:\n  listen:\n    - path: /tmp/x.sock\ncache:\n  ttl: 5 parsecs\n  colour: blue\n")
        p = run([STACK.env["AUTHD_BIN"], "--config", bad, "--check-config"], check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("bad.yaml:5:", p.stderr)
        self.assertIn("cache.ttl", p.stderr)
        self.assertIn("cache.colour", p.stderr)

    def test_dump_config_redacts_the_database_password(self):
        p = run([STACK.env["AUTHD_BIN"], "--config", STACK.env["AUTHD_CONFIG"], "--dump-config"])
        self.assertIn("<redacted>", p.stdout)
        self.assertNotIn("titanpw", p.stdout)

    def test_invalid_reload_keeps_the_running_configuration(self):
        cfg = STACK.env["AUTHD_CONFIG"]
        with open(cfg) as f:
            good = f.read()
        try:
            with open(cfg, "w") as f:
                f.write(good + "\nbogus_key: 1\n")
            STACK.signal_authd(signal.SIGHUP)
            self.assertTrue(STACK.wait_for(lambda: "reload failed" in STACK.authd_log(), timeout=5))
            imap_login("alice@example.test", "alice-pw-1").logout()
            self.assertTrue(alive(STACK.authd_pid()))
        finally:
            with open(cfg, "w") as f:
                f.write(good)
        STACK.signal_authd(signal.SIGHUP)
        self.assertTrue(STACK.wait_for(lambda: "configuration reloaded" in STACK.authd_log(), timeout=5))


if __name__ == "__main__":
    unittest.main()
