"""Durability: kill -9 at random moments under load loses no acknowledged job.

Model: synqd runs with `-b DIR -f 0` (every change on disk before its reply).
Producer threads, each on its own connection, pipeline a few puts at a time
into three tubes; every body carries its own checksum
("seq:<n>:<sha256 of n and the padding>:" + random padding), so a wrong or
mixed-up body can never pass.  Consumer threads watch one of the tubes,
reserve, verify and delete, and record each DELETED they receive.  The main
thread kill -9s the server at random moments and restarts it on the same
directory; the workers reconnect.  After the last restart everything left is
drained with reserve-with-timeout 0 across all tubes, and:

- every job whose INSERTED was received is present, unless a delete was sent
  for it (a delete whose reply was lost to the kill may have happened);
- no job whose DELETED was received is present;
- every body verifies, and an acknowledged id holds exactly its own body;
- every job present is one a producer sent, and at most once.

A put or delete whose reply was lost to the kill may go either way.

Runtime: about SQ_KILL9_SECONDS (default 12) of load; set it higher for long
hand runs.  synqd only (beanstalkd's binlog makes no such promise).
"""

import hashlib
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402

PRODUCERS = 3
CONSUMERS = 2
PIPELINE = 4
TUBES = ("k9-a", "k9-b", "k9-c")
CONSUMED_TUBE = "k9-a"  # the others accumulate jobs for the final check
BODY_RE = re.compile(rb"seq:(\d+):([0-9a-f]{64}):", re.S)


def make_body(seq, rnd):
    pad = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 2048)))
    digest = hashlib.sha256(b"%d:" % seq + pad).hexdigest().encode()
    return b"seq:%d:%s:" % (seq, digest) + pad


def check_body(body):
    """The seq a body carries, or None when it does not verify."""
    m = BODY_RE.match(body)
    if not m:
        return None
    seq = int(m.group(1))
    pad = body[m.end():]
    if hashlib.sha256(b"%d:" % seq + pad).hexdigest().encode() != m.group(2):
        return None
    return seq


class Ledger:
    """What the clients saw, shared by the worker threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = {}      # seq -> body, every put sent
        self.acked = {}     # id -> body, INSERTED received
        self.deleted = set()  # ids whose DELETED was received
        self.delete_sent = set()  # ids a delete was sent for (reply maybe lost)
        self.anomalies = []  # anything a correct server never does
        self.kills = 0

    def anomaly(self, text):
        with self.lock:
            self.anomalies.append(text)


class Kill9Test(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="synq-kill9-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.port = None
        self.srv = None
        self.stop_flag = threading.Event()
        self.ledger = Ledger()
        self.seq = iter(range(1, 1 << 60))
        self.seq_lock = threading.Lock()
        self.addCleanup(self._stop_server)

    def _stop_server(self):
        if self.srv is not None:
            self.srv.stop()

    def start_server(self):
        self.srv = sqharness.Server("synqd", ["-b", self.dir, "-f", "0"]).start()
        self.port = self.srv.port

    def connect(self):
        while not self.stop_flag.is_set():
            try:
                return sqharness.Client(self.port, timeout=3)
            except OSError:
                time.sleep(0.02)
        return None

    def next_seq(self):
        with self.seq_lock:
            return next(self.seq)

    # ---------------------------------------------------------- workers

    def producer(self, k):
        rnd = random.Random(k)
        led = self.ledger
        while not self.stop_flag.is_set():
            c = self.connect()
            if c is None:
                return
            try:
                tube = TUBES[k % len(TUBES)]
                if c.cmd("use %s" % tube) != b"USING %s\r\n" % tube.encode():
                    led.anomaly("use %s failed" % tube)
                while not self.stop_flag.is_set():
                    bodies = []
                    for _ in range(PIPELINE):
                        seq = self.next_seq()
                        body = make_body(seq, rnd)
                        with led.lock:
                            led.sent[seq] = body
                        bodies.append(body)
                    c.send(b"".join(b"put %d 0 120 %d\r\n%s\r\n" % (rnd.randrange(3), len(b), b)
                                    for b in bodies))
                    for body in bodies:
                        line = c.read_line()
                        m = re.fullmatch(rb"INSERTED (\d+)\r\n", line)
                        if not m:
                            led.anomaly("put answered %r" % line)
                            raise ConnectionError
                        with led.lock:
                            led.acked[int(m.group(1))] = body
            except (OSError, AssertionError, ConnectionError):
                pass  # the server was killed: replies not read are unknown
            finally:
                c.close()

    def consumer(self, k):
        led = self.ledger
        while not self.stop_flag.is_set():
            c = self.connect()
            if c is None:
                return
            try:
                c.cmd("watch %s" % CONSUMED_TUBE)
                c.cmd("ignore default")
                while not self.stop_flag.is_set():
                    c.send(b"reserve-with-timeout 1\r\n")
                    line = c.read_line()
                    if line == b"TIMED_OUT\r\n":
                        continue
                    m = re.fullmatch(rb"RESERVED (\d+) (\d+)\r\n", line)
                    if not m:
                        led.anomaly("reserve answered %r" % line)
                        raise ConnectionError
                    job_id = int(m.group(1))
                    body = c.read_exact(int(m.group(2)) + 2)[:-2]
                    if check_body(body) is None:
                        led.anomaly("job %d reserved with a bad body %r" % (job_id, body[:80]))
                    with led.lock:
                        led.delete_sent.add(job_id)
                    line = c.cmd("delete %d" % job_id)
                    if line != b"DELETED\r\n":
                        led.anomaly("delete %d answered %r" % (job_id, line))
                        raise ConnectionError
                    with led.lock:
                        led.deleted.add(job_id)
            except (OSError, AssertionError, ConnectionError):
                pass
            finally:
                c.close()

    # ---------------------------------------------------------- the test

    def drain(self):
        """{id: body} of every job left, by reserve-with-timeout 0 on every tube."""
        with sqharness.Client(self.port) as c:
            c.send(b"stats\r\n")
            st = dict(sqharness.parse_yaml(c.read_yaml_reply()))
            self.assertEqual((st["current-jobs-delayed"], st["current-jobs-buried"],
                              st["current-jobs-reserved"]), ("0", "0", "0"))
            total = int(st["current-jobs-ready"])
            c.send(b"list-tubes\r\n")
            for tube in sqharness.parse_yaml(c.read_yaml_reply()):
                c.cmd("watch %s" % tube)
            left = {}
            while True:
                c.send(b"reserve-with-timeout 0\r\n")
                line = c.read_line()
                if line == b"TIMED_OUT\r\n":
                    break
                m = re.fullmatch(rb"RESERVED (\d+) (\d+)\r\n", line)
                self.assertIsNotNone(m, line)
                job_id = int(m.group(1))
                self.assertNotIn(job_id, left, "job %d reserved twice" % job_id)
                left[job_id] = c.read_exact(int(m.group(2)) + 2)[:-2]
            self.assertEqual(len(left), total, "stats count vs jobs drained")
            return left

    def test_kill9_under_load_keeps_every_acknowledged_job(self):
        seconds = float(os.environ.get("SQ_KILL9_SECONDS", "12"))
        rnd = random.Random(os.environ.get("SQ_KILL9_SEED", str(time.time_ns())))
        self.start_server()
        threads = [threading.Thread(target=self.producer, args=(k,)) for k in range(PRODUCERS)]
        threads += [threading.Thread(target=self.consumer, args=(k,)) for k in range(CONSUMERS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                time.sleep(rnd.uniform(0.05, 0.8))
                self.srv.proc.kill()
                self.srv.proc.wait(5)
                self.srv.stop()
                self.ledger.kills += 1
                self.start_server()
        finally:
            self.stop_flag.set()
            for t in threads:
                t.join(10)
        self.assertFalse(any(t.is_alive() for t in threads), "a worker thread hangs")
        # One last kill with nothing running, then the final restart.
        self.srv.proc.kill()
        self.srv.proc.wait(5)
        self.srv.stop()
        self.start_server()
        left = self.drain()

        led = self.ledger
        by_body = {body: seq for seq, body in led.sent.items()}
        lost = sorted(i for i in led.acked if i not in led.delete_sent and i not in left)
        resurrected = sorted(i for i in led.deleted if i in left)
        bad = sorted(i for i, b in left.items() if check_body(b) is None)
        wrong = sorted(i for i, b in left.items() if i in led.acked and led.acked[i] != b)
        unknown = sorted(i for i, b in left.items() if b not in by_body)
        seqs = [by_body.get(b) for b in left.values()]
        dups = len(seqs) - len(set(seqs))
        unacked_present = sum(1 for i in left if i not in led.acked)
        print("\nkill9: %d kills, %d puts sent, %d INSERTED, %d DELETED, %d jobs left "
              "(%d of them unacknowledged puts); lost %d, resurrected %d, bad %d, wrong %d, "
              "unknown %d, duplicates %d"
              % (led.kills, len(led.sent), len(led.acked), len(led.deleted), len(left),
                 unacked_present, len(lost), len(resurrected), len(bad), len(wrong),
                 len(unknown), dups), file=sys.stderr)
        self.assertEqual(led.anomalies, [])
        self.assertGreater(led.kills, 0)
        self.assertGreater(len(led.acked), 0, "no put was ever acknowledged")
        self.assertGreater(len(led.deleted), 0, "no delete was ever acknowledged")
        self.assertEqual(lost, [], "acknowledged jobs lost")
        self.assertEqual(resurrected, [], "deleted jobs came back")
        self.assertEqual(bad, [], "bodies that do not verify")
        self.assertEqual(wrong, [], "ids holding another job's body")
        self.assertEqual(unknown, [], "jobs no producer sent")
        self.assertEqual(dups, 0, "a job present twice")


if __name__ == "__main__":
    sqharness.main()
