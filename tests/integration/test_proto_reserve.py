"""reserve, reserve-with-timeout, reserve-job, delete, release, touch:
RESERVED, TIMED_OUT, DEADLINE_SOON, DELETED, RELEASED, TOUCHED, NOT_FOUND,
priority order, FIFO among equals, delays, TTR expiry, blocking reserves
woken by another connection, and disconnects (reserved jobs released at
once, waiters removed).  Timings use 1-second delays with generous bounds:
ctest runs files in parallel on two cores."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqharness  # noqa: E402


def stats_of(c, line):
    c.send(line + b"\r\n")
    return dict(sqharness.parse_yaml(c.read_yaml_reply()))


class ReserveOrder:
    PER_TEST = True

    def test_priority_order_then_fifo(self):
        c = self.client()
        self.put(c, b"p5-a", pri=5)     # 1
        self.put(c, b"p1-a", pri=1)     # 2
        self.put(c, b"p5-b", pri=5)     # 3
        self.put(c, b"p0", pri=0)       # 4
        self.put(c, b"p1-b", pri=1)     # 5
        self.put(c, b"max", pri=4294967295)  # 6
        order = []
        for _ in range(6):
            c.send(b"reserve\r\n")
            order.append(c.read_job("RESERVED"))
        self.assertEqual(order, [(4, b"p0"), (2, b"p1-a"), (5, b"p1-b"), (1, b"p5-a"),
                                 (3, b"p5-b"), (6, b"max")])

    def test_reserve_with_timeout_zero(self):
        c = self.client()
        self.assertReply(c, b"reserve-with-timeout 0", b"TIMED_OUT\r\n")
        self.put(c, b"hello")
        c.send(b"reserve-with-timeout 0\r\n")
        c.expect(b"RESERVED 1 5\r\nhello\r\n")
        self.assertReply(c, b"reserve-with-timeout 0", b"TIMED_OUT\r\n")

    def test_reserve_with_timeout_waits(self):
        c = self.client()
        t0 = time.monotonic()
        self.assertEqual(c.cmd(b"reserve-with-timeout 1", timeout=5), b"TIMED_OUT\r\n")
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)

    def test_delete_reserved_and_ready(self):
        c = self.client()
        self.put(c, b"a")
        self.put(c, b"b")
        c.send(b"reserve\r\n")
        c.expect(b"RESERVED 1 1\r\na\r\n")
        self.assertReply(c, b"delete 1", b"DELETED\r\n")
        self.assertReply(c, b"delete 1", b"NOT_FOUND\r\n")
        self.assertReply(c, b"delete 2", b"DELETED\r\n")  # ready jobs may be deleted
        self.assertReply(c, b"delete 18446744073709551615", b"NOT_FOUND\r\n")

    def test_other_connection_cannot_delete_or_release_reserved(self):
        a, b = self.client(), self.client()
        self.put(a, b"a")
        a.send(b"reserve\r\n")
        a.expect(b"RESERVED 1 1\r\na\r\n")
        self.assertReply(b, b"delete 1", b"NOT_FOUND\r\n")
        self.assertReply(b, b"release 1 0 0", b"NOT_FOUND\r\n")
        self.assertReply(b, b"touch 1", b"NOT_FOUND\r\n")
        self.assertReply(b, b"bury 1 0", b"NOT_FOUND\r\n")
        self.assertReply(a, b"release 1 0 0", b"RELEASED\r\n")
        self.assertReply(a, b"release 1 0 0", b"NOT_FOUND\r\n")  # not reserved any more

    def test_release_changes_priority(self):
        c = self.client()
        self.put(c, b"a", pri=10)
        self.put(c, b"b", pri=20)
        c.send(b"reserve\r\n")
        c.expect(b"RESERVED 1 1\r\na\r\n")
        self.assertReply(c, b"release 1 30 0", b"RELEASED\r\n")
        c.send(b"reserve\r\n")
        c.expect(b"RESERVED 2 1\r\nb\r\n")
        job = stats_of(c, b"stats-job 1")
        self.assertEqual((job["state"], job["pri"], job["releases"], job["reserves"]),
                         ("ready", "30", "1", "1"))

    def test_reserve_job(self):
        c = self.client()
        self.put(c, b"a")
        self.put(c, b"b", delay=100)
        self.put(c, b"c")
        c.send(b"reserve\r\n")
        c.expect(b"RESERVED 1 1\r\na\r\n")
        c.send(b"bury 1 0\r\n")
        c.expect(b"BURIED\r\n")
        # buried, delayed and ready jobs can all be reserved by id
        for jid, body in ((1, b"a"), (2, b"b"), (3, b"c")):
            c.send(b"reserve-job %d\r\n" % jid)
            c.expect(b"RESERVED %d 1\r\n%s\r\n" % (jid, body))
        self.assertReply(c, b"reserve-job 1", b"NOT_FOUND\r\n")  # already reserved
        self.assertReply(c, b"reserve-job 99", b"NOT_FOUND\r\n")
        self.assertReply(c, b"reserve-job x", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"reserve-job 1 ", b"BAD_FORMAT\r\n")


class ReserveTiming:
    PER_TEST = True

    def test_delayed_job_becomes_ready_on_time(self):
        c = self.client()
        self.put(c, b"later", delay=1)
        job = stats_of(c, b"stats-job 1")
        self.assertEqual((job["state"], job["delay"]), ("delayed", "1"))
        self.assertReply(c, b"reserve-with-timeout 0", b"TIMED_OUT\r\n")
        t0 = time.monotonic()
        c.send(b"reserve-with-timeout 4\r\n")
        c.expect(b"RESERVED 1 5\r\nlater\r\n")
        self.assertLess(time.monotonic() - t0, 2.5)

    def test_delayed_jobs_ready_in_priority_order(self):
        c = self.client()
        self.put(c, b"low", pri=9, delay=1)
        self.put(c, b"high", pri=1, delay=1)
        time.sleep(1.3)
        c.send(b"reserve-with-timeout 0\r\n")
        c.expect(b"RESERVED 2 4\r\nhigh\r\n")

    def test_ttr_expiry_returns_job(self):
        # beanstalkd 1.12 sometimes fails to expire the job while its owner
        # is idle when several servers are busy (see NOTES.md).
        a = self.client()
        self.put(a, b"work", ttr=2)
        a.send(b"reserve\r\n")
        a.expect(b"RESERVED 1 4\r\nwork\r\n")
        b = self.client()
        t0 = time.monotonic()
        b.send(b"reserve-with-timeout 5\r\n")
        line = b.read_line(timeout=6)
        if line == b"TIMED_OUT\r\n" and self.TARGET == "beanstalkd":
            # The reference's own bug (NOTES.md); synqd gets no such pass.
            self.skipTest("beanstalkd 1.12 did not expire the job in time (known flake)")
        self.assertEqual(line, b"RESERVED 1 4\r\n")
        b.expect(b"work\r\n")
        self.assertGreater(time.monotonic() - t0, 1.5)
        self.assertLess(time.monotonic() - t0, 3.5)
        # the first worker lost it
        self.assertReply(a, b"delete 1", b"NOT_FOUND\r\n")
        job = stats_of(b, b"stats-job 1")
        self.assertEqual((job["reserves"], job["timeouts"]), ("2", "1"))
        self.assertEqual(stats_of(b, b"stats")["job-timeouts"], "1")

    def test_deadline_soon_with_ttr_one(self):
        # ttr 1 means the job is inside the 1-second safety margin at once.
        # DEADLINE_SOON is only sent when no job is ready for the client:
        # with a second job ready, reserve hands it out instead.
        c = self.client()
        self.put(c, b"a", ttr=1)
        self.put(c, b"b", ttr=1)
        c.send(b"reserve\r\n")
        c.expect(b"RESERVED 1 1\r\na\r\n")
        c.send(b"reserve\r\n")
        c.expect(b"RESERVED 2 1\r\nb\r\n")
        self.assertReply(c, b"reserve", b"DEADLINE_SOON\r\n")
        self.assertReply(c, b"reserve-with-timeout 0", b"DEADLINE_SOON\r\n")

    def test_deadline_soon_interrupts_waiting_reserve(self):
        c = self.client()
        self.put(c, b"a", ttr=2)
        c.send(b"reserve\r\n")
        c.expect(b"RESERVED 1 1\r\na\r\n")
        t0 = time.monotonic()
        self.assertEqual(c.cmd(b"reserve-with-timeout 10"), b"DEADLINE_SOON\r\n")
        self.assertLess(time.monotonic() - t0, 2.0)
        self.assertReply(c, b"delete 1", b"DELETED\r\n")

    def test_touch_extends_ttr(self):
        c = self.client()
        self.put(c, b"a", ttr=2)
        c.send(b"reserve\r\n")
        c.expect(b"RESERVED 1 1\r\na\r\n")
        for _ in range(3):
            time.sleep(0.7)
            self.assertReply(c, b"touch 1", b"TOUCHED\r\n")
        # 2.1 s after the reserve, the job is still ours
        self.assertEqual(stats_of(c, b"stats-job 1")["state"], "reserved")
        self.assertReply(c, b"delete 1", b"DELETED\r\n")
        self.assertReply(c, b"touch 1", b"NOT_FOUND\r\n")

    def test_release_with_delay(self):
        c = self.client()
        self.put(c, b"a")
        c.send(b"reserve\r\n")
        c.expect(b"RESERVED 1 1\r\na\r\n")
        self.assertReply(c, b"release 1 7 1", b"RELEASED\r\n")
        job = stats_of(c, b"stats-job 1")
        self.assertEqual((job["state"], job["pri"], job["delay"]), ("delayed", "7", "1"))
        self.assertReply(c, b"reserve-with-timeout 0", b"TIMED_OUT\r\n")
        c.send(b"reserve-with-timeout 4\r\n")
        c.expect(b"RESERVED 1 1\r\na\r\n")


class ReserveWaiters:
    PER_TEST = True

    def test_blocking_reserve_woken_by_put_on_other_connection(self):
        worker, producer = self.client(), self.client()
        worker.send(b"reserve\r\n")
        worker.expect_silence(0.3)
        self.put(producer, b"wake")
        worker.expect(b"RESERVED 1 4\r\nwake\r\n")

    def test_waiters_served_in_arrival_order(self):
        w1, w2, p = self.client(), self.client(), self.client()
        w1.send(b"reserve\r\n")
        time.sleep(0.1)
        w2.send(b"reserve\r\n")
        time.sleep(0.1)
        self.put(p, b"one")
        w1.expect(b"RESERVED 1 3\r\none\r\n")
        w2.expect_silence(0.2)
        self.put(p, b"two")
        w2.expect(b"RESERVED 2 3\r\ntwo\r\n")

    def test_disconnect_releases_reserved_jobs_at_once(self):
        a, b = self.client(), self.client()
        self.put(a, b"a", ttr=100)
        self.put(a, b"b", ttr=100)
        a.send(b"reserve\r\nreserve\r\n")
        a.read_job("RESERVED")
        a.read_job("RESERVED")
        a.close()
        b.send(b"reserve-with-timeout 2\r\n")
        b.expect(b"RESERVED 1 1\r\na\r\n")
        job = stats_of(b, b"stats-job 2")
        self.assertEqual((job["state"], job["releases"], job["timeouts"]), ("ready", "0", "0"))

    def test_waiting_client_disconnect_is_removed(self):
        w, p = self.client(), self.client()
        w.send(b"reserve\r\n")
        w.expect_silence(0.2)
        self.assertEqual(stats_of(p, b"stats")["current-waiting"], "1")
        self.assertEqual(stats_of(p, b"stats-tube default")["current-waiting"], "1")
        w.close()
        time.sleep(0.2)
        self.assertEqual(stats_of(p, b"stats")["current-waiting"], "0")
        self.assertEqual(stats_of(p, b"stats-tube default")["current-waiting"], "0")
        # a job put now is not lost to the departed waiter
        self.put(p, b"x")
        self.assertEqual(stats_of(p, b"stats-job 1")["state"], "ready")

    def test_reserve_waits_only_on_watched_tubes(self):
        w, p = self.client(), self.client()
        self.assertReply(w, b"watch jobs", b"WATCHING 2\r\n")
        self.assertReply(w, b"ignore default", b"WATCHING 1\r\n")
        w.send(b"reserve\r\n")
        self.put(p, b"d")  # default tube: not for w
        w.expect_silence(0.3)
        self.assertReply(p, b"use jobs", b"USING jobs\r\n")
        self.put(p, b"j")
        w.expect(b"RESERVED 2 1\r\nj\r\n")


class ReserveBadFormat:
    def test_reserve_trailing_garbage(self):
        c = self.client()
        self.assertReply(c, b"reserve ", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"reservex", b"BAD_FORMAT\r\n")

    def test_reserve_with_timeout_is_lenient(self):
        # beanstalkd 1.12 parses the timeout with strtol and ignores
        # trailing bytes: an empty or garbage timeout means 0.
        c = self.client()
        self.assertReply(c, b"reserve-with-timeout ", b"TIMED_OUT\r\n")
        self.assertReply(c, b"reserve-with-timeout x", b"TIMED_OUT\r\n")
        self.assertReply(c, b"reserve-with-timeout 0x", b"TIMED_OUT\r\n")
        self.assertReply(c, b"reserve-with-timeout 0 junk", b"TIMED_OUT\r\n")
        self.assertReply(c, b"reserve-with-timeout 99999999999999999999", b"BAD_FORMAT\r\n")

    def test_id_arguments(self):
        c = self.client()
        for cmd in (b"delete", b"touch", b"peek", b"stats-job", b"kick-job", b"reserve-job"):
            self.assertReply(c, cmd + b" ", b"BAD_FORMAT\r\n")
            self.assertReply(c, cmd + b" 1x", b"BAD_FORMAT\r\n")
            self.assertReply(c, cmd + b" -1", b"BAD_FORMAT\r\n")
            self.assertReply(c, cmd + b" +1", b"BAD_FORMAT\r\n")
            self.assertReply(c, cmd + b" 18446744073709551616", b"BAD_FORMAT\r\n")
            self.assertReply(c, cmd + b" 18446744073709551615", b"NOT_FOUND\r\n")
            self.assertReply(c, cmd + b"  7", b"NOT_FOUND\r\n")  # leading spaces skipped
        # Commands are matched by prefix: bare "stats-job" is "stats" with
        # trailing garbage, bare "reserve-job" is "reserve" with garbage.
        for cmd, want in ((b"delete", b"UNKNOWN_COMMAND\r\n"), (b"touch", b"UNKNOWN_COMMAND\r\n"),
                          (b"peek", b"UNKNOWN_COMMAND\r\n"), (b"kick-job", b"UNKNOWN_COMMAND\r\n"),
                          (b"stats-job", b"BAD_FORMAT\r\n"), (b"reserve-job", b"BAD_FORMAT\r\n")):
            self.assertReply(c, cmd, want)

    def test_release_and_bury_arguments(self):
        c = self.client()
        self.assertReply(c, b"release 1 0", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"release 1 0 0 ", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"release 1 4294967296 0", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"release 1 0 -1", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"release 1 0 0", b"NOT_FOUND\r\n")
        self.assertReply(c, b"bury 1", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"bury 1 0 ", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"bury 1 4294967296", b"BAD_FORMAT\r\n")
        self.assertReply(c, b"bury 1 0", b"NOT_FOUND\r\n")


sqharness.register(globals(), ReserveOrder, ReserveTiming, ReserveWaiters, ReserveBadFormat)

if __name__ == "__main__":
    sqharness.main()
