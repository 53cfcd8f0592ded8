"""`--user USER` of `synq` and `synq-bench` against a real synqd with --users
(docs/security.md, "The auth command"): `auth USER PASSWORD` is sent first on every
connection, the password comes from SYNQ_PASSWORD or --password-file and never from
the command line, and a refused login (BAD_AUTH), a missing right (NOT_AUTHORIZED), a
server without users and a missing password each get their own clear error and exit
status. What the CLI did is checked over the harness's own (logged-in) protocol client.

The users file's hashes are made with Python's hashlib. synqd limits failed logins to
five a minute per address, so the tests that fail one are counted (FAILED_LOGINS) and
stay under it on the class's server."""

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402
from cliharness import RUN_TIMEOUT_S, synq_binary  # noqa: E402

ITERATIONS = 1000  # the lowest synqd takes: every connection logs in
PASSWORDS = {"root": "root pass word", "mailer": "m41l er"}  # spaces: the rest of the line
USERS = "root %s *:all\nmailer %s emails-*:put\n"


def pbkdf2_hash(password, salt=b"0123456789abcdef"):
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, ITERATIONS)
    return "pbkdf2-sha256$%d$%s$%s" % (ITERATIONS, base64.b64encode(salt).decode(),
                                       base64.b64encode(key).decode())


def run(argv, env=None, stdin=b""):
    e = {k: v for k, v in os.environ.items() if not k.startswith("SYNQ_")}
    e.update(env or {})
    return subprocess.run([str(a) for a in argv], input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=e, timeout=RUN_TIMEOUT_S)


def bench_binary():
    return os.path.join(os.path.dirname(synq_binary()), "synq-bench")


class CliUserLogin(unittest.TestCase):
    """A synqd with --users for the whole class; synq and synq-bench log in to it."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="synq-cli-auth-")
        cls.users = os.path.join(cls.dir, "users")
        with open(cls.users, "w") as f:
            f.write(USERS % (pbkdf2_hash(PASSWORDS["root"]), pbkdf2_hash(PASSWORDS["mailer"])))
        cls.server = sqharness.Server("synqd", ["--users", cls.users]).start()

    @classmethod
    def tearDownClass(cls):
        died = cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        if died is not None:
            raise AssertionError("synqd exited by itself (%r): %s"
                                 % (died, cls.server.log_text()))

    def setUp(self):
        self.clients = []
        self.addCleanup(lambda: [c.close() for c in self.clients])

    # ------------------------------------------------------------ helpers

    def synq(self, *args, user=None, password=None, env=None):
        """synq against the server; --user user with its password in SYNQ_PASSWORD
        (password: another one; env: more of the environment)."""
        e = {"SYNQ_PORT": str(self.server.port)}
        argv = [synq_binary()]
        if user:
            argv += ["--user", user]
            e["SYNQ_PASSWORD"] = PASSWORDS[user] if password is None else password
        e.update(env or {})
        return run(argv + list(args), e)

    def bench(self, *args, user=None, password=None):
        e = {}
        argv = [bench_binary(), "-p", self.server.port, "-c", "2", "-P", "4"]
        if user:
            argv += ["--user", user]
            e["SYNQ_PASSWORD"] = PASSWORDS[user] if password is None else password
        return run(argv + list(args), e)

    def root(self):
        """The harness's protocol client, logged in as root."""
        c = sqharness.Client(self.server.port)
        self.clients.append(c)
        self.assertEqual(c.cmd("auth root %s\r\n" % PASSWORDS["root"]), b"OK_AUTH\r\n")
        return c

    def password_file(self, text):
        path = os.path.join(self.dir, "pw-%d" % len(os.listdir(self.dir)))
        with open(path, "w", newline="") as f:
            f.write(text)
        return path

    def assert_exit(self, p, code, stderr_pattern):
        self.assertEqual(p.returncode, code, "stdout %r stderr %r" % (p.stdout, p.stderr))
        self.assertRegex(p.stderr.decode(), stderr_pattern)

    # ------------------------------------------------------------ synq

    def test_user_puts_where_it_may_with_the_env_password(self):
        p = self.synq("put", "-t", "emails-1", "hello", user="mailer")
        self.assertEqual((p.returncode, p.stderr), (0, b""))
        job_id = int(p.stdout)
        c = self.root()
        c.send("peek %d\r\n" % job_id)
        self.assertEqual(c.read_job("FOUND"), (job_id, b"hello"))
        self.assertEqual(c.cmd("stats-tube emails-1\r\n")[:3], b"OK ")

    def test_password_file_first_line_only(self):
        for text in (PASSWORDS["root"] + "\n", PASSWORDS["root"] + "\r\nsecond line\n",
                     PASSWORDS["root"]):
            f = self.password_file(text)
            p = run([synq_binary(), "-p", self.server.port, "--user", "root",
                     "--password-file", f, "stats", "current-connections"],
                    {"SYNQ_PASSWORD": "not this one"})
            self.assertEqual(p.returncode, 0, (text, p.stderr))
            self.assertRegex(p.stdout.decode(), r"^\d+\n$")

    def test_raw_sends_auth_first_and_prints_only_its_own_replies(self):
        p = self.synq("raw", "list-tube-used", "use emails-x", user="mailer")
        self.assertEqual((p.returncode, p.stdout), (0, b"USING default\r\nUSING emails-x\r\n"))
        p = self.synq("raw", "use other", user="mailer")  # a refusal word: exit 1
        self.assertEqual((p.returncode, p.stdout), (1, b"NOT_AUTHORIZED\r\n"))

    def test_a_missing_right_says_not_authorized_and_who(self):
        p = self.synq("put", "-t", "other", "x", user="mailer")
        self.assert_exit(p, 1, r"NOT_AUTHORIZED.*user 'mailer'")
        self.assertEqual(p.stdout, b"")
        p = self.synq("stats", user="mailer")  # the server's figures need *:admin
        self.assert_exit(p, 1, r"NOT_AUTHORIZED.*user 'mailer'")
        self.assertEqual(self.root().cmd("stats-tube other\r\n"), b"NOT_FOUND\r\n")

    def test_no_user_against_users_says_to_log_in(self):
        p = self.synq("stats")
        self.assert_exit(p, 1, r"NOT_AUTHORIZED.*wants a login first: give --user USER")

    def test_wrong_password_is_bad_auth(self):  # FAILED_LOGINS: 1
        p = self.synq("put", "-t", "emails-1", "never", user="mailer", password="wrong")
        self.assert_exit(p, 1, r"refused the login as 'mailer' \(BAD_AUTH\)")
        self.assertEqual(p.stdout, b"")
        self.assertEqual(self.root().cmd("peek-ready\r\n"), b"NOT_FOUND\r\n")

    def test_password_never_on_the_command_line(self):
        p = self.synq("--user", "root", "stats")  # no SYNQ_PASSWORD, no file
        self.assert_exit(p, 2, r"--user root needs a password: set SYNQ_PASSWORD or give "
                               r"--password-file FILE")
        p = self.synq("--password-file", self.password_file("x\n"), "stats")
        self.assert_exit(p, 2, r"--password-file needs --user USER")
        p = self.synq("--user", "root", "--password-file", os.path.join(self.dir, "nope"),
                      "stats")
        self.assert_exit(p, 2, r"--password-file .*nope: No such file")
        p = self.synq("stats", user="root", password="")
        self.assert_exit(p, 2, r"empty")
        p = self.synq("stats", user="root", password="x" * 300)
        self.assert_exit(p, 2, r"too long")
        # --help names both options.
        out = self.synq("--help").stdout.decode()
        self.assertIn("--user USER", out)
        self.assertIn("--password-file FILE", out)

    def test_user_against_a_server_without_users(self):
        with sqharness.Server("synqd") as plain:
            p = run([synq_binary(), "-p", plain.port, "--user", "root", "stats"],
                    {"SYNQ_PASSWORD": "x"})
        self.assert_exit(p, 3, r"has no users to log in to .*drop --user")

    # ------------------------------------------------------------ synq-bench

    def test_bench_logs_in_on_every_connection(self):
        p = self.bench("-w", "cycle", "-n", "200", "-t", "emails-b", user="root")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.decode(), r"RESULT workload=cycle .* errors=0")
        p = self.bench("-w", "put", "-n", "200", "-t", "emails-b", user="mailer")
        self.assertEqual(p.returncode, 0, p.stderr)
        # connect: each connection is a new login, then its use.
        p = self.bench("-w", "connect", "-n", "20", user="root")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.decode(), r"RESULT workload=connect .*jobs=20 .* errors=0")
        c = self.root()
        c.send("stats-tube emails-b\r\n")
        self.assertEqual(dict(sqharness.parse_yaml(c.read_yaml_reply()))["current-jobs-ready"], "200")

    def test_bench_user_without_the_right(self):
        p = self.bench("-w", "put", "-n", "10", "-t", "reports", user="mailer")
        self.assert_exit(p, 1, r"NOT_AUTHORIZED.*the user has not the right")

    def test_bench_without_user_says_to_log_in(self):
        p = self.bench("-w", "put", "-n", "10", "-t", "emails-c")
        self.assert_exit(p, 1, r"NOT_AUTHORIZED.*give --user USER")

    def test_bench_wrong_password_stops_the_run(self):  # FAILED_LOGINS: 2 (-c 2)
        p = self.bench("-w", "cycle", "-d", "30", user="root", password="wrong")
        self.assert_exit(p, 1, r"auth as 'root' refused \(BAD_AUTH\).*stopping the run")
        self.assertRegex(p.stdout.decode(), r"RESULT .*jobs=0 ")

    def test_bench_password_rules(self):
        p = run([bench_binary(), "-p", self.server.port, "--user", "root"])
        self.assert_exit(p, 2, r"needs a password")
        p = run([bench_binary(), "-p", self.server.port, "--password-file", "/dev/null"])
        self.assert_exit(p, 2, r"--password-file needs --user USER")
        out = run([bench_binary(), "--help"]).stdout.decode()
        self.assertIn("--user USER", out)
        self.assertIn("--password-file FILE", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
