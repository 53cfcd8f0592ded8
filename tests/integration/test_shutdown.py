"""Graceful shutdown and drain mode over real sockets (issue 16 item 8; docs/operations.md,
Signals): after SIGTERM synqd accepts no connection, refuses puts (DRAINING) and hands out no
job, while a worker holding one can still touch, release, bury or delete it; it exits 0 once
no job is reserved, or when --shutdown-grace runs out (the held jobs are ready after a restart
with -b), or at once on a second SIGTERM. SIGUSR1 drains, SIGUSR2 undrains.

synqd only: beanstalkd dies of SIGTERM and has no SIGUSR2. Python 3 standard library only;
every wait is bounded and every server stopped.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402
from sqharness import ProtocolError  # noqa: E402

# How long a signal may take to show (the server handles it on its next loop pass), and how
# long an exit that should come "soon" may take on a loaded machine.
SIGNAL_WAIT_S = 5.0
EXIT_WAIT_S = 8.0


class ShutdownBase:
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="synq-shutdown-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def start(self, grace=None):
        args = ["-b", self.dir, "-f", "0"]
        if grace is not None:
            args += ["--shutdown-grace", str(grace)]
        srv = sqharness.Server("synqd", args).start()
        self.addCleanup(srv.stop)
        return srv

    def refused(self, srv):
        try:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=1.0):
                return False
        except ConnectionRefusedError:
            return True

    def wait_refusing(self, srv):
        """After SIGTERM: the listener is closed once the signal was handled."""
        deadline = time.monotonic() + SIGNAL_WAIT_S
        while time.monotonic() < deadline:
            if self.refused(srv):
                return
            time.sleep(0.02)
        self.fail("synqd still accepts %.0f s after SIGTERM; output:\n%s"
                  % (SIGNAL_WAIT_S, srv.log_text()))

    def wait_exit(self, srv, timeout=EXIT_WAIT_S):
        """The exit status, and how long it took; fails if synqd is still running."""
        t0 = time.monotonic()
        try:
            status = srv.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail("synqd still running %.0f s later; output:\n%s" % (timeout, srv.log_text()))
        return status, time.monotonic() - t0

    def reserve_one(self, c):
        c.send(b"reserve-with-timeout 5\r\n")
        return c.read_job("RESERVED")[0]

    def assert_ready_after_restart(self, srv, jid, body):
        """The job held when `srv` exited is handed out by the next synqd on the log."""
        srv.stop()
        c = self.client(self.start())
        c.send(b"reserve-with-timeout 0\r\n")
        self.assertEqual(c.read_job("RESERVED"), (jid, body))

    def stats_draining(self, c):
        c.send(b"stats\r\n")
        pairs = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        return pairs["draining"]


class GracefulShutdown(ShutdownBase):
    def test_worker_finishes_its_job_after_sigterm(self):
        srv = self.start(grace=60)
        worker = self.client(srv)
        j1 = self.put(worker, b"one")
        j2 = self.put(worker, b"two")
        self.assertEqual(self.reserve_one(worker), j1)
        self.assertEqual(self.reserve_one(worker), j2)
        waiter = self.client(srv)
        waiter.send(b"reserve\r\n")  # waits: both jobs are reserved
        waiter.expect_silence(0.2)
        poller = self.client(srv)

        srv.signal(signal.SIGTERM)
        self.wait_refusing(srv)
        self.assertTrue(srv.alive(), "exited with jobs reserved:\n" + srv.log_text())
        # Puts are refused, and SIGUSR2 does not undo that while shutting down.
        self.assertEqual(worker.cmd(b"put 0 0 60 1\r\nx"), b"DRAINING\r\n")
        srv.signal(signal.SIGUSR2)
        time.sleep(0.2)
        self.assertEqual(worker.cmd(b"put 0 0 60 1\r\nx"), b"DRAINING\r\n")
        self.assertEqual(self.stats_draining(poller), "true")
        # The worker can still work on its jobs; one released now is handed to nobody.
        self.assertEqual(worker.cmd("touch %d" % j1), b"TOUCHED\r\n")
        self.assertEqual(worker.cmd("release %d 5 0" % j2), b"RELEASED\r\n")
        waiter.expect_silence(0.3)
        self.assertEqual(poller.cmd("reserve-with-timeout 0"), b"TIMED_OUT\r\n")
        self.assertEqual(poller.cmd("reserve-batch 10 0"), b"TIMED_OUT\r\n")
        self.assertEqual(poller.cmd("reserve-job %d" % j2), b"NOT_FOUND\r\n")
        self.assertTrue(srv.alive(), "exited with a job reserved:\n" + srv.log_text())
        # The last reserved job is deleted: synqd exits 0 soon, well before the 60 s grace,
        # and the waiting reserve gets its connection closed.
        self.assertEqual(worker.cmd("delete %d" % j1), b"DELETED\r\n")
        status, took = self.wait_exit(srv)
        self.assertEqual(status, 0, srv.log_text())
        self.assertLess(took, 30.0)
        waiter.expect_closed()
        srv.stop()

        srv = self.start()
        c = self.client(srv)
        self.assertEqual(c.cmd("peek %d" % j1), b"NOT_FOUND\r\n")
        st = dict(sqharness.parse_yaml(self._stats_job(c, j2)))
        self.assertEqual((st["state"], st["pri"]), ("ready", "5"))

    def _stats_job(self, c, jid):
        c.send(b"stats-job %d\r\n" % jid)
        return c.read_yaml_reply()

    def test_no_reserved_job_exits_at_once(self):
        srv = self.start(grace=60)
        c = self.client(srv)
        self.put(c, b"ready")
        srv.signal(signal.SIGTERM)
        status, _ = self.wait_exit(srv)
        self.assertEqual(status, 0, srv.log_text())

    def test_grace_expiry_exits_and_job_is_ready_after_restart(self):
        srv = self.start(grace=1)
        c = self.client(srv)
        jid = self.put(c, b"held")
        self.assertEqual(self.reserve_one(c), jid)
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)
        status, _ = self.wait_exit(srv, timeout=1 + EXIT_WAIT_S)
        took = time.monotonic() - t0
        self.assertEqual(status, 0, srv.log_text())
        # It waited for the grace (the clock cannot run fast), not longer than it plus slack.
        self.assertGreaterEqual(took, 0.9, srv.log_text())
        self.assertIn("still reserved", srv.log_text())
        self.assert_ready_after_restart(srv, jid, b"held")

    def test_second_sigterm_exits_at_once(self):
        srv = self.start(grace=600)
        c = self.client(srv)
        jid = self.put(c, b"held")
        self.assertEqual(self.reserve_one(c), jid)
        srv.signal(signal.SIGTERM)
        self.wait_refusing(srv)
        self.assertTrue(srv.alive())
        srv.signal(signal.SIGTERM)
        status, _ = self.wait_exit(srv)
        self.assertEqual(status, 0, srv.log_text())
        self.assert_ready_after_restart(srv, jid, b"held")

    def test_disconnecting_worker_ends_the_wait(self):
        srv = self.start(grace=600)
        c = self.client(srv)
        jid = self.put(c, b"held")
        self.assertEqual(self.reserve_one(c), jid)
        srv.signal(signal.SIGTERM)
        self.wait_refusing(srv)
        c.close()  # its job goes back to ready: nothing is reserved any more
        status, _ = self.wait_exit(srv)
        self.assertEqual(status, 0, srv.log_text())


class DrainSignals(ShutdownBase):
    def put_reply(self, c):
        return c.cmd(b"put 0 0 60 1\r\nx")

    def wait_put_reply(self, c, want):
        deadline = time.monotonic() + SIGNAL_WAIT_S
        got = None
        while time.monotonic() < deadline:
            got = self.put_reply(c)
            if got.startswith(want):
                return got
            time.sleep(0.02)
        raise ProtocolError("put still answers %r %.0f s after the signal" % (got, SIGNAL_WAIT_S))

    def test_sigusr1_drains_and_sigusr2_undrains(self):
        srv = self.start()
        c = self.client(srv)
        self.assertTrue(self.put_reply(c).startswith(b"INSERTED "))
        srv.signal(signal.SIGUSR1)
        self.wait_put_reply(c, b"DRAINING")
        self.assertEqual(self.stats_draining(c), "true")
        c.send(b"reserve-with-timeout 0\r\n")
        c.read_job("RESERVED")  # drain mode still hands jobs out
        srv.signal(signal.SIGUSR2)
        self.wait_put_reply(c, b"INSERTED ")
        self.assertEqual(self.stats_draining(c), "false")
        self.assertTrue(srv.alive())


sqharness.register(globals(), GracefulShutdown, DrainSignals, only=("synqd",))

if __name__ == "__main__":
    sqharness.main()
