"""synqd's per-tube settings over real sockets (issue 16 item 6; docs/protocol.md, Extensions):
tube-set and tube-info, each setting's behaviour (max-reserves with and without a dead-letter
tube, retry-backoff, max-reserved, rate, expire), the BAD_FORMAT cases, list-tubes keeping a
configured empty tube until its settings are back to defaults, and the settings surviving
kill -9 and a restart with -b, also after compaction (a small -s rotates segments).

synqd only. Python 3 standard library only; every wait is bounded and every server stopped.
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402

WAIT_S = 10.0  # the longest any timed behaviour below may take (generous: ASan, loaded CI)


class TubeBase:
    def use(self, c, tube):
        self.assertEqual(c.cmd("use %s" % tube), b"USING %s\r\n" % tube.encode())

    def watch_only(self, c, tube):
        self.assertEqual(c.cmd("watch %s" % tube)[:9], b"WATCHING ")
        if tube != "default":
            self.assertEqual(c.cmd("ignore default"), b"WATCHING 1\r\n")

    def info(self, c, tube):
        c.send(b"tube-info %s\r\n" % tube.encode())
        return dict(sqharness.parse_yaml(c.read_yaml_reply()))

    def tubes(self, c):
        c.send(b"list-tubes\r\n")
        return sqharness.parse_yaml(c.read_yaml_reply())

    def stats_job(self, c, jid):
        c.send(b"stats-job %d\r\n" % jid)
        return dict(sqharness.parse_yaml(c.read_yaml_reply()))

    def exists(self, c, jid):
        c.send(b"stats-job %d\r\n" % jid)
        line = c.read_line()
        if line == b"NOT_FOUND\r\n":
            return False
        c.read_exact(int(line.split()[1]) + 2)
        return True

    def reserve(self, c, timeout=0):
        c.send(b"reserve-with-timeout %d\r\n" % timeout)
        line = c.read_line(timeout=timeout + WAIT_S)
        if line.startswith(b"RESERVED "):
            n = int(line.split()[2])
            c.read_exact(n + 2)
            return int(line.split()[1])
        return line

    def wait_for(self, what, pred):
        end = time.monotonic() + WAIT_S
        while time.monotonic() < end:
            if pred():
                return
            time.sleep(0.05)
        self.fail("timed out waiting for " + what)


class TubeSetCommands(TubeBase):
    def test_bad_format(self):
        c = self.client()
        for line in ["tube-set a", "tube-set a rate", "tube-set a bogus 1",
                     "tube-set a rate x", "tube-set a rate 1 2", "tube-set a rate -1",
                     "tube-set a rate 4294967296", "tube-set -a rate 1",
                     "tube-set a dead-letter -x", "tube-set a dead-letter", "tube-set a  rate 1",
                     "tube-set a rate 1 ", "tube-info a b", "tube-info -a"]:
            self.assertEqual(c.cmd(line), b"BAD_FORMAT\r\n", line)
        self.assertEqual(c.cmd("tube-info nosuch"), b"NOT_FOUND\r\n")

    def test_every_setting_shown_and_empty_tube_kept_until_defaults(self):
        c = self.client()
        settings = [("max-reserves", "3"), ("dead-letter", "dl"), ("retry-backoff", "250"),
                    ("max-reserved", "4"), ("rate", "100"), ("expire", "3600")]
        for name, value in settings:
            self.assertEqual(c.cmd("tube-set cfg %s %s" % (name, value)), b"SET\r\n")
        self.assertIn("cfg", self.tubes(c))
        info = self.info(c, "cfg")
        for name, value in settings:
            want = '"%s"' % value if name == "dead-letter" else value
            self.assertEqual(info[name], want, name)
        for k in ("oldest-ready-age", "dead-lettered", "expired"):
            self.assertEqual(info[k], "0", k)
        self.assertEqual(info["name"], "cfg")
        # Back to defaults one by one: the tube stays until the last one goes.
        for name, _ in settings[:-1]:
            off = "-" if name == "dead-letter" else "0"
            self.assertEqual(c.cmd("tube-set cfg %s %s" % (name, off)), b"SET\r\n")
            self.assertIn("cfg", self.tubes(c))
        self.assertEqual(self.info(c, "cfg")["dead-letter"], '"-"')
        self.assertEqual(c.cmd("tube-set cfg expire 0"), b"SET\r\n")
        self.assertNotIn("cfg", self.tubes(c))
        self.assertEqual(c.cmd("tube-info cfg"), b"NOT_FOUND\r\n")

    def test_latency_figures_for_jobs_reserved_after_a_known_wait(self):
        c = self.client()
        self.use(c, "lat")
        self.watch_only(c, "lat")
        info = self.info(c, "lat")  # the first tube-info starts the tube's rings
        for k in ("wait-ms-p50", "wait-ms-p99", "run-ms-p50", "run-ms-p99"):
            self.assertEqual(info[k], "-1", k)
        for _ in range(3):
            c.send(b"put 0 0 60 1\r\nx\r\n")
            self.assertEqual(c.read_line()[:9], b"INSERTED ")
        time.sleep(0.5)
        ids = [self.reserve(c) for _ in range(3)]
        time.sleep(0.3)
        for jid in ids:
            self.assertEqual(c.cmd("delete %d" % jid), b"DELETED\r\n")
        info = self.info(c, "lat")
        # Bounds: the sleeps from below (creation times are in 128 ms steps, so a wait may read
        # up to 128 ms short), and from above a bin's width and a loaded machine's slack.
        for k in ("wait-ms-p50", "wait-ms-p99"):
            self.assertGreaterEqual(int(info[k]), 500 - 128, k)
            self.assertLess(int(info[k]), 500 + WAIT_S * 1000, k)
        for k in ("run-ms-p50", "run-ms-p99"):
            self.assertGreaterEqual(int(info[k]), 300, k)
            self.assertLess(int(info[k]), 300 + WAIT_S * 1000, k)

    def test_max_reserves_moves_to_dead_letter_ready(self):
        c = self.client()
        self.assertEqual(c.cmd("tube-set mr max-reserves 2"), b"SET\r\n")
        self.assertEqual(c.cmd("tube-set mr dead-letter mr-dl"), b"SET\r\n")
        self.use(c, "mr")
        jid = self.put(c, b"poison")
        self.watch_only(c, "mr")
        self.assertEqual(self.reserve(c), jid)
        self.assertEqual(c.cmd("release %d 0 0" % jid), b"RELEASED\r\n")
        self.assertEqual(self.reserve(c), jid)
        self.assertEqual(c.cmd("release %d 0 0" % jid), b"RELEASED\r\n")
        st = self.stats_job(c, jid)
        self.assertEqual((st["tube"], st["state"], st["reserves"]), ("mr-dl", "ready", "2"))
        self.assertEqual(self.reserve(c), b"TIMED_OUT\r\n")
        self.assertEqual(self.info(c, "mr")["dead-lettered"], "1")

    def test_max_reserves_buries_in_place_on_timeout(self):
        c = self.client()
        self.assertEqual(c.cmd("tube-set mb max-reserves 1"), b"SET\r\n")
        self.use(c, "mb")
        jid = self.put(c, b"x", ttr=1)
        self.watch_only(c, "mb")
        self.assertEqual(self.reserve(c), jid)
        self.wait_for("the TTR to run out", lambda: self.stats_job(c, jid)["state"] == "buried")
        self.assertEqual(self.stats_job(c, jid)["tube"], "mb")
        self.assertEqual(self.info(c, "mb")["dead-lettered"], "1")

    def test_retry_backoff_delays_a_timed_out_job(self):
        c = self.client()
        self.assertEqual(c.cmd("tube-set rb retry-backoff 60000"), b"SET\r\n")
        self.use(c, "rb")
        jid = self.put(c, b"x", ttr=1)
        self.watch_only(c, "rb")
        self.assertEqual(self.reserve(c), jid)
        self.wait_for("the TTR to run out", lambda: self.stats_job(c, jid)["state"] != "reserved")
        st = self.stats_job(c, jid)
        self.assertEqual((st["state"], st["timeouts"]), ("delayed", "1"))
        self.assertTrue(50 <= int(st["time-left"]) <= 60, st)

    def test_max_reserved_caps_across_workers(self):
        a, b = self.client(), self.client()
        self.assertEqual(a.cmd("tube-set cap max-reserved 1"), b"SET\r\n")
        self.use(a, "cap")
        ids = [self.put(a, b"j%d" % i) for i in range(2)]
        for c in (a, b):
            self.watch_only(c, "cap")
        self.assertEqual(self.reserve(a), ids[0])
        self.assertEqual(self.reserve(b), b"TIMED_OUT\r\n")
        self.assertEqual(self.info(a, "cap")["held"], "true")
        b.send(b"reserve-with-timeout 20\r\n")
        b.expect_silence(0.3)
        self.assertEqual(a.cmd("delete %d" % ids[0]), b"DELETED\r\n")
        line = b.read_line(timeout=WAIT_S)
        self.assertEqual(line, b"RESERVED %d 2\r\n" % ids[1])

    def test_rate_limits_reserves_per_second(self):
        c = self.client()
        self.assertEqual(c.cmd("tube-set rl rate 2"), b"SET\r\n")
        self.use(c, "rl")
        ids = [self.put(c, b"j%d" % i) for i in range(3)]
        self.watch_only(c, "rl")
        self.assertEqual(self.reserve(c), ids[0])
        self.assertEqual(self.reserve(c), ids[1])
        self.assertEqual(self.reserve(c), b"TIMED_OUT\r\n")
        # The next token comes in half a second: a waiting reserve gets it then.
        self.assertEqual(self.reserve(c, 5), ids[2])

    def test_expire_deletes_or_dead_letters(self):
        c = self.client()
        self.assertEqual(c.cmd("tube-set ex expire 1"), b"SET\r\n")
        self.use(c, "ex")
        gone = [self.put(c, b"a"), self.put(c, b"b", delay=100)]
        self.wait_for("expiry", lambda: not self.exists(c, gone[1]))
        self.assertFalse(self.exists(c, gone[0]))
        self.assertEqual(self.info(c, "ex")["expired"], "2")
        self.assertEqual(c.cmd("tube-set ex dead-letter ex-dl"), b"SET\r\n")
        moved = self.put(c, b"m")
        self.wait_for("expiry", lambda: self.stats_job(c, moved)["tube"] == "ex-dl")
        self.assertEqual(self.stats_job(c, moved)["state"], "ready")


class TubeSetDurability(sqharness.LogDirServers, TubeBase):
    """Settings survive kill -9 and a restart with -b, also compaction."""

    def _scenario(self, extra, traffic):
        srv = self.start(extra)
        c = self.client(srv)
        # A live job in the first segment makes it a compaction target, so that it is migrated
        # and removed with the TUBE records it holds.
        self.use(c, "live")
        live = self.put(c, b"L")
        for line in ["tube-set keep max-reserved 7", "tube-set keep dead-letter dl",
                     "tube-set keep rate 9", "tube-set gone rate 5", "tube-set gone rate 0",
                     "tube-set other expire 3600"]:
            self.assertEqual(c.cmd(line), b"SET\r\n", line)
        # Enough traffic to rotate small segments and compact away the ones with the records.
        self.use(c, "churn")
        for i in range(traffic):
            jid = self.put(c, b"c" * 200)
            self.assertEqual(c.cmd("delete %d" % jid), b"DELETED\r\n")
        if traffic > 100:
            first = os.path.join(self.dir, "wal.%016x" % 1)
            self.wait_for("the first segment to be collected", lambda: not os.path.exists(first))
        c.close()
        srv = self.kill9_restart(srv, extra)
        c = self.client(srv)
        info = self.info(c, "keep")
        self.assertEqual((info["max-reserved"], info["dead-letter"], info["rate"]),
                         ("7", '"dl"', "9"))
        self.assertEqual(self.info(c, "other")["expire"], "3600")
        self.assertNotIn("gone", self.tubes(c))
        self.assertTrue(self.exists(c, live))
        srv.stop()
        srv = self.start(extra)
        c = self.client(srv)
        self.assertEqual(self.info(c, "keep")["rate"], "9")

    def test_survive_kill9(self):
        self._scenario((), 10)

    def test_survive_kill9_after_compaction(self):
        self._scenario(["-s", "8192", "-z", "1024"], 300)


sqharness.register(globals(), TubeSetCommands, TubeSetDurability, only=("synqd",))

if __name__ == "__main__":
    sqharness.main()
