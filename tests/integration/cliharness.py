"""What the `synq` CLI tests share (test_cli*.py): the binary, a base class whose
helpers run synq against the test's server and check the server's state over the
harness's own protocol client, and `synq top` on a pseudo-terminal.

Every test starts a fresh server (synqd, and Debian's beanstalkd as the
reference when installed: sqharness.register makes one class per target),
runs the `synq` binary from SQ_BIN_DIR as a subprocess, and checks its real
stdout, stderr and exit status. Where a command changes server state, the
state is checked independently over the harness's own protocol client, so a
CLI that prints the right thing but does the wrong thing still fails.

Exit codes under test: 0 ok, 1 the server said no, 2 usage, 3 connection or
protocol error. Python 3 standard library only."""

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sqharness import parse_yaml  # noqa: E402

RUN_TIMEOUT_S = 20


def synq_binary():
    bin_dir = os.environ.get("SQ_BIN_DIR")
    if not bin_dir:
        raise AssertionError("SQ_BIN_DIR is not set: cannot find synq "
                             "(run through ctest, or export SQ_BIN_DIR=<build dir>)")
    path = os.path.join(bin_dir, "synq")
    if not os.access(path, os.X_OK):
        raise AssertionError("synq not found or not executable at %s "
                             "(build the synq-cli target first)" % path)
    return path

class CliBase:
    """Helpers for a mixin of synq tests: a fresh server for every test."""

    PER_TEST = True

    # ------------------------------------------------------------ helpers

    def synq(self, *args, stdin=b"", port=None, env=None, timeout=RUN_TIMEOUT_S):
        """Run synq against this test's server; returns CompletedProcess
        with bytes stdout/stderr."""
        e = dict(os.environ)
        e.pop("SYNQ_HOST", None)
        e["SYNQ_PORT"] = str(self.server.port if port is None else port)
        if env:
            e.update(env)
        return subprocess.run([synq_binary()] + [str(a) for a in args], input=stdin,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                              timeout=timeout)

    def ok(self, *args, **kw):
        """Run synq, require exit 0, return stdout as text."""
        p = self.synq(*args, **kw)
        self.assertEqual(p.returncode, 0, "synq %s failed: stderr %r stdout %r"
                         % (" ".join(map(str, args)), p.stderr, p.stdout))
        return p.stdout.decode()

    def job_stats(self, job_id):
        c = self.client()
        c.send("stats-job %d\r\n" % job_id)
        line = c.read_line()
        if line == b"NOT_FOUND\r\n":
            return None
        c.buf = line + c.buf
        return dict(parse_yaml(c.read_yaml_reply()))

    def tube_stats(self, tube, missing_ok=False):
        c = self.client()
        c.send("stats-tube %s\r\n" % tube)
        line = c.read_line()
        if missing_ok and line == b"NOT_FOUND\r\n":
            return None
        c.buf = line + c.buf
        return dict(parse_yaml(c.read_yaml_reply()))

    def peek_body(self, job_id):
        c = self.client()
        c.send("peek %d\r\n" % job_id)
        return c.read_job("FOUND")[1]

class TopPty:
    """synq top on a pseudo-terminal of a given size: stdin, stdout and
    stderr are the slave side (as in a terminal emulator), the test reads the
    master side and splits what it reads into frames at each cursor-home."""

    ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

    def __init__(self, port, args, rows, cols):
        self.master, self.slave = os.openpty()
        self.resize(rows, cols, signal_it=False)
        self.termios_before = termios.tcgetattr(self.slave)
        env = dict(os.environ, LANG="C.UTF-8", TERM="xterm")
        env.pop("LC_ALL", None)
        env.pop("LC_CTYPE", None)
        self.proc = subprocess.Popen([synq_binary(), "-p", str(port), "top"] + list(args),
                                     stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                     env=env, start_new_session=True)
        self.out = b""

    def resize(self, rows, cols, signal_it=True):
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        if signal_it:
            # The kernel signals the terminal's foreground group; top is in its own
            # session here, without a controlling terminal, so tell it directly.
            self.proc.send_signal(signal.SIGWINCH)

    def send(self, data):
        os.write(self.master, data)

    def _read(self, wait_s):
        r, _, _ = select.select([self.master], [], [], wait_s)
        if r:
            try:
                self.out += os.read(self.master, 1 << 16)
            except OSError:
                time.sleep(wait_s)

    def frames(self):
        """Every complete frame so far, each a list of lines without ANSI codes."""
        parts = self.out.split(b"\x1b[H")[1:]
        done = [p for p in parts[:-1]] + [p for p in parts[-1:] if p.endswith(b"\x1b[J")]
        return [self.ANSI.sub("", p.decode("utf-8", "replace")).split("\r\n") for p in done]

    def wait_frame(self, want, timeout=RUN_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while True:
            for f in reversed(self.frames()):
                if want(f):
                    return f
            if time.monotonic() > deadline:
                raise AssertionError("no such frame; the last: %r" % (self.frames()[-1:],))
            self._read(0.05)

    def wait_exit(self, timeout=RUN_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.05)
        self._read(0)
        return self.proc.wait(1)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        os.close(self.master)
        os.close(self.slave)
