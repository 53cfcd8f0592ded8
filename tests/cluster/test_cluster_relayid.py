"""Client identity through cluster followers (relayid.h): a follower tells the leader
who each relayed client is, and the leader believes it only from a verified node.

Real 3-node clusters with --users; under --cluster-tls yes --cluster-tls-name NAME with
certificates made by `openssl` for the test (test_cluster_tls.make_certs, plus a client
certificate for user alice):
- a client whose certificate names alice, connected to a follower's TLS port, is logged in
  on the leader with alice's rights (and only hers);
- two clients behind one follower (from 127.0.0.2 and 127.0.0.3: Linux routes all of
  127/8 to lo) have separate `auth` failure limits: one guesser does not block the other,
  and the guesser is blocked through the other follower too;
- a client sending the relay line itself, to the leader's plain port or (holding a client
  certificate of the CA, not a node's) to its TLS port, is answered as for an unknown line,
  not logged in as the user it names, and its failures count under its own address;
- without cluster TLS, the old behaviour: the follower sends no relay line and its clients
  share its address's failure limit; --cluster-tls yes without --cluster-tls-name does not
  start (a client certificate of the CA would pass for a node's).

Exits 77 (ctest: skipped) when synqd has no --node or openssl is missing."""

import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
from cluster import Client, Cluster, ProtocolError  # noqa: E402
from test_auth import pbkdf2_hash  # noqa: E402  (tests/integration, on cluster's path)
from test_cluster_tls import NAME, log_of, make_certs  # noqa: E402

PASSWORDS = {"admin": "admin-pw", "bob": "bob-pw"}


def write_users(d):
    path = os.path.join(d, "users")
    with open(path, "w") as f:
        f.write("admin %s *:all\n" % pbkdf2_hash(PASSWORDS["admin"]))
        f.write("alice - alice-*:put,peek\n")  # a certificate is her only way in
        f.write("bob %s bob-*:put\n" % pbkdf2_hash(PASSWORDS["bob"]))
    return path


def make_client_cert(d, user):
    """A client certificate for `user` (its CN), signed by the cluster CA."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", user + ".key", "-out", user + ".csr", "-subj", "/CN=" + user)
    run("x509", "-req", "-in", user + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", user + ".pem", "-days", "2")


class From(Client):
    """A protocol client whose socket is bound to source address `src` (a 127/8 address),
    optionally speaking TLS with a client certificate."""

    def __init__(self, src, host, port, tls_ctx=None, timeout=5.0):
        self.timeout = timeout
        self.buf = b""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.bind((src, 0))
        s.connect((host, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = tls_ctx.wrap_socket(s, server_hostname=NAME) if tls_ctx else s


class UsersCluster(Cluster):
    """Three nodes with --users; with certs, also --cluster-tls yes (NAME) and TLS ports.
    Under --users a follower answers nothing itself, so stats-cluster goes, as admin, to the
    leader, whose document every node then returns: wait_leader still finds it."""

    def __init__(self, users, certs=None, name=NAME):
        super().__init__(3, 1000, extra_args=["--users", users, "-V"])
        self.certs = certs
        self.name = name
        self.tls_ports = {}

    def argv(self, node):
        argv = super().argv(node)
        if not self.certs:
            return argv
        if node.id not in self.tls_ports:
            self.tls_ports[node.id] = cluster.free_ports(1)[0]
        c = lambda f: os.path.join(self.certs, f)  # noqa: E731
        return argv + ["--tls-port", str(self.tls_ports[node.id]), "--cluster-tls", "yes",
                       "--tls-cert", c("node.pem"), "--tls-key", c("node.key"),
                       "--tls-ca", c("ca.pem")] + (["--cluster-tls-name", self.name]
                                                   if self.name else [])

    def stats(self, i, timeout=1.0):
        with self.client(i, timeout) as c:
            auth(c, "admin")
            c.send(b"stats-cluster\r\n")
            return cluster.parse_stats_cluster(c.read_yaml_reply())


def auth(c, user, password=None):
    line = c.cmd("auth %s %s" % (user, PASSWORDS[user] if password is None else password))
    if line != b"OK_AUTH\r\n":
        raise ProtocolError("auth %s: %r" % (user, line))


class RelayIdentity(unittest.TestCase):
    """One cluster under cluster TLS for all its tests; each test uses its own source
    addresses, so their failure counts do not meet."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="synq-relayid-")
        make_certs(cls.dir)
        make_client_cert(cls.dir, "alice")
        cls.users = write_users(cls.dir)
        cls.c = UsersCluster(cls.users, cls.dir).start()
        try:
            cls.leader = cls.c.wait_leader(20)
        except BaseException:
            cls.c.print_logs()
            cls.c.close()
            raise
        cls.followers = [i for i in cls.c.nodes if i != cls.leader]

    @classmethod
    def tearDownClass(cls):
        crashes = cls.c.crashes()
        cls.c.close()
        shutil.rmtree(cls.dir, ignore_errors=True)
        if crashes:
            raise AssertionError("nodes crashed: %r" % crashes)

    def setUp(self):
        # Every test relies on the leader found at the start: a change of leader closes the
        # relayed clients, and the new leader has its own failure counts.
        try:
            self.assertEqual(self.c.wait_leader(10), self.leader, "the leader changed")
        except BaseException:
            self.c.print_logs()
            raise

    def tls_ctx(self, cert):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(os.path.join(self.dir, "ca.pem"))
        ctx.load_cert_chain(os.path.join(self.dir, cert + ".pem"),
                            os.path.join(self.dir, cert + ".key"))
        return ctx

    def via(self, src, node, tls_cert=None):
        n = self.c.nodes[node]
        if tls_cert:
            return From(src, n.host, self.c.tls_ports[node], self.tls_ctx(tls_cert))
        return From(src, n.host, n.client_port)

    def test_certificate_user_through_follower(self):
        f = self.followers[0]
        with self.via("127.0.0.5", f, tls_cert="alice") as cl:
            self.assertEqual(cl.cmd("use alice-q"), b"USING alice-q\r\n")
            cl.send(b"put 0 0 60 5\r\nhello\r\n")
            line = cl.read_line()
            self.assertRegex(line, rb"^INSERTED \d+\r\n$")
            jid = int(line.split()[1])
            cl.send(b"peek %d\r\n" % jid)
            self.assertEqual(cl.read_job("FOUND"), (jid, b"hello"))
            # Her rights, not more: another user's tube, the server's stats, a second login.
            self.assertEqual(cl.cmd("use bob-q"), b"NOT_AUTHORIZED\r\n")
            self.assertEqual(cl.cmd("stats"), b"NOT_AUTHORIZED\r\n")
            self.assertEqual(cl.cmd("auth admin %s" % PASSWORDS["admin"]), b"BAD_AUTH\r\n")
        # The job is the leader's (the follower relayed, it did not serve).
        with self.c.client(self.leader) as adm:
            auth(adm, "admin")
            adm.send(b"peek %d\r\n" % jid)
            self.assertEqual(adm.read_job("FOUND"), (jid, b"hello"))
        log = log_of(self.c, self.leader)
        self.assertRegex(log, r"client 127\.0\.0\.5:\d+ relayed by node 127\.0\.0\.1:\d+ with "
                              r"a certificate of user alice")

    def test_failure_limits_per_client_behind_one_follower(self):
        f, other = self.followers
        with self.via("127.0.0.2", f) as guesser:
            for _ in range(5):
                self.assertEqual(guesser.cmd("auth bob wrong"), b"BAD_AUTH\r\n")
            # Blocked now: even the right password is not checked.
            self.assertEqual(guesser.cmd("auth bob %s" % PASSWORDS["bob"]), b"BAD_AUTH\r\n")
        with self.via("127.0.0.3", f) as honest:  # same follower, another client
            auth(honest, "bob")
            self.assertEqual(honest.cmd("use bob-q"), b"USING bob-q\r\n")
        # The guesser's address is what is blocked, through any node.
        for node in (other, self.leader):
            with self.via("127.0.0.2", node) as again:
                self.assertEqual(again.cmd("auth bob %s" % PASSWORDS["bob"]), b"BAD_AUTH\r\n")
        self.assertRegex(log_of(self.c, self.leader),
                         r"client 127\.0\.0\.2:\d+ relayed by node 127\.0\.0\.1:\d+\n")

    def test_relay_line_from_a_client_is_refused(self):
        n = self.c.nodes[self.leader]
        # A plain client on the leader's plain port: before auth, the line is refused as any
        # other line is; it is not admin afterwards.
        with self.via("127.0.0.4", self.leader) as spoof:
            self.assertEqual(spoof.cmd("relay-from 127.0.0.9:1 admin"), b"NOT_AUTHORIZED\r\n")
            self.assertEqual(spoof.cmd("stats"), b"NOT_AUTHORIZED\r\n")
            self.assertEqual(spoof.cmd("use bob-q"), b"NOT_AUTHORIZED\r\n")
            # Its failures count under its own address, not the one it named.
            for _ in range(5):
                self.assertEqual(spoof.cmd("auth bob wrong"), b"BAD_AUTH\r\n")
            self.assertEqual(spoof.cmd("auth bob %s" % PASSWORDS["bob"]), b"BAD_AUTH\r\n")
        with From("127.0.0.9", n.host, n.client_port) as named:
            auth(named, "bob")
        # A client with a certificate of the cluster CA that is not a node's, on the TLS port:
        # the line is an unknown command, and the session stays alice's.
        with self.via("127.0.0.6", self.leader, tls_cert="alice") as tls_spoof:
            self.assertEqual(tls_spoof.cmd("relay-from 127.0.0.9:1 admin"),
                             b"UNKNOWN_COMMAND\r\n")
            self.assertEqual(tls_spoof.cmd("stats"), b"NOT_AUTHORIZED\r\n")
            self.assertEqual(tls_spoof.cmd("use alice-q"), b"USING alice-q\r\n")
        # Also as its very first bytes, pipelined with a command.
        with self.via("127.0.0.7", self.leader, tls_cert="alice") as first:
            first.send(b"relay-from 127.0.0.9:1 admin\r\nuse bob-q\r\n")
            self.assertEqual(first.read_line(), b"UNKNOWN_COMMAND\r\n")
            self.assertEqual(first.read_line(), b"NOT_AUTHORIZED\r\n")
        self.assertNotIn("client 127.0.0.9:1 relayed", log_of(self.c, self.leader))


class WithoutRelayLine(unittest.TestCase):
    """Without cluster TLS the leader sees the follower, as before relay lines; cluster TLS
    without a name to tell nodes from clients is refused at start."""

    def test_without_cluster_tls(self):
        self.check_old_behaviour()

    def test_cluster_tls_without_name_does_not_start(self):
        d = tempfile.mkdtemp(prefix="synq-relayid-noname-")
        try:
            make_certs(d)
            c = UsersCluster(write_users(d), d, name=None)
            c.root = d
            c._layout()
            argv = c.argv(c.nodes[1])
            argv = argv[argv.index(cluster.synqd_path()):]
            r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 5, r.stderr)  # SYNQD_EXIT_USAGE
            self.assertIn("--cluster-tls yes needs --cluster-tls-name", r.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def check_old_behaviour(self):
        d = tempfile.mkdtemp(prefix="synq-relayid-old-")
        try:
            with UsersCluster(write_users(d)) as c:
                leader = c.wait_leader(20)
                f = next(i for i in c.nodes if i != leader)
                node = c.nodes[f]
                with From("127.0.0.2", node.host, node.client_port) as cl:
                    auth(cl, "bob")
                    self.assertEqual(cl.cmd("use bob-q"), b"USING bob-q\r\n")
                with c.client(leader) as spoof:
                    self.assertEqual(spoof.cmd("relay-from 127.0.0.9:1 admin"),
                                     b"NOT_AUTHORIZED\r\n")
                    self.assertEqual(spoof.cmd("stats"), b"NOT_AUTHORIZED\r\n")
                # The leader sees the follower: its clients share one failure count (last:
                # it blocks the follower's address, from which the test's stats come too).
                with From("127.0.0.2", node.host, node.client_port) as guesser:
                    for _ in range(5):
                        self.assertEqual(guesser.cmd("auth bob wrong"), b"BAD_AUTH\r\n")
                with From("127.0.0.3", node.host, node.client_port) as other:
                    self.assertEqual(other.cmd("auth bob %s" % PASSWORDS["bob"]),
                                     b"BAD_AUTH\r\n")
                self.assertNotIn("relayed by node", log_of(c, leader))
                self.assertNotIn("answered the relay line", log_of(c, f))
                self.assertEqual(c.crashes(), {})
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    cluster.skip_unless_cluster()
    if not shutil.which("openssl"):
        print("skipped: no openssl")
        sys.exit(77)
    unittest.main(verbosity=2)
