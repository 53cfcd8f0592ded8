"""put: INSERTED, EXPECTED_CRLF, JOB_TOO_BIG (-z), DRAINING (SIGUSR1),
argument parsing, and the rule that a discarded body is never executed.

Every expected byte string here was taken from Debian's beanstalkd 1.12."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402


class PutBasics:
    PER_TEST = True  # ids must start at 1

    def test_inserted_ids_count_from_one(self):
        c = self.client()
        self.assertReply(c, b"put 0 0 10 3\r\nabc", b"INSERTED 1\r\n")
        self.assertReply(c, b"put 0 0 10 3\r\nxyz", b"INSERTED 2\r\n")
        c.send(b"peek 1\r\n")
        c.expect(b"FOUND 1 3\r\nabc\r\n")

    def test_empty_body(self):
        c = self.client()
        self.assertReply(c, b"put 0 0 10 0\r\n\r\n", b"INSERTED 1\r\n")
        c.send(b"peek 1\r\n")
        c.expect(b"FOUND 1 0\r\n\r\n")

    def test_binary_body_with_crlf_and_nul(self):
        c = self.client()
        body = b"a\r\nb\x00c\r\n\xff"
        c.send(b"put 0 0 10 %d\r\n%s\r\n" % (len(body), body))
        c.expect(b"INSERTED 1\r\n")
        c.send(b"reserve-with-timeout 0\r\n")
        c.expect(b"RESERVED 1 %d\r\n%s\r\n" % (len(body), body))

    def test_max_values_accepted(self):
        c = self.client()
        self.assertReply(c, b"put 4294967295 0 4294967295 1\r\na", b"INSERTED 1\r\n")
        c.send(b"stats-job 1\r\n")
        job = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        self.assertEqual(job["pri"], "4294967295")
        self.assertEqual(job["ttr"], "4294967295")

    def test_ttr_zero_becomes_one(self):
        c = self.client()
        self.assertReply(c, b"put 0 0 0 1\r\na", b"INSERTED 1\r\n")
        c.send(b"stats-job 1\r\n")
        job = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        self.assertEqual(job["ttr"], "1")

    def test_extra_spaces_between_arguments_accepted(self):
        c = self.client()
        self.assertReply(c, b"put  1  0  10  3\r\nabc", b"INSERTED 1\r\n")

    def test_body_split_across_writes(self):
        c = self.client()
        c.send(b"put 0 0 10 5\r\nab")
        time.sleep(0.1)
        c.send(b"cd")
        time.sleep(0.1)
        c.send(b"e\r")
        time.sleep(0.1)
        c.expect_silence(0.1)
        c.send(b"\n")
        c.expect(b"INSERTED 1\r\n")

    def test_put_goes_to_used_tube(self):
        c = self.client()
        self.assertReply(c, b"use t1", b"USING t1\r\n")
        self.assertReply(c, b"put 0 0 10 1\r\na", b"INSERTED 1\r\n")
        c.send(b"stats-job 1\r\n")
        job = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        self.assertEqual(job["tube"], "t1")


class PutBadFormat:
    def test_bad_numbers_then_body_is_read_as_command(self):
        # After BAD_FORMAT the server does not know the body length, so the
        # body line is parsed as the next command.
        c = self.client()
        for line in (b"put -1 0 10 3", b"put +1 0 10 3", b"put 4294967296 0 10 3",
                     b"put 1 0 10 3 ", b"put 1 0 10 3x", b"put 1 x 10 3",
                     b"put 1 0 4294967296 3", b"put 1 0 10 4294967296",
                     b"put 1 0 10 0x3", b"put 1 0 10 -3"):
            c.send(line + b"\r\nabc\r\n")
            c.expect(b"BAD_FORMAT\r\nUNKNOWN_COMMAND\r\n")

    def test_missing_arguments(self):
        c = self.client()
        self.assertReply(c, b"put 1 0 10", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"put 1", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"put ", b"BAD_FORMAT\r\n")
        # "put" without the space is not even the put command
        self.assertReply(c, b"put", b"UNKNOWN_COMMAND\r\n")

    def test_commands_are_case_sensitive(self):
        c = self.client()
        c.send(b"PUT 0 0 1 1\r\na\r\n")
        c.expect(b"UNKNOWN_COMMAND\r\nUNKNOWN_COMMAND\r\n")


class PutExpectedCrlf:
    PER_TEST = True

    def test_body_longer_than_declared(self):
        c = self.client()
        # 3 bytes declared; the server reads 5 ("abcd\r") and finds no CRLF.
        c.send(b"put 0 0 10 3\r\nabcd\r\n")
        c.expect(b"EXPECTED_CRLF\r\n")
        # the leftover "\n" becomes the start of the next command line
        c.send(b"stats-job 1\r\n")
        self.assertEqual(c.read_line(), b"UNKNOWN_COMMAND\r\n")
        self.assertReply(c, b"peek 1", b"NOT_FOUND\r\n")

    def test_body_not_followed_by_crlf(self):
        c = self.client()
        c.send(b"put 0 0 10 3\r\nabcXY")
        c.expect(b"EXPECTED_CRLF\r\n")
        self.assertReply(c, b"peek 1", b"NOT_FOUND\r\n")
        # surprising but true: the rejected job consumed id 1
        self.assertReply(c, b"put 0 0 10 1\r\na", b"INSERTED 2\r\n")
        c.send(b"stats\r\n")
        stats = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        self.assertEqual(stats["total-jobs"], "1")  # ...yet is not counted
        self.assertEqual(stats["current-jobs-ready"], "1")


class PutJobTooBig:
    SERVER_ARGS = ("-z", "10")
    PER_TEST = True

    def test_limit_is_inclusive(self):
        c = self.client()
        self.assertReply(c, b"put 0 0 10 10\r\n0123456789", b"INSERTED 1\r\n")
        c.send(b"put 0 0 10 11\r\n0123456789a\r\n")
        c.expect(b"JOB_TOO_BIG\r\n")
        self.assertReply(c, b"put 0 0 10 1\r\na", b"INSERTED 2\r\n")

    def test_discarded_body_is_never_executed(self):
        c = self.client()
        self.assertReply(c, b"put 0 0 10 1\r\na", b"INSERTED 1\r\n")
        body = b"delete 1\r\nquit\r\n"
        c.send(b"put 0 0 10 %d\r\n%s\r\n" % (len(body), body))
        c.expect(b"JOB_TOO_BIG\r\n")
        c.send(b"peek 1\r\n")
        c.expect(b"FOUND 1 1\r\na\r\n")

    def test_reply_only_after_whole_body_discarded(self):
        c = self.client()
        c.send(b"put 0 0 10 20\r\n0123456789")
        c.expect_silence(0.3)
        c.send(b"0123456789")
        c.expect_silence(0.2)
        # the two bytes after the body are swallowed unchecked
        c.send(b"XY")
        c.expect(b"JOB_TOO_BIG\r\n")
        self.assertReply(c, b"list-tube-used", b"USING default\r\n")

    def test_max_job_size_in_stats(self):
        c = self.client()
        c.send(b"stats\r\n")
        stats = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        self.assertEqual(stats["max-job-size"], "10")
        self.assertEqual(stats["cmd-put"], "0")

    def test_too_big_counts_as_put_command(self):
        c = self.client()
        c.send(b"put 0 0 10 11\r\n0123456789a\r\n")
        c.expect(b"JOB_TOO_BIG\r\n")
        c.send(b"stats\r\n")
        stats = dict(sqharness.parse_yaml(c.read_yaml_reply()))
        self.assertEqual(stats["cmd-put"], "1")
        self.assertEqual(stats["total-jobs"], "0")


class PutDraining:
    PER_TEST = True

    def test_sigusr1_enters_drain_mode(self):
        c = self.client()
        self.assertReply(c, b"put 0 0 10 1\r\na", b"INSERTED 1\r\n")
        self.server.signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while True:
            c.send(b"stats\r\n")
            stats = dict(sqharness.parse_yaml(c.read_yaml_reply()))
            if stats["draining"] == "true" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(stats["draining"], "true")
        # the body is read and discarded before the reply
        c.send(b"put 0 0 10 8\r\ndelete 1\r\n")
        c.expect(b"DRAINING\r\n")
        # everything except put still works
        c.send(b"reserve-with-timeout 0\r\n")
        c.expect(b"RESERVED 1 1\r\na\r\n")
        self.assertReply(c, b"delete 1", b"DELETED\r\n")


sqharness.register(globals(), PutBasics, PutBadFormat, PutExpectedCrlf, PutJobTooBig,
                   PutDraining)

if __name__ == "__main__":
    sqharness.main()
