"""No input may crash synqd, hang it, or grow its memory without bound.

Seeded random byte streams (pure noise, and noise made of protocol words,
numbers, CRLFs and oversized declarations) go to a real synqd over many
connections, in random-sized writes. Afterwards the server must still answer
a fresh client correctly, its RSS must stay within a bound, and a well-formed
session must behave exactly as before. SQ_GARBAGE_SECONDS sets the run time
(default 6 s).
"""

import os
import random
import socket
import time
import unittest

import sqharness

WORDS = [b"put", b"reserve", b"reserve-with-timeout", b"reserve-job", b"delete", b"release",
         b"bury", b"touch", b"watch", b"ignore", b"use", b"peek", b"peek-ready",
         b"peek-delayed", b"peek-buried", b"kick", b"kick-job", b"stats", b"stats-job",
         b"stats-tube", b"list-tubes", b"list-tube-used", b"list-tubes-watched",
         b"pause-tube", b"quit", b"default", b"-1", b"0", b"1", b"4294967295", b"4294967296",
         b"18446744073709551615", b"99999999999999999999", b"+5", b"\x00", b"\r", b"\n",
         b"\r\n", b" ", b"  ", b"a" * 201, b"x" * 300]


def noise(rng, n):
    if rng.random() < 0.3:
        return bytes(rng.getrandbits(8) for _ in range(n))
    out = bytearray()
    while len(out) < n:
        out += rng.choice(WORDS)
        if rng.random() < 0.5:
            out += b" "
        if rng.random() < 0.2:
            out += b"\r\n"
    return bytes(out[:n])


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


class GarbageInput(unittest.TestCase):
    def test_random_streams_leave_the_server_healthy_and_bounded(self):
        seconds = float(os.environ.get("SQ_GARBAGE_SECONDS", "6"))
        rng = random.Random(int(os.environ.get("SQ_GARBAGE_SEED", "20261125")))
        # Under AddressSanitizer freed memory sits in a quarantine (256 MiB by
        # default) and would read as growth: keep it small for this server.
        asan = os.environ.get("ASAN_OPTIONS", "")
        os.environ["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "quarantine_size_mb=4"
        with sqharness.running("synqd", ["-z", "4096"]) as srv:
            base_rss = rss_kb(srv.proc.pid)
            socks = []
            sent = 0
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if len(socks) < 20:
                    s = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
                    s.setblocking(False)
                    socks.append(s)
                s = rng.choice(socks)
                try:
                    data = noise(rng, rng.randint(1, 2048))
                    sent += s.send(data)
                    # Drain replies so the server is not held back by us.
                    s.recv(1 << 16)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    # quit, or a reset after a protocol violation: fine.
                    socks.remove(s)
                    s.close()
                if rng.random() < 0.02 and socks:
                    victim = socks.pop(rng.randrange(len(socks)))
                    victim.close()
                self.assertIsNone(srv.proc.poll(), "synqd exited during the run")
            peak_rss = rss_kb(srv.proc.pid)
            for s in socks:
                s.close()
            print("sent %d bytes of garbage on up to 20 connections; RSS %d -> %d KiB"
                  % (sent, base_rss, peak_rss))
            # Line buffers are bounded at 224 bytes, bodies at -z: memory may
            # hold accepted jobs, but nothing near what was sent.
            self.assertLess(peak_rss, base_rss + 64 * 1024)
            self.assertIsNone(srv.proc.poll(), "synqd died")

            # A well-formed session still gets exactly the right replies.
            with sqharness.Client(srv.port) as c:
                c.send(b"use garbage-check\r\n")
                c.expect(b"USING garbage-check\r\n")
                c.send(b"put 7 0 60 5\r\nhello\r\n")
                line = c.read_line()
                self.assertTrue(line.startswith(b"INSERTED "), line)
                jid = int(line.split()[1])
                c.send(b"peek %d\r\n" % jid)
                c.expect(b"FOUND %d 5\r\nhello\r\n" % jid)
                c.send(b"stats-tube garbage-check\r\n")
                doc = dict(sqharness.parse_yaml(c.read_yaml_reply()))
                self.assertEqual(doc["current-jobs-ready"], "1")


if __name__ == "__main__":
    sqharness.main()
