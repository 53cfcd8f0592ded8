"""SIGHUP reloads --users (docs/security.md "Reloading the users file"): users added, removed,
their rules changed, and a file with an error that keeps the users in force, seen by open
sessions (which keep their connection), new `auth`s and the console's API."""
import base64
import os
import shutil
import signal
import tempfile
import time
import unittest

import sqharness
from consoleclient import ConsoleServer, request
from test_auth import pbkdf2_hash, pw


def basic(user):
    cred = ("%s:%s" % (user, pw(user))).encode()
    return {"Authorization": "Basic " + base64.b64encode(cred).decode()}


class UsersReload(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="synq-users-reload-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "users")
        self.write({"root": "*:all", "alice": "t:put"})
        self.cs = ConsoleServer(["--users", self.path]).start()
        self.addCleanup(self.cs.stop)
        self.reloads = 0

    def write(self, users, text=None):
        with open(self.path + ".new", "w") as f:
            f.write(text if text is not None else "".join(
                "%s %s %s\n" % (u, pbkdf2_hash(pw(u)), rule) for u, rule in users.items()))
        os.replace(self.path + ".new", self.path)

    def sighup(self, want):
        """Sends SIGHUP and waits for the want-th occurrence of `want` in the log."""
        before = self.cs.srv.log_text().count(want)
        self.cs.srv.signal(signal.SIGHUP)
        deadline = time.monotonic() + sqharness.READ_TIMEOUT_S
        while self.cs.srv.log_text().count(want) <= before and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertGreater(self.cs.srv.log_text().count(want), before, self.cs.srv.log_text())

    def login(self, user):
        c = sqharness.Client(self.cs.port)
        self.addCleanup(c.close)
        self.assertEqual(c.cmd("auth %s %s" % (user, pw(user))), b"OK_AUTH\r\n")
        return c

    def auth_reply(self, user):
        with sqharness.Client(self.cs.port) as c:
            return c.cmd("auth %s %s" % (user, pw(user)))

    def api(self, user, path="/api/tube?tube=t"):
        return request(self.cs.http, path, headers=basic(user)).status

    def test_add_change_remove_and_broken_file(self):
        alice = self.login("alice")
        root = self.login("root")
        self.assertEqual(alice.cmd("use t"), b"USING t\r\n")
        alice.send(b"put 0 0 60 1\r\nx\r\n")
        self.assertTrue(alice.read_line().startswith(b"INSERTED"))
        self.assertEqual(self.auth_reply("bob"), b"BAD_AUTH\r\n")
        self.assertEqual(self.api("alice"), 403)  # put only: no peek

        # A rule changed and a user added: alice's open session gets the new rules.
        self.write({"root": "*:all", "alice": "t:peek", "bob": "t:all"})
        self.sighup("users reloaded")
        alice.send(b"put 0 0 60 1\r\ny\r\n")
        self.assertEqual(alice.read_line(), b"NOT_AUTHORIZED\r\n")
        self.assertTrue(alice.cmd("peek-ready").startswith(b"FOUND"))
        alice.read_line()
        self.assertEqual(self.api("alice"), 200)
        self.assertEqual(self.auth_reply("bob"), b"OK_AUTH\r\n")
        self.assertEqual(self.api("bob"), 200)

        # alice removed: her session stays open, logged out.
        self.write({"root": "*:all", "bob": "t:all"})
        self.sighup("users reloaded")
        self.assertIn("1 sessions logged out", self.cs.srv.log_text())
        self.assertEqual(alice.cmd("peek-ready"), b"NOT_AUTHORIZED\r\n")
        self.assertEqual(alice.cmd("list-tube-used"), b"NOT_AUTHORIZED\r\n")
        self.assertEqual(self.auth_reply("alice"), b"BAD_AUTH\r\n")
        self.assertEqual(self.api("alice"), 401)
        self.assertEqual(root.cmd("use t"), b"USING t\r\n")  # root's session never dropped

    def test_broken_file_keeps_the_users_in_force(self):
        root = self.login("root")
        good = pbkdf2_hash(pw("carol"))
        self.write(None, "root %s *:all\ncarol %s t:bogus\n" % (pbkdf2_hash(pw("root")), good))
        self.sighup("keeping the users in force")
        log = self.cs.srv.log_text()
        self.assertIn(self.path + ":2:", log)
        self.assertEqual(self.auth_reply("carol"), b"BAD_AUTH\r\n")
        self.assertEqual(self.auth_reply("alice"), b"OK_AUTH\r\n")
        self.assertEqual(root.cmd("use t"), b"USING t\r\n")
        self.assertEqual(self.api("alice"), 403)
        self.assertEqual(self.api("root"), 200)


if __name__ == "__main__":
    sqharness.main()
