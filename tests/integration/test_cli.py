"""The `synq` command-line client against a real server.

Every test starts a fresh server (synqd, and Debian's beanstalkd as the
reference when installed: sqharness.register makes one class per target),
runs the `synq` binary from SQ_BIN_DIR as a subprocess, and checks its real
stdout, stderr and exit status. Where a command changes server state, the
state is checked independently over the harness's own protocol client, so a
CLI that prints the right thing but does the wrong thing still fails.

Exit codes under test: 0 ok, 1 the server said no, 2 usage, 3 connection or
protocol error. Python 3 standard library only.
"""

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402
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


class CliMixin:
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

    # ------------------------------------------------------------ put / peek

    def test_put_argument_then_peek(self):
        out = self.ok("put", "hello world")
        self.assertRegex(out, r"^\d+\n$")
        job_id = int(out)
        self.assertEqual(self.peek_body(job_id), b"hello world")
        self.assertEqual(self.ok("peek", job_id), "hello world\n")
        self.assertEqual(self.ok("-V", "peek", job_id), "%d\thello world\n" % job_id)

    def test_put_stdin_is_byte_exact(self):
        body = b"line1\nline2\r\n\x00\xff end"
        job_id = int(self.ok("put", "-", stdin=body))
        self.assertEqual(self.peek_body(job_id), body)
        job_id2 = int(self.ok("put", stdin=b"no dash"))
        self.assertEqual(self.peek_body(job_id2), b"no dash")

    def test_put_options_reach_the_server(self):
        job_id = int(self.ok("put", "-t", "work", "--pri", "7", "--delay", "30", "--ttr", "9", "x"))
        st = self.job_stats(job_id)
        self.assertEqual((st["tube"], st["pri"], st["delay"], st["ttr"], st["state"]),
                         ("work", "7", "30", "9", "delayed"))

    def test_put_lines(self):
        out = self.ok("put", "--lines", "-t", "batch", stdin=b"one\ntwo\r\nthree")
        ids = [int(x) for x in out.split()]
        self.assertEqual(len(ids), 3)
        self.assertEqual([self.peek_body(i) for i in ids], [b"one", b"two", b"three"])
        self.assertEqual(self.tube_stats("batch")["current-jobs-ready"], "3")

    def test_put_too_big_exits_1_and_dash_body(self):
        p = self.synq("put", "-", stdin=b"z" * 70000)  # default max-job-size 65535
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr, b"synq: put: job too big (larger than the server's max-job-size)\n")
        job_id = int(self.ok("put", "--", "-5"))
        self.assertEqual(self.peek_body(job_id), b"-5")

    def test_peek_json_and_states(self):
        ready = int(self.ok("put", "-t", "p", "r"))
        delayed = int(self.ok("put", "-t", "p", "--delay", "100", "d"))
        doc = json.loads(self.ok("--json", "peek", ready))
        self.assertEqual(doc, {"id": ready, "body": "r"})
        self.assertEqual(self.ok("-V", "peek", "--ready", "-t", "p"), "%d\tr\n" % ready)
        self.assertEqual(json.loads(self.ok("peek", "--delayed", "-t", "p", "--json")),
                         {"id": delayed, "body": "d"})
        p = self.synq("peek", "--buried", "-t", "p")
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"not found", p.stderr)

    def test_json_body_escaping_always_parses(self):
        body = b'q"\\\t\x01\xc3\xa9\xff'
        job_id = int(self.ok("put", "-", stdin=body))
        doc = json.loads(self.ok("--json", "peek", job_id))
        self.assertEqual(doc["body"], 'q"\\\t\x01\u00e9\u00ff')

    def test_peek_missing_job_exits_1(self):
        p = self.synq("peek", "424242")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, b"")
        self.assertEqual(p.stderr, b"synq: peek 424242: not found\n")

    # ------------------------------------------------------------ reserve

    def test_reserve_prints_and_deletes(self):
        job_id = int(self.ok("put", "-t", "r", "payload"))
        self.assertEqual(self.ok("reserve", "-t", "r", "--delete", "-V"), "%d\tpayload\n" % job_id)
        self.assertIsNone(self.job_stats(job_id))

    def test_reserve_without_action_returns_job_to_ready(self):
        job_id = int(self.ok("put", "b"))
        self.assertEqual(self.ok("reserve", "--timeout", "1"), "b\n")
        st = self.job_stats(job_id)
        self.assertEqual((st["state"], st["reserves"]), ("ready", "1"))

    def test_reserve_bury_and_release_keep_priority(self):
        a = int(self.ok("put", "-t", "rb", "--pri", "33", "a"))
        self.assertEqual(json.loads(self.ok("reserve", "-t", "rb", "--bury", "--json")),
                         {"id": a, "body": "a"})
        st = self.job_stats(a)
        self.assertEqual((st["state"], st["pri"]), ("buried", "33"))
        b = int(self.ok("put", "-t", "rb", "--pri", "44", "b"))
        self.ok("reserve", "-t", "rb", "--release")
        st = self.job_stats(b)
        self.assertEqual((st["state"], st["pri"], st["releases"]), ("ready", "44", "1"))

    def test_reserve_watches_several_tubes(self):
        job_id = int(self.ok("put", "-t", "second", "from-second"))
        self.ok("put", "in-default")
        out = self.ok("reserve", "-t", "first", "-t", "second", "--timeout", "0", "-V")
        self.assertEqual(out, "%d\tfrom-second\n" % job_id)

    def test_reserve_blocks_until_a_job_arrives(self):
        proc = subprocess.Popen([synq_binary(), "-p", str(self.server.port), "--timeout", "0.5",
                                 "reserve", "-t", "later", "-V"], stdout=subprocess.PIPE)
        try:
            c = self.client()
            # Wait past the reply timeout: a plain reserve must not give up.
            deadline = time.monotonic() + 5
            while (self.tube_stats("later", missing_ok=True) or {}).get("current-waiting") != "1":
                self.assertLess(time.monotonic(), deadline, "synq never started waiting")
                time.sleep(0.05)
            time.sleep(0.8)
            self.assertIsNone(proc.poll())
            c.send("use later\r\n")
            c.read_line()
            job_id = self.put(c, b"now")
            out = proc.communicate(timeout=RUN_TIMEOUT_S)[0]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual((proc.returncode, out), (0, b"%d\tnow\n" % job_id))

    def test_reserve_timeout_exits_1(self):
        p = self.synq("reserve", "-t", "empty", "--timeout", "0")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, b"")
        self.assertEqual(p.stderr, b"synq: reserve: timed out\n")

    def test_reserve_actions_are_exclusive(self):
        p = self.synq("reserve", "--delete", "--bury")
        self.assertEqual(p.returncode, 2)

    # ------------------------------------------------------------ job commands

    def test_delete_several_and_missing(self):
        a = int(self.ok("put", "a"))
        b = int(self.ok("put", "b"))
        p = self.synq("delete", a, 999999, b)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr, b"synq: delete 999999: not found\n")
        self.assertIsNone(self.job_stats(a))
        self.assertIsNone(self.job_stats(b))

    def test_release_changes_priority_and_delay(self):
        job_id = int(self.ok("put", "--pri", "10", "x"))
        self.ok("release", job_id, "--pri", "3", "--delay", "50")
        st = self.job_stats(job_id)
        self.assertEqual((st["state"], st["pri"], st["delay"]), ("delayed", "3", "50"))

    def test_bury_then_kick_job_and_kick(self):
        a = int(self.ok("put", "-t", "k", "--pri", "12", "a"))
        b = int(self.ok("put", "-t", "k", "b"))
        self.ok("bury", a)
        self.ok("bury", b, "--pri", "5")
        self.assertEqual((self.job_stats(a)["state"], self.job_stats(a)["pri"]), ("buried", "12"))
        self.assertEqual(self.job_stats(b)["pri"], "5")
        self.assertEqual(self.ok("peek", "--buried", "-t", "k"), "a\n")
        self.ok("kick-job", a)
        self.assertEqual(self.job_stats(a)["state"], "ready")
        self.assertEqual(self.ok("kick", "-t", "k", "10"), "1\n")
        self.assertEqual(self.job_stats(b)["state"], "ready")
        self.assertEqual(self.ok("kick", "-t", "k", "10"), "0\n")

    def test_kick_without_count_kicks_every_buried_job_and_no_delayed_one(self):
        ids = [int(self.ok("put", "-t", "kb", str(i))) for i in range(3)]
        delayed = int(self.ok("put", "-t", "kb", "--delay", "600", "d"))
        self.assertEqual(self.ok("kick", "-t", "kb"), "0\n")
        self.assertEqual(self.job_stats(delayed)["state"], "delayed")
        for i in ids:
            self.ok("bury", i)
        self.assertEqual(self.ok("kick", "-t", "kb"), "3\n")
        self.assertEqual([self.job_stats(i)["state"] for i in ids], ["ready"] * 3)
        self.assertEqual(self.job_stats(delayed)["state"], "delayed")
        self.assertEqual(self.ok("kick", "-t", "nosuchtube"), "0\n")
        self.assertEqual(self.ok("--json", "kick", "-t", "kb"), '{"kicked": 0}\n')

    def test_raw_several_commands_print_every_reply(self):
        p = self.synq("raw", "use rt", "put 0 0 60 2", "hi", "list-tube-used", "frobnicate",
                      "peek-ready")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertRegex(p.stdout, rb"^USING rt\r\nINSERTED (\d+)\r\nUSING rt\r\n"
                                   rb"UNKNOWN_COMMAND\r\nFOUND \1 2\r\nhi\r\n$")
        p = self.synq("raw", "list-tube-used", "stats-tube rt")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith(b"USING default\r\nOK "), p.stdout)

    def test_missing_job_commands_exit_1(self):
        for args in (["release", "5000"], ["bury", "5000"], ["kick-job", "5000"],
                     ["touch", "5000"], ["stats-job", "5000"]):
            p = self.synq(*args)
            self.assertEqual(p.returncode, 1, args)
            self.assertEqual(p.stderr.decode(), "synq: %s: not found\n" % " ".join(args))

    def test_touch_from_another_connection_is_not_found(self):
        # The protocol ties touch to the reserving connection; synq holds none.
        job_id = int(self.ok("put", "x"))
        c = self.client()
        c.send("reserve\r\n")
        self.assertEqual(c.read_job("RESERVED")[0], job_id)
        self.assertEqual(self.synq("touch", job_id).returncode, 1)

    def test_pause(self):
        self.ok("put", "-t", "pz", "x")
        self.assertEqual(self.ok("pause", "-t", "pz", "60"), "")
        self.assertEqual(self.tube_stats("pz")["pause"], "60")
        p = self.synq("pause", "-t", "nosuchtube", "5")
        self.assertEqual((p.returncode, p.stderr), (1, b"synq: pause nosuchtube: not found\n"))

    # ------------------------------------------------------------ stats

    def test_stats_key_and_json(self):
        self.ok("put", "x")
        self.ok("put", "y")
        self.assertEqual(self.ok("stats", "cmd-put"), "2\n")
        doc = json.loads(self.ok("--json", "stats"))
        self.assertEqual(doc["cmd-put"], 2)
        self.assertEqual(doc["current-jobs-ready"], 2)
        self.assertIsInstance(doc["version"], str)
        self.assertIs(doc["draining"], False)
        self.assertEqual(json.loads(self.ok("stats", "total-jobs", "--json")), {"total-jobs": 2})
        p = self.synq("stats", "no-such-key")
        self.assertEqual(p.returncode, 1)

    def test_stats_text_is_key_value_lines(self):
        lines = self.ok("stats").splitlines()
        self.assertIn("current-jobs-ready: 0", lines)
        self.assertTrue(all(re.fullmatch(r"[a-z-]+: .*", x) for x in lines), lines)

    def test_stats_tube_and_job(self):
        job_id = int(self.ok("put", "-t", "st", "--pri", "9", "x"))
        doc = json.loads(self.ok("--json", "stats-tube", "st"))
        self.assertEqual((doc["name"], doc["current-jobs-ready"], doc["current-jobs-urgent"]),
                         ("st", 1, 1))
        self.assertIn("current-jobs-ready: 1\n", self.ok("stats-tube", "st"))
        doc = json.loads(self.ok("stats-job", job_id, "--json"))
        self.assertEqual((doc["id"], doc["tube"], doc["state"], doc["pri"]),
                         (job_id, "st", "ready", 9))
        p = self.synq("stats-tube", "nope")
        self.assertEqual((p.returncode, p.stderr), (1, b"synq: stats-tube nope: not found\n"))

    def _seed_tubes(self):
        for body in ("a", "b", "c"):
            self.ok("put", "-t", "alpha", body)
        self.ok("put", "-t", "alpha", "--delay", "100", "d")
        self.ok("put", "-t", "a-much-longer-tube-name", "--pri", "0", "u")
        bury_id = int(self.ok("put", "-t", "a-much-longer-tube-name", "--pri", "2000", "z"))
        self.ok("bury", bury_id)
        self.ok("pause", "-t", "alpha", "100")

    def test_tubes_table(self):
        self._seed_tubes()
        lines = self.ok("tubes").splitlines()
        header = lines[0].split()
        self.assertEqual(header, ["TUBE", "READY", "RESERVED", "DELAYED", "BURIED", "URGENT",
                                  "WAITING", "PAUSED"])
        rows = {r.split()[0]: r.split()[1:] for r in lines[1:]}
        self.assertEqual(set(rows), {"default", "alpha", "a-much-longer-tube-name"})
        self.assertEqual(rows["alpha"][:6], ["3", "0", "1", "0", "0", "0"])
        self.assertTrue(90 <= int(rows["alpha"][6]) <= 100, rows["alpha"])
        self.assertEqual(rows["a-much-longer-tube-name"], ["1", "0", "0", "1", "1", "0", "0"])
        self.assertEqual(rows["default"], ["0"] * 7)
        # Aligned: every line is as long as the header, and each column's
        # values end where its heading ends (numbers are right-aligned).
        self.assertEqual({len(x) for x in lines}, {len(lines[0])}, lines)
        for name in header[1:]:
            end = lines[0].index(name) + len(name)
            for row in lines[1:]:
                self.assertNotEqual(row[end - 1], " ", (name, row))
                self.assertTrue(end == len(row) or row[end] == " ", (name, row))

    def test_tubes_json(self):
        self._seed_tubes()
        doc = json.loads(self.ok("--json", "tubes"))
        by_name = {t["name"]: t for t in doc}
        self.assertEqual(by_name["alpha"]["current-jobs-ready"], 3)
        self.assertEqual(by_name["alpha"]["pause"], 100)
        self.assertEqual(by_name["a-much-longer-tube-name"]["current-jobs-buried"], 1)

    def test_top_frames_and_rates(self):
        self.ok("put", "-t", "tp", "x")
        p = self.synq("top", "-n", "2", "--interval", "0.2")
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode()
        self.assertNotIn("\033[", out, "no ANSI codes when stdout is not a terminal")
        self.assertEqual(out.count("synq top  127.0.0.1:%d" % self.server.port), 2, out)
        self.assertIn("put/s -  reserve/s -  delete/s -  timeouts/s -", out)
        self.assertRegex(out, r"put/s \d+\.\d  reserve/s \d+\.\d  delete/s \d+\.\d  "
                              r"timeouts/s \d+\.\d")
        self.assertRegex(out, r"\nTUBE +READY  RESERVED  DELAYED  BURIED  JOBS  WAITING  WATCHING"
                              r"  USING  PUT/S  DELETE/S  PAUSED\n")
        # ready reserved delayed buried jobs waiting watching using put/s delete/s paused
        self.assertRegex(out, r"\ntp +1 +0 +0 +0 +1 +0 +0 +0 +- +- +0\n")
        self.assertRegex(out, r"\ntp +1 +0 +0 +0 +1 +0 +0 +0 +0\.0 +0\.0 +0\n")

    def test_top_on_a_pipe_prints_one_frame(self):
        # Not a terminal and no -n: one frame, then exit (scriptable); --once says so anyway.
        for args in (["top"], ["top", "--once"]):
            p = self.synq(*args, timeout=10)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.decode().count("synq top  "), 1, args)

    def test_top_jobs_means_jobs_now(self):
        # Before, the header's "jobs" was total-jobs: every job ever put.
        c = self.client()
        c.cmd("use jc")
        ids = [self.put(c, b) for b in (b"1", b"2", b"3", b"4")]
        self.put(c, b"later", delay=100)
        c.cmd("delete %d" % ids[0])
        w = self.client()
        w.cmd("watch jc")
        w.send("reserve\r\n")
        job_id = w.read_job("RESERVED")[0]
        self.assertEqual(w.cmd("bury %d 0" % job_id), b"BURIED\r\n")
        w.send("reserve\r\n")
        w.read_job("RESERVED")
        out = self.ok("top", "--once")
        # jc: 1 ready, 1 reserved, 1 delayed, 1 buried: jobs 4 (5 were put, 1 deleted).
        self.assertRegex(out, r"\njc +1 +1 +1 +1 +4 +0 +1 +1 ")
        self.assertRegex(out, r"  jobs 4  tubes 2\n")
        doc = json.loads(self.ok("--json", "top"))
        self.assertEqual(doc["jobs"], 4)

    def test_top_shows_draining_after_sigusr1(self):
        self.assertNotIn("DRAINING", self.ok("top", "--once"))
        self.server.signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while self.ok("stats", "draining") != "true\n":
            self.assertLess(time.monotonic(), deadline, "SIGUSR1 did not start drain mode")
            time.sleep(0.02)
        self.assertRegex(self.ok("top", "--once").splitlines()[0], r"  DRAINING$")
        self.assertIs(json.loads(self.ok("--json", "top"))["draining"], True)

    # ------------------------------------------------------------ top on a terminal

    def top_pty(self, *args, rows=24, cols=80):
        t = TopPty(self.server.port, args, rows, cols)
        self.addCleanup(t.close)
        return t

    def _seed_many_tubes(self, n):
        c = self.client()
        for i in range(n):
            c.cmd("use many%02d" % i)
            for _ in range(i + 1):
                self.put(c, b"x")

    def test_top_screen_fits_the_window_and_q_restores_the_terminal(self):
        self._seed_many_tubes(30)  # and default: 31 tubes
        t = self.top_pty("--interval", "0.2", rows=12, cols=60)
        lines = t.wait_frame(lambda f: any("more tubes" in x for x in f))
        self.assertLessEqual(len(lines), 12, lines)
        for x in lines:
            self.assertLessEqual(len(x), 60, x)
        self.assertTrue(lines[0].startswith("synq top  127.0.0.1:%d" % self.server.port), lines)
        self.assertTrue(lines[1].startswith("put/s "), lines)
        heading = [i for i, x in enumerate(lines) if x.startswith("TUBE ")]
        self.assertEqual(len(heading), 1, lines)
        rows = lines[heading[0] + 1:-1]
        m = re.fullmatch(r"\u2026 (\d+) more tubes", lines[-1])
        self.assertTrue(m, lines)
        self.assertEqual(len(lines), 12, "the rows fill the window")
        self.assertEqual(len(rows) + int(m.group(1)), 31, lines)
        # Sorted by jobs, most first: many29 has 30 jobs.
        self.assertEqual([r.split()[0] for r in rows], ["many%02d" % i for i in
                                                         range(29, 29 - len(rows), -1)])
        # A bigger window (SIGWINCH) shows every tube, without the count line.
        t.resize(50, 200)
        lines = t.wait_frame(lambda f: len(f) > 31 and not any("more tubes" in x for x in f))
        self.assertEqual(len([x for x in lines if x.startswith("many")]), 30, lines)
        t.send(b"q")
        self.assertEqual(t.wait_exit(), 0)
        self.assertTrue(t.out.endswith(b"\033[?25h\033[?1049l"), t.out[-40:])
        self.assertEqual(termios.tcgetattr(t.slave), t.termios_before, "terminal not restored")

    def test_top_sort_keys_and_ctrl_c(self):
        self._seed_many_tubes(3)
        t = self.top_pty("--interval", "0.2", "--sort", "tube", rows=20, cols=120)
        names = lambda f: [x.split()[0] for x in f if x.startswith(("many", "default"))]
        t.wait_frame(lambda f: names(f) == ["default", "many00", "many01", "many02"])
        t.send(b"r")
        t.wait_frame(lambda f: names(f) == ["many02", "many01", "many00", "default"])
        t.send(b"s")  # the next column, ready, still reversed: smallest first
        t.wait_frame(lambda f: any(x.startswith("sort ready ascending") for x in f)
                     and names(f) == ["default", "many00", "many01", "many02"])
        t.send(b"r")
        t.wait_frame(lambda f: any(x.startswith("sort ready descending") for x in f)
                     and names(f) == ["many02", "many01", "many00", "default"])
        t.send(b"\x03")  # Ctrl-C arrives as a key in raw mode
        self.assertEqual(t.wait_exit(), 0)
        self.assertEqual(termios.tcgetattr(t.slave), t.termios_before)

    def test_top_survives_a_server_restart(self):
        t = self.top_pty("--interval", "0.2", rows=20, cols=120)
        t.wait_frame(lambda f: f[0].startswith("synq top  ") and " up " in f[0])
        self.server.restart()
        # The restart may fall between two refreshes; the stop is seen at the latest
        # by the refresh after it, or the first one fails to reconnect.
        self.server.stop()
        t.wait_frame(lambda f: "reconnecting" in f[0])
        self.server.restart()
        self.ok("put", "-t", "after", "x")
        lines = t.wait_frame(lambda f: "reconnecting" not in f[0] and
                             any(x.startswith("after ") for x in f))
        self.assertRegex(lines[0], r"  jobs 1  tubes 2")
        t.send(b"q")
        self.assertEqual(t.wait_exit(), 0)

    def test_top_json_rates_count_commands(self):
        frames = []
        proc = subprocess.Popen([synq_binary(), "-p", str(self.server.port), "--json", "top",
                                 "-n", "2", "--interval", "0.5"], stdout=subprocess.PIPE)
        try:
            frames.append(json.loads(proc.stdout.readline()))
            c = self.client()
            for _ in range(5):
                self.put(c, b"x")
            frames.append(json.loads(proc.stdout.readline()))
        finally:
            proc.stdout.close()
            proc.wait(RUN_TIMEOUT_S)
        self.assertEqual(proc.returncode, 0)
        self.assertNotIn("put_per_s", frames[0])
        # 5 puts in about half a second: a rate well above zero, below 5/0.2.
        self.assertGreater(frames[1]["put_per_s"], 2.0)
        self.assertLess(frames[1]["put_per_s"], 25.0)
        self.assertEqual(frames[1]["delete_per_s"], 0.0)
        self.assertEqual(frames[1]["tubes"][0]["name"], "default")

    # ------------------------------------------------------------ drain, raw

    def test_drain_prints_without_removing(self):
        for body in ("1", "2", "3"):
            self.ok("put", "-t", "dr", body)
        self.assertEqual(self.ok("drain", "dr"), "1\n2\n3\n")
        self.assertEqual(self.tube_stats("dr")["current-jobs-ready"], "3")

    def test_drain_delete_and_bury(self):
        ids = [int(self.ok("put", "-t", "dd", b)) for b in ("x", "y")]
        self.ok("put", "-t", "dd", "--delay", "100", "later")
        p = self.synq("drain", "dd", "--delete", "-V")
        self.assertEqual(p.stdout, b"%d\tx\n%d\ty\n" % (ids[0], ids[1]))
        self.assertEqual(p.stderr, b"synq: drain dd: 2 jobs deleted\n")
        st = self.tube_stats("dd")
        self.assertEqual((st["current-jobs-ready"], st["current-jobs-delayed"]), ("0", "1"))
        self.ok("put", "-t", "dd", "--pri", "77", "z")
        lines = self.ok("drain", "dd", "--bury", "--json").splitlines()
        self.assertEqual([json.loads(x)["body"] for x in lines], ["z"])
        self.assertEqual(self.job_stats(json.loads(lines[0])["id"])["pri"], "77")
        self.assertEqual(self.tube_stats("dd")["current-jobs-buried"], "1")

    def test_raw(self):
        p = self.synq("raw", "list-tube-used")
        self.assertEqual((p.returncode, p.stdout), (0, b"USING default\r\n"))
        out = self.synq("raw", "put 0 0 60 2", "hi").stdout
        self.assertRegex(out, rb"^INSERTED \d+\r\n$")
        out = self.synq("raw", "list-tubes").stdout
        self.assertEqual(out, b"OK 14\r\n---\n- default\n\r\n")
        p = self.synq("raw", "frobnicate")
        self.assertEqual((p.returncode, p.stdout), (1, b"UNKNOWN_COMMAND\r\n"))

    # ------------------------------------------------------------ CLI surface

    def test_connection_refused(self):
        port = sqharness._free_port()
        p = self.synq("stats", port=port)
        self.assertEqual(p.returncode, 3)
        self.assertEqual(p.stderr.decode(),
                         "synq: cannot connect to 127.0.0.1:%d: Connection refused\n" % port)

    def test_host_and_port_options_and_env(self):
        port = str(self.server.port)
        self.assertEqual(self.ok("-H", "localhost", "-p", port, "stats", "current-jobs-ready",
                                 port=1), "0\n")
        self.assertEqual(self.ok("stats", "current-jobs-ready", port=1,
                                 env={"SYNQ_HOST": "127.0.0.1", "SYNQ_PORT": port}), "0\n")
        p = self.synq("-p", "notaport", "stats")
        self.assertEqual(p.returncode, 2)

    def test_usage_errors_exit_2(self):
        for args in (["frobnicate"], [], ["put", "--pri", "x", "b"], ["delete"],
                     ["peek"], ["peek", "1", "--ready"], ["kick", "1", "2"], ["pause", "5"],
                     ["put", "--nope", "x"], ["stats-job", "abc"], ["put", "-t", "bad name", "x"],
                     ["reserve", "--timeout"]):
            p = self.synq(*args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertTrue(p.stderr.startswith(b"synq: "), (args, p.stderr))
            self.assertEqual(p.stdout, b"", args)

    def test_tube_is_dash_t_everywhere(self):
        self.ok("put", "-t", "tt", "x")
        self.ok("pause", "-t", "tt", "0")
        self.assertEqual(self.ok("stats-tube", "-t", "tt"), self.ok("stats-tube", "tt"))
        self.assertEqual(self.ok("peek", "--ready", "-t", "tt"), "x\n")
        self.assertEqual(self.ok("kick", "-t", "tt", "1"), "0\n")
        self.assertEqual(self.ok("drain", "-t", "tt"), "x\n")
        self.assertEqual(self.ok("reserve", "-t", "tt", "--timeout", "0", "--delete"), "x\n")
        for args in (["stats-tube"], ["stats-tube", "-t", "tt", "tt"], ["drain"],
                     ["drain", "-t", "tt", "other"], ["drain", "-t", "bad name"]):
            p = self.synq(*args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))

    def test_server_as_host_colon_port(self):
        port = self.server.port
        for args in (["-H", "127.0.0.1:%d" % port], ["--server", "127.0.0.1:%d" % port],
                     ["--host", "[127.0.0.1]:%d" % port], ["-p", "1", "-H", "127.0.0.1:%d" % port],
                     ["-H", "127.0.0.1:1", "-p", str(port)]):
            self.assertEqual(self.ok(*args, "stats", "current-jobs-ready", port=1), "0\n", args)
        self.assertEqual(self.ok("stats", "current-jobs-ready", port=1,
                                 env={"SYNQ_HOST": "127.0.0.1:%d" % port}), "0\n")
        for bad in ("[::1", "[]:5", ":5", "h:0", "h:x"):
            self.assertEqual(self.synq("-H", bad, "stats").returncode, 2, bad)

    def test_help_and_version(self):
        out = self.ok("--help")
        for name in ("put", "reserve", "delete", "release", "bury", "kick", "kick-job", "touch",
                     "peek", "pause", "stats", "stats-tube", "stats-job", "tubes", "top",
                     "drain", "raw"):
            self.assertRegex(out, r"\n  %s +\S" % re.escape(name))
            self.assertTrue(self.ok(name, "--help").startswith("Usage: synq %s" % name), name)
        self.assertEqual(self.ok("help", "put"), self.ok("put", "--help"))
        self.assertEqual(self.ok("put", "-h"), self.ok("put", "--help"))
        self.assertEqual(self.ok("-h"), out)
        # As in synqd and beanstalkd: -v is the version, -V verbose.
        self.assertRegex(self.ok("--version"), r"^synq \d+\.\d+\.\d+\n$")
        self.assertEqual(self.ok("-v"), self.ok("--version"))
        job_id = int(self.ok("put", "b"))
        self.assertEqual(self.ok("-V", "peek", job_id), self.ok("--verbose", "peek", job_id))
        self.assertEqual(self.ok("peek", job_id, "-V"), "%d\tb\n" % job_id)


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


class CliExtensions:
    """synqd's extension commands (docs/protocol.md "Extensions") and tail:
    synqd only, since beanstalkd has none of them."""

    PER_TEST = True
    synq = CliMixin.synq
    ok = CliMixin.ok
    job_stats = CliMixin.job_stats

    def put_n(self, tube, n, *opts):
        return [int(self.ok("put", "-t", tube, *opts, "j%d" % i)) for i in range(n)]

    def test_flush_by_state_and_all(self):
        ready = self.put_n("fl", 3)
        delayed = self.put_n("fl", 2, "--delay", "600")
        self.ok("bury", ready[0])
        self.assertEqual(self.ok("flush", "fl", "--state", "buried"), "1\n")
        self.assertIsNone(self.job_stats(ready[0]))
        self.assertEqual(self.ok("--json", "flush", "-t", "fl", "--state", "delayed"),
                         '{"flushed": 2}\n')
        self.assertEqual([self.job_stats(i) for i in delayed], [None, None])
        self.assertEqual(self.ok("flush", "fl"), "2\n")  # default: all
        self.assertEqual(self.ok("flush", "fl"), "0\n")
        for args in (["flush"], ["flush", "fl", "--state", "reserved"], ["flush", "bad name"]):
            p = self.synq(*args)
            self.assertEqual((p.returncode, p.stdout), (2, b""), (args, p.stderr))

    def test_jobs_pages_through_every_job(self):
        c = self.client()
        c.cmd("use lj\r\n")
        ids = [self.put(c, "j") for _ in range(1203)]  # over a page of 1000
        self.put_n("other", 5)
        out = self.ok("--json", "jobs", "lj", "--all").splitlines()
        rows = [json.loads(x) for x in out]
        self.assertEqual([r["id"] for r in rows], ids)
        self.assertEqual(set(rows[0]), {"id", "pri", "age", "delay", "time-left", "size",
                                        "reserves", "timeouts", "releases", "buries", "kicks"})
        self.assertEqual(rows[0]["pri"], 0)
        self.assertEqual(len(self.ok("--json", "jobs", "lj").splitlines()), 100)
        page = [json.loads(x)["id"] for x in
                self.ok("jobs", "--json", "-t", "lj", "--after", ids[9], "-n", "3").splitlines()]
        self.assertEqual(page, ids[10:13])
        text = self.ok("jobs", "lj", "--count", "2").splitlines()
        self.assertEqual(text[0].split(), ["id", "pri", "age", "delay", "time-left", "size",
                                           "reserves", "timeouts", "releases", "buries", "kicks"])
        self.assertEqual([int(line.split()[0]) for line in text[1:]], ids[:2])
        self.assertEqual(self.ok("jobs", "lj", "--state", "buried").splitlines()[1:], [])
        self.assertEqual(self.ok("--json", "jobs", "nosuch", "--all"), "")
        p = self.synq("jobs", "lj", "--all", "-n", "5")
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_move_redrives_buried_jobs(self):
        ids = self.put_n("dead", 4)
        for i in ids[:3]:
            self.ok("bury", i)
        self.assertEqual(self.ok("move", "dead", "work", "--max", "2"), "2\n")
        self.assertEqual(self.ok("--json", "move", "dead", "work"), '{"moved": 1}\n')
        self.assertEqual([self.job_stats(i)["tube"] for i in ids], ["work"] * 3 + ["dead"])
        self.assertEqual(self.ok("move", "dead", "work", "--state", "ready"), "1\n")
        self.assertEqual(self.job_stats(ids[3])["state"], "ready")
        p = self.synq("move", "dead")
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_tube_set_and_tube_info(self):
        self.ok("tube-set", "ts", "max-reserves", "3")
        self.ok("tube-set", "ts", "dead-letter", "ts-dl")
        info = json.loads(self.ok("--json", "tube-info", "ts"))
        self.assertEqual((info["name"], info["max-reserves"], info["dead-letter"], info["held"]),
                         ("ts", 3, "ts-dl", False))
        text = self.ok("tube-info", "-t", "ts")
        self.assertIn("max-reserves: 3\n", text)
        p = self.synq("tube-set", "ts", "no-such-setting", "1")
        self.assertEqual((p.returncode, p.stdout), (1, b""), p.stderr)
        p = self.synq("tube-info", "nosuch")
        self.assertEqual(p.returncode, 1, p.stderr)
        p = self.synq("tube-set", "ts", "rate")
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_reserve_batch(self):
        ids = self.put_n("rb", 5)
        out = self.ok("--json", "reserve", "-t", "rb", "--batch", "3", "--delete")
        self.assertEqual([json.loads(x)["id"] for x in out.splitlines()], ids[:3])
        self.assertEqual([self.job_stats(i) for i in ids[:3]], [None] * 3)
        self.assertEqual(self.ok("reserve", "-t", "rb", "--batch", "10", "--bury"), "j3\nj4\n")
        self.assertEqual(self.job_stats(ids[4])["state"], "buried")
        p = self.synq("reserve", "-t", "rb", "--batch", "2", "--timeout", "0")
        self.assertEqual((p.returncode, p.stdout), (1, b""), p.stderr)
        p = self.synq("reserve", "--batch", "0")
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_put_unique(self):
        first = int(self.ok("put", "-t", "pu", "--unique", "order-7", "a"))
        p = self.synq("put", "-t", "pu", "--unique", "order-7", "b")
        self.assertEqual((p.returncode, p.stdout), (1, b"%d\n" % first), p.stderr)
        p = self.synq("--json", "put", "-t", "pu", "--unique", "order-7", "b")
        self.assertEqual(json.loads(p.stdout), {"id": first, "exists": True})
        other = int(self.ok("put", "-t", "pu2", "--unique", "order-7", "c"))
        self.assertNotEqual(other, first)
        self.ok("delete", first)
        self.assertNotEqual(int(self.ok("put", "-t", "pu", "--unique", "order-7", "d")), first)
        for args in (["put", "--unique", "a b", "x"], ["put", "--unique", "k", "--lines"]):
            p = self.synq(*args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))

    def test_tail_follows_deletes_and_exits_0_on_ctrl_c(self):
        self.put_n("tl", 1)
        e = dict(os.environ, SYNQ_PORT=str(self.server.port))
        proc = subprocess.Popen([synq_binary(), "--json", "tail", "tl"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=e)
        try:
            first = json.loads(proc.stdout.readline())
            self.assertEqual(first["body"], "j0")
            later = int(self.ok("put", "-t", "tl", "later"))
            second = json.loads(proc.stdout.readline())
            self.assertEqual((second["id"], second["body"]), (later, "later"))
            # The job is deleted after it is printed; wait (bounded) for that.
            deadline = time.monotonic() + RUN_TIMEOUT_S
            while self.job_stats(later) is not None and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertIsNone(self.job_stats(later))
            proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.wait(RUN_TIMEOUT_S), 0, proc.stderr.read())
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
            proc.stdout.close()
            proc.stderr.close()

    def test_extension_commands_have_help(self):
        for cmd in ("flush", "jobs", "move", "tube-set", "tube-info", "tail"):
            self.assertIn("Usage: synq %s" % cmd, self.ok(cmd, "--help"))


sqharness.register(globals(), CliMixin)
sqharness.register(globals(), CliExtensions, only=("synqd",))

if __name__ == "__main__":
    sqharness.main()
