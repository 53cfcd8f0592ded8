"""synqd's TLS listener (--tls-port and the --tls-* flags; docs/security.md).

Certificates are made in a temporary directory with the openssl command line: a CA, a server
certificate for 127.0.0.1 and localhost, a client certificate, an expired client certificate,
and a second CA nothing here trusts. Clients are Python's ssl module and `openssl s_client`.
"""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.request

import sqharness

TIMEOUT_S = sqharness.READ_TIMEOUT_S


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True,
                   timeout=60, stdin=subprocess.DEVNULL)


class Certs:
    """The files a test needs, in dir d."""

    def __init__(self, d):
        self.d = d
        for ca in ("ca", "otherca"):
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.p(ca + ".key"),
                    "-out", self.p(ca + ".crt"), "-days", "30", "-subj", "/CN=" + ca)
        with open(self.p("server.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        with open(self.p("other.ext"), "w") as f:
            f.write("subjectAltName=DNS:elsewhere.example\n")
        self.issue("server", "ca", "server.ext")
        self.issue("server2", "ca", "server.ext")
        self.issue("wrongname", "ca", "other.ext")
        self.issue("client", "ca")
        self.issue("stranger", "otherca")
        # x509 -days -1 ends the validity a day before it starts: expired from the start.
        self.issue("expired", "ca", days="-1")

    def p(self, name):
        return os.path.join(self.d, name)

    def issue(self, name, ca, ext=None, days="30"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", self.p(name + ".key"),
                "-out", self.p(name + ".csr"), "-subj", "/CN=" + name)
        args = ["x509", "-req", "-in", self.p(name + ".csr"), "-CA", self.p(ca + ".crt"),
                "-CAkey", self.p(ca + ".key"), "-set_serial", str(abs(hash(name)) % 10**9),
                "-out", self.p(name + ".crt"), "-days", days]
        if ext:
            args += ["-extfile", self.p(ext)]
        openssl(*args)


CERTS = None


def setUpModule():
    global CERTS
    if not shutil.which("openssl"):
        raise unittest.SkipTest("no openssl command")
    CERTS = Certs(tempfile.mkdtemp(prefix="synq-tls-"))


def tearDownModule():
    if CERTS:
        shutil.rmtree(CERTS.d, ignore_errors=True)


def synqd():
    return os.path.join(os.environ["SQ_BIN_DIR"], "synqd")


class TlsServer:
    """synqd with a TLS port (and a plain one unless plain=False); a context manager."""

    def __init__(self, extra=(), plain=True, auth="yes", cert="server"):
        self.extra = list(extra)
        self.plain = plain
        self.auth = auth
        self.cert = cert

    def argv(self):
        a = [synqd(), "-V", "-l", "127.0.0.1", "-p", str(self.port) if self.plain else "0",
             "--tls-port", str(self.tls_port), "--tls-cert", CERTS.p(self.cert + ".crt"),
             "--tls-key", CERTS.p(self.cert + ".key"), "--tls-auth-clients", self.auth]
        if self.auth != "no":
            a += ["--tls-ca", CERTS.p("ca.crt")]
        return a + self.extra

    def __enter__(self):
        for _attempt in range(5):
            self.port = sqharness._free_port()
            self.tls_port = sqharness._free_port()
            if self.port == self.tls_port:
                continue
            self.log = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=self.log,
                                         stderr=self.log)
            if self._wait():
                return self
            self._stop()
        raise AssertionError("synqd did not start: " + self.log_text())

    def _wait(self):
        deadline = time.monotonic() + sqharness.START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.tls_port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def log_text(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def _stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(sqharness.STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(sqharness.STOP_TIMEOUT_S)

    def __exit__(self, *exc):
        self._stop()
        self.log.close()


def client_ctx(cert="client", ca="ca", check_hostname=True):
    ctx = ssl.create_default_context(cafile=CERTS.p(ca + ".crt"))
    ctx.check_hostname = check_hostname
    if cert:
        ctx.load_cert_chain(CERTS.p(cert + ".crt"), CERTS.p(cert + ".key"))
    return ctx


def tls_connect(port, host="localhost", **kw):
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    try:
        return client_ctx(**kw).wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise


def read_until(sock, want):
    data = b""
    deadline = time.monotonic() + TIMEOUT_S
    while want not in data and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def put_reserve(sock, body=b"hello"):
    sock.sendall(b"put 0 0 60 %d\r\n%s\r\n" % (len(body), body))
    assert read_until(sock, b"\r\n").startswith(b"INSERTED "), "put failed"
    sock.sendall(b"reserve\r\n")
    got = read_until(sock, body + b"\r\n")
    assert got.startswith(b"RESERVED ") and got.endswith(body + b"\r\n"), got
    sock.sendall(b"delete %s\r\n" % got.split()[1])
    assert read_until(sock, b"\r\n") == b"DELETED\r\n"


def refused(port, **kw):
    """Whether a TLS client is turned away: the handshake fails, or (TLS 1.3, where the client
    finishes before the server checked its certificate) the first read gets an alert or EOF."""
    try:
        s = tls_connect(port, **kw)
    except (ssl.SSLError, OSError):
        return True
    with s:
        try:
            s.sendall(b"stats\r\n")
            return s.recv(100) == b""
        except (ssl.SSLError, OSError):
            return True


class TlsTest(unittest.TestCase):
    def test_put_reserve_over_tls_and_plain_beside_it(self):
        with TlsServer() as srv:
            with tls_connect(srv.tls_port) as s:
                self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))
                put_reserve(s)
            with sqharness.Client(srv.port) as c:
                c.send(b"put 0 0 60 5\r\nplain\r\n")
                self.assertTrue(c.read_line().startswith(b"INSERTED"))

    def test_plain_off_with_p0(self):
        with TlsServer(plain=False) as srv:
            with tls_connect(srv.tls_port) as s:
                put_reserve(s)
            self.assertNotIn("listening on 127.0.0.1", srv.log_text().replace("for TLS on", ""))

    def test_p0_without_tls_port_refused(self):
        r = subprocess.run([synqd(), "-p", "0"], capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn("--tls-port", r.stderr)

    def test_config_errors_name_the_file(self):
        missing = CERTS.p("no-such.crt")
        cases = [
            (["--tls-cert", missing, "--tls-key", CERTS.p("server.key")], missing, 1),
            (["--tls-cert", CERTS.p("server.crt"), "--tls-key", CERTS.p("client.key")],
             CERTS.p("client.key"), 1),
            (["--tls-cert", CERTS.p("server.crt"), "--tls-key", CERTS.p("ca.crt")],
             CERTS.p("ca.crt"), 1),
            (["--tls-cert", CERTS.p("server.crt")], "--tls-key", 5),
        ]
        for args, want, status in cases:
            r = subprocess.run([synqd(), "-p", str(sqharness._free_port()), "--tls-port",
                                str(sqharness._free_port()), "--tls-auth-clients", "no"] + args,
                               capture_output=True, text=True, timeout=20,
                               stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, status, (args, r.stderr))
            self.assertIn(want, r.stderr, args)
        r = subprocess.run([synqd(), "--tls-port", "1", "--tls-cert", CERTS.p("server.crt"),
                            "--tls-key", CERTS.p("server.key")], capture_output=True, text=True,
                           timeout=20)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn("--tls-ca", r.stderr)

    def test_bad_clients_refused(self):
        metrics_port = sqharness._free_port()
        with TlsServer(["--metrics", "127.0.0.1:%d" % metrics_port]) as srv:
            self.assertTrue(refused(srv.tls_port, ca="otherca"), "a server the client's CA "
                            "did not sign")
            self.assertTrue(refused(srv.tls_port, cert=None), "no client certificate")
            self.assertTrue(refused(srv.tls_port, cert="stranger"), "a client of another CA")
            self.assertTrue(refused(srv.tls_port, cert="expired"), "an expired client cert")
            with tls_connect(srv.tls_port) as s:  # the server still serves good clients
                put_reserve(s)
            deadline = time.monotonic() + TIMEOUT_S
            while srv.log_text().count("TLS handshake with") < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            log = srv.log_text()
            self.assertIn("certificate", log)
            self.assertNotIn("TLS error", log)  # OpenSSL's reason in words, not a number
            url = "http://127.0.0.1:%d/metrics" % metrics_port
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
                text = resp.read().decode()
            line = [x for x in text.splitlines()
                    if x.startswith("synq_tls_handshake_failures_total ")]
            self.assertEqual(len(line), 1, text)
            self.assertGreaterEqual(int(line[0].split()[1]), 3)
        with TlsServer(cert="wrongname", auth="no") as srv:
            self.assertTrue(refused(srv.tls_port, cert=None), "a certificate for another name")
            with tls_connect(srv.tls_port, cert=None, check_hostname=False) as s:
                put_reserve(s)

    def test_optional_client_certificate(self):
        with TlsServer(auth="optional") as srv:
            with tls_connect(srv.tls_port, cert=None) as s:
                put_reserve(s, b"anonymous")
            with tls_connect(srv.tls_port) as s:
                put_reserve(s, b"known")
            self.assertTrue(refused(srv.tls_port, cert="stranger"))

    def test_wrong_protocol_on_each_port_gets_a_clean_close(self):
        with TlsServer() as srv:
            with socket.create_connection(("127.0.0.1", srv.tls_port), timeout=TIMEOUT_S) as s:
                s.sendall(b"stats\r\n")
                try:
                    data = read_until(s, b"\r\n")
                except ConnectionResetError:
                    data = b""
                self.assertNotIn(b"OK", data)
            self.assertTrue(refused(srv.port), "a TLS client on the plain port")
            with sqharness.Client(srv.port) as c:  # both still serve
                c.send(b"list-tubes\r\n")
                self.assertTrue(c.read_line().startswith(b"OK"))
            with tls_connect(srv.tls_port) as s:
                put_reserve(s)

    def test_openssl_s_client(self):
        with TlsServer() as srv:
            r = subprocess.run(
                ["openssl", "s_client", "-quiet", "-verify_return_error", "-connect",
                 "127.0.0.1:%d" % srv.tls_port, "-CAfile", CERTS.p("ca.crt"), "-cert",
                 CERTS.p("client.crt"), "-key", CERTS.p("client.key"), "-verify_ip",
                 "127.0.0.1"],
                input=b"put 0 0 60 2\r\nhi\r\nreserve\r\nquit\r\n", capture_output=True,
                timeout=20)
            self.assertIn(b"INSERTED", r.stdout, r.stderr)
            self.assertIn(b"RESERVED", r.stdout, r.stderr)

    def test_synq_bench_over_tls(self):
        with TlsServer() as srv:
            bench = os.path.join(os.environ["SQ_BIN_DIR"], "synq-bench")
            r = subprocess.run([bench, "-p", str(srv.tls_port), "-w", "cycle", "-c", "4", "-P",
                                "4", "-n", "200", "--tls", "--tls-ca", CERTS.p("ca.crt"),
                                "--tls-name", "localhost", "--tls-cert", CERTS.p("client.crt"),
                                "--tls-key", CERTS.p("client.key")], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("errors=0", r.stdout.splitlines()[-1])
            r = subprocess.run([bench, "-p", str(srv.tls_port), "-n", "10", "--tls", "--tls-ca",
                                CERTS.p("otherca.crt")], capture_output=True, text=True,
                               timeout=60)
            self.assertNotEqual(r.returncode, 0, r.stdout)

    def test_fivebeans_over_tls(self):
        node_dir = os.path.join(os.environ.get("SQ_SOURCE_DIR") or os.path.dirname(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tests", "clients",
            "node")
        if not os.path.isdir(os.path.join(node_dir, "node_modules", "fivebeans")):
            raise AssertionError("npm package fivebeans is not installed in %s: run `npm ci` "
                                 "there (.ci/run does this)" % node_dir)
        with TlsServer() as srv:
            r = subprocess.run(["node", os.path.join(node_dir, "fivebeans_tls.js"),
                                str(srv.tls_port), CERTS.p("ca.crt"), CERTS.p("client.crt"),
                                CERTS.p("client.key")], capture_output=True, text=True,
                               timeout=30, cwd=node_dir)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), "ok true over tls", r.stderr)

    def test_sighup_reloads_certificates_keeping_connections(self):
        d = tempfile.mkdtemp(prefix="synq-tls-reload-")
        try:
            crt, key = os.path.join(d, "s.crt"), os.path.join(d, "s.key")
            shutil.copy(CERTS.p("server.crt"), crt)
            shutil.copy(CERTS.p("server.key"), key)
            with TlsServer() as srv:
                srv.proc.terminate()
                srv.proc.wait(sqharness.STOP_TIMEOUT_S)
                argv = srv.argv()
                argv[argv.index("--tls-cert") + 1] = crt
                argv[argv.index("--tls-key") + 1] = key
                srv.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=srv.log,
                                            stderr=srv.log)
                self.assertTrue(srv._wait(), srv.log_text())
                old = tls_connect(srv.tls_port)
                with old:
                    first = old.getpeercert(binary_form=True)
                    put_reserve(old, b"before")
                    shutil.copy(CERTS.p("server2.crt"), crt)
                    shutil.copy(CERTS.p("server2.key"), key)
                    srv.proc.send_signal(signal.SIGHUP)
                    deadline = time.monotonic() + TIMEOUT_S
                    while "reloaded" not in srv.log_text() and time.monotonic() < deadline:
                        time.sleep(0.05)
                    self.assertIn("reloaded", srv.log_text())
                    put_reserve(old, b"after")
                    with tls_connect(srv.tls_port) as new:
                        self.assertNotEqual(new.getpeercert(binary_form=True), first)
                        put_reserve(new, b"new")
                    # A reload that fails keeps what was serving.
                    with open(key, "w") as f:
                        f.write("not a key\n")
                    srv.proc.send_signal(signal.SIGHUP)
                    deadline = time.monotonic() + TIMEOUT_S
                    while "keeping" not in srv.log_text() and time.monotonic() < deadline:
                        time.sleep(0.05)
                    self.assertIn(key, srv.log_text())
                    with tls_connect(srv.tls_port) as new:
                        put_reserve(new, b"still")
                    put_reserve(old, b"old still")
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sqharness.main()
