"""Issue 13's overload list: 1M unread replies.

Clients pipeline a million commands each (`stats-tube default`, `peek-ready` of a 1 KiB job,
`use x`) and never read a reply, and keep sending. A connection's queued replies stop its
commands past --output-soft-limit (the engine then stops reading it, so its sends block), and
once its output makes no progress for --output-timeout-ms the connection is reset. Meanwhile the
server's memory stays bounded and a legitimate client is served; afterwards nothing was lost. A
client that does read, only late, gets every one of its million replies."""

import multiprocessing
import socket
import threading
import time
import unittest

import overload
from overload import Client, Server

COMMANDS = 1000000
ATTACKERS = 4
OUTPUT_TIMEOUT_MS = 2000
MIX = [b"stats-tube default\r\n", b"peek-ready\r\n", b"use x\r\n"]


def million_commands():
    return b"".join(MIX[i % len(MIX)] for i in range(COMMANDS))


def flood_unread(port, queue):
    """In a child process: ATTACKERS connections each send COMMANDS pipelined commands without
    reading, for as long as the server takes them; reports what each sent and how it ended."""
    data = memoryview(million_commands())
    socks = [overload.raw_socket(port, rcvbuf=4096) for _ in range(ATTACKERS)]
    for s in socks:
        s.setblocking(False)
    sent = [0] * ATTACKERS
    ended = [None] * ATTACKERS
    t0 = time.monotonic()
    deadline = t0 + 30 * overload.TIME_SCALE
    while time.monotonic() < deadline and None in ended:
        for i, s in enumerate(socks):
            if ended[i] is not None:
                continue
            if sent[i] == len(data):
                # All sent: keep the connection, still never reading, until the server ends it.
                try:
                    if s.recv(1, socket.MSG_PEEK) == b"":
                        ended[i] = ("eof", time.monotonic() - t0)
                except BlockingIOError:
                    pass
                except ConnectionError as e:
                    ended[i] = (type(e).__name__, time.monotonic() - t0)
                continue
            try:
                sent[i] += s.send(data[sent[i]:sent[i] + 65536])
            except BlockingIOError:
                pass
            except ConnectionError as e:
                ended[i] = (type(e).__name__, time.monotonic() - t0)
        time.sleep(0.002)
    for s in socks:
        s.close()
    queue.put({"sent": sent, "ended": ended, "total": len(data)})


class UnreadReplies(unittest.TestCase):
    def start(self, *extra):
        self.metrics_port = overload._free_port()
        srv = Server("synqd", ["--metrics", "127.0.0.1:%d" % self.metrics_port] + list(extra))
        srv.start()
        self.addCleanup(srv.stop)
        return srv

    def test_million_unread_replies_are_bounded_and_the_connection_closed(self):
        srv = self.start("--output-timeout-ms", str(OUTPUT_TIMEOUT_MS))
        with Client(srv.port) as c:
            c.send(b"put 0 0 60 1024\r\n%s\r\n" % (b"p" * 1024))
            c.expect(b"INSERTED 1\r\n")
        legit = Client(srv.port)
        self.addCleanup(legit.close)
        idle = [overload.roundtrip_s(legit) for _ in range(50)]
        rss0 = overload.rss_kib(srv.proc.pid)
        queue = multiprocessing.Queue()
        child = multiprocessing.Process(target=flood_unread, args=(srv.port, queue))
        child.start()
        self.addCleanup(child.join, 5)
        self.addCleanup(child.kill)
        busy, peak = overload.sample_while(legit, lambda: queue.empty() and child.is_alive(),
                                           srv.proc.pid, limit_s=40)
        result = queue.get(timeout=5)
        m = overload.metrics(self.metrics_port)
        print("%d attackers x %d commands (%d bytes each): sent %s; ended %s; RSS grew %d KiB; "
              "legit p99 idle %.2f ms, under attack %.2f ms (max %.2f ms, %d samples); "
              "soft limit %d, closed %d"
              % (ATTACKERS, COMMANDS, result["total"], result["sent"], result["ended"],
                 peak - rss0, overload.percentile(idle, 0.99) * 1e3,
                 overload.percentile(busy, 0.99) * 1e3, max(busy) * 1e3, len(busy),
                 m.get("synq_output_soft_limit_total", 0), m.get("synq_output_closed_total", 0)))
        # The server stopped reading: nobody got a million commands in.
        for sent in result["sent"]:
            self.assertLess(sent, result["total"])
        # Each attacker was reset once its output stalled for the timeout.
        for ended in result["ended"]:
            self.assertIsNotNone(ended, "an attacker was never closed")
        self.assertGreater(m.get("synq_output_soft_limit_total", 0), 0)
        self.assertGreaterEqual(m.get("synq_output_closed_total", 0), ATTACKERS)
        if not overload.SANITIZED:
            # Each: a soft limit (1 MiB), one reply and one 256 KiB pass past it, 64 KiB of input.
            self.assertLess(peak - rss0, ATTACKERS * 4 * 1024)
        self.assertLess(overload.percentile(busy, 0.99), overload.p99_bound_s(idle))
        self.assertTrue(srv.alive())
        # Nothing lost: the job every peek-ready saw is still there, and new jobs go round.
        legit.send(b"peek-ready\r\n")
        self.assertEqual(legit.read_job("FOUND"), (1, b"p" * 1024))
        self.assertEqual(overload.jobs_survive(srv.port, b"after", 200), set())
        deadline = time.monotonic() + 5
        while overload.metrics(self.metrics_port).get("current_connections") != 1:
            self.assertLess(time.monotonic(), deadline, "attackers' connections still counted")
            time.sleep(0.05)

    def test_million_replies_read_late_all_arrive(self):
        srv = self.start()
        s = overload.raw_socket(srv.port)
        self.addCleanup(s.close)
        s.settimeout(30 * overload.TIME_SCALE)
        data = b"use x\r\n" * COMMANDS
        sender = threading.Thread(target=s.sendall, args=(data,), daemon=True)
        sender.start()
        time.sleep(0.5)  # the replies pile up unread first
        want = b"USING x\r\n" * COMMANDS
        got = 0
        while got < len(want):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            self.assertEqual(chunk, want[got:got + len(chunk)])
            got += len(chunk)
        sender.join(30)
        self.assertEqual(got, len(want))


if __name__ == "__main__":
    unittest.main()
