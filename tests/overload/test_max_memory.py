"""Issue 13's overload list: --max-memory.

Producers push 4 KiB jobs until synqd answers OUT_OF_MEMORY (the put's body is still consumed, the
connection goes on). The server's RSS stays under the bound plus a fixed overhead; consumers can
still reserve and delete, and then puts succeed again; every job acknowledged INSERTED comes back
exactly once. With a log (-b), a restart after kill -9 recovers every acknowledged job, and the recovered jobs
count against the bound."""

import shutil
import tempfile
import unittest

import overload
from overload import Client, Server

MAX_MEMORY = 64 << 20
BODY_BYTES = 4096
PRODUCERS = 4
BATCH = 64
# What a counted job may really cost beyond its count (allocator rounding, the directory and
# heaps), plus the server's own buffers: a fixed allowance on top of the bound.
OVERHEAD_KIB = 24 * 1024


def body(producer, i):
    return (b"p%d-%d-" % (producer, i)).ljust(BODY_BYTES, b"m")


class MaxMemory(unittest.TestCase):
    def start(self, *extra):
        self.metrics_port = overload._free_port()
        srv = Server("synqd", ["--max-memory", str(MAX_MEMORY), "--metrics",
                               "127.0.0.1:%d" % self.metrics_port] + list(extra))
        srv.start()
        self.addCleanup(srv.stop)
        return srv

    def fill(self, srv):
        """PRODUCERS connections pipeline puts until each is refused OUT_OF_MEMORY; returns
        ({body: id} acknowledged, peak RSS in KiB)."""
        acked = {}
        clients = [Client(srv.port) for _ in range(PRODUCERS)]
        for c in clients:
            self.addCleanup(c.close)
        full = [False] * PRODUCERS
        peak = 0
        i = 0
        while not all(full):
            for p, c in enumerate(clients):
                if full[p]:
                    continue
                bodies = [body(p, i + k) for k in range(BATCH)]
                c.send(b"".join(b"put 0 0 60 %d\r\n%s\r\n" % (len(b), b) for b in bodies))
                for b in bodies:
                    line = c.read_line()
                    if line == b"OUT_OF_MEMORY\r\n":
                        full[p] = True
                    else:
                        self.assertTrue(line.startswith(b"INSERTED "), line)
                        acked[b] = int(line.split()[1])
                # The refused put's body was consumed: the connection still speaks.
                c.send(b"list-tube-used\r\n")
                c.expect(b"USING default\r\n")
            i += BATCH
            peak = max(peak, overload.rss_kib(srv.proc.pid))
            self.assertLess(len(acked), 2 * MAX_MEMORY // BODY_BYTES, "the bound never bit")
        return acked, peak

    def drain(self, srv, acked, n=None):
        """Reserve and delete n jobs (all when None), checking each against `acked`; removes
        them from it."""
        with Client(srv.port) as c:
            count = len(acked) if n is None else n
            for _ in range(count):
                c.send(b"reserve-with-timeout 5\r\n")
                jid, got = c.read_job("RESERVED")
                self.assertEqual(acked.pop(got, None), jid, "a job not acknowledged, or twice")
                c.send(b"delete %d\r\n" % jid)
                c.expect(b"DELETED\r\n")
            if n is None:
                c.send(b"reserve-with-timeout 0\r\n")
                c.expect(b"TIMED_OUT\r\n")

    def put_one(self, srv, data):
        with Client(srv.port) as c:
            c.send(b"put 0 0 60 %d\r\n%s\r\n" % (len(data), data))
            return c.read_line()

    def check_bounded(self, srv, rss0, peak, acked):
        m = overload.metrics(self.metrics_port)
        print("--max-memory %d MiB: %d jobs of %d bytes acknowledged; job memory %d bytes; "
              "RSS %d -> %d KiB"
              % (MAX_MEMORY >> 20, len(acked), BODY_BYTES, m["synq_job_memory_bytes"], rss0,
                 peak))
        self.assertLessEqual(m["synq_job_memory_bytes"], MAX_MEMORY)
        # Filled to within one job of the bound.
        self.assertGreater(m["synq_job_memory_bytes"], MAX_MEMORY - 2 * (BODY_BYTES + 152))
        if not overload.SANITIZED:
            self.assertLess(peak, rss0 + MAX_MEMORY // 1024 + OVERHEAD_KIB)

    def test_full_server_refuses_then_recovers_and_loses_nothing(self):
        srv = self.start()
        rss0 = overload.rss_kib(srv.proc.pid)
        acked, peak = self.fill(srv)
        self.check_bounded(srv, rss0, peak, acked)
        self.assertEqual(self.put_one(srv, body(8, 0)), b"OUT_OF_MEMORY\r\n")
        # Consumers still work on a full server, and what they free is room again.
        self.drain(srv, acked, 100)
        line = self.put_one(srv, body(9, 0))
        self.assertTrue(line.startswith(b"INSERTED "), line)
        acked[body(9, 0)] = int(line.split()[1])
        self.drain(srv, acked)
        self.assertEqual(acked, {})
        self.assertEqual(overload.metrics(self.metrics_port)["synq_job_memory_bytes"], 0)
        self.assertTrue(srv.alive())

    def test_with_a_log_every_acknowledged_job_survives_a_restart(self):
        wal = tempfile.mkdtemp(prefix="synq-maxmem-")
        self.addCleanup(shutil.rmtree, wal, True)
        srv = self.start("-b", wal)
        rss0 = overload.rss_kib(srv.proc.pid)
        acked, peak = self.fill(srv)
        self.check_bounded(srv, rss0, peak, acked)
        # kill -9: a crashed process loses nothing acknowledged (the log's writes are in the
        # kernel already), whatever -f says.
        srv.proc.kill()
        srv.stop()
        srv = self.start("-b", wal)
        # The recovered jobs fill the bound again.
        self.assertEqual(self.put_one(srv, body(8, 0)), b"OUT_OF_MEMORY\r\n")
        self.drain(srv, acked, 100)
        line = self.put_one(srv, body(9, 0))
        self.assertTrue(line.startswith(b"INSERTED "), line)
        acked[body(9, 0)] = int(line.split()[1])
        self.drain(srv, acked)
        self.assertEqual(acked, {})


if __name__ == "__main__":
    unittest.main()
