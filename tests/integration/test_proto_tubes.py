"""use, watch, ignore, list-tubes, list-tube-used, list-tubes-watched,
pause-tube: USING, WATCHING, NOT_IGNORED, OK (YAML lists), PAUSED,
NOT_FOUND; tube-name validation; tube lifetime; paused tubes."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402


def yaml_list(*names):
    """The exact reply beanstalkd sends for a YAML list of tube names."""
    data = b"---\n" + b"".join(b"- %s\n" % n for n in names)
    return b"OK %d\r\n%s\r\n" % (len(data), data)


def stats_of(c, line):
    c.send(line + b"\r\n")
    return dict(sqharness.parse_yaml(c.read_yaml_reply()))


class Tubes:
    PER_TEST = True

    def test_initial_state(self):
        c = self.client()
        self.assertReply(c, b"list-tube-used", b"USING default\r\n")
        c.send(b"list-tubes\r\n")
        c.expect(b"OK 14\r\n---\n- default\n\r\n")
        self.assertEqual(yaml_list(b"default"), b"OK 14\r\n---\n- default\n\r\n")
        c.send(b"list-tubes-watched\r\n")
        c.expect(b"OK 14\r\n---\n- default\n\r\n")

    def test_use_watch_ignore(self):
        c = self.client()
        self.assertReply(c, b"use alpha", b"USING alpha\r\n")
        self.assertReply(c, b"list-tube-used", b"USING alpha\r\n")
        self.assertReply(c, b"watch beta", b"WATCHING 2\r\n")
        self.assertReply(c, b"watch beta", b"WATCHING 2\r\n")  # idempotent
        self.assertReply(c, b"watch alpha", b"WATCHING 3\r\n")
        c.send(b"list-tubes-watched\r\n")
        c.expect(yaml_list(b"default", b"beta", b"alpha"))
        c.send(b"list-tubes\r\n")
        c.expect(yaml_list(b"default", b"alpha", b"beta"))
        self.assertReply(c, b"ignore default", b"WATCHING 2\r\n")
        self.assertReply(c, b"ignore nosuch", b"WATCHING 2\r\n")  # not watched: no error
        self.assertReply(c, b"ignore beta", b"WATCHING 1\r\n")
        self.assertReply(c, b"ignore alpha", b"NOT_IGNORED\r\n")
        c.send(b"list-tubes-watched\r\n")
        c.expect(yaml_list(b"alpha"))

    def test_unused_tubes_disappear(self):
        a, b = self.client(), self.client()
        self.assertReply(a, b"use gone", b"USING gone\r\n")
        self.assertReply(b, b"watch kept", b"WATCHING 2\r\n")
        self.put(b, b"j")   # job in default
        self.assertReply(a, b"use default", b"USING default\r\n")
        b.send(b"list-tubes\r\n")
        b.expect(yaml_list(b"default", b"kept"))
        self.assertReply(b, b"stats-tube gone", b"NOT_FOUND\r\n")

    def test_tube_with_jobs_survives_its_users(self):
        a, b = self.client(), self.client()
        self.assertReply(a, b"use keep", b"USING keep\r\n")
        self.put(a, b"j")
        a.close()
        time.sleep(0.1)
        s = stats_of(b, b"stats-tube keep")
        self.assertEqual((s["current-jobs-ready"], s["current-using"]), ("1", "0"))

    def test_name_validation(self):
        c = self.client()
        ok = b"azAZ09-+/;.$_()"
        self.assertReply(c, b"use " + ok, b"USING " + ok + b"\r\n")
        self.assertReply(c, b"use a" * 1 + b"b" * 199, b"USING a" + b"b" * 199 + b"\r\n")
        for bad in (b"-x", b"a b", b"a!", b"a*", b"", b" x", b"x ", b"\xc3\xa9",
                    b"a" * 201):
            for cmd in (b"use ", b"watch ", b"ignore ", b"stats-tube "):
                self.assertReply(c, cmd + bad, b"BAD_FORMAT\r\n")
        self.assertReply(c, b"use", b"UNKNOWN_COMMAND\r\n")
        self.assertReply(c, b"watch", b"UNKNOWN_COMMAND\r\n")
        self.assertReply(c, b"ignore", b"UNKNOWN_COMMAND\r\n")
        self.assertReply(c, b"stats-tube", b"BAD_FORMAT\r\n")  # prefix "stats"

    def test_list_commands_reject_trailing_bytes(self):
        c = self.client()
        for cmd in (b"list-tubes", b"list-tube-used", b"list-tubes-watched"):
            self.assertReply(c, cmd + b" ", b"BAD_FORMAT\r\n")
            self.assertReply(c, cmd + b"x", b"BAD_FORMAT\r\n")


class PauseTube:
    PER_TEST = True

    def test_pause_tube_replies(self):
        c = self.client()
        self.assertReply(c, b"pause-tube default 0", b"PAUSED\r\n")
        self.assertReply(c, b"pause-tube nosuch 1", b"NOT_FOUND\r\n")
        self.assertReply(c, b"pause-tube -x 1", b"BAD_FORMAT\r\n")
        for bad in (b"pause-tube", b"pause-tube ", b"pause-tube default",
                    b"pause-tube default 0 ", b"pause-tube default x",
                    b"pause-tube default -1", b"pause-tube default 4294967296"):
            self.assertReply(c, bad, b"BAD_FORMAT\r\n")
        # no space is needed after the command word: the name starts at once
        self.assertReply(c, b"pause-tubedefault 0", b"PAUSED\r\n")

    def test_paused_tube_holds_jobs_until_pause_ends(self):
        c, w = self.client(), self.client()
        self.put(c, b"a")
        self.assertReply(c, b"pause-tube default 1", b"PAUSED\r\n")
        s = stats_of(c, b"stats-tube default")
        self.assertEqual((s["pause"], s["cmd-pause-tube"]), ("1", "1"))
        self.assertIn(s["pause-time-left"], ("0", "1"))
        self.assertReply(w, b"reserve-with-timeout 0", b"TIMED_OUT\r\n")
        t0 = time.monotonic()
        w.send(b"reserve-with-timeout 4\r\n")
        w.expect(b"RESERVED 1 1\r\na\r\n")
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 2.5)
        s = stats_of(c, b"stats-tube default")
        self.assertEqual((s["pause"], s["pause-time-left"]), ("0", "0"))

    def test_peek_and_put_work_on_paused_tube(self):
        c = self.client()
        self.assertReply(c, b"pause-tube default 10", b"PAUSED\r\n")
        self.put(c, b"a")
        c.send(b"peek-ready\r\n")
        c.expect(b"FOUND 1 1\r\na\r\n")
        self.assertReply(c, b"reserve-with-timeout 0", b"TIMED_OUT\r\n")
        c.send(b"reserve-job 1\r\n")  # by id: not blocked by the pause
        c.expect(b"RESERVED 1 1\r\na\r\n")


sqharness.register(globals(), Tubes, PauseTube)

if __name__ == "__main__":
    sqharness.main()
