"""Wall-clock jumps (issue 16 item 7; docs/operations.md, Time): delays, TTRs and pauses run on
the monotonic clock, so jumping synqd's wall clock an hour forward or back while it runs moves
none of them; the log stores wall-clock instants, so a restart with -b translates a delay
through the wall clock (a jump while stopped shortens or lengthens it by the jump).

The jumps go through the test seam SYNQD_WALL_OFFSET_FILE (src/synqd/wallclock.h): a file
holding the offset in ms that synqd adds to every wall-clock reading, re-read at each one.

synqd only (beanstalkd has no seam). Python 3 standard library only; every wait is bounded
(early means "before a lower bound the monotonic clock guarantees", late means "past a
generous ceiling"), every server stopped.
"""

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402

HOUR_MS = 3600 * 1000
# Delays, TTRs and pauses of the running-server test, in seconds.
SPAN_S = 4
# How late past its deadline something may become ready on a loaded machine.
LATE_SLACK_S = 6.0


class TimeBase:
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="synq-time-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.offset_file = os.path.join(self.dir, "wall-offset-ms")
        self.set_offset(0)

    def set_offset(self, ms):
        tmp = self.offset_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % ms)
        os.replace(tmp, self.offset_file)  # synqd never reads half a number

    def start(self):
        log_dir = os.path.join(self.dir, "log")
        old = os.environ.get("SYNQD_WALL_OFFSET_FILE")
        os.environ["SYNQD_WALL_OFFSET_FILE"] = self.offset_file
        try:
            srv = sqharness.Server("synqd", ["-b", log_dir, "-f", "0"]).start()
        finally:
            if old is None:
                del os.environ["SYNQD_WALL_OFFSET_FILE"]
            else:
                os.environ["SYNQD_WALL_OFFSET_FILE"] = old
        self.addCleanup(srv.stop)
        return srv

    def stats(self, c, line):
        c.send(line.encode() + b"\r\n")
        return dict(sqharness.parse_yaml(c.read_yaml_reply()))

    def use(self, c, tube):
        self.assertEqual(c.cmd("use %s" % tube), b"USING %s\r\n" % tube.encode())


class WallClockJumps(TimeBase):
    def test_jumps_move_no_deadline_of_a_running_server(self):
        srv = self.start()
        c = self.client(srv)
        worker = self.client(srv)
        t0 = time.monotonic()
        delayed = self.put(c, b"delayed", delay=SPAN_S)
        held = self.put(c, b"held", ttr=SPAN_S)
        worker.send(b"reserve-with-timeout 0\r\n")
        self.assertEqual(worker.read_job("RESERVED"), (held, b"held"))
        self.use(c, "paused")
        in_pause = self.put(c, b"in-pause")
        self.assertEqual(c.cmd("pause-tube paused %d" % SPAN_S), b"PAUSED\r\n")

        # Jump forward an hour, then back an hour below the real clock; each put reads the
        # wall clock (its log record carries wall-clock instants).
        for offset in (HOUR_MS, -HOUR_MS):
            self.set_offset(offset)
            self.use(c, "noise")
            self.put(c, b"reads the wall clock", delay=1000)
            st = self.stats(c, "stats-job %d" % delayed)
            self.assertEqual(st["state"], "delayed", st)
            self.assertEqual(st["delay"], str(SPAN_S))
            self.assertTrue(0 <= int(st["time-left"]) <= SPAN_S, st)
            st = self.stats(c, "stats-job %d" % held)
            self.assertEqual(st["state"], "reserved", st)
            self.assertTrue(0 <= int(st["time-left"]) <= SPAN_S, st)
            st = self.stats(c, "stats-tube paused")
            self.assertTrue(0 <= int(st["pause-time-left"]) <= SPAN_S, st)

        # Nothing early: until SPAN_S - 1 s after t0 (the monotonic clock guarantees it) all
        # three are still waiting.
        while time.monotonic() - t0 < SPAN_S - 1.5:
            time.sleep(0.1)
        if time.monotonic() - t0 < SPAN_S - 1:
            self.assertEqual(self.stats(c, "stats-job %d" % delayed)["state"], "delayed")
            self.assertEqual(self.stats(c, "stats-job %d" % held)["state"], "reserved")
            self.assertEqual(c.cmd("peek-ready"), b"NOT_FOUND\r\n")  # tube noise: none ready

        # Nothing late: all three come due within the slack.
        self.use(c, "default")
        deadline = t0 + SPAN_S + LATE_SLACK_S
        states = {}
        while time.monotonic() < deadline:
            states = {jid: self.stats(c, "stats-job %d" % jid)["state"]
                      for jid in (delayed, held)}
            if set(states.values()) == {"ready"}:
                break
            time.sleep(0.1)
        self.assertEqual(states, {delayed: "ready", held: "ready"})
        reserver = self.client(srv)
        self.assertEqual(reserver.cmd("watch paused"), b"WATCHING 2\r\n")
        self.assertEqual(reserver.cmd("ignore default"), b"WATCHING 1\r\n")
        reserver.send(b"reserve-with-timeout %d\r\n" % int(LATE_SLACK_S))
        self.assertEqual(reserver.read_job("RESERVED"), (in_pause, b"in-pause"))
        self.assertLess(time.monotonic() - t0, SPAN_S + LATE_SLACK_S)
        self.assertIn("SYNQD_WALL_OFFSET_FILE", srv.log_text())

    def restart_after_jump(self, jump_ms, delay_s):
        """A job delayed delay_s, synqd stopped, the wall clock jumped: time-left after the
        restart (and the stats-job of it)."""
        srv = self.start()
        c = self.client(srv)
        jid = self.put(c, b"across", delay=delay_s)
        c.close()
        srv.stop()
        self.assertEqual(srv.exit_status, 0, srv.log_text())
        self.set_offset(jump_ms)
        srv = self.start()
        self.server_after_jump = srv
        c = self.client(srv)
        return jid, self.stats(c, "stats-job %d" % jid)

    def test_restart_translates_a_delay_through_the_wall_clock(self):
        # Forward 5 minutes while stopped: the wall clock says 5 minutes passed.
        _, st = self.restart_after_jump(300 * 1000, 600)
        self.assertEqual((st["state"], st["delay"]), ("delayed", "600"))
        self.assertTrue(290 <= int(st["time-left"]) <= 300, st)
        self.assertTrue(300 <= int(st["age"]) <= 310, st)

    def test_restart_after_a_backward_jump_lengthens_the_delay(self):
        _, st = self.restart_after_jump(-300 * 1000, 600)
        self.assertEqual(st["state"], "delayed")
        self.assertTrue(890 <= int(st["time-left"]) <= 900, st)

    def test_restart_after_a_jump_past_the_deadline_makes_it_ready(self):
        jid, st = self.restart_after_jump(HOUR_MS, 600)
        self.assertEqual(st["time-left"], "0", st)
        # Due at the replay: the store's first tick (the next loop pass) makes it ready.
        c = self.client(self.server_after_jump)
        c.send(b"reserve-with-timeout 5\r\n")
        self.assertEqual(c.read_job("RESERVED"), (jid, b"across"))


sqharness.register(globals(), WallClockJumps, only=("synqd",))

if __name__ == "__main__":
    sqharness.main()
