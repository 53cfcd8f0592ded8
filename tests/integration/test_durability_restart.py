"""Durability: every job state survives a restart of the real server.

Model: each test gets its own log directory and starts the server with
`-b DIR` and one fsync mode (`-f 0`, `-f 50`, `-F`).  It builds jobs in every
state the protocol has (ready, delayed, buried, reserved, released with a
delay, kicked, deleted), in several tubes, stops the server either cleanly
(SIGTERM) or with kill -9, starts a new one on the same directory, and checks
each job byte for byte through peek, stats-job and reserve.

Kill -9 loses nothing here in any mode: a reply is sent only after the batch
was written to the kernel, and a killed process does not take the page cache
with it.  (Power loss is what -f 50 and -F trade away; that is not tested.)

Runs against synqd and, as the reference, Debian's beanstalkd, whose `-b`,
`-f` and `-F` mean the same; synqd-only stats fields are checked for synqd
only.  Python 3 standard library only.
"""

import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402
from sqharness import ProtocolError  # noqa: E402

DELAY_S = 2          # delay of the delayed and released jobs: short, but > restart time
EARLY_SLACK_S = 0.05  # a delayed job may not become ready more than this early
LATE_SLACK_S = 1.0    # ... nor this much late (timer granularity, loaded CI machine)


def put_on(c, tube, body, pri=0, delay=0, ttr=60):
    """`use tube`, put, require INSERTED; returns the id."""
    if c.cmd("use %s" % tube) != b"USING %s\r\n" % tube.encode():
        raise ProtocolError("use %s failed" % tube)
    c.send(b"put %d %d %d %d\r\n%s\r\n" % (pri, delay, ttr, len(body), body))
    line = c.read_line()
    m = re.fullmatch(rb"INSERTED (\d+)\r\n", line)
    if not m:
        raise ProtocolError("put: expected INSERTED <id>, got %r" % line)
    return int(m.group(1))


def yaml_dict(c, line):
    c.send(line.encode() + b"\r\n")
    return dict(sqharness.parse_yaml(c.read_yaml_reply()))


class DurabilityBase:
    """Per-test log directory and server helpers; no server of the harness's own."""

    MODE = ("-f", "0")

    @classmethod
    def setUpClass(cls):
        cls.server = None  # every test starts its own servers on its own directory

    def setUp(self):
        self._clients = []
        self.addCleanup(self._close_clients)
        self.dir = tempfile.mkdtemp(prefix="synq-dur-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def start(self, mode=None):
        srv = sqharness.Server(self.TARGET, ["-b", self.dir] + list(mode or self.MODE))
        srv.start()
        self.addCleanup(srv.stop)
        return srv

    def restart(self, srv, how, mode=None):
        """Stop `srv` by SIGTERM ("term") or SIGKILL ("kill9"), start a new
        server on the same directory and return it."""
        for c in self._clients:
            c.close()
        self._clients = []
        if how == "kill9":
            srv.proc.kill()
            srv.proc.wait(sqharness.STOP_TIMEOUT_S)
            srv.stop()
        else:
            self.assertIsNone(srv.stop(), "server died before SIGTERM:\n" + srv.log_text())
            if self.TARGET == "synqd":  # beanstalkd does not catch SIGTERM
                self.assertEqual(srv.exit_status, 0, "exit status after SIGTERM; output:\n"
                                 + srv.log_text())
        return self.start(mode)

    def peek(self, c, job_id):
        """The body of job `job_id`, or None for NOT_FOUND."""
        c.send(b"peek %d\r\n" % job_id)
        line = c.read_line()
        if line == b"NOT_FOUND\r\n":
            return None
        m = re.fullmatch(rb"FOUND (\d+) (\d+)\r\n", line)
        if not m:
            raise ProtocolError("peek %d: got %r" % (job_id, line))
        self.assertEqual(int(m.group(1)), job_id)
        data = c.read_exact(int(m.group(2)) + 2)
        self.assertEqual(data[-2:], b"\r\n")
        return data[:-2]

    def assert_job(self, c, job_id, body, state, tube, pri, ttr):
        self.assertEqual(self.peek(c, job_id), body, "body of job %d" % job_id)
        st = yaml_dict(c, "stats-job %d" % job_id)
        self.assertEqual((st["state"], st["tube"], st["pri"], st["ttr"]),
                         (state, tube, str(pri), str(ttr)), "stats-job %d" % job_id)
        return st


class RestartKeepsEveryState(DurabilityBase):
    """One scenario with every state, run for each fsync mode and stop method."""

    def _scenario(self, mode, how):
        rnd = random.Random(1234)
        srv = self.start(mode)
        c = sqharness.Client(srv.port)
        self._clients.append(c)
        worker = sqharness.Client(srv.port)
        self._clients.append(worker)

        binary = bytes(range(256)) * 3 + b"\r\n\x00\r\n"
        big = bytes(rnd.getrandbits(8) for _ in range(60 * 1024))
        ready = [  # (tube, body, pri, ttr)
            ("default", binary, 0, 60),
            ("default", b"", 4294967295, 1),
            ("t-big", big, 1024, 120),
            ("t.other_1", b"plain text", 7, 3600),
        ]
        ready_ids = [put_on(c, t, b, p, 0, ttr) for t, b, p, ttr in ready]

        # Delayed and released-with-delay: both become ready DELAY_S after now.
        t_before = time.monotonic()
        delayed_id = put_on(c, "t-delay", b"delayed body", 11, DELAY_S, 30)
        rel_id = put_on(c, "t-rel", b"released body", 5, 0, 40)
        self.assertEqual(worker.cmd("watch t-rel"), b"WATCHING 2\r\n")
        self.assertEqual(worker.cmd("ignore default"), b"WATCHING 1\r\n")
        worker.send(b"reserve-with-timeout 0\r\n")
        self.assertEqual(worker.read_job("RESERVED"), (rel_id, b"released body"))
        self.assertEqual(worker.cmd("release %d 99 %d" % (rel_id, DELAY_S)), b"RELEASED\r\n")
        t_after = time.monotonic()

        # Buried; kicked from buried; kicked from delayed (kick-job).
        buried_id = put_on(c, "t-bury", b"buried body", 3, 0, 50)
        kicked_id = put_on(c, "t-bury", b"kicked body", 4, 0, 50)
        kicked_delayed_id = put_on(c, "t-kd", b"kicked delayed", 6, 3600, 50)
        self.assertEqual(worker.cmd("watch t-bury"), b"WATCHING 2\r\n")
        for want in (buried_id, kicked_id):
            worker.send(b"reserve-with-timeout 0\r\n")
            self.assertEqual(worker.read_job("RESERVED")[0], want)
            self.assertEqual(worker.cmd("bury %d 8" % want), b"BURIED\r\n")
        self.assertEqual(c.cmd("kick-job %d" % kicked_id), b"KICKED\r\n")
        self.assertEqual(c.cmd("kick-job %d" % kicked_delayed_id), b"KICKED\r\n")

        # Reserved at the moment of the restart; deleted ones.
        reserved_id = put_on(c, "t-res", b"reserved body", 2, 0, 70)
        self.assertEqual(worker.cmd("watch t-res"), b"WATCHING 3\r\n")
        worker.send(b"reserve-with-timeout 0\r\n")
        self.assertEqual(worker.read_job("RESERVED"), (reserved_id, b"reserved body"))
        deleted_ready = put_on(c, "default", b"gone 1")
        deleted_buried = put_on(c, "t-gone", b"gone 2", 2000)
        self.assertEqual(c.cmd("delete %d" % deleted_ready), b"DELETED\r\n")
        self.assertEqual(c.cmd("watch t-gone"), b"WATCHING 2\r\n")
        self.assertEqual(c.cmd("ignore default"), b"WATCHING 1\r\n")
        c.send(b"reserve-with-timeout 0\r\n")
        self.assertEqual(c.read_job("RESERVED")[0], deleted_buried)
        self.assertEqual(c.cmd("bury %d 2000" % deleted_buried), b"BURIED\r\n")
        self.assertEqual(c.cmd("delete %d" % deleted_buried), b"DELETED\r\n")
        max_id = deleted_buried

        srv = self.restart(srv, how, mode)
        c = sqharness.Client(srv.port)
        self._clients.append(c)

        for job_id, (tube, body, pri, ttr) in zip(ready_ids, ready):
            self.assert_job(c, job_id, body, "ready", tube, pri, ttr)
        for job_id in (deleted_ready, deleted_buried):
            self.assertIsNone(self.peek(c, job_id), "deleted job %d came back" % job_id)
        self.assert_job(c, reserved_id, b"reserved body", "ready", "t-res", 2, 70)
        self.assert_job(c, kicked_id, b"kicked body", "ready", "t-bury", 8, 50)
        self.assert_job(c, kicked_delayed_id, b"kicked delayed", "ready", "t-kd", 6, 50)
        self.assert_job(c, buried_id, b"buried body", "buried", "t-bury", 8, 50)
        self.assertEqual(c.cmd("use t-bury"), b"USING t-bury\r\n")
        c.send(b"peek-buried\r\n")
        self.assertEqual(c.read_job("FOUND"), (buried_id, b"buried body"))

        # The delay goes on from where it was: still delayed now, ready on time. A loaded
        # machine (a sanitizer build beside other tests) can take the restart past the
        # delay; the jobs are then rightly ready, and the reserves below still check that
        # none became ready early.
        for job_id, body, tube, pri, ttr in ((delayed_id, b"delayed body", "t-delay", 11, 30),
                                             (rel_id, b"released body", "t-rel", 99, 40)):
            asked = time.monotonic()
            st = yaml_dict(c, "stats-job %d" % job_id)
            answered = time.monotonic()
            if answered < t_before + DELAY_S:
                expect = ("delayed",)  # before the earliest deadline
            elif asked >= t_after + DELAY_S:
                expect = ("ready",)  # after the latest
            else:
                expect = ("delayed", "ready")  # the deadline fell while we asked
            self.assertIn(st["state"], expect, "job %d after %.2fs" % (job_id, asked - t_before))
            self.assertEqual(self.peek(c, job_id), body, "body of job %d" % job_id)
            self.assertEqual((st["tube"], st["pri"], st["ttr"]), (tube, str(pri), str(ttr)),
                             "stats-job %d" % job_id)
            if st["state"] == "delayed":
                self.assertLessEqual(int(st["time-left"]), DELAY_S)
        w = sqharness.Client(srv.port, timeout=DELAY_S + 5)
        self._clients.append(w)
        self.assertEqual(w.cmd("watch t-delay"), b"WATCHING 2\r\n")
        self.assertEqual(w.cmd("watch t-rel"), b"WATCHING 3\r\n")
        self.assertEqual(w.cmd("ignore default"), b"WATCHING 2\r\n")
        got = set()
        for _ in range(2):
            w.send(b"reserve-with-timeout %d\r\n" % (DELAY_S + 3))
            job_id, _body = w.read_job("RESERVED")
            now = time.monotonic()
            got.add(job_id)
            self.assertGreaterEqual(now, t_before + DELAY_S - EARLY_SLACK_S,
                                    "job %d ready %.2fs early" % (job_id, t_before + DELAY_S - now))
            self.assertLessEqual(now, t_after + DELAY_S + LATE_SLACK_S,
                                 "job %d ready %.2fs late" % (job_id, now - t_after - DELAY_S))
        self.assertEqual(got, {delayed_id, rel_id})

        # Kick still works on the recovered buried job, and survives another restart.
        self.assertEqual(c.cmd("kick 1"), b"KICKED 1\r\n")
        self.assert_job(c, buried_id, b"buried body", "ready", "t-bury", 8, 50)
        next_id = put_on(c, "default", b"after restart")
        self.assertGreater(next_id, max_id)
        srv = self.restart(srv, how, mode)
        c = sqharness.Client(srv.port)
        self._clients.append(c)
        self.assert_job(c, buried_id, b"buried body", "ready", "t-bury", 8, 50)
        self.assert_job(c, next_id, b"after restart", "ready", "default", 0, 60)
        self.assert_job(c, ready_ids[2], big, "ready", "t-big", 1024, 120)
        for job_id in (deleted_ready, deleted_buried):
            self.assertIsNone(self.peek(c, job_id), "deleted job %d came back" % job_id)
        c.send(b"stats\r\n")
        st = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        # 4 ready + reserved + 2 kicked + buried(now kicked) + delayed + released + next
        self.assertEqual(st["current-jobs-ready"], "11")
        self.assertEqual(st["current-jobs-buried"], "0")
        self.assertEqual(st["current-jobs-delayed"], "0")
        self.assertEqual(st["current-jobs-reserved"], "0")

    def test_sigterm_fsync_always(self):
        self._scenario(("-f", "0"), "term")

    def test_kill9_fsync_always(self):
        self._scenario(("-f", "0"), "kill9")

    def test_sigterm_fsync_50ms(self):
        self._scenario(("-f", "50"), "term")

    def test_kill9_fsync_50ms(self):
        self._scenario(("-f", "50"), "kill9")

    def test_sigterm_no_fsync(self):
        self._scenario(("-F",), "term")

    def test_kill9_no_fsync(self):
        self._scenario(("-F",), "kill9")


class RestartIds(DurabilityBase):
    """Ids continue after the largest id ever used, even a deleted one."""

    def _ids_continue(self, how):
        srv = self.start()
        c = sqharness.Client(srv.port)
        self._clients.append(c)
        ids = [put_on(c, "default", b"job %d" % i) for i in range(10)]
        for job_id in ids[-3:]:  # the highest ones are gone
            self.assertEqual(c.cmd("delete %d" % job_id), b"DELETED\r\n")
        srv = self.restart(srv, how)
        c = sqharness.Client(srv.port)
        self._clients.append(c)
        new_id = put_on(c, "default", b"new")
        self.assertGreater(new_id, max(ids))
        for job_id in ids[:-3]:
            self.assertEqual(self.peek(c, job_id), b"job %d" % ids.index(job_id))
        # And again with every job deleted before the stop.
        for job_id in ids[:-3] + [new_id]:
            self.assertEqual(c.cmd("delete %d" % job_id), b"DELETED\r\n")
        srv = self.restart(srv, how)
        c = sqharness.Client(srv.port)
        self._clients.append(c)
        self.assertGreater(put_on(c, "default", b"newer"), new_id)

    def test_ids_continue_after_sigterm(self):
        self._ids_continue("term")

    def test_ids_continue_after_kill9(self):
        self._ids_continue("kill9")

    def test_total_jobs_counts_puts_of_this_process(self):
        # Like beanstalkd: after a restart total-jobs starts from 0 (the
        # restored jobs were put by the earlier process), per tube as well,
        # while the current-jobs counts include the restored jobs.
        srv = self.start()
        c = sqharness.Client(srv.port)
        self._clients.append(c)
        ids = [put_on(c, "tt", b"job %d" % i) for i in range(5)]
        self.assertEqual(c.cmd("delete %d" % ids[0]), b"DELETED\r\n")
        srv = self.restart(srv, "term")
        c = sqharness.Client(srv.port)
        self._clients.append(c)
        st = yaml_dict(c, "stats")
        self.assertEqual(st["total-jobs"], "0")
        self.assertEqual(st["current-jobs-ready"], "4")
        tube = yaml_dict(c, "stats-tube tt")
        self.assertEqual(tube["total-jobs"], "0")
        self.assertEqual(tube["current-jobs-ready"], "4")
        put_on(c, "tt", b"after")
        self.assertEqual(yaml_dict(c, "stats")["total-jobs"], "1")
        self.assertEqual(yaml_dict(c, "stats-tube tt")["total-jobs"], "1")


class RestartBinlogStats(DurabilityBase):
    """The binlog-* fields of synqd's `stats-log` move as docs/operations.md says."""

    def binlog(self, c):
        c.send(b"stats-log\r\n")
        st = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        return {k: int(v) for k, v in st.items() if k.startswith("binlog-")}

    def test_binlog_fields_move(self):
        if self.TARGET != "synqd":
            self.skipTest("stats-log is synqd's extension")
        srv = self.start(("-f", "0", "-s", "65536", "-z", "65000"))
        c = sqharness.Client(srv.port)
        self._clients.append(c)
        b0 = self.binlog(c)
        self.assertEqual(b0["binlog-max-size"], 65536)
        self.assertEqual((b0["binlog-oldest-index"], b0["binlog-current-index"]), (1, 1))
        self.assertEqual((b0["binlog-bytes-live"], b0["binlog-bytes-dead"],
                          b0["binlog-records-written"]), (0, 0, 0))
        ids = [put_on(c, "default", b"x" * 100) for _ in range(5)]
        b1 = self.binlog(c)
        self.assertEqual(b1["binlog-records-written"], 5)
        self.assertGreaterEqual(b1["binlog-fsyncs"], b0["binlog-fsyncs"] + 5,
                                "-f 0: one fdatasync per put at least")
        self.assertGreater(b1["binlog-bytes-live"], 5 * 100)
        self.assertEqual(b1["binlog-bytes-dead"], 0)
        self.assertEqual(c.cmd("delete %d" % ids[0]), b"DELETED\r\n")
        b2 = self.binlog(c)
        self.assertEqual(b2["binlog-records-written"], 6)
        self.assertLess(b2["binlog-bytes-live"], b1["binlog-bytes-live"])
        self.assertGreater(b2["binlog-bytes-dead"], 0)
        # Fill past one 64 KiB segment: the current index moves on.
        for _ in range(12):
            put_on(c, "default", b"y" * 8000)
        b3 = self.binlog(c)
        self.assertGreater(b3["binlog-current-index"], 1)
        self.assertEqual(b3["binlog-records-written"], 18)

        srv = self.restart(srv, "term", ("-F", "-s", "65536", "-z", "65000"))
        c = sqharness.Client(srv.port)
        self._clients.append(c)
        b4 = self.binlog(c)
        self.assertEqual(b4["binlog-bytes-live"], b3["binlog-bytes-live"],
                         "the same live jobs need the same log bytes after a restart")
        self.assertEqual(b4["binlog-records-written"], 0, "counts this process's writes")
        self.assertGreaterEqual(b4["binlog-current-index"], b3["binlog-current-index"])
        fsyncs = b4["binlog-fsyncs"]
        for _ in range(5):
            put_on(c, "default", b"z")
        b5 = self.binlog(c)
        self.assertEqual(b5["binlog-records-written"], 5)
        self.assertEqual(b5["binlog-fsyncs"], fsyncs, "-F: puts never fsync")


class RestartAfterReserveJob(DurabilityBase):
    """A job that reserve-job took from buried or delayed has left that state:
    however its reservation ends (a disconnect, TTR expiry, a kill -9), it
    comes back ready after a kill -9 restart, as a job reserved from ready
    does. beanstalkd logs nothing for reserve-job, so it brings the job back
    buried or delayed (docs/protocol.md, differences): synqd only."""

    def setUp(self):
        super().setUp()
        if self.TARGET != "synqd":
            self.skipTest("beanstalkd brings such a job back buried or delayed")

    def buried_job(self, c, ttr=60):
        job_id = put_on(c, "rj", b"was-buried", pri=7, ttr=ttr)
        c.send(b"reserve-job %d\r\n" % job_id)
        c.read_job("RESERVED")
        self.assertEqual(c.cmd("bury %d 7" % job_id), b"BURIED\r\n")
        return job_id

    def client_of(self, srv):
        c = sqharness.Client(srv.port)
        self._clients.append(c)
        return c

    def assert_ready_after_kill9(self, srv, job_id, body):
        srv = self.restart(srv, "kill9")
        c = self.client_of(srv)
        st = yaml_dict(c, "stats-job %d" % job_id)
        self.assertEqual((st["state"], st["tube"], st["pri"]), ("ready", "rj", "7"), st)
        tube = yaml_dict(c, "stats-tube rj")
        self.assertEqual((tube["current-jobs-ready"], tube["current-jobs-buried"],
                          tube["current-jobs-delayed"]), ("1", "0", "0"))
        c.cmd("watch rj")
        c.send(b"reserve-with-timeout 0\r\n")
        self.assertEqual(c.read_job("RESERVED"), (job_id, body))

    def test_from_buried_released_by_disconnect(self):
        srv = self.start()
        c = self.client_of(srv)
        job_id = self.buried_job(c)
        w = self.client_of(srv)
        w.send(b"reserve-job %d\r\n" % job_id)
        w.read_job("RESERVED")
        w.close()
        # the disconnect has put the job back once stats says so
        deadline = time.monotonic() + 5
        while yaml_dict(c, "stats-job %d" % job_id)["state"] != "ready":
            self.assertLess(time.monotonic(), deadline, "the disconnect never released it")
            time.sleep(0.01)
        self.assert_ready_after_kill9(srv, job_id, b"was-buried")

    def test_from_delayed_released_by_ttr_expiry(self):
        srv = self.start()
        c = self.client_of(srv)
        job_id = put_on(c, "rj", b"was-delayed", pri=7, delay=3600, ttr=1)
        w = self.client_of(srv)
        w.send(b"reserve-job %d\r\n" % job_id)
        w.read_job("RESERVED")
        deadline = time.monotonic() + 5
        while yaml_dict(c, "stats-job %d" % job_id)["state"] != "ready":
            self.assertLess(time.monotonic(), deadline, "the TTR never expired")
            time.sleep(0.05)
        self.assert_ready_after_kill9(srv, job_id, b"was-delayed")

    def test_from_buried_reserved_at_the_kill(self):
        srv = self.start()
        c = self.client_of(srv)
        job_id = self.buried_job(c)
        c.send(b"reserve-job %d\r\n" % job_id)
        c.read_job("RESERVED")
        self.assert_ready_after_kill9(srv, job_id, b"was-buried")


sqharness.register(globals(), RestartKeepsEveryState, RestartIds, RestartBinlogStats,
                   RestartAfterReserveJob)

if __name__ == "__main__":
    sqharness.main()
