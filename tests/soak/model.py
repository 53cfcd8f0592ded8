"""The soak's model of acknowledged state: which replies a correct synqd may give.

One worker owns one model and one namespace of tubes (no other worker touches
them), so only that worker's commands and the clock change its jobs. The clock
is the hard part: a delayed job becomes ready, a reservation expires, a pause
ends, a closed connection's reservations are released, each at a moment the
client knows only within a window. So a job in a timed state carries the
earliest and latest moment the change can happen (`due_lo`, `due_hi`), and
every check is asked for a command sent at `ts` and answered at `tr`: the server
ran it somewhere in between. Before `due_lo - EARLY_S` the old state is certain,
after `due_hi + LATE_S` the new one is (a server later than LATE_S is wrong);
in between either is allowed, and the reply itself settles which one it was.

Nothing is ever guessed: a reply that no possible state explains raises
SoakFailure with the command, the reply and the job's model."""

import re

# The server may act this much before the client's earliest estimate (its clock
# keeps milliseconds, rounding can move a deadline by one).
EARLY_S = 0.02
# ... and this much after the latest one before it counts as a bug: a timer
# that fires late on a loaded machine under ASan is not one. Scaled by the
# driver (SOAK_SLACK).
LATE_S = 3.0

READY, DELAYED, RESERVED, BURIED = "ready", "delayed", "reserved", "buried"
# After a kill -9 a command whose reply was lost leaves its job in any state, or gone.
UNKNOWN = "unknown"


class SoakFailure(Exception):
    """synqd did something the model does not allow (or crashed, or leaked)."""


class Job:
    __slots__ = ("id", "body", "tube", "pri", "ttr", "state", "due_lo", "due_hi", "owner",
                 "bury_seq")

    def __init__(self, job_id, body, tube, pri, ttr):
        self.id, self.body, self.tube, self.pri, self.ttr = job_id, body, tube, pri, ttr
        self.state = READY
        self.due_lo = self.due_hi = 0.0  # when DELAYED/RESERVED turns READY
        self.owner = None  # the Conn holding a RESERVED job
        self.bury_seq = None  # order of burying (None: unknown, after a restart)

    def __repr__(self):
        return ("job %d tube %s pri %d ttr %d %s due [%.2f, %.2f] owner %s"
                % (self.id, self.tube, self.pri, self.ttr, self.state, self.due_lo, self.due_hi,
                   self.owner.name if self.owner else None))

    def set_timed(self, state, ts, tr, secs, owner=None):
        self.state, self.owner = state, owner
        self.due_lo, self.due_hi = ts + secs, tr + secs

    def settle(self, now):
        """Make the timed change that is certain by `now`."""
        if self.state in (DELAYED, RESERVED) and now > self.due_hi + LATE_S:
            self.state, self.owner = READY, None

    def possible(self, ts, tr):
        """The states the job may have had while the server ran a command in [ts, tr]."""
        if self.state == UNKNOWN:
            return {READY, DELAYED, RESERVED, BURIED}
        if self.state in (DELAYED, RESERVED):
            if ts > self.due_hi + LATE_S:
                return {READY}
            if tr < self.due_lo - EARLY_S:
                return {self.state}
            return {self.state, READY}
        return {self.state}

    def ready_by(self, t):
        """Is the job certainly READY (or already was) at time t?"""
        return self.state == READY or (self.state in (DELAYED, RESERVED)
                                       and t > self.due_hi + LATE_S)

    def reserved_by(self, conn, ts, tr):
        """(may it be reserved by conn, may it be in any other state or holder)."""
        states = self.possible(ts, tr)
        mine = RESERVED in states and self.owner is conn
        other = bool(states - {RESERVED}) or (RESERVED in states and self.owner is not conn)
        return mine, other


class Pause:
    """A tube's pause: over at some moment in [lo, hi]."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def maybe_paused(self, ts):
        return ts < self.hi + LATE_S

    def maybe_unpaused(self, tr):
        return tr > self.lo - EARLY_S


def check(cond, what, *context):
    if not cond:
        raise SoakFailure(what + "".join("\n    " + str(c) for c in context))


def yaml_dict(data):
    """beanstalkd's flat YAML document as a dict (values kept as text)."""
    text = data.decode()
    check(text.startswith("---\n") and text.endswith("\n"), "malformed YAML %r" % text)
    out = {}
    for line in text[4:-1].split("\n"):
        k, sep, v = line.partition(": ")
        check(sep and k, "malformed YAML line %r in %r" % (line, text))
        out[k] = v
    return out


def yaml_list(data):
    text = data.decode()
    check(text.startswith("---\n") and text.endswith("\n"), "malformed YAML list %r" % text)
    items = text[4:-1].split("\n") if len(text) > 4 else []
    check(all(i.startswith("- ") for i in items), "malformed YAML list %r" % text)
    return [i[2:] for i in items]


TUBE_NAME_RE = re.compile(r"[A-Za-z0-9+/;.$_()][A-Za-z0-9+/;.$_()-]{0,199}")

STATS_LOG_FIELDS = ["binlog-oldest-index", "binlog-current-index", "binlog-records-migrated",
                    "binlog-records-written", "binlog-max-size", "binlog-bytes-live",
                    "binlog-bytes-dead", "binlog-fsyncs"]
STATS_TUBE_FIELDS = ["name", "current-jobs-urgent", "current-jobs-ready", "current-jobs-reserved",
                     "current-jobs-delayed", "current-jobs-buried", "total-jobs", "current-using",
                     "current-watching", "current-waiting", "cmd-delete", "cmd-pause-tube",
                     "pause", "pause-time-left"]
