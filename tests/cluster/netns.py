"""Network faults between cluster nodes through Linux network namespaces.

Model: the test process re-executes itself in a private network namespace
(`enter_private()`, through `unshare --net`), so everything below lives and
dies with it and nothing touches the machine's own network. There it makes a
bridge (the "hub", 10.201.0.254/24) and one namespace per node, each held open
by a `sleep` process that the kernel kills when the test dies (PR_SET_PDEATHSIG
through `setpriv`), joined to the hub by a veth pair and given 10.201.0.<id>.
synqd runs inside its node's namespace (`nsenter -n`); the test's clients stay
in the hub namespace and reach every node directly, so a partition cuts the
nodes' Raft traffic only, never the test's view.

Faults, each undone by `heal()`; all of them act on a packet as it arrives,
so the sender sees nothing but silence (a drop where the packet leaves would
fail the sender's system call at once, which no real network does):

- `cut(a, b)`: packets from a to b are dropped (a one-way partition: an
  iptables DROP rule on b's input, so b stops hearing a while a still hears
  b); `partition(A, B)` cuts both ways between two groups; `isolate(i)` cuts
  node i from every other node.
- `drop(i, p)`: node i drops each packet from another node with probability
  p (iptables' statistic match).
- `delay(i, ms)`: node i's outgoing packets wait ms (tc netem), only where
  the kernel has sch_netem.

The hub's own packets (the test's clients) are never dropped. `probe()` says
which of these work on this machine, with the reason for each that does not;
callers skip those faults and print the reason.
"""

import os
import shutil
import subprocess
import sys
import time

SUBNET = "10.201.0"
HUB_ADDR = SUBNET + ".254"
INNER_ENV = "SQ_CLUSTER_NETNS_INNER"


def _run(argv, check=True):
    """Run a command quietly; on failure raise with its output."""
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    if check and p.returncode != 0:
        raise OSError("%s failed (%d): %s" % (" ".join(argv), p.returncode,
                                               (p.stderr or p.stdout).strip()))
    return p


def _in_fresh_ns(script):
    """Run a shell script in a throwaway network namespace; (ok, output)."""
    try:
        p = _run(["unshare", "--net", "--", "sh", "-ec", script], check=False)
    except (OSError, subprocess.SubprocessError) as e:
        return False, str(e)
    return p.returncode == 0, (p.stderr or p.stdout).strip()


def probe():
    """{"netns": reason or None, "cut": ..., "drop": ..., "delay": ...}: None
    means the fault works here; otherwise the reason it cannot be made."""
    missing = [t for t in ("unshare", "nsenter", "setpriv", "ip") if shutil.which(t) is None]
    if os.geteuid() != 0:
        base = "not root (network namespaces need CAP_SYS_ADMIN)"
    elif missing:
        base = "missing programs: %s" % " ".join(missing)
    else:
        ok, out = _in_fresh_ns("ip link set lo up; ip link add sqp0 type veth peer name sqp1; "
                               "ip link add sqpb type bridge")
        base = None if ok else "network namespaces with veth and bridge fail: %s" % out
    if base:
        return {"netns": base, "cut": base, "drop": base, "delay": base}
    if shutil.which("iptables") is None:
        cut = drop = "no iptables program (scripts/deps test installs it)"
    else:
        ok, out = _in_fresh_ns("iptables -A INPUT -s 10.9.9.9 -j DROP")
        cut = None if ok else "iptables DROP rules fail: %s" % out
        ok, out = _in_fresh_ns("iptables -A INPUT -m statistic --mode random "
                               "--probability 0.5 -j DROP")
        drop = None if ok else "iptables' statistic match fails: %s" % out
    if shutil.which("tc") is None:
        delay = "no tc program"
    else:
        ok, out = _in_fresh_ns("ip link set lo up; tc qdisc add dev lo root netem delay 1ms")
        delay = None if ok else "tc netem fails (kernel without sch_netem?): %s" % out
    return {"netns": None, "cut": cut, "drop": drop, "delay": delay}


def enter_private():
    """Re-execute this script in its own network namespace (once): returns
    only inside it. The loopback device there starts down."""
    if os.environ.get(INNER_ENV):
        _run(["ip", "link", "set", "lo", "up"])
        return
    env = dict(os.environ, **{INNER_ENV: "1"})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe("unshare", ["unshare", "--net", "--", sys.executable] + sys.argv, env)


def inside_private():
    return bool(os.environ.get(INNER_ENV))


class Network:
    """The hub and one namespace per node id. Use inside enter_private()."""

    def __init__(self, ids):
        if not inside_private():
            raise RuntimeError("netns.Network outside the private namespace: call "
                               "netns.enter_private() first")
        self.ids = list(ids)
        self.holders = {}
        self.cuts = set()
        self.filtered = set()  # ids with iptables rules to flush
        self.delayed = set()
        _run(["ip", "link", "add", "sqhub", "type", "bridge"])
        _run(["ip", "addr", "add", HUB_ADDR + "/24", "dev", "sqhub"])
        _run(["ip", "link", "set", "sqhub", "up"])
        try:
            for i in self.ids:
                self._add_node(i)
        except BaseException:
            self.close()
            raise

    def _add_node(self, i):
        holder = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--", "unshare", "--net",
                                   "--", "sleep", "86400"], stdin=subprocess.DEVNULL)
        self.holders[i] = holder
        # unshare(2) happens before sleep is executed: wait for the holder's
        # namespace to differ from ours before moving a device into it.
        own = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 5
        while os.readlink("/proc/%d/ns/net" % holder.pid) == own:
            if time.monotonic() > deadline or holder.poll() is not None:
                raise OSError("node %d's namespace holder did not start" % i)
            time.sleep(0.01)
        _run(["ip", "link", "add", "sqh%d" % i, "type", "veth", "peer", "name", "sqn%d" % i])
        _run(["ip", "link", "set", "sqh%d" % i, "master", "sqhub", "up"])
        _run(["ip", "link", "set", "sqn%d" % i, "netns", str(holder.pid)])
        for cmd in (["link", "set", "lo", "up"], ["link", "set", "sqn%d" % i, "name", "eth0"],
                    ["addr", "add", self.addr(i) + "/24", "dev", "eth0"],
                    ["link", "set", "eth0", "up"]):
            self.run_in(i, ["ip"] + cmd)

    def addr(self, i):
        return "%s.%d" % (SUBNET, i)

    def prefix(self, i):
        """Put before a command line to run it in node i's namespace."""
        return ["nsenter", "-t", str(self.holders[i].pid), "-n", "--"]

    def run_in(self, i, argv, check=True):
        return _run(self.prefix(i) + argv, check)

    def cut(self, a, b):
        """Drop every packet from node a to node b (one way)."""
        if (a, b) not in self.cuts:
            self.run_in(b, ["iptables", "-A", "INPUT", "-s", self.addr(a), "-j", "DROP"])
            self.cuts.add((a, b))
            self.filtered.add(b)

    def partition(self, group_a, group_b):
        for a in group_a:
            for b in group_b:
                self.cut(a, b)
                self.cut(b, a)

    def isolate(self, i):
        self.partition([i], [j for j in self.ids if j != i])

    def drop(self, i, probability):
        """Node i drops each packet from the other nodes with `probability`."""
        # The hub's packets (the test's clients) pass first; then the peers'.
        self.run_in(i, ["iptables", "-A", "INPUT", "-s", HUB_ADDR, "-j", "ACCEPT"])
        self.run_in(i, ["iptables", "-A", "INPUT", "-s", SUBNET + ".0/24", "-m", "statistic",
                        "--mode", "random", "--probability", "%.3f" % probability, "-j", "DROP"])
        self.filtered.add(i)

    def delay(self, i, ms):
        self.run_in(i, ["tc", "qdisc", "replace", "dev", "eth0", "root", "netem", "delay",
                        "%dms" % ms])
        self.delayed.add(i)

    def heal(self):
        """Undo every cut, drop and delay."""
        for i in sorted(self.filtered):
            self.run_in(i, ["iptables", "-F", "INPUT"])
        for i in sorted(self.delayed):
            self.run_in(i, ["tc", "qdisc", "del", "dev", "eth0", "root"])
        self.cuts.clear()
        self.filtered.clear()
        self.delayed.clear()

    def close(self):
        """Kill the holders (their namespaces and veth ends go with them) and
        remove the hub."""
        for i, holder in self.holders.items():
            # Deleting our end removes the pair now; a namespace's own
            # teardown runs later, in the kernel's own time.
            _run(["ip", "link", "del", "sqh%d" % i], check=False)
            if holder.poll() is None:
                holder.kill()
                holder.wait(5)
        self.holders.clear()
        _run(["ip", "link", "del", "sqhub"], check=False)
