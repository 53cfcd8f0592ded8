"""Cluster TLS (--cluster-tls yes): Raft links between nodes are mutual TLS, peers
verified against the cluster CA. Certificates are made with `openssl` into a temp
dir. A 3-node TLS cluster elects, replicates puts, survives kill -9 of the leader
with no acknowledged put lost, serves a client through a follower; a node whose
certificate another CA signed is never let in (the other two keep serving, the
refusal is logged); the Raft port speaks TLS (Python ssl with a good client
certificate completes a handshake, a plain connect is closed); SIGHUP reloads a
node's Raft certificate for new links (a broken file keeps the old one, open
links go on, a peer that reconnects gets the new one, one from another CA gets
that node's links refused, the good one back lets it rejoin).

Exits 77 (ctest: skipped) when synqd has no --node or openssl is missing."""

import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
from cluster import Cluster  # noqa: E402

NAME = "synq-node"


def make_certs(d):
    """A cluster CA and a node certificate it signed; another CA and a node
    certificate that one signed. All name NAME."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=DNS:%s\n" % NAME)
    for ca, nodes in (("ca", ("node", "renewed")), ("otherca", ("othernode",))):
        run("req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".pem", "-days", "2",
            "-subj", "/CN=" + ca)
        for node in nodes:
            run("req", *ec, "-keyout", node + ".key", "-out", node + ".csr",
                "-subj", "/CN=" + NAME)
            run("x509", "-req", "-in", node + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                "-CAcreateserial", "-out", node + ".pem", "-days", "2", "-extfile", "ext")


def serial_of(pem):
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", pem], check=True,
                         capture_output=True, text=True).stdout
    return int(out.strip().split("=", 1)[1], 16)


class TlsCluster(Cluster):
    """Every node with --cluster-tls yes; node ids in `foreign` get the other CA's
    certificate (their own CA file says the other CA too)."""

    def __init__(self, certs, foreign=(), own=None, **kw):
        super().__init__(3, 500, **kw)
        self.certs = certs
        self.foreign = set(foreign)
        self.own = own or {}  # node id -> (cert, key) files of its own (for reloads)
        self.tls_ports = {}

    def argv(self, node):
        argv = super().argv(node)
        if node.id not in self.tls_ports:
            self.tls_ports[node.id] = cluster.free_ports(1)[0]
        prefix = "other" if node.id in self.foreign else ""
        c = lambda f: os.path.join(self.certs, f)  # noqa: E731
        cert, key = self.own.get(node.id, (c(prefix + "node.pem"), c(prefix + "node.key")))
        return argv + ["--tls-port", str(self.tls_ports[node.id]), "--cluster-tls", "yes",
                       "--tls-cert", cert, "--tls-key", key,
                       "--tls-ca", c(prefix + "ca.pem"), "--cluster-tls-name", NAME]


def put(c, body):
    line = c.cmd(b"put 0 0 30 %d\r\n%s" % (len(body), body))
    m = re.fullmatch(rb"INSERTED (\d+)\r\n", line)
    if not m:
        raise AssertionError("put: expected INSERTED <id>, got %r" % line)
    return int(m.group(1))


def established_to(port):
    """How many established TCP connections (IPv4, loopback) have `port` as their local port."""
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].split(":")[1], 16) == port:
                n += 1
    return n


def links_into(port):
    """The established TCP connections (IPv4) whose local port is `port`, as their remote
    (address, port) fields: a node's incoming Raft links when port is its Raft port."""
    links = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].split(":")[1], 16) == port:
                links.add(fields[2])
    return links


def log_of(c, i):
    with open(c.nodes[i].log_path, "rb") as f:
        return f.read().decode(errors="replace")


class ClusterTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.certs = tempfile.mkdtemp(prefix="synq-cluster-tls-")
        make_certs(cls.certs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.certs, ignore_errors=True)

    def client_ctx(self, prefix=""):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(os.path.join(self.certs, prefix + "ca.pem"))
        ctx.load_cert_chain(os.path.join(self.certs, prefix + "node.pem"),
                            os.path.join(self.certs, prefix + "node.key"))
        return ctx

    def raft_serial(self, node):
        """The serial of the certificate node's Raft port presents now (a new link)."""
        with socket.create_connection((node.host, node.raft_port), timeout=5) as s:
            with self.client_ctx().wrap_socket(s, server_hostname=NAME) as t:
                return int(t.getpeercert()["serialNumber"], 16)

    def wait_log(self, c, i, since, text, timeout=10):
        """Node i's log after offset `since`, once it holds text (fails after timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            new = log_of(c, i)[since:]
            if text in new or time.monotonic() > deadline:
                self.assertIn(text, new)
                return new
            time.sleep(0.05)

    def sighup(self, c, i, cert, key):
        """Installs cert and key as node i's files (renamed in, as an operator's tooling
        would), sends SIGHUP; returns the log offset before it."""
        since = len(log_of(c, i))
        own_cert, own_key = c.own[i]
        for src, dst in ((cert, own_cert), (key, own_key)):
            with open(src, "rb") as f, open(dst + ".new", "wb") as g:
                g.write(f.read())
            os.replace(dst + ".new", dst)
        c.nodes[i].proc.send_signal(signal.SIGHUP)
        return since

    def test_sighup_reloads_raft_certificates(self):
        d = tempfile.mkdtemp(prefix="synq-cluster-reload-", dir=self.certs)
        own = (os.path.join(d, "n1.pem"), os.path.join(d, "n1.key"))
        shutil.copy(os.path.join(self.certs, "node.pem"), own[0])
        shutil.copy(os.path.join(self.certs, "node.key"), own[1])
        crt = lambda n: (os.path.join(self.certs, n + ".pem"),  # noqa: E731
                         os.path.join(self.certs, n + ".key"))
        with open(os.path.join(d, "broken.pem"), "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
        old, new = serial_of(crt("node")[0]), serial_of(crt("renewed")[0])
        self.assertNotEqual(old, new)
        with TlsCluster(self.certs, own={1: own}) as c:
            leader = c.wait_leader(10)
            with c.client(leader) as cl:
                put(cl, b"before-reload")
            c.wait_converged(20)
            self.assertEqual(self.raft_serial(c.nodes[1]), old)

            # A certificate that does not load: reported, the old one still presented.
            since = self.sighup(c, 1, os.path.join(d, "broken.pem"), crt("node")[1])
            self.wait_log(c, 1, since, "keeping the configuration serving")
            self.assertEqual(self.raft_serial(c.nodes[1]), old)

            # A renewed certificate of the cluster CA: new links present it, open ones go on.
            open_links = links_into(c.nodes[1].raft_port)
            self.assertGreaterEqual(len(open_links), 1)
            since = self.sighup(c, 1, *crt("renewed"))
            logged = self.wait_log(c, 1, since, "Raft certificates reloaded")
            self.assertEqual(int(re.search(r"reloaded \(serial ([0-9A-F]+),", logged).group(1),
                                 16), new)
            self.assertNotIn("does not verify", logged)
            self.assertEqual(self.raft_serial(c.nodes[1]), new)
            leader = c.wait_leader(10)
            with c.client(leader) as cl:
                put(cl, b"after-reload")
            self.assertLessEqual(open_links, links_into(c.nodes[1].raft_port),
                                 "an open Raft link was dropped by the reload")
            # A peer that reconnects (kill -9, restart) gets node 1's new certificate: the
            # cluster elects and replicates with it.
            for peer in (2, 3):
                c.kill9(peer)
                c.restart(peer)
                c.wait_leader(15)
            leader = c.wait_leader(10)
            with c.client(leader) as cl:
                put(cl, b"after-reconnects")
            st = c.wait_converged(20)
            self.assertEqual(len({s["applied-index"] for s in st.values()}), 1, st)
            self.assertEqual(len(st), 3, st)

            # A certificate of another CA: node 1 is warned, and once its peers reconnect
            # they refuse its links; the other two go on without it.
            since = self.sighup(c, 1, *crt("othernode"))
            self.wait_log(c, 1, since, "does not verify against")
            refused = {}
            for peer in (2, 3):
                refused[peer] = len(log_of(c, peer))
                c.kill9(peer)
                c.restart(peer)
            for peer in (2, 3):
                self.wait_log(c, peer, refused[peer], "peer certificate refused", timeout=15)
            leader = c.wait_leader(15, among=[2, 3])
            with c.client(leader) as cl:
                put(cl, b"without-node-1")
            time.sleep(2)  # several election timeouts: node 1 keeps trying, and is refused
            self.assertLess(int(c.stats(1)["applied-index"]),
                            int(c.stats(leader)["applied-index"]))
            self.assertNotEqual(c.stats(1)["state"], "leader")

            # The good certificate back: node 1's next links are accepted, it catches up.
            self.sighup(c, 1, *crt("renewed"))
            deadline = time.monotonic() + 20
            while True:
                st = c.wait_converged(2)
                if len(st) == 3 and len({s["applied-index"] for s in st.values()}) == 1:
                    break
                self.assertLess(time.monotonic(), deadline, "node 1 did not catch up: %s" % st)
            self.assertEqual(c.crashes(), {})

    def test_elect_replicate_failover_follower(self):
        with TlsCluster(self.certs) as c:
            leader = c.wait_leader(10)
            ids = {}
            with c.client(leader) as cl:
                for k in range(50):
                    body = b"tls-job-%d" % k
                    ids[put(cl, body)] = body
            c.wait_converged(20)
            follower = next(i for i in c.nodes if i != leader)
            with c.client(follower) as cl:  # relayed to the leader's TLS port
                jid = put(cl, b"through-follower")
                ids[jid] = b"through-follower"
                self.assertGreaterEqual(established_to(c.tls_ports[leader]), 1,
                                        "the relay does not reach the leader's TLS port")
                self.assertEqual(established_to(c.nodes[leader].client_port), 0,
                                 "a relay reaches the leader's plain port")
            c.kill9(leader)
            rest = [i for i in c.nodes if i != leader]
            new = c.wait_leader(10, among=rest)
            self.assertNotEqual(new, leader)
            with c.client(new) as cl:
                for jid, body in ids.items():
                    cl.send(b"peek %d\r\n" % jid)
                    self.assertEqual(cl.read_job("FOUND"), (jid, body))
                put(cl, b"after-failover")
            self.assertEqual(c.crashes(), {})

    def test_raft_port_speaks_tls(self):
        with TlsCluster(self.certs) as c:
            c.wait_leader(10)
            node = c.nodes[1]
            with socket.create_connection((node.host, node.raft_port), timeout=5) as s:
                with self.client_ctx().wrap_socket(s, server_hostname=NAME) as t:
                    self.assertIn(t.version(), ("TLSv1.2", "TLSv1.3"))
                    self.assertEqual(t.getpeercert()["subjectAltName"], (("DNS", NAME),))
            with socket.create_connection((node.host, node.raft_port), timeout=5) as s:
                s.sendall(b"\x01\x00\x00\x00\x00\x00\x00\x00plain raft handshake\r\n" * 4)
                s.settimeout(5)
                try:
                    self.assertIn(s.recv(4096)[:1], (b"", b"\x15"))  # closed, or a TLS alert
                except ConnectionResetError:
                    pass
            # A client certificate from another CA: the handshake is refused.
            with socket.create_connection((node.host, node.raft_port), timeout=5) as s:
                ctx = self.client_ctx("other")
                ctx.load_verify_locations(os.path.join(self.certs, "ca.pem"))
                with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError)):
                    with ctx.wrap_socket(s, server_hostname=NAME) as t:
                        t.recv(1)  # TLS 1.3: the refusal of our certificate comes after
            # A good peer sending its preamble (magic, id, address length; then the address)
            # in two records, then leaving: the node takes it and stays up.
            with socket.create_connection((node.host, node.raft_port), timeout=5) as s:
                with self.client_ctx().wrap_socket(s, server_hostname=NAME) as t:
                    addr = b"127.0.0.1:9\0"
                    t.sendall(struct.pack("<QQQ", 0x31534C54514E5953, 9, len(addr)))
                    time.sleep(0.2)
                    t.sendall(addr)
                    time.sleep(0.2)
            time.sleep(0.3)
            self.assertIsNotNone(c.try_stats(1))
            self.assertEqual(c.crashes(), {})
            self.assertIn("peer certificate refused", log_of(c, 1))
            self.assertIn("TLS handshake failed (a plain peer?)", log_of(c, 1))

    def test_node_of_another_ca_not_let_in(self):
        with TlsCluster(self.certs, foreign=[3]) as c:
            leader = c.wait_leader(10, among=[1, 2])
            self.assertIn(leader, (1, 2))
            with c.client(leader) as cl:
                put(cl, b"without-node-3")
            time.sleep(2)  # several election timeouts: node 3 keeps trying
            st = c.try_stats(3)
            self.assertIsNotNone(st)
            self.assertNotEqual(st["state"], "leader")
            self.assertLess(int(st["applied-index"]), int(c.stats(leader)["applied-index"]))
            self.assertIn("peer certificate refused", log_of(c, 3))
            refused = log_of(c, 1) + log_of(c, 2)
            self.assertIn("peer certificate refused", refused)
            self.assertEqual(c.wait_leader(5, among=[1, 2]), leader)
            self.assertEqual(c.crashes(), {})


if __name__ == "__main__":
    cluster.skip_unless_cluster()
    if not shutil.which("openssl"):
        print("skipped: no openssl")
        sys.exit(77)
    unittest.main(verbosity=2)
