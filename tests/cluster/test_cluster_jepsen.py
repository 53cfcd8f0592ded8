"""Jepsen-style rounds against a synqd cluster: faults under a running workload,
then heal, converge and check the whole history (checker.py).

    test_cluster_jepsen.py [--rounds N] [--nodes 3|5] [--seed S] [--no-netns]
                           [--faults NAME,NAME...]

Each round picks one fault at random, holds it for HOLD_S seconds while the
producers and workers go on, then heals it and waits for an agreed leader:

- kill9-leader, kill9-node, kill9-two (5 nodes: the leader and one more):
  kill -9, then restart on the old directory (the node rejoins);
- sigstop-leader, sigstop-node: SIGSTOP, then SIGCONT (the simplest partition:
  the node's peers and clients hear nothing from it);
- with network namespaces (netns.py; the script re-executes itself in a
  private one): isolate-leader, isolate-node (cut both ways from every peer),
  split (5 nodes: two against three, the leader's side chosen at random),
  deaf-leader (the leader hears no peer, they still hear it), mute-leader (no
  peer hears the leader, it still hears them), drop (every node drops 30% of
  its peers' packets), delay (every node delays its packets by 50 ms; only
  where the kernel has sch_netem).

Faults that cannot be made here are skipped with the reason printed at the
start; `--faults` keeps only the named ones (`--faults kill9-leader --rounds 50`
measures 50 failovers). At most a minority is faulty at once, so the cluster stays available.
For leader kills the time from the kill to the first acknowledged put through
the other nodes is measured; the end prints the median and the max.

Exit status: 0 when the checker finds nothing and no node exited by itself,
1 otherwise, 77 (ctest: skipped) when synqd has no --node."""

import argparse
import os
import random
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402
import cluster  # noqa: E402
import netns  # noqa: E402
import workload  # noqa: E402
from cluster import Cluster, ProtocolError  # noqa: E402

HOLD_S = (1.0, 3.0)
SETTLE_S = (0.3, 1.0)
HEAL_LEADER_TIMEOUT_S = 15.0
DROP_PROBABILITY = 0.3
DELAY_MS = 50


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=3, choices=(3, 5))
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--election-timeout", type=int, default=500, metavar="MS")
    ap.add_argument("--converge-timeout", type=float, default=20.0, metavar="S",
                    help="how long the healed nodes may take to reach the same state")
    ap.add_argument("--faults", default="", metavar="LIST",
                    help="comma-separated fault names to choose from (default: all that work)")
    ap.add_argument("--no-netns", action="store_true",
                    help="no network faults, even where namespaces work")
    return ap.parse_args()


def fault_menu(nodes, faults):
    """The faults this run can make, after printing why others are skipped."""
    menu = ["kill9-leader", "kill9-node", "sigstop-leader", "sigstop-node"]
    if nodes == 5:
        menu.append("kill9-two")
    if faults["netns"] or faults["cut"]:
        print("SKIPPED faults isolate-leader, isolate-node, split, deaf-leader, mute-leader, "
              "drop, delay: %s" % (faults["netns"] or faults["cut"]))
        return menu
    menu += ["isolate-leader", "isolate-node", "deaf-leader", "mute-leader"]
    if nodes == 5:
        menu.append("split")
    for name in ("drop", "delay"):
        if faults[name]:
            print("SKIPPED fault %s: %s" % (name, faults[name]))
        else:
            menu.append(name)
    return menu


class Rounds:
    def __init__(self, c, net, wl, rng):
        self.c, self.net, self.wl, self.rng = c, net, wl, rng
        self.failovers = []
        self.log = []

    def run(self, n, menu):
        for r in range(1, n + 1):
            fault = self.rng.choice(menu)
            leader = self.c.wait_leader(HEAL_LEADER_TIMEOUT_S)
            others = [i for i in self.c.nodes if i != leader]
            victim = self.rng.choice(others)
            start = time.monotonic()
            undo = self.inject(fault, leader, victim)
            hold = self.rng.uniform(*HOLD_S)
            if fault.startswith("kill9-leader") or fault == "kill9-two":
                self.measure_failover(fault, leader, start)
            time.sleep(max(0.0, hold - (time.monotonic() - start)))
            undo()
            new = self.c.wait_leader(HEAL_LEADER_TIMEOUT_S)
            line = ("round %d at %.3f: %s (leader %d, victim %d) held %.1f s; leader now %d; "
                    "acked puts %d" % (r, start, fault, leader, victim, hold, new,
                                       self.wl.acked("put")))
            print(line, flush=True)
            time.sleep(self.rng.uniform(*SETTLE_S))

    def inject(self, fault, leader, victim):
        """Make `fault`; returns the function that heals it."""
        c, net = self.c, self.net
        if fault == "kill9-leader":
            c.kill9(leader)
            return lambda: c.restart(leader)
        if fault == "kill9-node":
            c.kill9(victim)
            return lambda: c.restart(victim)
        if fault == "kill9-two":
            c.kill9(leader)
            c.kill9(victim)
            return lambda: (c.restart(leader), c.restart(victim))
        if fault in ("sigstop-leader", "sigstop-node"):
            target = leader if fault == "sigstop-leader" else victim
            c.sigstop(target)
            return lambda: c.sigcont(target)
        if fault in ("isolate-leader", "isolate-node"):
            net.isolate(leader if fault == "isolate-leader" else victim)
        elif fault == "split":
            minority = [leader, victim] if self.rng.random() < 0.5 else \
                [i for i in c.nodes if i != leader][:2]
            net.partition(minority, [i for i in c.nodes if i not in minority])
        elif fault == "deaf-leader":
            for i in c.nodes:
                if i != leader:
                    net.cut(i, leader)
        elif fault == "mute-leader":
            for i in c.nodes:
                if i != leader:
                    net.cut(leader, i)
        elif fault == "drop":
            for i in c.nodes:
                net.drop(i, DROP_PROBABILITY)
        elif fault == "delay":
            for i in c.nodes:
                net.delay(i, DELAY_MS)
        else:
            raise ValueError(fault)
        return net.heal

    def measure_failover(self, fault, leader, start):
        rest = [i for i in self.c.running() if i != leader]
        try:
            new = self.c.wait_leader(HEAL_LEADER_TIMEOUT_S, among=rest)
        except ProtocolError as e:
            self.log.append("no new leader after %s: %s" % (fault, e))
            return
        elected = time.monotonic() - start
        serving = workload.first_ack(self.c, [new] + [i for i in rest if i != new],
                                     self.wl.record)
        if serving is None:
            self.log.append("no put acknowledged within 10 s after %s" % fault)
            return
        total = elected + serving
        self.failovers.append(total)
        print("failover: %s %d -> %d: elected after %.3f s, serving after %.3f s"
              % (fault, leader, new, elected, total), flush=True)


def main():
    args = parse_args()
    cluster.skip_unless_cluster()
    faults = dict.fromkeys(("netns", "cut", "drop", "delay"), "--no-netns given") \
        if args.no_netns else netns.probe()
    use_net = not faults["netns"] and not faults["cut"]
    if use_net:
        netns.enter_private()  # returns only inside the private namespace
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so atexit stops the nodes
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print("seed %d, %d nodes, %d rounds" % (seed, args.nodes, args.rounds), flush=True)
    rng = random.Random(seed)
    menu = fault_menu(args.nodes, faults)
    if args.faults:
        wanted = args.faults.split(",")
        unknown = [f for f in wanted if f not in menu]
        if unknown:
            print("FAIL: --faults names %s, not among this run's faults: %s"
                  % (",".join(unknown), " ".join(menu)))
            sys.exit(1)
        menu = wanted
    print("faults: %s" % " ".join(menu), flush=True)
    net = netns.Network(range(1, args.nodes + 1)) if use_net else None
    problems, failovers = [], []
    try:
        with Cluster(args.nodes, args.election_timeout, net=net) as c:
            c.wait_leader(HEAL_LEADER_TIMEOUT_S)
            wl = workload.Workload(c.endpoints, producers=3, workers=2, seed=seed).start()
            rounds = Rounds(c, net, wl, rng)
            try:
                rounds.run(args.rounds, menu)
            finally:
                if net is not None:
                    net.heal()
                for i, node in c.nodes.items():
                    if node.stopped:
                        c.sigcont(i)
                    elif not node.alive():
                        c.restart(i)
                history = wl.stop()
            failovers = rounds.failovers
            problems += rounds.log + wl.errors
            final = workload.final_state(c, history, converge_timeout_s=args.converge_timeout)
            print(checker.summary(history, final))
            problems += checker.check(history, final)
            problems += ["node %d exited by itself: %s" % kv for kv in c.crashes().items()]
            if problems:
                c.print_logs()
                path = os.path.join(tempfile.gettempdir(), "synq-jepsen-%d.history" % seed)
                checker.dump(history, path)
                print("history (times as in the round lines) written to %s" % path)
    finally:
        if net is not None:
            net.close()
    if failovers:
        print("failover times over %d leader kills: median %.3f s, max %.3f s"
              % (len(failovers), statistics.median(failovers), max(failovers)))
    for p in problems:
        print("FAIL: %s" % p)
    print("jepsen %s: seed %d, %d rounds, %d problems"
          % ("passed" if not problems else "FAILED", seed, args.rounds, len(problems)))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
