"""Issue 13 item 13: idle connections are cheap.

A connection kept its 64 KiB input block and a 4 KiB output block for its whole
life once it had sent one command: 5,000 connections that ran a put and a
delete and then went idle cost 9.3 KB of RSS each (beanstalkd: 0.9 KB). The
engine now gives the blocks back to a few per-loop spares once they drain
(src/net/buf_int.h), so such a connection costs what one that never sent a byte
costs: its sq_conn, session and store client, about 1.1 KB."""

import unittest

import overload
from overload import Client, Server

N = 5000
# Before the change: 9,341 bytes per used-then-idle connection (bench/idlemem); after: 1,104.
MAX_BYTES_PER_CONN = 2048


def put_and_delete(s, i):
    """One put and its delete on a raw socket; returns when both replies arrived."""
    s.sendall(b"use idle-memory\r\nput 0 0 60 5\r\nhello\r\n")
    got = b""
    while got.count(b"\r\n") < 2:
        chunk = s.recv(4096)
        assert chunk, "connection %d closed" % i
        got += chunk
    lines = got.split(b"\r\n")
    assert lines[0] == b"USING idle-memory" and lines[1].startswith(b"INSERTED "), got
    s.sendall(b"delete %s\r\n" % lines[1].split()[1])
    got = b""
    while not got.endswith(b"\r\n"):
        chunk = s.recv(4096)
        assert chunk, "connection %d closed" % i
        got += chunk
    assert got == b"DELETED\r\n", got


class IdleMemory(unittest.TestCase):
    def setUp(self):
        overload.raise_fd_limit(self, 2 * N + 100)

    def test_idle_connections_cost_little_rss(self):
        srv = Server("synqd")
        srv.start()
        self.addCleanup(srv.stop)
        ctl = Client(srv.port, timeout=30)
        self.addCleanup(ctl.close)
        socks = []

        def close_all():
            for s in socks:
                s.close()
        self.addCleanup(close_all)
        # One of each kind first: one-off growth (the loop's descriptor table, the tube, the
        # spare blocks) is not charged to the N.
        socks.append(overload.raw_socket(srv.port))
        put_and_delete(socks[-1], -1)
        overload.wait_connections(ctl, 2)
        at_rest = overload.rss_kib(srv.proc.pid)
        for _ in range(N):
            socks.append(overload.raw_socket(srv.port))
        overload.wait_connections(ctl, 2 + N)
        idle = overload.rss_kib(srv.proc.pid)
        for i in range(N):
            s = overload.raw_socket(srv.port)
            socks.append(s)
            put_and_delete(s, i)
        overload.wait_connections(ctl, 2 + 2 * N)
        used = overload.rss_kib(srv.proc.pid)
        fresh_per = (idle - at_rest) * 1024 / N
        used_per = (used - idle) * 1024 / N
        print("RSS per idle connection: %.0f bytes never used, %.0f bytes after a put and a "
              "delete (%d of each; at rest %d KiB)" % (fresh_per, used_per, N, at_rest))
        if overload.SANITIZED:
            return  # ASan's shadow memory and quarantine: RSS says nothing
        self.assertLess(fresh_per, MAX_BYTES_PER_CONN)
        self.assertLess(used_per, MAX_BYTES_PER_CONN)


if __name__ == "__main__":
    unittest.main()
