"""Integration-test harness: real servers on loopback, a strict protocol client.

Model: every test file defines plain mixin classes holding test methods and
hands them to `register()`, which makes one unittest.TestCase per target
server ("synqd", "beanstalkd"; env SQ_TARGETS, comma list).  Each generated
class starts its own server in setUpClass (or one per test when the mixin
sets PER_TEST = True, for tests that need fresh ids or counters) and always
stops it, even when a test fails: SIGTERM, then SIGKILL after a timeout.

Debian's beanstalkd is the reference.  A test that fails against it is a
wrong test; a test that fails against synqd is a synqd bug.  A synqd target
whose binary is missing FAILS (setUpClass raises) with a clear message: a
missing build must never look like a green run.

Every socket read has a timeout (default 5 s) and raises ProtocolError with
the bytes received so far, so a wrong server shows up as a readable failure,
never as a hang.  Python 3 standard library only.
"""

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

BEANSTALKD = "/usr/bin/beanstalkd"
READ_TIMEOUT_S = 5.0
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
# SQ_SYNQD_CLUSTER=1: the nodes' --election-timeout. A leader change closes every connection a
# follower relays, which a client-library suite sees as a failure; on a loaded 2-core CI machine
# (a sanitizer build, ctest -j) a leader can miss heartbeats for half a second, so the tests give
# it 1.5 s (with 0.5 s, one client suite failed once under load, a leader change the likely cause).
CLUSTER_ELECTION_MS = 1500


class ProtocolError(AssertionError):
    """A reply was late, short, or not what the test expected.

    It is an AssertionError so unittest reports it as a test failure with the
    message, not as an error in the harness."""


# ---------------------------------------------------------------- servers

# Test servers take ports below the kernel's ephemeral range. A port that bind(0) hands out is
# one the kernel may give any outgoing connection's local end next (relays, Raft links, the
# tests' own clients), so a server stopped and restarted on its port (kill -9 and restart of a
# node, a restart with -b) could find it taken in between; below the range only another bind
# can take it.
_LOWEST_PORT = 20000  # above the well-known ports tests probe (11300)


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(n):
    """n distinct loopback ports, free a moment ago, below the ephemeral range (the sockets
    are held until all are chosen, so none is returned twice). There is a small race between
    this and the server's bind, which Server.start() and the cluster harness cover by retrying
    on new ports when a server exits early."""
    high = _ephemeral_low() - 1
    rnd = random.SystemRandom()
    socks = []
    try:
        for _ in range(100 * n):
            if len(socks) == n:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", rnd.randint(_LOWEST_PORT, high) if high > _LOWEST_PORT
                        else 0))
            except OSError:
                s.close()
                continue
            socks.append(s)
        if len(socks) < n:
            raise ProtocolError("no %d free ports below %d" % (n, high + 1))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _free_port():
    """One loopback port that was free a moment ago (free_ports)."""
    return free_ports(1)[0]


def server_argv(kind, port, extra_args=()):
    """The command line that starts server `kind` on 127.0.0.1:`port`.

    Raises ProtocolError with an explanation when the binary is missing."""
    if kind == "beanstalkd":
        binary = BEANSTALKD
    elif kind == "synqd":
        bin_dir = os.environ.get("SQ_BIN_DIR")
        if not bin_dir:
            raise ProtocolError("SQ_BIN_DIR is not set: cannot find synqd "
                                "(run through ctest, or export SQ_BIN_DIR=<build dir>)")
        binary = os.path.join(bin_dir, "synqd")
    else:
        raise ProtocolError("unknown server kind %r" % kind)
    if not os.access(binary, os.X_OK):
        raise ProtocolError("%s binary not found or not executable at %s "
                            "(build the synqd target first)" % (kind, binary))
    return [binary, "-l", "127.0.0.1", "-p", str(port)] + [str(a) for a in extra_args]


def cluster_mode():
    """SQ_SYNQD_CLUSTER=1: every "synqd" server is a 3-node cluster reached through a
    follower (the suites ctest runs again that way: issue 14's "the whole existing suite
    through a follower")."""
    return os.environ.get("SQ_SYNQD_CLUSTER") == "1"


def connect(host, port, timeout):
    """socket.create_connection, refusing a connection to itself.

    A free port picked for a server lies in the kernel's ephemeral range, so a
    client that connects while nothing listens there (the server still
    starting, or restarting after kill -9) can be given that very port as its
    own: TCP's simultaneous open then connects the socket to itself, and the
    client reads back its own commands as replies (seen in
    test_durability_kill9). Such a connection is closed and reported as
    refused, which it would have been."""
    sock = socket.create_connection((host, port), timeout=timeout)
    if sock.getsockname() == sock.getpeername():
        sock.close()
        raise ConnectionRefusedError("connected to itself: nothing listens on port %d" % port)
    return sock


class Server:
    """One server process on a free loopback port; a context manager.

    `kind` is "synqd" or "beanstalkd"; `extra_args` are appended to the
    command line (e.g. ["-z", "1000"] or ["-b", dir]).  After start(),
    `port` and `proc` are set.  stop() is idempotent and reports (through
    `exit_status`) how the process ended, so tests can notice a crash."""

    def __init__(self, kind, extra_args=()):
        self.kind = kind
        self.extra_args = list(extra_args)
        self.port = None
        self.proc = None
        self.exit_status = None
        self._log = None
        self._log_text = ""

    def start(self):
        if self.kind == "synqd" and cluster_mode():
            return self._start_cluster()
        last_error = "no attempt made"
        for _attempt in range(5):
            port = _free_port()
            argv = server_argv(self.kind, port, self.extra_args)
            self._log = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=self._log)
            self.port = port
            if self._wait_accepting():
                return self
            last_error = "exit status %r, output: %r" % (self.proc.poll(), self.log_text())
            self._kill()
            self._close_log()
        raise ProtocolError("%s did not start accepting on 127.0.0.1: %s"
                            % (self.kind, last_error))

    # ---- SQ_SYNQD_CLUSTER=1: "synqd" is a 3-node cluster, reached through a follower ----

    def _start_cluster(self):
        """Three synqd nodes (--node, --peers) on free ports, each on its own Raft directory
        (under the test's -b DIR when it gives one); the server's port is a follower's, so
        every command goes through forward.c's relay to the leader, and proc is that
        follower's process. -f and -F do not apply to a cluster node and are dropped."""
        args, i, base = [], 0, None
        while i < len(self.extra_args):
            a = self.extra_args[i]
            if a in ("-b", "-f") and i + 1 < len(self.extra_args):
                if a == "-b":
                    base = self.extra_args[i + 1]
                i += 2
                continue
            if a != "-F":
                args.append(a)
            i += 1
        if base is None:
            self._cluster_tmp = tempfile.mkdtemp(prefix="synq-cluster-")
            base = self._cluster_tmp
        # A node's Raft state names its peers' addresses: a server started again on the same
        # -b DIR must find its nodes on the ports they had, so they are kept there.
        ports_file = os.path.join(base, "cluster-ports")
        if not getattr(self, "_nodes", None) and os.path.exists(ports_file):
            with open(ports_file) as f:
                ports = [tuple(int(x) for x in line.split()) for line in f if line.strip()]
            peers = ",".join("%d=127.0.0.1:%d" % (n + 1, ports[n][1]) for n in range(3))
            self._nodes = [{"id": n + 1, "port": ports[n][0], "peers": peers,
                            "dir": os.path.join(base, "node%d" % (n + 1))} for n in range(3)]
        if not getattr(self, "_nodes", None):
            p = free_ports(6)
            ports = list(zip(p[::2], p[1::2]))
            with open(ports_file, "w") as f:
                f.write("".join("%d %d\n" % p for p in ports))
            peers = ",".join("%d=127.0.0.1:%d" % (n + 1, ports[n][1]) for n in range(3))
            self._nodes = [{"id": n + 1, "port": ports[n][0], "peers": peers,
                            "dir": os.path.join(base, "node%d" % (n + 1))} for n in range(3)]
        for node in self._nodes:
            node["log"] = tempfile.TemporaryFile()
            argv = server_argv("synqd", node["port"],
                               ["-b", node["dir"], "--node", node["id"], "--peers", node["peers"],
                                "--election-timeout", str(CLUSTER_ELECTION_MS)] + args)
            node["proc"] = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                            stdout=node["log"], stderr=node["log"])
        deadline = time.monotonic() + START_TIMEOUT_S * 2
        while time.monotonic() < deadline:
            follower = self._cluster_follower()
            if follower:
                # A leader elected a moment ago may still lose to a node that was late to
                # start, which closes every relayed connection: take the follower once the
                # same leader and term held for more than an election timeout.
                first = self._cluster_term
                time.sleep(CLUSTER_ELECTION_MS * 1.4 / 1000)
                follower = self._cluster_follower()
                if not follower or self._cluster_term != first:
                    continue
                self.port, self.proc, self._log = follower["port"], follower["proc"], follower["log"]
                return self
            if any(n["proc"].poll() is not None for n in self._nodes):
                break
            time.sleep(0.05)
        text = self.log_text()
        self._stop_cluster()
        raise ProtocolError("the 3-node synqd cluster did not elect a serving leader: %s" % text)

    def _cluster_follower(self):
        """A follower whose leader serves (None until there is one)."""
        views = {}
        for node in self._nodes:
            try:
                with connect("127.0.0.1", node["port"], timeout=0.5) as sock:
                    sock.sendall(b"stats-cluster\r\n")
                    data = b""
                    while b"\npeers: " not in data or not data.endswith(b"\r\n"):
                        chunk = sock.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                views[node["id"]] = dict(re.findall(r"^([a-z-]+): (.*)$", data.decode(), re.M))
            except OSError:
                return None
        leaders = [i for i, v in views.items() if v.get("serving") == "true"]
        if len(leaders) != 1:
            return None
        self._cluster_term = (leaders[0], views[leaders[0]].get("term"))
        for node in self._nodes:
            v = views[node["id"]]
            if node["id"] != leaders[0] and v.get("leader") == str(leaders[0]):
                return node
        return None

    def _stop_cluster(self):
        died = self.proc.poll() if self.proc is not None else None
        texts = []
        for node in self._nodes:
            proc = node.get("proc")
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(STOP_TIMEOUT_S)
            if node.get("log") is not None:
                node["log"].seek(0)
                texts.append("node %d:\n%s" % (node["id"],
                                                node["log"].read().decode("utf-8", "replace")))
                node["log"].close()
                node["log"] = None
        self._log = None
        self._log_text = "\n".join(texts)
        self.exit_status = self.proc.returncode if self.proc is not None else None
        if getattr(self, "_cluster_tmp", None):
            shutil.rmtree(self._cluster_tmp, True)
            self._cluster_tmp = None
        return died

    def restart(self):
        """Stop the server and start it again on the same port (a client
        that reconnects finds it where it was). The port was ours a moment
        ago; if something took it meanwhile, this fails rather than move."""
        if getattr(self, "_nodes", None):
            tmp, self._cluster_tmp = getattr(self, "_cluster_tmp", None), None
            self._stop_cluster()
            self._cluster_tmp = tmp
            return self._start_cluster()
        self.stop()
        self._log = tempfile.TemporaryFile()
        argv = server_argv(self.kind, self.port, self.extra_args)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
        if not self._wait_accepting():
            raise ProtocolError("%s did not start again on port %d: exit status %r, output: %r"
                                % (self.kind, self.port, self.proc.poll(), self.log_text()))
        return self

    def _wait_accepting(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # exited: most likely the port was taken; retry
            try:
                with connect("127.0.0.1", self.port, timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def log_text(self):
        """Everything the server wrote to stdout/stderr so far."""
        if self._log is None:
            return self._log_text
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def _close_log(self):
        if self._log is not None:
            self._log_text = self.log_text()
            self._log.close()
            self._log = None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _kill(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT_S)

    def stop(self):
        """Stop the server (SIGTERM, then SIGKILL). Returns the exit status it
        had *before* we signalled it, or None when it was still running."""
        if self.proc is None:
            return None
        if getattr(self, "_nodes", None):
            return self._stop_cluster()
        died_early = self.proc.poll()
        self._kill()
        self.exit_status = self.proc.returncode
        self._close_log()
        return died_early

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


# ---------------------------------------------------------------- client

class Client:
    """A strict, byte-level protocol client.

    Keeps its own receive buffer so a test can pipeline commands and read the
    replies one by one.  Every read waits at most `timeout` seconds."""

    def __init__(self, port, timeout=READ_TIMEOUT_S, host="127.0.0.1"):
        self.timeout = timeout
        self.sock = connect(host, port, timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, what, timeout):
        """Receive more bytes into the buffer or raise a clear error."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        left = deadline - time.monotonic()
        if left <= 0:
            raise ProtocolError("timed out waiting for %s; received so far: %r" % (what, self.buf))
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise ProtocolError("timed out after %.1fs waiting for %s; received so far: %r"
                                % (self.timeout if timeout is None else timeout, what, self.buf)) from None
        except ConnectionResetError:
            raise ProtocolError("connection reset waiting for %s; received so far: %r"
                                % (what, self.buf)) from None
        if not chunk:
            raise ProtocolError("connection closed by server waiting for %s; received so far: %r"
                                % (what, self.buf))
        self.buf += chunk

    def read_line(self, timeout=None):
        """Read through the next "\\r\\n"; returns the line including it."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\r\n" not in self.buf:
            self._fill("a reply line", max(0.001, deadline - time.monotonic()))
        i = self.buf.index(b"\r\n") + 2
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self.buf) < n:
            self._fill("%d bytes" % n, max(0.001, deadline - time.monotonic()))
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def expect(self, want, timeout=None):
        """Read exactly len(want) bytes and require them to equal `want`."""
        if isinstance(want, str):
            want = want.encode()
        got = self.read_exact(len(want), timeout)
        if got != want:
            raise ProtocolError("expected %r, got %r (then buffered %r)" % (want, got, self.buf))
        return got

    def cmd(self, line, timeout=None):
        """Send `line` (CRLF appended when missing) and return the reply line."""
        if isinstance(line, str):
            line = line.encode()
        if not line.endswith(b"\r\n"):
            line += b"\r\n"
        self.send(line)
        return self.read_line(timeout)

    def read_job(self, word, timeout=None):
        """Read "<word> <id> <bytes>\\r\\n<data>\\r\\n"; returns (id, body)."""
        line = self.read_line(timeout)
        m = re.fullmatch(rb"%s (\d+) (\d+)\r\n" % word.encode(), line)
        if not m:
            raise ProtocolError("expected %s <id> <bytes>, got %r" % (word, line))
        body = self.read_exact(int(m.group(2)) + 2, timeout)
        if body[-2:] != b"\r\n":
            raise ProtocolError("job body not followed by CRLF: %r" % body)
        return int(m.group(1)), body[:-2]

    def read_yaml_reply(self, timeout=None):
        """Read "OK <n>\\r\\n<data>\\r\\n" and return the n data bytes."""
        line = self.read_line(timeout)
        m = re.fullmatch(rb"OK (\d+)\r\n", line)
        if not m:
            raise ProtocolError("expected OK <bytes>, got %r" % line)
        data = self.read_exact(int(m.group(1)) + 2, timeout)
        if data[-2:] != b"\r\n":
            raise ProtocolError("YAML body not followed by CRLF: %r" % data)
        return data[:-2]

    def expect_silence(self, wait_s=0.3):
        """Require that the server sends nothing for `wait_s` seconds."""
        if self.buf:
            raise ProtocolError("expected no reply, but have buffered %r" % self.buf)
        self.sock.settimeout(wait_s)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return
        raise ProtocolError("expected no reply for %.1fs, got %r" % (wait_s, chunk))

    def expect_closed(self, timeout=None):
        """Require that the server closes the connection (after any buffered
        bytes have been consumed by the caller)."""
        if self.buf:
            raise ProtocolError("expected close, but have buffered %r" % self.buf)
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise ProtocolError("server did not close the connection") from None
        except ConnectionResetError:
            return
        if chunk:
            raise ProtocolError("expected close, got %r" % chunk)


def parse_yaml(data):
    """Parse beanstalkd's flat YAML: a dict ("key: value") or a list ("- x").

    Returns a list of (key, value) pairs for a dict, in order, or a list of
    strings for a list.  Values are kept as text so tests compare formats."""
    if isinstance(data, bytes):
        data = data.decode()
    lines = data.split("\n")
    if lines[0] != "---":
        raise ProtocolError("YAML does not start with '---': %r" % data)
    if lines[-1] != "":
        raise ProtocolError("YAML does not end with a newline: %r" % data)
    body = lines[1:-1]
    if body and body[0].startswith("- "):
        return [x[2:] for x in body]
    pairs = []
    for line in body:
        k, sep, v = line.partition(": ")
        if not sep:
            raise ProtocolError("bad YAML line %r" % line)
        pairs.append((k, v))
    return pairs


def check_yaml_pairs(test, pairs, expected):
    """Compare parsed YAML pairs with `expected`, a list of (key, want).

    `want` is a str (exact value) or a compiled regex (value must fullmatch:
    used only for values that legitimately differ between servers or runs).
    Field names and their order must match exactly."""
    test.assertEqual([k for k, _ in pairs], [k for k, _ in expected], "YAML field names/order")
    for (k, got), (_, want) in zip(pairs, expected):
        if isinstance(want, str):
            test.assertEqual(got, want, "value of %r" % k)
        else:
            test.assertRegex(got, want, "format of %r" % k)
            test.assertIsNotNone(want.fullmatch(got), "value of %r = %r does not fully match %s"
                                 % (k, got, want.pattern))


# ---------------------------------------------------------------- test cases

def targets():
    """Servers to test against: env SQ_TARGETS, default synqd (+ beanstalkd
    when installed).  Naming beanstalkd explicitly when it is absent fails in
    setUpClass, like a missing synqd."""
    env = os.environ.get("SQ_TARGETS")
    if env:
        return [t.strip() for t in env.split(",") if t.strip()]
    out = ["synqd"]
    if os.path.exists(BEANSTALKD):
        out.append("beanstalkd")
    return out


class ServerTestCase(unittest.TestCase):
    """Base of the generated classes: owns the server(s) and clients.

    Class attributes a mixin may set: SERVER_ARGS (extra command-line args),
    PER_TEST (fresh server for every test).  `self.server` is the running
    server; `self.client()` opens a connection closed after the test."""

    TARGET = None
    SERVER_ARGS = ()
    PER_TEST = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = None
        if not cls.PER_TEST:
            cls.server = cls.start_server()

    @classmethod
    def start_server(cls, extra_args=None):
        srv = Server(cls.TARGET, cls.SERVER_ARGS if extra_args is None else extra_args)
        srv.start()
        cls.addClassCleanup(srv.stop)
        return srv

    def setUp(self):
        self._clients = []
        if self.PER_TEST:
            self.server = Server(self.TARGET, self.SERVER_ARGS).start()
            self.addCleanup(self._stop_test_server, self.server)
        self.addCleanup(self._close_clients)

    def _stop_test_server(self, srv):
        died = srv.stop()
        if died is not None:
            self.fail("%s exited by itself with status %r during the test; output:\n%s"
                      % (srv.kind, died, srv.log_text()))

    def _close_clients(self):
        for c in self._clients:
            c.close()
        if self.server is not None and not self.PER_TEST and not self.server.alive():
            self.fail("%s died during the test (status %r); output:\n%s"
                      % (self.TARGET, self.server.proc.returncode, self.server.log_text()))

    def client(self, server=None, timeout=READ_TIMEOUT_S):
        c = Client((server or self.server).port, timeout)
        self._clients.append(c)
        return c

    def fresh_server(self, extra_args=()):
        """A private server for one test, stopped at the end of the test."""
        srv = Server(self.TARGET, extra_args).start()
        self.addCleanup(self._stop_test_server, srv)
        return srv

    def put(self, c, body=b"x", pri=0, delay=0, ttr=60):
        """put a job on `c`'s used tube, require INSERTED, return the id."""
        if isinstance(body, str):
            body = body.encode()
        c.send(b"put %d %d %d %d\r\n%s\r\n" % (pri, delay, ttr, len(body), body))
        line = c.read_line()
        m = re.fullmatch(rb"INSERTED (\d+)\r\n", line)
        if not m:
            raise ProtocolError("put: expected INSERTED <id>, got %r" % line)
        return int(m.group(1))

    def assertReply(self, c, line, want):
        """Send `line`, require the reply line to equal `want` exactly."""
        if isinstance(want, str):
            want = want.encode()
        got = c.cmd(line)
        self.assertEqual(got, want, "reply to %r" % (line,))


class LogDirServers:
    """For tests of what survives kill -9 and a restart with -b: a fresh log
    directory per test, synqd started on it with -f 0, and kill9_restart().
    Mix in before the test's base class."""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="synq-log-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def start(self, extra=()):
        srv = Server("synqd", ["-b", self.dir, "-f", "0"] + list(extra)).start()
        self.addCleanup(srv.stop)
        return srv

    def kill9_restart(self, srv, extra=()):
        srv.proc.kill()
        srv.proc.wait(STOP_TIMEOUT_S)
        srv.stop()
        return self.start(extra)


def register(namespace, *mixins, only=None):
    """Create `<Mixin>_<target>` TestCase classes in `namespace` (a module's
    globals()) for every mixin and every target in targets(), or only for the
    targets in `only` (("synqd",) for tests of synqd's own extensions)."""
    for mixin in mixins:
        for target in only or targets():
            name = "%s_%s" % (mixin.__name__, target)
            namespace[name] = type(name, (mixin, ServerTestCase),
                                   {"TARGET": target, "__module__": namespace["__name__"]})


def main():
    """Run the calling module's tests; the last line is "N passed, M failed"
    so CI can read the result even outside ctest."""
    prog = unittest.main(module="__main__", exit=False, verbosity=2)
    r = prog.result
    failed = len(r.failures) + len(r.errors) + len(r.unexpectedSuccesses)
    passed = r.testsRun - failed - len(r.skipped)
    print("%d passed, %d failed, %d skipped" % (passed, failed, len(r.skipped)))
    sys.exit(0 if failed == 0 and r.testsRun > 0 else 1)


@contextlib.contextmanager
def running(kind, extra_args=()):
    """`with running("beanstalkd") as srv:` for scripts outside unittest."""
    srv = Server(kind, extra_args).start()
    try:
        yield srv
    finally:
        srv.stop()
