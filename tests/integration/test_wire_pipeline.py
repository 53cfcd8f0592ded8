"""Wire behaviour clients depend on: replies in exactly the order of
pipelined commands, and no stray bytes.

Clients such as fivebeans and the npm "beanstalkd" client queue one handler
per command written and match replies to handlers strictly in order; a
reply out of order, missing, or doubled hands every later caller the wrong
answer.  Each test writes many commands in ONE send and reads the replies
back as one byte stream compared exactly, then requires 200 ms of silence.
Checked against both servers (sqharness targets)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402

SILENCE_S = 0.2


class Pipeline:
    PER_TEST = True  # ids start at 1

    def roundtrip(self, c, commands, want):
        """Send all `commands` in one write; require exactly `want` back."""
        c.send(b"".join(commands))
        c.expect(want)
        c.expect_silence(SILENCE_S)

    def test_mixed_commands_reply_in_order(self):
        c = self.client()
        commands = [
            b"use pipe\r\n",
            b"put 10 0 60 3\r\nabc\r\n",
            b"put 5 0 60 5\r\nhello\r\n",
            b"peek-ready\r\n",                  # a body reply followed by more replies
            b"list-tube-used\r\n",
            b"bogus-command\r\n",
            b"watch pipe\r\n",
            b"ignore default\r\n",
            b"reserve-with-timeout 0\r\n",
            b"peek 1\r\n",
            b"release 2 1 0\r\n",
            b"reserve-with-timeout 0\r\n",
            b"bury 2 7\r\n",
            b"peek-buried\r\n",
            b"kick 1\r\n",
            b"delete 2\r\n",
            b"delete 2\r\n",
            b"peek-delayed\r\n",
            b"reserve-with-timeout 0\r\n",
            b"delete 1\r\n",
            b"reserve-with-timeout 0\r\n",
        ]
        want = b"".join([
            b"USING pipe\r\n",
            b"INSERTED 1\r\n",
            b"INSERTED 2\r\n",
            b"FOUND 2 5\r\nhello\r\n",
            b"USING pipe\r\n",
            b"UNKNOWN_COMMAND\r\n",
            b"WATCHING 2\r\n",
            b"WATCHING 1\r\n",
            b"RESERVED 2 5\r\nhello\r\n",
            b"FOUND 1 3\r\nabc\r\n",
            b"RELEASED\r\n",
            b"RESERVED 2 5\r\nhello\r\n",
            b"BURIED\r\n",
            b"FOUND 2 5\r\nhello\r\n",
            b"KICKED 1\r\n",
            b"DELETED\r\n",
            b"NOT_FOUND\r\n",
            b"NOT_FOUND\r\n",
            b"RESERVED 1 3\r\nabc\r\n",
            b"DELETED\r\n",
            b"TIMED_OUT\r\n",
        ])
        self.roundtrip(c, commands, want)

    def test_many_puts_then_many_peeks(self):
        c = self.client()
        n = 300
        bodies = [b"job-%d-" % i + b"x" * (i % 50) for i in range(1, n + 1)]
        self.roundtrip(c, [b"put 0 0 60 %d\r\n%s\r\n" % (len(b), b) for b in bodies],
                       b"".join(b"INSERTED %d\r\n" % i for i in range(1, n + 1)))
        self.roundtrip(c, [b"peek %d\r\n" % i for i in range(n, 0, -1)],
                       b"".join(b"FOUND %d %d\r\n%s\r\n" % (i, len(bodies[i - 1]), bodies[i - 1])
                                for i in range(n, 0, -1)))

    def test_yaml_replies_pipelined_between_others(self):
        c = self.client()
        c.send(b"put 0 0 60 1\r\na\r\nstats-job 1\r\nlist-tubes\r\nstats-tube default\r\n"
               b"stats\r\nlist-tubes-watched\r\npeek 1\r\n")
        c.expect(b"INSERTED 1\r\n")
        job = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        self.assertEqual((job["id"], job["state"]), ("1", "ready"))
        self.assertEqual(sqharness.parse_yaml(c.read_yaml_reply()), ["default"])
        tube = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        self.assertEqual((tube["name"], tube["current-jobs-ready"]), ("default", "1"))
        stats = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        self.assertEqual(stats["cmd-stats-job"], "1")
        self.assertEqual(sqharness.parse_yaml(c.read_yaml_reply()), ["default"])
        c.expect(b"FOUND 1 1\r\na\r\n")
        c.expect_silence(SILENCE_S)

    def test_errors_do_not_shift_later_replies(self):
        c = self.client()
        commands = [
            b"put 0 0 60 70000\r\n" + b"z" * 70000 + b"\r\n",   # JOB_TOO_BIG, body skipped
            b"peek 99\r\n",
            b"put 0 0 60 2\r\nok\r\n",
            b"stats-job 99\r\n",
            b"stats-tube nosuchtube\r\n",
            b"pause-tube nosuchtube 1\r\n",
            b"touch 1\r\n",                                   # not reserved by us
            b"kick-job 99\r\n",
            b"list-tube-used\r\n",
        ]
        want = b"".join([
            b"JOB_TOO_BIG\r\n",
            b"NOT_FOUND\r\n",
            b"INSERTED 1\r\n",
            b"NOT_FOUND\r\n",
            b"NOT_FOUND\r\n",
            b"NOT_FOUND\r\n",
            b"NOT_FOUND\r\n",
            b"NOT_FOUND\r\n",
            b"USING default\r\n",
        ])
        self.roundtrip(c, commands, want)

    def test_reply_order_across_a_blocking_reserve(self):
        # Commands after a reserve that blocks are not answered until it is;
        # then all replies come in order.
        w, p = self.client(), self.client()
        w.send(b"reserve\r\nlist-tube-used\r\n")
        w.expect_silence(0.2)
        self.put(p, b"wake")
        w.expect(b"RESERVED 1 4\r\nwake\r\nUSING default\r\n")
        w.expect_silence(SILENCE_S)


sqharness.register(globals(), Pipeline)

if __name__ == "__main__":
    sqharness.main()
