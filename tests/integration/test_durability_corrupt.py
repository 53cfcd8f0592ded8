"""Durability: a damaged log is refused, a torn tail is cut off (synqd only).

Model: each test puts a few jobs into synqd `-b DIR -f 0`, stops it, edits the
segment file the way a failing disk or a crash would, and starts synqd again
on it.  The layout used to find the bytes to damage is the one in
docs/wal-format.md (format 3): a 32-byte segment header, then frames back to
back, one per group commit, each a 24-byte header (CRC-32C (4) + length of its
records (4) + seq (8) + synced (8)) and its records, ending at a zero header.
synqd -f 0 acknowledges each put of a lone client in its own group commit, so
each job is one frame here.

- A flipped byte in a record with valid records after it is corruption:
  synqd must refuse to start (non-zero exit) and name the segment and the
  byte offset of the bad record, rather than lose or invent jobs.
- A partial last record is what a crash in the middle of a write leaves:
  synqd must start, recover exactly the jobs before it, and accept new puts
  (which must survive a further restart: the garbage was overwritten).
"""

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402

import walfile  # noqa: E402
from walfile import FRAME_HEADER_BYTES, RECORD_HEADER_BYTES, crc32c, frames  # noqa: E402


class CorruptLog(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="synq-corrupt-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.seg = os.path.join(self.dir, walfile.FIRST_SEGMENT)

    def start(self):
        srv = sqharness.Server("synqd", ["-b", self.dir, "-f", "0"]).start()
        self.addCleanup(srv.stop)
        return srv

    def fill(self, n=5):
        """Puts n jobs, stops cleanly; returns {id: body}."""
        srv = self.start()
        jobs = {}
        with sqharness.Client(srv.port) as c:
            for i in range(n):
                body = b"job %d " % i + bytes(range(256))
                c.send(b"put %d 0 60 %d\r\n%s\r\n" % (i, len(body), body))
                m = re.fullmatch(rb"INSERTED (\d+)\r\n", c.read_line())
                self.assertIsNotNone(m)
                jobs[int(m.group(1))] = body
        srv.stop()
        self.assertEqual(srv.exit_status, 0, srv.log_text())
        self.assertEqual(len(frames(self.seg)), n, "one PUT record per job")
        return jobs

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
            c.send(b"stats\r\n")
            st = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        self.assertEqual(int(st["current-jobs-ready"]), len(found), "jobs beyond the id range")
        return found

    def run_synqd(self):
        """Starts synqd on the directory expecting it to exit; returns (status, output)."""
        argv = sqharness.server_argv("synqd", sqharness._free_port(), ["-b", self.dir, "-f", "0"])
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("synqd started on a corrupt log (still running after 10 s)")
        return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")

    def flip(self, offset):
        with open(self.seg, "r+b") as f:
            f.seek(offset)
            b = f.read(1)
            f.seek(offset)
            f.write(bytes([b[0] ^ 0x5A]))

    def test_flipped_byte_mid_log_refuses_to_start(self):
        self.fill()
        off, length = frames(self.seg)[2]  # records 3 and 4 follow it
        self.flip(off + length // 2)
        status, out = self.run_synqd()
        self.assertNotEqual(status, 0, out)
        self.assertRegex(out, r"segment 1\b", out)
        self.assertRegex(out, r"\b%d\b" % off, "the message names the bad record's offset")
        # Refusing must not have changed the file: a second try says the same.
        status2, out2 = self.run_synqd()
        self.assertEqual((status2, out2), (status, out))

    def set_id(self, off, job_id):
        """Gives the record at off the id job_id, with a valid checksum: a
        crafted log, or corruption that a CRC cannot see."""
        with open(self.seg, "r+b") as f:
            f.seek(off)
            head = f.read(RECORD_HEADER_BYTES)
            (length,) = struct.unpack_from("<I", head, 4)
            payload = bytearray(f.read(length))
            struct.pack_into("<Q", payload, 0, job_id)
            f.seek(off)
            f.write(struct.pack("<I", crc32c(head[4:] + payload)) + head[4:] + payload)

    def test_an_id_that_would_wrap_the_id_counter_refuses_to_start(self):
        # Before, recovery took id 2^64-1, the next id wrapped to 0 and the
        # next put aborted the server. The last record, too: a valid record is
        # never a torn tail to cut off.
        self.fill()
        # Each frame holds one record here, right after the frame's header.
        third, last = (frame + FRAME_HEADER_BYTES
                       for frame, _ in (frames(self.seg)[2], frames(self.seg)[-1]))
        for off in (third, last):
            self.set_id(off, 2 ** 64 - 1)
            status, out = self.run_synqd()
            self.assertEqual(status, 1, out)
            self.assertRegex(out, r"segment 1 at byte %d has job id %d\b" % (off, 2 ** 64 - 1),
                             out)
            self.set_id(off, 3 if off == third else 5)
        # Restored, the log serves again.
        srv = self.start()
        self.assertEqual(len(self.present(srv, 5)), 5)

    def test_flipped_crc_of_first_record_refuses_to_start(self):
        self.fill()
        off, _ = frames(self.seg)[0]
        self.flip(off)
        status, out = self.run_synqd()
        self.assertNotEqual(status, 0, out)
        self.assertRegex(out, r"segment 1\b.*\b%d\b" % off, out)

    def _torn_tail(self, cut):
        jobs = self.fill()
        off, length = frames(self.seg)[-1]
        cut(off, length)
        srv = self.start()
        self.assertIn("partial record", srv.log_text())
        last = max(jobs)
        want = {i: b for i, b in jobs.items() if i != last}
        self.assertEqual(self.present(srv, last + 5), want)
        with sqharness.Client(srv.port) as c:
            c.send(b"put 0 0 60 5\r\nafter\r\n")
            m = re.fullmatch(rb"INSERTED (\d+)\r\n", c.read_line())
            self.assertIsNotNone(m)
            want[int(m.group(1))] = b"after"
        srv.stop()
        self.assertEqual(srv.exit_status, 0, srv.log_text())
        srv = self.start()
        self.assertEqual(self.present(srv, last + 5), want)

    def test_zeroed_half_of_last_record_is_cut_off(self):
        def zero_half(off, length):
            with open(self.seg, "r+b") as f:
                f.seek(off + length // 2)
                f.write(bytes(length - length // 2))
        self._torn_tail(zero_half)

    def test_truncated_file_mid_last_record_is_cut_off(self):
        self._torn_tail(lambda off, length: os.truncate(self.seg, off + length // 2))


if __name__ == "__main__":
    sqharness.main()
