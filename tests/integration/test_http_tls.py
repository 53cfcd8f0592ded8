"""The HTTP endpoint (--http: console, /api/, /metrics) over TLS (--http-tls yes with the
--tls-* files; docs/security.md "TLS on the HTTP endpoint"). Clients: Python's ssl with urllib,
and `openssl s_client`; certificates from test_tls's Certs."""
import base64
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import sqharness
import test_tls
from test_tls import client_ctx

TIMEOUT_S = sqharness.READ_TIMEOUT_S
TOKEN = "s3cret-scrape-token"


def setUpModule():
    test_tls.setUpModule()


def tearDownModule():
    test_tls.tearDownModule()


def certs():
    return test_tls.CERTS


class HttpTlsServer:
    """synqd with --http ADDR:PORT --http-tls yes (no client certificate asked for unless
    auth is given); a context manager. The files may be copies, for the reload test."""

    def __init__(self, extra=(), http_host="127.0.0.1", crt=None, key=None, api_token=False):
        self.extra = list(extra)
        self.api_token = api_token
        self.http_host = http_host
        self.crt = crt or certs().p("server.crt")
        self.key = key or certs().p("server.key")

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="synq-httptls-")
        self.token_file = os.path.join(self.dir, "token")
        with open(self.token_file, "w") as f:
            f.write(TOKEN + "\n")
        for _attempt in range(5):
            self.port = sqharness._free_port()
            self.http_port = sqharness._free_port()
            if self.port == self.http_port:
                continue
            argv = [test_tls.synqd(), "-l", "127.0.0.1", "-p", str(self.port), "--http",
                    "%s:%d" % (self.http_host, self.http_port), "--http-tls", "yes",
                    "--tls-cert", self.crt, "--tls-key", self.key, "--tls-auth-clients", "no",
                    "--metrics-token-file", self.token_file] + self.extra
            if self.api_token:
                argv += ["--http-token-file", self.token_file]
            self.log = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
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
                socket.create_connection(("127.0.0.1", self.http_port), timeout=0.5).close()
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
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
        shutil.rmtree(self.dir, ignore_errors=True)

    def get(self, path, headers=None, ctx=None):
        """(status, headers, body) of GET https://localhost:PORT/path."""
        req = urllib.request.Request("https://localhost:%d%s" % (self.http_port, path),
                                     headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S,
                                        context=ctx or client_ctx(cert=None)) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, e.headers, e.read()


def peer_cert(port):
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    with client_ctx(cert=None).wrap_socket(raw, server_hostname="localhost") as s:
        return s.getpeercert(binary_form=True)


class HttpTlsTest(unittest.TestCase):
    def test_console_api_and_metrics_over_tls(self):
        with HttpTlsServer() as srv:
            with sqharness.Client(srv.port) as c:
                c.send(b"use tls-tube\r\nput 0 0 60 2\r\nhi\r\n")
                c.expect(b"USING tls-tube\r\n")
                self.assertTrue(c.read_line().startswith(b"INSERTED"))
            status, headers, body = srv.get("/")
            self.assertEqual(status, 200)
            self.assertTrue(headers["Content-Type"].startswith("text/html"))
            self.assertIn(b"<html", body.lower())
            status, _h, body = srv.get("/api/tubes")
            self.assertEqual(status, 200, body)
            self.assertIn(b"tls-tube", body)
            status, _h, _b = srv.get("/metrics")
            self.assertEqual(status, 401)
            status, _h, body = srv.get("/metrics", {"Authorization": "Bearer " + TOKEN})
            self.assertEqual(status, 200, body)
            self.assertIn(b'tube="tls-tube"', body)

    def test_openssl_s_client_scrapes(self):
        with HttpTlsServer() as srv:
            req = ("GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n"
                   "\r\n" % TOKEN).encode()
            r = subprocess.run(
                ["openssl", "s_client", "-quiet", "-verify_return_error", "-connect",
                 "127.0.0.1:%d" % srv.http_port, "-CAfile", certs().p("ca.crt"), "-verify_ip",
                 "127.0.0.1"], input=req, capture_output=True, timeout=20)
            self.assertTrue(r.stdout.startswith(b"HTTP/1.1 200"), (r.stdout[:200], r.stderr))
            self.assertIn(b"current_jobs_ready", r.stdout)

    def test_plain_http_on_the_tls_port_gets_a_clean_close(self):
        with HttpTlsServer() as srv:
            with socket.create_connection(("127.0.0.1", srv.http_port), timeout=TIMEOUT_S) as s:
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
                try:
                    data = test_tls.read_until(s, b"\r\n\r\n")
                except ConnectionResetError:
                    data = b""
                self.assertNotIn(b"HTTP/1.1", data)
            status, _h, _b = srv.get("/")  # still serves
            self.assertEqual(status, 200)
            self.assertTrue(srv.proc.poll() is None)

    def test_token_off_loopback_over_tls_starts_without_warning(self):
        with HttpTlsServer(http_host="0.0.0.0", api_token=True) as srv:
            bearer = {"Authorization": "Bearer " + TOKEN}
            status, _h, _b = srv.get("/metrics", bearer)
            self.assertEqual(status, 200)
            status, _h, body = srv.get("/api/tubes", bearer)
            self.assertEqual(status, 200, body)
            self.assertNotIn("warning", srv.log_text())

    def test_plain_http_off_loopback_with_token_warns(self):
        # The other side of the test above: the warning exists and TLS is what removes it.
        d = tempfile.mkdtemp(prefix="synq-httptls-")
        try:
            tok = os.path.join(d, "token")
            with open(tok, "w") as f:
                f.write(TOKEN)
            srv = sqharness.Server("synqd", ["--http", "0.0.0.0:%d" % sqharness._free_port(),
                                             "--metrics-token-file", tok])
            with srv:
                time.sleep(0.2)
                self.assertIn("clear text", srv.log_text())
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_client_certificate_names_the_api_user(self):
        # CN=client is a certificate-only user with peek on t*; "root" logs in with Basic.
        from test_auth import pbkdf2_hash, pw
        d = tempfile.mkdtemp(prefix="synq-httptls-users-")
        try:
            users = os.path.join(d, "users")
            with open(users, "w") as f:
                f.write("client - t*:peek\nroot %s *:all\n" % pbkdf2_hash(pw("root")))
            extra = ["--users", users, "--tls-auth-clients", "optional", "--tls-ca",
                     certs().p("ca.crt")]
            with HttpTlsServer(extra=extra) as srv:
                with_cert = client_ctx(cert="client")
                status, _h, body = srv.get("/api/tube-info?tube=t", ctx=with_cert)
                self.assertEqual(status, 404, body)  # allowed: the tube does not exist
                status, _h, body = srv.get("/api/stats", ctx=with_cert)
                self.assertEqual(status, 403, body)
                self.assertIn(b"NOT_AUTHORIZED", body)
                status, headers, _b = srv.get("/api/tube-info?tube=t")  # no certificate
                self.assertEqual(status, 401)
                self.assertIn("Basic", headers["WWW-Authenticate"])
                cred = base64.b64encode(("root:" + pw("root")).encode()).decode()
                status, _h, body = srv.get("/api/stats", {"Authorization": "Basic " + cred})
                self.assertEqual(status, 200, body)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_flag_errors(self):
        for extra, want in ((["--http", "127.0.0.1:0", "--http-tls", "yes"], "--tls-cert"),
                            (["--http-tls", "yes", "--tls-cert", certs().p("server.crt"),
                              "--tls-key", certs().p("server.key"), "--tls-auth-clients", "no"],
                             "needs --http"),
                            (["--http", "127.0.0.1:0", "--http-tls", "maybe"], "yes or no")):
            r = subprocess.run([test_tls.synqd()] + extra, capture_output=True, text=True,
                               timeout=20, stdin=subprocess.DEVNULL)
            self.assertNotEqual(r.returncode, 0, extra)
            self.assertIn(want, r.stderr, extra)

    def test_sighup_reloads_the_certificate(self):
        d = tempfile.mkdtemp(prefix="synq-httptls-reload-")
        try:
            crt, key = os.path.join(d, "s.crt"), os.path.join(d, "s.key")
            shutil.copy(certs().p("server.crt"), crt)
            shutil.copy(certs().p("server.key"), key)
            with HttpTlsServer(crt=crt, key=key) as srv:
                first = peer_cert(srv.http_port)
                shutil.copy(certs().p("server2.crt"), crt)
                shutil.copy(certs().p("server2.key"), key)
                srv.proc.send_signal(signal.SIGHUP)
                deadline = time.monotonic() + TIMEOUT_S
                while "reloaded" not in srv.log_text() and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.assertIn("reloaded", srv.log_text())
                self.assertNotEqual(peer_cert(srv.http_port), first)
                status, _h, _b = srv.get("/")
                self.assertEqual(status, 200)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sqharness.main()
