"""A private Titanicarus stack on Dovecot 2.4 and Postfix 3.10 for integration tests:
real MariaDB and titan-authd on the host, Dovecot 2.4.1 and Postfix 3.10 from the
Debian 13 tree (tests/fixtures/debian13-tree.sh) run with chroot, all on loopback.

The tree is built once and cached (about a minute, ~250 MB). When it cannot be built
because the Debian mirror is unreachable, require_tree() raises unittest.SkipTest
with that reason; every other failure is an error.

Servers in the tree see only the tree: their directories live in ROOT/srv/titan/...,
and sockets they must reach (authd's SASL and socketmap listeners) are put there too.
Python standard library only (Debian's /usr/bin/python3). Run as root.
"""
import os
import shutil
import tempfile
import time
import unittest

from titanstack import BUILD, FIXTURES, read_env, run

MIRROR_UNREACHABLE = 3  # debian13-tree.sh's exit code


def require_tree():
    """The Debian 13 tree's path, building it if needed (SkipTest if the mirror is unreachable)."""
    p = run([os.path.join(FIXTURES, "debian13-tree.sh")], check=False, timeout=900)
    if p.returncode == MIRROR_UNREACHABLE:
        raise unittest.SkipTest("Debian 13 tree cannot be built: the Debian mirror is unreachable (%s)"
                                % p.stderr.strip().splitlines()[-1:])
    if p.returncode != 0:
        raise RuntimeError("debian13-tree.sh failed (%d):\n%s\n%s" % (p.returncode, p.stdout, p.stderr))
    return p.stdout.strip().splitlines()[-1]


class Stack24:
    """MariaDB + titan-authd (HTTP API, SASL and socketmap on sockets inside the tree) +
    Dovecot 2.4 (+ Postfix 3.10). Ports are the caller's."""

    def __init__(self, ports, cache_ttl="60s", stale_if_error="1h", negative_ttl="5s", with_postfix=True,
                 authd_env=None, dovecot_env=None, postfix_env=None):
        self.ports = ports  # db, http, metrics, imap, pop3, smtp, submission
        self.root = require_tree()
        host = tempfile.mkdtemp(prefix="titan-it24-", dir="/tmp")
        os.chmod(host, 0o755)
        inside = tempfile.mkdtemp(prefix="it24-", dir=os.path.join(self.root, "srv", "titan"))
        os.chmod(inside, 0o755)
        self.dir = host
        self.tree_dir = inside
        self.db_dir = os.path.join(host, "mariadb")
        self.authd_dir = os.path.join(host, "authd")
        self.dovecot_dir = os.path.join(inside, "dovecot")
        self.postfix_dir = os.path.join(inside, "postfix")
        self.mail_root = os.path.join(self.dovecot_dir, "mail")
        self.sasl_socket = os.path.join(inside, "authd-sasl.sock")
        self.socketmap_socket = os.path.join(inside, "authd-socketmap.sock")
        # The Lua script authenticates to authd's /dovecot/* endpoints with this secret.
        self.http_key = "it24-" + os.urandom(12).hex()
        self.cache_ttl = cache_ttl
        self.stale_if_error = stale_if_error
        self.negative_ttl = negative_ttl
        self.with_postfix = with_postfix
        self.authd_env = dict(authd_env or {})
        self.dovecot_env = dict(dovecot_env or {})
        self.postfix_env = dict(postfix_env or {})
        self.env = {}

    def in_tree(self, path):
        """A host path below the tree as the servers in the tree see it."""
        return "/" + os.path.relpath(path, self.root)

    # ---- lifecycle -----------------------------------------------------------------
    def start(self):
        try:
            self.db_up()
            self.authd_up()
            self.ctl("db", "migrate")
            self.dovecot_up()
            if self.with_postfix:
                self.postfix_up()
        except Exception:
            self.stop()
            raise
        return self

    def stop(self, purge=None):
        downs = [("postfix310-down.sh", self.postfix_dir), ("dovecot24-down.sh", self.dovecot_dir),
                 ("authd-down.sh", self.authd_dir), ("mariadb-down.sh", self.db_dir)]
        for script, d in downs:
            if os.path.isdir(d):
                run([os.path.join(FIXTURES, script), d], check=False)
        if purge is None:
            purge = os.environ.get("TITAN_KEEP_TEST_DIR") != "1"
        if purge:
            shutil.rmtree(self.dir, ignore_errors=True)
            shutil.rmtree(self.tree_dir, ignore_errors=True)

    def db_up(self):
        run([os.path.join(FIXTURES, "mariadb-up.sh"), self.db_dir, str(self.ports["db"])])
        self.env.update(read_env(os.path.join(self.db_dir, "env")))

    def db_down(self):
        run([os.path.join(FIXTURES, "mariadb-down.sh"), self.db_dir])

    def tree_ids(self, name):
        uid = run(["chroot", self.root, "id", "-u", name]).stdout.strip()
        gid = run(["chroot", self.root, "id", "-g", name]).stdout.strip()
        return uid, gid

    def authd_up(self):
        uid, gid = self.tree_ids("vmail")
        extra = os.path.join(self.dir, "authd-extra.yaml")
        with open(extra, "w") as f:
            # Postfix in the tree reaches authd through sockets inside the tree.
            f.write("sasl:\n  listen:\n    - path: %s\n      mode: \"0666\"\n"
                    "  failure_delay: 0s\n" % self.sasl_socket)
            f.write("socketmap:\n  listen:\n    - path: %s\n      mode: \"0666\"\n" % self.socketmap_socket)
        key_file = os.path.join(self.dir, "dovecot24.key")
        with open(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(self.http_key + "\n")
        env = {"TITAN_BIN": BUILD, "DB_DIR": self.db_dir, "CACHE_TTL": self.cache_ttl,
               "NEGATIVE_TTL": self.negative_ttl, "STALE_IF_ERROR": self.stale_if_error,
               "METRICS_PORT": str(self.ports["metrics"]), "HTTP_PORT": str(self.ports["http"]),
               "HOME_ROOT": self.in_tree(self.mail_root), "DEFAULT_UID": uid, "DEFAULT_GID": gid,
               "EXTRA_YAML": extra, "HTTP_DOVECOT_KEY_FILE": key_file}
        env.update(self.authd_env)
        run([os.path.join(FIXTURES, "authd-up.sh"), self.authd_dir], env=env)
        self.env.update(read_env(os.path.join(self.authd_dir, "env")))

    def authd_down(self):
        run([os.path.join(FIXTURES, "authd-down.sh"), self.authd_dir])

    def dovecot_up(self):
        env = {"AUTHD_HTTP_URL": "http://127.0.0.1:%d" % self.ports["http"], "IMAP_PORT": str(self.ports["imap"]),
               "POP3_PORT": str(self.ports["pop3"]), "NAME": "titan-it24", "DEBIAN13_ROOT": self.root,
               "AUTHD_HTTP_KEY": self.http_key}
        env.update(self.dovecot_env)
        run([os.path.join(FIXTURES, "dovecot24-up.sh"), self.dovecot_dir], env=env)
        self.env.update(read_env(os.path.join(self.dovecot_dir, "env")))

    def postfix_up(self):
        env = {"LMTP": self.env["DOVECOT_LMTP_IN"], "SMTP_PORT": str(self.ports["smtp"]),
               "SUBMISSION_PORT": str(self.ports["submission"]), "SASL": self.in_tree(self.sasl_socket),
               "SOCKETMAP": self.in_tree(self.socketmap_socket), "DEBIAN13_ROOT": self.root}
        env.update(self.postfix_env)
        run([os.path.join(FIXTURES, "postfix310-up.sh"), self.postfix_dir], env=env)
        self.env.update(read_env(os.path.join(self.postfix_dir, "env")))

    # ---- helpers -------------------------------------------------------------------
    def ctl(self, *args, password=None, check=True):
        cmd = [self.env["TITANCTL"], "--config", self.env["AUTHD_CONFIG"]] + list(args)
        return run(cmd, input=(password + "\n") if password is not None else "", check=check)

    def add_user(self, user, password, *options):
        return self.ctl("user", "add", user, *options, password=password)

    def authd_pid(self):
        with open(os.path.join(self.authd_dir, "authd.pid")) as f:
            return int(f.read().strip())

    def authd_log(self):
        with open(self.env["AUTHD_LOG"], errors="replace") as f:
            return f.read()

    def dovecot_log(self):
        with open(self.env["DOVECOT_LOG"], errors="replace") as f:
            return f.read()

    def doveadm(self, *args, check=True):
        """doveadm of the Dovecot 2.4 instance, run inside the tree."""
        return run(["chroot", self.root, "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                    "doveadm", "-c", self.env["DOVECOT_CONF_IN"]] + list(args), check=check)

    def wait_for(self, predicate, timeout=15.0, interval=0.3):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return True
            time.sleep(interval)
        return predicate()
