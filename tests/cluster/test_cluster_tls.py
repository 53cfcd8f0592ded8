"""Cluster TLS (--cluster-tls yes): Raft links between nodes are mutual TLS, peers
verified against the cluster CA. Certificates are made with `openssl` into a temp
dir. A 3-node TLS cluster elects, replicates puts, survives kill -9 of the leader
with no acknowledged put lost, serves a client through a follower; a node whose
certificate another CA signed is never let in (the other two keep serving, the
refusal is logged); the Raft port speaks TLS (Python ssl with a good client
certificate completes a handshake, a plain connect is closed).

Exits 77 (ctest: skipped) when synqd has no --node or openssl is missing."""

import os
import re
import shutil
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
    for ca, node in (("ca", "node"), ("otherca", "othernode")):
        run("req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".pem", "-days", "2",
            "-subj", "/CN=" + ca)
        run("req", *ec, "-keyout", node + ".key", "-out", node + ".csr", "-subj", "/CN=" + NAME)
        run("x509", "-req", "-in", node + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", node + ".pem", "-days", "2", "-extfile", "ext")


class TlsCluster(Cluster):
    """Every node with --cluster-tls yes; node ids in `foreign` get the other CA's
    certificate (their own CA file says the other CA too)."""

    def __init__(self, certs, foreign=(), **kw):
        super().__init__(3, 500, **kw)
        self.certs = certs
        self.foreign = set(foreign)
        self.tls_ports = {}

    def argv(self, node):
        argv = super().argv(node)
        if node.id not in self.tls_ports:
            self.tls_ports[node.id] = cluster.free_ports(1)[0]
        prefix = "other" if node.id in self.foreign else ""
        c = lambda f: os.path.join(self.certs, f)  # noqa: E731
        return argv + ["--tls-port", str(self.tls_ports[node.id]), "--cluster-tls", "yes",
                       "--tls-cert", c(prefix + "node.pem"), "--tls-key", c(prefix + "node.key"),
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
