"""The order of buried jobs (the one kick and peek-buried take) after every node of a 3-node
cluster restarts, against a single synqd and Debian's beanstalkd fed the same commands and
restarted on their logs (-b -f 0): all three must give the same order. Within a run it is the
burial order; after a restart beanstalkd gives id order (its replay rebuilds the buried lists
in the order its binlog first names each job), and so must synqd, single or cluster.

Cases: a clean restart of every node (SIGTERM), a kill -9 of every node with snapshots taken
(--snapshot-entries 16: the restart restores a snapshot and replays the log after it), and a
failover (kill -9 of the leader alone), which orders the buried jobs as a restart does.

Exits 77 (ctest: skipped) with the reason when synqd has no --node."""

import os
import re
import shutil
import signal
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
import sqharness  # noqa: E402
from cluster import Cluster  # noqa: E402

ELECTION_TIMEOUT_MS = 500
TUBES = ("t1", "t2")


def script(filler=0):
    """Commands that leave each tube's buried jobs in an order that is not their ids': eight
    puts over two tubes, the newer the more urgent (reserve takes the newest first), each
    reserved and buried, then two kicked and buried again. `filler` puts and deletes before
    them make that many Raft entries more (for snapshots)."""
    cmds = [("use filler", None)]
    for k in range(filler):
        cmds += [("put 0 0 60 1", b"f"), ("delete %d" % (k + 1), None)]
    for k in range(8):
        cmds += [("use %s" % TUBES[k % 2], None), ("put %d 0 60 2" % (100 - k), b"j%d" % k)]
    for tube in TUBES:
        cmds.append(("watch %s" % tube, None))
    cmds.append(("ignore default", None))
    for _ in range(8):
        cmds += [("reserve-with-timeout 0", None), ("bury-reserved", None)]
    for tube in TUBES:
        cmds += [("use %s" % tube, None), ("kick 1", None)]
    for _ in range(2):
        cmds += [("reserve-with-timeout 0", None), ("bury-reserved", None)]
    return cmds


def run_script(c, cmds):
    """Runs the script on one client; returns the replies (what is compared between servers)."""
    replies, last = [], None
    for line, body in cmds:
        if line == "bury-reserved":
            line = "bury %d 7" % last
        c.send(line.encode() + b"\r\n" + (body + b"\r\n" if body is not None else b""))
        reply = c.read_line()
        m = re.fullmatch(rb"RESERVED (\d+) (\d+)\r\n", reply)
        if m:
            last = int(m.group(1))
            reply += c.read_exact(int(m.group(2)) + 2)
        replies.append(reply)
    return replies


def buried_order(c):
    """{tube: [ids]}: each tube's buried jobs in the order peek-buried names them, each kicked
    once read (so the next is named)."""
    out = {}
    for tube in TUBES:
        assert c.cmd("use %s" % tube) == b"USING %s\r\n" % tube.encode()
        ids = []
        while True:
            c.send(b"peek-buried\r\n")
            line = c.read_line()
            if line == b"NOT_FOUND\r\n":
                break
            m = re.fullmatch(rb"FOUND (\d+) (\d+)\r\n", line)
            assert m, line
            c.read_exact(int(m.group(2)) + 2)
            ids.append(int(m.group(1)))
            assert c.cmd("kick-job %d" % ids[-1]) == b"KICKED\r\n"
        out[tube] = ids
    return out


def first_buried(c):
    """{tube: id} that peek-buried names now (changes nothing)."""
    out = {}
    for tube in TUBES:
        c.cmd("use %s" % tube)
        c.send(b"peek-buried\r\n")
        line = c.read_line()
        m = re.fullmatch(rb"FOUND (\d+) (\d+)\r\n", line)
        assert m, line
        c.read_exact(int(m.group(2)) + 2)
        out[tube] = int(m.group(1))
    return out


class BurialOrderCase(unittest.TestCase):
    def references(self, stack):
        """A single synqd and (when installed) beanstalkd, each on a log of its own."""
        refs = {}
        kinds = ["synqd"] + (["beanstalkd"] if os.path.exists(sqharness.BEANSTALKD) else [])
        for kind in kinds:
            d = tempfile.mkdtemp(prefix="synq-burial-%s-" % kind)
            stack.append(d)
            refs[kind] = sqharness.Server(kind, ["-b", d, "-f", "0"]).start()
        return refs

    def check(self, c, restart_cluster, filler=0):
        cmds, dirs = script(filler), []
        refs = self.references(dirs)
        try:
            leader = c.wait_leader(10)
            with c.client(leader) as lc:
                got = run_script(lc, cmds)
                live = first_buried(lc)
            for kind, srv in refs.items():
                with sqharness.Client(srv.port) as rc:
                    self.assertEqual(run_script(rc, cmds), got, kind)
                    self.assertEqual(first_buried(rc), live, kind)
            # Within the run: the burial order, which here is not the ids' order.
            self.assertNotEqual(live, {t: min(ids) for t, ids in
                                       self.buried_ids(c, leader).items()})
            restart_cluster(c)
            for srv in refs.values():
                srv.restart()
            want = {}
            for kind, srv in refs.items():
                with sqharness.Client(srv.port) as rc:
                    want[kind] = buried_order(rc)
            # Read through the leader: a relay through a follower is closed if leadership
            # moves once more while the restarted nodes settle. The failover case has a
            # former follower lead, so a follower's order is read there.
            leader = c.wait_leader(15)
            c.wait_converged(20)
            with c.client(c.wait_leader(15)) as lc:
                mine = buried_order(lc)
            for kind, order in want.items():
                self.assertEqual(mine, order, "the cluster against %s" % kind)
            self.assertEqual(mine, {t: sorted(ids) for t, ids in mine.items()})
            self.assertEqual(c.crashes(), {})
        finally:
            for srv in refs.values():
                srv.stop()
            for d in dirs:
                shutil.rmtree(d, True)

    def buried_ids(self, c, node):
        out = {}
        with c.client(node) as lc:
            for tube in TUBES:
                lc.send(b"list-jobs %s buried 0 100\r\n" % tube.encode())
                out[tube] = [int(x) for x in re.findall(rb"^- id: (\d+)$",
                                                        lc.read_yaml_reply(), re.M)]
        return out

    def test_every_node_restarted(self):
        def restart_all(c):
            for i in c.nodes:
                c.stop_node(i)
            for i in c.nodes:
                c.restart(i)
        with Cluster(3, ELECTION_TIMEOUT_MS) as c:
            self.check(c, restart_all)

    def test_every_node_killed_after_snapshots(self):
        def kill_all(c):
            for i in c.nodes:
                c.kill9(i)
            for i in c.nodes:
                c.restart(i)
        with Cluster(3, ELECTION_TIMEOUT_MS, extra_args=["--snapshot-entries", "16"]) as c:
            self.check(c, kill_all, filler=40)
            snaps = [f for n in c.nodes.values() for f in os.listdir(os.path.join(n.dir, "raft"))
                     if f.startswith("snapshot-")]
            self.assertTrue(snaps, "no node took a snapshot: the restore path went untested")

    def test_a_failover_orders_them_as_a_restart(self):
        def fail_over(c):
            old = c.wait_leader(10)
            c.kill9(old)
            c.wait_leader(15, among=[i for i in c.nodes if i != old])
            c.restart(old)
        with Cluster(3, ELECTION_TIMEOUT_MS) as c:
            self.check(c, fail_over)


def main():
    cluster.skip_unless_cluster()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so atexit stops the nodes
    prog = unittest.main(exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
