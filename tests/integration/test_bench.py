"""synq-bench against a real synqd: --json is one object with the run's
parameters and results, --rate N is open loop and achieves about N jobs a
second, the command line follows synqd's (-h help, -v version, -V
verbose, -H HOST[:PORT]), and -w connect counts whole connections, over TLS
with full handshakes unless --tls-resume makes them resume. Python 3
standard library only (and the openssl command for a certificate)."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import sqharness

RUN_TIMEOUT_S = 60


def bench(*args):
    exe = os.path.join(os.environ["SQ_BIN_DIR"], "synq-bench")
    return subprocess.run([exe] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


class Bench(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = sqharness.Server("synqd").start()
        cls.addClassCleanup(cls.server.stop)

    def addr(self):
        return "127.0.0.1:%d" % self.server.port

    def test_json_is_one_object_with_parameters_and_results(self):
        r = bench("-H", self.addr(), "-c", 2, "-P", 4, "-n", 500, "-t", "json-run", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        for key, want in (("tool", "synq-bench"), ("workload", "cycle"), ("conns", 2),
                          ("pipeline", 4), ("port", self.server.port), ("body_bytes", 100),
                          ("tubes", ["json-run"]), ("total_jobs", 500), ("rate_per_s", None),
                          ("jobs", 500), ("errors", 0)):
            self.assertEqual(doc[key], want, key)
        self.assertGreater(doc["jobs_per_s"], 0)
        for lat in (doc["latency_us"], doc["job_latency_us"], doc["commands"]["put"],
                    doc["commands"]["reserve"], doc["commands"]["delete"]):
            self.assertLessEqual(0, lat["p50"])
            self.assertLessEqual(lat["p50"], lat["p90"])
            self.assertLessEqual(lat["p90"], lat["p99"])
            self.assertLessEqual(lat["p99"], lat["p999"])
            self.assertLessEqual(lat["p999"], lat["max"])
        self.assertEqual(doc["job_latency_us"]["count"], 500)
        self.assertEqual(doc["latency_us"]["count"], 1500)  # put, reserve, delete per job

    def test_rate_is_open_loop_at_about_n(self):
        # 2000 jobs/s for 2 s: a modest load for any build, sanitizers included, so
        # the achieved rate is within 30% and nothing is left due and unsent.
        r = bench("-p", self.server.port, "-c", 4, "-P", 16, "-d", 2, "--rate", 2000,
                  "-t", "rate-run", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["rate_per_s"], 2000)
        self.assertGreater(doc["achieved_per_s"], 2000 * 0.7, doc)
        self.assertLess(doc["achieved_per_s"], 2000 * 1.3, doc)
        self.assertLess(doc["backlog"], 2000 * 0.3, doc)
        self.assertEqual(doc["job_latency_us"]["count"], doc["jobs"])
        self.assertGreater(doc["job_latency_us"]["max"], 0)
        # The text report says the same on its RESULT line.
        r = bench("-p", self.server.port, "-c", 2, "-d", 1, "--rate", 500, "-w", "put",
                  "-t", "rate-put")
        self.assertEqual(r.returncode, 0, r.stderr)
        result = r.stdout.strip().splitlines()[-1].split()
        fields = dict(x.split("=", 1) for x in result[1:])
        self.assertEqual(fields["rate"], "500")
        self.assertTrue(350 < float(fields["achieved_per_s"]) < 650, fields)

    def test_help_version_and_bad_options(self):
        for args in (["-h"], ["--help"]):
            r = bench(*args)
            self.assertEqual(r.returncode, 0, args)
            self.assertTrue(r.stdout.startswith("usage: synq-bench"), args)
            for opt in ("-H HOST[:PORT]", "--rate N", "--json", "-V, --verbose",
                        "-v, --version", "-h, --help"):
                self.assertIn(opt, r.stdout)
        for args in (["-v"], ["--version"]):
            r = bench(*args)
            self.assertEqual(r.returncode, 0, args)
            self.assertRegex(r.stdout, r"^synq-bench \d+\.\d+\.\d+\n$")
        for args in (["--rate", "0"], ["--rate", "x"], ["-H", "[::1"], ["-H", "h:0"],
                     ["extra"]):
            self.assertEqual(bench(*args).returncode, 2, args)
        for args in (["-w", "connect", "--rate", "10"], ["--tls-resume"]):
            self.assertEqual(bench(*args).returncode, 2, args)

    def test_connect_counts_connections(self):
        r = bench("-p", self.server.port, "-w", "connect", "-c", 3, "-n", 60, "-t", "conn-run",
                  "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual((doc["workload"], doc["jobs"], doc["errors"]), ("connect", 60, 0))
        self.assertEqual((doc["tls"], doc["tls_resumed"]), (False, 0))
        self.assertEqual(doc["job_latency_us"]["count"], 60)
        # Every job was a connection of its own: 3 open at a time, 60 in all.
        c = sqharness.Client(self.server.port)
        c.send(b"stats\r\n")
        stats = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        c.close()
        self.assertGreaterEqual(int(stats["total-connections"]), 60)


class BenchTls(unittest.TestCase):
    """synq-bench against synqd's TLS port, with --tls-ktls yes (kernel TLS where the kernel
    has it, else OpenSSL's record layer, the same to the client): -w connect with full
    handshakes, then resumed ones; cycle's puts, reserves and deletes."""

    @classmethod
    def setUpClass(cls):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("no openssl command")
        cls.dir = tempfile.mkdtemp(prefix="synq-bench-tls-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.crt, key = os.path.join(cls.dir, "srv.crt"), os.path.join(cls.dir, "srv.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cls.crt, "-days", "30", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        cls.tls_port = sqharness._free_port()
        cls.server = sqharness.Server("synqd", ["--tls-port", cls.tls_port, "--tls-cert", cls.crt,
                                                "--tls-key", key, "--tls-auth-clients",
                                                "no", "--tls-ktls", "yes"]).start()
        cls.addClassCleanup(cls.server.stop)

    def connect_run(self, *extra):
        r = bench("-p", self.tls_port, "--tls", "--tls-ca", self.crt, "--tls-name", "localhost",
                  "-w", "connect", "-c", 4, "-n", 80, "--json", *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual((doc["jobs"], doc["errors"], doc["tls"]), (80, 0, True), doc)
        return doc

    def test_cycle_over_tls(self):
        r = bench("-p", self.tls_port, "--tls", "--tls-ca", self.crt, "--tls-name", "localhost",
                  "-c", 4, "-P", 8, "-s", 3000, "-n", 2000, "-t", "tls-cycle", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual((doc["jobs"], doc["errors"]), (2000, 0), doc)

    def test_full_handshakes_do_not_resume(self):
        self.assertEqual(self.connect_run()["tls_resumed"], 0)

    def test_tls_resume_resumes(self):
        # The first connection of each of the 4 has no ticket yet; every later one takes one
        # of the two its predecessor got (the server accepts any ticket of its own).
        doc = self.connect_run("--tls-resume")
        self.assertGreaterEqual(doc["tls_resumed"], 80 - 4, doc)
        self.assertLess(doc["tls_resumed"], 80, doc)


if __name__ == "__main__":
    sqharness.main()
