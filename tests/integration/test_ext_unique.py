"""synqd's put-unique over real sockets (issue 16 item 5; docs/protocol.md, Extensions): EXISTS
while a job with the key is alive in the used tube in any state, the key free again after
delete and flush-tube, keys per tube, what move-jobs does with a key, BAD_FORMAT for bad keys and
extra words, the body read and dropped on EXISTS, and keys surviving kill -9 and a restart with
-b, also after compaction (a small -s rotates segments).

synqd only: beanstalkd has no put-unique. Python 3 standard library only; every wait is bounded
and every server stopped.
"""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402
from sqharness import ProtocolError  # noqa: E402


class UniqueBase:
    def use(self, c, tube):
        self.assertEqual(c.cmd("use %s" % tube), b"USING %s\r\n" % tube.encode())

    def put_unique_raw(self, c, key, body=b"x", pri=0, delay=0, ttr=60):
        if isinstance(key, str):
            key = key.encode()
        c.send(b"put-unique %s %d %d %d %d\r\n%s\r\n" % (key, pri, delay, ttr, len(body), body))
        return c.read_line()

    def put_unique(self, c, key, body=b"x", pri=0, delay=0, ttr=60):
        """put-unique that must insert; returns the id."""
        line = self.put_unique_raw(c, key, body, pri, delay, ttr)
        m = re.fullmatch(rb"INSERTED (\d+)\r\n", line)
        if not m:
            raise ProtocolError("put-unique: expected INSERTED <id>, got %r" % line)
        return int(m.group(1))

    def assertExists(self, c, key, jid, **kw):
        self.assertEqual(self.put_unique_raw(c, key, **kw), b"EXISTS %d\r\n" % jid, key)


class UniqueCommands(UniqueBase):
    PER_TEST = True

    def test_exists_in_every_state_then_free_after_delete(self):
        c = self.client()
        w = self.client()
        self.use(c, "u")
        self.assertEqual(w.cmd("watch u")[:9], b"WATCHING ")
        ready = self.put_unique(c, "k-ready")
        delayed = self.put_unique(c, "k-delayed", delay=600)
        reserved = self.put_unique(c, "k-reserved")
        buried = self.put_unique(c, "k-buried")
        for jid in (reserved, buried):
            w.send(b"reserve-job %d\r\n" % jid)
            self.assertEqual(w.read_job("RESERVED")[0], jid)
        self.assertEqual(w.cmd("bury %d 1" % buried), b"BURIED\r\n")
        for key, jid in (("k-ready", ready), ("k-delayed", delayed), ("k-reserved", reserved),
                         ("k-buried", buried)):
            # The body differs, is read and dropped: the next command still parses.
            self.assertExists(c, key, jid, body=b"other body")
        st = dict(sqharness.parse_yaml(self.yaml(c, "stats-tube u")))
        self.assertEqual(st["total-jobs"], "4")  # EXISTS makes no job
        for jid in (ready, delayed, buried):
            self.assertEqual(c.cmd("delete %d" % jid), b"DELETED\r\n")
        self.assertEqual(w.cmd("delete %d" % reserved), b"DELETED\r\n")
        for key in ("k-ready", "k-delayed", "k-reserved", "k-buried"):
            jid = self.put_unique(c, key)
            self.assertExists(c, key, jid)

    def yaml(self, c, line):
        c.send(line.encode() + b"\r\n")
        return c.read_yaml_reply()

    def test_keys_are_per_tube_and_plain_put_is_unaffected(self):
        c = self.client()
        self.use(c, "a")
        ja = self.put_unique(c, "same")
        self.use(c, "b")
        jb = self.put_unique(c, "same")
        self.assertNotEqual(ja, jb)
        self.assertExists(c, "same", jb)
        self.put(c)  # a plain put takes no key
        self.use(c, "a")
        self.assertExists(c, "same", ja)

    def test_key_released_by_flush_tube(self):
        c = self.client()
        self.use(c, "f")
        ids = [self.put_unique(c, "f%d" % i, delay=(600 if i % 2 else 0)) for i in range(10)]
        self.assertExists(c, "f3", ids[3])
        self.assertEqual(c.cmd("flush-tube f all"), b"FLUSHED 10\r\n")
        for i in range(10):
            self.put_unique(c, "f%d" % i)

    def test_move_carries_the_key_if_free_else_the_moved_job_loses_it(self):
        c = self.client()
        self.use(c, "src")
        free = self.put_unique(c, "free", delay=600)
        taken = self.put_unique(c, "taken", delay=600)
        self.use(c, "dst")
        holder = self.put_unique(c, "taken")
        self.assertEqual(c.cmd("move-jobs src dst delayed 10"), b"MOVED 2\r\n")
        self.assertExists(c, "free", free)      # carried into dst
        self.assertExists(c, "taken", holder)   # dst's own job keeps it
        self.use(c, "src")
        self.put_unique(c, "free")               # src no longer holds either key
        self.put_unique(c, "taken")
        # The job that lost its key frees nothing when it goes.
        self.assertEqual(c.cmd("delete %d" % taken), b"DELETED\r\n")
        self.use(c, "dst")
        self.assertExists(c, "taken", holder)

    def test_bad_format_and_too_big(self):
        c = self.client()
        for line in ["put-unique k 0 0 60", "put-unique k 0 0 60 1 x", "put-unique  k 0 0 60 1",
                     "put-unique k 0 0 60 1 ", "put-unique k -1 0 60 1",
                     "put-unique k 0 0 60 4294967296", "put-unique " + "k" * 201 + " 0 0 1 1",
                     "put-unique k\x01 0 0 60 1", "put-unique k\x7f 0 0 60 1",
                     "put-unique k\tk 0 0 60 1"]:
            # BAD_FORMAT reads no body, as for put: the next line is a command.
            self.assertEqual(c.cmd(line), b"BAD_FORMAT\r\n", line)
        self.assertEqual(c.cmd("put-unique"), b"UNKNOWN_COMMAND\r\n")
        # A 200-byte key fits beanstalkd's 224-byte line with short numbers.
        key = "k" * 200
        jid = self.put_unique(c, key, ttr=1)
        self.assertExists(c, key, jid, ttr=1)
        # Over the line limit: BAD_FORMAT by the framing, as for any command.
        self.assertEqual(c.cmd("put-unique %s 1000 1000 1000 1" % key), b"BAD_FORMAT\r\n")
        # Bytes from 0x80 on are allowed.
        self.put_unique(c, "\u00e9t\u00e9".encode())
        # JOB_TOO_BIG drops the body, as put does.
        c.send(b"put-unique big 0 0 60 70000\r\n" + b"z" * 70000 + b"\r\n")
        self.assertEqual(c.read_line(), b"JOB_TOO_BIG\r\n")
        self.put_unique(c, "big")
        # The key counts towards -z (65535 by default).
        c.send(b"put-unique kk 0 0 60 65534\r\n" + b"z" * 65534 + b"\r\n")
        self.assertEqual(c.read_line(), b"JOB_TOO_BIG\r\n")
        self.put_unique(c, "k", body=b"z" * 65534)
        self.assertEqual(c.cmd("list-tube-used"), b"USING default\r\n")

    def test_stats_keep_beanstalkd_fields_only(self):
        c = self.client()
        self.put_unique(c, "s")
        c.send(b"stats\r\n")
        doc = c.read_yaml_reply()
        self.assertNotIn(b"unique", doc)
        self.assertIn(b"cmd-put: 0\n", doc)


class UniqueDurability(sqharness.LogDirServers, UniqueBase):
    """Keys survive kill -9 and a restart with -b, also compaction."""

    def _scenario(self, extra):
        srv = self.start(extra)
        c = self.client(srv)
        self.use(c, "d")
        live = {("d", "k%d" % i): self.put_unique(c, "k%d" % i, delay=(600 if i % 3 == 0 else 0))
                for i in range(12)}
        gone = self.put_unique(c, "gone")
        self.assertEqual(c.cmd("delete %d" % gone), b"DELETED\r\n")
        self.use(c, "src")
        moved = self.put_unique(c, "mv")
        self.assertEqual(c.cmd("move-jobs src d ready 1"), b"MOVED 1\r\n")
        live[("d", "mv")] = moved
        if extra:
            self.use(c, "churn")
            for i in range(300):
                jid = self.put(c, b"c" * 400)
                self.assertEqual(c.cmd("delete %d" % jid), b"DELETED\r\n")
        for _ in range(2):
            srv = self.kill9_restart(srv, extra)
            c = self.client(srv)
            for (tube, key), jid in sorted(live.items()):
                self.use(c, tube)
                self.assertExists(c, key, jid)
            self.use(c, "d")
            jid = self.put_unique(c, "gone")
            self.assertEqual(c.cmd("delete %d" % jid), b"DELETED\r\n")
            self.use(c, "src")
            jid = self.put_unique(c, "mv")
            self.assertEqual(c.cmd("delete %d" % jid), b"DELETED\r\n")

    def test_survive_kill9(self):
        self._scenario(())

    def test_survive_kill9_after_compaction(self):
        self._scenario(["-s", "8192", "-z", "1024"])


sqharness.register(globals(), UniqueCommands, UniqueDurability, only=("synqd",))

if __name__ == "__main__":
    sqharness.main()
