"""Least privilege and exposure: what synqd runs as, what it leaves on disk, and what it says
about an address other hosts can reach.

Model: `-u USER` binds first, then becomes USER, and only then opens, locks and replays the
log, so the log on disk (the least trusted input) is parsed as USER and every file it creates
(the directory when missing, its missing parents, the lock, the segments) belongs to USER,
0700 for directories and 0600 for files; a later start as USER can then open them again. A
directory USER cannot use is refused with a message naming it and USER, exit status 1.

The -u tests need root (to become someone else) and the `nobody` user; they are skipped,
with the reason, anywhere else. Every server is stopped (SIGTERM, then SIGKILL); every
temporary directory removed. Python 3 standard library only.
"""

import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import sqharness

USER = "nobody"


def synqd_path():
    bin_dir = os.environ.get("SQ_BIN_DIR")
    if not bin_dir:
        raise AssertionError("SQ_BIN_DIR is not set: cannot find synqd")
    return os.path.join(bin_dir, "synqd")


def run(args, timeout=20):
    return subprocess.run([synqd_path(), "-l", "127.0.0.1", "-p", str(sqharness._free_port())] + args,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                          text=True)


def stop(proc):
    """SIGTERM, then SIGKILL; bounded."""
    proc.terminate()
    try:
        proc.wait(sqharness.STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(sqharness.STOP_TIMEOUT_S)


def user_ids():
    """(uid, gid) of USER, or None when the test cannot become it."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        return None
    return pw.pw_uid, pw.pw_gid


def proc_ids(pid, field):
    """The four ids of /proc/PID/status's Uid: or Gid: line."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError("no %s line in /proc/%d/status" % (field, pid))


def tree(top):
    """Every directory and file under top (top excluded), as paths."""
    out = []
    for root, dirs, files in os.walk(top):
        out += [os.path.join(root, n) for n in dirs + files]
    return out


def put_jobs(port, n):
    with sqharness.Client(port) as c:
        for i in range(n):
            c.send(b"put 0 0 60 5\r\njob%02d\r\n" % i)
            c.expect(b"INSERTED %d\r\n" % (i + 1))


def ready_jobs(port):
    with sqharness.Client(port) as c:
        c.send(b"stats\r\n")
        return int(dict(sqharness.parse_yaml(c.read_yaml_reply()))["current-jobs-ready"])


class BecomeUser(unittest.TestCase):
    def setUp(self):
        ids = user_ids()
        if ids is None:
            self.skipTest("-u needs root and a user %r (running as uid %d)"
                          % (USER, os.geteuid()))
        self.uid, self.gid = ids
        self.top = tempfile.mkdtemp(prefix="synq-privs-")
        self.addCleanup(shutil.rmtree, self.top, ignore_errors=True)

    def users_top(self):
        """A directory USER owns, to make the log's parents in."""
        os.chown(self.top, self.uid, self.gid)
        return self.top

    def test_a_new_log_belongs_to_the_user_and_survives_kill_9_restarts_as_that_user(self):
        # Before: the log was opened as root before -u took effect (files owned by root, so
        # the second start as nobody failed), and a missing -b was not created at all.
        log = os.path.join(self.users_top(), "new", "dir")
        args = ["-u", USER, "-b", log, "-f0"]
        srv = sqharness.Server("synqd", args).start()
        try:
            put_jobs(srv.port, 5)
            self.assertEqual(proc_ids(srv.proc.pid, "Uid"), [self.uid] * 4)
            self.assertEqual(proc_ids(srv.proc.pid, "Gid"), [self.gid] * 4)
            srv.proc.kill()
            srv.proc.wait(sqharness.STOP_TIMEOUT_S)
        finally:
            srv.stop()
        made = tree(os.path.join(self.top, "new"))
        names = sorted(os.path.basename(p) for p in made)
        self.assertIn("dir", names)
        self.assertIn("lock", names)
        self.assertTrue(any(n.startswith("wal.") for n in names), names)
        for path in [os.path.join(self.top, "new")] + made:
            st = os.lstat(path)
            self.assertEqual((st.st_uid, st.st_gid), (self.uid, self.gid), path)
            want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
            self.assertEqual(stat.S_IMODE(st.st_mode), want, "%s: %o" % (path, st.st_mode))
        with sqharness.Server("synqd", args) as srv:
            self.assertEqual(ready_jobs(srv.port), 5)
            with sqharness.Client(srv.port) as c:
                c.send(b"put 0 0 60 1\r\nx\r\n")
                c.expect(b"INSERTED 6\r\n")
        self.assertEqual(srv.exit_status, 0, srv.log_text())

    def test_the_log_is_replayed_as_the_user(self):
        # A segment the user may not read, in a directory it owns: replayed as root (before)
        # synqd started; replayed as the user it must refuse, and say whose file it wants.
        log = os.path.join(self.users_top(), "log")
        args = ["-u", USER, "-b", log]
        with sqharness.Server("synqd", args) as srv:
            put_jobs(srv.port, 2)
        segs = [n for n in os.listdir(log) if n.startswith("wal.")]
        self.assertTrue(segs)
        os.chown(os.path.join(log, segs[0]), 0, 0)
        r = run(args)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("-b %s: user %s (uid %d) cannot open a file in this directory"
                      % (log, USER, self.uid), r.stderr)

    def test_a_directory_the_user_cannot_write_is_refused_naming_it_and_the_user(self):
        # mkdtemp made self.top root's, mode 0700.
        r = run(["-u", USER, "-b", self.top])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("-b %s: user %s (uid %d) cannot use this directory" % (self.top, USER,
                                                                            self.uid), r.stderr)
        self.assertIn("owned by uid 0, group 0, mode 0700", r.stderr)
        self.assertEqual(os.listdir(self.top), [])
        # Nor can it make one inside.
        inside = os.path.join(self.top, "log")
        r = run(["-u", USER, "-b", inside])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("-b %s: user %s (uid %d) cannot create this directory" % (inside, USER,
                                                                               self.uid),
                      r.stderr)
        self.assertFalse(os.path.exists(inside))


class ExposureWarning(unittest.TestCase):
    WARNING = "not a loopback address"

    def log_of(self, args):
        with sqharness.Server("synqd", args) as srv:
            put_jobs(srv.port, 1)
        return srv.log_text()

    def test_a_wildcard_listener_is_warned_about(self):
        # Without --users a non-loopback listener is refused (test_auth.py) unless
        # --insecure-listen, which serves it with this warning.
        text = self.log_of(["-l", "0.0.0.0", "--insecure-listen"])
        self.assertIn("synqd: warning: listening on 0.0.0.0:", text)
        self.assertIn("anyone who can reach it can read, delete and add jobs", text)

    def test_a_loopback_listener_is_not_warned_about(self):
        # (The rest of 127/8, ::1 and mapped addresses: tests/unit/synqd/test_exposure.c.)
        self.assertNotIn(self.WARNING, self.log_of(["-l", "127.0.0.1"]))

    def test_ipv6_wildcard_is_warned_about_and_loopback_not(self):
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
                port = probe.getsockname()[1]
        except OSError:
            self.skipTest("no IPv6 on this machine")
        # synqd's IPv6 listeners are IPV6_V6ONLY: the client comes in over ::1.
        for addr, exposed in (("::", True), ("::1", False)):
            text = self.served_log(["-l", addr, "-p", str(port), "--insecure-listen"], "::1",
                                   port)
            self.assertEqual(self.WARNING in text, exposed, (addr, text))
            if exposed:
                self.assertIn("listening on [::]:%d" % port, text)

    def served_log(self, args, host, port, passed=None):
        """synqd's output once it served one put on host:port. With `passed` (a listening
        socket), synqd gets it as systemd passes one: fd 3, LISTEN_FDS=1, LISTEN_PID its pid."""

        def as_activated():
            # dup2 onto itself would leave the descriptor close-on-exec.
            if passed.fileno() == 3:
                os.set_inheritable(3, True)
            else:
                os.dup2(passed.fileno(), 3)
            os.environ["LISTEN_FDS"] = "1"
            os.environ["LISTEN_PID"] = str(os.getpid())

        with tempfile.TemporaryFile() as log:
            # close_fds would run after preexec_fn and close the new fd 3; Python's own
            # descriptors are not inherited anyway.
            proc = subprocess.Popen([synqd_path()] + args, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, close_fds=passed is None,
                                    preexec_fn=as_activated if passed else None)
            try:
                if passed:
                    passed.close()
                deadline = time.monotonic() + sqharness.START_TIMEOUT_S
                while True:
                    try:
                        c = sqharness.Client(port, host=host)
                        break
                    except OSError:
                        self.assertIsNone(proc.poll(), "synqd exited")
                        self.assertLess(time.monotonic(), deadline, "synqd never listened")
                        time.sleep(0.02)
                with c:
                    c.send(b"put 0 0 60 1\r\nx\r\n")
                    c.expect(b"INSERTED 1\r\n")
            finally:
                stop(proc)
            log.seek(0)
            return log.read().decode("utf-8", "replace")

    def test_metrics_on_a_wildcard_are_warned_about(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            mport = probe.getsockname()[1]
        text = self.log_of(["--metrics", "0.0.0.0:%d" % mport])
        self.assertIn("synqd: warning: metrics: listening on 0.0.0.0:%d" % mport, text)
        self.assertEqual(text.count(self.WARNING), 1, text)

    def test_a_socket_passed_by_systemd_is_judged_by_its_bound_address(self):
        for addr, exposed in (("0.0.0.0", True), ("127.0.0.1", False)):
            lsock = socket.socket()
            lsock.bind((addr, 0))
            lsock.listen(16)
            port = lsock.getsockname()[1]
            text = self.served_log(["--insecure-listen"], "127.0.0.1", port, passed=lsock)
            self.assertEqual(self.WARNING in text, exposed, (addr, text))
            if exposed:
                self.assertIn("listening on 0.0.0.0:%d" % port, text)


if __name__ == "__main__":
    sqharness.main()
