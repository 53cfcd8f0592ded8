"""One long scripted session, run against beanstalkd and against synqd; the
two transcripts must be identical after masking only the values that
legitimately differ (pid, version, hostname, server id, os, platform,
uptime, rusage, job age and time-left, and the byte counts of the YAML
replies that contain them).  Both servers start fresh, so job ids match.

A mismatch prints a unified diff of the two transcripts.  With only
beanstalkd in SQ_TARGETS the session is run twice against beanstalkd, which
checks that the script and the masking are deterministic."""

import difflib
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402

# (connection, bytes to send).  A reply is collected until the connection
# has been quiet for QUIET_S; ("sleep", seconds) waits.
SCRIPT = [
    ("a", b"list-tube-used\r\n"),
    ("a", b"list-tubes\r\n"),
    ("a", b"stats\r\n"),
    ("a", b"put 10 0 60 5\r\nfirst\r\n"),
    ("a", b"put 5 0 60 6\r\nsecond\r\n"),
    ("a", b"put 5 0 60 5\r\nthird\r\n"),
    ("a", b"peek-ready\r\n"),
    ("a", b"peek-delayed\r\n"),
    ("a", b"peek-buried\r\n"),
    ("a", b"stats-tube default\r\n"),
    ("b", b"reserve\r\n"),
    ("b", b"stats-job 2\r\n"),
    ("b", b"release 2 20 0\r\n"),
    ("b", b"reserve-with-timeout 0\r\n"),
    ("b", b"bury 3 1\r\n"),
    ("b", b"peek-buried\r\n"),
    ("b", b"kick 5\r\n"),
    ("b", b"reserve\r\n"),
    ("b", b"touch 3\r\n"),
    ("b", b"delete 3\r\n"),
    ("b", b"delete 3\r\n"),
    ("a", b"put 0 1 60 7\r\ndelayed\r\n"),
    ("a", b"peek-delayed\r\n"),
    ("b", b"reserve-with-timeout 0\r\n"),
    ("sleep", 1.3),
    ("b", b"reserve\r\n"),          # the delayed job, pri 0, is ready now
    ("b", b"delete 4\r\n"),
    ("a", b"use work\r\n"),
    ("b", b"watch work\r\n"),
    ("b", b"ignore default\r\n"),
    ("b", b"ignore work\r\n"),
    ("b", b"list-tubes-watched\r\n"),
    ("b", b"reserve-with-timeout 5\r\n"),   # blocks...
    ("a", b"put 1 0 60 4\r\nwake\r\n"),     # ...woken here (b's reply follows)
    ("b", b"delete 5\r\n"),
    ("a", b"pause-tube work 0\r\n"),
    ("a", b"pause-tube nope 0\r\n"),
    ("a", b"stats-tube work\r\n"),
    ("a", b"kick-job 1\r\n"),
    ("a", b"kick-job 999\r\n"),
    ("a", b"put 1 0 60 3\r\nabcde\r\n"),
    ("a", b"put -1 0 60 3\r\nabc\r\n"),
    ("a", b"use -bad\r\n"),
    ("a", b"frobnicate\r\n"),
    ("a", b"delete " + b"9" * 300 + b"\r\n"),
    ("a", b"stats-job 1\r\n"),
    ("a", b"stats\r\n"),
    ("b", b"quit\r\n"),
    ("a", b"list-tubes\r\n"),
]

QUIET_S = 0.1

MASKED_FIELDS = re.compile(
    rb"^(pid|version|hostname|os|platform|uptime|rusage-utime|rusage-stime|age|time-left"
    rb"|id(?=: [0-9a-f]{16}$)): .*$", re.M)


def mask(reply):
    """Mask the legitimately different values of one reply."""
    def yaml(m):
        body = m.group(2)
        masked = MASKED_FIELDS.sub(rb"\1: *", body)
        count = m.group(1) if masked == body else b"*"
        return b"OK " + count + b"\r\n" + masked + b"\r\n"
    return re.sub(rb"OK (\d+)\r\n(---\n.*?\n)\r\n", yaml, reply, flags=re.S)


def collect(client):
    """Read until the connection has been quiet for QUIET_S."""
    out = b""
    try:
        while True:
            client._fill("more bytes", QUIET_S)
            out += client.buf
            client.buf = b""
    except sqharness.ProtocolError as e:
        if "closed" in str(e):
            out += client.buf + b"<closed>"
            client.buf = b""
    return out


def transcript(kind):
    """Run SCRIPT against a fresh server of `kind`; returns text lines."""
    lines = []
    with sqharness.running(kind) as srv:
        conns = {}
        try:
            for who, what in SCRIPT:
                if who == "sleep":
                    time.sleep(what)
                    lines.append("-- sleep %.1fs" % what)
                    continue
                if who not in conns:
                    conns[who] = sqharness.Client(srv.port)
                conns[who].send(what)
                lines.append("%s> %r" % (who, what))
                for other, c in sorted(conns.items()):
                    got = collect(c) if c.sock else b""
                    if got:
                        lines.append("%s< %r" % (other, mask(got)))
                    if got.endswith(b"<closed>"):
                        c.close()
        finally:
            for c in conns.values():
                c.close()
        if not srv.alive():
            lines.append("!! server exited with status %r" % srv.proc.returncode)
    return lines


class CompatSession(unittest.TestCase):
    def test_transcripts_match(self):
        kinds = sqharness.targets()
        if not os.path.exists(sqharness.BEANSTALKD):
            self.fail("the reference %s is not installed" % sqharness.BEANSTALKD)
        other = "synqd" if "synqd" in kinds else "beanstalkd"
        want = transcript("beanstalkd")
        got = transcript(other)
        if got != want:
            diff = "\n".join(difflib.unified_diff(want, got, "beanstalkd", other, lineterm=""))
            self.fail("transcripts differ:\n" + diff)
        # the script really exercised the server: spot-check the reference
        text = "\n".join(want)
        for needle in ("INSERTED 1", "RESERVED 2 6", "BURIED", "KICKED 1", "TOUCHED", "EXPECTED_CRLF", "BAD_FORMAT",
                       "UNKNOWN_COMMAND", "PAUSED", "NOT_IGNORED", "RESERVED 5 4", "<closed>"):
            self.assertIn(needle, text)


if __name__ == "__main__":
    sqharness.main()
