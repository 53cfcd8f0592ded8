"""Random command streams, sent in lockstep to synqd and to Debian's beanstalkd;
every reply must be the same bytes.

Where test_compat_session replays one hand-written script, this test makes up
its own: seeded random sessions on three connections per server that use,
watch and ignore three tubes and put, reserve, reserve-job, release, bury,
touch, kick, kick-job, delete and peek jobs by ids that exist, have gone, or
never were, with stats, stats-job, stats-tube and the list commands checked
as they go. Each command goes to both servers and both replies are read in
full before the next command, so the two servers see the same history and
hand out the same ids.

Tubes are also created and abandoned: now and then a short-lived connection
watches and uses tubes of its own (and may put or reserve a job), then
disconnects, and the test waits until both servers have seen it go, so the
tubes that vanish leave list-tubes in beanstalkd's order.

Kept deterministic: every TTR and non-zero delay is an hour, and reserves never
block (timeout 0). Pauses are 0 (which ends a pause at once), an hour, or one
second; the test never sends a command within a quarter second of a
one-second pause's end, so both servers agree on whether it is over. Only values that depend on the clock or the process are masked:
age and time-left in stats-job, pause-time-left in stats-tube, and in stats
everything but the job, command and tube counters. A failure names the seed and shows the last commands."""

import os
import random
import re
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402

SEEDS = tuple(range(1, 9))
OPS_PER_SEED = 2000
TUBES = ("default", "t1", "t2")
CHURN_TUBES = ("c1", "c2", "c3", "c4", "c5")
HOUR = 3600
SHORT_PAUSE_S = 1
PAUSE_GUARD_S = 0.25

# stats fields that must match; the rest of stats is per process or per clock.
STATS_COMPARED = re.compile(
    r"^(current-jobs-\w+|cmd-[\w-]+|job-timeouts|total-jobs|current-tubes|current-waiting"
    r"|current-using|current-watching): ")


def read_reply(client):
    """One complete reply: a line, plus a job body or YAML document when the
    line announces one."""
    line = client.read_line()
    m = re.fullmatch(rb"(?:RESERVED|FOUND) \d+ (\d+)\r\n|OK (\d+)\r\n", line)
    if m:
        n = int(m.group(1) if m.group(1) is not None else m.group(2))
        return line + client.read_exact(n + 2)
    return line


def masked(cmd, reply):
    if cmd.startswith(b"stats-job") or cmd.startswith(b"stats-tube"):
        reply = re.sub(rb"\n(age|time-left|pause-time-left): \d+", rb"\n\1: *", reply)
        return re.sub(rb"^OK \d+\r\n", b"OK *\r\n", reply)
    if cmd == b"stats":
        lines = reply.decode().split("\n")
        kept = [x for x in lines if STATS_COMPARED.match(x)]
        return ("\n".join(kept)).encode()
    return reply


class Generator:
    """Commands chosen from what the session has seen, so that most of them
    hit real jobs and tubes (and some deliberately do not)."""

    def __init__(self, seed, logged=False):
        self.rng = random.Random(seed)
        self.max_id = 0
        # beanstalkd does not log a release without delay (docs/protocol.md,
        # differences), so with logs every release is delayed. With logs there
        # is no reserve-job either: synqd logs one that takes a job from buried
        # or delayed, beanstalkd does not, so after a restart such a job is
        # ready in synqd and buried or delayed in beanstalkd (docs/protocol.md,
        # differences). And with logs the delays differ: synqd's log keeps deadlines to the millisecond, so
        # after a restart two deadlines in one millisecond are ordered by the
        # replay, where beanstalkd's nanoseconds keep the original order.
        self.logged = logged
        # A cluster replicates pauses, so they outlive a restart of every node; beanstalkd's
        # binlog forgets them. Across restarts the two cannot agree: no pauses there.
        self.pause_weight = 0 if logged and sqharness.cluster_mode() else 0.6
        # [earliest, latest] monotonic times at which each one-second pause
        # ends: it started between the send and the replies (see sent_batch)
        self.pause_ends = []

    def sent_batch(self, replied_at):
        """The batch whose replies came at replied_at started its pauses by then."""
        for w in self.pause_ends:
            if w[1] is None:
                w[1] = replied_at + SHORT_PAUSE_S

    def wait_clear_of_pause_ends(self):
        """Sleeps past any short pause ending about now, so that no command
        races the end of a pause."""
        now = time.monotonic()
        self.pause_ends = [w for w in self.pause_ends if w[1] + PAUSE_GUARD_S > now]
        for lo, hi in self.pause_ends:
            if lo - PAUSE_GUARD_S <= now:
                time.sleep(max(0.0, hi + PAUSE_GUARD_S - now))
                now = time.monotonic()

    def churn(self):
        """Commands for a short-lived connection that creates tubes and goes."""
        r = self.rng
        cmds = [b"watch %s\r\n" % t.encode() for t in r.sample(CHURN_TUBES, r.randint(1, 4))]
        if r.random() < 0.5:
            cmds.append(b"ignore default\r\n")
        cmds.append(b"use %s\r\n" % r.choice(CHURN_TUBES + TUBES).encode())
        if r.random() < 0.5:
            cmds.append(b"put 0 0 %d 1\r\nx\r\n" % HOUR)
        if r.random() < 0.3:
            cmds.append(b"reserve-with-timeout 0\r\n")
        if r.random() < 0.3:
            cmds.append(b"list-tubes\r\n")
        return cmds

    def job_id(self):
        # mostly an id that was handed out; sometimes one that never was
        return self.rng.randint(1, self.max_id + 2)

    def body(self):
        n = self.rng.choice((0, 1, 5, 17, 40))
        return bytes(self.rng.choice(b"ab\r\n\x00 xyz") for _ in range(n))

    def delay(self, zero_weight):
        r = self.rng
        if r.randrange(zero_weight + 1):
            return 0
        return HOUR + r.randrange(100000) if self.logged else HOUR

    def next(self):
        r = self.rng
        pri = r.choice((0, 1, 5, 1023, 1024, 4294967295))
        delay = self.delay(3)
        op = r.choices(
            ("put", "reserve", "reserve-job", "release", "bury", "touch", "delete", "kick",
             "kick-job", "peek", "peek-ready", "peek-delayed", "peek-buried", "use", "watch",
             "ignore", "stats-job", "stats-tube", "list", "stats", "pause-tube", "churn"),
            weights=(16, 10, 0 if self.logged else 2, 6, 4, 2, 8, 3, 2, 2, 1, 1, 1, 3, 3, 2, 4, 2,
                     1, 1, self.pause_weight, 0.3))[0]
        if op == "churn":
            return None
        if op == "put":
            body = self.body()
            return b"put %d %d %d %d\r\n%s\r\n" % (pri, delay, HOUR, len(body), body)
        if op == "reserve":
            return b"reserve-with-timeout 0\r\n"
        if op in ("reserve-job", "touch", "delete", "kick-job", "peek", "stats-job"):
            return b"%s %d\r\n" % (op.encode(), self.job_id())
        if op == "release":
            return b"release %d %d %d\r\n" % (self.job_id(), pri,
                                                self.delay(0 if self.logged else 3))
        if op == "bury":
            return b"bury %d %d\r\n" % (self.job_id(), pri)
        if op == "kick":
            return b"kick %d\r\n" % r.randint(1, 4)
        if op.startswith("peek-"):
            return op.encode() + b"\r\n"
        if op in ("use", "watch", "ignore", "stats-tube"):
            return b"%s %s\r\n" % (op.encode(), r.choice(TUBES).encode())
        if op == "pause-tube":
            # 0 unpauses at once; a short pause ends during the run (a tube never used is
            # NOT_FOUND)
            secs = r.choices((0, SHORT_PAUSE_S, HOUR), weights=(5, 1, 2))[0]
            if secs == SHORT_PAUSE_S:
                self.pause_ends.append([time.monotonic() + secs, None])  # see sent_batch
            return b"pause-tube %s %d\r\n" % (r.choice(TUBES + ("t3",)).encode(), secs)
        if op == "list":
            return r.choice((b"list-tubes\r\n", b"list-tube-used\r\n", b"list-tubes-watched\r\n"))
        return b"stats\r\n"

    def saw(self, reply):
        m = re.match(rb"INSERTED (\d+)\r\n", reply)
        if m:
            self.max_id = max(self.max_id, int(m.group(1)))


class Differential(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(sqharness.BEANSTALKD):
            raise unittest.SkipTest("the reference %s is not installed" % sqharness.BEANSTALKD)

    def run_ops(self, seed, gen, ours, ref, count, history, seen, log_file=False):
        pairs = [(sqharness.Client(ours.port), sqharness.Client(ref.port)) for _ in range(3)]
        try:
            done = 0
            while done < count:
                gen.wait_clear_of_pause_ends()
                who = gen.rng.randrange(len(pairs))
                # Mostly one command at a time; sometimes a pipelined batch in one
                # send, whose replies must come back in order.
                batch = [gen.next() for _ in range(1 if gen.rng.random() < 0.8 else
                                                    gen.rng.randint(2, 6))]
                if None in batch:
                    done += 1
                    self.churn(seed, gen, ours, ref, pairs, history, seen, log_file)
                    gen.sent_batch(time.monotonic())  # the batch's other commands are dropped
                    continue
                done += len(batch)
                mine, theirs = pairs[who]
                mine.send(b"".join(batch))
                theirs.send(b"".join(batch))
                for cmd in batch:
                    self.compare_reply(seed, gen, who, cmd, mine, theirs, history, seen,
                                       log_file)
                gen.sent_batch(time.monotonic())
        finally:
            for a, b in pairs:
                a.close()
                b.close()
        self.assertTrue(ours.alive(), "synqd exited")

    def churn(self, seed, gen, ours, ref, pairs, history, seen, log_file):
        """A connection to each server runs gen.churn()'s commands and
        disconnects; then both servers are polled until they have let it go."""
        history.append("-- a short-lived connection")
        mine, theirs = sqharness.Client(ours.port), sqharness.Client(ref.port)
        try:
            for cmd in gen.churn():
                mine.send(cmd)
                theirs.send(cmd)
                self.compare_reply(seed, gen, 9, cmd, mine, theirs, history, seen, log_file)
        finally:
            mine.close()
            theirs.close()
        # The close reaches each server in its own time: poll `stats` until the
        # connection is gone, then even out the cmd-stats counts the polling made.
        polls = [self.poll_until_closed(c, len(pairs)) for c in (pairs[0][0], pairs[0][1])]
        for (client, n) in zip((pairs[0][0], pairs[0][1]), polls):
            for _ in range(max(polls) - n):
                client.send(b"stats\r\n")
                read_reply(client)

    def poll_until_closed(self, client, want_connections):
        deadline = time.monotonic() + 5
        n = 0
        while True:
            client.send(b"stats\r\n")
            n += 1
            doc = read_reply(client)
            m = re.search(rb"\ncurrent-connections: (\d+)\n", doc)
            if int(m.group(1)) == want_connections:
                return n
            self.assertLess(time.monotonic(), deadline, "the server never saw a close")
            time.sleep(0.005)

    def compare_reply(self, seed, gen, who, cmd, mine, theirs, history, seen, log_file):
        got, want = read_reply(mine), read_reply(theirs)
        head = cmd.split(b"\r\n")[0]
        history.append("%d> %r\n   beanstalkd: %r\n   synqd:      %r"
                       % (who, head, want[:120], got[:120]))
        a, b = masked(head, got), masked(head, want)
        if log_file:
            # Both name the log file holding the job, each its own way; after
            # a restart the tubes are listed in the order the log replay met
            # them, which depends on each log's layout; and beanstalkd adds
            # one to `buries` of every job that is buried when it restarts
            # (docs/protocol.md, differences).
            a, b = (re.sub(rb"\n(file|buries): \d+", rb"\n\1: *", x) for x in (a, b))
            if log_file == "compacting":
                # synqd's compaction copy of a reserved job records its reserves
                # count, which beanstalkd's log never holds (tests/integration/NOTES.md)
                a, b = (re.sub(rb"\nreserves: \d+", rb"\nreserves: *", x) for x in (a, b))
            if head == b"list-tubes":
                a, b = (b"\n".join(sorted(x.split(b"\n"))) for x in (a, b))
        if a != b:
            self.fail("seed %d: replies differ; last commands:\n%s\nin full (masked):\n"
                      "   beanstalkd: %r\n   synqd:      %r"
                      % (seed, "\n".join(history[-int(os.environ.get("SQ_DIFF_HISTORY", "12")):]), b, a))
        gen.saw(want)
        seen.add(want.split(b" ")[0].split(b"\r\n")[0])

    def run_seed(self, seed):
        gen = Generator(seed)
        history, seen = [], set()
        with sqharness.running("synqd") as ours, sqharness.running("beanstalkd") as ref:
            self.run_ops(seed, gen, ours, ref, OPS_PER_SEED, history, seen)
        return seen

    def test_with_logs_and_restarts_both_servers_recover_the_same_state(self):
        """Both servers keep a log (synqd -b -f 0, beanstalkd -b -f 0); every
        few hundred commands both are stopped and restarted on their logs,
        and the session carries on with new connections: jobs, states,
        priorities, tubes and ids must come back the same in both. One seed
        gives synqd 8 KiB segments, so its compaction rewrites live jobs
        between restarts."""
        seen = set()
        for seed, extra in ((101, []), (102, []), (103, ["-s", "8192", "-z", "7000"])):
            gen = Generator(seed, logged=True)
            history = []
            with tempfile.TemporaryDirectory() as ours_dir, \
                    tempfile.TemporaryDirectory() as ref_dir:
                for leg in range(4):
                    history.append("-- both servers (re)started on their logs (leg %d)" % leg)
                    args = ["-b", ours_dir, "-f", "0"] + extra
                    with sqharness.running("synqd", args) as ours, \
                            sqharness.running("beanstalkd", ["-b", ref_dir, "-f", "0"]) as ref:
                        self.run_ops(seed, gen, ours, ref, 500, history, seen,
                                     log_file="compacting" if extra else True)
                if extra and not sqharness.cluster_mode():  # a cluster node keeps no wal.*
                    segments = [f for f in os.listdir(ours_dir) if f.startswith("wal.")]
                    self.assertGreater(len(segments), 1, "no segment rotation: %r" % segments)
        for word in (b"INSERTED", b"RESERVED", b"BURIED", b"KICKED", b"DELETED"):
            self.assertIn(word, seen)

    def scripted(self, steps):
        """Runs steps (connection index, command) on both servers in lockstep;
        a step (i, None) closes connection i on both and waits until both let
        it go. Returns the (beanstalkd, synqd) replies."""
        replies = []
        with sqharness.running("synqd") as ours, sqharness.running("beanstalkd") as ref:
            conns = {}
            for who, cmd in steps:
                if who not in conns:
                    conns[who] = (sqharness.Client(ours.port), sqharness.Client(ref.port))
                mine, theirs = conns[who]
                if cmd is None:
                    mine.close()
                    theirs.close()
                    del conns[who]
                    for c in conns[min(conns)]:
                        self.poll_until_closed(c, len(conns))
                    continue
                mine.send(cmd)
                theirs.send(cmd)
                replies.append((cmd, read_reply(theirs), read_reply(mine)))
            for a, b in conns.values():
                a.close()
                b.close()
        for cmd, want, got in replies:
            self.assertEqual(masked(cmd.split(b"\r\n")[0], got),
                             masked(cmd.split(b"\r\n")[0], want), cmd)
        return replies

    def test_pause_zero_unpauses_at_once(self):
        put = b"put 0 0 %d 1\r\nx\r\n" % HOUR
        replies = self.scripted([
            (0, put), (0, b"pause-tube default 100\r\n"), (0, b"pause-tube default 0\r\n"),
            (0, b"reserve-with-timeout 0\r\n"),
            # on a tube never paused, pause 0 must not hide its job behind another tube's
            (0, b"use t\r\n"), (0, b"put 9 0 %d 1\r\ny\r\n" % HOUR), (0, b"watch t\r\n"),
            (0, b"use default\r\n"), (0, put), (0, b"pause-tube default 0\r\n"),
            (0, b"reserve-with-timeout 0\r\n"), (0, b"stats-tube default\r\n"),
        ])
        self.assertEqual(replies[3][1], b"RESERVED 1 1\r\nx\r\n")
        self.assertEqual(replies[10][1], b"RESERVED 3 1\r\nx\r\n")

    def test_pause_zero_serves_a_waiting_client(self):
        with sqharness.running("synqd") as ours, sqharness.running("beanstalkd") as ref:
            for srv in (ref, ours):
                waiter, other = sqharness.Client(srv.port), sqharness.Client(srv.port)
                other.cmd(b"put 0 0 %d 1\r\nx\r\n" % HOUR)
                other.cmd(b"pause-tube default 100\r\n")
                waiter.send(b"reserve-with-timeout 5\r\n")
                waiter.expect_silence(0.2)
                self.assertEqual(other.cmd(b"pause-tube default 0\r\n"), b"PAUSED\r\n")
                self.assertEqual(read_reply(waiter), b"RESERVED 1 1\r\nx\r\n", srv)
                waiter.close()
                other.close()

    def test_vanishing_tubes_leave_list_tubes_in_beanstalkds_order(self):
        replies = self.scripted([
            (0, b"watch x\r\n"), (0, b"watch a\r\n"), (0, b"watch c\r\n"), (0, b"use c\r\n"),
            (0, b"put 0 0 %d 1\r\nx\r\n" % HOUR), (1, b"watch p\r\n"), (0, None),
            (1, b"list-tubes\r\n"),
        ])
        self.assertEqual(replies[-1][1], b"OK 22\r\n---\n- default\n- c\n- p\n\r\n")

    def test_random_sessions_match_beanstalkd(self):
        seen = set()
        for seed in SEEDS:
            seen |= self.run_seed(seed)
        # The streams reached the interesting replies, not only errors.
        for word in (b"INSERTED", b"RESERVED", b"RELEASED", b"BURIED", b"TOUCHED", b"DELETED",
                     b"KICKED", b"FOUND", b"NOT_FOUND", b"TIMED_OUT", b"USING", b"WATCHING",
                     b"NOT_IGNORED", b"PAUSED", b"OK"):
            self.assertIn(word, seen)


if __name__ == "__main__":
    sqharness.main()
