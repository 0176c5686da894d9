"""titan-quotad with real MariaDB, titan-authd, Dovecot 2.3 (quota = dict:...:proxy:<quotad>)
and Postfix (check_policy_service on quotad): what a hosting operator's users and MX see.
"""
import os
import time
import unittest
import urllib.request

from test_quotad_stack import DB_PORT, FIXTURES, METRICS_PORT, QuotaStack, run, smtp_rcpt

STACK = None
WARN_LOG = None

ALICE = ("alice@example.test", "alice-pw")   # 10 MiB, 100 messages
FULL = ("full@example.test", "full-pw")      # 4 KiB, filled by LMTP deliveries
WARN = ("warn@example.test", "warn-pw")      # 8 KiB, warning at 50 %
ROOMY = ("roomy@example.test", "roomy-pw")   # 1 MiB, empty


def message(subject, size):
    """A message of roughly `size` bytes (headers + body)."""
    body = ("x" * 70 + "\n") * max(1, size // 71)
    return "From: sender@example.org\nTo: someone@example.test\nSubject: %s\n\n%s" % (subject, body)


def setUpModule():
    global STACK, WARN_LOG
    stack = QuotaStack(nodes=1, with_postfix=True)
    WARN_LOG = os.path.join(stack.dir, "warnings.log")
    script = os.path.join(stack.dir, "quota-warning")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n# test warning command: one line per run\n"
                "echo \"$1 $2 $QUOTA_RESOURCE $QUOTA_USED $QUOTA_LIMIT\" >> %s\n" % WARN_LOG)
    os.chmod(script, 0o755)
    stack.warning_rules = [{"resource": "storage", "percent": 50, "command": [script, "%u", "%p"]}]
    STACK = stack.start()
    STACK.ctl("domain", "add", "example.test")
    STACK.add_user(ALICE[0], ALICE[1], "--quota", "10M", "--quota-messages", "100")
    STACK.add_user(FULL[0], FULL[1], "--quota", "4K")
    STACK.add_user(WARN[0], WARN[1], "--quota", "8K")
    STACK.add_user(ROOMY[0], ROOMY[1], "--quota", "1M")
    STACK.sql("INSERT INTO aliases (domain_id, source, destination) SELECT id, 'team@example.test', "
              "'full@example.test' FROM domains WHERE name = 'example.test'")
    STACK.sql("INSERT INTO aliases (domain_id, source, destination) SELECT id, 'friends@example.test', "
              "'roomy@example.test' FROM domains WHERE name = 'example.test'")
    STACK.ctl("domain", "add", "alias.test")
    STACK.sql("INSERT INTO alias_domains (name, target_domain_id) SELECT 'alias.test', id FROM domains "
              "WHERE name = 'example.test'")
    # Fill FULL through Dovecot itself until its LMTP refuses: the last message goes in
    # with the grace, so the mailbox ends at or above its limit.
    for i in range(20):
        code, _ = STACK.lmtp_deliver(0, FULL[0], message("fill %d" % i, 600))
        if code != 250:
            break
    else:
        raise AssertionError("Dovecot never refused a delivery to a 4 KiB mailbox")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def kib(n):
    return (n + 1023) // 1024


class DovecotQuotaDict(unittest.TestCase):
    def test_lmtp_delivery_raises_usage_by_the_message_size(self):
        before = STACK.usage(ALICE[0]) or (0, 0)
        code, text = STACK.lmtp_deliver(0, ALICE[0], message("raise", 3000))
        self.assertEqual(code, 250, text)
        on_disk, count = STACK.maildir_bytes(0, ALICE[0])
        after = STACK.usage(ALICE[0])
        self.assertEqual(after, (on_disk, count))
        self.assertGreater(after[0], before[0] + 2900)
        self.assertEqual(after[1], before[1] + 1)

    def test_imap_expunge_lowers_usage(self):
        STACK.lmtp_deliver(0, ROOMY[0], message("keep", 1000))
        STACK.lmtp_deliver(0, ROOMY[0], message("drop", 5000))
        with_both = STACK.usage(ROOMY[0])
        conn = STACK.imap(0, *ROOMY)
        try:
            conn.select("INBOX")
            typ, data = conn.search(None, 'SUBJECT "drop"')
            ids = data[0].split()
            self.assertTrue(ids)
            typ, sizes = conn.fetch(ids[-1], "(RFC822.SIZE)")
            conn.store(ids[-1], "+FLAGS", "\\Deleted")
            conn.expunge()
        finally:
            conn.logout()
        after = STACK.usage(ROOMY[0])
        self.assertEqual(after[1], with_both[1] - 1)
        self.assertLess(after[0], with_both[0] - 4900)
        self.assertEqual(after, STACK.maildir_bytes(0, ROOMY[0]))

    def test_getquotaroot_matches_titanctl_quota_show(self):
        STACK.lmtp_deliver(0, ALICE[0], message("gqr", 2500))
        used_kb, limit_kb, msgs, msg_limit = STACK.getquotaroot(0, *ALICE)
        show = STACK.show(ALICE[0])
        self.assertEqual(used_kb, kib(int(show["storage used"])))
        self.assertEqual(limit_kb * 1024, int(show["storage limit"].split()[0]))
        self.assertEqual(msgs, int(show["messages used"]))
        self.assertEqual(msg_limit, int(show["messages limit"].split()[0]))
        self.assertEqual(limit_kb, 10 * 1024)
        self.assertEqual(msg_limit, 100)

    def test_full_mailbox_as_dovecot_filled_it(self):
        used, _ = STACK.usage(FULL[0])
        self.assertGreaterEqual(used, 4096)
        self.assertEqual(STACK.usage(FULL[0]), STACK.maildir_bytes(0, FULL[0]))

    def test_recalc_makes_dovecot_recount(self):
        STACK.lmtp_deliver(0, ROOMY[0], message("recalc", 800))
        exact = STACK.maildir_bytes(0, ROOMY[0])
        # Someone corrupted the stored usage; recalc with doveadm restores it at once.
        STACK.ctl("quota", "set", ROOMY[0], "--used", "999999", "--used-messages", "77")
        self.assertEqual(STACK.usage(ROOMY[0]), (999999, 77))
        out = STACK.ctl("quota", "recalc", ROOMY[0], "--dovecot-config", STACK.dovecots[0]["DOVECOT_CONF"]).stdout
        self.assertIn("recounted", out)
        self.assertEqual(STACK.usage(ROOMY[0]), exact)
        # Without doveadm: the usage becomes unknown and the next access recounts.
        STACK.ctl("quota", "recalc", ROOMY[0])
        self.assertEqual(STACK.usage(ROOMY[0]), (None, None))
        self.assertIn("unknown", STACK.show(ROOMY[0])["storage used"])
        used_kb, _, _, _ = STACK.getquotaroot(0, *ROOMY)
        self.assertTrue(STACK.wait_for(lambda: STACK.usage(ROOMY[0]) == exact, timeout=5))
        self.assertEqual(used_kb, kib(exact[0]))

    def test_quota_set_changes_the_limit_dovecot_enforces(self):
        user = ("limits@example.test", "limits-pw")
        STACK.add_user(user[0], user[1], "--quota", "1M")
        self.assertEqual(STACK.getquotaroot(0, *user)[1], 1024)
        STACK.ctl("quota", "set", user[0], "--quota", "2M", "--quota-messages", "7")
        self.assertTrue(STACK.wait_for(lambda: STACK.getquotaroot(0, *user)[1] == 2048, timeout=5))
        self.assertEqual(STACK.getquotaroot(0, *user)[3], 7)
        self.assertEqual(STACK.show(user[0])["messages limit"].split()[0], "7")

    def test_warning_command_runs_once_per_crossing(self):
        # 8 KiB limit, warning at 50 %: the third 1.5 KiB message crosses it.
        for i in range(5):
            code, text = STACK.lmtp_deliver(0, WARN[0], message("warn %d" % i, 1500))
            self.assertEqual(code, 250, text)
        self.assertTrue(STACK.wait_for(lambda: os.path.exists(WARN_LOG), timeout=5))
        time.sleep(0.3)  # a second (wrong) run would have shown up by now
        with open(WARN_LOG) as f:
            lines = [l for l in f.read().splitlines() if l.startswith(WARN[0] + " ")]
        self.assertEqual(len(lines), 1, lines)
        fields = lines[0].split()
        self.assertEqual(fields[:3], [WARN[0], "50", "storage"])
        self.assertGreaterEqual(int(fields[3]) * 2, int(fields[4]))
        self.assertIn("quota warning threshold reached", STACK.quotads[0].read_log())
        self.assertEqual(STACK.show(WARN[0])["warning levels"], "storage 1, messages 0")


class PostfixRcptPolicy(unittest.TestCase):
    def test_over_quota_mailbox_refused_with_452(self):
        p = STACK.swaks(FULL[0], quit_after="RCPT")
        self.assertIn("452 4.2.2", p.stdout, p.stdout)
        self.assertIn("Mailbox is full", p.stdout)

    def test_alias_of_an_over_quota_mailbox_refused(self):
        p = STACK.swaks("team@example.test", quit_after="RCPT")
        self.assertIn("452 4.2.2", p.stdout, p.stdout)
        code, text = smtp_rcpt("Full+lists@Alias.TEST")
        self.assertEqual(code, 452, text)

    def test_message_larger_than_the_quota_refused_with_552_when_size_is_given(self):
        code, text = smtp_rcpt(ROOMY[0], size=2 * 1024 * 1024)
        self.assertEqual(code, 552, text)
        self.assertIn("5.2.2", text)
        code, text = smtp_rcpt("friends@example.test", size=2 * 1024 * 1024)
        self.assertEqual(code, 552, text)
        # Without SIZE the same mailbox is accepted: its real size is checked on delivery.
        code, text = smtp_rcpt(ROOMY[0])
        self.assertEqual(code, 250, text)

    def test_under_quota_mailbox_accepted_and_delivery_counted(self):
        before = STACK.usage(ALICE[0]) or (0, 0)
        p = STACK.swaks(ALICE[0], body="through postfix")
        self.assertIn("250 2.0.0 Ok: queued", p.stdout, p.stdout)
        self.assertTrue(STACK.wait_for(lambda: (STACK.usage(ALICE[0]) or (0, 0))[1] == before[1] + 1, timeout=20),
                        "the delivery through Postfix did not reach the usage")
        self.assertEqual(STACK.usage(ALICE[0]), STACK.maildir_bytes(0, ALICE[0]))

    def test_unknown_recipient_is_not_quotads_business(self):
        code, text = smtp_rcpt("nobody@example.test", size=50 * 1024 * 1024 // 10)
        self.assertEqual(code, 250, text)

    def test_database_outage_defers_then_usage_heals(self):
        run([os.path.join(FIXTURES, "mariadb-down.sh"), STACK.db_dir])
        try:
            # The MX neither accepts nor bounces: a temporary 450 until the database is back.
            code, text = smtp_rcpt(FULL[0])
            self.assertEqual(code, 450, text)
            self.assertIn("temporarily unavailable", text)
            # Dovecot's quota lookup and update get F. Dovecot itself delivers anyway
            # ("copying mail anyway"), so the stored usage misses this message...
            code, text = STACK.lmtp_deliver(0, ROOMY[0], message("outage", 500))
            self.assertIn(code, (250, 451, 452), text)
        finally:
            run([os.path.join(FIXTURES, "mariadb-up.sh"), STACK.db_dir, str(DB_PORT)])
        self.assertTrue(STACK.wait_for(lambda: smtp_rcpt(FULL[0])[0] == 452, timeout=15))
        # ...until quotad, once the database answers, marks the user for a recount, and the
        # next access makes Dovecot recount: usage and mailbox agree again.
        self.assertTrue(STACK.wait_for(lambda: STACK.usage(ROOMY[0]) == (None, None), timeout=15),
                        STACK.usage(ROOMY[0]))
        STACK.getquotaroot(0, *ROOMY)
        self.assertTrue(STACK.wait_for(lambda: STACK.usage(ROOMY[0]) == STACK.maildir_bytes(0, ROOMY[0]), timeout=5))
        code, text = STACK.lmtp_deliver(0, ROOMY[0], message("after outage", 500))
        self.assertEqual(code, 250, text)
        self.assertEqual(STACK.usage(ROOMY[0]), STACK.maildir_bytes(0, ROOMY[0]))

    def test_metrics_count_policy_decisions(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % METRICS_PORT, timeout=5) as r:
            text = r.read().decode()
        for needle in ('quotad_policy_requests_total{result="over_quota"}', 'quotad_commits_total{result="ok"}',
                       "quotad_write_batch_duration_seconds_count"):
            self.assertTrue(needle in text, "metric missing: " + needle)


if __name__ == "__main__":
    unittest.main()
