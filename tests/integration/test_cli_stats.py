"""The `synq` client's views of a real server: stats, stats-tube, stats-job,
tubes, and top (on a pipe and on a pseudo-terminal). How they run:
cliharness.py."""

import json
import os
import re
import signal
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402
from cliharness import CliBase, RUN_TIMEOUT_S, TopPty, synq_binary  # noqa: E402


class CliStats(CliBase):
    """stats, tubes and top."""

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


sqharness.register(globals(), CliStats)

if __name__ == "__main__":
    sqharness.main()
