"""The `synq` client's job commands against a real server: put, peek, reserve,
delete, release, bury, kick, touch, pause, drain and raw. How they run:
cliharness.py."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402
from cliharness import CliBase, RUN_TIMEOUT_S, synq_binary  # noqa: E402


class CliJobs(CliBase):
    """put, peek, reserve and the commands on one job, drain, raw."""

    # ------------------------------------------------------------ put / peek

    def test_put_argument_then_peek(self):
        out = self.ok("put", "hello world")
        self.assertRegex(out, r"^\d+\n$")
        job_id = int(out)
        self.assertEqual(self.peek_body(job_id), b"hello world")
        self.assertEqual(self.ok("peek", job_id), "hello world\n")
        self.assertEqual(self.ok("-V", "peek", job_id), "%d\thello world\n" % job_id)

    def test_put_stdin_is_byte_exact(self):
        body = b"line1\nline2\r\n\x00\xff end"
        job_id = int(self.ok("put", "-", stdin=body))
        self.assertEqual(self.peek_body(job_id), body)
        job_id2 = int(self.ok("put", stdin=b"no dash"))
        self.assertEqual(self.peek_body(job_id2), b"no dash")

    def test_put_options_reach_the_server(self):
        job_id = int(self.ok("put", "-t", "work", "--pri", "7", "--delay", "30", "--ttr", "9", "x"))
        st = self.job_stats(job_id)
        self.assertEqual((st["tube"], st["pri"], st["delay"], st["ttr"], st["state"]),
                         ("work", "7", "30", "9", "delayed"))

    def test_put_lines(self):
        out = self.ok("put", "--lines", "-t", "batch", stdin=b"one\ntwo\r\nthree")
        ids = [int(x) for x in out.split()]
        self.assertEqual(len(ids), 3)
        self.assertEqual([self.peek_body(i) for i in ids], [b"one", b"two", b"three"])
        self.assertEqual(self.tube_stats("batch")["current-jobs-ready"], "3")

    def test_put_too_big_exits_1_and_dash_body(self):
        p = self.synq("put", "-", stdin=b"z" * 70000)  # default max-job-size 65535
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr, b"synq: put: job too big (larger than the server's max-job-size)\n")
        job_id = int(self.ok("put", "--", "-5"))
        self.assertEqual(self.peek_body(job_id), b"-5")

    def test_peek_json_and_states(self):
        ready = int(self.ok("put", "-t", "p", "r"))
        delayed = int(self.ok("put", "-t", "p", "--delay", "100", "d"))
        doc = json.loads(self.ok("--json", "peek", ready))
        self.assertEqual(doc, {"id": ready, "body": "r"})
        self.assertEqual(self.ok("-V", "peek", "--ready", "-t", "p"), "%d\tr\n" % ready)
        self.assertEqual(json.loads(self.ok("peek", "--delayed", "-t", "p", "--json")),
                         {"id": delayed, "body": "d"})
        p = self.synq("peek", "--buried", "-t", "p")
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"not found", p.stderr)

    def test_json_body_escaping_always_parses(self):
        body = b'q"\\\t\x01\xc3\xa9\xff'
        job_id = int(self.ok("put", "-", stdin=body))
        doc = json.loads(self.ok("--json", "peek", job_id))
        self.assertEqual(doc["body"], 'q"\\\t\x01\u00e9\u00ff')

    def test_peek_missing_job_exits_1(self):
        p = self.synq("peek", "424242")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, b"")
        self.assertEqual(p.stderr, b"synq: peek 424242: not found\n")

    # ------------------------------------------------------------ reserve

    def test_reserve_prints_and_deletes(self):
        job_id = int(self.ok("put", "-t", "r", "payload"))
        self.assertEqual(self.ok("reserve", "-t", "r", "--delete", "-V"), "%d\tpayload\n" % job_id)
        self.assertIsNone(self.job_stats(job_id))

    def test_reserve_without_action_returns_job_to_ready(self):
        job_id = int(self.ok("put", "b"))
        self.assertEqual(self.ok("reserve", "--timeout", "1"), "b\n")
        st = self.job_stats(job_id)
        self.assertEqual((st["state"], st["reserves"]), ("ready", "1"))

    def test_reserve_bury_and_release_keep_priority(self):
        a = int(self.ok("put", "-t", "rb", "--pri", "33", "a"))
        self.assertEqual(json.loads(self.ok("reserve", "-t", "rb", "--bury", "--json")),
                         {"id": a, "body": "a"})
        st = self.job_stats(a)
        self.assertEqual((st["state"], st["pri"]), ("buried", "33"))
        b = int(self.ok("put", "-t", "rb", "--pri", "44", "b"))
        self.ok("reserve", "-t", "rb", "--release")
        st = self.job_stats(b)
        self.assertEqual((st["state"], st["pri"], st["releases"]), ("ready", "44", "1"))

    def test_reserve_watches_several_tubes(self):
        job_id = int(self.ok("put", "-t", "second", "from-second"))
        self.ok("put", "in-default")
        out = self.ok("reserve", "-t", "first", "-t", "second", "--timeout", "0", "-V")
        self.assertEqual(out, "%d\tfrom-second\n" % job_id)

    def test_reserve_blocks_until_a_job_arrives(self):
        proc = subprocess.Popen([synq_binary(), "-p", str(self.server.port), "--timeout", "0.5",
                                 "reserve", "-t", "later", "-V"], stdout=subprocess.PIPE)
        try:
            c = self.client()
            # Wait past the reply timeout: a plain reserve must not give up.
            deadline = time.monotonic() + 5
            while (self.tube_stats("later", missing_ok=True) or {}).get("current-waiting") != "1":
                self.assertLess(time.monotonic(), deadline, "synq never started waiting")
                time.sleep(0.05)
            time.sleep(0.8)
            self.assertIsNone(proc.poll())
            c.send("use later\r\n")
            c.read_line()
            job_id = self.put(c, b"now")
            out = proc.communicate(timeout=RUN_TIMEOUT_S)[0]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual((proc.returncode, out), (0, b"%d\tnow\n" % job_id))

    def test_reserve_timeout_exits_1(self):
        p = self.synq("reserve", "-t", "empty", "--timeout", "0")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, b"")
        self.assertEqual(p.stderr, b"synq: reserve: timed out\n")

    def test_reserve_actions_are_exclusive(self):
        p = self.synq("reserve", "--delete", "--bury")
        self.assertEqual(p.returncode, 2)

    # ------------------------------------------------------------ job commands

    def test_delete_several_and_missing(self):
        a = int(self.ok("put", "a"))
        b = int(self.ok("put", "b"))
        p = self.synq("delete", a, 999999, b)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr, b"synq: delete 999999: not found\n")
        self.assertIsNone(self.job_stats(a))
        self.assertIsNone(self.job_stats(b))

    def test_release_changes_priority_and_delay(self):
        job_id = int(self.ok("put", "--pri", "10", "x"))
        self.ok("release", job_id, "--pri", "3", "--delay", "50")
        st = self.job_stats(job_id)
        self.assertEqual((st["state"], st["pri"], st["delay"]), ("delayed", "3", "50"))

    def test_bury_then_kick_job_and_kick(self):
        a = int(self.ok("put", "-t", "k", "--pri", "12", "a"))
        b = int(self.ok("put", "-t", "k", "b"))
        self.ok("bury", a)
        self.ok("bury", b, "--pri", "5")
        self.assertEqual((self.job_stats(a)["state"], self.job_stats(a)["pri"]), ("buried", "12"))
        self.assertEqual(self.job_stats(b)["pri"], "5")
        self.assertEqual(self.ok("peek", "--buried", "-t", "k"), "a\n")
        self.ok("kick-job", a)
        self.assertEqual(self.job_stats(a)["state"], "ready")
        self.assertEqual(self.ok("kick", "-t", "k", "10"), "1\n")
        self.assertEqual(self.job_stats(b)["state"], "ready")
        self.assertEqual(self.ok("kick", "-t", "k", "10"), "0\n")

    def test_kick_without_count_kicks_every_buried_job_and_no_delayed_one(self):
        ids = [int(self.ok("put", "-t", "kb", str(i))) for i in range(3)]
        delayed = int(self.ok("put", "-t", "kb", "--delay", "600", "d"))
        self.assertEqual(self.ok("kick", "-t", "kb"), "0\n")
        self.assertEqual(self.job_stats(delayed)["state"], "delayed")
        for i in ids:
            self.ok("bury", i)
        self.assertEqual(self.ok("kick", "-t", "kb"), "3\n")
        self.assertEqual([self.job_stats(i)["state"] for i in ids], ["ready"] * 3)
        self.assertEqual(self.job_stats(delayed)["state"], "delayed")
        self.assertEqual(self.ok("kick", "-t", "nosuchtube"), "0\n")
        self.assertEqual(self.ok("--json", "kick", "-t", "kb"), '{"kicked": 0}\n')

    def test_raw_several_commands_print_every_reply(self):
        p = self.synq("raw", "use rt", "put 0 0 60 2", "hi", "list-tube-used", "frobnicate",
                      "peek-ready")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertRegex(p.stdout, rb"^USING rt\r\nINSERTED (\d+)\r\nUSING rt\r\n"
                                   rb"UNKNOWN_COMMAND\r\nFOUND \1 2\r\nhi\r\n$")
        p = self.synq("raw", "list-tube-used", "stats-tube rt")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith(b"USING default\r\nOK "), p.stdout)

    def test_missing_job_commands_exit_1(self):
        for args in (["release", "5000"], ["bury", "5000"], ["kick-job", "5000"],
                     ["touch", "5000"], ["stats-job", "5000"]):
            p = self.synq(*args)
            self.assertEqual(p.returncode, 1, args)
            self.assertEqual(p.stderr.decode(), "synq: %s: not found\n" % " ".join(args))

    def test_touch_from_another_connection_is_not_found(self):
        # The protocol ties touch to the reserving connection; synq holds none.
        job_id = int(self.ok("put", "x"))
        c = self.client()
        c.send("reserve\r\n")
        self.assertEqual(c.read_job("RESERVED")[0], job_id)
        self.assertEqual(self.synq("touch", job_id).returncode, 1)

    def test_pause(self):
        self.ok("put", "-t", "pz", "x")
        self.assertEqual(self.ok("pause", "-t", "pz", "60"), "")
        self.assertEqual(self.tube_stats("pz")["pause"], "60")
        p = self.synq("pause", "-t", "nosuchtube", "5")
        self.assertEqual((p.returncode, p.stderr), (1, b"synq: pause nosuchtube: not found\n"))

    # ------------------------------------------------------------ drain, raw

    def test_drain_prints_without_removing(self):
        for body in ("1", "2", "3"):
            self.ok("put", "-t", "dr", body)
        self.assertEqual(self.ok("drain", "dr"), "1\n2\n3\n")
        self.assertEqual(self.tube_stats("dr")["current-jobs-ready"], "3")

    def test_drain_delete_and_bury(self):
        ids = [int(self.ok("put", "-t", "dd", b)) for b in ("x", "y")]
        self.ok("put", "-t", "dd", "--delay", "100", "later")
        p = self.synq("drain", "dd", "--delete", "-V")
        self.assertEqual(p.stdout, b"%d\tx\n%d\ty\n" % (ids[0], ids[1]))
        self.assertEqual(p.stderr, b"synq: drain dd: 2 jobs deleted\n")
        st = self.tube_stats("dd")
        self.assertEqual((st["current-jobs-ready"], st["current-jobs-delayed"]), ("0", "1"))
        self.ok("put", "-t", "dd", "--pri", "77", "z")
        lines = self.ok("drain", "dd", "--bury", "--json").splitlines()
        self.assertEqual([json.loads(x)["body"] for x in lines], ["z"])
        self.assertEqual(self.job_stats(json.loads(lines[0])["id"])["pri"], "77")
        self.assertEqual(self.tube_stats("dd")["current-jobs-buried"], "1")

    def test_raw(self):
        p = self.synq("raw", "list-tube-used")
        self.assertEqual((p.returncode, p.stdout), (0, b"USING default\r\n"))
        out = self.synq("raw", "put 0 0 60 2", "hi").stdout
        self.assertRegex(out, rb"^INSERTED \d+\r\n$")
        out = self.synq("raw", "list-tubes").stdout
        self.assertEqual(out, b"OK 14\r\n---\n- default\n\r\n")
        p = self.synq("raw", "frobnicate")
        self.assertEqual((p.returncode, p.stdout), (1, b"UNKNOWN_COMMAND\r\n"))


sqharness.register(globals(), CliJobs)

if __name__ == "__main__":
    sqharness.main()
