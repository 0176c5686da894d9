"""titan-policyd as a cluster and through outages, with a real MariaDB and Postfix: two
instances enforce one shared limit (through Postfix, and under a concurrent race with no
overshoot at all); with MariaDB stopped every rule answers its own fail action at once on
a connection that stays usable, and with MariaDB hung the answer comes at the request
deadline; the protocol itself (connection reuse, malformed input, long lines) on the wire."""
import os
import signal
import socket
import threading
import time
import unittest

from policydstack import (POLICY_PORT, SUBMISSION_PORT, PolicyClient, PolicyStack, read_env, refused,
                          request)

STACK = None
PW = "secret-pw"

SHARED_RULES = """
  - name: login
    type: sender_login
    fail_action: "451 4.3.0 sender check unavailable"
  - name: grey
    type: greylist
    delay: 1h
    fail_action: DUNNO
  - name: in-rate
    type: rate_limit
    direction: inbound
    key: client_address
    ipv4_prefix: 24
    windows: [{limit: 1000, period: 1h}]
    fail_action: "451 4.3.2 inbound counters unavailable"
  - name: out-msgs
    type: rate_limit
    direction: outbound
    key: sasl_username
    count: messages
    windows: [{limit: 3, period: 1h}]
    action: "450 4.7.1 Message rate limit reached"
    fail_action: "451 4.3.1 outbound counters unavailable"
  - name: race
    type: rate_limit
    key: sender
    count: messages
    windows: [{limit: 12, period: 1h}]
    action: "450 4.7.1 race limit"
"""


def setUpModule():
    global STACK
    STACK = PolicyStack().start(rules=SHARED_RULES)
    STACK.policyd_up("b", POLICY_PORT + 1, SHARED_RULES)
    STACK.add_user("shared@example.test", PW)
    STACK.add_user("outage@example.test", PW)
    STACK.add_user("r1@example.test", PW)


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def submit(user):
    return STACK.swaks(["r1@example.test"], user, port=SUBMISSION_PORT, auth=(user, PW))


def wait_healthy(policyd):
    """True once `policyd` answers a database-backed request normally again (its database
    host mark-down lasts up to retry_interval after MariaDB is back)."""
    c = policyd.client()
    try:
        n = [0]

        def ok():
            n[0] += 1
            action = c.ask(request("RCPT", client="198.51.100.%d" % (100 + n[0] % 100), sender="probe@remote.example",
                                   recipient="r1@example.test", instance="probe%d" % n[0]))
            return action.startswith("DEFER_IF_PERMIT Greylisted")
        return STACK.wait_for(ok, timeout=15, interval=0.2)
    finally:
        c.close()


def wait_stack_healthy(test):
    """Every policyd answers from the database again, and authd (SASL) works again."""
    for p in STACK.policyds.values():
        test.assertTrue(wait_healthy(p), p.name)

    def auth_ok():
        rc, _ = STACK.swaks(["r1@example.test"], "shared@example.test", port=SUBMISSION_PORT,
                            auth=("shared@example.test", PW), extra=["--quit-after", "AUTH"])
        return rc == 0
    test.assertTrue(STACK.wait_for(auth_ok, timeout=15, interval=0.3))


class TwoInstanceTests(unittest.TestCase):
    def setUp(self):
        wait_stack_healthy(self)

    def test_two_instances_share_one_limit_through_postfix(self):
        a, b = STACK.policyds["a"], STACK.policyds["b"]
        for _ in range(2):
            rc, out = submit("shared@example.test")
            self.assertEqual(rc, 0, out)
        # Postfix switches to the other instance (as a load balancer would).
        STACK.postfix_up("inet:127.0.0.1:%d" % b.port)
        try:
            rc, out = submit("shared@example.test")
            self.assertEqual(rc, 0, out)
            rc, out = submit("shared@example.test")
            self.assertNotEqual(rc, 0)
            lines = refused(out)
            self.assertTrue(lines and "450 4.7.1" in lines[0] and "Message rate limit reached" in lines[0], out)
            self.assertIn("rule=out-msgs", b.read_log())
        finally:
            STACK.postfix_up("inet:127.0.0.1:%d" % a.port)
        rows = STACK.sql("SELECT used FROM policy_counters WHERE rule='out-msgs' AND subject='shared@example.test'")
        self.assertEqual(rows, [["3000"]])

    def test_concurrent_end_of_message_on_both_instances_never_overshoots(self):
        """Consistency bound: charges are serialised on the counter row in MariaDB, so the
        limit holds exactly across nodes (12 accepted of 40 racing messages)."""
        a, b = STACK.policyds["a"], STACK.policyds["b"]
        results = []
        lock = threading.Lock()

        def worker(port, n, tag):
            c = PolicyClient(port)
            try:
                for i in range(n):
                    action = c.ask(request("END-OF-MESSAGE", client="10.1.2.3", sender="racer@remote.example",
                                           instance="%s-%d" % (tag, i), recipient_count=1, size=100))
                    with lock:
                        results.append(action)
            finally:
                c.close()

        threads = [threading.Thread(target=worker, args=(p, 10, "%d-%d" % (p, k)))
                   for p in (a.port, b.port) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(len(results), 40)
        self.assertEqual(results.count("DUNNO"), 12, results)
        self.assertEqual(results.count("450 4.7.1 race limit"), 28)
        rows = STACK.sql("SELECT used FROM policy_counters WHERE rule='race' AND subject='racer@remote.example'")
        self.assertEqual(rows, [["12000"]])


class OutageTests(unittest.TestCase):
    def test_database_stopped_each_rule_answers_its_fail_action_at_once(self):
        a = STACK.policyds["a"]
        c = a.client()
        self.assertTrue(c.ask(request("RCPT", recipient="r1@example.test", instance="o1")).startswith(
            "DEFER_IF_PERMIT Greylisted"))
        # A login authd has seen recently keeps working without the database (its cache),
        # so the submission below reaches policyd.
        rc, out = submit("outage@example.test")
        self.assertEqual(rc, 0, out)
        STACK.db_down()
        try:
            cases = [
                # authenticated: the sender-login rule is the first to need the database
                (request("RCPT", client="127.0.0.1", sender="shared@example.test", recipient="r1@example.test",
                         sasl="shared@example.test", instance="o2"), "451 4.3.0 sender check unavailable"),
                # inbound: greylisting fails open, the inbound rate limit fails closed
                (request("RCPT", client="203.0.113.50", sender="x@remote.example", recipient="r1@example.test",
                         instance="o3"), "451 4.3.2 inbound counters unavailable"),
                # end of an authenticated message: the outbound charge fails closed
                (request("END-OF-MESSAGE", client="127.0.0.1", sender="shared@example.test",
                         sasl="shared@example.test", instance="o2", recipient_count=1, size=10),
                 "451 4.3.1 outbound counters unavailable"),
                # not a state any rule needs the database for
                (request("CONNECT", instance=""), "DUNNO"),
            ]
            for attrs, want in cases:
                t0 = time.time()
                got = c.ask(attrs)  # the same connection throughout
                self.assertEqual(got, want)
                self.assertLess(time.time() - t0, 0.9, "answer took too long")
            # Through Postfix: the submission gets the fail action as a temporary error.
            # (policyd still has this login's addresses, stale-if-error, so the next rule
            # that needs the database answers: the outbound counters.)
            rc, out = submit("outage@example.test")
            lines = refused(out)
            self.assertTrue(lines and "451 4.3.1" in lines[0] and "outbound counters unavailable" in lines[0], out)
            self.assertGreaterEqual(a.metric('policyd_fail_closed_total{rule="login"}'), 1)
            self.assertGreaterEqual(a.metric('policyd_fail_open_total{rule="grey"}'), 1)
            self.assertGreaterEqual(a.metric('policyd_backend_errors_total{operation="counters"}'), 1)
        finally:
            STACK.db_up()
        # Back: normal answers on the very same connection, without restarting policyd.
        self.assertTrue(STACK.wait_for(
            lambda: c.ask(request("RCPT", client="198.51.100.20", sender="y@remote.example",
                                  recipient="r1@example.test", instance="o4")).startswith("DEFER_IF_PERMIT"),
            timeout=10, interval=0.3))
        c.close()
        wait_stack_healthy(self)

    def test_database_hung_answers_at_the_deadline(self):
        pid = int(read_env(os.path.join(STACK.db_dir, "env"))["MARIADB_PID"])
        c = STACK.policyds["a"].client()
        os.kill(pid, signal.SIGSTOP)
        try:
            t0 = time.time()
            got = c.ask(request("RCPT", client="203.0.113.60", sender="z@remote.example",
                                recipient="r1@example.test", instance="h1"))
            elapsed = time.time() - t0
            # request_timeout is 1s; greylisting (fail open) is skipped at the deadline.
            self.assertIn(got, ("DUNNO", "451 4.3.2 inbound counters unavailable"))
            self.assertGreater(elapsed, 0.8)
            self.assertLess(elapsed, 2.5)
        finally:
            os.kill(pid, signal.SIGCONT)
        # The connection is still in step: the next request gets its own answer.
        self.assertEqual(c.ask(request("CONNECT", instance="")), "DUNNO")
        c.close()
        wait_stack_healthy(self)


class WireTests(unittest.TestCase):
    def test_connection_reuse_exactly_one_reply_per_request(self):
        s = socket.create_connection(("127.0.0.1", POLICY_PORT), timeout=10)
        try:
            # Three requests in one write, one with CR LF, one with 8-bit bytes and '=' in a value.
            data = (b"request=smtpd_access_policy\nprotocol_state=CONNECT\nclient_address=198.51.100.1\n\n"
                    b"protocol_state=HELO\r\nhelo_name=x=y\r\nclient_address=198.51.100.1\r\n\r\n"
                    b"protocol_state=MAIL\nsender=gr\xc3\xa5\xff@example.org\nccert_subject=" + b"A" * 30000 +
                    b"\nx-unknown=1\n\n")
            s.sendall(data)
            buf = b""
            deadline = time.time() + 10
            while buf.count(b"\n\n") < 3 and time.time() < deadline:
                buf += s.recv(65536)
            self.assertEqual(buf, b"action=DUNNO\n\n" * 3)
            # A malformed request: logged, closed without a reply (Postfix then retries).
            s.sendall(b"protocol_state=RCPT\nno-equals-sign\n\n")
            s.settimeout(5)
            self.assertEqual(s.recv(100), b"")
        finally:
            s.close()
        self.assertIn("policy protocol error", STACK.policyds["a"].read_log())


if __name__ == "__main__":
    unittest.main()
