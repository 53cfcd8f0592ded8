"""Issue 13 item 9: fairness under a pipelined flood.

One connection's pipelined batch used to run to its end in one loop pass, and
each `watch` scanned the connection's watch list: 100,000 `watch` commands in
one write stalled every other client for hundreds of milliseconds and took
7-10 s. Now a connection runs at most --pass-commands commands per pass and
`watch`/`ignore` are O(1)."""

import multiprocessing
import socket
import threading
import time
import unittest

import overload
from overload import Client, Server

WATCHES = 100000


def flood_watches(port, n, queue):
    """One connection pipelines n watches of distinct tubes in one go and reads every reply
    (in a child process, so that it does not share the legitimate client's interpreter)."""
    result = {}
    s = overload.raw_socket(port)
    s.settimeout(30)
    data = b"".join(b"watch t%d\r\n" % i for i in range(n))
    want = b"WATCHING %d\r\n" % (n + 1)
    t0 = time.monotonic()
    sender = threading.Thread(target=s.sendall, args=(data,))
    sender.start()
    tail = b""
    lines = 0
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        lines += chunk.count(b"\n")
        tail = (tail + chunk)[-64:]
        if lines >= n:
            break
    result["elapsed_s"] = time.monotonic() - t0
    result["last"] = tail.split(b"\r\n")[-2] + b"\r\n"
    result["want"] = want
    sender.join()
    s.close()
    queue.put(result)


class WatchFlood(unittest.TestCase):
    def test_legit_round_trip_during_watch_flood_and_flood_finishes_fast(self):
        mport = overload._free_port()
        srv = Server("synqd", ["--metrics", "127.0.0.1:%d" % mport])
        srv.start()
        self.addCleanup(srv.stop)
        legit = Client(srv.port)
        self.addCleanup(legit.close)
        idle = [overload.roundtrip_s(legit) for _ in range(50)]
        queue = multiprocessing.Queue()
        flooder = multiprocessing.Process(target=flood_watches, args=(srv.port, WATCHES, queue))
        flooder.start()
        busy = []
        result = None
        deadline = time.monotonic() + 60
        while result is None and time.monotonic() < deadline:
            busy.append(overload.roundtrip_s(legit))
            time.sleep(0.002)
            if not queue.empty():
                result = queue.get()
        flooder.join(10)
        self.assertIsNotNone(result, "the flood did not finish")
        m = overload.metrics(mport)
        print("%d watches in %.3f s; legit round trip p99 idle %.2f ms, during the flood "
              "%.2f ms, max %.2f ms (%d samples); synq_pass_budget_yields_total %d"
              % (WATCHES, result["elapsed_s"], overload.percentile(idle, 0.99) * 1e3,
                 overload.percentile(busy, 0.99) * 1e3, max(busy) * 1e3, len(busy),
                 m.get("synq_pass_budget_yields_total", 0)))
        self.assertEqual(result["last"], result["want"])
        # Quadratic (each watch scanning the list) took 7-10 s on a quiet machine; linear takes
        # 0.1-0.4 s there. 1 s was too tight for a loaded 2-core machine (1.35 s seen), and a
        # ratio against a smaller flood was noisier still (warm allocator, no legit client).
        self.assertLess(result["elapsed_s"], 3.0 * overload.TIME_SCALE)
        self.assertGreater(m.get("synq_pass_budget_yields_total", 0), 0)
        # Before the fix: p99 4.7 s (the flood took 20 s). Loose enough for 2 shared cores.
        self.assertLess(overload.percentile(busy, 0.99), 0.25 * overload.TIME_SCALE)

    def test_pipelined_batch_then_fin_gets_every_reply(self):
        # The FIN arrives while the budget holds most of the batch back: all replies still come.
        srv = Server("synqd", ["--pass-commands", "10"])
        srv.start()
        self.addCleanup(srv.stop)
        s = overload.raw_socket(srv.port)
        self.addCleanup(s.close)
        s.sendall(b"".join(b"watch u%d\r\n" % i for i in range(5000)))
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += chunk
        self.assertEqual(got, b"".join(b"WATCHING %d\r\n" % (i + 2) for i in range(5000)))


if __name__ == "__main__":
    unittest.main()
