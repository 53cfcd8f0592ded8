"""Issue 13's overload list: garbage, HTTP and TLS ClientHellos on the port.

A port scanner, a browser or a TLS client pointed at the queue port speak another protocol. synqd
must answer their bytes exactly as beanstalkd does (each line UNKNOWN_COMMAND or BAD_FORMAT, an
over-long line dropped as it arrives and answered BAD_FORMAT once, the connection left open;
docs/protocol.md), never crash, and, while many connections keep doing it, keep its memory bounded
and a legitimate client served, losing none of its jobs. tests/integration/test_garbage_input.py
checks replies to random streams; this file is about the cost of such traffic under load."""

import multiprocessing
import os
import random
import select
import ssl
import time
import unittest

import overload
from overload import Client, Server, sqharness

ATTACKERS = 24
ATTACK_S = 4.0


def client_hello(version):
    """The first flight of a real TLS client (Python's ssl) limited to `version`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = version
    ctx.maximum_version = version
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="queue.example")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    assert hello[:1] == b"\x16", hello[:8]  # a handshake record
    return hello


def payloads(rng):
    """(name, bytes) of what foreign clients send first."""
    get = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1:11300\r\nUser-Agent: Mozilla/5.0 (X11; Linux "
           b"x86_64) Gecko/20100101 Firefox/128.0\r\nAccept: text/html,*/*;q=0.8\r\n"
           b"Accept-Language: en-US,en;q=0.5\r\nConnection: keep-alive\r\n\r\n")
    form = b"&".join(b"field%d=%s" % (i, b"v" * 40) for i in range(20000))  # ~1 MiB, no CRLF
    post = (b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
            b"application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s"
            % (len(form), form))
    return [
        ("random bytes", bytes(rng.getrandbits(8) for _ in range(4096))),
        ("HTTP GET", get),
        ("HTTP POST, 1 MiB body", post),
        ("TLS 1.2 ClientHello", client_hello(ssl.TLSVersion.TLSv1_2)),
        ("TLS 1.3 ClientHello", client_hello(ssl.TLSVersion.TLSv1_3)),
    ]


# After each payload: what ends whatever line it left open, then a command whose reply marks the
# end. A stray '\r' hides every line end after it until 224 bytes are buffered, so over 448
# bytes without one come first; and a CRLF split across two 224-byte chunks is not seen, so two.
END = b"\r\n\r\n" + b"z" * 500 + b"\r\n\r\n" + b"list-tube-used\r\n"
MARK = b"USING default\r\n"


def replies_to(port, data):
    """Everything answered to `data` + END on a fresh connection, through the mark."""
    with Client(port, timeout=5 * overload.TIME_SCALE) as c:
        c.send(data + END)
        while not c.buf.endswith(MARK):
            c._fill("the replies to a foreign payload", None)
        return c.buf


def attack(port, seed, stop, queue):
    """In a child process: ATTACKERS connections send foreign payloads over and over, each
    draining its replies now and then, and reconnect at random, until `stop` is set."""
    rng = random.Random(seed)
    mix = [data for _name, data in payloads(rng)]
    socks = [overload.raw_socket(port) for _ in range(ATTACKERS)]
    sent = 0
    connects = ATTACKERS
    while not stop.is_set():
        i = rng.randrange(ATTACKERS)
        try:
            socks[i].sendall(rng.choice(mix))
            sent += 1
            while select.select([socks[i]], [], [], 0)[0] and socks[i].recv(1 << 16):
                pass
        except OSError:
            pass  # a reset, or our own timeout: reconnect below
        else:
            # About a thousand payloads a second (~200 MiB/s): heavy, but not this process
            # and the server alone taking both cores from the legitimate client's turns.
            time.sleep(0.001)
            if rng.random() > 0.2:
                continue
        socks[i].close()
        socks[i] = overload.raw_socket(port)
        connects += 1
    for s in socks:
        s.close()
    queue.put({"payloads": sent, "connects": connects})


class ForeignProtocols(unittest.TestCase):
    def test_replies_are_beanstalkd_s(self):
        rng = random.Random(int(os.environ.get("SQ_FOREIGN_SEED", "1125")))
        cases = payloads(rng)
        with Server("synqd", []) as srv:
            got = {name: replies_to(srv.port, data) for name, data in cases}
            self.assertTrue(srv.alive())
        # Each line of the head, its empty last line and END's empty lines: UNKNOWN_COMMAND each;
        # END's line of 500 bytes: BAD_FORMAT.
        get = dict(cases)["HTTP GET"]
        self.assertEqual(got["HTTP GET"], b"UNKNOWN_COMMAND\r\n" * (get.count(b"\r\n") + 2)
                         + b"BAD_FORMAT\r\n" + b"UNKNOWN_COMMAND\r\n" + MARK)
        if not os.access(sqharness.BEANSTALKD, os.X_OK):
            self.skipTest("no beanstalkd at %s to compare with" % sqharness.BEANSTALKD)
        with Server("beanstalkd", []) as ref:
            for name, data in cases:
                self.assertEqual(got[name], replies_to(ref.port, data), name)

    def test_foreign_traffic_under_load(self):
        mport = overload._free_port()
        srv = Server("synqd", ["--metrics", "127.0.0.1:%d" % mport])
        srv.start()
        self.addCleanup(srv.stop)
        legit = Client(srv.port)
        self.addCleanup(legit.close)
        idle = [overload.roundtrip_s(legit) for _ in range(50)]
        rss0 = overload.rss_kib(srv.proc.pid)
        stop = multiprocessing.Event()
        queue = multiprocessing.Queue()
        child = multiprocessing.Process(target=attack, args=(srv.port, 7, stop, queue))
        child.start()
        self.addCleanup(child.join, 5)
        self.addCleanup(child.kill)
        self.addCleanup(stop.set)
        t_end = time.monotonic() + ATTACK_S * overload.TIME_SCALE
        busy, peak = overload.sample_while(legit, lambda: time.monotonic() < t_end,
                                           srv.proc.pid)
        # A legitimate producer and consumer while the attack goes on.
        lost = overload.jobs_survive(srv.port, b"legit", 500)
        peak = max(peak, overload.rss_kib(srv.proc.pid))
        stop.set()
        result = queue.get(timeout=10 * overload.TIME_SCALE)
        m = overload.metrics(mport)
        print("%d foreign payloads on %d connections (%d at a time); RSS grew %d KiB; legit p99 "
              "idle %.2f ms, under attack %.2f ms (median %.2f ms, max %.2f ms, %d samples); "
              "total_connections %d"
              % (result["payloads"], result["connects"], ATTACKERS, peak - rss0,
                 overload.percentile(idle, 0.99) * 1e3, overload.percentile(busy, 0.99) * 1e3,
                 overload.percentile(busy, 0.5) * 1e3, max(busy) * 1e3, len(busy), m.get("total_connections", 0)))
        self.assertEqual(lost, set())
        self.assertGreater(result["payloads"], ATTACKERS)
        if not overload.SANITIZED:
            # Each connection holds at most a 224-byte line and one 64 KiB read of input.
            self.assertLess(peak - rss0, 16 * 1024)
        self.assertLess(overload.percentile(busy, 0.99), overload.p99_bound_s(idle))
        self.assertTrue(srv.alive())


if __name__ == "__main__":
    unittest.main()
