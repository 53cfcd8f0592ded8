"""systemd socket activation and readiness, as Debian's beanstalkd.socket uses them.

Model: each test starts the server under `systemd-socket-activate -l ADDR`,
which binds ADDR, waits for the first connection, then execs the server with
the listening socket as fd 3 (LISTEN_FDS=1, LISTEN_PID = the server's pid).
The server's own command line is the harness's `-l 127.0.0.1 -p PORT`, with
PORT the activated port (the command Debian's units amount to) or another
one: either way the server must serve the socket it was passed and bind
nothing itself, so the other port refuses connections.

Readiness (Type=notify) is synqd's own: the test binds an AF_UNIX datagram
socket, passes it as NOTIFY_SOCKET, and requires READY=1 only after the log
was replayed (the recovery line is already on stderr when READY=1 arrives),
then STOPPING=1 and exit status 0 on SIGTERM. beanstalkd sends no
notifications and dies of SIGTERM, so those tests run against synqd only;
the serving tests run against both (Debian's beanstalkd is the reference:
it ignores -l and -p with a warning and serves the first socket passed).

ContribUnits checks contrib/'s units against Debian's beanstalkd.socket,
runs synqd.service's ExecStart (expanded with synqd.default's values) the way
synqd.socket starts it, and has systemd-analyze verify the units.

Every server is stopped (SIGTERM, then SIGKILL). Python 3 standard library only.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402
from sqharness import ProtocolError  # noqa: E402

SOCKET_ACTIVATE = shutil.which("systemd-socket-activate") or "/usr/bin/systemd-socket-activate"
# Passed on to the server: systemd-socket-activate gives the program it runs
# only the LISTEN_* variables and those named with -E.
PASS_ENV = ("SQ_LOOP_BACKEND", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")
NOTIFY_TIMEOUT_S = 10.0


class ActivatedServer(sqharness.Server):
    """A server run by systemd-socket-activate on a free loopback port.

    `argv_port` is the -p the server is given (default: the activated port);
    `unix_path` activates an AF_UNIX socket instead of TCP; `extra_sockets`
    more TCP sockets passed after the first; `notify_path` is NOTIFY_SOCKET.
    After start(), `port` is the activated port (0 for AF_UNIX) and `ports`
    every activated TCP port. The server itself runs only once a client
    connects; the pid stays the same across the exec."""

    def __init__(self, kind, extra_args=(), argv_port=None, unix_path=None, extra_sockets=0,
                 notify_path=None):
        super().__init__(kind, extra_args)
        self.argv_port = argv_port
        self.unix_path = unix_path
        self.extra_sockets = extra_sockets
        self.notify_path = notify_path
        self.ports = []

    def start(self):
        if not os.access(SOCKET_ACTIVATE, os.X_OK):
            raise ProtocolError("%s not found (Debian package systemd; scripts/deps test "
                                "installs it)" % SOCKET_ACTIVATE)
        last_error = "no attempt made"
        for _attempt in range(5):
            self.ports = [] if self.unix_path else [sqharness._free_port()]
            self.ports += [sqharness._free_port() for _ in range(self.extra_sockets)]
            listen = [self.unix_path] if self.unix_path else []
            listen += ["127.0.0.1:%d" % p for p in self.ports]
            argv = [SOCKET_ACTIVATE]
            for addr in listen:
                argv += ["-l", addr]
            if self.notify_path:
                argv += ["-E", "NOTIFY_SOCKET=%s" % self.notify_path]
            argv += ["-E%s" % v for v in PASS_ENV if v in os.environ]
            self.port = 0 if self.unix_path else self.ports[0]
            argv_port = self.argv_port if self.argv_port is not None else self.port or 11300
            argv += sqharness.server_argv(self.kind, argv_port, self.extra_args)
            self._log = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=self._log)
            if self._wait_listening(len(listen)):
                return self
            last_error = "exit status %r, output: %r" % (self.proc.poll(), self.log_text())
            self._kill()
            self._close_log()
        raise ProtocolError("systemd-socket-activate did not listen: %s" % last_error)

    def _wait_listening(self, sockets):
        """systemd-socket-activate says "Listening on ADDR as FD." per socket."""
        deadline = time.monotonic() + sqharness.START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # most likely a port was taken: retry
            if self.log_text().count("Listening on ") >= sockets:
                return True
            time.sleep(0.02)
        return False


def round_trip(test, c, body):
    """put, reserve, delete one job over c, in a tube of its own (so jobs
    kept elsewhere are not in the way); c is left using and watching it."""
    test.assertReply(c, "use round-trip", "USING round-trip\r\n")
    test.assertReply(c, "watch round-trip", "WATCHING 2\r\n")
    test.assertReply(c, "ignore default", "WATCHING 1\r\n")
    jid = test.put(c, body)
    test.assertEqual(c.cmd("reserve-with-timeout 5"),
                     b"RESERVED %d %d\r\n" % (jid, len(body)))
    test.assertEqual(c.read_exact(len(body) + 2), body + b"\r\n")
    test.assertReply(c, "delete %d" % jid, "DELETED\r\n")


def assert_refused(test, port):
    with test.assertRaises(ConnectionRefusedError,
                           msg="port %d should have no listener: the server bound it "
                               "although it was socket-activated" % port):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


class ActivatedCase:
    """Each test starts its own activated server(s) (start())."""

    PER_TEST = True  # and no harness server: setUp below replaces the harness's

    def setUp(self):
        self._clients = []
        self.server = None
        self.tmp = tempfile.mkdtemp(prefix="sq_sa_")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.addCleanup(self._close_clients)

    def _stop_test_server(self, srv):
        if getattr(srv, "stopped_by_test", False):
            srv.stop()
        else:
            super()._stop_test_server(srv)

    def start(self, extra_args=(), **kw):
        srv = ActivatedServer(self.TARGET, extra_args, **kw).start()
        self.addCleanup(self._stop_test_server, srv)
        return srv


class Serving(ActivatedCase):
    """The passed socket is served and the server binds none of its own."""

    def test_serves_the_passed_socket_when_p_names_the_same_port(self):
        # The command: systemd-socket-activate -l 127.0.0.1:P synqd -l 127.0.0.1 -p P.
        srv = self.start()
        c = self.client(srv)
        round_trip(self, c, b"activated")
        self.assertReply(c, "list-tube-used", "USING round-trip\r\n")

    def test_ignores_l_and_p_and_binds_nothing(self):
        other = sqharness._free_port()
        srv = self.start(argv_port=other)
        c = self.client(srv)
        round_trip(self, c, b"hello")
        assert_refused(self, other)
        self.assertIn("inherited listen fd; ignoring option: -p %d" % other, srv.log_text())
        self.assertIn("inherited listen fd; ignoring option: -l 127.0.0.1", srv.log_text())

    def test_serves_many_clients_on_the_passed_socket(self):
        srv = self.start()
        clients = [self.client(srv) for _ in range(5)]
        for i, c in enumerate(clients):
            round_trip(self, c, b"job %d" % i)

    def test_with_a_log_jobs_survive_an_activated_restart(self):
        wal = os.path.join(self.tmp, "wal")
        os.mkdir(wal)
        srv = self.start(["-b", wal])
        c = self.client(srv)
        jid = self.put(c, b"kept")
        round_trip(self, c, b"gone")
        c.close()
        srv.stopped_by_test = True
        self.assertIsNone(srv.stop(), "exited by itself: %s" % srv.log_text())
        srv2 = self.start(["-b", wal])
        c2 = self.client(srv2)
        self.assertEqual(c2.cmd("peek %d" % jid), b"FOUND %d 4\r\n" % jid)
        self.assertEqual(c2.read_exact(6), b"kept\r\n")
        round_trip(self, c2, b"after restart")

    def test_first_of_several_sockets_is_served(self):
        # beanstalkd serves the first socket passed and warns about the others.
        srv = self.start(extra_sockets=1)
        round_trip(self, self.client(srv), b"first")
        self.assertIn("inherited more than one listen socket; ignoring all but the first",
                      srv.log_text())

    def test_listen_fds_meant_for_another_process_is_ignored(self):
        # LISTEN_PID names who the sockets are for (sd_listen_fds(3)): a server
        # that inherits the variables from a parent binds its own socket.
        saved = {k: os.environ.get(k) for k in ("LISTEN_PID", "LISTEN_FDS")}
        os.environ.update(LISTEN_PID="1", LISTEN_FDS="1")
        try:
            srv = self.fresh_server()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        round_trip(self, self.client(srv), b"bound itself")

    def test_passed_unix_socket_is_served(self):
        path = os.path.join(self.tmp, "sock")
        srv = self.start(unix_path=path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(sqharness.READ_TIMEOUT_S)
        s.connect(path)
        s.sendall(b"put 0 0 60 4\r\nunix\r\nreserve-with-timeout 5\r\n")
        want = b"INSERTED 1\r\nRESERVED 1 4\r\nunix\r\n"
        got = b""
        while len(got) < len(want):
            piece = s.recv(4096)
            if not piece:
                break
            got += piece
        s.close()
        self.assertEqual(got, want, "output: %s" % srv.log_text())


class Readiness(ActivatedCase):
    """Type=notify: READY=1 once serving (after the replay), STOPPING=1 on SIGTERM."""

    def notify_socket(self):
        path = os.path.join(self.tmp, "notify")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(NOTIFY_TIMEOUT_S)
        self.addCleanup(s.close)
        return s, path

    def recv_notify(self, s, srv):
        try:
            return s.recv(4096)
        except socket.timeout:
            raise ProtocolError("no notification within %.0f s; output: %s"
                                % (NOTIFY_TIMEOUT_S, srv.log_text())) from None

    def test_ready_after_the_log_is_replayed_and_stopping_on_sigterm(self):
        wal = os.path.join(self.tmp, "wal")
        os.mkdir(wal)
        jobs = 300
        with sqharness.Server(self.TARGET, ["-b", wal]) as plain:
            c = sqharness.Client(plain.port)
            for i in range(jobs):
                self.put(c, b"job %d" % i)
            c.close()
        ns, path = self.notify_socket()
        srv = self.start(["-b", wal], notify_path=path)
        c = self.client(srv)  # the first connection makes the server start
        self.assertEqual(self.recv_notify(ns, srv), b"READY=1")
        # READY=1 leaves after the replay: the recovery line is already written.
        self.assertRegex(srv.log_text(), r"recovered %d jobs from \d+ records" % jobs)
        c.send(b"stats-tube default\r\n")
        stats = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        self.assertEqual(stats.get("current-jobs-ready"), str(jobs), stats)
        round_trip(self, c, b"ready")
        srv.stopped_by_test = True
        srv.signal(signal.SIGTERM)
        self.assertEqual(self.recv_notify(ns, srv), b"STOPPING=1")
        srv.proc.wait(sqharness.STOP_TIMEOUT_S)
        self.assertEqual(srv.proc.returncode, 0, "output: %s" % srv.log_text())
        ns.settimeout(0.2)
        with self.assertRaises(socket.timeout, msg="one READY=1 and one STOPPING=1 only"):
            ns.recv(4096)

    def test_ready_without_a_log(self):
        ns, path = self.notify_socket()
        srv = self.start(notify_path=path)
        c = self.client(srv)
        self.assertEqual(self.recv_notify(ns, srv), b"READY=1")
        round_trip(self, c, b"x")

    def test_sigterm_closes_connections_and_exits_0(self):
        srv = self.start()
        c = self.client(srv)
        round_trip(self, c, b"x")
        srv.stopped_by_test = True
        srv.signal(signal.SIGTERM)
        c.expect_closed()
        srv.proc.wait(sqharness.STOP_TIMEOUT_S)
        self.assertEqual(srv.proc.returncode, 0, "output: %s" % srv.log_text())

    def test_unreachable_notify_socket_is_harmless(self):
        srv = self.start(notify_path=os.path.join(self.tmp, "nobody-listens"))
        round_trip(self, self.client(srv), b"served anyway")


CONTRIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib")
DEBIAN_SOCKET = "/lib/systemd/system/beanstalkd.socket"


def unit_settings(path):
    """A unit file's Key=value lines as {key: [values]}, sections merged."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and line[0] not in "#;[" and "=" in line:
                k, v = line.split("=", 1)
                out.setdefault(k.strip(), []).append(v.strip())
    return out


def environment_file(path):
    """systemd's EnvironmentFile= reading of the simple KEY=value and
    KEY="value" lines the default file has."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and line[0] not in "#;" and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v[1:-1] if v[:1] == '"' and v[-1:] == '"' else v
    return env


def exec_argv(line, env):
    """ExecStart= as systemd expands it: ${VAR} is one word, $VAR splits
    into words (and disappears when empty or unset)."""
    argv = []
    for word in line.split():
        m = re.fullmatch(r"\$\{(\w+)\}", word)
        if m:
            argv.append(env.get(m.group(1), ""))
            continue
        m = re.fullmatch(r"\$(\w+)", word)
        if m:
            argv += env.get(m.group(1), "").split()
            continue
        argv.append(word)
    return argv


class ContribUnits(ActivatedCase):
    """contrib/synqd.{socket,service,default} are what they say."""

    def test_socket_listens_where_debians_beanstalkd_socket_does(self):
        ours = unit_settings(os.path.join(CONTRIB, "synqd.socket"))
        self.assertEqual(ours.get("ListenStream"), ["127.0.0.1:11300"])
        if os.path.exists(DEBIAN_SOCKET):
            self.assertEqual(ours.get("ListenStream"),
                             unit_settings(DEBIAN_SOCKET).get("ListenStream"))

    def test_service_is_notify_with_user_state_and_environment_file(self):
        svc = unit_settings(os.path.join(CONTRIB, "synqd.service"))
        self.assertEqual(svc.get("Type"), ["notify"])
        self.assertEqual(svc.get("User"), ["synq"])
        self.assertEqual(svc.get("StateDirectory"), ["synqd"])
        self.assertEqual(svc.get("EnvironmentFile"), ["/etc/default/synqd"])
        env = environment_file(os.path.join(CONTRIB, "synqd.default"))
        self.assertEqual(env.get("SYNQD_LISTEN_ADDR"), "127.0.0.1")
        self.assertEqual(env.get("SYNQD_LISTEN_PORT"), "11300")

    def test_service_command_line_serves_the_socket(self):
        # ExecStart with the default file's values (and the persistence line
        # uncommented, the log in a test directory), under socket activation
        # as synqd.socket would start it.
        svc = unit_settings(os.path.join(CONTRIB, "synqd.service"))
        env = environment_file(os.path.join(CONTRIB, "synqd.default"))
        wal = os.path.join(self.tmp, "wal")
        os.mkdir(wal)
        env["SYNQD_EXTRA"] = "-b %s -f 0" % wal
        argv = exec_argv(svc["ExecStart"][0], env)
        self.assertEqual(argv[0], "/usr/bin/synqd")
        self.assertEqual(argv[1:5], ["-l", "127.0.0.1", "-p", "11300"])
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(os.path.join(self.tmp, "notify"))
        ns.settimeout(NOTIFY_TIMEOUT_S)
        self.addCleanup(ns.close)
        # The unit's -p 11300 too: ignored under activation, whoever holds 11300.
        srv = ServiceCommand(argv[5:], int(argv[4]), os.path.join(self.tmp, "notify"))
        srv.start()
        self.addCleanup(self._stop_test_server, srv)
        round_trip(self, self.client(srv), b"from the unit")
        self.assertEqual(ns.recv(4096), b"READY=1")
        self.assertTrue(os.listdir(wal), "no log written in %s" % wal)

    @unittest.skipUnless(shutil.which("systemd-analyze"), "no systemd-analyze")
    def test_systemd_analyze_verify_accepts_the_units(self):
        bin_dir = os.environ.get("SQ_BIN_DIR", "")
        synqd = os.path.join(bin_dir, "synqd")
        self.assertTrue(os.access(synqd, os.X_OK), "no synqd in SQ_BIN_DIR")
        for name in ("synqd.socket", "synqd.service"):
            with open(os.path.join(CONTRIB, name)) as f:
                text = f.read().replace("/usr/bin/synqd", synqd)
            with open(os.path.join(self.tmp, name), "w") as f:
                f.write(text)
        r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                            os.path.join(self.tmp, "synqd.socket"),
                            os.path.join(self.tmp, "synqd.service")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("synqd", r.stdout + r.stderr, "warnings about our units")


class ServiceCommand(ActivatedServer):
    """synqd with the unit's own arguments (argv after -l/-p), under activation."""

    def __init__(self, args, argv_port, notify_path):
        super().__init__("synqd", args, argv_port=argv_port, notify_path=notify_path)


sqharness.register(globals(), Serving)
if "synqd" in sqharness.targets():
    name = "ContribUnits_synqd"
    globals()[name] = type(name, (ContribUnits, sqharness.ServerTestCase),
                           {"TARGET": "synqd", "__module__": __name__})
if "synqd" in sqharness.targets():
    name = "Readiness_synqd"
    globals()[name] = type(name, (Readiness, sqharness.ServerTestCase),
                           {"TARGET": "synqd", "__module__": __name__})

if __name__ == "__main__":
    sqharness.main()
