"""Wire behaviour clients depend on: a whole reply in one read, and nothing
after it.

Several real clients (node-beanstalk, jackd) treat the bytes of one 'data'
event as one reply: a status line whose body or trailing CRLF arrives later,
or stray bytes after the reply, corrupt the next reply they parse.  So when
a command is the last one pending, its reply -- status line, body and
trailing CRLF -- must be in the socket by the time a client reads, and
nothing else may follow.  Each test sends one command, waits briefly, does a
single recv(65536), and requires the exact complete reply; then it requires
200 ms of silence.  Checked against both servers (sqharness targets)."""

import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402

SETTLE_S = 0.2
SILENCE_S = 0.2
BODY_4K = bytes((i * 7 + 13) % 256 for i in range(4096)).replace(b"\r\n", b"\n\r")


class OneRead:
    PER_TEST = True  # fresh ids and counters

    def one_read(self, c, command):
        """Send `command`, wait, and return what one recv(65536) gives."""
        self.assertEqual(c.buf, b"", "nothing may be pending before the command")
        c.send(command)
        time.sleep(SETTLE_S)
        c.sock.settimeout(sqharness.READ_TIMEOUT_S)
        try:
            return c.sock.recv(65536)
        except socket.timeout:
            self.fail("no reply to %r within %.1f s" % (command, sqharness.READ_TIMEOUT_S))

    def assert_silent(self, c):
        c.expect_silence(SILENCE_S)

    def test_reserved_4k_body_in_one_read(self):
        c = self.client()
        job_id = self.put(c, BODY_4K)
        got = self.one_read(c, b"reserve-with-timeout 0\r\n")
        self.assertEqual(got, b"RESERVED %d 4096\r\n%s\r\n" % (job_id, BODY_4K))
        self.assert_silent(c)

    def test_blocking_reserve_woken_by_put_in_one_read(self):
        # The reply is produced by another connection's put, not by input on
        # this one: it must still be flushed whole.
        w, p = self.client(), self.client()
        w.send(b"reserve\r\n")
        w.expect_silence(0.1)
        job_id = self.put(p, BODY_4K)
        time.sleep(SETTLE_S)
        w.sock.settimeout(sqharness.READ_TIMEOUT_S)
        got = w.sock.recv(65536)
        self.assertEqual(got, b"RESERVED %d 4096\r\n%s\r\n" % (job_id, BODY_4K))
        self.assert_silent(w)

    def test_found_4k_body_in_one_read(self):
        c = self.client()
        job_id = self.put(c, BODY_4K)
        for cmd in (b"peek %d\r\n" % job_id, b"peek-ready\r\n"):
            got = self.one_read(c, cmd)
            self.assertEqual(got, b"FOUND %d 4096\r\n%s\r\n" % (job_id, BODY_4K), cmd)
            self.assert_silent(c)

    def test_stats_in_one_read(self):
        c = self.client()
        got = self.one_read(c, b"stats\r\n")
        m = re.match(rb"OK (\d+)\r\n", got)
        self.assertIsNotNone(m, "status line: %r" % got[:40])
        n = int(m.group(1))
        self.assertEqual(len(got), m.end() + n + 2, "whole YAML body and CRLF in one read")
        self.assertTrue(got.startswith(b"OK %d\r\n---\n" % n), got[:40])
        self.assertTrue(got.endswith(b"\n\r\n"), got[-10:])
        self.assert_silent(c)

    def test_stats_job_stats_tube_list_tubes_in_one_read(self):
        c = self.client()
        job_id = self.put(c, b"x")
        for cmd in (b"stats-job %d\r\n" % job_id, b"stats-tube default\r\n",
                    b"list-tubes\r\n", b"list-tubes-watched\r\n"):
            got = self.one_read(c, cmd)
            m = re.match(rb"OK (\d+)\r\n", got)
            self.assertIsNotNone(m, "%r: status line %r" % (cmd, got[:40]))
            self.assertEqual(len(got), m.end() + int(m.group(1)) + 2, cmd)
            self.assertTrue(got.endswith(b"\r\n"), cmd)
            self.assert_silent(c)

    def test_simple_replies_in_one_read_and_nothing_after(self):
        c = self.client()
        cases = [
            (b"put 5 0 60 3\r\nabc\r\n", b"INSERTED 1\r\n"),
            (b"use other\r\n", b"USING other\r\n"),
            (b"list-tube-used\r\n", b"USING other\r\n"),
            (b"watch other\r\n", b"WATCHING 2\r\n"),
            (b"reserve-with-timeout 0\r\n", b"RESERVED 1 3\r\nabc\r\n"),
            (b"touch 1\r\n", b"TOUCHED\r\n"),
            (b"release 1 5 0\r\n", b"RELEASED\r\n"),
            (b"reserve-with-timeout 0\r\n", b"RESERVED 1 3\r\nabc\r\n"),
            (b"bury 1 5\r\n", b"BURIED\r\n"),
            (b"kick 10\r\n", b"KICKED 0\r\n"),  # kick acts on the used tube: none buried there
            (b"kick-job 1\r\n", b"KICKED\r\n"),
            (b"pause-tube other 0\r\n", b"PAUSED\r\n"),
            (b"delete 1\r\n", b"DELETED\r\n"),
            (b"delete 1\r\n", b"NOT_FOUND\r\n"),
            (b"reserve-with-timeout 0\r\n", b"TIMED_OUT\r\n"),
            (b"ignore other\r\n", b"WATCHING 1\r\n"),
            (b"ignore default\r\n", b"NOT_IGNORED\r\n"),
            (b"bogus\r\n", b"UNKNOWN_COMMAND\r\n"),
        ]
        for cmd, want in cases:
            self.assertEqual(self.one_read(c, cmd), want, cmd)
            self.assert_silent(c)


sqharness.register(globals(), OneRead)

if __name__ == "__main__":
    sqharness.main()
