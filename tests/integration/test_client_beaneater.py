"""Drive each target server with Debian's ruby-beaneater client, end to end
(tests/compat/beaneater_test.rb).  The script's own checks assert values;
this wrapper starts a fresh server, runs ruby with a timeout, and fails on a
non-zero exit, showing the script's output."""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402

SCRIPT = os.path.join(os.environ.get("SQ_SOURCE_DIR") or
                      os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."),
                      "tests", "compat", "beaneater_test.rb")
EXT_SCRIPT = os.path.join(os.path.dirname(SCRIPT), "beaneater_ext.rb")
RUBY_TIMEOUT_S = 60


def run_script(self, script):
    """Run a beaneater script against self.server; fail on its failures."""
    ruby = shutil.which("ruby")
    if ruby is None:
        self.fail("ruby is not installed (apt-get install ruby ruby-beaneater)")
    try:
        proc = subprocess.run([ruby, script, "127.0.0.1:%d" % self.server.port],
                              stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=RUBY_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        self.fail("beaneater script timed out after %ds; output:\n%s"
                  % (RUBY_TIMEOUT_S, (e.stdout or b"").decode(errors="replace")))
    out = (proc.stdout + proc.stderr).decode(errors="replace")
    sys.stderr.write(out)
    self.assertEqual(proc.returncode, 0, "beaneater script failed:\n" + out)
    self.assertRegex(out, r"(?m)^[1-9]\d* passed, 0 failed$")


class Beaneater:
    PER_TEST = True

    def test_beaneater_end_to_end(self):
        run_script(self, SCRIPT)


class BeaneaterExtensions:
    """docs/clients.md's snippets: synqd's extensions through beaneater's
    raw-command hook (Connection#transmit). synqd only."""

    PER_TEST = True

    def test_extensions_through_transmit(self):
        run_script(self, EXT_SCRIPT)


sqharness.register(globals(), Beaneater)
globals()["BeaneaterExtensions_synqd"] = type(
    "BeaneaterExtensions_synqd", (BeaneaterExtensions, sqharness.ServerTestCase),
    {"TARGET": "synqd", "__module__": __name__})

if __name__ == "__main__":
    sqharness.main()
