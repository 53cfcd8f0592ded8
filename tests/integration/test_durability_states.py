"""Durability: job STATE (not only existence) survives kill -9, checked against a model.

Model: synqd runs with `-b DIR -f 0` (every change on disk before its reply),
once with one segment big enough for the whole run (nothing is compacted, so
reserves can be checked exactly) and once with `-s 65536`, so that segments
fill and compaction re-appends live jobs while the test runs.  Worker threads,
each on its own connection, run random commands on their OWN jobs across three
tubes: put (random pri, delay 0 or 3600, ttr 3600), reserve-job, release (new
pri, delay 0 or 3600), bury (new pri), kick-job, touch, delete, and now and
then a stats-job compared live.  Every acknowledged reply updates the model of
that job.  The main thread kill -9s synqd 2-4 times at random moments and
restarts it on the same directory; the workers reconnect, re-check every job
they own, and carry on.  After a last kill and restart every id the server
ever handed out is peeked and stats-job'd, and each job must equal its model:
tube, state, pri, delay, releases, buries, kicks, timeouts (0: ttr is an
hour), reserves (see below), body, and a delayed job's time-left.  stats and
stats-tube current-jobs-{ready,delayed,buried,reserved} must equal what was
found.

What the server promises (persist.c, wal.h), and so all that is asserted:
- put, release, bury, kick, delete and a reserve-job of a buried or delayed
  job are journalled with the job's state, pri, delay and counters before the
  reply (a reserved job is logged as ready); reserve, reserve-job of a ready
  job and touch are not.  So a job reserved at the kill comes back ready
  (beanstalkd's binlog, which logs no reserve-job, brings one that reserve-job
  took from buried or delayed back buried or delayed).
- reserves is as of the job's last record: without compaction exactly the
  count at the last journalled command; with compaction anything from that up
  to the count at the kill (a copy may have logged a later value).
- A command whose reply was lost to the kill may have happened or not: the
  job then has two candidate versions (for a put: an unknown id, looked for
  by body at the end).  After a restart the worker resolves a job to the one
  candidate the server shows, and an id the server reuses for a new job
  proves the old one gone.  No candidate matching is a failure.

Failures name the seed (SQ_STATES_SEED to replay the same choices; thread
timing still varies) and print the job's history of commands and replies.
Runtime: SQ_STATES_SECONDS of load per variant (default 6; two variants).
synqd only (beanstalkd's binlog is not what is being tested).
"""

import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402

WORKERS = 4
TUBES = ("st-a", "st-b", "st-c")
SCRATCH_TUBE = "st-scratch"
TTR_S = 3600
LONG_DELAY_S = 3600
PRI_CHOICES = (0, 1, 1023, 1024, 65535, 2 ** 31, 2 ** 32 - 1)
TARGET_JOBS = 25  # per worker: puts and deletes balance around this


class Lost(Exception):
    """The connection died (the server was killed): the reply is unknown."""


class Unexpected(Exception):
    """A reply a correct server never gives; already recorded as an anomaly."""


class Cand:
    """One version of a job the server may hold.

    `states` is a set because a restart can leave a job reserved from
    buried in either of two states (see the module comment).  `logged` is
    the state in the job's last record when it is known.  `res` is the range
    the server's in-memory reserves count may have; `rec` the range of the
    count in the job's last record."""

    __slots__ = ("states", "logged", "pri", "delay", "releases", "buries", "kicks",
                 "res", "rec")

    def __init__(self, state, pri, delay):
        self.states = frozenset([state])
        self.logged = state
        self.pri = pri
        self.delay = delay
        self.releases = self.buries = self.kicks = 0
        self.res = (0, 0)
        self.rec = (0, 0)

    def copy(self):
        c = Cand.__new__(Cand)
        for k in Cand.__slots__:
            setattr(c, k, getattr(self, k))
        return c

    def state(self):
        (s,) = self.states
        return s

    def logged_change(self, state):
        """A journalled command took the job to `state`: the record is fresh."""
        self.states = frozenset([state])
        self.logged = state
        self.rec = self.res

    def __repr__(self):
        return ("Cand(states=%s logged=%s pri=%d delay=%d releases=%d buries=%d kicks=%d "
                "reserves=%r rec=%r)" % (sorted(self.states), self.logged, self.pri, self.delay,
                                         self.releases, self.buries, self.kicks, self.res,
                                         self.rec))


def after_restart(c, compacting):
    """What a candidate becomes across a kill -9 and recovery (idempotent)."""
    if c is None:
        return None
    n = c.copy()
    states = set()
    for s in c.states:
        if s == "reserved":
            states.add(c.logged)
            if compacting:
                states.add("ready")
        else:
            states.add(s)
    n.states = frozenset(states)
    n.logged = next(iter(states)) if len(states) == 1 else None
    n.res = (c.rec[0], c.res[1]) if compacting else c.rec
    n.rec = n.res
    return n


def mismatch(c, job, st):
    """Why stats-job `st` (a dict) is not candidate `c` of `job`, or None."""
    want = [("id", str(job.id)), ("tube", job.tube), ("pri", str(c.pri)),
            ("delay", str(c.delay)), ("ttr", str(TTR_S)), ("timeouts", "0"),
            ("releases", str(c.releases)), ("buries", str(c.buries)), ("kicks", str(c.kicks))]
    bad = ["%s %r != %r" % (k, st.get(k), v) for k, v in want if st.get(k) != v]
    if st.get("state") not in c.states:
        bad.append("state %r not in %s" % (st.get("state"), sorted(c.states)))
    try:
        reserves = int(st.get("reserves", "x"))
    except ValueError:
        reserves = -1
    if not c.res[0] <= reserves <= c.res[1]:
        bad.append("reserves %r not in %r" % (st.get("reserves"), c.res))
    return "; ".join(bad) or None


class JobModel:
    """Everything the clients know about one job: its candidates (None: the
    job does not exist) and the history of what was sent and received."""

    __slots__ = ("id", "tube", "body", "cands", "history")

    def __init__(self, job_id, tube, body, cand, note):
        self.id = job_id
        self.tube = tube
        self.body = body
        self.cands = [cand]
        self.history = [note]

    def certain(self):
        """The one live candidate in one known state, or None."""
        if len(self.cands) == 1 and self.cands[0] is not None and len(self.cands[0].states) == 1:
            return self.cands[0]
        return None

    def describe(self):
        return ("job %d (tube %s, body %r...): candidates %r\n    history: %s"
                % (self.id, self.tube, self.body[:24], self.cands, " | ".join(self.history)))


class Run:
    """One run of the test on one directory: the server, the shared model and
    the worker threads."""

    def __init__(self, test, seed, extra_args, compacting):
        self.test = test
        self.seed = seed
        self.extra_args = list(extra_args)
        self.compacting = compacting
        self.dir = tempfile.mkdtemp(prefix="synq-states-")
        self.srv = None
        self.port = None
        self.lock = threading.Lock()
        self.models = {}     # id -> JobModel (the newest job given that id)
        self.pending = {}    # body -> (tube, pri, delay): puts sent, reply not (yet) seen
        self.anomalies = []
        self.ops = {}        # acknowledged commands by name
        self.kills = 0
        self.id_reuses = 0
        self.resolved = 0    # uncertain jobs resolved after a restart
        self.stop_flag = threading.Event()
        self.leftover = []   # workers' last connections, closed after the final kill
        self.t0 = time.monotonic()

    # ---------------------------------------------------------- server

    def start(self):
        self.srv = sqharness.Server("synqd", ["-b", self.dir, "-f", "0"] + self.extra_args).start()
        self.port = self.srv.port

    def kill(self):
        """kill -9 the server; it must have been running (a crash of its own
        would otherwise pass for one of the test's kills)."""
        status = self.srv.proc.poll()
        if status is not None:
            with self.lock:
                self.anomalies.append("[seed %s] synqd exited by itself (status %r); output:\n%s"
                                      % (self.seed, status, self.srv.log_text()))
        self.srv.proc.kill()
        self.srv.proc.wait(5)
        self.srv.stop()
        self.kills += 1

    def close(self):
        died = self.srv.stop() if self.srv is not None else None
        for c in self.leftover:
            c.close()
        shutil.rmtree(self.dir, True)
        if died is not None:
            self.test.fail("synqd exited by itself (status %r) during the final check; "
                           "output:\n%s" % (died, self.srv.log_text()))

    # ---------------------------------------------------------- bookkeeping

    def anomaly(self, text):
        with self.lock:
            self.anomalies.append("[seed %s] %s" % (self.seed, text))
        raise Unexpected(text)

    def count(self, op):
        with self.lock:
            self.ops[op] = self.ops.get(op, 0) + 1

    def connect(self):
        while not self.stop_flag.is_set():
            try:
                return sqharness.Client(self.port, timeout=5)
            except OSError:
                time.sleep(0.02)
        return None

    @staticmethod
    def call(c, line):
        """Send a command line and return the reply line; Lost if the server died."""
        try:
            return c.cmd(line)
        except OSError:
            raise Lost from None
        except sqharness.ProtocolError as e:
            if "timed out" in str(e):
                raise  # a hang is a failure, not a kill
            raise Lost from None

    @staticmethod
    def read_body(c, n):
        try:
            data = c.read_exact(n + 2)
        except OSError:
            raise Lost from None
        except sqharness.ProtocolError as e:
            if "timed out" in str(e):
                raise
            raise Lost from None
        return data[:-2]

    def stats_job(self, c, job_id):
        line = self.call(c, "stats-job %d" % job_id)
        if line == b"NOT_FOUND\r\n":
            return None
        m = re.fullmatch(rb"OK (\d+)\r\n", line)
        if not m:
            self.anomaly("stats-job %d answered %r" % (job_id, line))
        return dict(sqharness.parse_yaml(self.read_body(c, int(m.group(1)))))

    def peek(self, c, job_id):
        line = self.call(c, "peek %d" % job_id)
        if line == b"NOT_FOUND\r\n":
            return None
        m = re.fullmatch(rb"FOUND (\d+) (\d+)\r\n", line)
        if not m or int(m.group(1)) != job_id:
            self.anomaly("peek %d answered %r" % (job_id, line))
        return self.read_body(c, int(m.group(2)))

    # ---------------------------------------------------------- workers

    def resync(self, c, mine, k):
        """After a restart: every job the worker owns must be one of its
        candidates; the server's answer picks which."""
        for job in list(mine):
            body = self.peek(c, job.id)
            if body != job.body:
                # Gone, or its id was reused for another job after the restart.
                if None not in job.cands:
                    self.anomaly("worker %d after restart: job %d is gone (peek %r)\n  %s"
                                 % (k, job.id, body and body[:24], job.describe()))
                if len(job.cands) > 1:
                    self.resolved += 1
                job.cands = [None]
                job.history.append("restart: gone")
                mine.remove(job)
                continue
            st = self.stats_job(c, job.id)
            if st is None:
                self.anomaly("worker %d: job %d peeked but stats-job NOT_FOUND" % (k, job.id))
            fits = [x for x in job.cands if x is not None and mismatch(x, job, st) is None]
            if not fits:
                self.anomaly("worker %d after restart: job %d is %r, no candidate fits: %s\n  %s"
                             % (k, job.id, st, [mismatch(x, job, st) if x else "gone"
                                                for x in job.cands], job.describe()))
            if len(job.cands) > 1 or len(job.cands[0].states) > 1:
                self.resolved += 1
            n = fits[0].copy()
            n.logged_change(st["state"])
            n.res = n.rec = (int(st["reserves"]),) * 2
            job.cands = [n]
            job.history.append("restart: %s" % st["state"])

    def worker(self, k):
        """Random commands on the worker's own jobs until stopped.  The first
        anomaly ends the worker (the test fails anyway, and a wrong server
        would otherwise report the same job on every reconnect)."""
        rnd = random.Random("%s-%d" % (self.seed, k))
        mine = []
        serial = 0
        c = None
        try:
            while not self.stop_flag.is_set():
                if c is None:
                    c = self.connect()
                    if c is None:
                        break
                    try:
                        self.resync(c, mine, k)
                    except Lost:
                        c.close()
                        c = None
                        self.restarted(mine)
                        continue
                serial += 1
                try:
                    self.one_op(c, rnd, mine, k, serial)
                except Lost:
                    c.close()
                    c = None
                    self.restarted(mine)
        except Unexpected:
            pass
        except Exception as e:  # a hang (read timeout) or a bug in the test: fail clearly
            with self.lock:
                self.anomalies.append("[seed %s] worker %d: %r" % (self.seed, k, e))
        if c is not None:
            with self.lock:
                self.leftover.append(c)

    def restarted(self, mine):
        for job in mine:
            job.cands = [after_restart(x, self.compacting) for x in job.cands]

    def one_op(self, c, rnd, mine, k, serial):
        live = [j for j in mine if j.certain()]
        want_put = len(live) < 3 or rnd.random() < (0.25 if len(mine) < TARGET_JOBS else 0.08)
        if want_put:
            return self.op_put(c, rnd, mine, k, serial)
        job = rnd.choice(live)
        cand = job.certain()
        state = cand.state()
        r = rnd.random()
        if r < 0.05:
            return self.op_check(c, job, k)
        delete_p = 0.1 if len(mine) < TARGET_JOBS else 0.3
        if r < 0.05 + delete_p:
            return self.op_delete(c, job, mine)
        if state == "reserved":
            r = rnd.random()
            if r < 0.45:
                return self.op_release(c, rnd, job)
            if r < 0.8:
                return self.op_bury(c, rnd, job)
            return self.op_touch(c, job)
        if state in ("buried", "delayed") and rnd.random() < 0.4:
            return self.op_kick(c, job)
        return self.op_reserve(c, job)

    def apply(self, c, job, line, want, after, note):
        """Send `line`; on `want` the job becomes `after`; a lost reply
        leaves both versions possible."""
        before = job.cands[0]
        try:
            got = self.call(c, line)
        except Lost:
            job.cands = [before, after]
            job.history.append("%s -> (lost)" % note)
            raise
        if got != want:
            job.history.append("%s -> %r" % (note, got))
            self.anomaly("%s answered %r, expected %r\n  %s" % (line, got, want, job.describe()))
        job.cands = [after]
        job.history.append(note)
        self.count(line.split()[0])

    def op_put(self, c, rnd, mine, k, serial):
        tube = rnd.choice(TUBES)
        pri = rnd.choice(PRI_CHOICES + (rnd.randrange(2 ** 32),))
        delay = rnd.choice((0, LONG_DELAY_S))
        body = b"w%d-%d-%s:" % (k, serial, str(self.seed).encode()[-8:]) + rnd.randbytes(
            rnd.randrange(0, 400))
        if self.call(c, "use %s" % tube) != b"USING %s\r\n" % tube.encode():
            self.anomaly("use %s failed" % tube)
        with self.lock:
            self.pending[body] = (tube, pri, delay)
        try:
            c.send(b"put %d %d %d %d\r\n%s\r\n" % (pri, delay, TTR_S, len(body), body))
        except OSError:
            raise Lost from None
        try:
            line = c.read_line()
        except OSError:
            raise Lost from None
        except sqharness.ProtocolError as e:
            if "timed out" in str(e):
                raise
            raise Lost from None  # the put may or may not be in the log: `pending` keeps it
        m = re.fullmatch(rb"INSERTED (\d+)\r\n", line)
        if not m:
            self.anomaly("put answered %r" % line)
        job_id = int(m.group(1))
        cand = Cand("delayed" if delay else "ready", pri, delay)
        job = JobModel(job_id, tube, body, cand, "put pri=%d delay=%d tube=%s" % (pri, delay, tube))
        with self.lock:
            del self.pending[body]
            old = self.models.get(job_id)
            if old is not None and old.cands != [None]:
                if None not in old.cands:
                    self.anomalies.append("[seed %s] put got id %d, which a live job has\n  %s"
                                          % (self.seed, job_id, old.describe()))
                old.cands = [None]
                old.history.append("id reused by a put")
            if old is not None:
                self.id_reuses += 1
            self.models[job_id] = job
            self.ops["put"] = self.ops.get("put", 0) + 1
        mine.append(job)

    def op_check(self, c, job, k):
        st = self.stats_job(c, job.id)
        cand = job.certain()
        why = "not found" if st is None else mismatch(cand, job, st)
        if why:
            self.anomaly("worker %d live stats-job %d: %s\n  %s" % (k, job.id, why,
                                                                   job.describe()))
        n = cand.copy()
        n.res = (int(st["reserves"]),) * 2
        job.cands = [n]
        self.count("stats-job")

    def op_delete(self, c, job, mine):
        self.apply(c, job, "delete %d" % job.id, b"DELETED\r\n", None, "delete")
        mine.remove(job)

    def op_release(self, c, rnd, job):
        pri = rnd.choice(PRI_CHOICES + (rnd.randrange(2 ** 32),))
        delay = rnd.choice((0, LONG_DELAY_S))
        n = job.certain().copy()
        n.pri, n.delay = pri, delay
        n.releases += 1
        n.logged_change("delayed" if delay else "ready")
        self.apply(c, job, "release %d %d %d" % (job.id, pri, delay), b"RELEASED\r\n", n,
                   "release pri=%d delay=%d" % (pri, delay))

    def op_bury(self, c, rnd, job):
        pri = rnd.choice(PRI_CHOICES + (rnd.randrange(2 ** 32),))
        n = job.certain().copy()
        n.pri = pri
        n.buries += 1
        n.logged_change("buried")
        self.apply(c, job, "bury %d %d" % (job.id, pri), b"BURIED\r\n", n, "bury pri=%d" % pri)

    def op_touch(self, c, job):
        self.apply(c, job, "touch %d" % job.id, b"TOUCHED\r\n", job.certain().copy(), "touch")

    def op_kick(self, c, job):
        n = job.certain().copy()
        n.kicks += 1
        n.logged_change("ready")
        self.apply(c, job, "kick-job %d" % job.id, b"KICKED\r\n", n,
                   "kick-job from %s" % job.certain().state())

    def op_reserve(self, c, job):
        before = job.certain()
        n = before.copy()
        n.res = (n.res[0] + 1, n.res[1] + 1)
        if before.state() in ("buried", "delayed"):
            n.logged_change("ready")  # leaving buried or delayed is journalled
        n.states = frozenset(["reserved"])  # from ready not journalled: `logged` stays
        note = "reserve-job from %s" % before.state()
        try:
            line = self.call(c, "reserve-job %d" % job.id)
            m = re.fullmatch(rb"RESERVED (\d+) (\d+)\r\n", line)
            if not m or int(m.group(1)) != job.id:
                job.history.append("%s -> %r" % (note, line))
                self.anomaly("reserve-job %d answered %r\n  %s" % (job.id, line, job.describe()))
            body = self.read_body(c, int(m.group(2)))
        except Lost:
            job.cands = [before, n]
            job.history.append("%s -> (lost)" % note)
            raise
        job.cands = [n]
        job.history.append(note)
        if body != job.body:
            self.anomaly("reserve-job %d returned body %r\n  %s" % (job.id, body[:40],
                                                                   job.describe()))
        self.count("reserve-job")

    # ---------------------------------------------------------- the final check

    def final_check(self):
        """Every id the server handed out, peeked and stats-job'd after the
        last restart, against the model; then the stats counts."""
        t = self.test
        with sqharness.Client(self.port) as c:
            t.assertEqual(c.cmd("use %s" % SCRATCH_TUBE), b"USING %s\r\n" % SCRATCH_TUBE.encode())
            c.send(b"put 0 0 1 1\r\nx\r\n")
            m = re.fullmatch(rb"INSERTED (\d+)\r\n", c.read_line())
            t.assertIsNotNone(m, "scratch put")
            top = int(m.group(1))
            t.assertEqual(c.cmd("delete %d" % top), b"DELETED\r\n")
            found = {}  # id -> (body, stats-job dict)
            for job_id in range(1, top):
                body = self.peek(c, job_id)
                if body is not None:
                    st = self.stats_job(c, job_id)
                    t.assertIsNotNone(st, "job %d peeked but stats-job NOT_FOUND" % job_id)
                    found[job_id] = (body, st)
            c.send(b"stats\r\n")
            stats = dict(sqharness.parse_yaml(c.read_yaml_reply()))
            tube_stats = {}
            for tube in TUBES:
                line = c.cmd("stats-tube %s" % tube)
                if line == b"NOT_FOUND\r\n":
                    tube_stats[tube] = {}
                    continue
                m = re.fullmatch(rb"OK (\d+)\r\n", line)
                t.assertIsNotNone(m, line)
                tube_stats[tube] = dict(sqharness.parse_yaml(self.read_body(c, int(m.group(1)))))

        problems = []
        matched = set()
        for job_id, job in self.models.items():
            got = found.get(job_id)
            if got is None or got[0] != job.body:
                if None not in job.cands:
                    problems.append("lost: %s" % job.describe())
                continue
            st = got[1]
            fits = [x for x in job.cands if x is not None and mismatch(x, job, st) is None]
            if not fits:
                problems.append("wrong state: server has %r; %s\n  %s"
                                % (st, [mismatch(x, job, st) if x else "gone"
                                        for x in job.cands], job.describe()))
            matched.add(job_id)
        orphans_seen = set()
        for job_id, (body, st) in found.items():
            if job_id in matched:
                continue
            put = self.pending.get(body)
            if put is None or body in orphans_seen:
                problems.append("job %d (body %r, %r) is no job the model knows"
                                % (job_id, body[:24], st))
                continue
            orphans_seen.add(body)
            tube, pri, delay = put
            cand = Cand("delayed" if delay else "ready", pri, delay)
            why = mismatch(cand, JobModel(job_id, tube, body, cand, "unacknowledged put"), st)
            if why:
                problems.append("job %d of an unacknowledged put: %s" % (job_id, why))
        now = time.monotonic()
        for job_id, (body, st) in found.items():
            if st.get("state") == "delayed":
                left = int(st["time-left"])
                if not LONG_DELAY_S - (now - self.t0) - 5 <= left <= LONG_DELAY_S:
                    problems.append("job %d delayed with time-left %d" % (job_id, left))

        counts = {}
        for body, st in found.values():
            for key in (st["tube"], "*"):
                counts[(key, st["state"])] = counts.get((key, st["state"]), 0) + 1
        for state in ("ready", "delayed", "buried", "reserved"):
            field = "current-jobs-%s" % state
            want = counts.get(("*", state), 0)
            if stats.get(field) != str(want):
                problems.append("stats %s = %r, jobs found %d" % (field, stats.get(field), want))
            for tube in TUBES:
                want = counts.get((tube, state), 0)
                got = tube_stats[tube].get(field, "0")
                if got != str(want):
                    problems.append("stats-tube %s %s = %r, jobs found %d"
                                    % (tube, field, got, want))
        return found, problems

    # ---------------------------------------------------------- driver

    def run(self, seconds):
        rnd = random.Random("%s-main" % self.seed)
        self.start()
        threads = [threading.Thread(target=self.worker, args=(k,)) for k in range(WORKERS)]
        for th in threads:
            th.start()
        n_kills = sum(rnd.randint(2, 4) for _ in range(max(1, round(seconds / 6))))
        kill_at = sorted(rnd.uniform(0.1, 0.95) * seconds for _ in range(n_kills))
        t_start = time.monotonic()
        try:
            for at in kill_at:
                time.sleep(max(0.0, t_start + at - time.monotonic()))
                self.kill()
                self.start()
            time.sleep(max(0.0, t_start + seconds - time.monotonic()))
        finally:
            self.stop_flag.set()
            for th in threads:
                th.join(15)
        self.test.assertFalse(any(th.is_alive() for th in threads), "a worker thread hangs")
        # The workers' connections stay open through this last kill, so their
        # reserved jobs are never released by a disconnect: recovery decides.
        self.kill()
        self.start()
        for job in self.models.values():
            job.cands = [after_restart(x, self.compacting) for x in job.cands]
        return self.final_check()


class DurabilityStatesTest(unittest.TestCase):
    maxDiff = None

    def check(self, extra_args, compacting):
        seed = os.environ.get("SQ_STATES_SEED", str(time.time_ns()))
        seconds = float(os.environ.get("SQ_STATES_SECONDS", "6"))
        run = Run(self, seed, extra_args, compacting)
        self.addCleanup(run.close)
        found, problems = run.run(seconds)
        segments = sorted(f for f in os.listdir(run.dir) if f.startswith("wal."))
        states = {}
        for body, st in found.values():
            states[st["state"]] = states.get(st["state"], 0) + 1
        uncertain = sum(1 for j in run.models.values() if len(j.cands) > 1)
        print("\nstates%s seed %s: %d kills, commands %s; %d jobs left %s; %d id reuses, "
              "%d jobs resolved after a restart, %d still two-way at the end; %d unacknowledged "
              "puts; segments %s"
              % (extra_args, seed, run.kills, dict(sorted(run.ops.items())), len(found),
                 dict(sorted(states.items())), run.id_reuses, run.resolved, uncertain,
                 len(run.pending), segments[:1] + ["..."] + segments[-1:] if len(segments) > 2
                 else segments), file=sys.stderr)
        self.assertEqual(run.anomalies[:5], [], "seed %s (first 5 of %d)"
                         % (seed, len(run.anomalies)))
        self.assertEqual(problems[:10], [], "seed %s (first 10 of %d)" % (seed, len(problems)))
        self.assertGreaterEqual(run.kills, 3)  # 2+ at random moments, plus the final one
        for op in ("put", "reserve-job", "release", "bury", "kick-job", "touch", "delete"):
            self.assertGreater(run.ops.get(op, 0), 0, "no %s was acknowledged" % op)
        self.assertGreater(len(found), 0, "no job left to compare")
        return segments

    def test_states_survive_kill9(self):
        # One segment for the whole run, so nothing is ever compacted: the load
        # writes about 1 MB of log a second here; 4 MB a second leaves room.
        seconds = float(os.environ.get("SQ_STATES_SECONDS", "6"))
        seg_bytes = min(1 << 30, max(64 << 20, int(seconds * (4 << 20))))
        segments = self.check(["-s", str(seg_bytes)], False)
        self.assertEqual(len(segments), 1, "the log outgrew one segment, so compaction may "
                         "have run: the exact reserves check assumes it did not")

    def test_states_survive_kill9_with_compaction(self):
        segments = self.check(["-s", "65536", "-z", "65000"], True)
        # Compaction removes the oldest segments: the first one left is not wal.1.
        self.assertNotEqual(segments[0], "wal.0000000000000001", "compaction never ran")


if __name__ == "__main__":
    sqharness.main()
