"""The workload and the checker end to end on one real synqd (no cluster).

A durable synqd (-b DIR -f 0) killed -9 and restarted under the workload must
pass the checker: it acknowledges only what is on disk. The same kills on a
synqd without the log must fail it with lost puts, which shows the workload,
the final-state reader and the checker together can see a lost job."""

import os
import random
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import checker  # noqa: E402
import workload  # noqa: E402
from sqharness import STOP_TIMEOUT_S, Client, Server  # noqa: E402

KILLS = 3


class SingleServer(unittest.TestCase):
    def run_with_kills(self, durable, workers):
        data = tempfile.mkdtemp(prefix="synq-wl-")
        self.addCleanup(shutil.rmtree, data, True)
        args = ["-b", data, "-f", "0"] if durable else []
        srv = Server("synqd", args).start()
        self.addCleanup(srv.stop)
        wl = workload.Workload(lambda: [(1, "127.0.0.1", srv.port)], producers=3,
                               workers=workers, seed=1)
        wl.start()
        rng = random.Random(2)
        try:
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.5, 1.0))
                srv.proc.kill()
                srv.proc.wait(STOP_TIMEOUT_S)
                time.sleep(0.1)
                srv.restart()
            time.sleep(0.5)
        finally:
            history = wl.stop()
        self.assertEqual(wl.errors, [])
        with Client(srv.port, timeout=10) as c:
            final = checker.FinalState(checker.read_jobs(c, [workload.TUBE]), None)
            # The fallback for servers without list-jobs reads the same jobs.
            by_peek = checker.read_jobs_by_peek(c, checker.highest_id(history))
        self.assertEqual({i: b for i, (_, b) in final.jobs.items()},
                         {i: b for i, (_, b) in by_peek.items()})
        return history, final, checker.check(history, final)

    def test_durable_server_passes(self):
        history, final, problems = self.run_with_kills(durable=True, workers=2)
        print(checker.summary(history, final))
        self.assertEqual(problems, [])
        self.assertGreater(sum(op.kind == "put" and op.outcome == checker.OK for op in history),
                           50)
        self.assertGreater(sum(op.kind == "delete" and op.outcome == checker.OK
                               for op in history), 20)
        self.assertGreater(sum(op.outcome == checker.UNKNOWN for op in history), 0,
                           "the kills cut no request: the test proves nothing about them")

    def test_server_without_log_fails_with_lost_puts(self):
        history, final, problems = self.run_with_kills(durable=False, workers=0)
        print(checker.summary(history, final))
        self.assertGreater(len(final.jobs), 0, "nothing read: the reader proves nothing")
        lost = [p for p in problems if p.startswith("lost")]
        self.assertGreater(len(lost), 50, problems[:5])


if __name__ == "__main__":
    unittest.main(verbosity=2)
