"""The checker on synthetic histories: a correct run passes, and each kind of
violation it must catch (lost put, resurrected delete, corrupt body, divergent
digest, refused put present) is reported. No server is started."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402
from checker import FAIL, OK, UNKNOWN, FinalState, Op, make_body  # noqa: E402

B1, B2, B3, B4 = (make_body("p0", i) for i in range(1, 5))
NODES = {n: {"applied-index": "40", "jobs": "1", "digest": "ab12"} for n in (1, 2, 3)}


def nodes(**override):
    """NODES with some fields of node 3 changed."""
    out = {n: dict(st) for n, st in NODES.items()}
    out[3].update({k.replace("_", "-"): v for k, v in override.items()})
    return out


def correct_history():
    """Four puts: 1 acked and left ready, 2 acked then reserved and deleted,
    3 of unknown outcome (it did not happen), 4 refused; one worker."""
    return [
        Op("put", OK, 1, B1, 0.0, 0.1),
        Op("put", OK, 2, B2, 0.1, 0.2),
        Op("put", UNKNOWN, None, B3, 0.2, 5.0),
        Op("put", FAIL, None, B4, 0.3, 0.4, reply=b"INTERNAL_ERROR\r\n"),
        Op("reserve", OK, 2, B2, 0.5, 0.6),
        Op("delete", OK, 2, None, 0.7, 0.8),
    ]


class Checker(unittest.TestCase):
    def assertViolation(self, history, final, word):
        problems = checker.check(history, final)
        self.assertTrue(any(p.startswith(word) for p in problems),
                        "expected a %r violation, got %r" % (word, problems))

    def test_correct_run_passes(self):
        final = FinalState({1: ("ready", B1)}, NODES)
        self.assertEqual(checker.check(correct_history(), final), [])

    def test_unknown_put_may_exist(self):
        final = FinalState({1: ("ready", B1), 7: ("ready", B3)}, nodes())
        for st in final.nodes.values():
            st["jobs"] = "2"
        self.assertEqual(checker.check(correct_history(), final), [])

    def test_unknown_delete_may_have_happened(self):
        h = [Op("put", OK, 5, B1, 0, 1), Op("reserve", OK, 5, B1, 1, 2),
             Op("delete", UNKNOWN, 5, None, 2, 9)]
        final = FinalState({}, {n: dict(st, jobs="0") for n, st in NODES.items()})
        self.assertEqual(checker.check(h, final), [])

    def test_lost_put(self):
        final = FinalState({}, {n: dict(st, jobs="0") for n, st in NODES.items()})
        self.assertViolation(correct_history(), final, "lost")

    def test_delete_without_reserve_does_not_excuse_a_missing_job(self):
        # The delete of id 1 came before any reserve returned it.
        h = correct_history() + [Op("delete", OK, 1, None, 0.9, 1.0),
                                 Op("reserve", OK, 1, B1, 1.1, 1.2)]
        final = FinalState({}, {n: dict(st, jobs="0") for n, st in NODES.items()})
        self.assertViolation(h, final, "lost")

    def test_resurrected_delete_present_at_end(self):
        final = FinalState({1: ("ready", B1), 2: ("ready", B2)},
                           {n: dict(st, jobs="2") for n, st in NODES.items()})
        self.assertViolation(correct_history(), final, "resurrected")

    def test_resurrected_delete_reserved_again(self):
        h = correct_history() + [Op("reserve", OK, 2, B2, 0.9, 1.0)]
        self.assertViolation(h, FinalState({1: ("ready", B1)}, NODES), "resurrected")

    def test_redelivery_before_the_delete_is_allowed(self):
        # At-least-once: a reservation lost in a failover hands the job out again.
        h = correct_history() + [Op("reserve", OK, 2, B2, 0.55, 0.65)]
        self.assertEqual(checker.check(h, FinalState({1: ("ready", B1)}, NODES)), [])

    def test_corrupt_body_at_end(self):
        bad = B1[:3] + b"X" + B1[4:]
        self.assertViolation(correct_history(), FinalState({1: ("ready", bad)}, NODES), "corrupt")

    def test_corrupt_body_reserved(self):
        h = correct_history()
        h[4] = Op("reserve", OK, 2, B2[:-1] + b"0", 0.5, 0.6)
        self.assertViolation(h, FinalState({1: ("ready", B1)}, NODES), "corrupt")

    def test_swapped_body_is_an_id_reused(self):
        # A valid checksum, but another put's body under this id.
        final = FinalState({1: ("ready", B2)}, NODES)
        self.assertViolation(correct_history(), final, "id reused")

    def test_id_given_to_two_jobs(self):
        # A worker got B3 (a put of unknown outcome) as job 1, acknowledged for B1.
        h = correct_history() + [Op("reserve", OK, 1, B3, 0.9, 1.0)]
        self.assertViolation(h, FinalState({1: ("ready", B1)}, NODES), "id reused")

    def test_phantom_job(self):
        final = FinalState({1: ("ready", B1), 9: ("ready", make_body("nobody", 1))},
                           {n: dict(st, jobs="2") for n, st in NODES.items()})
        self.assertViolation(correct_history(), final, "corrupt")

    def test_refused_put_present(self):
        final = FinalState({1: ("ready", B1), 4: ("ready", B4)},
                           {n: dict(st, jobs="2") for n, st in NODES.items()})
        self.assertViolation(correct_history(), final, "refused put present")

    def test_divergent_digest(self):
        final = FinalState({1: ("ready", B1)}, nodes(digest="ab13"))
        self.assertViolation(correct_history(), final, "divergent")

    def test_divergent_applied_index(self):
        final = FinalState({1: ("ready", B1)}, nodes(applied_index="39"))
        self.assertViolation(correct_history(), final, "divergent")

    def test_job_count_differs_from_what_was_read(self):
        final = FinalState({1: ("ready", B1)}, {n: dict(st, jobs="3") for n, st in NODES.items()})
        self.assertViolation(correct_history(), final, "divergent")

    def test_missing_node_stats(self):
        self.assertViolation(correct_history(), FinalState({1: ("ready", B1)}, {}), "divergent")

    def test_body_checksum(self):
        self.assertTrue(checker.body_ok(make_body("w3", 17, pad=100)))
        self.assertFalse(checker.body_ok(b"no checksum"))
        self.assertFalse(checker.body_ok(make_body("w3", 17) + b"x"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
