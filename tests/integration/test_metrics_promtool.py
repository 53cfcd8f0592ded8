"""A real scrape of synqd's /metrics, with tubes, a log, every job state and the
histograms, is clean for `promtool check metrics` (Debian's `prometheus`
package): promtool parses the exposition format and lints names, HELP, TYPE
and units the way Prometheus's own tooling does, so a name it frowns on fails
here rather than in someone's CI.  And every metric contrib/grafana-synqd.json
queries is in that scrape, so the dashboard cannot drift from the names."""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest
import urllib.request

import sqharness

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(ROOT, "contrib", "grafana-synqd.json")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def busy_scrape(extra_args=()):
    """The /metrics text of a synqd that has seen jobs in every state, a
    paused tube, a waiting reserve and log writes."""
    mport = free_port()
    with tempfile.TemporaryDirectory() as d, \
            sqharness.running("synqd", ["-b", d, "--metrics", "127.0.0.1:%d" % mport]
                              + list(extra_args)) as srv:
        with sqharness.Client(srv.port) as c, sqharness.Client(srv.port) as w:
            c.send(b"use emails\r\n")
            c.expect(b"USING emails\r\n")
            for i in range(6):
                c.send(b"put %d 0 60 3\r\nabc\r\n" % (i * 1000))
                assert c.read_line().startswith(b"INSERTED "), i
            c.send(b"put 0 30 60 1\r\nd\r\n")
            assert c.read_line().startswith(b"INSERTED ")
            c.send(b"use odd-name_+;$()\r\n")
            c.expect(b"USING odd-name_+;$()\r\n")
            c.send(b"put 0 0 60 1\r\nx\r\n")
            assert c.read_line().startswith(b"INSERTED ")
            w.send(b"watch emails\r\n")
            w.expect(b"WATCHING 2\r\n")
            ids = []
            for _ in range(4):
                w.send(b"reserve-with-timeout 0\r\n")
                line = w.read_line()
                assert line.startswith(b"RESERVED "), line
                ids.append(int(line.split()[1]))
                w.read_exact(int(line.split()[2]) + 2)
            w.send(b"delete %d\r\n" % ids[0])
            w.expect(b"DELETED\r\n")
            w.send(b"bury %d 1\r\n" % ids[1])
            w.expect(b"BURIED\r\n")
            w.send(b"release %d 1 0\r\n" % ids[2])
            w.expect(b"RELEASED\r\n")
            c.send(b"pause-tube emails 100\r\n")
            c.expect(b"PAUSED\r\n")
            c.send(b"watch nothing-here\r\nignore default\r\n")
            c.expect(b"WATCHING 2\r\n")
            c.expect(b"WATCHING 1\r\n")
            c.send(b"reserve-with-timeout 1\r\n")  # waits while we scrape
            url = "http://127.0.0.1:%d/metrics" % mport
            with urllib.request.urlopen(url, timeout=10) as r:
                text = r.read().decode()
            self_line = c.read_line()
            assert self_line == b"TIMED_OUT\r\n", self_line
    return text


def metric_names(text):
    """Sample names in an exposition text, and the families its TYPE lines name."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


class MetricsPromtool(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(PROMTOOL, os.X_OK):
            raise AssertionError("promtool not found (Debian package prometheus; "
                                 "scripts/deps test installs it)")
        cls.text = busy_scrape()

    def test_scrape_has_tubes_log_and_histograms(self):
        # An empty document would pass promtool: make sure this one has it all.
        for want in ('tube_current_jobs_ready{tube="emails"} ',
                     'tube_current_jobs_ready{tube="odd-name_+;$()"} ',
                     'tube_pause{tube="emails"} 100', "current_jobs_buried 1",
                     "# TYPE synq_binlog_bytes gauge", "process_cpu_seconds_total ",
                     "# TYPE synq_fsync_duration_seconds histogram",
                     "# TYPE synq_job_wait_seconds histogram",
                     "# TYPE synq_command_duration_seconds histogram"):
            self.assertIn(want, self.text)

    def test_command_durations_count_each_command_once(self):
        # busy_scrape's commands, each counted in its own command's histogram; the waiting
        # reserve-with-timeout counts too (when it began to wait). Commands never sent have
        # no series.
        want = {"put": 8, "use": 2, "watch": 2, "ignore": 1, "reserve-with-timeout": 5,
                "delete": 1, "bury": 1, "release": 1, "pause-tube": 1}
        counts = dict(re.findall(
            r'^synq_command_duration_seconds_count\{command="([^"]+)"\} (\d+)$', self.text,
            re.M))
        self.assertEqual({k: int(v) for k, v in counts.items()}, want)
        for cmd, n in want.items():
            inf = re.search(r'^synq_command_duration_seconds_bucket\{command="%s",le="\+Inf"\} '
                            r'(\d+)$' % re.escape(cmd), self.text, re.M)
            self.assertIsNotNone(inf, cmd)
            self.assertEqual(int(inf.group(1)), n, cmd)
            total = re.search(r'^synq_command_duration_seconds_sum\{command="%s"\} ([0-9.]+)$'
                              % re.escape(cmd), self.text, re.M)
            self.assertIsNotNone(total, cmd)
            self.assertGreaterEqual(float(total.group(1)), 0.0)

    def test_promtool_check_metrics_is_clean(self):
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=self.text.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual((p.returncode, p.stdout.decode()), (0, ""))

    def test_promtool_sees_a_broken_document(self):
        # The check can fail: a counter without _total is reported.
        bad = "# HELP x_things Things.\n# TYPE x_things counter\nx_things 1\n"
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=bad.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertNotEqual(p.returncode, 0)

    def test_every_metric_the_dashboard_queries_exists(self):
        with open(DASHBOARD, encoding="utf-8") as f:
            board = json.load(f)
        exprs = []

        def walk(node):
            if isinstance(node, dict):
                for k, v in node.items():
                    if k == "expr" and isinstance(v, str):
                        exprs.append(v)
                    else:
                        walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
        walk(board)
        self.assertGreater(len(exprs), 5)
        have = metric_names(self.text)
        functions = {"sum", "rate", "irate", "increase", "histogram_quantile", "by", "le",
                     "topk", "max", "min", "avg", "count", "without", "time", "tube",
                     "cmd", "command", "kind", "part", "on", "ignoring", "group_left", "bool",
                     "clamp_min", "instance", "job", "deriv", "delta", "abs"}
        for e in exprs:
            # Metric names: identifiers outside quotes, ranges and label matchers.
            bare = re.sub(r'"[^"]*"|\[[^\]]*\]|\{[^}]*\}', " ", e)
            for name in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare):
                if name in functions or name.startswith("$"):
                    continue
                self.assertIn(name, have, "dashboard expression %r" % e)


if __name__ == "__main__":
    unittest.main()
