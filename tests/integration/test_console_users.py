"""The console's API under --users (docs/security.md "The console under --users"): a request
logs in as a user of the file (HTTP Basic, or a client certificate over --http-tls) and every
API action and read is checked against that user's rights as the protocol's commands are.
Table-driven: every endpoint, against a user holding each right (and root, and a user with
rights only elsewhere), allowed or refused; the failure limit shared with `auth`; the bearer
token as the operator's key; same-origin POST still required."""
import base64
import os
import shutil
import tempfile
import unittest

import sqharness
from consoleclient import ConsoleServer, request
from test_auth import pbkdf2_hash, pw

TOKEN = "operator-token-0123456789"
USERS = """root %(root)s *:all
nobody %(nobody)s elsewhere:all
p %(p)s t*:put
r %(r)s t*:reserve
k %(k)s t*:peek
a %(a)s t*:admin
"""
USER_NAMES = ("root", "nobody", "p", "r", "k", "a")
RIGHT_USER = {"put": "p", "reserve": "r", "peek": "k", "admin": "a"}


def users_text():
    return USERS % {u: pbkdf2_hash(pw(u)) for u in USER_NAMES}


def basic(user, password=None):
    cred = "%s:%s" % (user, pw(user) if password is None else password)
    return {"Authorization": "Basic " + base64.b64encode(cred.encode()).decode()}


class UsersConsole(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="synq-console-users-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.users = os.path.join(self.dir, "users")
        with open(self.users, "w") as f:
            f.write(users_text())
        token = os.path.join(self.dir, "token")
        with open(token, "w") as f:
            f.write(TOKEN + "\n")
        self.cs = ConsoleServer(["--users", self.users, "--http-token-file", token]).start()
        self.addCleanup(self.cs.stop)
        self.root = self.proto("root")

    def proto(self, user):
        c = sqharness.Client(self.cs.port)
        self.addCleanup(c.close)
        self.assertEqual(c.cmd("auth %s %s" % (user, pw(user))), b"OK_AUTH\r\n")
        return c

    def job(self, tube="t", bury=False):
        """A job put (and, with bury, reserved and buried) in tube by root: its id."""
        c = self.root
        self.assertTrue(c.cmd("use " + tube).startswith(b"USING"))
        c.send(b"put 0 0 60 3\r\nabc\r\n")
        jid = int(c.read_line().split()[1])
        if bury:
            c.cmd("watch " + tube)
            got = c.cmd("reserve-job %d" % jid)
            self.assertTrue(got.startswith(b"RESERVED"), got)
            c.read_line()
            self.assertEqual(c.cmd("bury %d 0" % jid), b"BURIED\r\n")
        return jid

    def call(self, user, method, path, body=None, headers=None):
        hdrs = basic(user) if user else {}
        hdrs.update(headers or {})
        return request(self.cs.http, path, body=body, method=method, headers=hdrs)

    # Every endpoint: (name, the rights that allow it besides root's, how to call it).
    def actions(self):
        return [
            ("tube", {"peek"}, lambda: ("GET", "/api/tube?tube=t", None)),
            ("tube-info", {"peek"}, lambda: ("GET", "/api/tube-info?tube=t", None)),
            ("jobs", {"peek"}, lambda: ("GET", "/api/jobs?tube=t&state=ready", None)),
            ("job", {"peek"}, lambda: ("GET", "/api/job?id=%d" % self.job(), None)),
            ("stats", set(), lambda: ("GET", "/api/stats", None)),
            ("summary", set(), lambda: ("GET", "/api/summary", None)),
            ("history", set(), lambda: ("GET", "/api/history", None)),
            ("put", {"put"}, lambda: ("POST", "/api/put", {"tube": "t", "body": "x"})),
            ("kick", {"admin"}, lambda: (self.job(bury=True), ("POST", "/api/kick",
                                                               {"tube": "t"}))[1]),
            ("kick-bound", {"admin"}, lambda: ("POST", "/api/kick", {"tube": "t", "bound": 1})),
            ("kick-job", {"admin"}, lambda: ("POST", "/api/kick-job",
                                             {"id": self.job(bury=True)})),
            ("delete", {"admin"}, lambda: ("POST", "/api/delete", {"id": self.job()})),
            ("pause", {"admin"}, lambda: ("POST", "/api/pause", {"tube": "t", "delay": 0})),
            ("tube-set", {"admin"}, lambda: ("POST", "/api/tube-set",
                                             {"tube": "t", "name": "rate", "value": 5})),
            ("flush", {"admin"}, lambda: ("POST", "/api/flush", {"tube": "t2",
                                                                 "state": "buried"})),
            ("move", {"admin"}, lambda: ("POST", "/api/move", {"from": "t", "to": "t2"})),
        ]

    def test_every_action_against_every_right(self):
        self.job()
        self.job("t2")
        for name, rights, make in self.actions():
            for user in USER_NAMES:
                allowed = user == "root" or any(RIGHT_USER[r] == user for r in rights)
                method, path, body = make()
                r = self.call(user, method, path, body)
                with self.subTest(action=name, user=user):
                    if allowed:
                        self.assertEqual(r.status, 200, r)
                    else:
                        self.assertEqual(r.status, 403, r)
                        self.assertEqual(r.json["error"], "NOT_AUTHORIZED", r)
                        self.assertIn(user, r.json["message"])

    def test_refused_actions_change_nothing(self):
        jid = self.job()
        for user in ("p", "r", "k", "nobody"):
            self.assertEqual(self.call(user, "POST", "/api/delete", {"id": jid}).status, 403)
        self.assertTrue(self.root.cmd("peek %d" % jid).startswith(b"FOUND"))
        self.root.read_line()
        self.assertEqual(self.call("k", "POST", "/api/put", {"tube": "t", "body": "y"}).status,
                         403)
        self.assertEqual(self.call("root", "GET", "/api/tube?tube=t").json["current-jobs-ready"],
                         1)

    def test_tube_listing_shows_only_the_users_tubes(self):
        self.job("t")
        self.job("other")
        names = {u: sorted(t["name"] for t in self.call(u, "GET", "/api/tubes").json)
                 for u in USER_NAMES}
        self.assertEqual(names["root"], ["default", "other", "t"])
        for u in ("p", "r", "k", "a"):
            self.assertEqual(names[u], ["t"], u)
        self.assertEqual(names["nobody"], [])

    def test_no_or_bad_credentials_get_401_asking_for_basic(self):
        r = self.call(None, "GET", "/api/tubes")
        self.assertEqual(r.status, 401)
        self.assertTrue(r.headers["WWW-Authenticate"].startswith("Basic"), r.headers)
        self.assertEqual(r.json["error"], "unauthorized")
        r = self.call(None, "GET", "/api/tubes", headers=basic("root", "wrong"))
        self.assertEqual((r.status, r.json["error"]), (401, "bad-auth"))
        r = self.call(None, "GET", "/api/tubes", headers=basic("ghost", "x"))
        self.assertEqual((r.status, r.json["error"]), (401, "bad-auth"))
        r = self.call(None, "GET", "/api/tubes", headers={"Authorization": "Basic !!!!"})
        self.assertEqual(r.status, 401)
        # The page and /metrics are not the API: served as before.
        self.assertEqual(request(self.cs.http, "/").status, 200)

    def test_failure_limit_is_shared_with_auth(self):
        for _ in range(5):
            r = self.call(None, "GET", "/api/tubes", headers=basic("root", "wrong"))
            self.assertEqual(r.status, 401)
        r = self.call("root", "GET", "/api/tubes")  # the right password, but blocked
        self.assertEqual((r.status, r.json["error"]), (429, "too-many-failures"))
        c = sqharness.Client(self.cs.port)
        self.addCleanup(c.close)
        self.assertEqual(c.cmd("auth root %s" % pw("root")), b"BAD_AUTH\r\n")

    def test_bearer_token_is_the_operators_key(self):
        bearer = {"Authorization": "Bearer " + TOKEN}
        self.assertEqual(request(self.cs.http, "/api/summary", headers=bearer).status, 200)
        self.assertEqual(request(self.cs.http, "/api/put", body={"tube": "zz", "body": "x"},
                                 headers=bearer).status, 200)
        r = request(self.cs.http, "/api/summary", headers={"Authorization": "Bearer nope"})
        self.assertEqual(r.status, 401)

    def test_cross_origin_post_still_refused_for_root(self):
        r = self.call("root", "POST", "/api/put", {"tube": "t", "body": "x"},
                      headers={"Origin": "http://evil.example"})
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json["error"], "cross-origin")


if __name__ == "__main__":
    sqharness.main()
