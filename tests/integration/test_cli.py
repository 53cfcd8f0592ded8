"""The `synq` client's surface against a real server: the connection, the global
options and environment, usage errors, the tube option, help and version. How they run:
cliharness.py."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402
from cliharness import CliBase  # noqa: E402


class CliSurface(CliBase):
    """How synq is called: connection, options, usage errors, help."""

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


sqharness.register(globals(), CliSurface)

if __name__ == "__main__":
    sqharness.main()
