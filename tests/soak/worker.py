"""One soak worker: two connections, its own tubes, every command, checked against its model.

The worker runs one command at a time (so the model knows the order the server
saw them in) on one of its two connections, picked at random, so jobs reserved
by "another connection" exist. Tubes are named `s<k>-<word>`: the worker
creates and abandons them (tube churn); no other worker touches them, and a
fresh connection leaves `default` before it reserves anything.

A connection error is expected only while the driver kills synqd: then the
command in flight has an unknown outcome (its job becomes UNKNOWN, a put's body
becomes a "ghost" that may exist), and after the restart `verify_restart`
checks every job the model holds, with its exact body, and that no job
acknowledged deleted came back (with -b), or that nothing survived (without)."""

import random
import re
import socket
import struct
import time

import sqharness
from model import (BURIED, DELAYED, EARLY_S, READY, RESERVED, STATS_LOG_FIELDS,
                   STATS_TUBE_FIELDS, TUBE_NAME_RE, UNKNOWN, Job, Pause, SoakFailure, check,
                   yaml_dict, yaml_list)

MAX_JOB_BYTES = 8192  # synqd runs with -z this
JOBS_CAP = 120  # per worker, so the workload level (and memory) stays the same
READ_TIMEOUT_S = 30.0


class ServerGone(Exception):
    """The connection broke; the driver decides whether that was our kill."""


class Conn:
    def __init__(self, worker, name):
        self.worker, self.name = worker, name
        self.client = None
        self.used, self.watched = "default", ["default"]

    def open(self, port):
        self.client = sqharness.Client(port, timeout=READ_TIMEOUT_S)
        self.used, self.watched = "default", ["default"]

    def close(self, reset=False):
        if self.client is not None:
            if reset:
                self.client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                            struct.pack("ii", 1, 0))
            self.client.close()
            self.client = None


class Worker:
    def __init__(self, k, driver, seed):
        self.k, self.driver = k, driver
        self.rnd = random.Random(seed)
        self.jobs = {}  # id -> Job, every job the model says exists
        self.deleted_now = []  # ids acknowledged deleted since the last restart
        self.deleted_old = []  # ... before it (sampled after later restarts)
        self.ghosts = []  # (body, tube, id floor) of puts whose reply a kill took
        self.pauses = {}  # tube -> Pause
        self.inflight = None  # (job ids, ghost) of the command being run
        self.seq = 0
        self.bury_seq = 0
        self.max_id = 0
        self.ops = {}  # command -> count, for the summary
        self.tubes = ["s%d-home" % k]
        self.conns = [Conn(self, "w%d.a" % k), Conn(self, "w%d.b" % k)]
        self.history = []  # the last commands, for a failure report

    # ------------------------------------------------------------ plumbing

    def count(self, name):
        self.ops[name] = self.ops.get(name, 0) + 1

    def note(self, conn, text):
        self.history.append("%.3f %s %s" % (time.monotonic(), conn.name, text))
        del self.history[:-40]

    def fail(self, what, *context):
        raise SoakFailure("worker %d: %s" % (self.k, what)
                          + "".join("\n    " + str(c) for c in context))

    def io(self, conn, fn, *args):
        try:
            return fn(*args)
        except (OSError, sqharness.ProtocolError) as e:
            raise ServerGone("%s: %s" % (conn.name, e)) from None

    def cmd(self, conn, line, body=None):
        """Send a command (and body), return (reply line, ts, tr)."""
        data = line.encode() + b"\r\n"
        if body is not None:
            data += body + b"\r\n"
        self.note(conn, line)
        ts = time.monotonic()
        self.io(conn, conn.client.send, data)
        reply = self.io(conn, conn.client.read_line)
        tr = time.monotonic()
        self.note(conn, "-> %r" % reply[:80])
        self.count(line.split(" ", 1)[0])
        return reply, ts, tr

    def read_body(self, conn, reply):
        n = int(reply.split()[-1])
        data = self.io(conn, conn.client.read_exact, n + 2)
        check(data[-2:] == b"\r\n", "body not followed by CRLF: %r" % data[-10:])
        return data[:-2]

    def expect_match(self, m, line, reply):
        if m is None:
            self.fail("%r answered %r" % (line, reply))

    def expect(self, got, allowed, line, *context):
        if got not in allowed:
            self.fail("%r answered %r, the model allows only %r" % (line, got, sorted(allowed)),
                      *context)

    def settle(self, ts):
        for j in self.jobs.values():
            j.settle(ts)

    def tube_must_exist(self, tube):
        return (any(tube == c.used or tube in c.watched for c in self.conns if c.client)
                or any(j.tube == tube for j in self.jobs.values()))

    def new_tube(self):
        name = "s%d-%s" % (self.k, "".join(self.rnd.choice("abcdefghijklmnop()$;+/._0123")
                                           for _ in range(self.rnd.randrange(1, 12))))
        self.tubes.append(name)
        if len(self.tubes) > 8:  # a tube nobody uses any more vanishes once its jobs are gone
            self.tubes.pop(1 + self.rnd.randrange(len(self.tubes) - 1))
        return name

    def pick_tube(self):
        return self.new_tube() if self.rnd.random() < 0.05 else self.rnd.choice(self.tubes)

    def pick_job(self, pred=None):
        ids = [i for i, j in self.jobs.items() if pred is None or pred(j)]
        return self.jobs[self.rnd.choice(ids)] if ids else None

    def touching_tube(self, conn, tube, ts):
        """A use/watch may recreate a tube that vanished, unpaused: its pause becomes unsure."""
        p = self.pauses.get(tube)
        if p is not None and not self.tube_must_exist(tube):
            p.lo = min(p.lo, ts)

    # ------------------------------------------------------------ connections

    def connect(self, conn, port):
        try:
            conn.open(port)
        except OSError as e:
            raise ServerGone("%s: connect: %s" % (conn.name, e)) from None
        home = self.tubes[0]
        for line, want in (("watch %s" % home, b"WATCHING 2\r\n"),
                           ("ignore default", b"WATCHING 1\r\n"),
                           ("use %s" % home, b"USING %s\r\n" % home.encode())):
            reply, ts, _ = self.cmd(conn, line)
            self.expect(reply, {want}, line)
        conn.used, conn.watched = home, [home]

    def drop_conn(self, conn, how):
        """quit, FIN or RST: the server releases what conn reserved, soon."""
        now = time.monotonic()
        if how == "quit":
            self.io(conn, conn.client.send, b"quit\r\n")
            self.io(conn, conn.client.expect_closed)
            self.count("quit")
        else:
            self.count("disconnect-" + how)
        conn.close(reset=(how == "rst"))
        for j in self.jobs.values():
            if j.state == RESERVED and j.owner is conn:
                j.due_lo, j.due_hi = min(j.due_lo, now), min(j.due_hi, time.monotonic())
                j.owner = None  # held by a closed connection: nobody's
        self.note(conn, "dropped (%s)" % how)

    def throwaway(self, port):
        """A connection that dies in the middle of a command line or of a put's body."""
        s = sqharness.connect("127.0.0.1", port, 5)
        try:
            choice = self.rnd.randrange(4)
            if choice == 0:
                s.sendall(b"stats-tu")
            elif choice == 1:
                s.sendall(b"put 0 0 10 100\r\n" + b"x" * self.rnd.randrange(100))
            elif choice == 2:
                s.sendall(b"use %s\r\nput 5 0 10 3000\r\n" % self.tubes[0].encode()
                          + b"y" * self.rnd.randrange(2000))
            else:
                s.sendall(b"reserve-with-timeout 5\r\n")
            if self.rnd.random() < 0.5:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.count("disconnect-mid-command")
        finally:
            s.close()

    # ------------------------------------------------------------ the loop

    def step(self, port):
        """Run one random operation; raises ServerGone or SoakFailure."""
        for c in self.conns:
            if c.client is None:
                self.connect(c, port)
        conn = self.rnd.choice(self.conns)
        ts = time.monotonic()
        self.settle(ts)
        r = self.rnd.random()
        full = len(self.jobs) >= JOBS_CAP
        ops = [(0.22 if not full else 0.04, self.op_put), (0.14, self.op_reserve),
               (0.12 if not full else 0.40, self.op_delete), (0.05, self.op_release),
               (0.04, self.op_bury), (0.03, self.op_kick), (0.03, self.op_kick_job),
               (0.04, self.op_touch), (0.04, self.op_reserve_job), (0.06, self.op_peek),
               (0.05, self.op_stats), (0.05, self.op_tubes), (0.02, self.op_pause),
               (0.03, self.op_lists), (0.01, self.op_bad), (0.01, self.op_drop),
               (0.01, self.op_throwaway)]
        total = sum(w for w, _ in ops)
        r *= total
        for w, fn in ops:
            r -= w
            if r <= 0:
                break
        fn(conn, port)

    # ------------------------------------------------------------ producers

    def make_body(self):
        self.seq += 1
        n = self.rnd.choice((0, 1, 10, 100, 1000, 3000, self.rnd.randrange(MAX_JOB_BYTES - 20)))
        return (b"s%d-%d:" % (self.k, self.seq) + self.rnd.randbytes(n))[:MAX_JOB_BYTES]

    def op_put(self, conn, port):
        if self.rnd.random() < 0.03:
            return self.op_put_refused(conn)
        body = self.make_body()
        pri = self.rnd.choice((0, 1, 100, 1024, 2 ** 31, 2 ** 32 - 1))
        delay = self.rnd.choice((0, 0, 0, 1, 2))
        ttr = self.rnd.choice((1, 1, 2, 60))
        line = "put %d %d %d %d" % (pri, delay, ttr, len(body))
        self.inflight = ([], (body, conn.used, self.max_id))
        reply, ts, tr = self.cmd(conn, line, body)
        m = re.fullmatch(rb"INSERTED (\d+)\r\n", reply)
        self.expect_match(m, line, reply)
        job_id = int(m.group(1))
        check(job_id > self.max_id, "put got id %d, not above %d seen before" % (job_id, self.max_id))
        self.max_id = job_id
        j = Job(job_id, body, conn.used, pri, ttr)
        if delay:
            j.set_timed(DELAYED, ts, tr, delay)
        self.jobs[job_id] = j
        self.inflight = None
        return job_id

    def op_put_refused(self, conn):
        if self.rnd.random() < 0.5:
            n = MAX_JOB_BYTES + 1 + self.rnd.randrange(100)
            line = "put 0 0 10 %d" % n
            reply, _, _ = self.cmd(conn, line, b"z" * n)
            self.expect(reply, {b"JOB_TOO_BIG\r\n"}, line)
        else:  # the body's last two bytes are not CRLF: nothing is stored
            self.note(conn, "put 0 0 10 3 + abcXY")
            self.io(conn, conn.client.send, b"put 0 0 10 3\r\nabcXY")
            reply = self.io(conn, conn.client.read_line)
            self.count("put")
            self.expect(reply, {b"EXPECTED_CRLF\r\n"}, "put with a bad body end")

    # ------------------------------------------------------------ consumers

    def available(self, conn, ts, tr, t_cert):
        """(jobs conn's reserve may get during [ts, tr], jobs it certainly could by t_cert)."""
        maybe, surely = [], []
        for j in self.jobs.values():
            if j.tube not in conn.watched or j.state in (BURIED, UNKNOWN):
                continue
            p = self.pauses.get(j.tube)
            if READY in j.possible(ts, tr) and (p is None or p.maybe_unpaused(tr)):
                maybe.append(j)
            if j.ready_by(t_cert) and (p is None or not p.maybe_paused(t_cert)):
                surely.append(j)
        return maybe, surely

    def deadline_soon_possible(self, conn, tr):
        return any(j.state == RESERVED and j.owner is conn and tr >= j.due_lo - 1 - EARLY_S
                   and RESERVED in j.possible(tr, tr) for j in self.jobs.values())

    def op_reserve(self, conn, port):
        ts = time.monotonic()
        _, surely_now = self.available(conn, ts, ts, ts)
        if surely_now and self.rnd.random() < 0.3:
            line, timeout = "reserve", 0
        else:
            timeout = self.rnd.choice((0, 0, 1))
            line = "reserve-with-timeout %d" % timeout
        reply, ts, tr = self.cmd(conn, line)
        maybe, surely = self.available(conn, ts, tr, ts)
        if reply.startswith(b"RESERVED "):
            job_id = int(reply.split()[1])
            body = self.read_body(conn, reply)
            j = self.jobs.get(job_id)
            if j is None:
                self.fail("%r gave job %d, which the model does not hold" % (line, job_id), reply)
            check(j in maybe, "%r gave %r, not available to %s (watching %s)"
                  % (line, j, conn.name, conn.watched), *self.history[-6:])
            check(body == j.body, "%r gave job %d with a different body" % (line, job_id))
            better = [o for o in surely if (o.pri, o.id) < (j.pri, j.id)]
            check(not better, "%r gave %r while %r was certainly ready" % (line, j, better[:1]))
            j.set_timed(RESERVED, ts, tr, j.ttr, conn)
            return
        _, surely_end = self.available(conn, ts, tr, ts + timeout)
        allowed = set()
        if not surely:
            if self.deadline_soon_possible(conn, tr):
                allowed.add(b"DEADLINE_SOON\r\n")
            if line != "reserve" and not surely_end:
                allowed.add(b"TIMED_OUT\r\n")
        self.expect(reply, allowed, line, "certainly available: %r" % surely_end[:2])

    def op_reserve_job(self, conn, port):
        j = self.pick_job()
        if j is None or self.rnd.random() < 0.1:
            return self.expect_not_found(conn, "reserve-job %d" % self.gone_id())
        line = "reserve-job %d" % j.id
        self.inflight = ([j.id], None)  # logged when it takes a buried or delayed job
        reply, ts, tr = self.cmd(conn, line)
        self.inflight = None
        states = j.possible(ts, tr)
        allowed = set()
        if states - {RESERVED}:
            allowed.add("RESERVED")
        if RESERVED in states:
            allowed.add("NOT_FOUND")
        word = reply.split()[0].decode()
        self.expect(word, allowed, line, j)
        if word == "RESERVED":
            check(reply == b"RESERVED %d %d\r\n" % (j.id, len(j.body)), "reply %r" % reply)
            check(self.read_body(conn, reply) == j.body, "reserve-job %d: body differs" % j.id)
            j.set_timed(RESERVED, ts, tr, j.ttr, conn)
        else:
            check(reply == b"NOT_FOUND\r\n", "reply %r" % reply)

    def gone_id(self):
        """An id no job has: one deleted, or far above any."""
        if self.deleted_now and self.rnd.random() < 0.7:
            return self.rnd.choice(self.deleted_now)
        return 2 ** 63 + self.rnd.randrange(1000)

    def expect_not_found(self, conn, line):
        reply, _, _ = self.cmd(conn, line)
        self.expect(reply, {b"NOT_FOUND\r\n"}, line)

    def holder_op(self, conn, verb, line_fmt, ok_reply):
        """release / bury / touch: only the connection holding the reservation may."""
        j = self.pick_job(lambda x: x.state == RESERVED) if self.rnd.random() < 0.8 else None
        j = j or self.pick_job()
        if j is None:
            return None, None, None, None
        line = line_fmt % j.id
        self.inflight = ([j.id], None)
        reply, ts, tr = self.cmd(conn, line)
        mine, other = j.reserved_by(conn, ts, tr)
        allowed = ({ok_reply} if mine else set()) | ({b"NOT_FOUND\r\n"} if other else set())
        self.expect(reply, allowed, line, j)
        self.inflight = None
        if reply == b"NOT_FOUND\r\n" and j.owner is conn:
            j.state, j.owner = READY, None  # its reservation had expired
        return j, reply == ok_reply, ts, tr

    def op_release(self, conn, port):
        pri, delay = self.rnd.choice((0, 5, 2000)), self.rnd.choice((0, 0, 1))
        j, ok, ts, tr = self.holder_op(conn, "release", "release %%d %d %d" % (pri, delay),
                                       b"RELEASED\r\n")
        if ok:
            j.pri = pri
            if delay:
                j.set_timed(DELAYED, ts, tr, delay)
            else:
                j.state, j.owner = READY, None

    def op_bury(self, conn, port):
        pri = self.rnd.choice((0, 7, 3000))
        j, ok, _, _ = self.holder_op(conn, "bury", "bury %%d %d" % pri, b"BURIED\r\n")
        if ok:
            self.bury_seq += 1
            j.pri, j.state, j.owner, j.bury_seq = pri, BURIED, None, self.bury_seq

    def op_touch(self, conn, port):
        j, ok, ts, tr = self.holder_op(conn, "touch", "touch %d", b"TOUCHED\r\n")
        if ok:
            j.set_timed(RESERVED, ts, tr, j.ttr, conn)

    def op_delete(self, conn, port):
        j = self.pick_job()
        if j is None or self.rnd.random() < 0.05:
            return self.expect_not_found(conn, "delete %d" % self.gone_id())
        line = "delete %d" % j.id
        self.inflight = ([j.id], None)
        reply, ts, tr = self.cmd(conn, line)
        mine, other = j.reserved_by(conn, ts, tr)
        states = j.possible(ts, tr)
        allowed = set()
        if mine or states - {RESERVED}:
            allowed.add(b"DELETED\r\n")
        if RESERVED in states and j.owner is not conn:
            allowed.add(b"NOT_FOUND\r\n")
        self.expect(reply, allowed, line, j)
        self.inflight = None
        if reply == b"DELETED\r\n":
            del self.jobs[j.id]
            self.deleted_now.append(j.id)

    # ------------------------------------------------------------ kick

    def op_kick(self, conn, port):
        n = self.rnd.choice((1, 2, 5, 1000))
        tube = conn.used
        in_tube = [j for j in self.jobs.values() if j.tube == tube]
        line = "kick %d" % n
        self.inflight = ([j.id for j in in_tube], None)
        reply, ts, tr = self.cmd(conn, line)
        m = re.fullmatch(rb"KICKED (\d+)\r\n", reply)
        self.expect_match(m, line, reply)
        kicked = int(m.group(1))
        buried = [j for j in in_tube if j.state == BURIED]
        if buried:
            check(kicked == min(n, len(buried)), "%r in %s kicked %d of %d buried"
                  % (line, tube, kicked, len(buried)))
            cands = buried
        else:
            sure = [j for j in in_tube if j.possible(ts, tr) == {DELAYED}]
            maybe = [j for j in in_tube if DELAYED in j.possible(ts, tr)]
            check(min(n, len(sure)) <= kicked <= min(n, len(maybe)),
                  "%r in %s kicked %d, the model has %d to %d delayed"
                  % (line, tube, kicked, len(sure), len(maybe)))
            cands = maybe
        states = self.stats_jobs(conn, cands, also=READY)
        now_ready = [j for j in cands if states[j.id] == READY]
        check(len(now_ready) >= kicked, "%r kicked %d but %d are ready after"
              % (line, kicked, len(now_ready)))
        if buried and all(j.bury_seq is not None for j in buried):
            first = sorted(buried, key=lambda x: x.bury_seq)[:kicked]
            check(sorted(now_ready, key=lambda x: x.id) == sorted(first, key=lambda x: x.id),
                  "%r kicked %r, not the first buried %r" % (line, now_ready, first))
        self.inflight = None

    def op_kick_job(self, conn, port):
        j = self.pick_job()
        if j is None or self.rnd.random() < 0.1:
            return self.expect_not_found(conn, "kick-job %d" % self.gone_id())
        line = "kick-job %d" % j.id
        self.inflight = ([j.id], None)
        reply, ts, tr = self.cmd(conn, line)
        states = j.possible(ts, tr)
        allowed = ({b"KICKED\r\n"} if states & {BURIED, DELAYED} else set()) | \
            ({b"NOT_FOUND\r\n"} if states & {READY, RESERVED} else set())
        self.expect(reply, allowed, line, j)
        self.inflight = None
        if reply == b"KICKED\r\n":
            j.state, j.owner = READY, None

    # ------------------------------------------------------------ looking

    def stats_jobs(self, conn, jobs, also=None):
        """stats-job every one of `jobs` (pipelined), check each, return {id: state} and
        settle the model to what the server said. `also`: a state a command just run may
        have moved them to (a kick: READY)."""
        out = {}
        for i in range(0, len(jobs), 50):
            chunk = jobs[i:i + 50]
            ts = time.monotonic()
            self.io(conn, conn.client.send, b"".join(b"stats-job %d\r\n" % j.id for j in chunk))
            for j in chunk:
                self.count("stats-job")
                reply = self.io(conn, conn.client.read_line)
                tr = time.monotonic()
                check(reply.startswith(b"OK "), "stats-job %d answered %r" % (j.id, reply), j)
                doc = yaml_dict(self.read_body(conn, reply))
                out[j.id] = self.check_stats_job(j, doc, ts, tr, also)
        return out

    def check_stats_job(self, j, doc, ts, tr, also=None):
        state = doc.get("state")
        if j.state == UNKNOWN:  # a release or bury whose reply a kill took may have run
            j.pri = int(doc.get("pri", -1))
        check(state in j.possible(ts, tr) | {also}, "stats-job %d says %s" % (j.id, state), j,
              doc)
        check(doc.get("tube") == j.tube and int(doc.get("pri", -1)) == j.pri
              and int(doc.get("ttr", -1)) == j.ttr, "stats-job %d differs" % j.id, j, doc)
        if state != j.state:
            if j.state == UNKNOWN and state in (DELAYED, RESERVED):
                j.state, j.due_lo, j.due_hi = state, ts, tr + int(doc["time-left"]) + 1
            else:
                j.state, j.owner = state, None
        return state

    def op_peek(self, conn, port):
        kind = self.rnd.choice(("id", "id", "ready", "delayed", "buried", "stats-job"))
        if kind == "stats-job":
            j = self.pick_job()
            if j is None:
                return self.expect_not_found(conn, "stats-job %d" % self.gone_id())
            return self.stats_jobs(conn, [j])
        if kind == "id":
            j = self.pick_job()
            if j is None:
                return self.expect_not_found(conn, "peek %d" % self.gone_id())
            reply, _, _ = self.cmd(conn, "peek %d" % j.id)
            self.expect(reply, {b"FOUND %d %d\r\n" % (j.id, len(j.body))}, "peek %d" % j.id, j)
            check(self.read_body(conn, reply) == j.body, "peek %d: body differs" % j.id)
            return
        line = "peek-" + kind
        tube = conn.used
        reply, ts, tr = self.cmd(conn, line)
        state = {"ready": READY, "delayed": DELAYED, "buried": BURIED}[kind]
        in_tube = [j for j in self.jobs.values() if j.tube == tube]
        maybe = [j for j in in_tube if state in j.possible(ts, tr)]
        surely = [j for j in in_tube if j.possible(ts, tr) == {state}]
        if reply == b"NOT_FOUND\r\n":
            check(not surely, "%r in %s: NOT_FOUND, but the model has %r" % (line, tube, surely[:2]))
            return
        m = re.fullmatch(rb"FOUND (\d+) (\d+)\r\n", reply)
        self.expect_match(m, line, reply)
        body = self.read_body(conn, reply)
        j = self.jobs.get(int(m.group(1)))
        check(j in maybe, "%r in %s found %r, which the model has not %s" % (line, tube, j, state))
        check(body == j.body, "%r: job %d's body differs" % (line, j.id))
        if state == READY:
            better = [o for o in surely if (o.pri, o.id) < (j.pri, j.id)]
            check(not better, "peek-ready found %r, not %r" % (j, better[:1]))
            j.state, j.owner = READY, None
        if state == BURIED and all(o.bury_seq is not None for o in surely):
            first = min(surely, key=lambda o: o.bury_seq)
            check(j is first, "peek-buried found %r, not the oldest %r" % (j, first))

    def op_stats(self, conn, port):
        kind = self.rnd.choice(("stats", "stats-tube", "stats-tube", "stats-log"))
        if kind == "stats":
            reply, _, _ = self.cmd(conn, "stats")
            check(reply.startswith(b"OK "), "stats answered %r" % reply)
            doc = yaml_dict(self.read_body(conn, reply))
            check(int(doc["current-connections"]) >= 1 and doc["draining"] == "false",
                  "stats: %r" % doc)
            return
        if kind == "stats-log":
            reply, _, _ = self.cmd(conn, "stats-log")
            if not self.driver.with_log:
                return self.expect(reply, {b"NOT_FOUND\r\n"}, "stats-log without -b")
            check(reply.startswith(b"OK "), "stats-log answered %r" % reply)
            doc = yaml_dict(self.read_body(conn, reply))
            check(list(doc) == STATS_LOG_FIELDS and all(v.isdigit() for v in doc.values()),
                  "stats-log: %r" % doc)
            return
        tube = self.rnd.choice(self.tubes)
        line = "stats-tube %s" % tube
        reply, ts, tr = self.cmd(conn, line)
        if reply == b"NOT_FOUND\r\n":
            check(not self.tube_must_exist(tube), "%r: NOT_FOUND but the tube must exist" % line)
            return
        check(reply.startswith(b"OK "), "%r answered %r" % (line, reply))
        doc = yaml_dict(self.read_body(conn, reply))
        check(list(doc) == STATS_TUBE_FIELDS and doc["name"] == tube, "%r: %r" % (line, doc))
        in_tube = [j for j in self.jobs.values() if j.tube == tube]
        for state in (READY, RESERVED, DELAYED, BURIED):
            got = int(doc["current-jobs-" + state])
            lo = sum(1 for j in in_tube if j.possible(ts, tr) == {state})
            hi = sum(1 for j in in_tube if state in j.possible(ts, tr))
            check(lo <= got <= hi, "%r: %s %d, the model has %d to %d" % (line, state, got, lo, hi),
                  doc)
        live = [c for c in self.conns if c.client]
        check(int(doc["current-using"]) >= sum(c.used == tube for c in live)
              and int(doc["current-watching"]) >= sum(tube in c.watched for c in live)
              and doc["current-waiting"] == "0", "%r: %r" % (line, doc))

    def op_lists(self, conn, port):
        kind = self.rnd.choice(("list-tubes", "list-tube-used", "list-tubes-watched"))
        reply, _, _ = self.cmd(conn, kind)
        if kind == "list-tube-used":
            return self.expect(reply, {b"USING %s\r\n" % conn.used.encode()}, kind)
        check(reply.startswith(b"OK "), "%s answered %r" % (kind, reply))
        names = yaml_list(self.read_body(conn, reply))
        check(all(TUBE_NAME_RE.fullmatch(n) for n in names), "%s: bad name in %r" % (kind, names))
        if kind == "list-tubes-watched":
            check(names == conn.watched, "list-tubes-watched %r, the model %r"
                  % (names, conn.watched))
        else:
            missing = [t for t in self.tubes if self.tube_must_exist(t) and t not in names]
            check(not missing, "list-tubes lacks %r" % missing)

    # ------------------------------------------------------------ tubes

    def op_tubes(self, conn, port):
        kind = self.rnd.choice(("use", "watch", "watch", "ignore", "ignore"))
        tube = self.pick_tube() if kind != "ignore" else self.rnd.choice(conn.watched + self.tubes)
        line = "%s %s" % (kind, tube)
        ts = time.monotonic()
        self.touching_tube(conn, tube, ts)
        reply, ts, tr = self.cmd(conn, line)
        if kind == "use":
            self.expect(reply, {b"USING %s\r\n" % tube.encode()}, line)
            conn.used = tube
        elif kind == "watch":
            if tube not in conn.watched:
                conn.watched.append(tube)
            self.expect(reply, {b"WATCHING %d\r\n" % len(conn.watched)}, line)
        elif conn.watched == [tube]:
            self.expect(reply, {b"NOT_IGNORED\r\n"}, line)
        else:
            if tube in conn.watched:  # the last takes its place, as beanstalkd's ms_delete
                i = conn.watched.index(tube)
                conn.watched[i] = conn.watched[-1]
                conn.watched.pop()
            self.expect(reply, {b"WATCHING %d\r\n" % len(conn.watched)}, line)

    def op_pause(self, conn, port):
        tube = self.rnd.choice(self.tubes)
        delay = self.rnd.choice((0, 1, 2))
        line = "pause-tube %s %d" % (tube, delay)
        must = self.tube_must_exist(tube)
        reply, ts, tr = self.cmd(conn, line)
        self.expect(reply, {b"PAUSED\r\n"} | (set() if must else {b"NOT_FOUND\r\n"}), line)
        if reply == b"PAUSED\r\n":
            # A tube that may be on its way out can be recreated, unpaused, at once.
            self.pauses[tube] = Pause(ts + delay if must else ts, tr + delay)

    # ------------------------------------------------------------ abuse

    def op_bad(self, conn, port):
        line, want = self.rnd.choice((("bogus-command", b"UNKNOWN_COMMAND\r\n"),
                                      ("put 0 0 10", b"BAD_FORMAT\r\n"),
                                      ("peek-ready now", b"BAD_FORMAT\r\n"),
                                      ("delete -1", b"BAD_FORMAT\r\n")))
        reply, _, _ = self.cmd(conn, line)
        self.expect(reply, {want}, line)

    def op_drop(self, conn, port):
        self.drop_conn(conn, self.rnd.choice(("quit", "fin", "rst")))
        self.connect(conn, port)

    def op_throwaway(self, conn, port):
        try:
            self.throwaway(port)
        except OSError as e:
            raise ServerGone("throwaway: %s" % e) from None

    # ------------------------------------------------------------ after kill -9

    def close_all(self):
        for c in self.conns:
            c.close()

    def verify_restart(self, port, with_log):
        """The server was killed and restarted: check what it kept against the model."""
        now = time.monotonic()
        if self.inflight is not None:
            job_ids, ghost = self.inflight
            for i in job_ids:
                if i in self.jobs:
                    self.jobs[i].state = UNKNOWN
            if ghost is not None:
                self.ghosts.append(ghost)
            self.inflight = None
        for c in self.conns:
            self.connect(c, port)
        conn = self.conns[0]
        if not with_log:
            return self.verify_empty(conn)
        for j in self.jobs.values():
            if j.state == RESERVED:  # a restart releases every reservation
                j.state, j.owner = READY, None
            j.bury_seq = None  # the order of replay is the log's
        for p in self.pauses.values():  # pauses are not logged
            p.lo = min(p.lo, now)
        self.check_present(conn)
        self.check_gone(conn)
        if self.ghosts:
            self.find_ghosts(conn)
        self.count("restart-verified")

    def check_present(self, conn):
        jobs = sorted(self.jobs.values(), key=lambda j: j.id)
        for i in range(0, len(jobs), 50):
            chunk = jobs[i:i + 50]
            self.io(conn, conn.client.send, b"".join(b"peek %d\r\n" % j.id for j in chunk))
            for j in chunk:
                reply = self.io(conn, conn.client.read_line)
                self.count("peek")
                if reply == b"NOT_FOUND\r\n" and j.state == UNKNOWN:
                    del self.jobs[j.id]  # a delete whose reply the kill took happened
                    continue
                check(reply == b"FOUND %d %d\r\n" % (j.id, len(j.body)),
                      "worker %d: after restart, peek %d answered %r" % (self.k, j.id, reply), j)
                check(self.read_body(conn, reply) == j.body,
                      "worker %d: after restart, job %d's body differs" % (self.k, j.id))
        self.stats_jobs(conn, [j for j in jobs if j.id in self.jobs])

    def check_gone(self, conn):
        old = self.rnd.sample(self.deleted_old, min(100, len(self.deleted_old)))
        ids = self.deleted_now + old
        for i in range(0, len(ids), 100):
            chunk = ids[i:i + 100]
            self.io(conn, conn.client.send, b"".join(b"peek %d\r\n" % x for x in chunk))
            for x in chunk:
                reply = self.io(conn, conn.client.read_line)
                self.count("peek")
                check(reply == b"NOT_FOUND\r\n", "worker %d: job %d, acknowledged deleted, came "
                      "back after a restart: %r" % (self.k, x, reply))
        self.deleted_old = (self.deleted_old + self.deleted_now)[-20000:]
        self.deleted_now = []

    def find_ghosts(self, conn):
        """Puts whose INSERTED a kill took may have happened: look at every id they may have
        got (above what the worker had seen, below a fresh put's) and adopt those found."""
        bodies = {g[0]: g[1] for g in self.ghosts}
        floor = min(g[2] for g in self.ghosts)
        top = self.op_put(conn, None)
        ids = list(range(floor + 1, top))[-2000:]
        found = []
        for i in range(0, len(ids), 100):
            chunk = ids[i:i + 100]
            self.io(conn, conn.client.send, b"".join(b"peek %d\r\n" % x for x in chunk))
            for x in chunk:
                reply = self.io(conn, conn.client.read_line)
                self.count("peek")
                if reply.startswith(b"FOUND "):
                    body = self.read_body(conn, reply)
                    if body in bodies and x not in self.jobs:
                        found.append((x, body))
        for x, body in found:
            j = self.jobs[x] = Job(x, body, bodies.pop(body), 0, 0)
            j.state = UNKNOWN
            self.io(conn, conn.client.send, b"stats-job %d\r\n" % x)
            doc = yaml_dict(self.read_body(conn, self.io(conn, conn.client.read_line)))
            j.pri, j.ttr = int(doc["pri"]), int(doc["ttr"])
            now = time.monotonic()
            self.check_stats_job(j, doc, now, now)
            self.count("ghost-adopted")
        self.ghosts = []

    def verify_empty(self, conn):
        """Without -b a restart forgets everything: none of the worker's tubes may hold a job."""
        tubes = set(self.tubes) | {j.tube for j in self.jobs.values()}
        for tube in sorted(tubes):
            reply, _, _ = self.cmd(conn, "stats-tube %s" % tube)
            if tube == self.tubes[0]:
                check(reply.startswith(b"OK "), "stats-tube %s answered %r" % (tube, reply))
                doc = yaml_dict(self.read_body(conn, reply))
                check(all(doc["current-jobs-" + s] == "0"
                          for s in (READY, RESERVED, DELAYED, BURIED)),
                      "worker %d: after a restart without -b, %s holds jobs: %r"
                      % (self.k, tube, doc))
            else:
                check(reply == b"NOT_FOUND\r\n", "worker %d: after a restart without -b, "
                      "stats-tube %s answered %r" % (self.k, tube, reply))
        self.jobs, self.ghosts, self.pauses = {}, [], {}
        self.deleted_now, self.deleted_old = [], []
        self.max_id = 0  # ids start again at 1
        self.count("restart-verified")
