"""Durability: a failing disk never yields a false acknowledgement (synqd only).

Model: SYNQD_WAL_FAULT="op:nth:errno[:sticky]" makes the nth pwrite,
fdatasync or fallocate of the log fail.  Calls are counted from server start,
including those that create a segment, so every test first initializes its
log directory with a clean start and stop: the faulty server then finds
segment 1 and makes no log call before the first change, and "nth" is simply
the nth batch (with -f 0, one pwrite + one fdatasync per batch).

(The harness retries a start that fails, on the same directory; without the
initialization a fault that hit segment creation would be hidden by the
retry, which then finds the segment already there.)

The promise checked (docs/operations.md, server.c abort_unsynced): the
clients of the failing batch get no INSERTED (their connections are reset),
later changes get INTERNAL_ERROR, reads keep working, and after a restart
every acknowledged job is there.  A job whose put failed may or may not be
there (its bytes may have reached the file); if it is, its body is exact.
A full disk (ENOSPC from fallocate) refuses the put with OUT_OF_MEMORY, keeps
nothing of it, and keeps deletes working.
"""

import os
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


def put(c, body, pri=0):
    c.send(b"put %d 0 60 %d\r\n%s\r\n" % (pri, len(body), body))
    return c.read_line()


def inserted_id(line):
    m = re.fullmatch(rb"INSERTED (\d+)\r\n", line)
    if not m:
        raise ProtocolError("expected INSERTED <id>, got %r" % line)
    return int(m.group(1))


def read_until_closed(c, timeout=3.0):
    """Everything the server sends before it closes or resets `c`."""
    deadline = time.monotonic() + timeout
    while True:
        c.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = c.sock.recv(65536)
        except ConnectionResetError:
            return c.buf, "reset"
        except OSError:
            return c.buf, "open"  # timed out: still open
        if not chunk:
            return c.buf, "closed"
        c.buf += chunk


class FaultBase:
    @classmethod
    def setUpClass(cls):
        cls.server = None

    def setUp(self):
        self._clients = []
        self.addCleanup(self._close_clients)
        self.dir = tempfile.mkdtemp(prefix="synq-fault-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.addCleanup(os.environ.pop, "SYNQD_WAL_FAULT", None)

    def start(self, args, fault=None):
        if fault:
            os.environ["SYNQD_WAL_FAULT"] = fault
        else:
            os.environ.pop("SYNQD_WAL_FAULT", None)
        try:
            srv = sqharness.Server("synqd", ["-b", self.dir] + list(args)).start()
        finally:
            os.environ.pop("SYNQD_WAL_FAULT", None)
        self.addCleanup(srv.stop)
        return srv

    def init_dir(self, args):
        """A clean start and stop, so segment 1 exists before the faulty run."""
        srv = self.start(args)
        srv.stop()
        self.assertEqual(srv.exit_status, 0, srv.log_text())
        self.assertEqual(sorted(f for f in os.listdir(self.dir) if f.startswith("wal.")),
                         ["wal.0000000000000001"])

    def conn(self, srv, timeout=sqharness.READ_TIMEOUT_S):
        c = sqharness.Client(srv.port, timeout)
        self._clients.append(c)
        return c

    def present_jobs(self, srv, max_id):
        """{id: body} of every job with id 1..max_id, by peek."""
        c = self.conn(srv)
        found = {}
        for job_id in range(1, max_id + 1):
            c.send(b"peek %d\r\n" % job_id)
            line = c.read_line()
            if line == b"NOT_FOUND\r\n":
                continue
            m = re.fullmatch(rb"FOUND (\d+) (\d+)\r\n", line)
            self.assertIsNotNone(m, "peek %d: %r" % (job_id, line))
            data = c.read_exact(int(m.group(2)) + 2)
            found[job_id] = data[:-2]
        return found

    def current_jobs(self, srv):
        c = self.conn(srv)
        c.send(b"stats\r\n")
        st = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        return sum(int(st["current-jobs-" + k]) for k in ("ready", "reserved", "delayed", "buried"))


class WriteFaults(FaultBase):
    """EIO from fdatasync or pwrite in the third batch of a -f 0 server."""

    def _third_batch_fails(self, fault, batch_may_survive):
        self.init_dir(("-f", "0"))
        srv = self.start(("-f", "0"), fault)
        a = self.conn(srv)
        acked = {}
        for i in (1, 2):
            body = b"acked %d" % i
            acked[inserted_id(put(a, body))] = body
        # Batch 3: three puts pipelined in one send, so one pass, one flush.
        b = self.conn(srv)
        failed_bodies = [b"unacked %d" % i for i in range(3)]
        b.send(b"".join(b"put 0 0 60 %d\r\n%s\r\n" % (len(x), x) for x in failed_bodies))
        got, how = read_until_closed(b)
        self.assertEqual(got, b"", "the failing batch's client got bytes: %r" % got)
        self.assertIn(how, ("reset", "closed"), "its connection must be dropped")
        # The log has failed: changes are refused, reads still work.
        self.assertEqual(put(a, b"refused"), b"INTERNAL_ERROR\r\n")
        self.assertEqual(a.cmd("delete 1"), b"INTERNAL_ERROR\r\n")
        c = self.conn(srv)
        self.assertEqual(put(c, b"refused too"), b"INTERNAL_ERROR\r\n")
        a.send(b"peek 1\r\n")
        a.expect(b"FOUND 1 7\r\nacked 1\r\n")
        a.send(b"stats\r\n")
        self.assertIn(b"current-jobs-ready:", a.read_yaml_reply())
        self.assertTrue(srv.alive(), srv.log_text())
        self.assertIn("write-ahead log failed", srv.log_text())
        srv.stop()

        srv = self.start(("-f", "0"))
        found = self.present_jobs(srv, 20)
        for job_id, body in acked.items():  # job 1 too: its delete was refused
            self.assertEqual(found.get(job_id), body, "acknowledged job %d" % job_id)
        extra = {i: body for i, body in found.items() if i not in acked}
        for job_id, body in extra.items():
            self.assertIn(body, failed_bodies, "job %d is no job that was put" % job_id)
        if not batch_may_survive:
            self.assertEqual(extra, {}, "nothing of the failed batch was written")
        self.assertEqual(self.current_jobs(srv), len(found), "jobs beyond id 20")
        c = self.conn(srv)
        self.assertGreater(inserted_id(put(c, b"after")), max(acked))
        print("%s: %d acknowledged jobs recovered, %d of 3 unacknowledged present"
              % (fault, len(acked), len(extra)), file=sys.stderr)

    def test_fdatasync_eio(self):
        # The batch reached the file before its fdatasync failed: it may be recovered.
        self._third_batch_fails("fdatasync:3:EIO", batch_may_survive=True)

    def test_pwrite_eio(self):
        # The injected failure writes nothing and the log never retries.
        self._third_batch_fails("pwrite:3:EIO", batch_may_survive=False)

    def test_interval_sync_failure_refuses_later_changes(self):
        self.init_dir(("-f", "50"))
        srv = self.start(("-f", "50"), "fdatasync:1:EIO")
        a = self.conn(srv)
        # -f 50 acknowledges after the write, before the sync: by design.
        first = inserted_id(put(a, b"written"))
        deadline = time.monotonic() + 3
        line = b""
        while time.monotonic() < deadline:
            time.sleep(0.1)
            line = put(self.conn(srv), b"later")
            if line == b"INTERNAL_ERROR\r\n":
                break
        self.assertEqual(line, b"INTERNAL_ERROR\r\n", "after the interval sync failed")
        srv.signal(signal.SIGKILL)
        srv.proc.wait(5)
        srv.stop()
        srv = self.start(("-f", "50"))
        self.assertEqual(self.present_jobs(srv, 10).get(first), b"written")


class FullDisk(FaultBase):
    """ENOSPC from fallocate when a new 4 KiB segment is needed."""

    ARGS = ("-f", "0", "-s", "4096", "-z", "3000")  # -z: a 4 KiB segment holds the largest put
    BODY = 900  # four or so jobs per 4 KiB segment

    def _fill_until_refused(self, srv, c):
        acked = {}
        for i in range(40):
            body = (b"job %d " % i).ljust(self.BODY, b"x")
            line = put(c, body)
            if line == b"OUT_OF_MEMORY\r\n":
                return acked, body
            acked[inserted_id(line)] = body
        self.fail("40 puts of %d bytes never needed a new segment" % self.BODY)

    def test_enospc_refuses_puts_keeps_deletes(self):
        self.init_dir(self.ARGS)
        srv = self.start(self.ARGS, "fallocate:1:ENOSPC:sticky")
        c = self.conn(srv)
        acked, refused = self._fill_until_refused(srv, c)
        self.assertGreater(len(acked), 0)
        self.assertEqual(put(c, refused), b"OUT_OF_MEMORY\r\n", "the disk is still full")
        deleted = sorted(acked)[:2]
        for job_id in deleted:
            self.assertEqual(c.cmd("delete %d" % job_id), b"DELETED\r\n")
        c.send(b"peek %d\r\n" % max(acked))
        self.assertEqual(c.read_job("FOUND"), (max(acked), acked[max(acked)]))
        self.assertTrue(srv.alive(), srv.log_text())
        srv.stop()
        self.assertEqual(srv.exit_status, 0, srv.log_text())

        srv = self.start(self.ARGS)
        found = self.present_jobs(srv, max(acked) + 5)
        want = {i: b for i, b in acked.items() if i not in deleted}
        self.assertEqual(found, want, "exactly the acknowledged, undeleted jobs")
        self.assertEqual(self.current_jobs(srv), len(want))

    def test_enospc_once_then_puts_retry(self):
        self.init_dir(self.ARGS)
        srv = self.start(self.ARGS, "fallocate:1:ENOSPC")
        c = self.conn(srv)
        acked, refused = self._fill_until_refused(srv, c)
        job_id = inserted_id(put(c, refused))  # the disk has room again
        acked[job_id] = refused
        srv.signal(signal.SIGKILL)
        srv.proc.wait(5)
        srv.stop()
        srv = self.start(self.ARGS)
        self.assertEqual(self.present_jobs(srv, job_id + 5), acked)


for _mixin in (WriteFaults, FullDisk):  # synqd only: the hook is synqd's
    globals()[_mixin.__name__ + "_synqd"] = type(
        _mixin.__name__ + "_synqd", (_mixin, sqharness.ServerTestCase),
        {"TARGET": "synqd", "__module__": __name__})

if __name__ == "__main__":
    sqharness.main()
