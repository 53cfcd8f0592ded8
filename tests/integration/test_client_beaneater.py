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
RUBY_TIMEOUT_S = 60


class Beaneater:
    PER_TEST = True

    def test_beaneater_end_to_end(self):
        ruby = shutil.which("ruby")
        if ruby is None:
            self.fail("ruby is not installed (apt-get install ruby ruby-beaneater)")
        try:
            proc = subprocess.run([ruby, SCRIPT, "127.0.0.1:%d" % self.server.port],
                                  stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=RUBY_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            self.fail("beaneater script timed out after %ds; output:\n%s"
                      % (RUBY_TIMEOUT_S, (e.stdout or b"").decode(errors="replace")))
        out = (proc.stdout + proc.stderr).decode(errors="replace")
        sys.stderr.write(out)
        self.assertEqual(proc.returncode, 0, "beaneater script failed:\n" + out)
        self.assertRegex(out, r"(?m)^[1-9]\d* passed, 0 failed$")


sqharness.register(globals(), Beaneater)

if __name__ == "__main__":
    sqharness.main()
