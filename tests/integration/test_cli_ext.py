"""The `synq` client's commands for synqd's extensions (docs/protocol.md
"Extensions") and tail, against a real synqd (beanstalkd has none of them):
flush, jobs, move, tube-set, tube-info, reserve --batch, put --unique, tail."""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402
from cliharness import CliBase, RUN_TIMEOUT_S, synq_binary  # noqa: E402


class CliExtensions(CliBase):
    """synqd's extension commands and tail: synqd only."""


    def put_n(self, tube, n, *opts):
        return [int(self.ok("put", "-t", tube, *opts, "j%d" % i)) for i in range(n)]

    def test_flush_by_state_and_all(self):
        ready = self.put_n("fl", 3)
        delayed = self.put_n("fl", 2, "--delay", "600")
        self.ok("bury", ready[0])
        self.assertEqual(self.ok("flush", "fl", "--state", "buried"), "1\n")
        self.assertIsNone(self.job_stats(ready[0]))
        self.assertEqual(self.ok("--json", "flush", "-t", "fl", "--state", "delayed"),
                         '{"flushed": 2}\n')
        self.assertEqual([self.job_stats(i) for i in delayed], [None, None])
        self.assertEqual(self.ok("flush", "fl"), "2\n")  # default: all
        self.assertEqual(self.ok("flush", "fl"), "0\n")
        for args in (["flush"], ["flush", "fl", "--state", "reserved"], ["flush", "bad name"]):
            p = self.synq(*args)
            self.assertEqual((p.returncode, p.stdout), (2, b""), (args, p.stderr))

    def test_jobs_pages_through_every_job(self):
        c = self.client()
        c.cmd("use lj\r\n")
        ids = [self.put(c, "j") for _ in range(1203)]  # over a page of 1000
        self.put_n("other", 5)
        out = self.ok("--json", "jobs", "lj", "--all").splitlines()
        rows = [json.loads(x) for x in out]
        self.assertEqual([r["id"] for r in rows], ids)
        self.assertEqual(set(rows[0]), {"id", "pri", "age", "delay", "time-left", "size",
                                        "reserves", "timeouts", "releases", "buries", "kicks"})
        self.assertEqual(rows[0]["pri"], 0)
        self.assertEqual(len(self.ok("--json", "jobs", "lj").splitlines()), 100)
        page = [json.loads(x)["id"] for x in
                self.ok("jobs", "--json", "-t", "lj", "--after", ids[9], "-n", "3").splitlines()]
        self.assertEqual(page, ids[10:13])
        text = self.ok("jobs", "lj", "--count", "2").splitlines()
        self.assertEqual(text[0].split(), ["id", "pri", "age", "delay", "time-left", "size",
                                           "reserves", "timeouts", "releases", "buries", "kicks"])
        self.assertEqual([int(line.split()[0]) for line in text[1:]], ids[:2])
        self.assertEqual(self.ok("jobs", "lj", "--state", "buried").splitlines()[1:], [])
        self.assertEqual(self.ok("--json", "jobs", "nosuch", "--all"), "")
        p = self.synq("jobs", "lj", "--all", "-n", "5")
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_move_redrives_buried_jobs(self):
        ids = self.put_n("dead", 4)
        for i in ids[:3]:
            self.ok("bury", i)
        self.assertEqual(self.ok("move", "dead", "work", "--max", "2"), "2\n")
        self.assertEqual(self.ok("--json", "move", "dead", "work"), '{"moved": 1}\n')
        self.assertEqual([self.job_stats(i)["tube"] for i in ids], ["work"] * 3 + ["dead"])
        self.assertEqual(self.ok("move", "dead", "work", "--state", "ready"), "1\n")
        self.assertEqual(self.job_stats(ids[3])["state"], "ready")
        p = self.synq("move", "dead")
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_tube_set_and_tube_info(self):
        self.ok("tube-set", "ts", "max-reserves", "3")
        self.ok("tube-set", "ts", "dead-letter", "ts-dl")
        info = json.loads(self.ok("--json", "tube-info", "ts"))
        self.assertEqual((info["name"], info["max-reserves"], info["dead-letter"], info["held"]),
                         ("ts", 3, "ts-dl", False))
        text = self.ok("tube-info", "-t", "ts")
        self.assertIn("max-reserves: 3\n", text)
        p = self.synq("tube-set", "ts", "no-such-setting", "1")
        self.assertEqual((p.returncode, p.stdout), (1, b""), p.stderr)
        p = self.synq("tube-info", "nosuch")
        self.assertEqual(p.returncode, 1, p.stderr)
        p = self.synq("tube-set", "ts", "rate")
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_reserve_batch(self):
        ids = self.put_n("rb", 5)
        out = self.ok("--json", "reserve", "-t", "rb", "--batch", "3", "--delete")
        self.assertEqual([json.loads(x)["id"] for x in out.splitlines()], ids[:3])
        self.assertEqual([self.job_stats(i) for i in ids[:3]], [None] * 3)
        self.assertEqual(self.ok("reserve", "-t", "rb", "--batch", "10", "--bury"), "j3\nj4\n")
        self.assertEqual(self.job_stats(ids[4])["state"], "buried")
        p = self.synq("reserve", "-t", "rb", "--batch", "2", "--timeout", "0")
        self.assertEqual((p.returncode, p.stdout), (1, b""), p.stderr)
        p = self.synq("reserve", "--batch", "0")
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_put_unique(self):
        first = int(self.ok("put", "-t", "pu", "--unique", "order-7", "a"))
        p = self.synq("put", "-t", "pu", "--unique", "order-7", "b")
        self.assertEqual((p.returncode, p.stdout), (1, b"%d\n" % first), p.stderr)
        p = self.synq("--json", "put", "-t", "pu", "--unique", "order-7", "b")
        self.assertEqual(json.loads(p.stdout), {"id": first, "exists": True})
        other = int(self.ok("put", "-t", "pu2", "--unique", "order-7", "c"))
        self.assertNotEqual(other, first)
        self.ok("delete", first)
        self.assertNotEqual(int(self.ok("put", "-t", "pu", "--unique", "order-7", "d")), first)
        for args in (["put", "--unique", "a b", "x"], ["put", "--unique", "k", "--lines"]):
            p = self.synq(*args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))

    def test_tail_follows_deletes_and_exits_0_on_ctrl_c(self):
        self.put_n("tl", 1)
        e = dict(os.environ, SYNQ_PORT=str(self.server.port))
        proc = subprocess.Popen([synq_binary(), "--json", "tail", "tl"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=e)
        try:
            first = json.loads(proc.stdout.readline())
            self.assertEqual(first["body"], "j0")
            later = int(self.ok("put", "-t", "tl", "later"))
            second = json.loads(proc.stdout.readline())
            self.assertEqual((second["id"], second["body"]), (later, "later"))
            # The job is deleted after it is printed; wait (bounded) for that.
            deadline = time.monotonic() + RUN_TIMEOUT_S
            while self.job_stats(later) is not None and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertIsNone(self.job_stats(later))
            proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.wait(RUN_TIMEOUT_S), 0, proc.stderr.read())
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
            proc.stdout.close()
            proc.stderr.close()

    def test_extension_commands_have_help(self):
        for cmd in ("flush", "jobs", "move", "tube-set", "tube-info", "tail"):
            self.assertIn("Usage: synq %s" % cmd, self.ok(cmd, "--help"))


sqharness.register(globals(), CliExtensions, only=("synqd",))

if __name__ == "__main__":
    sqharness.main()
