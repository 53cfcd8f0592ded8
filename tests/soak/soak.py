#!/usr/bin/env python3
"""Soak: one synqd (built with ASan+UBSan) under a mixed workload for minutes.

Model: the run has two phases, first synqd with `-b DIR` (a write-ahead log),
then without; each starts a fresh synqd and WORKERS threads (worker.py), each
running every command on its own tubes against its own model of acknowledged
state (model.py), so any reply the model does not allow fails the run. During
the first part of each phase the driver kills synqd with SIGKILL at random
moments and restarts it (on the same directory with -b): the workers check
what came back (every job alive with its exact body, no deleted job back;
without -b: nothing). The rest of the phase runs one long lifetime, so the
growth check has a stretch of steady workload to look at.

Every second the driver samples synqd's VmRSS and open descriptors. It fails on:
- a reply the model does not allow, or a connection broken when we killed nothing;
- synqd exiting by itself, or not exiting 0 on SIGTERM at the end of a phase;
- a sanitizer report (ASAN/UBSAN `log_path` files, or one on stderr), including
  LeakSanitizer's at the final SIGTERM;
- growth within a lifetime: after a warm-up, the largest RSS of the last third of
  the samples past 1.1 x the largest of the first third plus 4 MiB, or descriptors
  past the first third's largest by more than the workers' connections.

ASan keeps freed memory in a quarantine, which makes RSS climb at first:
quarantine_size_mb bounds it, and the warm-up skips the climb.

Usage: soak.py [--seconds N] [--workers N] [--mode both|wal|mem] [--seed N]
(SOAK_SECS sets the default duration, 60 s; `make soak` runs 600). The server is
SQ_BIN_DIR/synqd. Python 3 standard library only."""

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import model  # noqa: E402
import sqharness  # noqa: E402
from model import SoakFailure  # noqa: E402
from worker import MAX_JOB_BYTES, ServerGone, Worker  # noqa: E402

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")
RSS_RATIO, RSS_FLOOR_KIB = 1.1, 4096
RESTART_WAIT_S = 60.0


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Lifetime:
    """One synqd process: its samples of (age s, RSS KiB, open fds)."""

    def __init__(self, phase, index):
        self.phase, self.index = phase, index
        self.start = time.monotonic()
        self.samples = []
        self.end = None


class Driver:
    def __init__(self, args):
        self.args = args
        self.rnd = random.Random(args.seed)
        self.cond = threading.Condition()
        self.srv = None
        self.port = None
        self.gen = 0
        self.killing = False
        self.stopping = threading.Event()
        self.failures = []
        self.with_log = True
        self.lifetimes = []
        self.restarts = {}
        self.ops = {}
        self.san_dir = tempfile.mkdtemp(prefix="synq-soak-san-")
        os.environ["ASAN_OPTIONS"] = (
            "halt_on_error=1:exitcode=86:detect_leaks=1:quarantine_size_mb=4:"
            "allocator_release_to_os_interval_ms=500:log_path=%s/asan" % self.san_dir)
        os.environ["UBSAN_OPTIONS"] = ("halt_on_error=1:print_stacktrace=1:log_path=%s/ubsan"
                                       % self.san_dir)

    # ------------------------------------------------------------ failures

    def fail(self, text):
        with self.cond:
            self.failures.append(text)
            self.cond.notify_all()
        self.stopping.set()

    def check_sanitizers(self, srv):
        for name in sorted(os.listdir(self.san_dir)):
            with open(os.path.join(self.san_dir, name), errors="replace") as f:
                self.fail("sanitizer report %s:\n%s" % (name, f.read()[:20000]))
            os.unlink(os.path.join(self.san_dir, name))
        text = srv.log_text()
        if any(m in text for m in SANITIZER_MARKS):
            self.fail("sanitizer report on synqd's stderr:\n%s" % text[-20000:])

    # ------------------------------------------------------------ the server

    def start_server(self, phase):
        argv = ["-z", str(MAX_JOB_BYTES), "-s", "131072"]
        if self.with_log:
            argv += ["-b", self.data_dir]
        srv = sqharness.Server("synqd", argv).start()
        life = Lifetime(phase, len([x for x in self.lifetimes if x.phase == phase]))
        with self.cond:
            self.srv, self.port = srv, srv.port
            self.lifetimes.append(life)
            self.gen += 1
            self.killing = False
            self.cond.notify_all()

    def kill_restart(self, phase):
        with self.cond:
            self.killing = True
            srv = self.srv
        srv.proc.kill()
        srv.proc.wait(10)
        srv.stop()
        self.lifetimes[-1].end = time.monotonic()
        self.check_sanitizers(srv)
        self.restarts[phase] = self.restarts.get(phase, 0) + 1
        self.start_server(phase)

    def await_restart(self, gen, why):
        """A worker's connection broke in generation `gen`: wait for our restart, or fail.
        Returns the new generation, or None when the run is stopping."""
        with self.cond:
            self.cond.wait_for(lambda: self.killing or self.gen != gen or self.stopping.is_set(),
                               timeout=5.0)
            if self.stopping.is_set():
                return None
            if not self.killing and self.gen == gen:
                raise SoakFailure("a connection broke, and no kill was under way: %s" % why)
            ok = self.cond.wait_for(lambda: (not self.killing and self.gen != gen)
                                    or self.stopping.is_set(), timeout=RESTART_WAIT_S)
            if self.stopping.is_set():
                return None
            if not ok:
                raise SoakFailure("synqd was not restarted within %.0f s" % RESTART_WAIT_S)
            return self.gen

    # ------------------------------------------------------------ threads

    def run_worker(self, w):
        gen = self.gen
        try:
            while not self.stopping.is_set():
                try:
                    w.step(self.port)
                except ServerGone as e:
                    w.close_all()
                    while True:
                        gen = self.await_restart(gen, e)
                        if gen is None:
                            return
                        try:
                            w.verify_restart(self.port, self.with_log)
                            break
                        except ServerGone as e2:  # killed again while checking
                            w.close_all()
                            e = e2
        except SoakFailure as e:
            if not self.stopping.is_set():
                self.fail("%s\n  last commands of worker %d:\n    %s"
                          % (e, w.k, "\n    ".join(w.history[-20:])))
        except Exception as e:  # a bug in the soak itself must not pass silently
            self.fail("worker %d crashed: %r\n    %s" % (w.k, e, "\n    ".join(w.history[-20:])))
        finally:
            w.close_all()

    def sampler(self):
        while not self.stopping.is_set():
            with self.cond:
                srv, killing, life = self.srv, self.killing, self.lifetimes[-1]
            if srv is not None and not killing:
                status = srv.proc.poll()
                with self.cond:
                    ours = self.killing or self.srv is not srv or self.stopping.is_set()
                if status is not None and not ours:
                    self.fail("synqd exited by itself with status %r:\n%s"
                              % (status, srv.log_text()[-20000:]))
                    return
                try:
                    pid = srv.proc.pid
                    rss, fds = rss_kib(pid), len(os.listdir("/proc/%d/fd" % pid))
                    life.samples.append((time.monotonic() - life.start, rss, fds))
                except OSError:
                    pass  # it is being killed
            time.sleep(1.0)

    # ------------------------------------------------------------ a phase

    def run_phase(self, phase, secs):
        self.with_log = phase == "wal"
        self.data_dir = tempfile.mkdtemp(prefix="synq-soak-data-")
        self.stopping.clear()
        t0 = time.monotonic()
        self.start_server(phase)
        workers = [Worker(k, self, self.rnd.randrange(1 << 30)) for k in range(self.args.workers)]
        threads = [threading.Thread(target=self.run_worker, args=(w,), daemon=True)
                   for w in workers]
        threads.append(threading.Thread(target=self.sampler, daemon=True))
        for t in threads:
            t.start()
        kill_every = min(30.0, max(6.0, secs * 0.15))
        kills_until = t0 + secs * 0.45
        next_kill = t0 + kill_every * self.rnd.uniform(0.7, 1.3)
        while time.monotonic() < t0 + secs and not self.stopping.is_set():
            time.sleep(0.1)
            if time.monotonic() >= next_kill and next_kill < kills_until:
                self.kill_restart(phase)
                next_kill += kill_every * self.rnd.uniform(0.7, 1.3)
        self.stopping.set()
        for t in threads:
            t.join(60)
            if t.is_alive():
                self.fail("a worker did not stop within 60 s")
        for w in workers:
            for name, n in w.ops.items():
                self.ops[name] = self.ops.get(name, 0) + n
        srv = self.srv
        died = srv.stop()
        self.lifetimes[-1].end = time.monotonic()
        if died is not None:
            self.fail("synqd had exited by itself with status %r" % died)
        elif srv.exit_status != 0:
            self.fail("synqd exited with status %r on SIGTERM (86: a sanitizer report):\n%s"
                      % (srv.exit_status, srv.log_text()[-20000:]))
        self.check_sanitizers(srv)
        shutil.rmtree(self.data_dir, True)

    # ------------------------------------------------------------ growth and summary

    def growth(self, life):
        """None when the lifetime is too short to judge, else (ok, text)."""
        span = life.samples[-1][0] if life.samples else 0
        warm = [s for s in life.samples if s[0] >= min(15.0, 0.3 * span)]
        if len(warm) < 9:
            return None
        third = len(warm) // 3
        early, late = warm[:third], warm[-third:]
        rss_e, rss_l = max(s[1] for s in early), max(s[1] for s in late)
        fd_e, fd_l = max(s[2] for s in early), max(s[2] for s in late)
        rss_ok = rss_l <= rss_e * RSS_RATIO + RSS_FLOOR_KIB
        fd_ok = fd_l <= fd_e + 2 * self.args.workers + 4
        return (rss_ok and fd_ok, "RSS max %d KiB early, %d KiB late; fds max %d early, %d late"
                % (rss_e, rss_l, fd_e, fd_l))

    def summary(self, wall_s):
        print("\n=== soak summary: %.0f s, %d workers, seed %d, %s ==="
              % (wall_s, self.args.workers, self.args.seed,
                 os.path.join(os.environ.get("SQ_BIN_DIR", "?"), "synqd")))
        total = sum(self.ops.values())
        print("commands: %d in all (%.0f/s)" % (total, total / max(wall_s, 1)))
        for name in sorted(self.ops):
            print("  %-24s %8d" % (name, self.ops[name]))
        print("restarts (kill -9): %s" % ", ".join("%s %d" % kv for kv in self.restarts.items()))
        window = max(10, int(self.args.seconds / 10))
        for life in self.lifetimes:
            if not life.samples:
                continue
            print("%s lifetime %d: %.0f s, %d samples" % (life.phase, life.index,
                                                          life.samples[-1][0], len(life.samples)))
            for w0 in range(0, int(life.samples[-1][0]) + 1, window):
                win = [s for s in life.samples if w0 <= s[0] < w0 + window]
                if win:
                    print("   %4d-%4d s  RSS %7d..%7d KiB  fds %3d..%3d"
                          % (w0, w0 + window, min(s[1] for s in win), max(s[1] for s in win),
                             min(s[2] for s in win), max(s[2] for s in win)))
            verdict = self.growth(life)
            if verdict is None:
                print("   growth: too short to judge")
            else:
                print("   growth: %s (%s)" % ("ok" if verdict[0] else "GROWING", verdict[1]))
                if not verdict[0]:
                    self.failures.append("%s lifetime %d grows: %s"
                                         % (life.phase, life.index, verdict[1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECS", 60)))
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--mode", choices=("both", "wal", "mem"), default="both")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED",
                                                                   random.randrange(1 << 30))))
    args = ap.parse_args()
    model.LATE_S *= float(os.environ.get("SOAK_SLACK", "1"))
    drv = Driver(args)
    phases = {"both": [("wal", 0.6), ("mem", 0.4)], "wal": [("wal", 1.0)],
              "mem": [("mem", 1.0)]}[args.mode]
    t0 = time.monotonic()
    try:
        for phase, share in phases:
            if drv.failures:
                break
            print("soak: phase %s, %.0f s" % (phase, args.seconds * share), flush=True)
            drv.run_phase(phase, args.seconds * share)
    finally:
        drv.stopping.set()
        if drv.srv is not None:
            drv.srv.stop()
        shutil.rmtree(drv.san_dir, True)
    drv.summary(time.monotonic() - t0)
    if drv.failures:
        print("\nSOAK FAILED (seed %d):" % args.seed)
        for f in drv.failures:
            print("- " + f)
        sys.exit(1)
    print("soak passed")


if __name__ == "__main__":
    main()
