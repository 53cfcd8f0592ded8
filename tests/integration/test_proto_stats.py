"""stats, stats-job, stats-tube: the exact YAML field names, order and value
formats.  Only values that legitimately differ between servers or runs are
matched by pattern (pid, version, hostname, id, os, platform, uptime,
rusage, ages and times left); every other value is exact."""

import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402

INT = re.compile(r"\d+")
FLOAT = re.compile(r"\d+\.\d{6}")


def server_stats(counts):
    """Expected `stats` pairs; `counts` overrides the zero defaults."""
    names = ["current-jobs-urgent", "current-jobs-ready", "current-jobs-reserved",
             "current-jobs-delayed", "current-jobs-buried", "cmd-put", "cmd-peek",
             "cmd-peek-ready", "cmd-peek-delayed", "cmd-peek-buried", "cmd-reserve",
             "cmd-reserve-with-timeout", "cmd-delete", "cmd-release", "cmd-use", "cmd-watch",
             "cmd-ignore", "cmd-bury", "cmd-kick", "cmd-touch", "cmd-stats", "cmd-stats-job",
             "cmd-stats-tube", "cmd-list-tubes", "cmd-list-tube-used",
             "cmd-list-tubes-watched", "cmd-pause-tube", "job-timeouts", "total-jobs"]
    out = [(n, str(counts.pop(n, 0))) for n in names]
    out += [("max-job-size", str(counts.pop("max-job-size", 65535)))]
    for n in ("current-tubes", "current-connections", "current-producers",
              "current-workers", "current-waiting", "total-connections"):
        out.append((n, str(counts.pop(n, 0))))
    out += [("pid", INT), ("version", re.compile(r'"[^"\n]+"')),
            ("rusage-utime", FLOAT), ("rusage-stime", FLOAT), ("uptime", INT),
            ("binlog-oldest-index", "0"), ("binlog-current-index", "0"),
            ("binlog-records-migrated", "0"), ("binlog-records-written", "0"),
            ("binlog-max-size", "10485760"), ("draining", counts.pop("draining", "false")),
            ("id", re.compile(r"[0-9a-f]{16}")), ("hostname", re.compile(r".+")),
            ("os", re.compile(r".*")), ("platform", re.compile(r".+"))]
    assert not counts, "unknown stats fields %r" % counts
    return out


class Stats:
    PER_TEST = True

    def test_fresh_server_stats(self):
        c = self.client()
        c.send(b"stats\r\n")
        pairs = sqharness.parse_yaml(c.read_yaml_reply())
        # total-connections counts the harness's readiness probe too
        sqharness.check_yaml_pairs(self, pairs, server_stats({
            "cmd-stats": 1, "current-tubes": 1, "current-connections": 1,
            "total-connections": 2}))

    def test_stats_counts_commands(self):
        c, w = self.client(), self.client()
        self.put(c, b"a", pri=5)            # urgent (< 1024)
        self.put(c, b"b", pri=2000)
        self.put(c, b"c", delay=100)
        w.send(b"reserve\r\n")
        w.read_job("RESERVED")
        self.assertReply(w, b"bury 1 0", b"BURIED\r\n")
        self.assertReply(c, b"use t", b"USING t\r\n")
        self.assertReply(c, b"watch t", b"WATCHING 2\r\n")
        self.assertReply(c, b"ignore t", b"WATCHING 1\r\n")
        self.assertReply(c, b"peek 1", b"FOUND 1 1\r\n")
        c.expect(b"a\r\n")
        self.assertReply(c, b"peek-ready", b"NOT_FOUND\r\n")
        c.send(b"reserve-with-timeout 0\r\n")
        c.expect(b"RESERVED 2 1\r\nb\r\n")
        self.assertReply(c, b"list-tubes-watched", b"OK 14\r\n")
        c.expect(b"---\n- default\n\r\n")
        c.send(b"stats\r\n")
        pairs = sqharness.parse_yaml(c.read_yaml_reply())
        sqharness.check_yaml_pairs(self, pairs, server_stats({
            "current-jobs-reserved": 1, "current-jobs-delayed": 1, "current-jobs-buried": 1,
            "cmd-put": 3, "cmd-peek": 1, "cmd-peek-ready": 1, "cmd-reserve": 1,
            "cmd-reserve-with-timeout": 1, "cmd-use": 1, "cmd-watch": 1, "cmd-ignore": 1,
            "cmd-bury": 1, "cmd-stats": 1, "cmd-list-tubes-watched": 1, "total-jobs": 3,
            "current-tubes": 2, "current-connections": 2, "current-producers": 1,
            "current-workers": 2, "total-connections": 3}))

    def test_stats_job(self):
        c = self.client()
        self.put(c, b"abc", pri=7, delay=100, ttr=30)
        c.send(b"stats-job 1\r\n")
        pairs = sqharness.parse_yaml(c.read_yaml_reply())
        sqharness.check_yaml_pairs(self, pairs, [
            ("id", "1"), ("tube", "default"), ("state", "delayed"), ("pri", "7"),
            ("age", INT), ("delay", "100"), ("ttr", "30"),
            ("time-left", re.compile(r"99|100")), ("file", "0"), ("reserves", "0"),
            ("timeouts", "0"), ("releases", "0"), ("buries", "0"), ("kicks", "0")])
        self.assertReply(c, b"kick-job 1", b"KICKED\r\n")
        c.send(b"reserve\r\n")
        c.read_job("RESERVED")
        c.send(b"stats-job 1\r\n")
        pairs = sqharness.parse_yaml(c.read_yaml_reply())
        sqharness.check_yaml_pairs(self, pairs, [
            ("id", "1"), ("tube", "default"), ("state", "reserved"), ("pri", "7"),
            ("age", INT), ("delay", "100"), ("ttr", "30"),
            ("time-left", re.compile(r"29|30")), ("file", "0"), ("reserves", "1"),
            ("timeouts", "0"), ("releases", "0"), ("buries", "0"), ("kicks", "1")])
        self.assertReply(c, b"stats-job 2", b"NOT_FOUND\r\n")

    def test_stats_tube(self):
        c = self.client()
        self.assertReply(c, b"use jobs", b"USING jobs\r\n")
        self.put(c, b"a", pri=1)
        self.put(c, b"b", pri=1024)
        self.assertReply(c, b"delete 2", b"DELETED\r\n")
        c.send(b"stats-tube jobs\r\n")
        pairs = sqharness.parse_yaml(c.read_yaml_reply())
        sqharness.check_yaml_pairs(self, pairs, [
            ("name", "jobs"), ("current-jobs-urgent", "1"), ("current-jobs-ready", "1"),
            ("current-jobs-reserved", "0"), ("current-jobs-delayed", "0"),
            ("current-jobs-buried", "0"), ("total-jobs", "2"), ("current-using", "1"),
            ("current-watching", "0"), ("current-waiting", "0"), ("cmd-delete", "1"),
            ("cmd-pause-tube", "0"), ("pause", "0"), ("pause-time-left", "0")])
        self.assertReply(c, b"stats-tube nosuch", b"NOT_FOUND\r\n")

    def test_stats_trailing_garbage(self):
        c = self.client()
        self.assertReply(c, b"stats ", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"statsx", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"stats-job 1 ", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"stats-tube default ", b"BAD_FORMAT\r\n")


class StatsLimit:
    SERVER_ARGS = ("-z", "1000")

    def test_max_job_size_reflects_z(self):
        c = self.client()
        c.send(b"stats\r\n")
        stats = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        self.assertEqual(stats["max-job-size"], "1000")


class StatsWithLog:
    """With -b the documents are still exactly beanstalkd's: the log's own
    figures are in synqd's stats-log extension, which beanstalkd reads as
    `stats` with trailing bytes."""

    PER_TEST = True

    def logged_server(self):
        d = tempfile.mkdtemp(prefix="sq-stats-")
        self.addCleanup(shutil.rmtree, d, True)
        return self.fresh_server(("-b", d))

    def test_stats_job_tube_and_server_documents_with_a_log(self):
        c = self.client(self.logged_server())
        self.put(c, b"abc", pri=7, ttr=30)
        c.send(b"stats\r\n")
        pairs = sqharness.parse_yaml(c.read_yaml_reply())
        want = server_stats({"cmd-put": 1, "cmd-stats": 1, "current-jobs-ready": 1,
                             "current-jobs-urgent": 1, "total-jobs": 1, "current-tubes": 1, "current-connections": 1,
                             "current-producers": 1, "total-connections": 2})
        want = [(k, INT if k.startswith("binlog-") else v) for k, v in want]
        sqharness.check_yaml_pairs(self, pairs, want)
        c.send(b"stats-job 1\r\n")
        pairs = sqharness.parse_yaml(c.read_yaml_reply())
        sqharness.check_yaml_pairs(self, pairs, [
            ("id", "1"), ("tube", "default"), ("state", "ready"), ("pri", "7"),
            ("age", INT), ("delay", "0"), ("ttr", "30"), ("time-left", "0"), ("file", INT),
            ("reserves", "0"), ("timeouts", "0"), ("releases", "0"), ("buries", "0"),
            ("kicks", "0")])
        c.send(b"stats-tube default\r\n")
        pairs = sqharness.parse_yaml(c.read_yaml_reply())
        self.assertEqual([k for k, _ in pairs], [
            "name", "current-jobs-urgent", "current-jobs-ready", "current-jobs-reserved",
            "current-jobs-delayed", "current-jobs-buried", "total-jobs", "current-using",
            "current-watching", "current-waiting", "cmd-delete", "cmd-pause-tube", "pause",
            "pause-time-left"])

    def test_stats_log_extension(self):
        if self.TARGET != "synqd":
            self.assertReply(self.client(), b"stats-log", b"BAD_FORMAT\r\n")
            return
        self.assertReply(self.client(), b"stats-log", b"NOT_FOUND\r\n")
        c = self.client(self.logged_server())
        self.put(c, b"abc")
        c.send(b"stats-log\r\n")
        pairs = sqharness.parse_yaml(c.read_yaml_reply())
        sqharness.check_yaml_pairs(self, pairs, [
            ("binlog-oldest-index", "1"), ("binlog-current-index", "1"),
            ("binlog-records-migrated", "0"), ("binlog-records-written", "1"),
            ("binlog-max-size", "10485760"), ("binlog-bytes-live", INT),
            ("binlog-bytes-dead", "0"), ("binlog-fsyncs", INT)])
        self.assertReply(c, b"stats-log ", b"BAD_FORMAT\r\n")
        # stats-log counts in no cmd-* field
        c.send(b"stats\r\n")
        st = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        self.assertEqual(st["cmd-stats"], "1")


sqharness.register(globals(), Stats, StatsLimit, StatsWithLog)

if __name__ == "__main__":
    sqharness.main()
