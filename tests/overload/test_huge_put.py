"""Issue 13's overload list: a 4 GiB put.

beanstalkd reads a put's <bytes> as a u32: past 4294967295 (so 4 GiB, and 2^64-1) the line is
BAD_FORMAT and no body is expected, so what the client sends next is read as command lines (an
endless line of body bytes is dropped in 224-byte chunks, then answered BAD_FORMAT once). Up to
4294967295 but over -z, beanstalkd discards <bytes> + 2 bytes as they arrive and only then answers
JOB_TOO_BIG. synqd must do the same, and do it without buffering: a client really streaming the
4 GiB body must cost neither memory nor the other clients' latency."""

import multiprocessing
import os
import select
import time
import unittest

import overload
from overload import Client, Server, sqharness

CHUNK = 1 << 20
MAX_U32 = 4294967295


def stream_body(port, line, body_bytes, tail, want_lines, queue):
    """In a child process: send `line`, then `body_bytes` bytes of 'x', then `tail`, noting what
    is answered meanwhile ("early"); then read up to `want_lines` reply lines in all. Puts a dict
    on queue."""
    result = {"early": b""}
    s = overload.raw_socket(port)
    s.settimeout(30 * overload.TIME_SCALE)
    chunk = memoryview(b"x" * CHUNK)
    t0 = time.monotonic()
    s.sendall(line)
    left = body_bytes
    sends = 0
    while left > 0:
        n = min(left, CHUNK)
        s.sendall(chunk[:n])
        left -= n
        sends += 1
        # (A socket with a timeout waits for data even with MSG_DONTWAIT: ask select.)
        if sends % 64 == 0 and select.select([s], [], [], 0)[0]:
            result["early"] += s.recv(4096)
    s.sendall(tail)
    got = b""
    while (result["early"] + got).count(b"\r\n") < want_lines:
        data = s.recv(4096)
        if not data:
            break
        got += data
    result["elapsed_s"] = time.monotonic() - t0
    result["replies"] = got
    s.close()
    queue.put(result)


class HugePut(unittest.TestCase):
    def start(self, *extra):
        srv = Server("synqd", list(extra))
        srv.start()
        self.addCleanup(srv.stop)
        return srv

    def test_sizes_answered_as_beanstalkd(self):
        # Each case: what is sent, and what beanstalkd answers (checked against it when it is
        # installed). The command after each shows that the body went where beanstalkd sends it.
        cases = [
            (b"put 0 0 60 4294967296\r\n", b"BAD_FORMAT\r\n"),
            (b"put 0 0 60 18446744073709551615\r\n", b"BAD_FORMAT\r\n"),
            (b"put 0 0 60 99999999999999999999999\r\n", b"BAD_FORMAT\r\n"),
            (b"put 0 0 60 1001\r\n" + b"y" * 1001 + b"\r\n", b"JOB_TOO_BIG\r\n"),
            # The body of a too-big put is discarded even when it looks like commands.
            (b"put 0 0 60 1001\r\n" + (b"stats\r\n" * 143) + b"\r\n", b"JOB_TOO_BIG\r\n"),
            (b"put 0 0 60 1001 \r\n" + b"y" * 1001 + b"\r\n", b"JOB_TOO_BIG\r\n"),
            (b"put 0 0 60 1000\r\n" + b"y" * 1000 + b"\r\n", b"INSERTED 1\r\n"),
        ]
        kinds = ["synqd"] + (["beanstalkd"] if os.access(sqharness.BEANSTALKD, os.X_OK) else [])
        for kind in kinds:
            with Server(kind, ["-z", "1000"]) as srv:
                for sent, want in cases:
                    with Client(srv.port) as c:
                        c.send(sent + b"list-tube-used\r\n")
                        c.expect(want + b"USING default\r\n")

    def stream_during_round_trips(self, srv, line, body_bytes, tail, want_lines):
        """Streams in a child while a legitimate client measures; returns (result, idle,
        busy, peak RSS growth in KiB)."""
        legit = Client(srv.port)
        self.addCleanup(legit.close)
        idle = [overload.roundtrip_s(legit) for _ in range(50)]
        rss0 = overload.rss_kib(srv.proc.pid)
        queue = multiprocessing.Queue()
        child = multiprocessing.Process(target=stream_body,
                                        args=(srv.port, line, body_bytes, tail, want_lines,
                                              queue))
        child.start()
        self.addCleanup(child.join, 5)
        self.addCleanup(child.kill)
        busy, peak = overload.sample_while(legit, lambda: queue.empty() and child.is_alive(),
                                           srv.proc.pid, limit_s=90)
        result = queue.get(timeout=5)
        self.assertTrue(busy, "no round trip measured")
        return result, idle, busy, peak - rss0

    def check(self, what, srv, line, body_bytes, tail, at_once, want):
        """`at_once`: the replies that may come while the body streams; `want`: all of them."""
        result, idle, busy, grew_kib = self.stream_during_round_trips(
            srv, line, body_bytes, tail, want.count(b"\r\n"))
        print("%s: %d MiB streamed in %.2f s (%.0f MiB/s); RSS grew %d KiB; legit p99 idle "
              "%.2f ms, while streaming %.2f ms (max %.2f ms, %d samples)"
              % (what, body_bytes >> 20, result["elapsed_s"],
                 (body_bytes >> 20) / result["elapsed_s"], grew_kib,
                 overload.percentile(idle, 0.99) * 1e3, overload.percentile(busy, 0.99) * 1e3,
                 max(busy) * 1e3, len(busy)))
        self.assertTrue(at_once.startswith(result["early"]),
                        "answered %r while the body streamed" % result["early"])
        self.assertEqual(result["early"] + result["replies"], want)
        if not overload.SANITIZED:
            # One 64 KiB read of input per connection is all the body may ever occupy.
            self.assertLess(grew_kib, 8 * 1024)
        self.assertLess(overload.percentile(busy, 0.99), overload.p99_bound_s(idle))
        self.assertTrue(srv.alive())

    def test_4gib_body_of_a_too_big_put_is_discarded_as_it_streams(self):
        srv = self.start()
        # <bytes> = 2^32-1: the largest that is JOB_TOO_BIG rather than BAD_FORMAT; the body and
        # its CRLF are 4 GiB + 1 byte, and JOB_TOO_BIG comes only after the last of them.
        self.check("put of 4294967295 bytes", srv, b"put 0 0 60 %d\r\n" % MAX_U32, MAX_U32 + 2,
                   b"list-tube-used\r\n", b"", b"JOB_TOO_BIG\r\nUSING default\r\n")

    def test_body_after_a_bad_format_4gib_put_is_dropped_as_one_long_line(self):
        srv = self.start()
        # 4294967296 is BAD_FORMAT at once; the "body" is then one endless line, dropped in
        # 224-byte chunks, and answered BAD_FORMAT once its CRLF comes.
        mib = 2048 if not overload.SANITIZED else 256
        self.check("put of 4294967296 bytes", srv, b"put 0 0 60 4294967296\r\n", mib << 20,
                   b"\r\nlist-tube-used\r\n", b"BAD_FORMAT\r\n",
                   b"BAD_FORMAT\r\nBAD_FORMAT\r\nUSING default\r\n")


if __name__ == "__main__":
    unittest.main()
