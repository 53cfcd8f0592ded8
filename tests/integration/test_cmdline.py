"""synqd's command line: beanstalkd's flags mean what they mean there, so an
init script can start synqd instead of beanstalkd unchanged.

Flags that shape behaviour are checked through the protocol (the `stats`
document shows max-job-size, binlog-max-size and the listen port works);
informational flags through their output and exit status.
"""

import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import sqharness


def synqd_path():
    bin_dir = os.environ.get("SQ_BIN_DIR")
    if not bin_dir:
        raise AssertionError("SQ_BIN_DIR is not set: cannot find synqd")
    return os.path.join(bin_dir, "synqd")


def run(args, timeout=10):
    return subprocess.run([synqd_path()] + args, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=timeout, text=True)


def stats_of(port):
    with sqharness.Client(port) as c:
        c.send(b"stats\r\n")
        return dict(sqharness.parse_yaml(c.read_yaml_reply()))


class CommandLine(unittest.TestCase):
    def test_version_flag_prints_version_and_exits_0(self):
        for flag in ("-v", "--version"):
            r = run([flag])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"^synqd \d+\.\d+\.\d+\n$")

    def test_h_v_V_mean_what_they_mean_in_every_synq_tool(self):
        # beanstalkd's letters, which synq and synq-bench follow: -h help, -v version,
        # -V verbose, each with its long form.
        self.assertEqual(run(["-h"]).stdout, run(["--help"]).stdout)
        self.assertEqual(run(["-v"]).stdout, run(["--version"]).stdout)
        r = run(["-h"])
        for flag in ("-v, --version", "-V, --verbose", "-h, --help"):
            self.assertIn(flag, r.stdout)
        for flag in ("-V", "--verbose"):
            with sqharness.running("synqd", [flag]) as srv:
                stats_of(srv.port)

    def test_help_lists_every_beanstalkd_flag(self):
        r = run(["-h"])
        self.assertEqual(r.returncode, 0, r.stderr)
        for flag in ("-b,", "-f,", "-F,", "-l,", "-p,", "-u,", "-z,", "-s,", "-c, -n", "-v,",
                     "-V,", "-h,"):
            self.assertIn("\n " + flag, r.stdout)

    def test_unknown_flag_and_stray_argument_exit_5_with_usage(self):
        for args in (["-x"], ["--nope"], ["extra"]):
            r = run(args)
            self.assertEqual(r.returncode, 5, args)
            self.assertIn("Use: synqd", r.stderr)

    def test_io_backend_choice(self):
        # --help names the backends this build has; each of them serves.
        r = run(["-h"])
        line = r.stdout.split("--io-backend NAME")[1].split("\n")[1]
        names = [x.strip().replace(" (default)", "") for x in line.split(",")]
        self.assertIn("epoll", names)
        self.assertIn("poll", names)
        for name in names:
            with sqharness.running("synqd", ["--io-backend", name, "-V"]) as srv:
                with sqharness.Client(srv.port) as c:
                    c.send(b"put 0 0 60 2\r\nhi\r\nreserve\r\n")
                    c.expect(b"INSERTED 1\r\nRESERVED 1 2\r\nhi\r\n")
                srv.stop()
                self.assertIn("event loop on %s" % name, srv.log_text())
        r = run(["--io-backend", "kqueue"])
        self.assertEqual(r.returncode, 5)
        self.assertIn("--io-backend kqueue: not in this build", r.stderr)

    def test_bad_numbers_are_refused(self):
        for args in (["-p", "70000"], ["-p", "-1"], ["-z", "12x"], ["-f", "abc"],
                     ["-s", "0"], ["--max-memory", "0"], ["--max-memory", "1x"]):
            r = run(args)
            self.assertEqual(r.returncode, 5, args)
            self.assertIn("synqd:", r.stderr)

    def test_sizes_take_units(self):
        # Before, only plain bytes: "64MiB" was refused (exit 5).
        with tempfile.TemporaryDirectory() as d:
            args = ["-z", "1K", "-s", "64KiB", "-b", d, "--max-memory", "1MB"]
            with sqharness.running("synqd", args) as srv:
                st = stats_of(srv.port)
                self.assertEqual(st["max-job-size"], "1024")
                self.assertEqual(st["binlog-max-size"], "65536")
        for size, bytes_ in (("3G", 3 << 30), ("2M", 2 << 20), ("2MiB", 2 << 20),
                             ("2MB", 2000000), ("7k", 7168), ("7KB", 7000), ("5GB", 5 * 10**9)):
            with sqharness.running("synqd", ["-z", size, "-s", "2GiB"]) as srv:
                want = min(bytes_, 1073741824)  # -z is capped like beanstalkd's
                self.assertEqual(stats_of(srv.port)["max-job-size"], str(want), size)
        # --max-memory 1K holds two jobs of 360 + 152 bytes; 1KB (1000 bytes) only one.
        for size, fit in (("1K", 2), ("1KiB", 2), ("1KB", 1)):
            with sqharness.running("synqd", ["--max-memory", size]) as srv:
                with sqharness.Client(srv.port) as c:
                    put = b"put 0 0 60 360\r\n" + b"m" * 360 + b"\r\n"
                    for i in range(1, fit + 1):
                        c.send(put)
                        c.expect(b"INSERTED %d\r\n" % i)
                    c.send(put)
                    c.expect(b"OUT_OF_MEMORY\r\n")

    def test_sizes_with_other_units_or_out_of_range_are_refused(self):
        for flag in ("-z", "-s", "--max-memory"):
            for bad in ("1kb", "1kib", "64mb", "1m", "1T", "1B", "1.5M", "1 K", " 1K", "K",
                        "-1K", "0x10"):
                r = run([flag, bad])
                self.assertEqual(r.returncode, 5, (flag, bad))
                self.assertIn("synqd: %s: invalid size: %s (bytes, or a whole number with a "
                              "unit: k, K, KiB" % (flag, bad), r.stderr)
            for big in ("18446744073709551616", "17179869184G", "99999999999999999999K"):
                r = run([flag, big])
                self.assertEqual(r.returncode, 5, (flag, big))
                self.assertIn("synqd: %s: size out of range: %s" % (flag, big), r.stderr)

    def test_segment_too_small_for_the_largest_put_is_refused(self):
        # Before, such a log started and refused every big put with "no
        # change will be acknowledged any more" while it kept working.
        with tempfile.TemporaryDirectory() as d:
            for args in (["-s", "4096"], ["-s", "65536"], ["-z", "5000", "-s", "4096"],
                         ["-s", "4096", "-z", "5000"], ["-z", "1073741824"]):
                r = run(["-b", d, "-p", str(sqharness._free_port())] + args)
                self.assertEqual(r.returncode, 5, (args, r.stderr))
                self.assertIn("-z", r.stderr, args)
            r = run(["-b", d, "-p", str(sqharness._free_port()), "-s", "4096"])
            self.assertIn("segments of 4096 bytes (-s) are too small for -z 65535", r.stderr)
            self.assertIn("use -s 69632 or more", r.stderr)
            # Without a log -s does not matter; with one, a fitting -z starts, and
            # its largest put is logged.
            for args in (["-s", "4096"], ["-b", d, "-s", "4096", "-z", "3700"]):
                with sqharness.running("synqd", args) as srv:
                    with sqharness.Client(srv.port) as c:
                        c.send(b"put 0 0 60 3700\r\n" + b"x" * 3700 + b"\r\n")
                        c.expect(b"INSERTED 1\r\n")

    def test_flags_take_effect(self):
        with tempfile.TemporaryDirectory() as d:
            # -c and -n are accepted (with a note), -VV bundles, -f0 attaches.
            with sqharness.running("synqd", ["-z", "1000", "-s", "5000", "-b", d, "-f0",
                                             "-c", "-n", "-VV"]) as srv:
                st = stats_of(srv.port)
                self.assertEqual(st["max-job-size"], "1000")
                # -s is rounded up to a multiple of 4096.
                self.assertEqual(st["binlog-max-size"], "8192")
                self.assertEqual(st["binlog-current-index"], "1")
                with sqharness.Client(srv.port) as c:
                    c.send(b"put 0 0 1 1001\r\n" + b"x" * 1001 + b"\r\n")
                    c.expect(b"JOB_TOO_BIG\r\n")
            self.assertTrue(any(n.startswith("wal.") for n in os.listdir(d)))

    def test_long_options(self):
        with tempfile.TemporaryDirectory() as d:
            with sqharness.running("synqd", ["--max-job-size", "77", "--wal-dir", d,
                                             "--no-fsync"]) as srv:
                st = stats_of(srv.port)
                self.assertEqual(st["max-job-size"], "77")
                self.assertEqual(st["binlog-current-index"], "1")

    def test_max_job_size_is_capped_like_beanstalkd(self):
        with sqharness.running("synqd", ["-z", "5000000000"]) as srv:
            self.assertEqual(stats_of(srv.port)["max-job-size"], "1073741824")

    def test_default_address_is_loopback_and_default_port_is_11300(self):
        # Start with no -l/-p: it must listen on 127.0.0.1:11300 (skip if
        # something else holds that port on this machine).
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", 11300))
            except OSError:
                self.skipTest("port 11300 is busy on this machine")
        p = subprocess.Popen([synqd_path()], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 5
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", 11300), timeout=0.5):
                        break
                except OSError:
                    self.assertIsNone(p.poll(), "synqd exited")
                    self.assertLess(time.monotonic(), deadline, "synqd never listened")
                    time.sleep(0.05)
            out = subprocess.run(["ss", "-Hltn", "sport = :11300"], capture_output=True,
                                 text=True).stdout
            self.assertIn("127.0.0.1:11300", out)
            self.assertNotIn("0.0.0.0:11300", out)
        finally:
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=5), 0)

    def test_sigterm_exits_0_after_answering(self):
        with sqharness.running("synqd") as srv:
            with sqharness.Client(srv.port) as c:
                c.send(b"put 0 0 1 2\r\nhi\r\n")
                c.expect(b"INSERTED 1\r\n")
            srv.signal(signal.SIGTERM)
            self.assertEqual(srv.proc.wait(timeout=5), 0)

    def test_metrics_endpoint_serves_prometheus_text(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            mport = probe.getsockname()[1]
        with sqharness.running("synqd", ["--metrics", "127.0.0.1:%d" % mport]) as srv:
            with sqharness.Client(srv.port) as c:
                for body in (b"a", b"bb"):
                    c.send(b"put 5 0 60 %d\r\n%s\r\n" % (len(body), body))
                    self.assertTrue(c.read_line().startswith(b"INSERTED "))
                c.send(b"put 2000 100 60 1\r\nc\r\n")
                self.assertTrue(c.read_line().startswith(b"INSERTED "))
            url = "http://127.0.0.1:%d/metrics" % mport
            with urllib.request.urlopen(url, timeout=5) as r:
                self.assertEqual(r.status, 200)
                self.assertIn("text/plain", r.headers["Content-Type"])
                text = r.read().decode()
            lines = set(text.splitlines())
            for want in ("current_jobs_ready 2", "current_jobs_urgent 2",
                         "current_jobs_delayed 1", "total_jobs 3", "cmd_put 3",
                         'tube_current_jobs_ready{tube="default"} 2',
                         # bodies 1 + 2 + 1 bytes, plus 152 per job
                         "synq_job_memory_bytes %d" % (4 + 3 * 152),
                         "synq_job_memory_limit_bytes 0"):
                self.assertIn(want, lines)
            with self.assertRaises(urllib.error.HTTPError) as cm:
                urllib.request.urlopen("http://127.0.0.1:%d/nope" % mport, timeout=5)
            self.assertEqual(cm.exception.code, 404)
            cm.exception.close()

    def test_max_memory_bounds_jobs_and_frees_on_delete(self):
        # Each 500-byte job counts 500 + 152 bytes: three fit in 2100, a
        # fourth does not; deleting one makes room again, also after a
        # restart from the log (restored jobs are counted).
        with tempfile.TemporaryDirectory() as d:
            args = ["--max-memory", "2100", "-b", d]
            with sqharness.running("synqd", args) as srv:
                with sqharness.Client(srv.port) as c:
                    body = b"m" * 500
                    put = b"put 0 0 60 500\r\n" + body + b"\r\n"
                    for i in (1, 2, 3):
                        c.send(put)
                        c.expect(b"INSERTED %d\r\n" % i)
                    c.send(put)
                    c.expect(b"OUT_OF_MEMORY\r\n")
                    c.send(b"delete 2\r\n")
                    c.expect(b"DELETED\r\n")
                    c.send(put)
                    c.expect(b"INSERTED 4\r\n")
                    # A refused put leaves the session in step: the next
                    # command is read as a command, not as a body.
                    c.send(put + b"list-tube-used\r\n")
                    c.expect(b"OUT_OF_MEMORY\r\nUSING default\r\n")
            with sqharness.running("synqd", args) as srv:
                with sqharness.Client(srv.port) as c:
                    c.send(b"put 0 0 60 500\r\n" + b"n" * 500 + b"\r\n")
                    c.expect(b"OUT_OF_MEMORY\r\n")
                    c.send(b"delete 1\r\n")
                    c.expect(b"DELETED\r\n")
                    c.send(b"put 0 0 60 1\r\nx\r\n")
                    c.expect(b"INSERTED 5\r\n")

    def test_bad_metrics_address_is_refused(self):
        r = run(["--metrics", "nonsense"])
        self.assertEqual(r.returncode, 5)
        self.assertIn("--metrics", r.stderr)

    def test_user_flag_with_unknown_user_fails(self):
        r = run(["-p", str(sqharness._free_port()), "-u", "no-such-user-synq"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no-such-user-synq", r.stderr)


if __name__ == "__main__":
    sqharness.main()
