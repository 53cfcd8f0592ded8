"""Engine integration tests through the examples: $SQ_BIN_DIR/echo and chat.

Each test starts the example with -p 0 on 127.0.0.1, reads the port from
its "listening on 127.0.0.1:PORT" line, talks to it over real sockets and
always stops it (SIGTERM, then SIGKILL).  Every socket read has a timeout so
a broken server fails a test instead of hanging it.  Python 3 stdlib only.
"""

import os
import re
import selectors
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

READ_TIMEOUT_S = 10.0


class Example:
    """One example server process on a kernel-chosen loopback port."""

    def __init__(self, name, *args):
        bin_dir = os.environ.get("SQ_BIN_DIR")
        if not bin_dir:
            raise AssertionError("SQ_BIN_DIR is not set (run through ctest)")
        self.binary = os.path.join(bin_dir, name)
        if not os.access(self.binary, os.X_OK):
            raise AssertionError("%s not built (expected at %s)" % (name, self.binary))
        self.proc = subprocess.Popen([self.binary, "-p", "0", "-l", "127.0.0.1", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(10):
            self.stop()
            raise AssertionError("%s printed nothing in 10 s" % name)
        line = self.proc.stdout.readline().decode()
        m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
        if not m:
            self.stop()
            raise AssertionError("%s: unexpected first line %r" % (name, line))
        self.port = int(m.group(1))

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=READ_TIMEOUT_S)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode


def recv_all(s, n):
    """Receive exactly n bytes or fail."""
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(min(1 << 20, n - len(out)))
        if not chunk:
            raise AssertionError("EOF after %d of %d bytes" % (len(out), n))
        out += chunk
    return bytes(out)


def recv_until_eof(s):
    out = bytearray()
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            return bytes(out)
        out += chunk


class EchoTests(unittest.TestCase):
    def setUp(self):
        self.srv = Example("echo")
        self.expect_alive = True
        self.addCleanup(self._stop)

    def _stop(self):
        alive = self.srv.proc.poll() is None
        self.srv.stop()
        if self.expect_alive:
            self.assertTrue(alive, "echo died during the test (status %r)"
                            % self.srv.proc.returncode)

    def test_echo_1mib_byte_exact(self):
        data = os.urandom(1 << 20)
        with self.srv.connect() as s:
            sel = selectors.DefaultSelector()
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
            sent, got = 0, bytearray()
            deadline = time.monotonic() + READ_TIMEOUT_S
            while len(got) < len(data):
                self.assertLess(time.monotonic(), deadline, "echo too slow")
                for key, ev in sel.select(1):
                    if ev & selectors.EVENT_WRITE and sent < len(data):
                        sent += s.send(data[sent:sent + 65536])
                        if sent == len(data):
                            sel.modify(s, selectors.EVENT_READ)
                    if ev & selectors.EVENT_READ:
                        chunk = s.recv(1 << 20)
                        self.assertTrue(chunk, "EOF after %d bytes" % len(got))
                        got += chunk
            self.assertEqual(bytes(got), data)

    def test_100_clients_pipelining_1000_messages(self):
        nclients, nmsgs = 100, 1000
        sel = selectors.DefaultSelector()
        state = {}
        for i in range(nclients):
            s = self.srv.connect()
            s.setblocking(False)
            payload = b"".join(b"client %03d message %04d\n" % (i, m) for m in range(nmsgs))
            state[s] = [payload, 0, bytearray()]
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        try:
            done = 0
            deadline = time.monotonic() + 60
            while done < nclients:
                self.assertLess(time.monotonic(), deadline, "pipelining too slow")
                for key, ev in sel.select(1):
                    s = key.fileobj
                    st = state[s]
                    if ev & selectors.EVENT_WRITE and st[1] < len(st[0]):
                        st[1] += s.send(st[0][st[1]:st[1] + 7000])
                        if st[1] == len(st[0]):
                            sel.modify(s, selectors.EVENT_READ)
                    if ev & selectors.EVENT_READ:
                        chunk = s.recv(65536)
                        self.assertTrue(chunk, "early EOF")
                        st[2] += chunk
                        if len(st[2]) >= len(st[0]):
                            sel.unregister(s)
                            done += 1
            for st in state.values():
                self.assertEqual(bytes(st[2]), st[0])
        finally:
            for s in state:
                s.close()

    def test_one_byte_fragments(self):
        msg = b"fragmented message, one byte per segment\r\n" * 5
        with self.srv.connect() as s:
            for i in range(len(msg)):
                s.send(msg[i:i + 1])
                if i % 20 == 0:
                    time.sleep(0.001)
            self.assertEqual(recv_all(s, len(msg)), msg)

    def test_half_close_gets_full_reply_then_eof(self):
        data = os.urandom(300000)
        with self.srv.connect() as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(recv_until_eof(s), data)

    def test_slow_reader_keeps_server_memory_bounded(self):
        rss0 = self.srv.rss_kib()
        with self.srv.connect() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.setblocking(False)
            chunk = b"x" * 65536
            sent, stalls = 0, 0
            while stalls < 30 and sent < (256 << 20):
                try:
                    sent += s.send(chunk)
                    stalls = 0
                except BlockingIOError:
                    stalls += 1
                    time.sleep(0.01)
            # The server stopped reading (the kernel refused more) long
            # before 256 MiB, and it holds about out_high_water (1 MiB) of
            # output plus buffers, not what was sent.
            self.assertEqual(stalls, 30, "server kept reading %d bytes" % sent)
            self.assertLess(sent, 64 << 20)
            grown = self.srv.rss_kib() - rss0
            self.assertLess(grown, 16 * 1024, "server RSS grew by %d KiB" % grown)
            s.setblocking(True)
            self.assertEqual(recv_all(s, sent), b"x" * sent)

    def test_sigterm_stops_cleanly(self):
        self.srv.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.srv.proc.wait(5), 0)
        self.expect_alive = False


class EchoTlsTests(unittest.TestCase):
    """echo --tls: the engine's TLS server side seen by Python's ssl and openssl s_client,
    with a self-signed certificate made for the test (openssl req)."""

    @classmethod
    def setUpClass(cls):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("no openssl command to make a certificate")
        cls.dir = tempfile.mkdtemp(prefix="synq-echo-tls-")
        cls.cert = os.path.join(cls.dir, "cert.pem")
        cls.key = os.path.join(cls.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", cls.key, "-out", cls.cert,
                        "-days", "1", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=30)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.srv = Example("echo", "--tls", "--tls-cert", self.cert, "--tls-key", self.key)

    def tearDown(self):
        self.srv.stop()

    def tls_connect(self, **kw):
        ctx = ssl.create_default_context(cafile=self.cert)
        for k, v in kw.items():
            setattr(ctx, k, v)
        return ctx.wrap_socket(self.srv.connect(), server_hostname="localhost")

    def test_python_ssl_echo_and_close_notify(self):
        s = self.tls_connect()
        self.assertEqual(s.version(), "TLSv1.3")
        data = bytes(range(256)) * 4096  # 1 MiB: many records, more than the socket buffers
        got = bytearray()
        sel = selectors.DefaultSelector()
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        sent = 0
        deadline = time.monotonic() + READ_TIMEOUT_S
        while len(got) < len(data):
            self.assertLess(time.monotonic(), deadline, "echo stalled at %d bytes" % len(got))
            for _, ev in sel.select(1):
                if ev & selectors.EVENT_WRITE and sent < len(data):
                    try:
                        sent += s.send(data[sent:sent + 65536])
                    except ssl.SSLWantWriteError:
                        pass
                    if sent == len(data):
                        sel.modify(s, selectors.EVENT_READ)
                if ev & selectors.EVENT_READ:
                    try:
                        while True:
                            chunk = s.recv(65536)
                            if not chunk:
                                self.fail("EOF after %d bytes" % len(got))
                            got += chunk
                    except ssl.SSLWantReadError:
                        pass
        self.assertEqual(bytes(got), data)
        s.setblocking(True)
        s.settimeout(READ_TIMEOUT_S)
        # Our close_notify is the server's EOF; unwrap() returns once the server's came back.
        plain = s.unwrap()
        self.assertEqual(plain.recv(1), b"")
        plain.close()

    def test_tls_1_2_client(self):
        s = self.tls_connect(maximum_version=ssl.TLSVersion.TLSv1_2)
        self.assertEqual(s.version(), "TLSv1.2")
        s.sendall(b"twelve\n")
        self.assertEqual(recv_all(s, 7), b"twelve\n")
        s.close()

    def test_tls_1_1_client_refused(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.cert)
        try:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        except (ValueError, ssl.SSLError):
            self.skipTest("this Python's OpenSSL cannot offer TLS 1.1")
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            ctx.wrap_socket(self.srv.connect(), server_hostname="localhost")

    def test_plaintext_client_closed_cleanly(self):
        s = self.srv.connect()
        s.sendall(b"put 0 0 10 5\r\nhello\r\n")
        got = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
        self.assertNotIn(b"hello", got)  # nothing echoed in clear
        s.close()
        # The server goes on serving TLS clients.
        t = self.tls_connect()
        t.sendall(b"after\n")
        self.assertEqual(recv_all(t, 6), b"after\n")
        t.close()

    def test_openssl_s_client(self):
        # s_client exits as soon as its stdin ends: keep it open until the echo came back.
        p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.srv.port,
                              "-CAfile", self.cert, "-verify_return_error", "-verify_hostname",
                              "localhost", "-quiet", "-no_ign_eof"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            p.stdin.write(b"ping from s_client\n")
            p.stdin.flush()
            sel = selectors.DefaultSelector()
            sel.register(p.stdout, selectors.EVENT_READ)
            self.assertTrue(sel.select(READ_TIMEOUT_S), "no echo from s_client")
            self.assertEqual(p.stdout.readline(), b"ping from s_client\n")
            p.stdin.close()
            self.assertEqual(p.wait(READ_TIMEOUT_S), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(5)
            p.stdout.close()
            p.stderr.close()


class ChatTests(unittest.TestCase):
    def setUp(self):
        self.srv = Example("chat")
        self.addCleanup(self.srv.stop)

    def read_line(self, s):
        buf = bytearray()
        while not buf.endswith(b"\n"):
            c = s.recv(1)
            if not c:
                raise AssertionError("EOF, got %r" % bytes(buf))
            buf += c
        return bytes(buf)

    def test_broadcast_to_others_lf_and_crlf(self):
        a, b = self.srv.connect(), self.srv.connect()
        with a, b:
            a_name = "127.0.0.1:%d" % a.getsockname()[1]
            b_name = "127.0.0.1:%d" % b.getsockname()[1]
            self.assertEqual(self.read_line(a), ("* %s joined\n" % b_name).encode())
            a.sendall(b"hello\r\n")
            b.sendall(b"hi th")
            time.sleep(0.05)
            b.sendall(b"ere\n")
            self.assertEqual(self.read_line(b), ("%s: hello\n" % a_name).encode())
            self.assertEqual(self.read_line(a), ("%s: hi there\n" % b_name).encode())
            b.close()
            self.assertEqual(self.read_line(a), ("* %s left\n" % b_name).encode())

    def test_over_long_line_rejected_before_buffered_whole(self):
        with self.srv.connect() as s:
            # More than 4 KiB and no line end will ever come: the server
            # must answer from the first 4 KiB, not wait for the rest.
            s.sendall(b"a" * 5000)
            self.assertEqual(self.read_line(s), b"ERR line too long\n")
            s.settimeout(READ_TIMEOUT_S)
            rest = b""
            try:
                rest = recv_until_eof(s)
            except ConnectionResetError:
                pass
            self.assertEqual(rest, b"")

    def test_slow_reader_is_disconnected(self):
        slow, talker = self.srv.connect(), self.srv.connect()
        with slow, talker:
            slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            line = b"y" * 4000 + b"\n"
            talker.setblocking(False)
            sent = 0
            deadline = time.monotonic() + 20
            cut = False
            block = line * 16
            while time.monotonic() < deadline and sent < (64 << 20):
                # Resume where a partial send stopped: a cut line would be
                # glued to the next one and rejected as too long.
                off = sent % len(block)
                try:
                    sent += talker.send(block[off:])
                except BlockingIOError:
                    time.sleep(0.005)
                if sent > (8 << 20):
                    cut = True
                    break
            self.assertTrue(cut)
            # The server dropped the slow reader: reading it now ends in
            # EOF or RST well before 8 MiB arrive.
            slow.settimeout(READ_TIMEOUT_S)
            got = 0
            try:
                while True:
                    c = slow.recv(1 << 20)
                    if not c:
                        break
                    got += len(c)
            except ConnectionResetError:
                pass
            # It did not get everything: it was cut off, not served.
            self.assertLess(got, sent - (1 << 20))
        self.srv.proc.send_signal(signal.SIGTERM)
        self.srv.proc.wait(5)
        self.assertIn(b"reads too slowly; disconnecting", self.srv.proc.stderr.read())


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=2)
    r = prog.result
    failed = len(r.failures) + len(r.errors)
    print("%d passed, %d failed" % (r.testsRun - failed - len(r.skipped), failed))
    sys.exit(0 if failed == 0 and r.testsRun > 0 else 1)
