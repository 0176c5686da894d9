"""titan-authd's security features seen from outside: one brute-force budget for
IMAP/POP3 (through Dovecot's auth policy API) shared by every authd node, changes
made directly in SQL reaching every node within 2 s, and the login audit trail."""
import imaplib
import json
import socket
import time
import unittest
import urllib.error
import urllib.request

from titanstack import IMAP_PORT, Stack, alive

HTTP_PORT = 19251
HTTP_PORT_B = 19252
STACK = None
NODE_B = None


class SourceIMAP(imaplib.IMAP4):
    """IMAP from a chosen loopback source address (127.0.0.0/8 is all ours)."""

    def __init__(self, source, port):
        self._source = source
        super().__init__("127.0.0.1", port, timeout=10)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self._source, 0))


def imap_from(source, user, password):
    conn = SourceIMAP(source, IMAP_PORT)
    try:
        conn.login(user, password)
        conn.logout()
        return "OK"
    except imaplib.IMAP4.error as e:
        conn.shutdown()
        return str(e)


def policy(port, command, payload, raw=None):
    data = raw if raw is not None else json.dumps(payload).encode()
    req = urllib.request.Request("http://127.0.0.1:%d/policy?command=%s" % (port, command), data=data,
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, None


def dict_lookup(socket_path, key):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(socket_path)
    s.sendall(b"H3\t2\t0\t\tauth\nL" + key.encode() + b"\t\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    s.close()
    return buf.decode(errors="replace")


def setUpModule():
    global STACK, NODE_B
    STACK = Stack(with_postfix=False,
                  authd_env={"HTTP_PORT": str(HTTP_PORT), "MAX_IP_FAILURES": "10", "BLOCK_TIME": "10m"},
                  dovecot_env={"AUTH_POLICY_URL": "http://127.0.0.1:%d/policy" % HTTP_PORT}).start()
    STACK.ctl("domain", "add", "example.test")
    STACK.add_user("victim@example.test", "right-password")
    STACK.add_user("audited@example.test", "audit-pw")
    STACK.add_user("changing@example.test", "first-pw")
    NODE_B = STACK.extra_authd("authd-b", HTTP_PORT=str(HTTP_PORT_B))


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class BruteForceTests(unittest.TestCase):
    def test_ten_imap_failures_block_the_address_even_with_the_right_password(self):
        attacker = "127.0.0.2"
        self.assertEqual(imap_from(attacker, "victim@example.test", "right-password"), "OK")
        for i in range(10):
            self.assertIn("AUTHENTICATIONFAILED", imap_from(attacker, "victim@example.test", "guess-%d" % i))
        refused = imap_from(attacker, "victim@example.test", "right-password")
        self.assertNotEqual(refused, "OK")
        # Another address is not affected; the budget is per address.
        self.assertEqual(imap_from("127.0.0.3", "victim@example.test", "right-password"), "OK")
        # The second authd node, which saw none of these attempts, refuses too
        # (shared counters in MariaDB, polled every 250 ms).
        payload = {"login": "victim@example.test", "remote": attacker, "protocol": "imap"}
        self.assertTrue(STACK.wait_for(lambda: policy(HTTP_PORT_B, "allow", payload)[1]["status"] == -1,
                                       timeout=5, interval=0.2))
        self.assertEqual(policy(HTTP_PORT_B, "allow", dict(payload, remote="127.0.0.9"))[1]["status"], 0)

    def test_policy_api_rejects_malformed_input_and_keeps_serving(self):
        self.assertEqual(policy(HTTP_PORT, "allow", None, raw=b"{not json")[0], 400)
        self.assertEqual(policy(HTTP_PORT, "allow", None, raw=b"[1,2,3]")[0], 400)
        self.assertEqual(policy(HTTP_PORT, "bogus", {"login": "x"})[0], 404)
        status, _ = policy(HTTP_PORT, "allow", None, raw=b"{\"login\":\"" + b"a" * (200 * 1024) + b"\"}")
        self.assertNotEqual(status, 200)
        # A lone surrogate is not JSON text: refused, not crashed on.
        self.assertEqual(policy(HTTP_PORT, "allow", {"login": "\udcff", "remote": "::1"})[0], 400)
        self.assertEqual(policy(HTTP_PORT, "allow", {"login": "j\u00f8rn@example.test", "remote": "::1"}),
                         (200, {"status": 0}))
        self.assertTrue(alive(STACK.authd_pid()))


class ChangePropagationTests(unittest.TestCase):
    def test_password_changed_in_sql_reaches_a_second_node_within_two_seconds(self):
        key = "shared/passdb/imap/changing@example.test"
        before = dict_lookup(NODE_B["AUTHD_DICT_SOCKET"], key)
        self.assertIn('"password":"{SHA512-CRYPT}', before)  # now cached on node B (TTL 60 s)
        STACK.sql("UPDATE mailboxes SET password_hash = '{PLAIN}changed-in-sql' WHERE username = 'changing@example.test'")
        t0 = time.time()
        self.assertTrue(STACK.wait_for(
            lambda: '{PLAIN}changed-in-sql' in dict_lookup(NODE_B["AUTHD_DICT_SOCKET"], key), timeout=2, interval=0.1))
        self.assertLess(time.time() - t0, 2.0)
        # Dovecot, through node A, accepts the new password too.
        self.assertEqual(imap_from("127.0.0.4", "changing@example.test", "changed-in-sql"), "OK")

    def test_account_disabled_in_sql_is_refused_on_a_second_node_within_two_seconds(self):
        STACK.add_user("shortlived@example.test", "pw")
        key = "shared/passdb/imap/shortlived@example.test"
        self.assertNotIn("nologin", dict_lookup(NODE_B["AUTHD_DICT_SOCKET"], key))
        STACK.sql("UPDATE mailboxes SET active = 0 WHERE username = 'shortlived@example.test'")
        self.assertTrue(STACK.wait_for(
            lambda: '"nologin":"y"' in dict_lookup(NODE_B["AUTHD_DICT_SOCKET"], key), timeout=2, interval=0.1))

    def test_domain_disabled_in_sql_reaches_cached_users(self):
        STACK.ctl("domain", "add", "other.test")
        STACK.add_user("someone@other.test", "pw")
        key = "shared/passdb/imap/someone@other.test"
        self.assertNotIn("nologin", dict_lookup(NODE_B["AUTHD_DICT_SOCKET"], key))
        STACK.sql("UPDATE domains SET active = 0 WHERE name = 'other.test'")
        self.assertTrue(STACK.wait_for(
            lambda: '"nologin":"y"' in dict_lookup(NODE_B["AUTHD_DICT_SOCKET"], key), timeout=2, interval=0.1))


class AuditTests(unittest.TestCase):
    def test_logins_are_audited_and_last_login_recorded_after_success_only(self):
        self.assertIn("AUTHENTICATIONFAILED", imap_from("127.0.0.5", "audited@example.test", "wrong"))
        self.assertEqual(STACK.sql("SELECT COUNT(*) FROM last_logins WHERE username = 'audited@example.test'"),
                         [["0"]])
        self.assertEqual(imap_from("127.0.0.5", "audited@example.test", "audit-pw"), "OK")

        def rows():
            return STACK.sql("SELECT service, result, remote_ip FROM auth_events"
                             " WHERE username = 'audited@example.test' ORDER BY id")
        self.assertTrue(STACK.wait_for(lambda: len(rows()) >= 2, timeout=5))
        self.assertIn(["imap", "failed", "127.0.0.5"], rows())
        self.assertIn(["imap", "ok", "127.0.0.5"], rows())
        self.assertTrue(STACK.wait_for(lambda: STACK.sql(
            "SELECT service, remote_ip FROM last_logins WHERE username = 'audited@example.test'")
            == [["imap", "127.0.0.5"]], timeout=5))


if __name__ == "__main__":
    unittest.main()
