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

Kept deterministic: every TTR, non-zero delay and pause is an hour, so no job
or tube changes state by itself during a run, and reserves never block
(timeout 0). Only values that depend on the clock or the process are masked:
age and time-left in stats-job, pause-time-left in stats-tube, and in stats
everything but the job, command and tube counters. A failure names the seed and shows the last commands."""

import os
import random
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402

SEEDS = tuple(range(1, 9))
OPS_PER_SEED = 2000
TUBES = ("default", "t1", "t2")
HOUR = 3600

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
        # differences), so with logs every release is delayed. And with logs
        # the delays differ: synqd's log keeps deadlines to the millisecond, so
        # after a restart two deadlines in one millisecond are ordered by the
        # replay, where beanstalkd's nanoseconds keep the original order.
        self.logged = logged

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
             "ignore", "stats-job", "stats-tube", "list", "stats", "pause-tube"),
            weights=(16, 10, 2, 6, 4, 2, 8, 3, 2, 2, 1, 1, 1, 3, 3, 2, 4, 2, 1, 1, 0.05))[0]
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
            # an hour, so it never ends during the run (a tube never used is NOT_FOUND)
            return b"pause-tube %s %d\r\n" % (r.choice(TUBES + ("t3",)).encode(), HOUR)
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
                who = gen.rng.randrange(len(pairs))
                # Mostly one command at a time; sometimes a pipelined batch in one
                # send, whose replies must come back in order.
                batch = [gen.next() for _ in range(1 if gen.rng.random() < 0.8 else
                                                    gen.rng.randint(2, 6))]
                done += len(batch)
                mine, theirs = pairs[who]
                mine.send(b"".join(batch))
                theirs.send(b"".join(batch))
                for cmd in batch:
                    self.compare_reply(seed, gen, who, cmd, mine, theirs, history, seen,
                                       log_file)
        finally:
            for a, b in pairs:
                a.close()
                b.close()
        self.assertTrue(ours.alive(), "synqd exited")

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
            if head == b"list-tubes":
                a, b = (b"\n".join(sorted(x.split(b"\n"))) for x in (a, b))
        if a != b:
            self.fail("seed %d: replies differ; last commands:\n%s\nin full (masked):\n"
                      "   beanstalkd: %r\n   synqd:      %r"
                      % (seed, "\n".join(history[-12:]), b, a))
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
        for seed, extra in ((101, []), (102, []), (103, ["-s", "8192"])):
            gen = Generator(seed, logged=True)
            history = []
            with tempfile.TemporaryDirectory() as ours_dir, \
                    tempfile.TemporaryDirectory() as ref_dir:
                for leg in range(4):
                    history.append("-- both servers (re)started on their logs (leg %d)" % leg)
                    args = ["-b", ours_dir, "-f", "0"] + extra
                    with sqharness.running("synqd", args) as ours, \
                            sqharness.running("beanstalkd", ["-b", ref_dir, "-f", "0"]) as ref:
                        self.run_ops(seed, gen, ours, ref, 500, history, seen, log_file=True)
                if extra:
                    segments = [f for f in os.listdir(ours_dir) if f.startswith("wal.")]
                    self.assertGreater(len(segments), 1, "no segment rotation: %r" % segments)
        for word in (b"INSERTED", b"RESERVED", b"BURIED", b"KICKED", b"DELETED"):
            self.assertIn(word, seen)

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
