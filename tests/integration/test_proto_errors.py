"""Bad input and framing: UNKNOWN_COMMAND, BAD_FORMAT, over-long lines,
NUL bytes, stray CRs, pipelining, 1 byte per write, quit.

beanstalkd's command buffer is 224 bytes including the CRLF; a line that
does not fit is discarded up to the next CRLF and answered BAD_FORMAT.

OUT_OF_MEMORY (and the "BURIED <id>" reply to put, "BURIED" to release,
INTERNAL_ERROR) need the server to fail an allocation, which cannot be
provoked from outside: not tested here."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402

LINE_BUF_BYTES = 224


def delete_line(length):
    """A valid "delete 000...01" line of exactly `length` bytes (no CRLF)."""
    return b"delete " + b"0" * (length - 8) + b"1"


class Framing:
    def test_unknown_commands(self):
        c = self.client()
        for line in (b"foo", b"", b" put 0 0 1 1", b"Reserve", b"peek-all", b"kick-jobs 1"):
            self.assertReply(c, line, b"UNKNOWN_COMMAND\r\n")

    def test_prefix_matching_quirks(self):
        c = self.client()
        self.assertReply(c, b"statsfoo", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"reserve-withtimeout", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"list-tubesx", b"BAD_FORMAT\r\n")

    def test_longest_line_that_fits(self):
        c = self.client()
        c.send(delete_line(LINE_BUF_BYTES - 2) + b"\r\nlist-tube-used\r\n")
        c.expect(b"NOT_FOUND\r\nUSING default\r\n")

    def test_line_one_byte_too_long_swallows_next_line(self):
        # 223 bytes + CR fill the buffer; the LF that follows is not a line
        # end on its own, so discarding goes on through the next CRLF.
        c = self.client()
        c.send(delete_line(LINE_BUF_BYTES - 1) + b"\r\nlist-tube-used\r\n")
        c.expect(b"BAD_FORMAT\r\n")
        c.expect_silence(0.2)
        self.assertReply(c, b"list-tube-used", b"USING default\r\n")

    def test_over_long_lines(self):
        c = self.client()
        for length in (LINE_BUF_BYTES, LINE_BUF_BYTES + 1, 1000, 100000):
            c.send(delete_line(length) + b"\r\nlist-tube-used\r\n")
            c.expect(b"BAD_FORMAT\r\nUSING default\r\n")

    def test_over_long_line_in_pieces(self):
        c = self.client()
        c.send(b"x" * 300)
        c.expect_silence(0.2)
        c.send(b"y" * 300)
        c.expect_silence(0.2)
        c.send(b"\r\nlist-tube-used\r\n")
        c.expect(b"BAD_FORMAT\r\nUSING default\r\n")

    def test_nul_in_line(self):
        c = self.client()
        for line in (b"use a\x00b", b"list-tube-used\x00", b"\x00", b"stats-job 1\x002"):
            self.assertReply(c, line, b"BAD_FORMAT\r\n")
        c.send(b"put 0 0 10 1\x00\r\na\r\n")
        c.expect(b"BAD_FORMAT\r\nUNKNOWN_COMMAND\r\n")

    def test_stray_cr_stalls_until_buffer_full(self):
        # Only the first CR in the buffer is considered; if no LF follows
        # it, no line is found until 224 bytes arrive and the buffer is
        # discarded.
        c = self.client()
        c.send(b"list-tube-used\r\r\n")
        c.expect_silence(0.3)
        c.send(b"list-tube-used\r\n")
        c.expect_silence(0.2)
        c.send(b"x" * LINE_BUF_BYTES + b"\r\nlist-tube-used\r\n")
        c.expect(b"BAD_FORMAT\r\nUSING default\r\n")

    def test_lf_alone_is_not_a_line_end(self):
        c = self.client()
        c.send(b"list-tube-used\n")
        c.expect_silence(0.3)
        c.send(b"\r\n")
        c.expect(b"BAD_FORMAT\r\n")

    def test_quit_closes(self):
        c = self.client()
        c.send(b"quit\r\nlist-tube-used\r\n")
        c.expect_closed()

    def test_quit_is_prefix_matched(self):
        c = self.client()
        c.send(b"quitnow\r\n")
        c.expect_closed()


SESSION = (b"put 5 0 10 5\r\nhello\r\n"
           b"put 1 0 10 3\r\nabc\r\n"
           b"use t2\r\n"
           b"put 0 0 10 0\r\n\r\n"
           b"watch t2\r\n"
           b"reserve\r\n"
           b"bury 3 9\r\n"
           b"reserve-with-timeout 0\r\n"
           b"release 2 3 0\r\n"
           b"peek-buried\r\n"
           b"kick 1\r\n"
           b"delete 3\r\n"
           b"bogus\r\n"
           b"list-tubes-watched\r\n")

SESSION_REPLIES = (b"INSERTED 1\r\nINSERTED 2\r\nUSING t2\r\nINSERTED 3\r\nWATCHING 2\r\n"
                   b"RESERVED 3 0\r\n\r\nBURIED\r\nRESERVED 2 3\r\nabc\r\nRELEASED\r\n"
                   b"FOUND 3 0\r\n\r\nKICKED 1\r\nDELETED\r\nUNKNOWN_COMMAND\r\n"
                   b"OK 19\r\n---\n- default\n- t2\n\r\n")


class Pipelining:
    PER_TEST = True

    def test_session_in_one_packet(self):
        c = self.client()
        c.send(SESSION)
        c.expect(SESSION_REPLIES)
        c.expect_silence(0.1)

    def test_session_one_byte_per_write(self):
        c = self.client()
        for i in range(len(SESSION)):
            c.send(SESSION[i:i + 1])
            if i % 16 == 0:
                time.sleep(0.002)  # let some writes arrive as separate reads
        c.expect(SESSION_REPLIES)
        c.expect_silence(0.1)


sqharness.register(globals(), Framing, Pipelining)

if __name__ == "__main__":
    sqharness.main()
