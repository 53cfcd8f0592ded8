"""The workload: producers and workers on random nodes, every request recorded.

Model: each client is a thread with at most one connection, to a node it
picks at random from `endpoints()` (a callable, so a test may change the
list). Producers `put` a fresh body per attempt (checker.make_body: unique,
with a checksum); workers `reserve-with-timeout`, check the body's checksum,
then `delete` the job. Each request becomes one checker.Op with the outcome the
client saw: a reply (ok or fail), or the connection closing or timing out
before one (unknown: the client then drops the connection and reconnects to a
random node, as a beanstalkd client does after a failover).

Requests wait at most OP_TIMEOUT_S for their reply: a node that knows no
leader holds commands for a few election timeouts, and a SIGSTOPped node never
answers; both end as "unknown".
"""

import random
import re
import threading
import time

import checker
from checker import FAIL, OK, UNKNOWN, Op
from cluster import Client, ProtocolError

OP_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 1.0
RECONNECT_PAUSE_S = 0.05
TUBE = "jepsen"
TTR_S = 30


class Closed(Exception):
    """The connection broke before a reply (the outcome is unknown)."""


class _Conn:
    def __init__(self, node_id, host, port):
        self.node = node_id
        self.c = Client(port, OP_TIMEOUT_S, host=host)

    def request(self, data):
        try:
            self.c.send(data)
            return self.c.read_line()
        except (OSError, ProtocolError) as e:
            raise Closed(str(e)) from None

    def read_body(self, nbytes):
        try:
            return self.c.read_exact(nbytes + 2)[:-2]
        except (OSError, ProtocolError) as e:
            raise Closed(str(e)) from None

    def close(self):
        self.c.close()


class Workload:
    """`producers` + `workers` threads against `endpoints()`, a callable
    returning (id, host, port) tuples. start(), then stop(); `history` is the
    list of checker.Op, `errors` any failure inside the clients themselves."""

    def __init__(self, endpoints, producers=3, workers=2, seed=None, put_pause_s=0.01,
                 body_pad=64):
        self.endpoints = endpoints
        self.rng = random.Random(seed)
        self.n_producers = producers
        self.n_workers = workers
        self.put_pause_s = put_pause_s
        self.body_pad = body_pad
        self.history = []
        self.errors = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []

    def start(self):
        for k in range(self.n_producers):
            self._spawn("p%d" % k, self._producer)
        for k in range(self.n_workers):
            self._spawn("w%d" % k, self._worker)
        return self

    def _spawn(self, name, fn):
        t = threading.Thread(target=self._guard, args=(name, fn, random.Random(self.rng.random())),
                             name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(OP_TIMEOUT_S * 3)
        stuck = [t.name for t in self._threads if t.is_alive()]
        if stuck:
            self.errors.append("client threads did not stop: %s" % stuck)
        return self.history

    def record(self, op):
        with self._lock:
            self.history.append(op)

    def acked(self, kind):
        with self._lock:
            return sum(1 for op in self.history if op.kind == kind and op.outcome == OK)

    def _guard(self, name, fn, rng):
        try:
            fn(name, rng)
        except Exception as e:  # a bug in the client, not in the server: report it
            self.errors.append("%s: %r" % (name, e))

    def _connect(self, name, rng, setup):
        """A connection to a random node with `setup` lines answered, or None."""
        node_id, host, port = rng.choice(self.endpoints())
        try:
            conn = _Conn(node_id, host, port)
        except OSError:
            time.sleep(RECONNECT_PAUSE_S)
            return None
        try:
            for line, want in setup:
                got = conn.request(line)
                if got != want:
                    raise Closed("%s: %r" % (line, got))
        except Closed:
            conn.close()
            time.sleep(RECONNECT_PAUSE_S)
            return None
        return conn

    def _producer(self, name, rng):
        conn, seq = None, 0
        while not self._stop.is_set():
            if conn is None:
                conn = self._connect(name, rng, [(b"use %s\r\n" % TUBE.encode(),
                                                  b"USING %s\r\n" % TUBE.encode())])
                continue
            seq += 1
            body = checker.make_body(name, seq, self.body_pad)
            start = time.monotonic()
            op = Op("put", UNKNOWN, None, body, start, start, name, conn.node)
            try:
                reply = conn.request(b"put 0 0 %d %d\r\n%s\r\n" % (TTR_S, len(body), body))
                m = re.fullmatch(rb"INSERTED (\d+)\r\n", reply)
                op.outcome, op.reply = (OK if m else FAIL), reply
                op.job_id = int(m.group(1)) if m else None
            except Closed as e:
                op.reply = str(e).encode()
                conn.close()
                conn = None
            op.end = time.monotonic()
            self.record(op)
            self._stop.wait(self.put_pause_s)
        if conn is not None:
            conn.close()

    def _worker(self, name, rng):
        conn = None
        setup = [(b"watch %s\r\n" % TUBE.encode(), b"WATCHING 2\r\n"),
                 (b"ignore default\r\n", b"WATCHING 1\r\n")]
        while not self._stop.is_set():
            if conn is None:
                conn = self._connect(name, rng, setup)
                continue
            try:
                self._reserve_delete(name, conn)
            except Closed:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def _reserve_delete(self, name, conn):
        start = time.monotonic()
        try:
            reply = conn.request(b"reserve-with-timeout 1\r\n")
        except Closed as e:
            # A reserve whose reply was lost changes nothing the checker
            # needs: the job's reservation dies with the connection.
            self.record(Op("reserve", UNKNOWN, None, None, start, time.monotonic(), name,
                           conn.node, str(e).encode()))
            raise
        m = re.fullmatch(rb"RESERVED (\d+) (\d+)\r\n", reply)
        if not m:
            if reply not in (b"TIMED_OUT\r\n", b"DEADLINE_SOON\r\n"):
                self.record(Op("reserve", FAIL, None, None, start, time.monotonic(), name,
                               conn.node, reply))
            return
        job_id = int(m.group(1))
        body = conn.read_body(int(m.group(2)))
        self.record(Op("reserve", OK, job_id, body, start, time.monotonic(), name, conn.node,
                       reply))
        if not checker.body_ok(body):
            return  # the checker reports it; keep the job for the final state
        start = time.monotonic()
        op = Op("delete", UNKNOWN, job_id, None, start, start, name, conn.node)
        try:
            reply = conn.request(b"delete %d\r\n" % job_id)
            op.outcome, op.reply = (OK if reply == b"DELETED\r\n" else FAIL), reply
        except Closed as e:
            op.reply = str(e).encode()
            raise
        finally:
            op.end = time.monotonic()
            self.record(op)


def final_state(cluster, history, reader_id=None, converge_timeout_s=20.0):
    """Wait for the nodes to converge, then read every job of the workload's
    tube through one node (the leader unless `reader_id`): checker.FinalState."""
    nodes = cluster.wait_converged(converge_timeout_s)
    reader = reader_id if reader_id is not None else cluster.wait_leader(10.0)
    with cluster.client(reader, timeout=10.0) as c:
        jobs = checker.read_jobs(c, [TUBE], checker.highest_id(history))
    return checker.FinalState(jobs, nodes)



def first_ack(cluster, ids, record, timeout_s=10.0, attempt_timeout_s=0.3):
    """Seconds until a put through one of the nodes `ids` is acknowledged,
    trying them in turn, each attempt waiting at most attempt_timeout_s (a
    node that knows no leader holds it). Every attempt goes into `record` as a
    checker.Op (an attempt given up on may still commit later). None when no
    put is acknowledged within timeout_s."""
    start = time.monotonic()
    seq = 0
    while time.monotonic() - start < timeout_s:
        node_id = ids[seq % len(ids)]
        seq += 1
        body = checker.make_body("probe%d" % int(start * 1000), seq)
        op = Op("put", UNKNOWN, None, body, time.monotonic(), 0.0, "probe", node_id)
        try:
            with cluster.client(node_id, timeout=attempt_timeout_s) as c:
                reply = c.cmd(b"use %s\r\n" % TUBE.encode())
                if reply == b"USING %s\r\n" % TUBE.encode():
                    c.send(b"put 0 0 %d %d\r\n%s\r\n" % (TTR_S, len(body), body))
                    reply = c.read_line()
                    m = re.fullmatch(rb"INSERTED (\d+)\r\n", reply)
                    op.outcome, op.reply = (OK if m else FAIL), reply
                    op.job_id = int(m.group(1)) if m else None
        except (OSError, ProtocolError) as e:
            op.reply = str(e).encode()
        op.end = time.monotonic()
        record(op)
        if op.outcome == OK:
            return op.end - start
        time.sleep(0.01)
    return None
