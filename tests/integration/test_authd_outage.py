"""titan-authd when MariaDB goes away and comes back, seen through real Dovecot
logins: recently used users keep logging in (cache, then stale-if-error), unknown
users get a temporary failure rather than "wrong password", authd keeps running,
and once MariaDB is back new users work without restarting authd."""
import imaplib
import poplib
import time
import unittest

from titanstack import IMAP_PORT, POP3_PORT, Stack, alive

STACK = None


def setUpModule():
    global STACK
    # A short TTL so the test also crosses into stale-if-error territory.
    STACK = Stack(cache_ttl="2s", negative_ttl="1s", stale_if_error="1h", with_postfix=False).start()
    STACK.ctl("domain", "add", "example.test")
    STACK.add_user("regular@example.test", "regular-pw")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def imap_result(user, password):
    conn = imaplib.IMAP4("127.0.0.1", IMAP_PORT, timeout=15)
    try:
        conn.login(user, password)
        conn.logout()
        return "OK"
    except imaplib.IMAP4.error as e:
        conn.shutdown()
        return str(e)


class OutageTests(unittest.TestCase):
    def test_outage_and_recovery(self):
        self.assertEqual(imap_result("regular@example.test", "regular-pw"), "OK")

        STACK.db_down()
        try:
            # Within the TTL: served from the cache.
            self.assertEqual(imap_result("regular@example.test", "regular-pw"), "OK")
            # Past the TTL, the refetch fails: stale-if-error keeps the user working.
            time.sleep(2.5)
            self.assertEqual(imap_result("regular@example.test", "regular-pw"), "OK")
            # A wrong password is still a wrong password.
            self.assertIn("AUTHENTICATIONFAILED", imap_result("regular@example.test", "nope"))
            # Unknown to the cache: a temporary failure, not "authentication failed".
            err = imap_result("stranger@example.test", "whatever")
            self.assertIn("UNAVAILABLE", err)
            self.assertNotIn("AUTHENTICATIONFAILED", err)
            pop = poplib.POP3("127.0.0.1", POP3_PORT, timeout=15)
            pop.user("stranger@example.test")
            with self.assertRaises(poplib.error_proto) as ctx:
                pop.pass_("whatever")
            pop.close()
            self.assertIn("TEMP", str(ctx.exception))
            self.assertTrue(alive(STACK.authd_pid()))
        finally:
            STACK.db_up()

        # Back: a user created now works without restarting authd.
        pid_before = STACK.authd_pid()
        STACK.add_user("newcomer@example.test", "newcomer-pw")
        self.assertTrue(STACK.wait_for(
            lambda: imap_result("newcomer@example.test", "newcomer-pw") == "OK", timeout=10, interval=0.5))
        self.assertEqual(STACK.authd_pid(), pid_before)
        self.assertIn("database failed, serving cached user", STACK.authd_log())


if __name__ == "__main__":
    unittest.main()
