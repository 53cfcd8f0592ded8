"""synqd's bulk extensions over real sockets (issue 16 items 1-4; docs/protocol.md, Extensions):
flush-tube, list-jobs, move-jobs and reserve-batch: each reply, the BAD_FORMAT cases, paging,
moves that keep counters, reserve-batch waiting, timing out and DEADLINE_SOON, and every change
surviving kill -9 and a restart with -b, also after compaction (a small -s rotates segments).

synqd only: beanstalkd has none of these commands. Python 3 standard library only; every wait
is bounded and every server stopped.
"""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402
from sqharness import ProtocolError  # noqa: E402


def parse_jobs(data):
    """list-jobs' YAML sequence of flat mappings -> list of {key: int}."""
    text = data.decode()
    if text == "--- []\n":
        return []
    lines = text.split("\n")
    if lines[0] != "---" or lines[-1] != "":
        raise ProtocolError("bad list-jobs document %r" % text)
    jobs = []
    for line in lines[1:-1]:
        if line.startswith("- "):
            jobs.append({})
            line = line[2:]
        elif line.startswith("  ") and jobs:
            line = line[2:]
        else:
            raise ProtocolError("bad list-jobs line %r" % line)
        k, sep, v = line.partition(": ")
        if not sep:
            raise ProtocolError("bad list-jobs line %r" % line)
        jobs[-1][k] = int(v)
    return jobs


LIST_KEYS = ["id", "pri", "age", "delay", "time-left", "size", "reserves", "timeouts",
             "releases", "buries", "kicks"]


class BulkBase:
    """Helpers over a sqharness.Client."""

    def use(self, c, tube):
        self.assertEqual(c.cmd("use %s" % tube), b"USING %s\r\n" % tube.encode())

    def watch_only(self, c, tube):
        self.assertEqual(c.cmd("watch %s" % tube)[:9], b"WATCHING ")
        if tube != "default":
            self.assertEqual(c.cmd("ignore default"), b"WATCHING 1\r\n")

    def put_on(self, c, tube, body=b"x", pri=0, delay=0, ttr=60):
        self.use(c, tube)
        return self.put(c, body, pri, delay, ttr)

    def bury(self, c, tube, n, pri=5):
        """n jobs put into `tube`, reserved by c and buried; returns their ids."""
        ids = [self.put_on(c, tube, b"b%d" % i) for i in range(n)]
        self.watch_only(c, tube)
        for jid in ids:
            c.send(b"reserve-job %d\r\n" % jid)
            self.assertEqual(c.read_job("RESERVED")[0], jid)
            self.assertEqual(c.cmd("bury %d %d" % (jid, pri)), b"BURIED\r\n")
        return ids

    def list_jobs(self, c, tube, state, after=0, count=1000):
        c.send(b"list-jobs %s %s %d %d\r\n" % (tube.encode(), state.encode(), after, count))
        return parse_jobs(c.read_yaml_reply())

    def stats_job(self, c, jid):
        c.send(b"stats-job %d\r\n" % jid)
        return dict(sqharness.parse_yaml(c.read_yaml_reply()))

    def read_batch(self, c, timeout=None):
        line = c.read_line(timeout)
        m = re.fullmatch(rb"RESERVED_BATCH (\d+)\r\n", line)
        if not m:
            raise ProtocolError("expected RESERVED_BATCH <count>, got %r" % line)
        return [c.read_job("RESERVED", timeout) for _ in range(int(m.group(1)))]


class BulkCommands(BulkBase):
    PER_TEST = True

    def test_bad_format(self):
        c = self.client()
        for line in ["flush-tube t reserved", "flush-tube t", "flush-tube t all x",
                     "flush-tube -t all", "flush-tube t all ", "list-jobs t ready 0 0",
                     "list-jobs t ready 0 1001", "list-jobs t all 0 1", "list-jobs t ready -1 1",
                     "list-jobs t ready 0", "move-jobs a b reserved 1", "move-jobs a b all 1",
                     "move-jobs a b ready", "move-jobs a b ready 4294967296",
                     "reserve-batch 0 1", "reserve-batch 1001 1", "reserve-batch 1",
                     "reserve-batch 1 -1", "reserve-batch 1 1 1", "list-jobs a" + "b" * 200
                     + " ready 0 1"]:
            self.assertEqual(c.cmd(line), b"BAD_FORMAT\r\n", line)
        # A line past beanstalkd's 224 bytes is BAD_FORMAT by the framing, as for any command.
        self.assertEqual(c.cmd("move-jobs %s %s ready 1" % ("a" * 200, "b" * 20)),
                         b"BAD_FORMAT\r\n")
        self.assertEqual(c.cmd("flush-tube"), b"UNKNOWN_COMMAND\r\n")
        # The connection is still fine and nothing else changed.
        self.assertEqual(c.cmd("list-tube-used"), b"USING default\r\n")

    def test_flush_each_state_and_all_never_reserved(self):
        c = self.client()
        w = self.client()
        ready = [self.put_on(c, "fl", b"r%d" % i) for i in range(5)]
        delayed = [self.put_on(c, "fl", b"d%d" % i, delay=600) for i in range(3)]
        buried = self.bury(c, "fl", 2)
        self.watch_only(w, "fl")
        w.send(b"reserve-job %d\r\n" % ready[0])
        self.assertEqual(w.read_job("RESERVED")[0], ready[0])
        self.assertEqual(c.cmd("flush-tube fl buried"), b"FLUSHED 2\r\n")
        self.assertEqual(c.cmd("flush-tube fl buried"), b"FLUSHED 0\r\n")
        self.assertEqual(c.cmd("flush-tube fl delayed"), b"FLUSHED 3\r\n")
        self.put_on(c, "fl", b"late", delay=600)
        self.bury(c, "fl", 1)
        self.assertEqual(c.cmd("flush-tube fl all"), b"FLUSHED 6\r\n")  # 4 ready, 1, 1
        for jid in buried + delayed + ready[1:]:
            self.assertEqual(c.cmd("peek %d" % jid), b"NOT_FOUND\r\n")
        # The reserved job is untouched and still its worker's.
        self.assertEqual(w.cmd("delete %d" % ready[0]), b"DELETED\r\n")
        self.assertEqual(c.cmd("flush-tube nosuchtube all"), b"FLUSHED 0\r\n")
        # stats-tube: the tube's cmd-delete did not count the flush.
        c.send(b"stats-tube fl\r\n")
        st = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        self.assertEqual(st["cmd-delete"], "1")
        self.assertEqual(st["current-jobs-ready"], "0")

    def test_flush_in_chunks_then_pipelined_commands_run(self):
        c = self.client()
        n = 5000  # several CMD_BULK_CHUNKs
        self.use(c, "big")
        c.send(b"".join(b"put 0 0 60 1\r\nx\r\n" for _ in range(n)))
        for _ in range(n):
            self.assertTrue(c.read_line().startswith(b"INSERTED "))
        c.send(b"flush-tube big ready\r\nlist-tube-used\r\n")
        self.assertEqual(c.read_line(), b"FLUSHED %d\r\n" % n)
        self.assertEqual(c.read_line(), b"USING big\r\n")

    def test_list_jobs_fields_paging_and_states(self):
        c = self.client()
        ids = [self.put_on(c, "ls", b"body%d" % i, pri=i) for i in range(7)]
        self.put_on(c, "other", b"o")  # another tube's ids in the range are skipped
        delayed = self.put_on(c, "ls", b"dd", pri=3, delay=100)
        page = self.list_jobs(c, "ls", "ready", 0, 3)
        self.assertEqual([j["id"] for j in page], ids[:3])
        self.assertEqual(list(page[0].keys()), LIST_KEYS)
        self.assertEqual((page[1]["pri"], page[1]["size"]), (1, 5))
        seen = []
        after = 0
        while True:
            page = self.list_jobs(c, "ls", "ready", after, 2)
            if not page:
                break
            seen += [j["id"] for j in page]
            after = page[-1]["id"]
        self.assertEqual(seen, ids)
        d = self.list_jobs(c, "ls", "delayed")
        self.assertEqual([j["id"] for j in d], [delayed])
        self.assertEqual(d[0]["delay"], 100)
        self.assertTrue(95 <= d[0]["time-left"] <= 100, d[0])
        self.assertEqual(self.list_jobs(c, "ls", "buried"), [])
        self.assertEqual(self.list_jobs(c, "nosuchtube", "ready"), [])
        self.watch_only(c, "ls")
        c.send(b"reserve-job %d\r\n" % ids[4])
        c.read_job("RESERVED")
        r = self.list_jobs(c, "ls", "reserved")
        self.assertEqual([(j["id"], j["reserves"]) for j in r], [(ids[4], 1)])
        self.assertEqual([j["id"] for j in self.list_jobs(c, "ls", "ready", ids[3])],
                         ids[5:])

    def test_move_keeps_id_state_pri_delay_and_counters(self):
        c = self.client()
        buried = self.bury(c, "dead", 3, pri=77)
        # One of them was kicked and buried again: every counter is non-zero somewhere.
        self.use(c, "dead")
        self.assertEqual(c.cmd("kick-job %d" % buried[0]), b"KICKED\r\n")
        c.send(b"reserve-job %d\r\n" % buried[0])
        c.read_job("RESERVED")
        self.assertEqual(c.cmd("release %d 77 0" % buried[0]), b"RELEASED\r\n")
        c.send(b"reserve-job %d\r\n" % buried[0])
        c.read_job("RESERVED")
        self.assertEqual(c.cmd("bury %d 77" % buried[0]), b"BURIED\r\n")
        before = {j: self.stats_job(c, j) for j in buried}
        delayed = self.put_on(c, "dead", b"later", pri=9, delay=300)
        self.assertEqual(c.cmd("move-jobs dead work buried 2"), b"MOVED 2\r\n")
        self.assertEqual(c.cmd("move-jobs dead work buried 1000"), b"MOVED 1\r\n")
        self.assertEqual(c.cmd("move-jobs dead work buried 1000"), b"MOVED 0\r\n")
        self.assertEqual(c.cmd("move-jobs dead dead delayed 10"), b"MOVED 0\r\n")
        self.assertEqual(c.cmd("move-jobs nosuch work ready 10"), b"MOVED 0\r\n")
        for j in buried:
            after = self.stats_job(c, j)
            want = dict(before[j], tube="work")
            for k in ("age", "file"):
                want.pop(k)
                after.pop(k)
            self.assertEqual(after, want, "job %d" % j)
        self.assertEqual(c.cmd("move-jobs dead work delayed 5"), b"MOVED 1\r\n")
        st = self.stats_job(c, delayed)
        self.assertEqual((st["tube"], st["state"], st["pri"], st["delay"]),
                         ("work", "delayed", "9", "300"))
        self.assertTrue(290 <= int(st["time-left"]) <= 300, st)
        # Moved buried jobs kick (oldest burial first) in their new tube.
        self.use(c, "work")
        self.assertEqual(c.cmd("kick 10"), b"KICKED 3\r\n")

    def test_move_ready_serves_a_waiting_worker(self):
        c = self.client()
        w = self.client()
        jid = self.put_on(c, "src", b"redrive")
        self.watch_only(w, "dst")
        w.send(b"reserve-with-timeout 10\r\n")
        w.expect_silence(0.2)
        self.assertEqual(c.cmd("move-jobs src dst ready 1"), b"MOVED 1\r\n")
        self.assertEqual(w.read_job("RESERVED"), (jid, b"redrive"))

    def test_reserve_batch_takes_up_to_max_in_reserve_order(self):
        c = self.client()
        ids = [self.put_on(c, "default", b"j%d" % i, pri=10 - i) for i in range(5)]
        got = self.read_batch(c) if c.send(b"reserve-batch 3 0\r\n") is None else None
        self.assertEqual([j for j, _ in got], [ids[4], ids[3], ids[2]])
        self.assertEqual(got[0][1], b"j4")
        c.send(b"reserve-batch 1000 0\r\n")
        self.assertEqual([j for j, _ in self.read_batch(c)], [ids[1], ids[0]])
        self.assertEqual(c.cmd("reserve-batch 5 0"), b"TIMED_OUT\r\n")
        st = self.stats_job(c, ids[0])
        self.assertEqual((st["state"], st["reserves"]), ("reserved", "1"))

    def test_reserve_batch_waits_then_takes_what_is_ready(self):
        c = self.client()
        p = self.client()
        c.send(b"reserve-batch 10 20\r\nlist-tube-used\r\n")
        c.expect_silence(0.2)
        # A put that makes two jobs ready in one packet: the wait ends with both.
        p.send(b"put 0 0 60 1\r\na\r\nput 0 0 60 1\r\nb\r\n")
        self.assertTrue(p.read_line().startswith(b"INSERTED "))
        self.assertTrue(p.read_line().startswith(b"INSERTED "))
        got = self.read_batch(c)
        self.assertIn(len(got), (1, 2))
        self.assertEqual(got[0][1], b"a")
        self.assertEqual(c.read_line(), b"USING default\r\n")

    def test_reserve_batch_times_out_and_deadline_soon(self):
        c = self.client()
        t0 = time.monotonic()
        self.assertEqual(c.cmd("reserve-batch 4 1", timeout=10), b"TIMED_OUT\r\n")
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        self.put(c, b"short", ttr=2)
        c.send(b"reserve-batch 4 0\r\n")
        self.assertEqual(len(self.read_batch(c)), 1)
        # Holding a job whose TTR ends within a second: DEADLINE_SOON, as reserve answers.
        self.assertEqual(c.cmd("reserve-batch 4 10", timeout=10), b"DEADLINE_SOON\r\n")


class BulkDurability(sqharness.LogDirServers, BulkBase):
    """flush-tube and move-jobs survive kill -9 and a restart with -b, also compaction."""

    def _scenario(self, extra):
        srv = self.start(extra)
        c = self.client(srv)
        keep = [self.put_on(c, "a", b"keep%d" % i) for i in range(20)]
        gone = [self.put_on(c, "a", b"gone%d" % i, delay=600) for i in range(30)]
        moved = self.bury(c, "dead", 10, pri=42)
        self.use(c, "dead")
        self.assertEqual(c.cmd("kick-job %d" % moved[0]), b"KICKED\r\n")
        c.send(b"reserve-job %d\r\n" % moved[0])
        c.read_job("RESERVED")
        self.assertEqual(c.cmd("bury %d 42" % moved[0]), b"BURIED\r\n")
        before = self.stats_job(c, moved[0])
        mdelay = self.put_on(c, "dead", b"md", pri=8, delay=500)
        self.assertEqual(c.cmd("flush-tube a delayed"), b"FLUSHED 30\r\n")
        self.assertEqual(c.cmd("move-jobs dead work buried 100"), b"MOVED 10\r\n")
        self.assertEqual(c.cmd("move-jobs dead work delayed 100"), b"MOVED 1\r\n")
        # Enough traffic after the changes to rotate small segments and compact the old ones.
        if extra:
            self.use(c, "churn")
            for i in range(300):
                jid = self.put(c, b"c" * 400)
                self.assertEqual(c.cmd("delete %d" % jid), b"DELETED\r\n")
        for _ in range(2):
            srv = self.kill9_restart(srv, extra)
            c = self.client(srv)
            for jid in gone:
                self.assertEqual(c.cmd("peek %d" % jid), b"NOT_FOUND\r\n")
            self.assertEqual([j["id"] for j in self.list_jobs(c, "a", "ready")], keep)
            self.assertEqual([j["id"] for j in self.list_jobs(c, "work", "buried")], moved)
            self.assertEqual(self.list_jobs(c, "dead", "buried"), [])
            after = self.stats_job(c, moved[0])
            for k in ("reserves", "releases", "buries", "kicks", "pri", "state"):
                self.assertEqual(after[k], before[k], k)
            self.assertEqual(after["tube"], "work")
            st = self.stats_job(c, mdelay)
            self.assertEqual((st["tube"], st["state"], st["pri"]), ("work", "delayed", "8"))
            self.assertTrue(0 < int(st["time-left"]) <= 500, st)

    def test_survive_kill9(self):
        self._scenario(())

    def test_survive_kill9_after_compaction(self):
        self._scenario(["-s", "8192", "-z", "1024"])


sqharness.register(globals(), BulkCommands, BulkDurability, only=("synqd",))

if __name__ == "__main__":
    sqharness.main()
