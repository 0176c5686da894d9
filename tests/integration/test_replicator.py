"""titan-replicator with real MariaDB, titan-authd and three private Dovecot sites
(dc1, dc2, dc3), each with its own titan-replicator: what an operator sees when mail
is delivered at one site and read at another, when a site goes down, when the
replicator is killed, and when Dovecot's plugin or a stray process sends garbage."""
import os
import socket
import time
import unittest

from test_replicator_stack import MultiSiteStack, metric_value

STACK = None
DC1 = DC2 = DC3 = None


def setUpModule():
    global STACK, DC1, DC2, DC3
    STACK = MultiSiteStack().start()
    DC1, DC2, DC3 = STACK.sites["dc1"], STACK.sites["dc2"], STACK.sites["dc3"]


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def notify_socket(site):
    return os.path.join(site.dovecot_dir, "run", "replication-notify")


def notify_fifo(site):
    return os.path.join(site.dovecot_dir, "run", "replication-notify-fifo")


def sync_request(site, line, timeout=5.0):
    """Send raw bytes to the notify socket as the plugin does; returns the reply ('' on close)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(notify_socket(site))
        s.sendall(line)
        return s.recv(64).decode(errors="replace")
    finally:
        s.close()


class ReplicationTests(unittest.TestCase):
    maxDiff = None

    def assertEventually(self, predicate, timeout, message):
        t0 = time.monotonic()
        ok = STACK.wait_for(predicate, timeout)
        self.assertTrue(ok, "%s (waited %.1fs)" % (message, time.monotonic() - t0))
        return time.monotonic() - t0

    def test_01_delivery_at_home_is_readable_at_replica_within_2s(self):
        STACK.add_user("alice@example.test", "dc1", ["dc2"])
        t0 = time.monotonic()
        DC1.deliver("alice@example.test", "first-mail")
        self.assertTrue(STACK.wait_for(lambda: DC2.has_subject("alice@example.test", "first-mail"), 5))
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 2.0, "LMTP at dc1 to IMAP at dc2 took %.2fs" % elapsed)
        # alice is not placed at dc3: nothing is copied there
        self.assertFalse(DC3.files_mention("alice@example.test", "first-mail"))
        # the sync is recorded for titanctl
        rows = STACK.sql("SELECT source_site, peer_site, last_success IS NOT NULL FROM replication_state"
                         " WHERE username = 'alice@example.test' AND source_site = 'dc1'")
        self.assertIn(["dc1", "dc2", "1"], rows)

    def test_02_flag_set_at_replica_shows_at_home(self):
        DC1.deliver("alice@example.test", "flag-me")
        self.assertEventually(lambda: DC2.has_subject("alice@example.test", "flag-me"), 5, "not replicated")
        conn = DC2.imap("alice@example.test")
        conn.select("INBOX")
        typ, data = conn.search(None, "SUBJECT", '"flag-me"')
        self.assertEqual(typ, "OK")
        conn.store(data[0].split()[0], "+FLAGS", "(\\Flagged)")
        conn.logout()
        took = self.assertEventually(lambda: "\\Flagged" in (DC1.flags("alice@example.test", "flag-me") or ""), 5,
                                     "\\Flagged set at dc2 never reached dc1")
        self.assertLess(took, 3.0)

    def test_03_inbox_created_at_both_sites_before_first_sync_converges(self):
        # Dovecot's known trap: an IMAP login creates INBOX with its own GUID on each
        # site, after which plain dsync exits 2 forever. The replicator aligns the GUIDs.
        STACK.add_user("bob@example.test", "dc1", ["dc2"])
        before = metric_value(STACK.metrics(), "replicator_guid_repairs_total") or 0
        # dc2's replicator must not copy dc2's INBOX to dc1 before dc1 makes its own
        self.assertIn("peer dc1 paused", DC2.ctl("pause", "dc1").stdout)
        try:
            self.assertEqual(DC2.subjects("bob@example.test"), [])
            self.assertEqual(DC1.subjects("bob@example.test"), [])
            self.assertEventually(lambda: (metric_value(STACK.metrics(), "replicator_guid_repairs_total") or 0)
                                  >= before + 1, 10, "dc1's replicator did not repair the INBOX GUID")
        finally:
            DC2.ctl("resume", "dc1")
        DC1.deliver("bob@example.test", "after-both-logins")
        self.assertEventually(lambda: DC2.has_subject("bob@example.test", "after-both-logins"), 10,
                              "message never reached dc2")
        DC2.deliver("bob@example.test", "back-to-home")
        self.assertEventually(lambda: DC1.has_subject("bob@example.test", "back-to-home"), 10,
                              "message never reached dc1")

    def test_04_user_homed_at_dc1_reaches_both_replicas(self):
        STACK.add_user("dave@example.test", "dc1", ["dc2", "dc3"])
        t0 = time.monotonic()
        DC1.deliver("dave@example.test", "to-three-sites")
        self.assertEventually(lambda: DC2.has_subject("dave@example.test", "to-three-sites") and
                              DC3.has_subject("dave@example.test", "to-three-sites"), 5, "not on dc2 and dc3")
        self.assertLess(time.monotonic() - t0, 2.0)
        # a change at a replica reaches the home and the other replica
        DC3.deliver("dave@example.test", "from-dc3")
        self.assertEventually(lambda: DC1.has_subject("dave@example.test", "from-dc3") and
                              DC2.has_subject("dave@example.test", "from-dc3"), 5, "dc3's mail not on dc1 and dc2")
        out = STACK.ctl("replication", "replicas", "dave@example.test").stdout
        self.assertIn("home dc1, replicas dc2,dc3", out)

    def test_05_replica_down_deliveries_keep_full_speed_and_backlog_drains(self):
        STACK.add_user("erin@example.test", "dc1", ["dc2"])
        STACK.add_user("frank@example.test", "dc1", ["dc3"])
        DC1.deliver("erin@example.test", "before-outage")
        self.assertEventually(lambda: DC2.files_mention("erin@example.test", "before-outage"), 5, "not replicated")
        DC2.dovecot_down()
        try:
            times = [DC1.deliver("erin@example.test", "during-outage-%d" % i) for i in range(10)]
            # the plugin waits up to replication_sync_timeout (2 s) per delivery; with
            # dc2 down the replicator answers "-" at once instead
            self.assertLess(max(times), 1.0, "delivery times %s" % times)
            self.assertLess(sum(times) / len(times), 0.3, "delivery times %s" % times)
            status = DC1.ctl("status").stdout
            self.assertRegex(status, r"peer dc2: state=(open|half-open)")
            self.assertEqual(metric_value(STACK.metrics(), "replicator_peer_up", peer="dc2"), 0.0)
            # other peers are not held back by dc2
            DC1.deliver("frank@example.test", "dc3-still-served")
            self.assertEventually(lambda: DC3.has_subject("frank@example.test", "dc3-still-served"), 5,
                                  "dc3 stalled while dc2 was down")
            lag = metric_value(STACK.metrics(), "replicator_replication_lag_seconds", peer="dc2")
            self.assertGreater(lag, 0.0)
        finally:
            DC2.dovecot_up()
        self.assertEventually(lambda: all(DC2.files_mention("erin@example.test", "during-outage-%d" % i)
                                          for i in range(10)), 15, "backlog did not drain after dc2 returned")
        self.assertEventually(lambda: metric_value(STACK.metrics(), "replicator_peer_up", peer="dc2") == 1.0, 5,
                              "dc2 not marked up again")
        self.assertEventually(lambda: metric_value(STACK.metrics(), "replicator_replication_lag_seconds",
                                                   peer="dc2") == 0.0, 5, "lag did not return to 0")

    def test_06_kill9_with_a_queue_then_restart_converges(self):
        users = ["kim%d@example.test" % i for i in range(3)]
        for u in users:
            STACK.add_user(u, "dc1", ["dc2"])
        self.assertIn("peer dc2 paused", DC1.ctl("pause", "dc2").stdout)
        try:
            for u in users:
                self.assertLess(DC1.deliver(u, "queued-" + u), 1.0)
            status = DC1.ctl("status").stdout
            self.assertIn("paused=yes", status)
            self.assertRegex(status, r"depth: sync=3 ")
            DC1.replicator_kill()  # SIGKILL: no chance to write anything more
            for u in users:
                self.assertFalse(DC2.files_mention(u, "queued-" + u), "replicated while paused")
            DC1.replicator_up()
            status = DC1.ctl("status").stdout
            self.assertIn("users=3", status)
            self.assertIn("paused=yes", status)  # the pause survives the restart too
        finally:
            self.assertIn("peer dc2 resumed", DC1.ctl("resume", "dc2").stdout)
        self.assertEventually(lambda: all(DC2.files_mention(u, "queued-" + u) for u in users), 10,
                              "queued users did not converge after the restart")

    def test_07_titanctl_replicate_status_and_metrics(self):
        STACK.add_user("gina@example.test", "dc1", ["dc2"])
        DC1.deliver("gina@example.test", "by-hand")
        self.assertEventually(lambda: DC2.files_mention("gina@example.test", "by-hand"), 5, "not replicated")
        out = DC1.ctl("replicate", "Gina@EXAMPLE.test", "--full").stdout
        self.assertIn("queued gina@example.test priority=high full", out)
        self.assertEventually(lambda: "not queued" in DC1.ctl("status", "gina@example.test").stdout, 5,
                              "replicate request never ran")
        out = DC1.ctl("status", "gina@example.test").stdout
        self.assertIn("dc1 -> dc2: last_success=", out)
        self.assertIn("last_full_sync=", out)
        bad = DC1.ctl("replicate", "not a user", check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("invalid user name", bad.stderr)
        text = STACK.metrics()
        self.assertGreater(metric_value(text, "replicator_syncs_total", peer="dc2", result="success"), 0)
        self.assertEqual(metric_value(text, "replicator_queue_depth", peer="dc2", priority="sync"), 0.0)
        self.assertIsNotNone(metric_value(text, "replicator_replication_lag_seconds", peer="dc3"))
        self.assertGreater(metric_value(text, "replicator_sync_requests_total", result="ok"), 0)

    def test_08_bad_input_is_refused_and_the_daemon_keeps_serving(self):
        STACK.add_user("hank@example.test", "dc1", ["dc2"])
        before = metric_value(STACK.metrics(), "replicator_notify_errors_total", source="fifo") or 0
        fd = os.open(notify_fifo(DC1), os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, b"no-priority-here\n")
            os.write(fd, b"hank@example.test\tnone\n")
            os.write(fd, b"x" * 9000 + b"\n")
            os.write(fd, b"\tlow\n")
            os.write(fd, b"not a valid user\thigh\n")
        finally:
            os.close(fd)
        self.assertEventually(lambda: (metric_value(STACK.metrics(), "replicator_notify_errors_total",
                                                    source="fifo") or 0) >= before + 4, 5, "bad fifo lines not counted")
        # the socket closes on a malformed line, as Dovecot's aggregator does
        self.assertEqual(sync_request(DC1, b"garbage-without-tab\n"), "")
        # unknown users and invalid names get "-" promptly
        t0 = time.monotonic()
        self.assertEqual(sync_request(DC1, b"nobody@example.test\tsync\n"), "-\n")
        self.assertEqual(sync_request(DC1, b"bad name\tsync\n"), "-\n")
        self.assertLess(time.monotonic() - t0, 1.5)
        # and the daemon still works: a fifo notification and a sync request
        fd = os.open(notify_fifo(DC1), os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, b"hank@example.test\thigh\n")
        os.close(fd)
        self.assertEqual(sync_request(DC1, b"Hank@Example.TEST\tsync\n"), "+\n")
        DC1.deliver("hank@example.test", "still-alive")
        self.assertEventually(lambda: DC2.files_mention("hank@example.test", "still-alive"), 5, "not replicated")
        self.assertIsNone(DC1.proc.poll(), "titan-replicator exited")

    def test_10_database_outage_known_users_keep_replicating(self):
        STACK.add_user("lena@example.test", "dc1", ["dc2"])
        STACK.add_user("mike@example.test", "dc1", ["dc2"])
        DC1.deliver("lena@example.test", "before-db-outage")
        self.assertEventually(lambda: DC2.files_mention("lena@example.test", "before-db-outage"), 5, "not replicated")
        # The rows just written reach authd's change follower (polling every 250 ms) and
        # drop both users from its cache: let that happen, then look lena up again so
        # authd holds her entry when the database goes away.
        time.sleep(0.8)
        DC1.doveadm_user("lena@example.test")
        # authd keeps serving mike from its cache during the outage; the replicator has
        # never looked him up
        run_ok = STACK.ctl("user", "show", "mike@example.test")
        self.assertEqual(run_ok.returncode, 0)
        DC1.doveadm_user("mike@example.test")
        STACK.db_down()
        try:
            time.sleep(2.2)  # lena's placement (cache_ttl 2s) is now only stale
            self.assertLess(DC1.deliver("lena@example.test", "during-db-outage"), 1.0)
            self.assertEventually(lambda: DC2.files_mention("lena@example.test", "during-db-outage"), 5,
                                  "a known user stopped replicating while the database was down")
            # an unknown placement cannot be resolved: "-" within sync_wait, mail accepted
            self.assertLess(DC1.deliver("mike@example.test", "placement-unknown"), 2.0)
            self.assertIn("user mike@example.test: queued", DC1.ctl("status", "mike@example.test",
                                                                     check=False).stdout)
        finally:
            STACK.db_up()
        self.assertEventually(lambda: DC2.files_mention("mike@example.test", "placement-unknown"), 10,
                              "did not converge after the database returned")

    def test_09_deleted_user_leaves_the_queue_with_a_log_line(self):
        STACK.add_user("ivan@example.test", "dc1", ["dc2"])
        self.assertIn("peer dc2 paused", DC1.ctl("pause", "dc2").stdout)
        try:
            DC1.deliver("ivan@example.test", "soon-gone")
            self.assertIn("user ivan@example.test: queued", DC1.ctl("status", "ivan@example.test").stdout)
            STACK.ctl("user", "delete", "ivan@example.test")
        finally:
            DC1.ctl("resume", "dc2")
        self.assertEventually(lambda: "not queued" in DC1.ctl("status", "ivan@example.test").stdout, 10,
                              "deleted user stayed queued")
        self.assertIn("user dropped from the replication queue", DC1.log())
        self.assertIsNone(DC1.proc.poll(), "titan-replicator exited")


if __name__ == "__main__":
    unittest.main()
