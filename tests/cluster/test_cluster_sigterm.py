"""SIGTERM of cluster nodes under load: each node stopped this way must exit by itself with
status 0 (no crash, no hang: a node still running STOP_TIMEOUT_S after the signal is killed
and counted as hung), and no acknowledged job may be lost, no acknowledged delete undone.

Rounds alternate between the leader and a follower; the node is started again on its
directory and the next round waits for an agreed leader. Producers and workers on random
nodes run through all of it (tests/cluster/workload.py), then the checker reads every node's
final state (checker.py).

    SQ_BIN_DIR=build python3 tests/cluster/test_cluster_sigterm.py              # 6 rounds
    SQ_BIN_DIR=build python3 tests/cluster/test_cluster_sigterm.py --rounds 100

Exits 77 (ctest: skipped) with the reason when synqd has no --node."""

import argparse
import os
import random
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
import test_cluster_basic  # noqa: E402  (its check_run: the workload's history checked)
import workload  # noqa: E402
from cluster import Cluster  # noqa: E402

ELECTION_TIMEOUT_MS = 500
ROUNDS = 6
SEED = None
PORT_CLASH = b"the Raft address could not be bound"


def restart(c, i):
    """c.restart(i), again after a moment when the node found its Raft port taken: the ports
    are picked free, but while it was down another socket of this machine may have been given
    the same port as its ephemeral one (the harness's race, not the node's)."""
    for attempt in range(5):
        try:
            return c.restart(i)
        except cluster.ProtocolError:
            with open(c.nodes[i].log_path, "rb") as f:
                if attempt == 4 or PORT_CLASH not in f.read()[-400:]:
                    raise
            c.nodes[i].killed = True  # its exit was the clash, not a crash
            print("node %d: its Raft port was taken, starting it again" % i)
            time.sleep(0.5)


class SigtermCase(unittest.TestCase):
    def test_sigterm_under_load_exits_0_and_loses_nothing(self):
        rng = random.Random(SEED)
        with Cluster(3, ELECTION_TIMEOUT_MS) as c:
            c.wait_leader(10)
            wl = workload.Workload(c.endpoints, producers=3, workers=2,
                                   seed=rng.random()).start()
            statuses = []
            try:
                for n in range(ROUNDS):
                    leader = c.wait_leader(15)
                    victim = leader if n % 2 == 0 else rng.choice(
                        [i for i in c.nodes if i != leader])
                    acked = wl.acked("put")
                    deadline = time.monotonic() + 10
                    while wl.acked("put") < acked + 5 and time.monotonic() < deadline:
                        time.sleep(0.02)  # messages are arriving when the signal comes
                    node = c.nodes[victim]
                    start = time.monotonic()
                    c.stop_node(victim)  # SIGTERM; SIGKILL after cluster.STOP_TIMEOUT_S
                    took = time.monotonic() - start
                    status = node.proc.returncode
                    statuses.append(status)
                    print("round %d: SIGTERM %s %d: exit status %s after %.2f s"
                          % (n, "leader" if victim == leader else "follower", victim, status,
                             took))
                    restart(c, victim)
                c.wait_leader(15)
                time.sleep(1.0)
            finally:
                wl.stop()
            test_cluster_basic.ClusterCase.check_run(self, c, wl)
            # -9: hung (killed STOP_TIMEOUT_S after the SIGTERM); another negative: the signal
            # that crashed it; 1: an error exit (or a sanitizer's report).
            bad = [(n, st) for n, st in enumerate(statuses) if st != 0]
            self.assertEqual(bad, [], "rounds whose node did not exit 0 after SIGTERM")

    def test_sigterm_of_a_leader_that_then_loses_its_majority_exits_0(self):
        """SIGTERM while the leader waits for a reserved job (--shutdown-grace), with a delete
        it cannot commit (both followers SIGSTOPped): it steps down with a change not known to
        be committed, where it would restart itself (execv) to rebuild its store; that exec
        used to forget the SIGTERM, and the node ran on as a follower."""
        with Cluster(3, ELECTION_TIMEOUT_MS) as c:
            leader = c.wait_leader(10)
            followers = [i for i in c.nodes if i != leader]
            with c.client(leader) as lc:
                for _ in range(2):
                    self.assertRegex(lc.cmd(b"put 0 0 60 1\r\nx"), rb"^INSERTED \d+\r\n$")
                lc.send(b"reserve-with-timeout 0\r\n")
                lc.read_job("RESERVED")  # held: the grace waits for it
                lc.send(b"reserve-with-timeout 0\r\n")
                other, _ = lc.read_job("RESERVED")
                for i in followers:
                    c.sigstop(i)
                lc.send(b"delete %d\r\n" % other)  # cannot commit: its reply is held
                node = c.nodes[leader]
                node.proc.send_signal(signal.SIGTERM)
                try:
                    node.proc.wait(cluster.STOP_TIMEOUT_S * 2)
                except Exception:
                    pass
                status = node.proc.poll()
            for i in followers:
                c.sigcont(i)
            node.killed = True  # stopped by this test, not a crash
            self.assertEqual(status, 0, "the leader after SIGTERM (None: still running)")
            restart(c, leader)
            c.wait_leader(15)
            nodes = c.wait_converged(20)
            self.assertEqual(len({st["digest"] for st in nodes.values()}), 1, nodes)
            self.assertEqual(c.crashes(), {})


def main():
    global ROUNDS, SEED
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    ap.add_argument("--seed", type=int, default=None)
    args, rest = ap.parse_known_args()
    ROUNDS = args.rounds
    SEED = args.seed if args.seed is not None else random.randrange(1 << 30)
    print("seed %d, %d rounds" % (SEED, ROUNDS))
    cluster.skip_unless_cluster()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so atexit stops the nodes
    prog = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
