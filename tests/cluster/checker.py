"""Jepsen-style checker: a workload's history against the cluster's final state.

The history is a list of `Op`s, one per client request, each with the outcome
the client saw:

- "ok": a reply that acknowledges the request (INSERTED, RESERVED, DELETED).
  By the cluster's contract a reply means the change is committed on a
  majority, so it must never be lost or undone.
- "fail": a reply that refuses it (NOT_FOUND for a delete, an error for a put).
  A refused put must not exist afterwards.
- "unknown": the connection closed or timed out before a reply. The change
  may or may not have happened; either is allowed.

The final state is read through one node after every fault is healed and the
nodes have converged (`read_final_state`): every job with its state and body,
plus each node's `stats-cluster`. `check()` returns the list of violations
(empty when the run is correct), each naming the job and the ops involved:

1. lost: an acknowledged put is neither present at the end nor deleted after
   being reserved (a delete acknowledged or of unknown outcome, after a
   reserve that returned that job);
2. resurrected: an acknowledged delete is undone: the id is present at the
   end, or a reserve that started after the delete's reply returned it;
3. corrupt: a body fails its checksum, differs from what was put under that
   id, or belongs to no put at all (a phantom); "id reused" when it is the
   body of another put (one id given to two jobs);
4. refused put present: a put answered with an error exists anyway;
5. divergent: the nodes' `applied-index`, `jobs` or `digest` differ, or the
   number of jobs read differs from what the nodes report.

Bodies are made by `make_body()`: unique per put attempt, ending in a CRC32 of
the rest, so corruption is visible without the history too.
"""

import dataclasses
import re
import zlib

OK = "ok"
FAIL = "fail"
UNKNOWN = "unknown"

STATES = ("ready", "delayed", "buried", "reserved")
LIST_PAGE = 1000  # list-jobs' largest count


def make_body(client, seq, pad=0):
    """A unique job body: `<client>-<seq>-<pad x>:<crc32 hex of the rest>`."""
    payload = b"%s-%d-%s" % (client.encode(), seq, b"x" * pad)
    return payload + b":%08x" % zlib.crc32(payload)


def body_ok(body):
    """True when `body`'s trailing checksum matches the rest."""
    payload, sep, crc = body.rpartition(b":")
    if not sep or not re.fullmatch(rb"[0-9a-f]{8}", crc):
        return False
    return int(crc, 16) == zlib.crc32(payload)


@dataclasses.dataclass
class Op:
    """One client request and what the client saw. Times are time.monotonic()
    seconds: `start` before the request was sent, `end` when its reply (or
    the error) arrived."""

    kind: str  # "put", "reserve" or "delete"
    outcome: str  # OK, FAIL or UNKNOWN
    job_id: int = None
    body: bytes = None
    start: float = 0.0
    end: float = 0.0
    client: str = ""
    node: int = 0  # the node the client was connected to
    reply: bytes = b""

    def __str__(self):
        return "%s(%s id=%s body=%r on node %d, %.3f-%.3f, reply %r)" % (
            self.kind, self.outcome, self.job_id, self.body, self.node, self.start, self.end,
            self.reply)


@dataclasses.dataclass
class FinalState:
    """What the cluster holds at the end: `jobs` maps id -> (state, body);
    `nodes` maps node id -> its stats-cluster fields (text values), or is
    None for a single server (no --node), whose convergence is not checked."""

    jobs: dict
    nodes: dict


def check(history, final):
    """Return a list of human-readable violations (empty: the run is correct)."""
    problems = []
    acked_puts = {}  # id -> put op
    put_by_body = {}  # body -> put op (every attempt)
    reserves = {}  # id -> [reserve ops that returned it]
    deletes = {}  # id -> [delete ops acked or of unknown outcome]
    for op in history:
        if op.kind == "put":
            put_by_body[op.body] = op
            if op.outcome == OK:
                if op.job_id in acked_puts:
                    problems.append("duplicate id: %s and %s" % (acked_puts[op.job_id], op))
                acked_puts[op.job_id] = op
        elif op.kind == "reserve" and op.outcome == OK:
            reserves.setdefault(op.job_id, []).append(op)
        elif op.kind == "delete" and op.outcome in (OK, UNKNOWN):
            deletes.setdefault(op.job_id, []).append(op)

    # 3. corruption, in what workers reserved and in what is left.
    seen = [("reserved by a worker", op.job_id, op.body, op)
            for ops in reserves.values() for op in ops]
    seen += [("present at the end (%s)" % state, job_id, body, None)
             for job_id, (state, body) in sorted(final.jobs.items())]
    for where, job_id, body, op in seen:
        what = "job %d %s" % (job_id, where) + (": %s" % op if op else "")
        if not body_ok(body):
            problems.append("corrupt: %s has a bad checksum: %r" % (what, body))
        elif job_id in acked_puts and acked_puts[job_id].body != body:
            if body in put_by_body:
                # Another put's body under this id: one id given to two jobs,
                # as when a deposed leader hands out a put it never committed.
                problems.append("id reused: %s carries the body of %s, but %s was "
                                "acknowledged with that id"
                                % (what, put_by_body[body], acked_puts[job_id]))
            else:
                problems.append("corrupt: %s has body %r but was put as %s"
                                % (what, body, acked_puts[job_id]))
        elif body not in put_by_body:
            problems.append("corrupt: %s has body %r that no put sent" % (what, body))
        elif put_by_body[body].outcome == FAIL:
            problems.append("refused put present: %s is %s" % (what, put_by_body[body]))

    # 1. lost acknowledged puts.
    for job_id, put in sorted(acked_puts.items()):
        if job_id in final.jobs:
            continue
        got = [r for r in reserves.get(job_id, ()) if r.body == put.body]
        dels = [d for d in deletes.get(job_id, ()) if any(r.end <= d.start for r in got)]
        if not dels:
            problems.append("lost: %s is not present at the end and no delete followed a "
                            "reserve of it (reserves %s, deletes %s)"
                            % (put, [str(r) for r in got],
                               [str(d) for d in deletes.get(job_id, ())]))

    # 2. acknowledged deletes undone.
    for job_id, ops in sorted(deletes.items()):
        acked = [d for d in ops if d.outcome == OK]
        if not acked:
            continue
        first = min(acked, key=lambda d: d.end)
        if job_id in final.jobs:
            problems.append("resurrected: job %d is present at the end (%s) after %s"
                            % (job_id, final.jobs[job_id][0], first))
        for r in reserves.get(job_id, ()):
            if r.start > first.end:
                problems.append("resurrected: %s returned job %d after %s" % (r, job_id, first))

    # 5. every node ends in the same state, the one that was read.
    if final.nodes is not None:
        problems += check_convergence(final)
    return problems


def check_convergence(final):
    """Violations of rule 5 alone (also used while waiting for convergence)."""
    problems = []
    if not final.nodes:
        return ["divergent: no node's stats-cluster was read"]
    for field in ("applied-index", "jobs", "digest"):
        values = {nid: st.get(field) for nid, st in sorted(final.nodes.items())}
        if None in values.values():
            problems.append("divergent: some node reports no %s: %s" % (field, values))
        elif len(set(values.values())) != 1:
            problems.append("divergent: %s differs between nodes: %s" % (field, values))
    counts = {st.get("jobs") for st in final.nodes.values()}
    if len(counts) == 1 and None not in counts and int(counts.pop()) != len(final.jobs):
        problems.append("divergent: the nodes report %s jobs but %d were read"
                        % (next(iter(final.nodes.values())).get("jobs"), len(final.jobs)))
    return problems


def dump(history, path):
    """Write the history to `path`, one op a line, for reading after a failure."""
    with open(path, "w") as f:
        for op in sorted(history, key=lambda o: o.start):
            f.write("%.4f %.4f %-7s %-7s id=%s node=%d client=%s body=%r reply=%r\n"
                    % (op.start, op.end, op.kind, op.outcome, op.job_id, op.node, op.client,
                       op.body, op.reply))


def summary(history, final):
    """Counts for the report line."""
    n = {}
    for op in history:
        key = "%s-%s" % (op.kind, op.outcome)
        n[key] = n.get(key, 0) + 1
    n["final-jobs"] = len(final.jobs)
    return " ".join("%s=%d" % kv for kv in sorted(n.items()))


# ------------------------------------------------------- reading the final state

class ReadError(AssertionError):
    pass


class NoListJobs(Exception):
    pass


def _list_ids(client, tube, state):
    """Every id in `tube` and `state`, through list-jobs pages."""
    ids, after = [], 0
    while True:
        line = client.cmd("list-jobs %s %s %d %d" % (tube, state, after, LIST_PAGE))
        if line == b"UNKNOWN_COMMAND\r\n":
            raise NoListJobs()
        m = re.fullmatch(rb"OK (\d+)\r\n", line)
        if not m:
            raise ReadError("list-jobs %s %s: %r" % (tube, state, line))
        data = client.read_exact(int(m.group(1)) + 2)[:-2].decode()
        page = [int(x) for x in re.findall(r"^- id: (\d+)$", data, re.M)]
        if not page:
            return ids
        ids += page
        after = page[-1]


def _peek(client, job_id):
    """The body of job `job_id`, or None when there is no such job."""
    line = client.cmd("peek %d" % job_id)
    if line == b"NOT_FOUND\r\n":
        return None
    m = re.fullmatch(rb"FOUND (\d+) (\d+)\r\n", line)
    if not m:
        raise ReadError("peek %d: %r" % (job_id, line))
    return client.read_exact(int(m.group(2)) + 2)[:-2]


def read_jobs(client, tubes, max_id=0):
    """id -> (state, body) of every job in `tubes`, read without changing
    anything (list-jobs, then peek), so the digests compared afterwards still
    describe the same state. Where list-jobs is unknown (a server without
    synqd's extensions), every id from 1 to `max_id` is peeked instead, in
    every tube, with the state "unknown"."""
    jobs = {}
    try:
        for tube in tubes:
            for state in STATES:
                for job_id in _list_ids(client, tube, state):
                    body = _peek(client, job_id)
                    if body is None:
                        raise ReadError("job %d listed %s in %s, but peek finds none"
                                        % (job_id, state, tube))
                    jobs[job_id] = (state, body)
    except NoListJobs:
        return read_jobs_by_peek(client, max_id)
    return jobs


def read_jobs_by_peek(client, max_id):
    """id -> ("unknown", body) of every job with an id up to `max_id`."""
    jobs = {}
    for job_id in range(1, max_id + 1):
        body = _peek(client, job_id)
        if body is not None:
            jobs[job_id] = ("unknown", body)
    return jobs


def highest_id(history, margin=100):
    """An id above every job the history may have made: the highest
    acknowledged one plus one per put of unknown outcome (each may have taken
    an id), plus `margin`."""
    acked = [op.job_id for op in history if op.job_id is not None]
    unknown = sum(1 for op in history if op.kind == "put" and op.outcome != OK)
    return max(acked, default=0) + unknown + margin
