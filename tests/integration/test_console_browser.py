"""The web console in a real browser: Debian's headless Chromium, driven over
the DevTools protocol (cdp.py), loads the page synqd serves, sees a tube
appear after a put, kicks a buried job from the page and finds it ready on
the server, deletes a job from the page, puts one from the page's form, and
logs no console error on the way.  It skips only when Chromium cannot start
(and says why); every other problem fails."""

import time
import unittest

import sqharness
from cdp import Browser, BrowserUnavailable
from consoleclient import ConsoleServer


class ConsoleInBrowser(unittest.TestCase):
    def setUp(self):
        try:
            self.browser = Browser()
        except BrowserUnavailable as e:
            print("skipping the browser test: %s" % e)
            self.skipTest(str(e))
        self.addCleanup(self.browser.close)
        self.cs = ConsoleServer().start()
        self.addCleanup(self.cs.stop)
        self.c = sqharness.Client(self.cs.port)
        self.addCleanup(self.c.close)

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


if __name__ == "__main__":
    sqharness.main()
