"""Pheanstalk (Debian php-pda-pheanstalk) suite against synqd and beanstalkd.

The checks live in tests/clients/php/pheanstalk_suite.php; this wrapper only
starts the servers and runs it (see tests/clients/clientrun.py)."""

import os
import sys

SOURCE_DIR = os.environ.get("SQ_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "clients"))
import clientrun  # noqa: E402
import sqharness  # noqa: E402


def _require_pheanstalk():
    if not os.path.exists("/usr/share/php/Pheanstalk/autoload.php"):
        raise AssertionError("php-pda-pheanstalk is not installed (.ci/run installs it)")


clientrun.register_suite(globals(), "Pheanstalk",
                         ["php", os.path.join(SOURCE_DIR, "tests", "clients", "php",
                                              "pheanstalk_suite.php")],
                         _require_pheanstalk)

if __name__ == "__main__":
    sqharness.main()
