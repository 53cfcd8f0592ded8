"""The cluster tests themselves, run against fake nodes (fakenode.py: N relays
in front of one real synqd), so the harness is tested before and apart from
the real cluster: test_cluster_basic and test_cluster_jepsen pass on a fake
that keeps every job, the Jepsen run fails with "lost" on one that drops
acknowledged puts and with "divergent" on one whose nodes disagree, and no
node process outlives a run.

Runs in its own network namespace where it can (then the Jepsen runs include
the network faults); otherwise on loopback without them, saying so."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import netns  # noqa: E402
from sqharness import Server  # noqa: E402

RUN_TIMEOUT_S = 240


class SelfTest(unittest.TestCase):
    use_net = False

    def setUp(self):
        # The fakes are started as `synqd` from a bin dir of their own; the
        # backend is the real synqd.
        self.bin_dir = tempfile.mkdtemp(prefix="synq-fakebin-")
        self.addCleanup(shutil.rmtree, self.bin_dir, True)
        os.symlink(os.path.join(HERE, "fakenode.py"), os.path.join(self.bin_dir, "synqd"))
    def run_test(self, script, *args, bug="", netns_faults=False):
        """Run a cluster test script on the fakes, with a backend of its own
        (the fakes keep no state apart from it)."""
        # 0.0.0.0: the fakes in node namespaces reach it through the hub
        # (only inside this test's private namespace).
        backend = Server("synqd", ["-l", "0.0.0.0", "--insecure-listen"] if self.use_net else []).start()
        self.addCleanup(backend.stop)
        host = netns.HUB_ADDR if netns_faults else "127.0.0.1"
        env = dict(os.environ, SQ_BIN_DIR=self.bin_dir, FAKE_BUG=bug,
                   FAKE_BACKEND="%s:%d" % (host, backend.port))
        argv = [sys.executable, os.path.join(HERE, script)] + list(args)
        if not netns_faults and script == "test_cluster_jepsen.py":
            argv.append("--no-netns")
        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=RUN_TIMEOUT_S)
        out = p.stdout + p.stderr
        left = self.leftover_processes()
        self.assertEqual(left, [], "node processes outlived %s:\n%s" % (script, out))
        return p.returncode, out

    def leftover_processes(self):
        left = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if self.bin_dir in cmd:
                left.append("%s: %s" % (pid, cmd))
        return left

    def test_basic_passes_on_a_correct_fake(self):
        for name in ("test_three_nodes_bootstrap_and_serve",
                     "test_leader_kill9_under_load_then_rejoin", "test_five_nodes_two_killed"):
            rc, out = self.run_test("test_cluster_basic.py", "ClusterCase." + name)
            self.assertEqual(rc, 0, out)
            self.assertIn("Ran 1 test", out)

    def test_jepsen_passes_on_a_correct_fake(self):
        rc, out = self.run_test("test_cluster_jepsen.py", "--rounds", "6", "--seed", "11",
                                netns_faults=self.use_net)
        self.assertEqual(rc, 0, out)
        self.assertIn("jepsen passed", out)
        if self.use_net:
            self.assertIn("isolate-leader", out)

    def test_jepsen_five_nodes_on_a_correct_fake(self):
        rc, out = self.run_test("test_cluster_jepsen.py", "--rounds", "3", "--nodes", "5",
                                "--seed", "12", netns_faults=self.use_net)
        self.assertEqual(rc, 0, out)

    def test_jepsen_reports_lost_puts(self):
        rc, out = self.run_test("test_cluster_jepsen.py", "--rounds", "2", "--seed", "13",
                                bug="lose")
        self.assertEqual(rc, 1, out)
        self.assertIn("FAIL: lost", out)

    def test_jepsen_reports_divergence(self):
        rc, out = self.run_test("test_cluster_jepsen.py", "--rounds", "1", "--seed", "14",
                                "--converge-timeout", "2", bug="diverge")
        self.assertEqual(rc, 1, out)
        self.assertIn("FAIL: divergent: digest differs", out)


def main():
    faults = netns.probe()
    if faults["netns"] or faults["cut"]:
        print("network faults not tested here: %s" % (faults["netns"] or faults["cut"]))
    else:
        netns.enter_private()
        SelfTest.use_net = True
    prog = unittest.main(exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
