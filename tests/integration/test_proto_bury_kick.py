"""bury, kick, kick-job, and the peek family: BURIED, KICKED, KICKED <n>,
FOUND, NOT_FOUND; kick order (buried first, FIFO; delayed only when no job
is buried).  "BURIED <id>" in reply to put, and "BURIED" in reply to
release, are only sent when the server cannot grow a ready heap (out of
memory), which a test cannot provoke; see test_proto_errors.py."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402


def stats_of(c, line):
    c.send(line + b"\r\n")
    return dict(sqharness.parse_yaml(c.read_yaml_reply()))


def reserve_and_bury(test, c, jid, pri=0):
    c.send(b"reserve-job %d\r\n" % jid)
    c.read_job("RESERVED")
    test.assertReply(c, b"bury %d %d" % (jid, pri), b"BURIED\r\n")


class BuryKick:
    PER_TEST = True

    def test_bury_sets_priority_and_state(self):
        c = self.client()
        self.put(c, b"a", pri=3)
        c.send(b"reserve\r\n")
        c.expect(b"RESERVED 1 1\r\na\r\n")
        self.assertReply(c, b"bury 1 77", b"BURIED\r\n")
        self.assertReply(c, b"bury 1 77", b"NOT_FOUND\r\n")  # not reserved any more
        job = stats_of(c, b"stats-job 1")
        self.assertEqual((job["state"], job["pri"], job["buries"]), ("buried", "77", "1"))
        self.assertEqual(stats_of(c, b"stats-tube default")["current-jobs-buried"], "1")
        # a buried job is never handed out by reserve
        self.assertReply(c, b"reserve-with-timeout 0", b"TIMED_OUT\r\n")

    def test_ready_job_cannot_be_buried(self):
        c = self.client()
        self.put(c, b"a")
        self.assertReply(c, b"bury 1 0", b"NOT_FOUND\r\n")

    def test_kick_buried_in_bury_order(self):
        c = self.client()
        for body in (b"a", b"b", b"c"):
            self.put(c, body)
        # bury in the order 3, 1, 2; buried is a FIFO regardless of priority
        reserve_and_bury(self, c, 3, pri=0)
        reserve_and_bury(self, c, 1, pri=9)
        reserve_and_bury(self, c, 2, pri=5)
        c.send(b"peek-buried\r\n")
        c.expect(b"FOUND 3 1\r\nc\r\n")
        self.assertReply(c, b"kick 1", b"KICKED 1\r\n")
        self.assertEqual(stats_of(c, b"stats-job 3")["state"], "ready")
        self.assertEqual(stats_of(c, b"stats-job 3")["kicks"], "1")
        c.send(b"peek-buried\r\n")
        c.expect(b"FOUND 1 1\r\na\r\n")
        self.assertReply(c, b"kick 100", b"KICKED 2\r\n")
        self.assertReply(c, b"peek-buried", b"NOT_FOUND\r\n")
        self.assertReply(c, b"kick 100", b"KICKED 0\r\n")

    def test_kick_delayed_only_when_nothing_buried(self):
        c = self.client()
        self.put(c, b"d1", delay=100)
        self.put(c, b"b")
        self.put(c, b"d2", delay=50)
        reserve_and_bury(self, c, 2)
        self.assertReply(c, b"kick 10", b"KICKED 1\r\n")  # only the buried one
        self.assertEqual(stats_of(c, b"stats-job 1")["state"], "delayed")
        # delayed jobs are kicked soonest-ready first
        self.assertReply(c, b"kick 1", b"KICKED 1\r\n")
        self.assertEqual(stats_of(c, b"stats-job 3")["state"], "ready")
        self.assertEqual(stats_of(c, b"stats-job 1")["state"], "delayed")
        self.assertReply(c, b"kick 10", b"KICKED 1\r\n")
        self.assertEqual(stats_of(c, b"stats-job 1")["state"], "ready")

    def test_kick_acts_on_used_tube_only(self):
        c = self.client()
        self.put(c, b"a")
        reserve_and_bury(self, c, 1)
        self.assertReply(c, b"use other", b"USING other\r\n")
        self.assertReply(c, b"kick 10", b"KICKED 0\r\n")
        self.assertReply(c, b"use default", b"USING default\r\n")
        self.assertReply(c, b"kick 10", b"KICKED 1\r\n")

    def test_kick_job(self):
        c = self.client()
        self.put(c, b"a")
        self.put(c, b"b", delay=100)
        self.put(c, b"c")
        reserve_and_bury(self, c, 1)
        self.assertReply(c, b"kick-job 1", b"KICKED\r\n")   # buried
        self.assertReply(c, b"kick-job 1", b"NOT_FOUND\r\n")  # now ready
        self.assertReply(c, b"kick-job 2", b"KICKED\r\n")   # delayed
        self.assertReply(c, b"kick-job 3", b"NOT_FOUND\r\n")  # ready
        self.assertReply(c, b"kick-job 99", b"NOT_FOUND\r\n")
        # kick-job works whatever tube is used
        self.assertReply(c, b"use elsewhere", b"USING elsewhere\r\n")
        c.send(b"reserve\r\n")
        c.read_job("RESERVED")
        self.assertReply(c, b"bury 1 0", b"BURIED\r\n")
        self.assertReply(c, b"kick-job 1", b"KICKED\r\n")

    def test_kick_number_parsing_is_lenient(self):
        # kick uses strtoul: signs and trailing bytes are accepted; only a
        # missing number or an overflow of unsigned long is BAD_FORMAT.
        c = self.client()
        self.put(c, b"a")
        reserve_and_bury(self, c, 1)
        self.assertReply(c, b"kick 0", b"KICKED 0\r\n")
        self.assertReply(c, b"kick 5x", b"KICKED 1\r\n")
        self.assertReply(c, b"kick -1", b"KICKED 0\r\n")
        self.assertReply(c, b"kick 4294967297", b"KICKED 0\r\n")
        self.assertReply(c, b"kick 99999999999999999999", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"kick x", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"kick ", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"kick", b"UNKNOWN_COMMAND\r\n")


class Peek:
    PER_TEST = True

    def test_peek_family(self):
        c = self.client()
        self.assertReply(c, b"peek-ready", b"NOT_FOUND\r\n")
        self.assertReply(c, b"peek-delayed", b"NOT_FOUND\r\n")
        self.assertReply(c, b"peek-buried", b"NOT_FOUND\r\n")
        self.assertReply(c, b"peek 1", b"NOT_FOUND\r\n")
        self.put(c, b"r9", pri=9)
        self.put(c, b"r2", pri=2)
        self.put(c, b"d50", delay=50)
        self.put(c, b"d20", delay=20)
        c.send(b"peek-ready\r\n")
        c.expect(b"FOUND 2 2\r\nr2\r\n")
        c.send(b"peek-delayed\r\n")
        c.expect(b"FOUND 4 3\r\nd20\r\n")
        c.send(b"peek 3\r\n")
        c.expect(b"FOUND 3 3\r\nd50\r\n")
        # peek does not change state
        self.assertEqual(stats_of(c, b"stats-job 2")["state"], "ready")
        c.send(b"reserve\r\n")
        c.expect(b"RESERVED 2 2\r\nr2\r\n")
        # a reserved job can still be peeked by id
        c.send(b"peek 2\r\n")
        c.expect(b"FOUND 2 2\r\nr2\r\n")
        self.assertReply(c, b"bury 2 0", b"BURIED\r\n")
        c.send(b"peek-buried\r\n")
        c.expect(b"FOUND 2 2\r\nr2\r\n")

    def test_peek_uses_used_tube_but_peek_id_is_global(self):
        c = self.client()
        self.put(c, b"a")
        self.assertReply(c, b"use t", b"USING t\r\n")
        self.assertReply(c, b"peek-ready", b"NOT_FOUND\r\n")
        c.send(b"peek 1\r\n")
        c.expect(b"FOUND 1 1\r\na\r\n")

    def test_peek_trailing_garbage(self):
        c = self.client()
        for cmd in (b"peek-ready", b"peek-delayed", b"peek-buried"):
            self.assertReply(c, cmd + b" ", b"BAD_FORMAT\r\n")
            self.assertReply(c, cmd + b"x", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"peek", b"UNKNOWN_COMMAND\r\n")


sqharness.register(globals(), BuryKick, Peek)

if __name__ == "__main__":
    sqharness.main()
