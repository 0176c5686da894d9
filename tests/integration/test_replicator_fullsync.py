"""titan-replicator's periodic full sync on two real Dovecot sites: mail that reached a
site while its replicator was not running (so Dovecot's plugin had nobody to tell) is
replicated by the next full-sync pass, whose schedule survives a kill -9."""
import time
import unittest

from test_replicator_stack import MultiSiteStack

STACK = None


def setUpModule():
    global STACK
    STACK = MultiSiteStack(sites=("dc1", "dc2"), full_sync_interval="4s").start()


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class FullSyncTests(unittest.TestCase):
    def test_mail_delivered_while_the_replicator_was_down_is_replicated_by_the_full_sync(self):
        dc1, dc2 = STACK.sites["dc1"], STACK.sites["dc2"]
        users = ["quiet%d@example.test" % i for i in range(4)]
        for u in users:
            STACK.add_user(u, "dc1", ["dc2"])
        dc1.replicator_kill()
        try:
            for u in users:
                dc1.deliver(u, "unnotified-" + u)
        finally:
            dc1.replicator_up()
        self.assertIn("full_sync: next_pass_in=", dc1.ctl("status").stdout)
        for u in users:
            self.assertFalse(dc2.files_mention(u, "unnotified-" + u))
        t0 = time.monotonic()
        ok = STACK.wait_for(lambda: all(dc2.files_mention(u, "unnotified-" + u) for u in users), 15)
        self.assertTrue(ok, "the full-sync pass did not replicate the users (waited %.1fs)" % (time.monotonic() - t0))
        def recorded():
            rows = STACK.sql("SELECT username FROM replication_state WHERE source_site = 'dc1'"
                             " AND peer_site = 'dc2' AND last_full_sync IS NOT NULL")
            return set(users) <= {r[0] for r in rows}
        self.assertTrue(STACK.wait_for(recorded, 5), "full syncs not recorded in replication_state")
        self.assertIn("periodic full sync pass started", dc1.log())


if __name__ == "__main__":
    unittest.main()
