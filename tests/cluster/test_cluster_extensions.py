"""Every extension command (issue 16) on a 3-node cluster, through the leader
and through a follower, then the state each command left checked again after
a kill -9 of the leader, after a whole-cluster restart, and on a node that
caught up through a Raft snapshot (InstallSnapshot).

Followers relay clients to the leader, so the state is read through the
leader and every node's stats-cluster digest must equal the others'.
Timing is never asserted tightly: deadlines get generous windows.

Exits 77 (ctest: skipped) with the reason when synqd has no --node."""

import os
import re
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
from cluster import Cluster  # noqa: E402
from sqharness import parse_yaml  # noqa: E402

ELECTION_TIMEOUT_MS = 500
# The nodes' --snapshot-entries: small, so a snapshot is taken and installed within the test
# (the default, 8192, would need thousands of entries).
SNAPSHOT_THRESHOLD = 256
SETTINGS = ("max-reserves", "dead-letter", "retry-backoff", "max-reserved", "rate", "expire")


def put(c, tube, body, pri=0, delay=0, ttr=60, key=None):
    c.cmd("use %s" % tube)
    cmd = ("put-unique %s " % key if key else "put ") + "%d %d %d %d" % (pri, delay, ttr,
                                                                         len(body))
    c.send(cmd.encode() + b"\r\n" + body + b"\r\n")
    return c.read_line()


def put_id(c, tube, body, **kw):
    line = put(c, tube, body, **kw)
    m = re.fullmatch(rb"(?:INSERTED|BURIED) (\d+)\r\n", line)
    if not m:
        raise AssertionError("put: got %r" % line)
    return int(m.group(1))


def yaml_cmd(c, line):
    c.send(line.encode() + b"\r\n")
    return parse_yaml(c.read_yaml_reply())


def list_ids(c, tube, state):
    """Every id of the tube in that state, paging two at a time."""
    ids, after = [], 0
    while True:
        c.send(b"list-jobs %s %s %d 2\r\n" % (tube.encode(), state.encode(), after))
        data = c.read_yaml_reply()
        got = re.findall(rb"^- id: (\d+)$", data, re.M)
        if data != b"--- []\n" and not got:
            raise AssertionError("list-jobs: a page without ids: %r" % data)
        got = [int(x) for x in got]
        if not got:
            return ids
        ids += got
        after = got[-1]


def job_stats(c, job_id):
    c.send(b"stats-job %d\r\n" % job_id)
    line = c.read_line()
    if line == b"NOT_FOUND\r\n":
        return None
    m = re.fullmatch(rb"OK (\d+)\r\n", line)
    if not m:
        raise AssertionError("stats-job %d: got %r" % (job_id, line))
    return dict(parse_yaml(c.read_exact(int(m.group(1)) + 2)[:-2]))


class ExtensionsCase(unittest.TestCase):
    # ------------------------------------------------------------ populate

    def populate(self, c):
        """Every extension, alternating leader and follower; returns what
        the checks after a failover or restart expect."""
        leader = c.wait_leader(10)
        follower = next(i for i in c.running() if i != leader)
        exp = {}
        with c.client(leader) as lc, c.client(follower) as fc:
            # flush-tube: each state, then all.
            for cl, tube in ((lc, "fl"), (fc, "fa")):
                put_id(cl, tube, b"r")
                put_id(cl, tube, b"d", delay=3600)
                bid = put_id(cl, tube, b"b")
                cl.cmd("watch %s" % tube)
                cl.send(b"reserve-job %d\r\n" % bid)
                cl.read_job("RESERVED")
                self.assertEqual(cl.cmd("bury %d 0" % bid), b"BURIED\r\n")
                cl.cmd("ignore %s" % tube)
            for state in ("ready", "delayed", "buried"):
                self.assertEqual(lc.cmd("flush-tube fl %s" % state), b"FLUSHED 1\r\n")
            self.assertEqual(fc.cmd("flush-tube fa all"), b"FLUSHED 3\r\n")

            # list-jobs paging (checked again later).
            exp["pg"] = [put_id(fc if k % 2 else lc, "pg", b"p%d" % k) for k in range(5)]
            self.assertEqual(list_ids(fc, "pg", "ready"), exp["pg"])

            # move-jobs: a buried job with counters, a delayed one with its delay.
            mid = put_id(lc, "mvsrc", b"m", pri=7)
            lc.cmd("watch mvsrc")
            lc.send(b"reserve-job %d\r\n" % mid)
            lc.read_job("RESERVED")
            self.assertEqual(lc.cmd("release %d 7 0" % mid), b"RELEASED\r\n")
            lc.send(b"reserve-job %d\r\n" % mid)
            lc.read_job("RESERVED")
            self.assertEqual(lc.cmd("bury %d 9" % mid), b"BURIED\r\n")
            lc.cmd("ignore mvsrc")
            did = put_id(lc, "mvsrc", b"md", pri=3, delay=3600)
            self.assertEqual(fc.cmd("move-jobs mvsrc mvdst buried 10"), b"MOVED 1\r\n")
            self.assertEqual(lc.cmd("move-jobs mvsrc mvdst delayed 10"), b"MOVED 1\r\n")
            exp["moved"] = {mid: {"tube": "mvdst", "state": "buried", "pri": "9",
                                  "reserves": "2", "releases": "1", "buries": "1"},
                            did: {"tube": "mvdst", "state": "delayed", "pri": "3"}}

            # reserve-batch through the follower: two deleted, one left reserved.
            rb = [put_id(lc, "rb", b"rb%d" % k) for k in range(3)]
            fc.cmd("watch rb")
            fc.cmd("ignore default")
            self.assertEqual(fc.cmd("reserve-batch 10 1"), b"RESERVED_BATCH 3\r\n")
            got = [fc.read_job("RESERVED")[0] for _ in rb]
            self.assertEqual(sorted(got), rb)
            for jid in rb[:2]:
                self.assertEqual(fc.cmd("delete %d" % jid), b"DELETED\r\n")
            exp["rb"] = rb[2]  # released to ready by the failover or restart

            # put-unique: EXISTS while alive, key released on delete.
            uid = put_id(fc, "uq", b"u1", key="k-live")
            self.assertEqual(put(lc, "uq", b"u1b", key="k-live"), b"EXISTS %d\r\n" % uid)
            gone = put_id(lc, "uq", b"u2", key="k-gone")
            self.assertEqual(fc.cmd("delete %d" % gone), b"DELETED\r\n")
            exp["uq"] = (uid, gone)

            # tube-set, every setting.
            conf = {"dl": {"max-reserves": "1", "dead-letter": '"dlq"'},
                    "bo": {"retry-backoff": "3000"}, "mr": {"max-reserved": "1"},
                    "rt": {"rate": "1"}, "ex": {"expire": "4", "dead-letter": '"exq"'}}
            for k, (tube, settings) in enumerate(sorted(conf.items())):
                for name, value in settings.items():
                    cl = fc if k % 2 else lc
                    self.assertEqual(cl.cmd("tube-set %s %s %s" % (tube, name, value.strip('"'))),
                                     b"SET\r\n")
            exp["conf"] = conf
            # max-reserves 1 + dead-letter: a release moves the job to dlq.
            dl = put_id(lc, "dl", b"dead")
            lc.cmd("watch dl")
            lc.send(b"reserve-job %d\r\n" % dl)
            lc.read_job("RESERVED")
            self.assertEqual(lc.cmd("release %d 0 0" % dl), b"RELEASED\r\n")
            lc.cmd("ignore dl")
            st = job_stats(lc, dl)
            self.assertEqual((st["tube"], st["state"]), ("dlq", "ready"))
            self.assertEqual(dict(yaml_cmd(fc, "tube-info dl"))["dead-lettered"], "1")
            exp["dl"] = dl
            # retry-backoff: TTR 1 runs out, the job comes back delayed.
            bo = put_id(lc, "bo", b"backoff", ttr=1)
            lc.cmd("watch bo")
            lc.send(b"reserve-job %d\r\n" % bo)
            lc.read_job("RESERVED")
            lc.cmd("ignore bo")
            self.wait_for(lambda: job_stats(lc, bo)["state"] == "delayed", 10, "bo delayed")
            exp["bo"] = bo
            # max-reserved 1: a second reserve waits while one is held.
            mr = [put_id(lc, "mr", b"mr%d" % k) for k in range(2)]
            fc.cmd("watch mr")
            fc.cmd("ignore rb")
            fc.send(b"reserve-with-timeout 2\r\n")
            first, _ = fc.read_job("RESERVED")
            self.assertEqual(fc.cmd("reserve-with-timeout 0"), b"TIMED_OUT\r\n")
            self.assertEqual(fc.cmd("delete %d" % first), b"DELETED\r\n")
            exp["mr"] = [j for j in mr if j != first]
            # pause.
            exp["ps"] = put_id(lc, "ps", b"paused")
            self.assertEqual(lc.cmd("pause-tube ps 3600"), b"PAUSED\r\n")
        return exp

    # ------------------------------------------------------------ checks

    def check_state(self, c, node, exp, pause=True):
        """The state populate left, read through `node` (itself or its leader)."""
        with c.client(node, timeout=10) as cl:
            for tube in ("fl", "fa"):
                for state in ("ready", "delayed", "buried"):
                    self.assertEqual(list_ids(cl, tube, state), [], (tube, state))
            self.assertEqual(list_ids(cl, "pg", "ready"), exp["pg"])
            for jid, want in exp["moved"].items():
                st = job_stats(cl, jid)
                self.assertIsNotNone(st, "moved job %d" % jid)
                self.assertEqual({k: st[k] for k in want}, want, "moved job %d" % jid)
            st = job_stats(cl, [j for j, w in exp["moved"].items() if w["state"] == "delayed"][0])
            self.assertGreater(int(st["time-left"]), 3000, "the moved job kept its delay")
            self.assertEqual(list_ids(cl, "mvsrc", "buried") + list_ids(cl, "mvsrc", "delayed"),
                             [])
            self.assertEqual(list_ids(cl, "rb", "ready"), [exp["rb"]])
            uid = exp["uq"][0]
            self.assertEqual(put(cl, "uq", b"again", key="k-live"), b"EXISTS %d\r\n" % uid)
            for tube, settings in exp["conf"].items():
                info = dict(yaml_cmd(cl, "tube-info %s" % tube))
                for name in SETTINGS:
                    want = settings.get(name, '"-"' if name == "dead-letter" else "0")
                    self.assertEqual(info[name], want, "tube-info %s %s" % (tube, name))
            st = job_stats(cl, exp["dl"])
            self.assertEqual((st["tube"], st["state"], st["reserves"]), ("dlq", "ready", "1"))
            # tube-info's dead-lettered and expired are each node's own counters (not
            # replicated, docs/cluster.md): check_live counts a dead letter on the leader.
            bo = job_stats(cl, exp["bo"])
            self.assertEqual(bo["timeouts"], "1")
            self.assertIn(bo["state"], ("delayed", "ready"))
            self.assertEqual(list_ids(cl, "mr", "ready"), exp["mr"])
            if pause:
                tube = dict(yaml_cmd(cl, "stats-tube ps"))
                # After a restart the pause is rebuilt from its end's wall time: 3599 or 3600.
                self.assertIn(tube["pause"], ("3599", "3600"))
                self.assertGreater(int(tube["pause-time-left"]), 3000)
            self.assertEqual(list_ids(cl, "ps", "ready"), [exp["ps"]])

    def check_live(self, c, node, exp):
        """Checks that change the state: run once, after check_state."""
        with c.client(node, timeout=10) as cl:
            uid, gone = exp["uq"]
            fresh = put_id(cl, "uq", b"again", key="k-gone")
            self.assertNotIn(fresh, (uid, gone))
            self.assertEqual(cl.cmd("delete %d" % fresh), b"DELETED\r\n")
            # backoff: the delayed job comes back ready (3 s) after the failover.
            self.wait_for(lambda: job_stats(cl, exp["bo"])["state"] == "ready", 20, "bo ready")
            # max-reserved still caps: reserve the last mr job, then nothing more.
            cl.cmd("watch mr")
            cl.cmd("ignore default")
            cl.send(b"reserve-with-timeout 5\r\n")
            held, _ = cl.read_job("RESERVED")
            self.assertEqual([held], exp["mr"])
            mr2 = put_id(cl, "mr", b"mr-after")
            self.assertEqual(cl.cmd("reserve-with-timeout 0"), b"TIMED_OUT\r\n")
            self.assertEqual(cl.cmd("delete %d" % held), b"DELETED\r\n")
            self.assertEqual(cl.cmd("delete %d" % mr2), b"DELETED\r\n")
            # max-reserves 1 still dead-letters.
            counted = int(dict(yaml_cmd(cl, "tube-info dl"))["dead-lettered"])
            dl2 = put_id(cl, "dl", b"dead2")
            cl.send(b"reserve-job %d\r\n" % dl2)
            cl.read_job("RESERVED")
            self.assertEqual(cl.cmd("release %d 0 0" % dl2), b"RELEASED\r\n")
            self.assertEqual(job_stats(cl, dl2)["tube"], "dlq")
            self.assertEqual(dict(yaml_cmd(cl, "tube-info dl"))["dead-lettered"], str(counted + 1))
            # rate 1 still limits: of 6 reserves in a row at most the full bucket (1) and
            # one a second since pass (the window is measured, so a slow machine passes).
            rt = [put_id(cl, "rt", b"rt%d" % k) for k in range(6)]
            cl.cmd("watch rt")
            cl.cmd("ignore mr")
            got, start = [], time.monotonic()
            for _ in rt:
                cl.send(b"reserve-with-timeout 0\r\n")
                line = cl.read_line()
                if line != b"TIMED_OUT\r\n":
                    cl.buf = line + cl.buf
                    got.append(cl.read_job("RESERVED")[0])
            elapsed = time.monotonic() - start
            self.assertGreaterEqual(len(got), 1)
            self.assertLessEqual(len(got), 1 + int(elapsed) + 1, "rate 1: %d reserves in %.1f s"
                                 % (len(got), elapsed))
            for jid in rt:
                self.assertEqual(cl.cmd("delete %d" % jid), b"DELETED\r\n")
            # expire 4 still applies: a job put now goes to exq within a generous window.
            ex = put_id(cl, "ex", b"expires")
            self.wait_for(lambda: job_stats(cl, ex)["tube"] == "exq", 20, "ex expired")

    def wait_for(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                self.fail("%s: not within %.0f s" % (what, timeout))
            time.sleep(0.1)

    def converged(self, c, ids, timeout=20.0):
        """Wait until the nodes `ids` report the same applied-index, jobs, digest."""
        deadline = time.monotonic() + timeout
        while True:
            last = {i: c.try_stats(i) for i in ids}
            if None not in last.values() and all(
                    len({st.get(f) for st in last.values()}) == 1
                    for f in ("applied-index", "jobs", "digest")):
                return last
            if time.monotonic() > deadline:
                self.fail("nodes %s did not converge: %s" % (ids, {
                    i: st and {f: st.get(f) for f in ("applied-index", "jobs", "digest")}
                    for i, st in last.items()}))
            time.sleep(0.1)

    def snapshot_path(self, node_dir):
        """Whether the node caught up through InstallSnapshot (it holds a snapshot and no
        log entry before it) or through entries and then took its own snapshot; fails when
        it holds no snapshot. libraft's file names: snapshot-TERM-INDEX-TIME, closed
        segments FIRST-LAST."""
        names = os.listdir(os.path.join(node_dir, "raft"))
        snaps = [int(m.group(1)) for m in (re.fullmatch(r"snapshot-\d+-(\d+)-\d+", n)
                                          for n in names) if m]
        firsts = [int(m.group(1)) for m in (re.fullmatch(r"(\d{16})-\d{16}", n)
                                           for n in names) if m]
        self.assertTrue(snaps, "no snapshot on the lagging node: %s" % sorted(names))
        return "InstallSnapshot" if all(f > min(snaps) for f in firsts) else "entries"

    # ------------------------------------------------------------ tests

    def test_leader_kill9(self):
        with Cluster(3, ELECTION_TIMEOUT_MS) as c:
            exp = self.populate(c)
            old = c.wait_leader(10)
            self.converged(c, list(c.nodes))
            c.kill9(old)
            rest = [i for i in c.nodes if i != old]
            new = c.wait_leader(10, among=rest)
            self.converged(c, rest)
            for i in rest:
                self.check_state(c, i, exp)  # through the new leader and its follower
            c.restart(old)
            c.wait_leader(10)
            self.converged(c, list(c.nodes))
            self.check_state(c, old, exp)
            self.check_live(c, new, exp)
            self.converged(c, list(c.nodes))
            self.assertEqual(c.crashes(), {})

    def test_whole_cluster_restart(self):
        with Cluster(3, ELECTION_TIMEOUT_MS) as c:
            exp = self.populate(c)
            before = self.converged(c, list(c.nodes))
            for i in c.nodes:
                c.kill9(i)
            for i in c.nodes:
                c.restart(i)
            leader = c.wait_leader(15)
            after = self.converged(c, list(c.nodes))
            self.assertEqual({st["digest"] for st in after.values()},
                             {st["digest"] for st in before.values()})
            self.check_state(c, leader, exp)
            self.check_live(c, leader, exp)
            self.assertEqual(c.crashes(), {})

    def test_snapshot_installed_on_lagging_node(self):
        with Cluster(3, ELECTION_TIMEOUT_MS,
                     extra_args=("--snapshot-entries", SNAPSHOT_THRESHOLD)) as c:
            leader = c.wait_leader(10)
            lagging = next(i for i in c.nodes if i != leader)
            c.kill9(lagging)
            exp = self.populate(c)
            # More than a snapshot threshold of entries (one put, one delete each), so the
            # leader snapshots and compacts the log past what the lagging node has.
            # A leader declines a snapshot while changes are uncommitted and libraft asks
            # again later, so go on until the leader has one on disk.
            leader = c.wait_leader(10)
            raft_dir = os.path.join(c.nodes[leader].dir, "raft")
            # Then 200 more puts and deletes: the snapshot's file is on disk before libraft
            # compacts its log behind it.
            extra = None
            with c.client(leader) as lc:
                for k in range(4 * SNAPSHOT_THRESHOLD):
                    if extra is None and k >= SNAPSHOT_THRESHOLD // 2 and k % 50 == 0 and any(
                            n.startswith("snapshot-") for n in os.listdir(raft_dir)):
                        extra = k + 200
                    if k == extra:
                        break
                    jid = put_id(lc, "filler", b"f")
                    self.assertEqual(lc.cmd("delete %d" % jid), b"DELETED\r\n")
                else:
                    self.fail("the leader took no snapshot in %d entries (a put and a delete each)"
                              % (8 * SNAPSHOT_THRESHOLD))
            c.restart(lagging)
            self.converged(c, list(c.nodes), timeout=30)
            with open(c.nodes[lagging].log_path, "rb") as f:
                log = f.read().decode("utf-8", "replace")
            self.assertNotIn("installing a snapshot:", log)  # the failure message
            # libraft 0.15 sometimes sends the entries although it compacted its log behind
            # the snapshot (about half the runs here); either way the node then restarts
            # from a snapshot: its own store rebuilt by replog_restore plus the entries after.
            print("lagging node %d caught up through %s"
                  % (lagging, self.snapshot_path(c.nodes[lagging].dir)))
            c.kill9(lagging)
            c.restart(lagging)
            self.converged(c, list(c.nodes), timeout=30)
            # Make the lagging node the leader: kill leaders until it is elected. Who wins an
            # election is the nodes' random timeouts' choice (a sanitizer build once lost six
            # in a row), so after ten tries the leader-side checks are left out, saying so:
            # converged() above already found its store's digest equal to the others'.
            for _ in range(10):
                now = c.wait_leader(10)
                if now == lagging:
                    break
                c.kill9(now)
                c.wait_leader(10, among=[i for i in c.nodes if i != now])
                c.restart(now)
                self.converged(c, list(c.nodes), timeout=30)
            if c.wait_leader(10) == lagging:
                # A snapshot holds jobs and tube settings, not a pause in progress
                # (docs/cluster.md).
                self.check_state(c, lagging, exp, pause=False)
                self.check_live(c, lagging, exp)
            else:
                print("the lagging node never led in ten elections: its state was checked by "
                      "digest only")
            self.assertEqual(c.crashes(), {})


def main():
    cluster.skip_unless_cluster()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so atexit stops the nodes
    prog = unittest.main(exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
