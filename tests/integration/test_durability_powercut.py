"""Durability: synqd starts after a power cut that tore its last, unsynced batch (synqd only).

Model (issue 13, item 5): synqd `-b DIR -f 0` acknowledges a put only after its batch's
fdatasync returned, so a power cut can tear only the batch being written, whose clients got no
reply. A disk may lose that write's first sector while a later sector or 4 KiB page of it
reaches the platter. Each test puts jobs, stops synqd, reproduces such a state in the last
segment (format 3 frames, docs/wal-format.md) and starts synqd again:

- the last frame's first 512 bytes (or first 4 KiB page) lost, the rest of it on disk: an
  unsynced torn tail; synqd starts with every earlier job and keeps working after a restart;
- the same damage to a frame followed by complete frames that record it as synced: corruption
  of synced data; synqd refuses to start and names the segment and the frame's byte offset.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402

import walfile  # noqa: E402


class PowerCut(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="synq-powercut-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.seg = os.path.join(self.dir, walfile.FIRST_SEGMENT)

    def start(self):
        srv = sqharness.Server("synqd", ["-b", self.dir, "-f", "0"]).start()
        self.addCleanup(srv.stop)
        return srv

    def fill(self, sizes):
        """Puts one job per size (one batch each: a lone client), stops; returns {id: body}."""
        srv = self.start()
        jobs = {}
        with sqharness.Client(srv.port) as c:
            for i, size in enumerate(sizes):
                body = bytes((i * 7 + k) % 251 for k in range(size))
                c.send(b"put 0 0 60 %d\r\n%s\r\n" % (len(body), body))
                m = re.fullmatch(rb"INSERTED (\d+)\r\n", c.read_line())
                self.assertIsNotNone(m)
                jobs[int(m.group(1))] = body
        srv.stop()
        self.assertEqual(srv.exit_status, 0, srv.log_text())
        self.assertEqual(len(walfile.frames(self.seg)), len(sizes), "one frame per job")
        return jobs

    def lose(self, off, length):
        """The write's bytes [off, off + length) never reached the disk (preallocated zeros)."""
        with open(self.seg, "r+b") as f:
            f.seek(off)
            f.write(bytes(length))

    def present(self, srv, max_id):
        found = {}
        with sqharness.Client(srv.port) as c:
            for job_id in range(1, max_id + 1):
                c.send(b"peek %d\r\n" % job_id)
                line = c.read_line()
                if line == b"NOT_FOUND\r\n":
                    continue
                m = re.fullmatch(rb"FOUND (\d+) (\d+)\r\n", line)
                self.assertIsNotNone(m, line)
                found[job_id] = c.read_exact(int(m.group(2)) + 2)[:-2]
        return found

    def _torn_last_batch(self, unit):
        jobs = self.fill([100, 300, 9000])
        off, length = walfile.frames(self.seg)[-1]
        self.assertGreater(length, 2 * unit, "the last batch spans several sectors")
        # The first unit of the write (counted from its first byte's sector) is lost.
        self.lose(off, unit - off % unit)
        srv = self.start()
        last = max(jobs)
        want = {i: b for i, b in jobs.items() if i != last}
        self.assertEqual(self.present(srv, last + 5), want, srv.log_text())
        with sqharness.Client(srv.port) as c:
            c.send(b"put 0 0 60 5\r\nafter\r\n")
            m = re.fullmatch(rb"INSERTED (\d+)\r\n", c.read_line())
            self.assertIsNotNone(m)
            want[int(m.group(1))] = b"after"
        srv.stop()
        self.assertEqual(srv.exit_status, 0, srv.log_text())
        srv = self.start()
        self.assertEqual(self.present(srv, last + 5), want, srv.log_text())

    def test_last_batch_without_its_first_sector_is_cut_off(self):
        self._torn_last_batch(512)

    def test_last_batch_without_its_first_page_is_cut_off(self):
        self._torn_last_batch(4096)

    def test_synced_batch_without_its_first_sector_refuses_to_start(self):
        self.fill([100, 3000, 100, 100])
        off, _ = walfile.frames(self.seg)[1]  # frames 3 and 4 were written after it was synced
        self.lose(off, 512 - off % 512)
        argv = sqharness.server_argv("synqd", sqharness._free_port(),
                                     ["-b", self.dir, "-f", "0"])
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("synqd started on a log whose synced data was damaged")
        out = (p.stdout + p.stderr).decode("utf-8", "replace")
        self.assertNotEqual(p.returncode, 0, out)
        self.assertRegex(out, r"segment 1\b.*\b%d\b" % off, out)


if __name__ == "__main__":
    sqharness.main()
