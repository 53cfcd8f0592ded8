"""Run one real-client suite program against each target server.

Model: a wrapper in tests/integration/test_client_<name>.py calls
`register_suite()` with the argv of a client program (php or node, taking the
server port as its last argument).  For every target in sqharness.targets()
("synqd" and Debian's "beanstalkd" by default, env SQ_TARGETS) this makes a
unittest.TestCase that starts a fresh server on a free 127.0.0.1 port, runs
the program with a hard timeout, prints its output, and requires exit status 0
and a closing "N passed, 0 failed" line with N > 0.  The server is always
stopped, and a server that exited during the run fails the test.

Each suite program bounds its own operations; the timeout here is only the
backstop for a program that is itself stuck, so that nothing ever hangs.
Python 3 standard library only.
"""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import sqharness  # noqa: E402

SUITE_TIMEOUT_S = 60
SUMMARY_RE = re.compile(r"^(\d+) passed, (\d+) failed$", re.M)
NODE_DIR = os.path.join(HERE, "node")


def require_node_modules(package):
    """Fail loudly (never skip) when the pinned npm packages are missing."""
    path = os.path.join(NODE_DIR, "node_modules", package)
    if not os.path.isdir(path):
        raise AssertionError(
            "npm package %r is not installed in %s: run `npm ci` in tests/clients/node "
            "(.ci/run does this)" % (package, NODE_DIR))


class SuiteMixin:
    """One test: the whole client suite against self.server."""

    PER_TEST = True
    ARGV = ()          # program and its arguments; the port is appended
    PRECHECK = None    # callable run before starting anything (e.g. node_modules)
    EXTRA_ENV = {}

    def test_client_suite(self):
        if self.PRECHECK is not None:
            type(self).PRECHECK()
        argv = list(self.ARGV) + [str(self.server.port)]
        env = dict(os.environ, **self.EXTRA_ENV)
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=SUITE_TIMEOUT_S, env=env)
            out = proc.stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode("utf-8", "replace")
            print(out)
            self.fail("%s suite did not finish within %d s against %s"
                      % (argv[0], SUITE_TIMEOUT_S, self.TARGET))
        except FileNotFoundError:
            self.fail("%s is not installed (.ci/run installs it)" % argv[0])
        sys.stdout.write("---- %s against %s ----\n%s" % (os.path.basename(argv[1]),
                                                          self.TARGET, out))
        sys.stdout.flush()
        summaries = SUMMARY_RE.findall(out)
        self.assertTrue(summaries, "no 'N passed, M failed' summary line in the output")
        passed, failed = (int(x) for x in summaries[-1])
        self.assertEqual(failed, 0, "%d checks failed against %s" % (failed, self.TARGET))
        self.assertGreater(passed, 0, "no check ran")
        self.assertEqual(proc.returncode, 0, "suite exit status")


def register_suite(namespace, name, argv, precheck=None):
    """Create `<name>_<target>` TestCases in `namespace` running `argv`."""
    mixin = type(name, (SuiteMixin,), {"ARGV": tuple(argv),
                                       "PRECHECK": staticmethod(precheck) if precheck else None})
    sqharness.register(namespace, mixin)
