"""Helpers for the overload suite: synqd under abuse on loopback, measured.

Each test starts its own synqd (sqharness.Server: a free loopback port, always
stopped), abuses it from this process, and measures what a legitimate client
sees meanwhile (round trips), the server's resident memory (/proc), and its
/metrics counters. Everything is bounded: every wait has a deadline, every
socket a timeout. Python 3 standard library only."""

import os
import socket
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import sqharness  # noqa: E402,F401  (re-exported for the tests)
from sqharness import Client, Server, _free_port  # noqa: E402,F401


# A sanitizer build (SQ_SANITIZE=1 from ctest): ASan keeps freed memory in quarantine, so RSS
# bounds mean nothing, and everything is several times slower.
SANITIZED = os.environ.get("SQ_SANITIZE") == "1"
TIME_SCALE = 10 if SANITIZED else 1


def rss_kib(pid):
    """The process's resident set size in KiB (VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def metrics(port):
    """The server's /metrics as {name: value} for the unlabelled samples."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value) if "." in value else int(value)
    return out


def roundtrip_s(client):
    """One `stats-tube default` round trip of a legitimate client, in seconds."""
    t0 = time.monotonic()
    client.send(b"stats-tube default\r\n")
    line = client.read_line()
    assert line.startswith(b"OK "), line
    client.read_exact(int(line.split()[1]) + 2)
    return time.monotonic() - t0


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p))]


# A legitimate client's p99 under abuse may be twice its idle p99, but need not beat this floor:
# idle loopback round trips take tens of microseconds, and the 2 shared cores of CI alone add
# scheduling delays of tens of milliseconds (the other overload tests' bound too).
P99_FLOOR_S = 0.25


def p99_bound_s(idle):
    """What a legitimate client's p99 under abuse must stay under, given its idle samples."""
    return max(2 * percentile(idle, 0.99), P99_FLOOR_S) * TIME_SCALE


def sample_while(legit, busy, pid=None, pause_s=0.005, limit_s=60):
    """Round trips of `legit` (and the peak RSS of `pid`, KiB) while busy() is true.

    Returns (round trips, peak RSS or 0). At most limit_s seconds, so a stuck abuse ends."""
    trips = []
    peak = 0
    deadline = time.monotonic() + limit_s * TIME_SCALE
    while busy() and time.monotonic() < deadline:
        trips.append(roundtrip_s(legit))
        if pid is not None:
            peak = max(peak, rss_kib(pid))
        time.sleep(pause_s)
    return trips, peak


def jobs_survive(port, tube, n, size=100):
    """A legitimate producer puts n distinct jobs into `tube`, a consumer reserves and deletes
    them all. Returns the bodies put and never reserved back (empty: nothing lost)."""
    want = set()
    with Client(port) as producer, Client(port) as consumer:
        producer.send(b"use %s\r\n" % tube)
        producer.expect(b"USING %s\r\n" % tube)
        consumer.send(b"watch %s\r\nignore default\r\n" % tube)
        consumer.expect(b"WATCHING 2\r\nWATCHING 1\r\n")
        for i in range(n):
            body = (b"%s-%d-" % (tube, i)).ljust(size, b"j")
            producer.send(b"put 0 0 60 %d\r\n%s\r\n" % (len(body), body))
            line = producer.read_line()
            assert line.startswith(b"INSERTED "), line
            want.add(body)
        for _ in range(n):
            consumer.send(b"reserve-with-timeout 5\r\n")
            jid, body = consumer.read_job("RESERVED")
            consumer.send(b"delete %d\r\n" % jid)
            consumer.expect(b"DELETED\r\n")
            want.discard(body)
    return want


def raw_socket(port, rcvbuf=None):
    """A plain connected socket (for attackers that never read)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def raise_fd_limit(test, want):
    """Lets this process open `want` descriptors, or skips the test when the hard limit is
    lower (synqd raises its own soft limit to its hard one)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    if hard != resource.RLIM_INFINITY and hard < want:
        test.skipTest("this process may open only %d descriptors" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def current_connections(client):
    """The server's current-connections, from `stats`."""
    client.send(b"stats\r\n")
    for row in client.read_yaml_reply().decode().splitlines():
        if row.startswith("current-connections:"):
            return int(row.split()[1])
    raise AssertionError("no current-connections in stats")


def wait_connections(client, want, timeout_s=30):
    """Waits (bounded) until the server counts `want` connections, so that everything they
    sent has been read before memory is measured."""
    deadline = time.monotonic() + timeout_s * TIME_SCALE
    n = current_connections(client)
    while n != want:
        if time.monotonic() > deadline:
            raise AssertionError("the server counts %d connections, not %d" % (n, want))
        time.sleep(0.05)
        n = current_connections(client)
