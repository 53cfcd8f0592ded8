"""netns.py's faults with plain sockets (no synqd): a cut blocks one direction
only, a partition both, isolation spares the hub (the test's clients), drops
lose some connection attempts but not all, heal restores everything, and
closing leaves no device behind.

Runs in its own network namespace (re-executes itself); exits 77 (ctest:
skipped) with the reason when namespaces cannot be made here."""

import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
import netns  # noqa: E402

PORT = 9000
# One thread per connection: a connection whose packets a drop fault lost waits for TCP's
# retransmissions (exponential backoff, seconds after the fault is healed), and a serial server
# would keep every later probe waiting behind it.
ECHO = """
import socket, threading
def echo(c):
    with c:
        c.settimeout(10)
        try:
            c.sendall(c.recv(100))
        except OSError:
            pass
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("%s", %d))
s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=echo, args=(c,), daemon=True).start()
"""
# A probe that should get through waits this long (a loaded machine can be slow to schedule
# the echo server); one that should not costs as much.
REACH_TIMEOUT = 1.5
# From inside a node's namespace: connect to ADDR, print "ok" or "fail".
PROBE = """
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], %d), timeout=float(sys.argv[2]))
    c.sendall(b"x")
    print("ok" if c.recv(10) == b"x" else "fail")
except OSError:
    print("fail")
"""


class Faults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.net = netns.Network([1, 2, 3])
        cls.servers = []
        for i in (1, 2, 3):
            cls.servers.append(subprocess.Popen(
                cls.net.prefix(i) + [sys.executable, "-c", ECHO % (cls.net.addr(i), PORT)]))
        for i in (1, 2, 3):
            deadline = time.monotonic() + 5
            while not cls.hub_reaches(i):
                if time.monotonic() > deadline:
                    raise AssertionError("echo server on node %d did not start" % i)
                time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        for p in cls.servers:
            p.kill()
            p.wait()
        cls.net.close()

    def tearDown(self):
        self.net.heal()

    @classmethod
    def hub_reaches(cls, i, timeout=REACH_TIMEOUT):
        try:
            with socket.create_connection((cls.net.addr(i), PORT), timeout=timeout) as c:
                c.sendall(b"x")
                return c.recv(10) == b"x"
        except OSError:
            return False

    def reaches(self, a, b, timeout=REACH_TIMEOUT):
        """True when node a can open a connection to node b and get an echo."""
        out = self.net.run_in(a, [sys.executable, "-c", PROBE % PORT, self.net.addr(b),
                                  str(timeout)]).stdout.strip()
        return out == "ok"

    def matrix(self):
        return {(a, b): self.reaches(a, b) for a in (1, 2, 3) for b in (1, 2, 3) if a != b}

    def test_all_reach_each_other_when_healed(self):
        self.assertEqual(set(self.matrix().values()), {True})
        self.assertTrue(all(self.hub_reaches(i) for i in (1, 2, 3)))

    def test_cut_is_one_way(self):
        self.net.cut(1, 2)
        # 1's packets to 2 are dropped: neither side can open a connection
        # (TCP needs both directions), but the others still talk...
        self.assertFalse(self.reaches(1, 2))
        self.assertFalse(self.reaches(2, 1))
        self.assertTrue(self.reaches(1, 3))
        self.assertTrue(self.reaches(3, 2))
        # ...and the one-way nature shows on UDP: 2 -> 1 arrives, 1 -> 2 does not.
        self.assertTrue(self.udp_arrives(2, 1))
        self.assertFalse(self.udp_arrives(1, 2))

    def udp_arrives(self, a, b):
        recv = self.net.prefix(b) + [sys.executable, "-c",
                                     "import socket\ns=socket.socket(socket.AF_INET,"
                                     "socket.SOCK_DGRAM)\ns.bind(('%s',9001))\ns.settimeout(1)\n"
                                     "try:\n print(s.recv(10).decode())\nexcept OSError:\n"
                                     " print('none')" % self.net.addr(b)]
        with subprocess.Popen(recv, stdout=subprocess.PIPE, text=True) as listener:
            time.sleep(0.3)
            # The send succeeds either way: the drop is where the packet arrives.
            self.net.run_in(a, [sys.executable, "-c",
                                "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)"
                                "\ns.sendto(b'hi',('%s',9001))" % self.net.addr(b)])
            out = listener.communicate(timeout=5)[0].strip()
        return out == "hi"

    def test_isolate_spares_the_hub(self):
        self.net.isolate(2)
        m = self.matrix()
        self.assertEqual({k for k, v in m.items() if not v}, {(1, 2), (2, 1), (2, 3), (3, 2)})
        self.assertTrue(self.hub_reaches(2))

    def test_partition_then_heal(self):
        self.net.partition([1], [2, 3])
        self.assertFalse(self.reaches(1, 3))
        self.assertTrue(self.reaches(2, 3))
        self.net.heal()
        self.assertEqual(set(self.matrix().values()), {True})

    def test_drop_loses_some_not_all(self):
        if self.faults["drop"]:
            raise unittest.SkipTest(self.faults["drop"])
        self.net.drop(2, 0.5)
        # A probe gets through when its SYN and its data both pass (1 in 4): try until both
        # outcomes are seen, up to 60 probes (all 60 failing has odds of 0.75^60, 3e-8).
        got = set()
        for _ in range(60):
            got.add(self.reaches(1, 2, timeout=0.3))
            if len(got) == 2:
                break
        self.assertEqual(got, {True, False})
        self.assertTrue(self.hub_reaches(2))
        self.net.heal()
        self.assertTrue(all(self.reaches(1, 2) for _ in range(5)))


def main():
    faults = netns.probe()
    if faults["netns"] or faults["cut"]:
        print("SKIPPED: %s" % (faults["netns"] or faults["cut"]))
        sys.exit(cluster.SKIP)
    netns.enter_private()
    if faults["delay"]:
        print("delay faults cannot be made here: %s" % faults["delay"])
    Faults.faults = faults
    prog = unittest.main(exit=False, verbosity=2)
    left = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    if "sq" in left:
        print("FAIL: devices left after close:\n%s" % left)
        sys.exit(1)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
