"""Authentication and per-tube permissions (issue 15 items 3-5, docs/security.md), against
the real synqd on 127.0.0.1.

The users file's hashes are made here with Python's hashlib, not with synqd's own code, so a
wrong PBKDF2 in either would show; one test also checks that `synq passwd` makes hashes
hashlib agrees with. What is covered: every command before `auth`, wrong passwords, the
brute-force limit, a table of every command against every right, list-tubes filtering, the
users file's errors with file and line, client certificates as users over TLS, the refusal to
listen on a non-loopback address without authentication, and the metrics bearer token."""

import base64
import hashlib
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402

ITERATIONS = 1000  # the lowest synqd takes: the tests authenticate hundreds of times
SALT = b"0123456789abcdef"


def pbkdf2_hash(password, iterations=ITERATIONS, salt=SALT):
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return "pbkdf2-sha256$%d$%s$%s" % (iterations, base64.b64encode(salt).decode(),
                                       base64.b64encode(key).decode())


def bin_path(name):
    return os.path.join(os.environ["SQ_BIN_DIR"], name)


def pw(user):
    return "pw of " + user  # with spaces: the password is the rest of the line


# One user per right on the tubes t* (t and t2), one with every right everywhere, one with
# rights only elsewhere.
RIGHT_USERS = {"put": "p", "reserve": "r", "peek": "k", "admin": "a"}
USERS = """# test users
root %(root)s *:all
nobody %(nobody)s elsewhere:all
p %(p)s t*:put
r %(r)s t*:reserve
k %(k)s t*:peek
a %(a)s t*:admin
certonly - t*:peek
"""


def users_text():
    return USERS % {u: pbkdf2_hash(pw(u)) for u in ("root", "nobody", "p", "r", "k", "a")}


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


class AuthServer(unittest.TestCase):
    """A synqd with --users for the whole class."""

    EXTRA = ()

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="synq-auth-")
        cls.users = write(os.path.join(cls.dir, "users"), users_text())
        cls.server = sqharness.Server("synqd", ["--users", cls.users] + list(cls.EXTRA))
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.assertTrue(self.server.alive(), self.server.log_text())

    def client(self):
        c = sqharness.Client(self.server.port)
        self.clients.append(c)
        return c

    def login(self, user):
        c = self.client()
        self.assertEqual(c.cmd("auth %s %s" % (user, pw(user))), b"OK_AUTH\r\n")
        return c

    def put_as_root(self, tube="t", body=b"x", delay=0):
        c = self.login("root")
        c.cmd("use " + tube)
        c.send(b"put 0 %d 60 %d\r\n%s\r\n" % (delay, len(body), body))
        m = re.fullmatch(rb"INSERTED (\d+)\r\n", c.read_line())
        self.assertTrue(m)
        c.close()
        return int(m.group(1))


# Every command line before auth, and what it must not leave behind. The put lines carry
# their body, which must be read past (not run as a command).
BEFORE_AUTH = [
    b"put 0 0 60 5\r\nhello\r\n", b"put-unique k 0 0 60 2\r\nhi\r\n", b"use made-before-auth\r\n",
    b"reserve\r\n", b"reserve-with-timeout 0\r\n", b"reserve-job 1\r\n", b"delete 1\r\n",
    b"release 1 0 0\r\n", b"bury 1 0\r\n", b"touch 1\r\n", b"watch watched-before-auth\r\n",
    b"ignore default\r\n", b"peek 1\r\n", b"peek-ready\r\n", b"peek-delayed\r\n",
    b"peek-buried\r\n", b"kick 1\r\n", b"kick-job 1\r\n", b"stats-job 1\r\n",
    b"stats-tube default\r\n", b"stats\r\n", b"list-tubes\r\n", b"list-tube-used\r\n",
    b"list-tubes-watched\r\n", b"pause-tube default 1\r\n", b"stats-log\r\n",
    b"flush-tube default all\r\n", b"list-jobs default ready 0 10\r\n",
    b"move-jobs default other ready 1\r\n", b"reserve-batch 1 0\r\n",
    b"tube-set made-by-tube-set max-reserves 1\r\n", b"tube-info default\r\n",
    b"no-such-command\r\n", b"put 0 0 60 x\r\n",
]


class BeforeAuth(AuthServer):
    def test_every_command_before_auth_is_not_authorized_and_creates_nothing(self):
        c = self.client()
        for line in BEFORE_AUTH:
            c.send(line)
            self.assertEqual(c.read_line(), b"NOT_AUTHORIZED\r\n", line)
        # A put's body was read past, not run: the connection is still in step.
        self.assertEqual(c.cmd("auth root " + pw("root")), b"OK_AUTH\r\n")
        tubes = c.cmd("list-tubes")
        self.assertTrue(tubes.startswith(b"OK "), tubes)
        listing = c.read_exact(int(tubes.split()[1]) + 2)
        self.assertEqual(listing, b"---\n- default\n\r\n")

    def test_nothing_is_counted_before_auth(self):
        c = self.client()
        for line in BEFORE_AUTH:
            c.send(line)
            c.read_line()
        root = self.login("root")
        root.send(b"stats\r\n")
        stats = dict(sqharness.parse_yaml(root.read_yaml_reply()))
        for key in ("total-jobs", "cmd-put", "cmd-use", "cmd-watch", "cmd-reserve",
                    "cmd-delete", "cmd-stats-tube", "current-producers", "current-workers"):
            self.assertEqual(stats[key], "0", key)
        self.assertEqual(stats["current-tubes"], "1")

    def test_quit_before_auth_closes(self):
        c = self.client()
        c.send(b"quit\r\n")
        c.expect_closed()

    def test_a_put_before_auth_with_a_huge_body_is_skipped_not_buffered(self):
        c = self.client()
        c.send(b"put 0 0 60 3000000\r\n")
        c.send(b"x" * 3000000 + b"\r\n")
        self.assertEqual(c.read_line(timeout=20), b"NOT_AUTHORIZED\r\n")
        self.assertEqual(c.cmd("auth p " + pw("p")), b"OK_AUTH\r\n")


class Passwords(AuthServer):
    def test_wrong_passwords_and_unknown_users_are_bad_auth(self):
        c = self.client()
        self.assertEqual(c.cmd("auth p wrong"), b"BAD_AUTH\r\n")
        self.assertEqual(c.cmd("auth p pw of P"), b"BAD_AUTH\r\n")
        self.assertEqual(c.cmd("auth p pw of p "), b"BAD_AUTH\r\n")
        self.assertEqual(c.cmd("auth ghost " + pw("ghost")), b"BAD_AUTH\r\n")
        # A certificate-only user has no password that works.
        self.assertEqual(c.cmd("auth certonly -"), b"BAD_AUTH\r\n")
        self.assertEqual(c.cmd("put 0 0 60 1\r\nx"), b"NOT_AUTHORIZED\r\n")

    def test_the_right_password_logs_in_once(self):
        c = self.client()
        self.assertEqual(c.cmd("auth k " + pw("k")), b"OK_AUTH\r\n")
        self.assertEqual(c.cmd("list-tube-used"), b"USING default\r\n")
        # One login per connection: a second auth is refused, the first stays.
        self.assertEqual(c.cmd("auth root " + pw("root")), b"BAD_AUTH\r\n")
        self.assertEqual(c.cmd("stats"), b"NOT_AUTHORIZED\r\n")

    def test_malformed_auth_is_bad_format_before_and_after(self):
        c = self.client()
        self.assertEqual(c.cmd("auth root"), b"NOT_AUTHORIZED\r\n")
        c = self.login("root")
        self.assertEqual(c.cmd("auth root"), b"BAD_FORMAT\r\n")

    def test_synq_passwd_hashes_verify_with_hashlib_and_synqd(self):
        out = subprocess.run([bin_path("synq"), "passwd", "--iterations", "2000"],
                             input=b"tr0ub4dor &3\n", capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        h = out.stdout.decode().strip()
        m = re.fullmatch(r"pbkdf2-sha256\$2000\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)", h)
        self.assertTrue(m, h)
        salt, key = base64.b64decode(m.group(1)), base64.b64decode(m.group(2))
        self.assertEqual(len(salt), 16)
        self.assertEqual(hashlib.pbkdf2_hmac("sha256", b"tr0ub4dor &3", salt, 2000), key)
        # Two runs, two salts.
        again = subprocess.run([bin_path("synq"), "passwd"], input=b"tr0ub4dor &3\n",
                               capture_output=True, timeout=30)
        self.assertNotEqual(again.stdout.decode().split("$")[2], m.group(1))
        path = write(os.path.join(self.dir, "passwd-users"), "eve %s *:all\n" % h)
        with sqharness.Server("synqd", ["--users", path]) as srv:
            with sqharness.Client(srv.port) as c:
                self.assertEqual(c.cmd("auth eve tr0ub4dor &3x"), b"BAD_AUTH\r\n")
                self.assertEqual(c.cmd("auth eve tr0ub4dor &3"), b"OK_AUTH\r\n")

    def test_synq_passwd_refuses_an_empty_password(self):
        out = subprocess.run([bin_path("synq"), "passwd"], input=b"\n", capture_output=True,
                             timeout=30)
        self.assertEqual(out.returncode, 2, out)
        self.assertEqual(out.stdout, b"")


class BruteForce(unittest.TestCase):
    def test_five_failures_a_minute_then_no_check_at_all(self):
        d = tempfile.mkdtemp(prefix="synq-auth-")
        self.addCleanup(shutil.rmtree, d, True)
        path = write(os.path.join(d, "users"), users_text())
        with sqharness.Server("synqd", ["--users", path]) as srv:
            # Over several connections: the limit is per address, not per connection.
            for i in range(5):
                with sqharness.Client(srv.port) as c:
                    self.assertEqual(c.cmd("auth root guess%d" % i), b"BAD_AUTH\r\n")
            with sqharness.Client(srv.port) as c:
                # Now even the right password is refused, unchecked.
                self.assertEqual(c.cmd("auth root " + pw("root")), b"BAD_AUTH\r\n")
                self.assertEqual(c.cmd("stats"), b"NOT_AUTHORIZED\r\n")
            # A connection that logged in before keeps working.
            self.assertTrue(srv.alive())


class Permissions(AuthServer):
    """Every command against every right: one row per command says which right it needs on
    the tubes t* (None: none, "server": admin on `*`) and what it answers when allowed; each
    row runs for every user, on a fresh connection, with fresh jobs."""

    # (setup lines run first, whatever they answer; the command; the right; the reply prefix
    # when allowed[; the reply when refused, if not NOT_AUTHORIZED]). {ready}, {buried} and
    # {delayed} are fresh jobs of tube t. "root": only a user with admin on `*`.
    ROWS = [
        (["use t"], "put 0 0 60 1\r\nx", "put", b"INSERTED"),
        (["use t"], "put-unique key-{user} 0 0 60 1\r\nx", "put", b"INSERTED"),
        ([], "use t", ("put", "peek", "admin"), b"USING t"),
        ([], "watch t", "reserve", b"WATCHING 2"),
        (["watch t", "ignore default"], "reserve", "reserve", b"RESERVED"),
        (["watch t", "ignore default"], "reserve-with-timeout 0", "reserve", b"RESERVED"),
        (["watch t", "ignore default"], "reserve-batch 1 0", "reserve", b"RESERVED_BATCH"),
        ([], "reserve-job {ready}", "reserve", b"RESERVED"),
        ([], "peek {ready}", "peek", b"FOUND"),
        ([], "stats-job {ready}", "peek", b"OK"),
        ([], "kick-job {buried}", "admin", b"KICKED"),
        ([], "delete {ready}", "admin", b"DELETED"),
        # A job the session reserved is its to finish; admin may delete any job. The store
        # answers NOT_FOUND for a job someone else (or nobody) reserved.
        (["watch t", "ignore default", "reserve-job {ready}"], "delete {ready}",
         ("reserve", "admin"), b"DELETED"),
        (["watch t", "ignore default", "reserve-job {ready}"], "release {ready} 0 0", "reserve",
         b"RELEASED", b"NOT_FOUND"),
        (["watch t", "ignore default", "reserve-job {ready}"], "bury {ready} 0", "reserve",
         b"BURIED", b"NOT_FOUND"),
        (["watch t", "ignore default", "reserve-job {ready}"], "touch {ready}", "reserve",
         b"TOUCHED", b"NOT_FOUND"),
        (["use t"], "peek-ready", "peek", b"FOUND"),
        (["use t"], "peek-delayed", "peek", b"FOUND"),
        (["use t"], "peek-buried", "peek", b"FOUND"),
        (["use t"], "kick 1", "admin", b"KICKED"),
        ([], "stats-tube t", "peek", b"OK"),
        ([], "tube-info t", "peek", b"OK"),
        ([], "list-jobs t ready 0 10", "peek", b"OK"),
        ([], "pause-tube t 0", "admin", b"PAUSED"),
        ([], "flush-tube t2 all", "admin", b"FLUSHED"),
        ([], "move-jobs t2 t ready 1", "admin", b"MOVED"),
        ([], "tube-set t2 max-reserves 0", "admin", b"SET"),
        ([], "tube-set t2 dead-letter t", "admin", b"SET"),
        ([], "tube-set t2 dead-letter elsewhere", "root", b"SET"),
        ([], "move-jobs t2 elsewhere ready 1", "root", b"MOVED"),
        ([], "stats", "root", b"OK"),
        ([], "stats-log", "root", b"NOT_FOUND"),  # no -b: NOT_FOUND, but allowed
        # Not a cluster node: NOT_FOUND, but allowed.
        ([], "stats-cluster", "root", b"NOT_FOUND"),
        ([], "cluster-add 9 127.0.0.1:1", "root", b"NOT_FOUND"),
        ([], "cluster-remove 9", "root", b"NOT_FOUND"),
        ([], "list-tubes", None, b"OK"),
        ([], "list-tube-used", None, b"USING default"),
        ([], "list-tubes-watched", None, b"OK"),
        (["watch t"], "ignore t", None, b"WATCHING 1"),
        ([], "quit", None, b""),
    ]

    def allowed(self, user, right):
        if right is None or user == "root":
            return True
        if right == "root" or user == "nobody":
            return False
        rights = right if isinstance(right, tuple) else (right,)
        return any(RIGHT_USERS[r] == user for r in rights)

    def test_every_command_against_every_right(self):
        checked = 0
        for row in self.ROWS:
            setup, line, right, want = row[:4]
            refused = row[4] if len(row) > 4 else b"NOT_AUTHORIZED"
            for user in ["root", "nobody"] + list(RIGHT_USERS.values()):
                jobs = {"ready": self.put_as_root(), "user": user,
                        "buried": self.buried_job(), "delayed": self.put_as_root(delay=3600)}
                c = self.login(user)
                for s in setup:
                    reply = c.cmd(s.format(**jobs))
                    if reply.split(b" ")[0] in (b"RESERVED", b"FOUND", b"OK"):
                        c.read_exact(int(reply.split()[-1]) + 2)
                with self.subTest(user=user, line=line):
                    want_now = want if self.allowed(user, right) else refused
                    if line == "quit":
                        c.send(b"quit\r\n")
                        c.expect_closed()
                        c.close()
                        checked += 1
                        continue
                    got = c.cmd(line.format(**jobs))
                    self.assertTrue(got.startswith(want_now), "%s: %s answered %r, want %r"
                                    % (user, line, got, want_now))
                    if want_now == b"NOT_AUTHORIZED":
                        self.assertEqual(got, b"NOT_AUTHORIZED\r\n")
                c.close()
                checked += 1
        self.assertEqual(checked, len(self.ROWS) * 6)

    def buried_job(self):
        c = self.login("root")
        c.cmd("use t")
        c.send(b"put 0 0 60 1\r\nb\r\n")
        jid = int(c.read_line().split()[1])
        c.cmd("watch t")
        c.cmd("ignore default")
        # The oldest ready job of t may not be ours: reserve it by id.
        c.cmd("reserve-job %d" % jid)
        c.read_line()
        self.assertEqual(c.cmd("bury %d 0" % jid), b"BURIED\r\n")
        c.close()
        return jid

    def test_list_tubes_shows_only_the_tubes_the_user_has_a_right_on(self):
        for tube in ("t", "t2", "secret"):
            self.put_as_root(tube)
        c = self.login("k")
        c.send(b"list-tubes\r\n")
        names = sqharness.parse_yaml(c.read_yaml_reply())
        self.assertIn("t", names)
        self.assertIn("t2", names)
        self.assertNotIn("secret", names)
        self.assertNotIn("default", names)
        c = self.login("root")
        c.send(b"list-tubes\r\n")
        self.assertIn("secret", sqharness.parse_yaml(c.read_yaml_reply()))

    def test_reserve_is_refused_while_default_is_watched_without_the_right(self):
        self.put_as_root("default")
        c = self.login("r")
        self.assertEqual(c.cmd("reserve-with-timeout 0"), b"NOT_AUTHORIZED\r\n")
        self.assertEqual(c.cmd("watch t"), b"WATCHING 2\r\n")
        self.assertEqual(c.cmd("reserve-with-timeout 0"), b"NOT_AUTHORIZED\r\n")
        self.assertEqual(c.cmd("ignore default"), b"WATCHING 1\r\n")
        got = c.cmd("reserve-with-timeout 0")
        self.assertTrue(got in (b"TIMED_OUT\r\n",) or got.startswith(b"RESERVED"), got)

    def test_a_job_reserved_by_another_is_not_the_reserve_users_to_delete(self):
        jid = self.put_as_root()
        holder = self.login("root")
        holder.cmd("watch t")
        holder.cmd("ignore default")
        holder.send(b"reserve-job %d\r\n" % jid)
        holder.read_job("RESERVED")
        c = self.login("r")
        self.assertEqual(c.cmd("delete %d" % jid), b"NOT_AUTHORIZED\r\n")
        self.assertEqual(c.cmd("release %d 0 0" % jid), b"NOT_FOUND\r\n")
        self.assertEqual(holder.cmd("delete %d" % jid), b"DELETED\r\n")


class UsersFileErrors(unittest.TestCase):
    def start_with(self, text):
        d = tempfile.mkdtemp(prefix="synq-auth-")
        self.addCleanup(shutil.rmtree, d, True)
        path = write(os.path.join(d, "users.conf"), text)
        port = sqharness._free_port()
        proc = subprocess.run([bin_path("synqd"), "-l", "127.0.0.1", "-p", str(port), "--users",
                               path], capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        return proc, path, port

    def test_errors_stop_synqd_naming_file_and_line(self):
        good = "root %s *:all\n" % pbkdf2_hash("x")
        cases = [
            (good + "\n# ok so far\nbob %s t:put,write\n" % pbkdf2_hash("y"),
             4, 'unknown right "write"'),
            (good + good, 2, "user root is defined twice"),
            ("root plaintext-password *:all\n", 1,
             "user root: password hash: expected pbkdf2-sha256$"),
            (good + "bob %s\n" % pbkdf2_hash("y", iterations=999), 2,
             "user bob: password hash: the iteration count must be 1000 to 10000000"),
            (good + "carol %s t\n" % pbkdf2_hash("z"), 2, 'rule "t": expected PATTERN:RIGHTS'),
            ("# nobody at all\n", 1, "no user defined"),
        ]
        for text, line, what in cases:
            with self.subTest(what=what):
                proc, path, port = self.start_with(text)
                err = proc.stderr.decode()
                self.assertEqual(proc.returncode, 1, err)
                self.assertIn("synqd: --users: %s:%d: %s" % (path, line, what), err)
                self.assertNotIn("pbkdf2", err.split(what)[-1])  # no hash echoed after it

    def test_a_missing_file_stops_synqd(self):
        port = sqharness._free_port()
        proc = subprocess.run([bin_path("synqd"), "-p", str(port), "--users", "/nonexistent/u"],
                              capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertEqual(proc.returncode, 1)
        self.assertIn(b"synqd: --users: /nonexistent/u: open(): No such file or directory",
                      proc.stderr)


class Exposure(unittest.TestCase):
    def test_a_non_loopback_listener_without_users_is_refused(self):
        port = sqharness._free_port()
        proc = subprocess.run([bin_path("synqd"), "-l", "0.0.0.0", "-p", str(port)],
                              capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertEqual(proc.returncode, 1)
        err = proc.stderr.decode()
        self.assertIn("synqd: refusing to listen on 0.0.0.0:%d, not a loopback address, "
                      "without authentication" % port, err)
        self.assertIn("--insecure-listen", err)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()

    def test_insecure_listen_serves_with_a_warning(self):
        with sqharness.Server("synqd", ["-l", "0.0.0.0", "--insecure-listen"]) as srv:
            with sqharness.Client(srv.port) as c:
                self.assertTrue(c.cmd("put 0 0 60 1\r\nx").startswith(b"INSERTED"))
        self.assertIn("synqd: warning: listening on 0.0.0.0:", srv.log_text())

    def test_users_make_a_non_loopback_listener_acceptable(self):
        d = tempfile.mkdtemp(prefix="synq-auth-")
        self.addCleanup(shutil.rmtree, d, True)
        path = write(os.path.join(d, "users"), users_text())
        with sqharness.Server("synqd", ["-l", "0.0.0.0", "--users", path]) as srv:
            with sqharness.Client(srv.port) as c:
                self.assertEqual(c.cmd("put 0 0 60 1\r\nx"), b"NOT_AUTHORIZED\r\n")
        self.assertNotIn("refusing", srv.log_text())
        self.assertNotIn("not a loopback address", srv.log_text())

    def test_auth_without_users_is_an_unknown_command(self):
        with sqharness.Server("synqd") as srv:
            with sqharness.Client(srv.port) as c:
                self.assertEqual(c.cmd("auth root x"), b"UNKNOWN_COMMAND\r\n")
                self.assertTrue(c.cmd("put 0 0 60 1\r\nx").startswith(b"INSERTED"))


class MetricsToken(unittest.TestCase):
    TOKEN = "s3cr3t-token-0123456789"

    def get(self, port, headers):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/metrics", headers=headers)
            r = conn.getresponse()
            return r.status, r.getheader("WWW-Authenticate"), r.read()
        finally:
            conn.close()

    def test_scrapes_need_the_bearer_token(self):
        d = tempfile.mkdtemp(prefix="synq-auth-")
        self.addCleanup(shutil.rmtree, d, True)
        token = write(os.path.join(d, "token"), "  %s\n" % self.TOKEN)
        mport = sqharness._free_port()
        with sqharness.Server("synqd", ["--metrics", "127.0.0.1:%d" % mport,
                                        "--metrics-token-file", token]) as srv:
            deadline = time.monotonic() + 5
            while True:
                try:
                    status, challenge, _ = self.get(mport, {})
                    break
                except OSError:
                    self.assertLess(time.monotonic(), deadline, srv.log_text())
                    time.sleep(0.05)
            self.assertEqual(status, 401)
            self.assertEqual(challenge, 'Bearer realm="synqd"')
            status, _, _ = self.get(mport, {"Authorization": "Bearer " + self.TOKEN + "x"})
            self.assertEqual(status, 401)
            status, _, _ = self.get(mport, {"Authorization": "Basic " + self.TOKEN})
            self.assertEqual(status, 401)
            status, _, body = self.get(mport, {"Authorization": "Bearer " + self.TOKEN})
            self.assertEqual(status, 200)
            self.assertIn(b"synq_", body)

    def test_a_bad_token_file_stops_synqd(self):
        d = tempfile.mkdtemp(prefix="synq-auth-")
        self.addCleanup(shutil.rmtree, d, True)
        token = write(os.path.join(d, "token"), "short\n")
        proc = subprocess.run([bin_path("synqd"), "-p", str(sqharness._free_port()),
                               "--metrics-token-file", token], capture_output=True, timeout=30)
        self.assertEqual(proc.returncode, 1)
        self.assertIn(b"synqd: --metrics-token-file: %s: the first line must hold the token"
                      % token.encode(), proc.stderr)


class ClientCertificates(unittest.TestCase):
    """Mutual TLS: a verified certificate whose subjectAltName or common name is a user's name
    logs the connection in as that user, with no `auth`. Certificates from test_tls.Certs."""

    @classmethod
    def setUpClass(cls):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("no openssl command")
        import test_tls
        cls.tls = test_tls
        cls.dir = tempfile.mkdtemp(prefix="synq-auth-tls-")
        test_tls.CERTS = certs = test_tls.Certs(cls.dir)
        with open(certs.p("worker.ext"), "w") as f:
            f.write("subjectAltName=DNS:worker-1.example.com,email:ops@example.com\n")
        certs.issue("worker", "ca", "worker.ext")  # CN=worker, SAN worker-1.example.com
        cls.users = write(certs.p("users"), users_text() +
                          "client - t*:put\nworker-1.example.com - *:all\nworker - t*:peek\n")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def cmd(self, sock, line):
        sock.sendall(line.encode() + b"\r\n")
        return self.tls.read_until(sock, b"\r\n")

    def test_a_certificate_names_its_user(self):
        with self.tls.TlsServer(extra=["--users", self.users], auth="optional") as srv:
            # CN=client: the user "client", rights t*:put.
            with self.tls.tls_connect(srv.tls_port, cert="client") as s:
                self.assertEqual(self.cmd(s, "use t"), b"USING t\r\n")
                self.assertTrue(self.cmd(s, "put 0 0 60 1\r\nx").startswith(b"INSERTED"))
                self.assertEqual(self.cmd(s, "stats"), b"NOT_AUTHORIZED\r\n")
                # Already someone: auth does not change who.
                self.assertEqual(self.cmd(s, "auth root " + pw("root")), b"BAD_AUTH\r\n")
            # The subjectAltName comes before the common name: worker-1.example.com, *:all.
            with self.tls.tls_connect(srv.tls_port, cert="worker") as s:
                self.assertTrue(self.cmd(s, "stats").startswith(b"OK "))

    def test_without_a_certificate_auth_is_still_needed(self):
        with self.tls.TlsServer(extra=["--users", self.users], auth="optional") as srv:
            with self.tls.tls_connect(srv.tls_port, cert=None) as s:
                self.assertEqual(self.cmd(s, "use t"), b"NOT_AUTHORIZED\r\n")
                self.assertEqual(self.cmd(s, "auth p " + pw("p")), b"OK_AUTH\r\n")
                self.assertEqual(self.cmd(s, "use t"), b"USING t\r\n")
            # Nor does the plain port look at certificates.
            with sqharness.Client(srv.port) as c:
                self.assertEqual(c.cmd("use t"), b"NOT_AUTHORIZED\r\n")

    def test_a_certificate_naming_no_user_logs_nobody_in(self):
        # CN=server2 is signed by the same CA but names no user.
        with self.tls.TlsServer(extra=["--users", self.users], auth="optional") as srv:
            with self.tls.tls_connect(srv.tls_port, cert="server2") as s:
                self.assertEqual(self.cmd(s, "use t"), b"NOT_AUTHORIZED\r\n")


class ClientLibraries(AuthServer):
    """Real client libraries send auth through their raw-command hooks: Ruby's beaneater
    (Connection#transmit) and PHP's Pheanstalk 4 (Connection::dispatchCommand with a command
    class); tests/compat/*_auth.*, the snippets in docs/security.md."""

    def run_script(self, interpreter, name, address):
        exe = shutil.which(interpreter)
        if exe is None:
            self.fail("%s is not installed (scripts/deps test installs the client libraries)"
                      % interpreter)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat", name)
        users = write(os.path.join(self.dir, "client-users"),
                      "mailer %s emails:put,reserve,peek\n" % pbkdf2_hash("mail pw"))
        with sqharness.Server("synqd", ["--users", users]) as srv:
            proc = subprocess.run([exe, script, address(srv.port), "mailer", "mail pw"],
                                  capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        out = (proc.stdout + proc.stderr).decode(errors="replace")
        self.assertEqual(proc.returncode, 0, out)
        self.assertRegex(out, r"(?m)^[1-9]\d* passed, 0 failed$")

    def test_beaneater_authenticates_through_transmit(self):
        self.run_script("ruby", "beaneater_auth.rb", lambda port: "127.0.0.1:%d" % port)

    def test_pheanstalk_authenticates_through_dispatch_command(self):
        self.run_script("php", "pheanstalk_auth.php", str)


if __name__ == "__main__":
    sqharness.main()
