"""titan-policyd behind a real Postfix 3.7, driven with swaks: rate limits (messages, and a
multi-recipient message refused whole and not charged), greylisting with an IPv6 /64
retry, sender-login mismatch, deny lists, and a burst that puts an account on hold
(message in Postfix's hold queue, next submission refused, released with titanctl).
Each test loads its own rules with SIGHUP, which also proves reloading."""
import unittest

from policydstack import SMTP_PORT, SUBMISSION_PORT, PolicyStack, refused

STACK = None
PW = "secret-pw"


def setUpModule():
    global STACK
    STACK = PolicyStack().start(rules="  - {name: noop, type: lists}")
    for user in ("rate", "bulk", "alice", "burst", "r1"):
        STACK.add_user("%s@example.test" % user, PW)


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def policyd():
    return STACK.policyds["a"]


def submit(user, to=("r1@example.test",), sender=None):
    return STACK.swaks(list(to), sender or user, port=SUBMISSION_PORT, auth=(user, PW))


class RateLimitTests(unittest.TestCase):
    def test_over_the_message_limit_the_next_message_gets_4xx(self):
        policyd().reload("""
  - name: out-msgs
    type: rate_limit
    direction: outbound
    key: sasl_username
    count: messages
    windows: [{limit: 2, period: 1h}]
    action: "450 4.7.1 Message rate limit reached, try again in {retry} seconds"
""")
        for i in range(2):
            rc, out = submit("rate@example.test")
            self.assertEqual(rc, 0, out)
            self.assertIn("Ok: queued", out)
        rc, out = submit("rate@example.test")
        self.assertNotEqual(rc, 0)
        lines = refused(out)
        self.assertTrue(lines and "450 4.7.1" in lines[0] and "Message rate limit reached" in lines[0], out)
        rows = STACK.sql("SELECT used FROM policy_counters WHERE rule='out-msgs' AND subject='rate@example.test'")
        self.assertEqual(rows, [["2000"]])
        self.assertGreaterEqual(policyd().metric('policyd_decisions_total{rule="out-msgs",action="4xx"}'), 1)

    def test_twenty_recipients_against_ten_refused_whole_and_not_charged(self):
        policyd().reload("""
  - name: out-rcpts
    type: rate_limit
    direction: outbound
    key: sasl_username
    count: recipients
    windows: [{limit: 10, period: 1h}]
    action: "450 4.7.1 Recipient allowance exceeded"
""")
        twenty = ["r1+%d@example.test" % i for i in range(20)]
        rc, out = submit("bulk@example.test", to=twenty)
        self.assertNotEqual(rc, 0)
        # Every RCPT was accepted; the message as a whole was refused at DATA.
        self.assertEqual(out.count("<-  250 2.1.5 Ok"), 20, out)
        lines = refused(out)
        self.assertTrue(lines and "450 4.7.1" in lines[0] and "Recipient allowance exceeded" in lines[0], out)
        self.assertNotIn("queued", out)
        charged = STACK.sql("SELECT COALESCE(SUM(used), 0) FROM policy_counters WHERE rule='out-rcpts'")
        self.assertEqual(charged, [["0"]])
        # The whole allowance is still there: ten recipients go through, and are charged.
        rc, out = submit("bulk@example.test", to=twenty[:10])
        self.assertEqual(rc, 0, out)
        rows = STACK.sql("SELECT used FROM policy_counters WHERE rule='out-rcpts' AND subject='bulk@example.test'")
        self.assertEqual(rows, [["10000"]])


class GreylistTests(unittest.TestCase):
    def test_first_attempt_greylisted_retry_from_same_64_accepted(self):
        policyd().reload("""
  - name: grey
    type: greylist
    delay: 2s
""")
        rc, out = STACK.swaks("r1@example.test", "news@gmx.example", port=SMTP_PORT,
                              xclient_addr="IPV6:2001:db8:10:1::25")
        self.assertNotEqual(rc, 0)
        lines = refused(out)
        self.assertTrue(lines and lines[0].startswith("<** 450 4.7.1") and "Greylisted" in lines[0], out)
        # Too early: still deferred.
        rc, out = STACK.swaks("r1@example.test", "news@gmx.example", port=SMTP_PORT,
                              xclient_addr="IPV6:2001:db8:10:1::25")
        self.assertIn("Greylisted", out)
        STACK.wait_for(lambda: False, timeout=2.1)
        # The retry comes from another address of the same /64 and passes.
        rc, out = STACK.swaks("r1@example.test", "news@gmx.example", port=SMTP_PORT,
                              xclient_addr="IPV6:2001:db8:10:1::26")
        self.assertEqual(rc, 0, out)
        self.assertIn("Ok: queued", out)
        # Another /64 is a new triplet.
        rc, out = STACK.swaks("r1@example.test", "news@gmx.example", port=SMTP_PORT,
                              xclient_addr="IPV6:2001:db8:10:2::25")
        self.assertIn("Greylisted", out)
        # Authenticated submissions are never greylisted.
        rc, out = submit("alice@example.test")
        self.assertEqual(rc, 0, out)


class SenderLoginTests(unittest.TestCase):
    def test_sender_login_mismatch_refused(self):
        policyd().reload("""
  - name: login
    type: sender_login
""")
        rc, out = submit("alice@example.test", sender="bob@example.test")
        self.assertNotEqual(rc, 0)
        lines = refused(out)
        self.assertTrue(lines and "553 5.7.1" in lines[0] and "not owned" in lines[0], out)
        rc, out = submit("alice@example.test", sender="Alice+news@Example.TEST")
        self.assertEqual(rc, 0, out)
        # An alias delivering to alice and an extra sender_logins grant make addresses hers.
        STACK.sql("INSERT INTO aliases (domain_id, source, destination) SELECT id, 'sales@example.test',"
                  " 'alice@example.test' FROM domains WHERE name='example.test'")
        STACK.sql("INSERT INTO sender_logins (address, login) VALUES ('@alice.example', 'alice@example.test')")
        STACK.wait_for(lambda: False, timeout=1.1)  # sender_login_ttl
        for sender in ("sales@example.test", "anyone@alice.example"):
            rc, out = submit("alice@example.test", sender=sender)
            self.assertEqual(rc, 0, out)
        rc, out = submit("rate@example.test", sender="sales@example.test")
        self.assertIn("not owned", out)


class ListTests(unittest.TestCase):
    def test_deny_listed_clients_refused(self):
        policyd().reload("""
  - name: lists
    type: lists
    action: "554 5.7.1 Access denied by policy"
    deny: {clients: ["2001:db8:bad::/48"]}
""")
        STACK.sql("INSERT INTO policy_lists (list, kind, value) VALUES ('deny', 'client', '192.0.2.0/24')")
        STACK.wait_for(lambda: "policyd_list_entries 1" in policyd().metrics(), timeout=5)
        for addr in ("192.0.2.55", "IPV6:2001:db8:bad:1::9"):
            rc, out = STACK.swaks("r1@example.test", "x@remote.example", port=SMTP_PORT, xclient_addr=addr)
            self.assertNotEqual(rc, 0)
            lines = refused(out)
            self.assertTrue(lines and "554 5.7.1" in lines[0] and "Access denied by policy" in lines[0], out)
        rc, out = STACK.swaks("r1@example.test", "x@remote.example", port=SMTP_PORT, xclient_addr="198.51.100.1")
        self.assertEqual(rc, 0, out)


class HoldTests(unittest.TestCase):
    def test_burst_holds_the_message_and_refuses_the_next_submission(self):
        policyd().reload("""
  - name: guard
    type: account_guard
    window: 1h
    max_messages: 3
    action: "HOLD unusual sending activity"
    held_action: "450 4.7.1 Account on hold, contact support"
""")
        held_before = set(STACK.held_messages())
        for i in range(3):
            rc, out = submit("burst@example.test")
            self.assertEqual(rc, 0, out)
        # The fourth message trips the guard: accepted by Postfix, but into the hold queue.
        rc, out = submit("burst@example.test")
        self.assertEqual(rc, 0, out)
        self.assertTrue(STACK.wait_for(lambda: len(set(STACK.held_messages()) - held_before) == 1, timeout=10),
                        STACK.held_messages())
        self.assertIn("hold: END-OF-MESSAGE", STACK.postfix_log())
        rows = STACK.sql("SELECT user, rule FROM policy_holds")
        self.assertEqual(rows, [["burst@example.test", "guard"]])
        audit = STACK.sql("SELECT event, subject FROM policy_audit WHERE event='hold'")
        self.assertEqual(audit, [["hold", "burst@example.test"]])
        # The next submission is refused at once.
        rc, out = submit("burst@example.test")
        self.assertNotEqual(rc, 0)
        lines = refused(out)
        self.assertTrue(lines and "450 4.7.1" in lines[0] and "Account on hold" in lines[0], out)
        # Others are not affected.
        rc, out = submit("alice@example.test")
        self.assertEqual(rc, 0, out)
        # An operator releases the account.
        p = STACK.ctl("policy", "release", "burst@example.test")
        self.assertIn("released", p.stdout)
        STACK.wait_for(lambda: False, timeout=0.7)  # holds_refresh
        STACK.sql("DELETE FROM policy_activity")
        STACK.sql("DELETE FROM policy_counters WHERE rule='guard'")
        rc, out = submit("burst@example.test")
        self.assertEqual(rc, 0, out)


class ReloadTests(unittest.TestCase):
    def test_invalid_config_is_refused_and_the_running_one_kept(self):
        p = policyd()
        p.reload("  - {name: lists, type: lists, deny: {senders: ['@blocked.example']}}")
        with open(p.config, "a") as f:
            f.write("  - {name: broken, type: rate_limit, windows: [{limit: 0, period: 1h}]}\n")
        before = p.read_log().count("reload failed")
        import os
        import signal
        os.kill(p.pid, signal.SIGHUP)
        self.assertTrue(STACK.wait_for(lambda: p.read_log().count("reload failed") > before, timeout=5))
        rc, out = STACK.swaks("r1@example.test", "x@blocked.example", port=SMTP_PORT)
        self.assertIn("Access denied", out)


if __name__ == "__main__":
    unittest.main()
