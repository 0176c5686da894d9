"""FTP virtual users end to end: a real ProFTPd 1.3.8 loading mod_titan
(contrib/proftpd), titan-authd answering it over its HTTP API, a real MariaDB.
Logins, chroot, file ownership from SQL, wrong passwords, service flags, scoped app
passwords, fall-through to the next auth module, the shared brute-force budget, and
what FTP clients see when MariaDB or authd go away."""
import ftplib
import io
import json
import os
import urllib.error
import urllib.request
import pwd
import grp
import time
import unittest

from titanstack import FIXTURES, BUILD, Stack, alive, read_env, run

DB_PORT = 14306
FTP_PORT = 14021
PASV_PORTS = "14030 14049"
HTTP_PORT = 19851
METRICS_PORT = 19850
MAX_USER_FAILURES = 5
API_KEY = "ftp-test-key-0123456789abcdef"

FTP_UID = pwd.getpwnam("ftp").pw_uid if "ftp" in [p.pw_name for p in pwd.getpwall()] else pwd.getpwnam("nobody").pw_uid
FTP_GID = grp.getgrnam("nogroup").gr_gid
NOBODY_UID = pwd.getpwnam("nobody").pw_uid

STACK = None


class FtpStack(Stack):
    """MariaDB + titan-authd (HTTP API with ftp enabled) + ProFTPd with mod_titan."""

    def __init__(self):
        super().__init__(cache_ttl="2s", negative_ttl="1s", stale_if_error="1h", with_postfix=False)
        self.ftp_dir = os.path.join(self.dir, "proftpd")
        self.homes = os.path.join(self.ftp_dir, "ftp")
        # The bearer key shared by authd (ftp.key_file) and the module (TitanKeyFile).
        self.key_file = os.path.join(self.dir, "ftp.key")
        with open(os.open(self.key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(API_KEY + "\n")
        self.authd_env = {
            "METRICS_PORT": str(METRICS_PORT), "HTTP_PORT": str(HTTP_PORT), "FTP": "1",
            "FTP_HOME": os.path.join(self.homes, "%d", "%n"), "FTP_UID": str(FTP_UID), "FTP_GID": str(FTP_GID),
            # Every test client is 127.0.0.1: count per user here, not per address.
            "MAX_IP_FAILURES": "10000", "MAX_USER_FAILURES": str(MAX_USER_FAILURES),
            "FTP_KEY_FILE": self.key_file,
        }

    def start(self):
        try:
            self.db_up()
            self.authd_up()
            self.ctl("db", "migrate")
            self.proftpd_up()
        except Exception:
            self.stop()
            raise
        return self

    def stop(self, purge=None):
        if os.path.isdir(self.ftp_dir):
            run([os.path.join(FIXTURES, "proftpd-down.sh"), self.ftp_dir], check=False)
        super().stop(purge)

    def db_up(self):
        run([os.path.join(FIXTURES, "mariadb-up.sh"), self.db_dir, str(DB_PORT)])
        self.env.update(read_env(os.path.join(self.db_dir, "env")))

    def proftpd_up(self):
        env = {"TITAN_BIN": BUILD, "AUTHD_HTTP": "127.0.0.1:%d" % HTTP_PORT, "FTP_PORT": str(FTP_PORT),
               "PASV_PORTS": PASV_PORTS, "LOCAL_USER": "legacy@files.example localftp", "LOCAL_PASSWORD": "legacy-pw",
               "TITAN_TIMEOUT": "3s", "QUOTA": "1", "TITAN_KEY_FILE": self.key_file}
        run([os.path.join(FIXTURES, "proftpd-up.sh"), self.ftp_dir], env=env)
        self.env.update(read_env(os.path.join(self.ftp_dir, "env")))

    def proftpd_pid(self):
        with open(os.path.join(self.ftp_dir, "run", "proftpd.pid")) as f:
            return int(f.read().strip())

    def proftpd_log(self):
        with open(self.env["PROFTPD_LOG"], errors="replace") as f:
            return f.read()


def connect():
    f = ftplib.FTP()
    f.connect("127.0.0.1", FTP_PORT, timeout=15)
    return f


def login(user, password):
    """Log in; returns (ftp, None) or (None, reply text of the refusal)."""
    f = connect()
    try:
        f.login(user, password)
        return f, None
    except ftplib.all_errors as e:
        try:
            f.close()
        except OSError:
            pass
        return None, str(e)


def login_reply(user, password):
    f, err = login(user, password)
    if f is not None:
        f.quit()
        return "230"
    return err


def setUpModule():
    global STACK
    if not os.path.exists("/usr/include/proftpd/conf.h"):
        # Without proftpd-dev the build skips mod_titan (scripts/install-deps.sh installs it).
        raise unittest.SkipTest("proftpd-dev not installed: mod_titan is not built")
    STACK = FtpStack().start()
    STACK.ctl("domain", "add", "example.test")
    STACK.add_user("alice@example.test", "alice-pw", "--ftp", "on")
    STACK.add_user("mailonly@example.test", "mailonly-pw")  # ftp off by default
    STACK.add_user("apps@example.test", "apps-main-pw", "--ftp", "on")
    STACK.add_user("owned@example.test", "owned-pw", "--ftp", "on")
    STACK.add_user("rooty@example.test", "rooty-pw", "--ftp", "on")
    STACK.add_user("victim@example.test", "victim-pw", "--ftp", "on")
    STACK.add_user("cached@example.test", "cached-pw", "--ftp", "on")
    STACK.add_user("steady@example.test", "steady-pw", "--ftp", "on")
    STACK.add_user("quota@example.test", "quota-pw", "--ftp", "on")


def tearDownModule():
    if STACK is not None:
        STACK.stop()


class FtpTests(unittest.TestCase):
    def test_01_login_chroot_upload_download(self):
        # The name as typed does not matter: one canonical user, one home.
        f, err = login("Alice@Example.TEST", "alice-pw")
        self.assertIsNone(err)
        try:
            self.assertEqual(f.pwd(), "/")  # chrooted to the home
            payload = b"titan ftp upload\n" * 100
            f.storbinary("STOR report.txt", io.BytesIO(payload))
            self.assertIn("report.txt", f.nlst())
            got = io.BytesIO()
            f.retrbinary("RETR report.txt", got.write)
            self.assertEqual(got.getvalue(), payload)
            with self.assertRaises(ftplib.error_perm):
                f.cwd("../../etc")  # nothing above the home is reachable
        finally:
            f.quit()
        home = os.path.join(STACK.homes, "example.test", "alice")
        path = os.path.join(home, "report.txt")
        with open(path, "rb") as fh:
            self.assertEqual(fh.read(), payload)
        st = os.stat(path)
        self.assertEqual((st.st_uid, st.st_gid), (FTP_UID, FTP_GID))
        st = os.stat(home)  # created at the first login, owned by the user
        self.assertEqual((st.st_uid, st.st_gid), (FTP_UID, FTP_GID))

    def test_01b_routes_need_the_key(self):
        def lookup(headers):
            req = urllib.request.Request("http://127.0.0.1:%d/ftp/v1/lookup" % HTTP_PORT, method="POST",
                                         data=b'{"user":"alice@example.test"}', headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())
        self.assertEqual(lookup({})[0], 401)
        self.assertEqual(lookup({"Authorization": "Bearer wrong-key"})[0], 401)
        status, body = lookup({"Authorization": "Bearer " + API_KEY})
        self.assertEqual(status, 200)
        self.assertEqual(body["status"], "found")
        self.assertEqual((body["uid"], body["gid"]), (FTP_UID, FTP_GID))

    def test_02_wrong_password_is_530(self):
        reply = login_reply("alice@example.test", "not-the-password")
        self.assertTrue(reply.startswith("530"), reply)
        self.assertEqual(login_reply("alice@example.test", "alice-pw"), "230")

    def test_03_ftp_disabled_mailbox_refused(self):
        reply = login_reply("mailonly@example.test", "mailonly-pw")
        self.assertTrue(reply.startswith("530"), reply)
        STACK.ctl("user", "set", "mailonly@example.test", "--ftp", "on")
        self.assertTrue(STACK.wait_for(lambda: login_reply("mailonly@example.test", "mailonly-pw") == "230",
                                       timeout=10, interval=0.3))
        STACK.ctl("user", "disable", "mailonly@example.test")
        self.assertTrue(STACK.wait_for(
            lambda: login_reply("mailonly@example.test", "mailonly-pw").startswith("530"), timeout=10, interval=0.3))

    def test_04_app_passwords_scoped_to_ftp(self):
        def add(name, services):
            out = STACK.ctl("app-password", "add", "apps@example.test", name, "--services", services).stdout
            return out.splitlines()[0].rsplit(" ", 1)[-1]
        ftp_secret = add("deploy", "ftp")
        smtp_secret = add("phone", "smtp")
        self.assertEqual(login_reply("apps@example.test", ftp_secret), "230")
        reply = login_reply("apps@example.test", smtp_secret)
        self.assertTrue(reply.startswith("530"), reply)
        self.assertEqual(login_reply("apps@example.test", "apps-main-pw"), "230")

    def test_05_unknown_user_falls_through_to_next_module(self):
        # Not a mailbox: mod_titan declines, mod_auth_file (next in AuthOrder) answers.
        f, err = login("legacy@files.example", "legacy-pw")
        self.assertIsNone(err)
        try:
            self.assertEqual(f.pwd(), "/")
            f.storbinary("STOR legacy.txt", io.BytesIO(b"from the file module\n"))
        finally:
            f.quit()
        self.assertTrue(os.path.exists(os.path.join(STACK.homes, "local", "legacy.txt")))
        reply = login_reply("legacy@files.example", "wrong")
        self.assertTrue(reply.startswith("530"), reply)
        # A name nobody knows is refused, not an error.
        reply = login_reply("ghost@example.test", "whatever")
        self.assertTrue(reply.startswith("530"), reply)

    def test_06_home_uid_gid_from_sql(self):
        home = os.path.join(STACK.homes, "custom", "owned-site")
        STACK.ctl("ftp", "set", "owned@example.test", "--home", home, "--uid", str(NOBODY_UID),
                  "--gid", "nogroup")
        f = None
        deadline = time.time() + 10
        while time.time() < deadline:
            f, err = login("owned@example.test", "owned-pw")
            self.assertIsNone(err)
            if os.path.isdir(home):
                break
            f.quit()
            f = None
            time.sleep(0.3)
        self.assertIsNotNone(f, "the SQL home was never used")
        try:
            f.storbinary("STOR site.html", io.BytesIO(b"<p>hello</p>\n"))
        finally:
            f.quit()
        st = os.stat(os.path.join(home, "site.html"))
        self.assertEqual((st.st_uid, st.st_gid), (NOBODY_UID, FTP_GID))

    def test_07_root_or_system_uid_never_used(self):
        STACK.sql("INSERT INTO ftp_accounts (mailbox_id, uid, gid) SELECT id, 0, 0 FROM mailboxes"
                  " WHERE username = 'rooty@example.test'")
        self.assertTrue(STACK.wait_for(lambda: login_reply("rooty@example.test", "rooty-pw").startswith("530"),
                                       timeout=10, interval=0.3))
        self.assertIn("ftp account unusable", STACK.authd_log())

    def test_08_failures_count_in_the_shared_budget(self):
        for _ in range(MAX_USER_FAILURES):
            reply = login_reply("victim@example.test", "guess")
            self.assertTrue(reply.startswith("530"), reply)
        # The budget is spent: even the right password is refused, as a temporary error.
        reply = login_reply("victim@example.test", "victim-pw")
        self.assertTrue(reply.startswith("421"), reply)
        # Counted in MariaDB, where every authd node and every protocol shares the budget.
        def shared_failures():
            rows = STACK.sql("SELECT failures FROM auth_failures WHERE scope = 'user'"
                             " AND subject = 'victim@example.test'")
            return int(rows[0][0]) if rows else 0
        self.assertTrue(STACK.wait_for(lambda: shared_failures() >= MAX_USER_FAILURES, timeout=5))
        self.assertTrue(STACK.wait_for(lambda: int(STACK.sql(
            "SELECT COUNT(*) FROM auth_events WHERE service = 'ftp' AND username = 'victim@example.test'"
            " AND result = 'failed'")[0][0]) >= MAX_USER_FAILURES, timeout=5))

    def test_08b_transfer_limits_and_shared_tally(self):
        # mod_quotatab with "QuotaLimitTable titan:" / "QuotaTallyTable titan:".
        # (mod_quotatab counts only what has a limit: 0 is unlimited and not tallied.)
        STACK.ctl("ftp", "set", "quota@example.test", "--files-in", "2", "--bytes-in", "1M")
        f, err = login("quota@example.test", "quota-pw")
        self.assertIsNone(err)
        try:
            f.storbinary("STOR one.bin", io.BytesIO(b"1" * 1000))
            f.storbinary("STOR two.bin", io.BytesIO(b"2" * 500))
            with self.assertRaises(ftplib.error_perm) as ctx:
                f.storbinary("STOR three.bin", io.BytesIO(b"3" * 10))
            self.assertTrue(str(ctx.exception).startswith("552"), str(ctx.exception))
        finally:
            f.quit()
        rows = STACK.sql("SELECT files_in_used, bytes_in_used FROM ftp_quota_tallies"
                         " WHERE username = 'quota@example.test'")
        self.assertEqual(rows, [["2", "1500"]])
        # The tally is shared: a new session (any server) starts from it.
        f, err = login("quota@example.test", "quota-pw")
        self.assertIsNone(err)
        try:
            with self.assertRaises(ftplib.error_perm):
                f.storbinary("STOR four.bin", io.BytesIO(b"4"))
            f.delete("one.bin")  # deleting an upload gives it back
            f.storbinary("STOR five.bin", io.BytesIO(b"5" * 10))
        finally:
            f.quit()
        self.assertFalse(os.path.exists(os.path.join(STACK.homes, "example.test", "quota", "three.bin")))
        shown = STACK.ctl("ftp", "show", "quota@example.test").stdout
        self.assertIn("files in 2", shown)
        self.assertIn("files in 2, out 0", shown)  # the tally: 2 - 1 deleted + 1
        # Users without limits are not counted at all.
        self.assertEqual(STACK.sql("SELECT COUNT(*) FROM ftp_quota_tallies WHERE username = 'alice@example.test'"),
                         [["0"]])

    def test_09_database_down_cached_user_in_unknown_refused(self):
        self.assertEqual(login_reply("cached@example.test", "cached-pw"), "230")
        STACK.db_down()
        try:
            time.sleep(2.5)  # past the cache TTL: stale-if-error keeps the user working
            self.assertEqual(login_reply("cached@example.test", "cached-pw"), "230")
            reply = login_reply("cached@example.test", "wrong")
            self.assertTrue(reply.startswith("530"), reply)
            # Unknown to the cache: "try again later", never a login and never "wrong password".
            reply = login_reply("stranger@example.test", "whatever")
            self.assertTrue(reply.startswith("421"), reply)
            self.assertTrue(alive(STACK.authd_pid()))
            self.assertTrue(alive(STACK.proftpd_pid()))
        finally:
            STACK.db_up()
        self.assertTrue(STACK.wait_for(lambda: login_reply("steady@example.test", "steady-pw") == "230",
                                       timeout=15, interval=0.5))

    def test_10_authd_down_login_fails_cleanly(self):
        self.assertEqual(login_reply("steady@example.test", "steady-pw"), "230")
        pid = STACK.proftpd_pid()
        STACK.authd_down()
        try:
            started = time.time()
            reply = login_reply("steady@example.test", "steady-pw")
            self.assertTrue(reply.startswith("421"), reply)
            self.assertLess(time.time() - started, 10)
            # Names without '@' are never virtual users: local accounts do not depend on authd.
            self.assertEqual(login_reply("localftp", "legacy-pw"), "230")
            # A name with '@' might be a mailbox: refused until authd can say, never guessed.
            reply = login_reply("legacy@files.example", "legacy-pw")
            self.assertTrue(reply.startswith("421"), reply)
            self.assertTrue(alive(pid))
            self.assertIn("cannot connect to titan-authd", STACK.proftpd_log())
        finally:
            STACK.authd_up()
        self.assertTrue(STACK.wait_for(lambda: login_reply("steady@example.test", "steady-pw") == "230",
                                       timeout=10, interval=0.3))
        self.assertEqual(STACK.proftpd_pid(), pid)


if __name__ == "__main__":
    unittest.main()
