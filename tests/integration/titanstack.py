"""A private Titanicarus stack for integration tests: real MariaDB, titan-authd,
Dovecot and Postfix, started with the scripts in tests/fixtures/ under one temporary
directory, on loopback ports that do not clash with the demo's.

Python standard library only (Debian's /usr/bin/python3). Run as root.
"""
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
BUILD = os.environ.get("TITAN_BUILD_DIR", os.path.join(ROOT, "build"))

# Test ports (the demo uses the fixtures' defaults).
DB_PORT = 13506
IMAP_PORT = 11943
POP3_PORT = 11910
SMTP_PORT = 11925
SUBMISSION_PORT = 11587
METRICS_PORT = 19250


def read_env(path):
    """Parse a fixture's DIR/env (NAME=shell-quoted value per line)."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            name, value = line.split("=", 1)
            parts = shlex.split(value) if value else [""]
            env[name] = parts[0] if parts else ""
    return env


def run(cmd, env=None, check=True, input=None, timeout=120):
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    # Output goes to files, not pipes: daemons started by the fixtures inherit the
    # descriptors, and a pipe would then never reach end-of-file.
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        p = subprocess.run(cmd, env=full_env, input=input, stdout=out, stderr=err, text=True, timeout=timeout)
        out.seek(0)
        err.seek(0)
        p.stdout, p.stderr = out.read(), err.read()
    if check and p.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s\n%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return False


class Stack:
    def __init__(self, cache_ttl="60s", stale_if_error="1h", negative_ttl="5s", with_postfix=True,
                 authd_env=None, dovecot_env=None):
        base = tempfile.mkdtemp(prefix="titan-it-", dir="/tmp")
        os.chmod(base, 0o755)
        self.dir = base
        self.db_dir = os.path.join(base, "mariadb")
        self.authd_dir = os.path.join(base, "authd")
        self.dovecot_dir = os.path.join(base, "dovecot")
        self.postfix_dir = os.path.join(base, "postfix")
        self.mail_root = os.path.join(base, "dovecot", "mail")
        self.cache_ttl = cache_ttl
        self.stale_if_error = stale_if_error
        self.negative_ttl = negative_ttl
        self.with_postfix = with_postfix
        self.authd_env = dict(authd_env or {})
        self.dovecot_env = dict(dovecot_env or {})
        self.extra_authd_dirs = []
        self.env = {}

    # ---- lifecycle -----------------------------------------------------------------
    def start(self):
        try:
            self.db_up()
            # Dovecot's fixture creates DIR/mail owned by vmail; homes live below it.
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
        downs = [("postfix-down.sh", self.postfix_dir), ("dovecot-down.sh", self.dovecot_dir),
                 ("authd-down.sh", self.authd_dir)]
        downs += [("authd-down.sh", d) for d in self.extra_authd_dirs]
        downs.append(("mariadb-down.sh", self.db_dir))
        for script, d in downs:
            if os.path.isdir(d):
                run([os.path.join(FIXTURES, script), d], check=False)
        if purge is None:
            purge = os.environ.get("TITAN_KEEP_TEST_DIR") != "1"
        if purge:
            run(["rm", "-rf", self.dir], check=False)

    def db_up(self):
        run([os.path.join(FIXTURES, "mariadb-up.sh"), self.db_dir, str(DB_PORT)])
        self.env.update(read_env(os.path.join(self.db_dir, "env")))

    def db_down(self):
        run([os.path.join(FIXTURES, "mariadb-down.sh"), self.db_dir])

    def authd_up(self):
        env = {"TITAN_BIN": BUILD, "DB_DIR": self.db_dir, "CACHE_TTL": self.cache_ttl,
               "NEGATIVE_TTL": self.negative_ttl, "STALE_IF_ERROR": self.stale_if_error,
               "METRICS_PORT": str(METRICS_PORT), "HOME_ROOT": self.mail_root}
        env.update(self.authd_env)
        run([os.path.join(FIXTURES, "authd-up.sh"), self.authd_dir], env=env)
        self.env.update(read_env(os.path.join(self.authd_dir, "env")))

    def extra_authd(self, name, **env_overrides):
        """Start another titan-authd node on the same database; returns its env."""
        d = os.path.join(self.dir, name)
        self.extra_authd_dirs.append(d)
        env = {"TITAN_BIN": BUILD, "DB_DIR": self.db_dir, "CACHE_TTL": self.cache_ttl,
               "NEGATIVE_TTL": self.negative_ttl, "STALE_IF_ERROR": self.stale_if_error,
               "METRICS_PORT": "", "HOME_ROOT": self.mail_root}
        env.update(self.authd_env)
        env.update(env_overrides)
        run([os.path.join(FIXTURES, "authd-up.sh"), d], env=env)
        return read_env(os.path.join(d, "env"))

    def sql(self, query):
        """Run SQL as the database administrator; returns rows as lists of strings."""
        p = run(["mariadb", "--defaults-file=" + self.env["MARIADB_DEFAULTS"], "--batch", "--skip-column-names",
                 self.env["MARIADB_DATABASE"], "-e", query])
        return [line.split("\t") for line in p.stdout.splitlines()]

    def authd_down(self):
        run([os.path.join(FIXTURES, "authd-down.sh"), self.authd_dir])

    def dovecot_up(self):
        env = {"AUTHD_DICT_SOCKET": self.env["AUTHD_DICT_SOCKET"], "IMAP_PORT": str(IMAP_PORT),
               "POP3_PORT": str(POP3_PORT), "NAME": "titan-it"}
        env.update(self.dovecot_env)
        run([os.path.join(FIXTURES, "dovecot-up.sh"), self.dovecot_dir], env=env)
        self.env.update(read_env(os.path.join(self.dovecot_dir, "env")))

    def postfix_up(self):
        env = {"LMTP": self.env["DOVECOT_LMTP"], "SMTP_PORT": str(SMTP_PORT),
               "SUBMISSION_PORT": str(SUBMISSION_PORT)}
        run([os.path.join(FIXTURES, "postfix-up.sh"), self.postfix_dir], env=env)
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

    def doveadm(self, *args, check=True):
        return run(["doveadm", "-c", self.env["DOVECOT_CONF"]] + list(args), check=check)

    def swaks(self, to, subject, sender="sender@example.org", body="hello"):
        return run(["swaks", "--server", "127.0.0.1", "--port", str(SMTP_PORT), "--from", sender, "--to", to,
                    "--header", "Subject: " + subject, "--body", body, "--timeout", "20"], check=False)

    def dict_connect(self, timeout=5.0):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.env["AUTHD_DICT_SOCKET"])
        return s

    def wait_for(self, predicate, timeout=10.0, interval=0.1):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return True
            time.sleep(interval)
        return predicate()

    def signal_authd(self, sig=signal.SIGHUP):
        os.kill(self.authd_pid(), sig)
