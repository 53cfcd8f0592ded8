"""The web console in a real browser: Debian's headless Chromium, driven over
the DevTools protocol (cdp.py), loads the page synqd serves, sees a tube
appear after a put, kicks a buried job from the page and finds it ready on
the server, deletes a job from the page, puts one from the page's form, and
logs no console error on the way; and under --users logs in through the page's own
form (a wrong password answered in the page, the password kept in memory only), sees
the tube the user may see and not the one it may not, is told "not allowed" for an
action the user has no right for, logs out, and after five failed logins is told to
wait (429).  It skips only when Chromium cannot start (and says why); every other
problem fails."""

import base64
import hashlib
import os
import shutil
import tempfile
import time
import unittest

import sqharness
from cdp import Browser, BrowserUnavailable
from consoleclient import ConsoleServer


def pbkdf2_hash(password, salt=b"0123456789abcdef", iterations=1000):
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return "pbkdf2-sha256$%d$%s$%s" % (iterations, base64.b64encode(salt).decode(),
                                       base64.b64encode(key).decode())


VIEWER_PASSWORD = "viewer's p\u00e4ss"  # not ASCII, with a space: the page encodes it as UTF-8
ROOT_PASSWORD = "root pw"


class BrowserCase(unittest.TestCase):
    """A headless Chromium and a synqd with --http (and server_args()) for each test."""

    def setUp(self):
        try:
            self.browser = Browser()
        except BrowserUnavailable as e:
            print("skipping the browser test: %s" % e)
            self.skipTest(str(e))
        self.addCleanup(self.browser.close)
        self.cs = ConsoleServer(self.server_args()).start()
        self.addCleanup(self.cs.stop)
        self.c = sqharness.Client(self.cs.port)
        self.addCleanup(self.c.close)

    def server_args(self):
        return []

    def proto(self, line, want_prefix):
        reply = self.c.cmd(line)
        self.assertTrue(reply.startswith(want_prefix), (line, reply))
        return reply

    def put(self, tube, body):
        self.proto(b"use %s" % tube, b"USING")
        self.c.send(b"put 0 0 60 %d\r\n%s\r\n" % (len(body), body))
        line = self.c.read_line()
        self.assertTrue(line.startswith(b"INSERTED "), line)
        return int(line.split()[1])

    def job_state(self, job_id):
        self.c.send(b"stats-job %d\r\n" % job_id)
        line = self.c.read_line()
        if line == b"NOT_FOUND\r\n":
            return None
        n = int(line.split()[1])
        doc = self.c.read_exact(n + 2).decode()
        return dict(l.split(": ", 1) for l in doc.splitlines()[1:] if ": " in l)["state"]

    def click(self, selector):
        ok = self.browser.evaluate(
            "(() => { const e = document.querySelector(%r); if (!e) return false; e.click(); "
            "return true; })()" % selector)
        self.assertTrue(ok, "nothing to click at %s" % selector)


class ConsoleInBrowser(BrowserCase):
    def test_page_shows_tubes_and_acts_on_jobs(self):
        b = self.browser
        b.navigate(self.cs.http + "/")
        b.wait_for("document.querySelector('#conn') && "
                   "document.querySelector('#conn').textContent === 'live'", what="the page live")
        self.assertEqual(b.evaluate("document.title"), "synq console")

        # A tube appears after a put.
        buried = self.put(b"browser", b"<img src=x onerror=alert(1)>")
        b.wait_for("document.querySelector('#tubes tr[data-tube=\"browser\"]') !== null",
                   what="the tube row")

        # A buried job, kicked from the page, is ready on the server.
        self.proto(b"watch browser", b"WATCHING")
        self.c.send(b"reserve-with-timeout 0\r\n")
        self.c.read_job("RESERVED")
        self.proto(b"bury %d 0" % buried, b"BURIED")
        self.click('#tubes tr[data-tube="browser"]')
        self.click('#state-tabs button[data-state="buried"]')
        b.wait_for("document.querySelector('#jobs tr[data-id=\"%d\"] .kick-job') !== null" % buried,
                   what="the buried job's row")
        # The body is shown as text, never run as markup.
        self.assertEqual(b.evaluate("document.querySelector('#jobs tr[data-id=\"%d\"] td.body')"
                                    ".textContent" % buried), "<img src=x onerror=alert(1)>")
        self.assertEqual(b.evaluate("document.querySelectorAll('#jobs img').length"), 0)
        self.click('#jobs tr[data-id="%d"] .kick-job' % buried)
        deadline = time.monotonic() + 10
        while self.job_state(buried) != "ready":
            self.assertLess(time.monotonic(), deadline, "the kick never reached the server")
            time.sleep(0.1)

        # Deleted from the page, the job is gone from the server.
        self.click('#state-tabs button[data-state="ready"]')
        b.wait_for("document.querySelector('#jobs tr[data-id=\"%d\"] .delete-job') !== null" % buried,
                   what="the ready job's row")
        self.click('#jobs tr[data-id="%d"] .delete-job' % buried)
        deadline = time.monotonic() + 10
        while self.job_state(buried) is not None:
            self.assertLess(time.monotonic(), deadline, "the delete never reached the server")
            time.sleep(0.1)
        b.wait_for("document.querySelector('#jobs tr[data-id=\"%d\"]') === null" % buried,
                   what="the row to go")

        # A put from the page's form lands in the tube it names.
        b.evaluate("(() => { const f = document.querySelector('#put-form');"
                   "f.tube.value = 'from-page'; f.body.value = 'typed'; "
                   "f.querySelector('button').click(); })()")
        deadline = time.monotonic() + 10
        while True:
            self.c.send(b"stats-tube from-page\r\n")
            line = self.c.read_line()
            if line.startswith(b"OK "):
                self.c.read_exact(int(line.split()[1]) + 2)
                break
            self.assertLess(time.monotonic(), deadline, "the page's put never arrived")
            time.sleep(0.1)
        self.proto(b"use from-page", b"USING")
        self.c.send(b"peek-ready\r\n")
        self.assertEqual(self.c.read_job("FOUND")[1], b"typed")

        # The charts drew and nothing went wrong in the page.
        b.wait_for("document.querySelector('#rate-legend').children.length === 4",
                   what="the rate chart's legend")
        self.assertEqual(b.errors(), [])


class ConsoleUsersInBrowser(BrowserCase):
    """The page under synqd --users: viewer may peek at seen-* only."""

    def server_args(self):
        self.dir = tempfile.mkdtemp(prefix="synq-console-users-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        users = os.path.join(self.dir, "users")
        with open(users, "w") as f:
            f.write("root %s *:all\nviewer %s seen-*:peek\n"
                    % (pbkdf2_hash(ROOT_PASSWORD), pbkdf2_hash(VIEWER_PASSWORD)))
        return ["--users", users]

    def log_in(self, user, password):
        self.browser.evaluate(
            "(() => { document.querySelector('#login-user').value = %r;"
            "document.querySelector('#login-password').value = %r;"
            "document.querySelector('#login-form button[type=submit]').click(); })()"
            % (user, password))

    def login_error(self, text):
        return self.browser.wait_for(
            "document.querySelector('#login-form') && !document.querySelector('#login-form').hidden && "
            "document.querySelector('#login-error').textContent.includes(%r)" % text,
            what="the login form saying %r" % text)

    def test_user_logs_in_sees_its_tubes_and_logs_out(self):
        b = self.browser
        self.assertEqual(self.c.cmd(b"auth root %s" % ROOT_PASSWORD.encode()), b"OK_AUTH\r\n")
        seen = self.put(b"seen-1", b"you may look")
        self.put(b"hidden-1", b"not for viewer")

        b.navigate(self.cs.http + "/")
        # The page asks with its own form (no browser prompt: headless Chromium would fail
        # the fetch instead), and says why.
        self.login_error("log in as a user")
        self.assertEqual(b.evaluate("document.querySelector('#conn').textContent"),
                         "not logged in")
        self.log_in("viewer", "wrong")
        self.login_error("wrong user name or password (401)")

        self.log_in("viewer", VIEWER_PASSWORD)
        b.wait_for("document.querySelector('#tubes tr[data-tube=\"seen-1\"]') !== null",
                   what="the tube viewer may see")
        self.assertEqual(b.evaluate("document.querySelector('#tubes tr[data-tube=\"hidden-1\"]')"),
                         None)
        self.assertEqual(b.evaluate("[...document.querySelectorAll('#tubes tbody tr')]"
                                    ".map((r) => r.dataset.tube)"), ["seen-1"])
        b.wait_for("document.querySelector('#who-name').textContent === 'user viewer'",
                   what="the user's name in the header")
        # summary and history need *:admin: a note instead, and the page stays live.
        self.assertFalse(b.evaluate("document.querySelector('#figures-note').hidden"))
        self.assertEqual(b.evaluate("document.querySelector('#conn').textContent"), "live")
        # The password is nowhere but in the script's memory.
        stored = b.evaluate("JSON.stringify(sessionStorage) + JSON.stringify(localStorage) + "
                            "document.cookie + document.querySelector('#login-password').value")
        self.assertNotIn("p\u00e4ss", stored)

        # peek is allowed: the job shows; kick needs admin: 403, said in the page.
        self.click('#tubes tr[data-tube="seen-1"]')
        b.wait_for("document.querySelector('#jobs tr[data-id=\"%d\"]') !== null" % seen,
                   what="the job's row")
        self.click("#kick-all")
        b.wait_for("document.querySelector('#status').textContent.includes('not allowed (403)')",
                   what="the 403 in the status line")
        self.assertEqual(b.evaluate("document.querySelector('#status').className"), "err")

        # Logging out forgets the user: the form again, the tubes gone.
        self.click("#logout")
        self.login_error("logged out")
        b.wait_for("document.querySelectorAll('#tubes tbody tr').length === 0",
                   what="the tube table emptied")
        time.sleep(1.5)  # a poll or two: still logged out, nothing refilled
        self.assertEqual(b.evaluate("document.querySelectorAll('#tubes tbody tr').length"), 0)

        # A reload forgets it too (memory only).
        b.navigate(self.cs.http + "/")
        self.login_error("log in as a user")

        # Four more wrong passwords make five failures a minute: the sixth login is held.
        for _ in range(4):
            self.log_in("viewer", "wrong")
            self.login_error("wrong user name or password (401)")
            b.evaluate("document.querySelector('#login-error').textContent = ''")
        self.log_in("viewer", VIEWER_PASSWORD)
        self.login_error("too many failed logins from this address")
        self.assertIn("(429)", b.evaluate("document.querySelector('#login-error').textContent"))

        # Only the refused requests themselves were logged: no script error.
        self.assertEqual([e for e in b.errors() if not e.startswith("log: Failed to load")], [])


if __name__ == "__main__":
    sqharness.main()
