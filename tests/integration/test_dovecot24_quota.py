"""titan-quotad serving Dovecot 2.4.1 and Postfix 3.10 (the Debian 13 packages, run from
the cached Debian 13 tree): Dovecot counts usage itself (quota driver `count`) and
`quota_clone` copies it to quotad's dict socket (dict protocol 4, absolute values),
through the shipped contrib/dovecot-2.4/conf.d/20-titan-quota.conf; `titanctl quota
show` reports it from the same MariaDB rows as for 2.3, and Postfix 3.10 asking quotad
(check_policy_service) refuses an over-quota mailbox at RCPT time.

Skipped, with the reason, only when the Debian 13 tree cannot be built because the
Debian mirror is unreachable."""
import os
import re
import smtplib
import unittest
import urllib.request

from test_quotad_stack import Quotad
from titanstack import run
from titanstack24 import Stack24

PORTS = {"db": 14450, "http": 14451, "metrics": 14452, "imap": 14453, "pop3": 14454, "smtp": 14455,
         "submission": 14456}
QUOTAD_METRICS = 14457
STACK = None
QUOTAD = None

ALICE = ("alice@example.test", "alice-pw")  # 10 MiB, 100 messages
FULL = ("full@example.test", "full-pw")     # 4 KiB, filled through Dovecot's LMTP
ROOMY = ("roomy@example.test", "roomy-pw")  # 1 MiB


class QuotaStack24(Stack24):
    """Stack24 with one titan-quotad node between the database and Dovecot: its dict and
    policy sockets lie inside the tree, where Dovecot 2.4 and Postfix 3.10 reach them."""

    def start(self):
        global QUOTAD
        try:
            self.db_up()
            self.authd_up()
            self.ctl("db", "migrate")
            QUOTAD = Quotad(os.path.join(self.tree_dir, "quotad"), self.env, metrics="127.0.0.1:%d" % QUOTAD_METRICS)
            QUOTAD.start()
            self.dovecot_env["QUOTA_DICT_SOCKET"] = QUOTAD.dict_socket
            self.postfix_env["POLICY"] = "unix:" + self.in_tree(QUOTAD.policy_socket)
            self.dovecot_up()
            self.postfix_up()
        except Exception:
            self.stop()
            raise
        return self

    def stop(self, purge=None):
        if QUOTAD is not None:
            QUOTAD.stop()
        super().stop(purge)


def message(subject, size):
    body = ("x" * 70 + "\n") * max(1, size // 71)
    return "From: sender@example.org\nTo: someone@example.test\nSubject: %s\n\n%s" % (subject, body)


def lmtp_deliver(rcpt, body):
    """One delivery over Dovecot 2.4's LMTP socket: (code, text) of the final reply (the
    RCPT reply when that already failed)."""
    conn = smtplib.LMTP(timeout=30)
    conn.connect(STACK.env["DOVECOT_LMTP"])
    try:
        conn.ehlo("it.example.test")
        conn.mail("sender@example.org")
        code, text = conn.rcpt(rcpt)
        if code != 250:
            return code, text.decode(errors="replace")
        code, text = conn.data(body.encode())
        return code, text.decode(errors="replace")
    finally:
        try:
            conn.quit()
        except Exception:
            pass


def show(user):
    """titanctl quota show, parsed."""
    fields = {}
    for line in STACK.ctl("quota", "show", user).stdout.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip()] = v.strip()
    return fields


def used(user):
    """(storage bytes, messages) as titanctl shows them; None while unknown."""
    f = show(user)
    try:
        return int(f["storage used"].split()[0]), int(f["messages used"].split()[0])
    except (KeyError, ValueError):
        return None


def dovecot_usage(user):
    """(storage bytes, messages) as Dovecot 2.4 itself counts them (doveadm quota get;
    STORAGE is in KiB there, so the bytes are rounded to KiB by the caller)."""
    out = STACK.doveadm("quota", "get", "-u", user).stdout
    storage = re.search(r"STORAGE\s+(\d+)", out)
    messages = re.search(r"MESSAGE\s+(\d+)", out)
    return int(storage.group(1)), int(messages.group(1))


def rcpt(to, size=None):
    """SMTP to Postfix 3.10 up to RCPT TO: (code, text) of the RCPT reply."""
    s = smtplib.SMTP("127.0.0.1", PORTS["smtp"], timeout=30)
    try:
        s.ehlo("client.example.org")
        code, msg = s.mail("sender@example.org", ["SIZE=%d" % size] if size is not None else [])
        if code != 250:
            return code, msg.decode(errors="replace")
        code, msg = s.rcpt(to)
        return code, msg.decode(errors="replace")
    finally:
        try:
            s.quit()
        except Exception:
            pass


def setUpModule():
    global STACK
    STACK = QuotaStack24(PORTS, cache_ttl="1s", negative_ttl="1s").start()
    STACK.ctl("domain", "add", "example.test")
    STACK.add_user(ALICE[0], ALICE[1], "--quota", "10M", "--quota-messages", "100")
    STACK.add_user(FULL[0], FULL[1], "--quota", "4K")
    STACK.add_user(ROOMY[0], ROOMY[1], "--quota", "1M")
    # Fill FULL through Dovecot 2.4 until its own quota check refuses a delivery.
    for i in range(20):
        code, _ = lmtp_deliver(FULL[0], message("fill %d" % i, 600))
        if code != 250:
            break
    else:
        raise AssertionError("Dovecot 2.4 never refused a delivery to a 4 KiB mailbox")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


def kib(n):
    return (n + 1023) // 1024


class QuotaClone(unittest.TestCase):
    def test_lmtp_delivery_raises_the_usage_titanctl_shows(self):
        before = used(ALICE[0]) or (0, 0)
        code, text = lmtp_deliver(ALICE[0], message("raise", 3000))
        self.assertEqual(code, 250, text)
        # quota_clone commits before the LMTP reply; no waiting needed, but allow a beat.
        self.assertTrue(STACK.wait_for(lambda: (used(ALICE[0]) or (0, 0))[1] == before[1] + 1, timeout=5),
                        show(ALICE[0]))
        after = used(ALICE[0])
        self.assertGreater(after[0], before[0] + 2900)
        # What quotad stores is Dovecot's own count.
        storage_kib, messages = dovecot_usage(ALICE[0])
        self.assertEqual((kib(after[0]), after[1]), (storage_kib, messages))
        self.assertEqual(show(ALICE[0])["storage limit"].split()[0], str(10 * 1024 * 1024))

    def test_imap_expunge_lowers_the_usage(self):
        self.assertEqual(lmtp_deliver(ROOMY[0], message("keep", 1000))[0], 250)
        self.assertEqual(lmtp_deliver(ROOMY[0], message("drop", 5000))[0], 250)
        with_both = used(ROOMY[0])
        import imaplib
        conn = imaplib.IMAP4("127.0.0.1", PORTS["imap"], timeout=20)
        try:
            conn.login(*ROOMY)
            conn.select("INBOX")
            typ, data = conn.search(None, 'SUBJECT "drop"')
            ids = data[0].split()
            self.assertTrue(ids)
            conn.store(ids[-1], "+FLAGS", "\\Deleted")
            conn.expunge()
        finally:
            conn.logout()
        self.assertTrue(STACK.wait_for(lambda: used(ROOMY[0])[1] == with_both[1] - 1, timeout=5), show(ROOMY[0]))
        self.assertLess(used(ROOMY[0])[0], with_both[0] - 4900)

    def test_the_filled_mailbox_is_at_its_limit_in_quotad(self):
        storage, _ = used(FULL[0])
        self.assertGreaterEqual(storage, 4096)
        self.assertEqual(kib(storage), dovecot_usage(FULL[0])[0])

    def test_quotad_speaks_dict_protocol_4_without_errors(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % QUOTAD_METRICS, timeout=5) as r:
            text = r.read().decode()
        m = re.search(r'^quotad_dict_requests_total\{kind="commit",result="ok"\} (\S+)$', text, re.M)
        self.assertTrue(m and float(m.group(1)) > 0, "no dict commit reached quotad")
        m = re.search(r"^quotad_dict_protocol_errors_total (\S+)$", text, re.M)
        self.assertEqual(float(m.group(1)) if m else 0.0, 0.0)
        self.assertNotIn("dict protocol error", QUOTAD.read_log())
        self.assertNotRegex(STACK.dovecot_log(), r"(?i)quota_clone.*(fail|error)")


class PostfixRcptPolicy(unittest.TestCase):
    def test_over_quota_mailbox_refused_with_452_by_postfix_310(self):
        self.assertTrue(STACK.env["POSTFIX_VERSION"].startswith("3.10."), STACK.env["POSTFIX_VERSION"])
        code, text = rcpt(FULL[0])
        self.assertEqual(code, 452, text)
        self.assertIn("4.2.2", text)
        self.assertIn("Mailbox is full", text)
        # The address detail and case do not matter.
        code, text = rcpt("Full+lists@Example.TEST")
        self.assertEqual(code, 452, text)

    def test_under_quota_mailbox_accepted_and_the_delivery_counted(self):
        code, text = rcpt(ALICE[0])
        self.assertEqual(code, 250, text)
        code, text = rcpt(ROOMY[0], size=2 * 1024 * 1024)
        self.assertEqual(code, 552, text)  # announced SIZE above the limit
        before = used(ALICE[0]) or (0, 0)
        p = run(["swaks", "--server", "127.0.0.1", "--port", str(PORTS["smtp"]), "--from", "sender@example.org",
                 "--to", ALICE[0], "--body", "through postfix 3.10", "--timeout", "20"], check=False)
        self.assertIn("250 2.0.0 Ok: queued", p.stdout, p.stdout[-2000:])
        self.assertTrue(STACK.wait_for(lambda: (used(ALICE[0]) or (0, 0))[1] == before[1] + 1, timeout=20),
                        "the delivery through Postfix 3.10 did not reach quotad")


if __name__ == "__main__":
    unittest.main()
