"""A synqd cluster on this machine for tests: N nodes, their faults, their logs.

Model: `Cluster(n)` is a context manager owning N `synqd --node` processes,
each with its own temp log directory, client port and Raft port. On loopback
(the default) every node listens on 127.0.0.1 with free ports; with a
`netns.Network` each node runs in its own network namespace at 10.201.0.<id>
(fixed ports there), so the network between nodes can be cut.

Every node is always stopped: SIGCONT (a stopped process cannot act on
SIGTERM), SIGTERM, then SIGKILL after STOP_TIMEOUT_S, on leaving the `with`
block, at interpreter exit (atexit), and by the kernel if the test process
dies first: nodes are started through `setpriv --pdeathsig KILL`. That signal
follows the *thread* that started the node, so start, restart and the other
process calls are made from the main thread.

Each node's output goes to a log file kept across its restarts (a marker line
per start); leaving the `with` block on an exception prints every log's tail.
"""

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import sqharness  # noqa: E402
from sqharness import Client, ProtocolError  # noqa: E402,F401

STOP_TIMEOUT_S = 5.0
START_TIMEOUT_S = 10.0
SKIP = 77  # exit status ctest reports as "skipped" (SKIP_RETURN_CODE)
NETNS_CLIENT_PORT = 11300
NETNS_RAFT_PORT = 7000
LOG_TAIL_LINES = 60

_live_clusters = set()


def synqd_path():
    """SQ_BIN_DIR/synqd; ProtocolError saying what is wrong when it is missing."""
    return sqharness.server_argv("synqd", 0)[0]


def cluster_support():
    """None when synqd has --node, else the reason the cluster tests cannot
    run. A missing synqd is no such reason: it raises, so a missing build
    fails instead of looking skipped."""
    out = subprocess.run([synqd_path(), "-h"], capture_output=True, text=True,
                         timeout=10).stdout
    if "--node" not in out:
        return "this synqd has no --node option (the cluster is not built yet)"
    return None


def skip_unless_cluster():
    """Exit with SKIP (and say why) when synqd cannot run as a cluster node;
    exit 1 when synqd is missing."""
    try:
        reason = cluster_support()
    except (OSError, subprocess.SubprocessError, ProtocolError) as e:
        print("FAIL: %s" % e)
        sys.exit(1)
    if reason:
        print("SKIPPED: %s" % reason)
        sys.exit(SKIP)


def parse_stats_cluster(data):
    """stats-cluster's YAML -> dict of top-level fields (text) plus "peers",
    a list of {"id", "address"} dicts."""
    out, peers = {}, []
    lines = data.decode().split("\n")
    if lines[0] != "---":
        raise ProtocolError("stats-cluster does not start with '---': %r" % data)
    for line in lines[1:]:
        if not line:
            continue
        m = re.fullmatch(r"- (\S+): ?(.*)", line)
        if m:
            peers.append({m.group(1): m.group(2)})
            continue
        m = re.fullmatch(r"  (\S+): ?(.*)", line)
        if m and peers:
            peers[-1][m.group(1)] = m.group(2)
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError("bad stats-cluster line %r in %r" % (line, data))
        out[key] = value.strip()
    # The members come on one flat line in --peers's form: "1=host:port,2=host:port".
    for item in out.pop("peers", "").split(","):
        if item:
            pid, _, addr = item.partition("=")
            peers.append({"id": pid, "address": addr})
    out["peers"] = peers
    return out


def free_ports(n):
    """n distinct loopback ports free a moment ago, below the ephemeral range
    (sqharness.free_ports says why)."""
    return sqharness.free_ports(n)


class Node:
    def __init__(self, node_id, host, client_port, raft_port, data_dir, log_path):
        self.id = node_id
        self.host = host
        self.client_port = client_port
        self.raft_port = raft_port
        self.dir = data_dir
        self.log_path = log_path
        self.proc = None
        self.stopped = False  # SIGSTOPped
        self.killed = False  # we ended it; an exit otherwise is a crash
        self.crashes = []  # exit statuses of exits we did not cause

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def note_exit(self):
        if self.proc is not None and self.proc.poll() is not None and not self.killed:
            self.crashes.append(self.proc.returncode)
            self.killed = True


class Cluster:
    """N nodes; see the module comment. `extra_args` go to every node."""

    def __init__(self, n=3, election_timeout_ms=500, net=None, extra_args=()):
        self.n = n
        self.election_timeout_ms = election_timeout_ms
        self.net = net
        self.extra_args = [str(a) for a in extra_args]
        self.root = None
        self.nodes = {}

    # ---------------------------------------------------------- lifecycle

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and exc_type is not SystemExit:
            print("cluster test failed (%s: %s); node logs follow" % (exc_type.__name__, exc))
            self.print_logs()
        self.close()
        return False

    def start(self):
        self.root = tempfile.mkdtemp(prefix="synq-cluster-")
        _live_clusters.add(self)
        last = ""
        for _attempt in range(3):
            self._layout()
            for node in self.nodes.values():
                self._spawn(node)
            try:
                for node in self.nodes.values():
                    self._wait_accepting(node)
                return self
            except ProtocolError as e:
                # Most likely a free port was taken between picking and binding.
                last = str(e)
                self._stop_all()
        self.print_logs()
        raise ProtocolError("cluster did not start: %s" % last)

    def _layout(self):
        ids = list(range(1, self.n + 1))
        if self.net is not None:
            ports = [(NETNS_CLIENT_PORT, NETNS_RAFT_PORT)] * self.n
        else:
            p = free_ports(2 * self.n)
            ports = list(zip(p[::2], p[1::2]))
        self.nodes = {}
        for i, (cport, rport) in zip(ids, ports):
            host = self.net.addr(i) if self.net is not None else "127.0.0.1"
            data_dir = os.path.join(self.root, "node%d" % i)
            shutil.rmtree(data_dir, ignore_errors=True)
            os.makedirs(data_dir)
            self.nodes[i] = Node(i, host, cport, rport, data_dir,
                                 os.path.join(self.root, "node%d.log" % i))

    def peers_arg(self):
        return ",".join("%d=%s:%d" % (n.id, n.host, n.raft_port) for n in self.nodes.values())

    def argv(self, node):
        argv = [synqd_path(), "-l", node.host, "-p", str(node.client_port), "-b", node.dir,
                "--node", str(node.id), "--peers", self.peers_arg(),
                "--election-timeout", str(self.election_timeout_ms)] + self.extra_args
        if not node.host.startswith("127."):
            # A node in its own network namespace (10.201.0.ID), reachable only from the
            # test's namespaces: synqd refuses such an address without auth unless told.
            argv.append("--insecure-listen")
        prefix = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
        if self.net is not None:
            prefix += self.net.prefix(node.id)
        return prefix + argv

    def _spawn(self, node):
        argv = self.argv(node)
        with open(node.log_path, "ab") as log:
            log.write(b"=== %s start: %s\n" % (time.strftime("%H:%M:%S").encode(),
                                                " ".join(argv).encode()))
            log.flush()
            node.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        node.killed = False
        node.stopped = False

    def _wait_accepting(self, node):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not node.alive():
                raise ProtocolError("node %d exited during start with status %r"
                                    % (node.id, node.proc.returncode))
            try:
                with sqharness.connect(node.host, node.client_port, timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        raise ProtocolError("node %d did not accept on %s:%d within %.0f s"
                            % (node.id, node.host, node.client_port, START_TIMEOUT_S))

    def _end(self, node, sig):
        """Stop one node: sig (SIGTERM or SIGKILL), SIGKILL after the timeout."""
        if node.proc is None:
            return
        node.note_exit()
        node.killed = True
        if node.proc.poll() is None:
            if node.stopped:
                node.proc.send_signal(signal.SIGCONT)
            node.proc.send_signal(sig)
            try:
                node.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(STOP_TIMEOUT_S)
        node.stopped = False

    def _stop_all(self):
        for node in self.nodes.values():
            self._end(node, signal.SIGTERM)

    def close(self):
        """Stop every node and remove the data (SQ_CLUSTER_KEEP=1 keeps it)."""
        self._stop_all()
        _live_clusters.discard(self)
        if self.root and not os.environ.get("SQ_CLUSTER_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)
        elif self.root:
            print("cluster data and logs kept in %s" % self.root)
        self.root = None

    # ---------------------------------------------------------- faults

    def kill9(self, i):
        self._end(self.nodes[i], signal.SIGKILL)

    def stop_node(self, i):
        self._end(self.nodes[i], signal.SIGTERM)

    def restart(self, i):
        """Start node i again on its ports and its old directory (it rejoins)."""
        node = self.nodes[i]
        if node.alive():
            self._end(node, signal.SIGTERM)
        self._spawn(node)
        self._wait_accepting(node)

    def sigstop(self, i):
        self.nodes[i].proc.send_signal(signal.SIGSTOP)
        self.nodes[i].stopped = True

    def sigcont(self, i):
        self.nodes[i].proc.send_signal(signal.SIGCONT)
        self.nodes[i].stopped = False

    def running(self):
        """Ids of the nodes that run and are not stopped."""
        return [i for i, n in self.nodes.items() if n.alive() and not n.stopped]

    def crashes(self):
        """{id: [exit statuses]} of nodes that exited without being told to."""
        for node in self.nodes.values():
            node.note_exit()
        return {i: n.crashes for i, n in self.nodes.items() if n.crashes}

    # ---------------------------------------------------------- clients

    def client(self, i, timeout=5.0):
        node = self.nodes[i]
        return Client(node.client_port, timeout, host=node.host)

    def endpoints(self):
        """(id, host, port) of every node, dead or alive (clients find out)."""
        return [(n.id, n.host, n.client_port) for n in self.nodes.values()]

    def stats(self, i, timeout=1.0):
        """Node i's own stats-cluster, as parse_stats_cluster returns it."""
        with self.client(i, timeout) as c:
            c.send(b"stats-cluster\r\n")
            return parse_stats_cluster(c.read_yaml_reply())

    def try_stats(self, i, timeout=1.0):
        try:
            return self.stats(i, timeout)
        except (OSError, ProtocolError):
            return None

    def wait_leader(self, timeout=10.0, among=None):
        """Poll stats-cluster on the running nodes (or `among`) until all
        answer and agree on one leader that says it is leader; return its id.
        Raises ProtocolError with every node's last answer on timeout."""
        deadline = time.monotonic() + timeout
        last = {}
        while True:
            ids = list(among) if among is not None else self.running()
            last = {i: self.try_stats(i, timeout=0.5) for i in ids}
            leaders = {st.get("leader") for st in last.values() if st is not None}
            if ids and None not in last.values() and len(leaders) == 1:
                leader = int(leaders.pop())
                if leader in last and last[leader].get("state") == "leader":
                    return leader
            if time.monotonic() >= deadline:
                raise ProtocolError("no agreed leader within %.1f s among %s: %s"
                                    % (timeout, ids, {i: _brief(st) for i, st in last.items()}))
            time.sleep(0.02)

    def wait_converged(self, timeout=20.0):
        """Poll every node until applied-index, jobs and digest are equal on
        all; returns {id: stats}. On timeout returns the last answers (the
        checker then reports the divergence)."""
        deadline = time.monotonic() + timeout
        while True:
            last = {i: self.try_stats(i) for i in self.nodes}
            got = [st for st in last.values() if st is not None]
            if len(got) == len(last) and all(
                    len({st.get(f) for st in got}) == 1
                    for f in ("applied-index", "jobs", "digest")):
                return last
            if time.monotonic() >= deadline:
                return {i: st for i, st in last.items() if st is not None}
            time.sleep(0.1)

    # ---------------------------------------------------------- logs

    def print_logs(self, lines=LOG_TAIL_LINES):
        for node in self.nodes.values():
            try:
                with open(node.log_path, "rb") as f:
                    text = f.read().decode("utf-8", "replace").splitlines()
            except OSError as e:
                text = ["(no log: %s)" % e]
            print("----- node %d (%s:%d, raft %d), last %d lines -----"
                  % (node.id, node.host, node.client_port, node.raft_port, lines))
            print("\n".join(text[-lines:]))
        sys.stdout.flush()


def _brief(st):
    if st is None:
        return "no answer"
    return "%s leader=%s term=%s" % (st.get("state"), st.get("leader"), st.get("term"))


@atexit.register
def _stop_leftovers():
    for c in list(_live_clusters):
        c.close()
