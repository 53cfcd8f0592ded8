"""beanstalkd (npm package "beanstalkd") suite against synqd and beanstalkd.

The checks live in tests/clients/node/beanstalkd_client_suite.js; this wrapper starts the
servers and runs it (see tests/clients/clientrun.py).  Fails, never skips,
when the pinned npm packages are not installed (`npm ci` in tests/clients/node)."""

import os
import sys

SOURCE_DIR = os.environ.get("SQ_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "clients"))
import clientrun  # noqa: E402
import sqharness  # noqa: E402

clientrun.register_suite(globals(), "BeanstalkdClient",
                         ["node", os.path.join(clientrun.NODE_DIR, "beanstalkd_client_suite.js")],
                         lambda: clientrun.require_node_modules("beanstalkd"))

if __name__ == "__main__":
    sqharness.main()
