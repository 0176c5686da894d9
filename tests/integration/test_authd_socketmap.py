"""titan-authd's Postfix socketmap maps seen from outside: a real Postfix asks authd's
socketmap for virtual_mailbox_domains, virtual_mailbox_maps, virtual_alias_maps and
smtpd_sender_login_maps, delivers over LMTP to a real Dovecot (which asks authd's dict),
and the mail is read back over IMAP. MariaDB holds the domains, mailboxes, aliases,
alias domains and sender grants. Also: the socketmap protocol spoken directly, and a
MariaDB outage (451 for an uncached address, not 550)."""
import imaplib
import os
import socket
import time
import unittest
import uuid

import titanstack
from titanstack import FIXTURES, read_env, run

# Ports of this module (loopback only).
DB_PORT = 14106
SMTP_PORT = 14125
SUBMISSION_PORT = 14187
IMAP_PORT = 14243
POP3_PORT = 14210
METRICS_PORT = 19750

STACK = None


class SocketmapStack(titanstack.Stack):
    """The shared stack on this module's ports, with authd's socketmap feeding Postfix."""

    def db_up(self):
        run([os.path.join(FIXTURES, "mariadb-up.sh"), self.db_dir, str(DB_PORT)])
        self.env.update(read_env(os.path.join(self.db_dir, "env")))

    def authd_up(self):
        self.authd_env.update({"SOCKETMAP": "1", "METRICS_PORT": str(METRICS_PORT)})
        super().authd_up()

    def dovecot_up(self):
        self.dovecot_env.update({"IMAP_PORT": str(IMAP_PORT), "POP3_PORT": str(POP3_PORT), "NAME": "titan-smap"})
        super().dovecot_up()

    def postfix_up(self):
        sock = self.env["AUTHD_SOCKETMAP_SOCKET"]
        env = {"LMTP": self.env["DOVECOT_LMTP"], "SMTP_PORT": str(SMTP_PORT),
               "SUBMISSION_PORT": str(SUBMISSION_PORT), "SOCKETMAP": sock,
               "SASL": self.env["DOVECOT_AUTH_CLIENT"],
               "SENDER_LOGIN_MAPS": "socketmap:unix:%s:senders" % sock}
        run([os.path.join(FIXTURES, "postfix-up.sh"), self.postfix_dir], env=env)
        self.env.update(read_env(os.path.join(self.postfix_dir, "env")))

    def smtp(self, to, *extra, port=SMTP_PORT, sender="sender@example.org", subject="test"):
        return run(["swaks", "--server", "127.0.0.1", "--port", str(port), "--from", sender, "--to", to,
                    "--header", "Subject: " + subject, "--timeout", "20"] + list(extra), check=False)


def netstring(payload):
    return b"%d:%s," % (len(payload), payload)


class SocketmapClient:
    """A socketmap client speaking like Postfix: one request at a time."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.buf = b""

    def raw(self, data):
        self.sock.sendall(data)
        return self.reply()

    def reply(self):
        while True:
            colon = self.buf.find(b":")
            if colon > 0:
                size = int(self.buf[:colon])
                end = colon + 1 + size
                if len(self.buf) > end:
                    assert self.buf[end:end + 1] == b",", self.buf
                    payload, self.buf = self.buf[colon + 1:end], self.buf[end + 1:]
                    return payload.decode()
            chunk = self.sock.recv(65536)
            if not chunk:
                return None  # closed
            self.buf += chunk

    def lookup(self, name, key):
        return self.raw(netstring(("%s %s" % (name, key)).encode()))

    def close(self):
        self.sock.close()


def imap_subjects(user, password, mailbox="INBOX"):
    conn = imaplib.IMAP4("127.0.0.1", IMAP_PORT, timeout=15)
    try:
        conn.login(user, password)
        conn.select(mailbox, readonly=True)
        typ, data = conn.search(None, "ALL")
        subjects = []
        for num in data[0].split():
            typ, msg = conn.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            subjects.append(msg[0][1].decode(errors="replace").strip())
        conn.logout()
        return subjects
    except imaplib.IMAP4.error:
        conn.shutdown()
        raise


def wait_for_mail(user, password, subject, timeout=15.0):
    want = "Subject: " + subject
    deadline = time.time() + timeout
    while True:
        if want in imap_subjects(user, password):
            return True
        if time.time() > deadline:
            return False
        time.sleep(0.2)


def unique(tag):
    return "%s %s" % (tag, uuid.uuid4().hex[:12])


def setUpModule():
    global STACK
    # Short TTLs: the outage test then crosses into stale-if-error quickly.
    STACK = SocketmapStack(cache_ttl="2s", negative_ttl="1s", stale_if_error="1h").start()
    STACK.ctl("domain", "add", "example.test")
    STACK.ctl("domain", "add", "catch.test")
    STACK.add_user("bob@example.test", "bob-pw")
    STACK.add_user("alice@example.test", "alice-pw")
    STACK.add_user("carol@example.test", "carol-pw")
    STACK.add_user("info@catch.test", "info-pw")
    STACK.ctl("alias", "add", "Sales@Example.test", "alice@example.test", "bob@example.test")
    STACK.ctl("alias", "add", "@catch.test", "info@catch.test")
    STACK.ctl("alias-domain", "add", "alias.test", "example.test")
    STACK.ctl("sender", "add", "newsletter@example.test", "carol@example.test")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class SocketmapProtocolTests(unittest.TestCase):
    """The four maps, spoken directly on authd's socket."""

    def setUp(self):
        self.client = SocketmapClient(STACK.env["AUTHD_SOCKETMAP_SOCKET"])

    def tearDown(self):
        self.client.close()

    def test_maps(self):
        cases = [
            ("domains", "Example.TEST", "OK example.test"),
            ("domains", "alias.test", "OK alias.test"),
            ("domains", "remote.test", "NOTFOUND "),
            ("mailboxes", "BOB@example.test", "OK bob@example.test"),
            ("mailboxes", "bob+tag@example.test", "OK bob@example.test"),
            ("mailboxes", "nobody@example.test", "NOTFOUND "),
            ("aliases", "sales@example.test", "OK alice@example.test,bob@example.test"),
            ("aliases", "sales+x@example.test", "OK alice+x@example.test,bob+x@example.test"),
            ("aliases", "bob@example.test", "NOTFOUND "),
            ("aliases", "whoever@catch.test", "OK info@catch.test"),
            ("aliases", "info@catch.test", "OK info@catch.test"),
            ("aliases", "bob@alias.test", "OK bob@example.test"),
            ("aliases", "nobody@alias.test", "NOTFOUND "),
            ("senders", "bob@example.test", "OK bob@example.test"),
            ("senders", "sales@example.test", "OK alice@example.test,bob@example.test"),
            ("senders", "newsletter@example.test", "OK carol@example.test"),
            ("senders", "bob@alias.test", "OK bob@example.test"),
            ("senders", "stranger@remote.test", "NOTFOUND "),
            ("aliases", "not an address", "NOTFOUND "),
        ]
        for name, key, want in cases:
            with self.subTest(map=name, key=key):
                self.assertEqual(self.client.lookup(name, key), want)

    def test_bad_requests_get_perm_and_the_connection_stays(self):
        self.assertEqual(self.client.lookup("virtual", "bob@example.test"), "PERM unknown map name")
        self.assertEqual(self.client.raw(netstring(b"no-space")), "PERM no space between map name and key")
        self.assertEqual(self.client.lookup("mailboxes", "bob@example.test"), "OK bob@example.test")

    def test_broken_framing_is_a_disconnect(self):
        self.assertIsNone(self.client.raw(b"GET / HTTP/1.0\r\n\r\n"))
        other = SocketmapClient(STACK.env["AUTHD_SOCKETMAP_SOCKET"])
        try:
            self.assertIsNone(other.raw(b"99999999:"))  # over the request size limit
        finally:
            other.close()
        self.assertIn("malformed framing, disconnecting", STACK.authd_log())


class TitanctlTests(unittest.TestCase):
    """The map rows as titanctl shows and changes them; authd sees changes at once."""

    def test_list_and_change(self):
        self.assertIn("sales@example.test -> alice@example.test", STACK.ctl("alias", "list", "example.test").stdout)
        self.assertIn("alias.test -> example.test", STACK.ctl("alias-domain", "list").stdout)
        self.assertIn("newsletter@example.test <- carol@example.test", STACK.ctl("sender", "list").stdout)
        self.assertNotEqual(STACK.ctl("alias-domain", "add", "example.test", "catch.test", check=False).returncode, 0)
        self.assertNotEqual(STACK.ctl("alias", "add", "x@unknown.test", "bob@example.test", check=False).returncode, 0)
        client = SocketmapClient(STACK.env["AUTHD_SOCKETMAP_SOCKET"])
        try:
            self.assertEqual(client.lookup("aliases", "help@example.test"), "NOTFOUND ")  # now cached
            STACK.ctl("alias", "add", "help@example.test", "carol@example.test")
            # titanctl flushed authd's map cache: no waiting for the negative TTL.
            self.assertEqual(client.lookup("aliases", "help@example.test"), "OK carol@example.test")
            STACK.ctl("alias", "delete", "help@example.test")
            self.assertEqual(client.lookup("aliases", "help@example.test"), "NOTFOUND ")
        finally:
            client.close()


    def test_mailbox_changes_in_sql_reach_the_maps_at_once(self):
        STACK.add_user("dave@example.test", "dave-pw")
        client = SocketmapClient(STACK.env["AUTHD_SOCKETMAP_SOCKET"])
        try:
            self.assertEqual(client.lookup("mailboxes", "dave@example.test"), "OK dave@example.test")
            started = time.time()
            STACK.sql("UPDATE mailboxes SET active = 0 WHERE username = 'dave@example.test'")
            # authd follows auth_changes every 250 ms here; the positive TTL is 2 s.
            self.assertTrue(STACK.wait_for(
                lambda: client.lookup("mailboxes", "dave@example.test") == "NOTFOUND ", timeout=5, interval=0.05))
            self.assertLess(time.time() - started, 1.5)
        finally:
            client.close()


class PostfixTests(unittest.TestCase):
    """Postfix recipient validation, alias expansion and sender checks through authd."""

    def test_rcpt_unknown_is_550_known_is_250(self):
        r = STACK.smtp("nobody@example.test", "--quit-after", "RCPT")
        self.assertIn("550 5.1.1 <nobody@example.test>", r.stdout)
        self.assertIn("User unknown in virtual mailbox table", r.stdout)
        r = STACK.smtp("BOB@Example.TEST", "--quit-after", "RCPT")
        self.assertIn("250 2.1.5 Ok", r.stdout)
        # Not ours: refused permanently by Postfix itself, no lookup error.
        r = STACK.smtp("someone@remote.test", "--quit-after", "RCPT")
        self.assertRegex(r.stdout, r"<\*\* 5\d\d ")

    def test_alias_delivers_to_every_target(self):
        subject = unique("alias")
        r = STACK.smtp("sales@example.test", subject=subject)
        self.assertIn("250 2.0.0 Ok: queued", r.stdout)
        self.assertTrue(wait_for_mail("alice@example.test", "alice-pw", subject), STACK.env["POSTFIX_LOG"])
        self.assertTrue(wait_for_mail("bob@example.test", "bob-pw", subject))

    def test_detail_is_delivered_to_the_mailbox(self):
        subject = unique("detail")
        r = STACK.smtp("bob+lists@example.test", subject=subject)
        self.assertIn("250 2.0.0 Ok: queued", r.stdout)
        self.assertTrue(wait_for_mail("bob@example.test", "bob-pw", subject))

    def test_catch_all_and_mailbox_in_a_catch_all_domain(self):
        subject = unique("catchall")
        r = STACK.smtp("anything@catch.test", subject=subject)
        self.assertIn("250 2.0.0 Ok: queued", r.stdout)
        self.assertTrue(wait_for_mail("info@catch.test", "info-pw", subject))

    def test_alias_domain(self):
        subject = unique("aliasdomain")
        r = STACK.smtp("carol@alias.test", subject=subject)
        self.assertIn("250 2.0.0 Ok: queued", r.stdout)
        self.assertTrue(wait_for_mail("carol@example.test", "carol-pw", subject))
        r = STACK.smtp("nobody@alias.test", "--quit-after", "RCPT")
        self.assertIn("550 5.1.1 <nobody@alias.test>", r.stdout)

    def test_sender_login_mismatch_is_rejected(self):
        auth = ["--auth", "PLAIN", "--auth-user", "bob@example.test", "--auth-password", "bob-pw",
                "--quit-after", "RCPT"]
        own = STACK.smtp("alice@example.test", *auth, port=SUBMISSION_PORT, sender="bob@example.test")
        self.assertIn("235 2.7.0 Authentication successful", own.stdout)
        self.assertIn("250 2.1.5 Ok", own.stdout)
        # bob receives mail for sales@, so he may send as sales@ too.
        alias = STACK.smtp("alice@example.test", *auth, port=SUBMISSION_PORT, sender="sales@example.test")
        self.assertIn("250 2.1.5 Ok", alias.stdout)
        # Another user's address: Postfix rejects it through the senders map.
        other = STACK.smtp("alice@example.test", *auth, port=SUBMISSION_PORT, sender="alice@example.test")
        self.assertIn("553 5.7.1 <alice@example.test>: Sender address rejected: not owned by user bob@example.test",
                      other.stdout)
        # An explicit grant in sender_logins.
        carol = ["--auth", "PLAIN", "--auth-user", "carol@example.test", "--auth-password", "carol-pw",
                 "--quit-after", "RCPT"]
        granted = STACK.smtp("alice@example.test", *carol, port=SUBMISSION_PORT, sender="newsletter@example.test")
        self.assertIn("250 2.1.5 Ok", granted.stdout)
        denied = STACK.smtp("alice@example.test", *auth, port=SUBMISSION_PORT, sender="newsletter@example.test")
        self.assertIn("553 5.7.1", denied.stdout)


class ZOutageTests(unittest.TestCase):
    """Runs last (unittest orders classes by name): stops and restarts MariaDB."""

    def test_database_down_gives_451_not_550(self):
        # Known recipient, looked up while the database is up.
        self.assertIn("250 2.1.5 Ok", STACK.smtp("bob@example.test", "--quit-after", "RCPT").stdout)
        STACK.db_down()
        try:
            time.sleep(2.2)  # past the 2 s TTL: the refetch fails, stale-if-error answers
            never_seen = STACK.smtp("never-seen@example.test", "--quit-after", "RCPT")
            self.assertIn("451 4.3.0 <never-seen@example.test>", never_seen.stdout)
            self.assertNotIn("550", never_seen.stdout)
            known = STACK.smtp("bob@example.test", "--quit-after", "RCPT")
            self.assertIn("250 2.1.5 Ok", known.stdout)
            client = SocketmapClient(STACK.env["AUTHD_SOCKETMAP_SOCKET"])
            try:
                self.assertTrue(client.lookup("mailboxes", "unseen@example.test").startswith("TEMP "))
            finally:
                client.close()
        finally:
            STACK.db_up()
        # Back: new rows are answered without restarting authd.
        STACK.add_user("newcomer@example.test", "newcomer-pw")
        self.assertTrue(STACK.wait_for(
            lambda: "250 2.1.5 Ok" in STACK.smtp("newcomer@example.test", "--quit-after", "RCPT").stdout,
            timeout=15, interval=0.5))


if __name__ == "__main__":
    unittest.main()
