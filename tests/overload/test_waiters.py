"""Issue 13 item 9 (rest): many waiters, and reserve over many watched tubes.

5,000 connections blocked in `reserve` across 50 tubes are each served exactly
once when jobs arrive, a legitimate client's round trips stay fast, and the
server's memory stays bounded. One connection watching 100,000 tubes reserves
from one of them about as fast as one watching that tube alone: reserve looks at
the watched tubes that have ready jobs, not at every watched tube (before, it
ran at 5-7% of the one-tube rate)."""

import resource
import select
import threading
import time
import unittest

import overload
from overload import Client, Server

WAITERS = 5000
WAIT_TUBES = 50
WATCHES = 100000
RATE_JOBS = 2000
RATE_ROUNDS = 3
RSS_PER_WAITER_KIB = 16  # generous: a session, its buffers and two watches


def read_lines(socks, want, deadline):
    """Reads from every socket until each has `want` lines (or the deadline); returns bytes by
    socket."""
    got = {s: b"" for s in socks}
    by_fd = {s.fileno(): s for s in socks}
    poller = select.poll()  # select() cannot take descriptors past 1023
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    pending = len(socks)
    while pending and time.monotonic() < deadline:
        for fd, _ in poller.poll(500):
            s = by_fd[fd]
            chunk = s.recv(65536)
            got[s] += chunk
            if not chunk or got[s].count(b"\n") >= want:
                poller.unregister(fd)
                pending -= 1
    return got


class Waiters(unittest.TestCase):
    def setUp(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = WAITERS + 200
        if soft < want:
            if hard != resource.RLIM_INFINITY and hard < want:
                self.skipTest("RLIMIT_NOFILE hard limit %d < %d" % (hard, want))
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    def test_blocked_waiters_are_each_served_once(self):
        srv = Server("synqd")
        srv.start()
        self.addCleanup(srv.stop)
        legit = Client(srv.port)
        self.addCleanup(legit.close)
        idle = [overload.roundtrip_s(legit) for _ in range(50)]
        rss_start = overload.rss_kib(srv.proc.pid)
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for i in range(WAITERS):
            s = overload.raw_socket(srv.port)
            s.sendall(b"watch w%d\r\nignore default\r\nreserve\r\n" % (i % WAIT_TUBES))
            socks.append(s)
        deadline = time.monotonic() + 30 * overload.TIME_SCALE
        hello = read_lines(socks, 2, deadline)
        for s in socks:
            self.assertEqual(hello[s].split(b"\r\n")[1], b"WATCHING 1")
        waiting = 0
        while waiting < WAITERS and time.monotonic() < deadline:
            legit.send(b"stats\r\n")
            body = legit.read_exact(int(legit.read_line().split()[1]) + 2)
            waiting = int(body.split(b"current-waiting: ")[1].split(b"\n")[0])
        self.assertEqual(waiting, WAITERS)
        rss_waiting = overload.rss_kib(srv.proc.pid)

        # One job per waiter, put from another thread while the legitimate client measures.
        def produce():
            p = overload.raw_socket(srv.port)
            p.settimeout(30)
            data = b"".join(b"use w%d\r\nput 0 0 60 %d\r\n%s\r\n"
                            % (i % WAIT_TUBES, len(b"w%d/%d" % (i % WAIT_TUBES, i)),
                               b"w%d/%d" % (i % WAIT_TUBES, i)) for i in range(WAITERS))
            p.sendall(data)
            n = 0
            while n < 2 * WAITERS:
                chunk = p.recv(1 << 20)
                if not chunk:
                    break
                n += chunk.count(b"\n")
            p.close()
        producer = threading.Thread(target=produce)
        producer.start()
        busy = []
        while producer.is_alive() and len(busy) < 200:
            busy.append(overload.roundtrip_s(legit))
        producer.join(60)
        served = read_lines(socks, 2, time.monotonic() + 30 * overload.TIME_SCALE)
        bodies = []
        for i, s in enumerate(socks):
            lines = served[s].split(b"\r\n")
            self.assertTrue(lines[0].startswith(b"RESERVED "), lines[:2])
            self.assertTrue(lines[1].startswith(b"w%d/" % (i % WAIT_TUBES)), lines[1])
            self.assertEqual(lines[2:], [b""], "more than one job")
            bodies.append(lines[1])
        self.assertEqual(len(set(bodies)), WAITERS, "a job was handed out twice")
        legit.send(b"stats\r\n")
        body = legit.read_exact(int(legit.read_line().split()[1]) + 2)
        self.assertIn(b"current-jobs-reserved: %d\n" % WAITERS, body)
        self.assertIn(b"current-waiting: 0\n", body)
        self.assertIn(b"current-jobs-ready: 0\n", body)
        print("%d waiters: RSS %d KiB before, %d KiB waiting; legit p99 idle %.2f ms, while "
              "serving %.2f ms (%d samples)"
              % (WAITERS, rss_start, rss_waiting, overload.percentile(idle, 0.99) * 1e3,
                 overload.percentile(busy + [0], 0.99) * 1e3, len(busy)))
        bound = max(2 * overload.percentile(idle, 0.99), 0.25 * overload.TIME_SCALE)
        if busy:
            self.assertLess(overload.percentile(busy, 0.99), bound)
        if not overload.SANITIZED:
            self.assertLess(rss_waiting - rss_start, WAITERS * RSS_PER_WAITER_KIB)

    def test_reserve_over_many_watched_tubes_runs_near_the_one_tube_rate(self):
        srv = Server("synqd")
        srv.start()
        self.addCleanup(srv.stop)
        producer = Client(srv.port)
        self.addCleanup(producer.close)
        self.assertEqual(producer.cmd(b"use hot"), b"USING hot\r\n")
        producer.send(b"".join(b"put 0 0 60 1\r\nx\r\n" for _ in range(2 * RATE_ROUNDS * RATE_JOBS)))
        for _ in range(2 * RATE_ROUNDS * RATE_JOBS):
            self.assertTrue(producer.read_line().startswith(b"INSERTED "))

        def rate(c):
            t0 = time.monotonic()
            for _ in range(RATE_JOBS):
                c.send(b"reserve\r\n")
                jid, _ = c.read_job("RESERVED")
                self.assertEqual(c.cmd(b"delete %d" % jid), b"DELETED\r\n")
            return RATE_JOBS / (time.monotonic() - t0)

        one = Client(srv.port)
        self.addCleanup(one.close)
        self.assertEqual(one.cmd(b"watch hot"), b"WATCHING 2\r\n")
        self.assertEqual(one.cmd(b"ignore default"), b"WATCHING 1\r\n")

        many = Client(srv.port, timeout=60)
        self.addCleanup(many.close)
        many.send(b"".join(b"watch t%d\r\n" % i for i in range(WATCHES)) + b"watch hot\r\n")
        last = None
        for _ in range(WATCHES + 1):
            last = many.read_line()
        self.assertEqual(last, b"WATCHING %d\r\n" % (WATCHES + 2))
        # Rounds alternate between the two clients and the best of each is compared: a round is
        # half a second, and on a shared machine one of them can lose most of its CPU.
        one_rate = many_rate = 0
        for _ in range(RATE_ROUNDS):
            one_rate = max(one_rate, rate(one))
            many_rate = max(many_rate, rate(many))
        print("reserve+delete: %.0f/s watching one tube, %.0f/s watching %d (%.0f%%)"
              % (one_rate, many_rate, WATCHES + 2, 100 * many_rate / one_rate))
        # Generous: the same work per reserve either way; the machine is shared and noisy.
        self.assertGreater(many_rate, one_rate / 3)


if __name__ == "__main__":
    unittest.main()
