/*
 * The queue store: all of synqd's queue state and beanstalkd's semantics, with no I/O.
 *
 * Model. Jobs live in tubes. A job is in exactly one state:
 *
 *     put ──delay>0──> DELAYED ──(deadline / kick)──> READY <──(release, TTR expiry,
 *      └──delay=0────────────────────────────────────> READY      reserver gone, kick)
 *     READY ──reserve──> RESERVED ──bury──> BURIED ──kick──> READY
 *     RESERVED ──release delay>0──> DELAYED;  any state ──delete──> gone
 *
 * A client is one protocol session: it uses one tube (put/kick/peek target) and watches a
 * set of tubes (reserve sources). `reserve` hands out the best ready job (lowest pri, then
 * lowest id) among the client's watched, unpaused tubes; if there is none the client waits
 * and a hook answers later. Whenever a job becomes ready, waiting clients are served at once
 * (beanstalkd's process_queue: the globally best job among tubes that have waiters goes to
 * the longest-waiting client of its tube).
 *
 * Time is injected: hooks->now_ms is a monotonic millisecond clock. The owner arms one timer
 * for store_next_deadline_ms() and calls store_tick() when it fires.
 *
 * Threading: a store and everything it hands out belong to one thread. Hooks run
 * synchronously inside store calls; a hook must not call back into the store except
 * read-only accessors (job_*, tube_*, client_*, *_get_stats, store_find_*).
 *
 * Pointer lifetimes: a job* is valid until the job is deleted (store_delete, or
 * store_forget_job); a tube* until no client uses or watches it and it holds no jobs
 * ("default" lives as long as the store); a client* until store_client_free.
 */
#ifndef SYNQ_QUEUE_STORE_H
#define SYNQ_QUEUE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_URGENT_PRI 1024       /* jobs with pri below this count as urgent */
#define STORE_SAFETY_MARGIN_MS 1000 /* DEADLINE_SOON margin before a TTR ends */

typedef struct store store;
typedef struct tube tube;
typedef struct job job;
typedef struct client client; /* one protocol session */

typedef enum { JOB_READY, JOB_RESERVED, JOB_DELAYED, JOB_BURIED } job_state;

/* Results. Values are negative except STORE_OK. */
enum {
    STORE_OK = 0,
    STORE_NOT_FOUND = -1,
    STORE_NOT_IGNORED = -2,
    STORE_TIMED_OUT = -3,     /* reserve: nothing ready within the timeout (or timeout 0) */
    STORE_DEADLINE_SOON = -4, /* reserve: a job this client holds is about to expire */
    STORE_WAITING = -5,       /* reserve: the client now waits; a hook will answer later */
    STORE_NO_MEMORY = -6,
    STORE_BURIED = -7,   /* release/put could not make the job ready (beanstalkd's
                            BURIED reply for out-of-memory when growing a heap) */
    STORE_DRAINING = -8, /* put refused: the store is in drain mode */
    STORE_EXISTS = -9,   /* put-unique: a live job of the tube holds the key */
};

/* Journal operations (see store_hooks.journal). */
enum {
    STORE_OP_PUT,
    STORE_OP_DELETE,
    STORE_OP_STATE, /* pri/state/delay changed */
    STORE_OP_MOVE,  /* the job's tube changed (move-jobs); its state, pri and counters did not */
};

/* Calls from the store to its owner (the network layer). Each receives the client; its owner
 * pointer is client_owner(c). They run synchronously inside store calls or store_tick(). */
typedef struct store_hooks {
    /* A waiting client was handed `j` (it is now reserved by that client): send RESERVED.
     * The client is no longer waiting. Not called when store_reserve() returns STORE_OK. */
    void (*reserved)(client *c, job *j, void *data);
    /* A waiting client holds a job whose TTR ends within the safety margin: send
     * DEADLINE_SOON. The client is no longer waiting afterwards. */
    void (*deadline_soon)(client *c, void *data);
    /* A reserve-with-timeout wait ran out: send TIMED_OUT. The client no longer waits. */
    void (*wait_timed_out)(client *c, void *data);
    /* Every change a write-ahead log must record (may be NULL); called after the change.
     * Fired for: PUT (put; also when put had to bury the job), DELETE (delete: `j` is
     * already unlinked and is freed right after the call returns), STATE (release — with
     * or without delay, the new pri/delay are in the job —, bury, kick, kick-job, and
     * reserve-job of a buried or delayed job: it leaves that state), DELETE also for every
     * job store_flush_some removes, MOVE (store_move_job with journal set).
     * NOT fired for reserve, reserve-job of a ready job, touch, TTR expiry, a reserver's
     * disconnect, delayed->ready promotion, pause-tube, or store_restore_job/store_forget_job:
     * a log stores reserved jobs as ready and delayed jobs with their deadline, as
     * beanstalkd's binlog does. */
    void (*journal)(store *s, const job *j, int op, void *data);
    /* Clock: monotonic milliseconds. Tests pass a fake one. Required. */
    uint64_t (*now_ms)(void *data);
    /* A tube's settings changed (store_tube_configure with journal set): a log records
     * tube_get_conf(t). May be NULL. */
    void (*tube_journal)(store *s, const tube *t, void *data);
} store_hooks;

/* Creates an empty store with the "default" tube. `hooks` is copied; `data` is passed to
 * every hook. Returns NULL on ENOMEM. */
store *store_new(const store_hooks *hooks, void *data);
/* Frees all jobs, tubes and clients. No hooks run. */
void store_free(store *s);
/* In drain mode store_put() answers STORE_DRAINING; everything else works. */
void store_set_draining(store *s, bool on);
bool store_draining(const store *s);
/* Holding (synqd's graceful shutdown): no job is handed out. reserve and reserve-batch find
 * nothing ready (they wait, or answer TIMED_OUT or DEADLINE_SOON as over empty tubes), waiting
 * clients stay waiting, reserve-job answers NOT_FOUND; jobs still become ready, and the jobs
 * already reserved can be deleted, released, buried and touched. Leaving it serves waiters. */
void store_set_holding(store *s, bool on);

/* A replica's store changes only by the records it is given (a cluster node that is not the
 * leader): it expires no job of its own accord, since the leader's DELETE records do that. */
void store_set_replica(store *s, bool on);
bool store_holding(const store *s);
/* The store's clock (hooks->now_ms). */
uint64_t store_now_ms(const store *s);

/* ---- clients ---- */

/* A new session that uses and watches "default". NULL on ENOMEM. */
client *store_client_new(store *s, void *owner);
/* Ends the session: its reserved jobs return to ready at once (not counted as timeouts),
 * it leaves every waiting list, and its tubes lose a reference. No hooks for `c` run. */
void store_client_free(store *s, client *c);
void *client_owner(const client *c);
const tube *client_used_tube(const client *c);
size_t client_watch_count(const client *c);
/* The watched tubes in beanstalkd's list-tubes-watched order: watch order, except that
 * ignoring a tube moves the last-listed tube into its place (beanstalkd's array delete).
 * i < client_watch_count(c). */
const tube *client_watched_at(const client *c, size_t i);
bool client_is_waiting(const client *c);
/* Jobs this client has reserved. */
size_t client_reserved_count(const client *c);

/* ---- tubes: names are validated by the parser; the store only creates/looks up ---- */

/* Makes `c` use the tube (created if missing). OK | NO_MEMORY (c keeps its old tube). */
int store_use(store *s, client *c, const char *name, size_t len);
/* Adds the tube (created if missing) to c's watch list; watching twice is a no-op.
 * *count (may be NULL) is the new watch count. OK | NO_MEMORY. */
int store_watch(store *s, client *c, const char *name, size_t len, size_t *count);
/* Removes the tube from c's watch list; a tube not watched (or not existing) is OK.
 * NOT_IGNORED if it is c's only watched tube. *count (may be NULL) as store_watch. */
int store_ignore(store *s, client *c, const char *name, size_t len, size_t *count);

/* ---- commands ---- */

/* put into the client's used tube. delay_s and ttr_s as on the wire (ttr 0 becomes 1, as
 * beanstalkd). The body is copied. On success *out is the new job (id via job_id()).
 * OK | NO_MEMORY (no job made) | DRAINING (an id is used up) | BURIED (job made but
 * buried: *out set). */
int store_put(store *s, client *c, uint32_t pri, uint32_t delay_s, uint32_t ttr_s, const char *body,
              size_t body_len, job **out);

/* The longest put-unique key, in bytes. */
#define STORE_MAX_KEY 200

/* put-unique: store_put with a key (1..STORE_MAX_KEY bytes, checked by the parser), unique
 * among the live jobs of c's used tube. EXISTS, with *out the job that holds the key, when
 * there is one (no id is used up, nothing changes); otherwise as store_put, and the new job
 * holds the key until it is deleted. The key lives in the job's record: 1 + key_len bytes, and
 * one slot of the store's key table. */
int store_put_unique(store *s, client *c, const char *key, size_t key_len, uint32_t pri,
                     uint32_t delay_s, uint32_t ttr_s, const char *body, size_t body_len,
                     job **out);

/* Uses up the next job id without making a job: beanstalkd assigns the id
 * when a put's command line arrives, so a put whose body is then refused
 * (EXPECTED_CRLF) still consumes one. DRAINING puts consume one inside
 * store_put. */
void store_skip_id(store *s);

/* Makes the next put's id at least `id` (after log replay, so ids of jobs
 * deleted before a restart are never handed out again). */
void store_set_next_id(store *s, uint64_t id);

/* timeout_ms < 0 waits forever; 0 polls. Returns OK with *out reserved by c, or WAITING (the
 * hooks answer later), TIMED_OUT, DEADLINE_SOON (c holds a job within the safety margin and
 * none of its watched tubes — paused or not, as beanstalkd — has a ready job), NO_MEMORY.
 * c must not already be waiting. */
int store_reserve(store *s, client *c, int64_t timeout_ms, job **out);
/* reserve-job: a ready, delayed or buried job becomes reserved by c; journals STATE when it
 * was delayed or buried. OK | NOT_FOUND (no such job, or it is reserved) | NO_MEMORY.
 * Reserving gives a job its ext record and a TTR FIFO (see job.h, ttrq.h); when those cannot
 * be had, reserve and reserve-job answer NO_MEMORY with the job still where it was, and a
 * waiting client keeps waiting until a later change serves it. */
int store_reserve_job(store *s, client *c, uint64_t id, job **out);
/* Ends a client's wait without an answer (e.g. it disconnected). Safe if not waiting. */
void store_cancel_wait(store *s, client *c);

/* OK | NOT_FOUND. A reserved job can be deleted only by its reserver; ready, delayed and
 * buried jobs by anyone (beanstalkd). Counts the tube's cmd-delete. */
int store_delete(store *s, client *c, uint64_t id);
/* Job must be reserved by c. New pri; delay_s > 0 makes it delayed. OK | BURIED | NOT_FOUND */
int store_release(store *s, client *c, uint64_t id, uint32_t pri, uint32_t delay_s);
/* Job must be reserved by c. OK | NOT_FOUND */
int store_bury(store *s, client *c, uint64_t id, uint32_t pri);
/* Job must be reserved by c: its TTR restarts now. OK | NOT_FOUND */
int store_touch(store *s, client *c, uint64_t id);
/* Kicks up to `bound` jobs in c's used tube: buried jobs (oldest burial first) if there are
 * any, otherwise delayed jobs (soonest first). *kicked (may be NULL) = how many. OK. */
int store_kick(store *s, client *c, uint32_t bound, uint32_t *kicked);
/* A buried or delayed job becomes ready. OK | NOT_FOUND (missing, ready or reserved). */
int store_kick_job(store *s, uint64_t id);
/* The tube hands out no jobs for delay_s seconds. Re-pausing restarts the pause; 0 ends any
 * pause at once (beanstalkd's 1 ns pause is over before anything can see it) and serves the
 * clients it frees, through the reserved hook. OK | NOT_FOUND */
int store_pause_tube(store *s, const char *name, size_t len, uint32_t delay_s);

/* ---- bulk operations on one tube (store_bulk.c; synqd's extensions) ----
 * Each call does a bounded amount of work, so that its caller can spread a big operation over
 * loop passes; between calls anything may change. A tube that does not exist holds no jobs. */

#define STORE_STATE_BIT(st) (1u << (unsigned)(st)) /* a job_state in a mask of states */

/* Jobs of the tube in the states of the mask (STORE_STATE_BIT of READY, DELAYED, BURIED). */
uint64_t store_tube_jobs_in(store *s, const char *name, size_t len, unsigned states);
/* The job of the tube in state st (READY, DELAYED or BURIED) that a bulk operation takes next:
 * the best ready job (pri, id), the soonest delayed job, the oldest buried job. NULL if none. */
job *store_tube_first(store *s, const char *name, size_t len, job_state st);
/* The buried job of t after j in burial order (kick's and peek-buried's), the oldest when j is
 * NULL; NULL after the last. j must be a buried job of t. */
job *store_tube_next_buried(const store *s, const tube *t, const job *j);
/* Deletes up to max jobs of the tube in the states of the mask (ready first, then delayed,
 * then buried; never reserved jobs), journaling a DELETE for each. Returns how many. The
 * tube's cmd-delete does not count them. */
uint32_t store_flush_some(store *s, const char *name, size_t len, unsigned states, uint32_t max);
/* Moves j to the tube named `to` (created if missing), keeping its id, state, pri, remaining
 * delay and counters; journals MOVE when `journal` (false: putting a job back whose MOVE the
 * log refused). A ready job goes to the ready set of `to` and may be handed to a waiting
 * client at once (after the journal call); one that cannot be placed there is buried, as a
 * release would. A put-unique key goes with the job if no live job of `to` holds the same key;
 * if one does, that job keeps it and the moved job loses its own (job_key then says NULL). j must
 * not be reserved unless journal is false. OK | NO_MEMORY (nothing changed). Moving to its own tube
 * is OK and changes nothing. */
int store_move_job(store *s, job *j, const char *to, size_t to_len, bool journal);
/* Calls cb, in id order, for up to max jobs of the tube in state st whose id is > after_id,
 * stopping early when cb returns non-zero; returns how many cb saw. It reads the tube's listing
 * index (one id set per state, tube.h): O(max) lookups, whatever the other tubes and states
 * hold; the tube's first reserved page first indexes its reserved jobs, O(jobs reserved in the
 * store), once. Where that index is incomplete (an add to it failed for memory; it is whole again
 * once the state empties) the page walks the store's directory from after_id instead: one look per
 * id passed, up to O(jobs in the store). A tube with no job in that state costs O(1). cb must
 * not change the store. */
size_t store_list_jobs(store *s, const char *name, size_t len, job_state st, uint64_t after_id,
                       size_t max, int (*cb)(const job *j, void *data), void *data);

/* ---- per-tube settings (tube_settings.c; synqd's tube-set, docs/protocol.md) ----
 * Every setting is 0 (off) by default. A tube whose settings are not all default is kept
 * alive by them (it stays in list-tubes while empty); set back to all defaults it goes away
 * like any unused empty tube. What each setting does:
 *   max_reserves: a job reserved this many times that is then released or whose TTR runs
 *     out goes, ready, to the dead-letter tube if one is set (journals MOVE), else is buried
 *     in place (journals STATE);
 *   retry_backoff_ms: a job whose TTR runs out comes back delayed by
 *     ms * 2^(timeouts - 1), at most STORE_MAX_BACKOFF_MS (journals STATE);
 *   max_reserved: at most this many of the tube's jobs reserved at once; at the cap the tube
 *     hands out nothing (reserve and waiters see it as empty) until one is released,
 *     deleted, buried or times out;
 *   rate: at most this many reserves per second (a token bucket with a burst of rate);
 *   expire_s: a ready or delayed job older than this since its put is deleted (journals
 *     DELETE), or moved ready to the dead-letter tube if one is set (journals MOVE). */

#define STORE_MAX_BACKOFF_MS 3600000u
#define STORE_CONF_NAME_MAX 255 /* the longest dead-letter name a log may hold */

typedef struct store_tube_conf {
    uint32_t max_reserves, max_reserved, rate, retry_backoff_ms, expire_s;
    size_t dead_letter_len; /* 0: none */
    char dead_letter[STORE_CONF_NAME_MAX + 1];
} store_tube_conf;

/* Gives the tube (created if missing) these settings, replacing all of its settings; fires
 * tube_journal when `journal`. A tube that stops being held by a cap serves its waiters.
 * OK | NO_MEMORY (nothing changed). */
int store_tube_configure(store *s, const char *name, size_t len, const store_tube_conf *conf,
                         bool journal);
/* The tube's settings (all zero when it has none). */
void tube_get_conf(const tube *t, store_tube_conf *out);
/* Whether any setting of the tube is not the default. */
bool tube_is_configured(const tube *t);

/* tube-info's live figures. */
typedef struct tube_figures {
    int64_t oldest_ready_age_s; /* of the ready job put longest ago; 0 when none */
    uint64_t dead_lettered;     /* jobs max-reserves moved away or buried */
    uint64_t expired;           /* jobs expire deleted or moved */
    bool held;                  /* at its max-reserved cap or out of rate tokens */
} tube_figures;
/* O(distinct priorities among the tube's ready jobs). */
void tube_get_figures(const store *s, const tube *t, tube_figures *out);
/* tube-info's latency figures over the last minute, in ms: put to first reserve (wait) and
 * reserve to delete (run), each the upper bound of a histogram bin ~19% wide; -1 when no job
 * did that in the last minute. The tube records them only from its first call here on (the
 * rings take 12 KiB a tube; see tube_lat.h): false when they cannot be allocated. */
typedef struct tube_latency {
    int64_t wait_p50, wait_p99, run_p50, run_p99;
} tube_latency;
bool store_tube_latency(store *s, tube *t, tube_latency *out);
/* A reserved job's time since its reserve, in ms (exact below 49 days); 0 if not reserved. */
uint64_t store_job_run_ms(const store *s, const job *j);
/* The run time of the job the last successful store_delete deleted, if it was reserved;
 * UINT64_MAX if it was not (for /metrics, without a lookup before each delete). */
uint64_t store_last_delete_run_ms(const store *s);

/* ---- lookups (peeks never change state) ---- */

job *store_find_job(store *s, uint64_t id); /* peek <id>; NULL if none */
/* Every job in id order: the job with the smallest id > *id (and *id set to it), or NULL. Start
 * with *id = 0. The store must not change during the walk. */
job *store_job_after(store *s, uint64_t *id);
/* The id the next put will get. */
uint64_t store_next_id(const store *s);
job *store_peek_ready(store *s, const client *c); /* in used tube; NULL if none */
job *store_peek_delayed(store *s, const client *c);
job *store_peek_buried(store *s, const client *c);
tube *store_find_tube(store *s, const char *name, size_t len);
size_t store_tube_count(const store *s);
/* list-tubes order: creation order, except that destroying a tube moves the last-listed
 * tube into its place (beanstalkd's array delete). i < store_tube_count(s). */
const tube *store_tube_at(const store *s, size_t i);

/* A walk over the tubes that may be spread over many calls with any store calls in between
 * (the metrics document is formatted a slice per loop pass). Like Redis's SCAN, it promises:
 * a tube that exists from store_tube_scan_begin until the walk reaches it is returned exactly
 * once; a tube created after the begin is never returned (so a name destroyed and made again
 * meanwhile does not come twice); a tube destroyed before the walk reaches it is not returned.
 * The order is the tubes' internal slot order, not list-tubes order. The scan holds no pointer
 * into the store: a scan abandoned midway needs no cleanup. */
typedef struct store_tube_scan {
    uint32_t next_slot; /* private */
    uint32_t end_slot;  /* private */
    uint64_t seq_end;   /* private: tubes made from this creation number on are skipped */
} store_tube_scan;
void store_tube_scan_begin(const store *s, store_tube_scan *sc);
/* The walk's next tube, looking at no more than *slots_left slots (each look takes one).
 * NULL when the walk is over or *slots_left reached 0; store_tube_scan_done tells which. */
const tube *store_tube_scan_next(const store *s, store_tube_scan *sc, uint32_t *slots_left);
bool store_tube_scan_done(const store_tube_scan *sc);
/* Walks again from the first slot with the same begin: the same promise, for the same
 * "created after the begin" moment (the metrics walk the tubes once per family). */
void store_tube_scan_restart(store_tube_scan *sc);

/* ---- time ----
 * The owner arms one timer for store_next_deadline_ms() (UINT64_MAX = none; a value in the
 * past means "now") and calls store_tick() when it fires (it may call it any time; it is
 * idempotent for a given now). Re-read the deadline after every store call.
 * tick promotes due delayed jobs (at deadline), ends pauses, serves waiting clients, sends
 * DEADLINE_SOON to waiting clients (at TTR end - 1 s), times out waits, expires TTRs (at
 * TTR end: the job returns to ready, counting a timeout) and serves waiting clients again. */
uint64_t store_next_deadline_ms(const store *s);
void store_tick(store *s);

/* ---- job accessors (read-only views for replies and stats) ---- */

uint64_t job_id(const job *j);
uint32_t job_pri(const job *j);
job_state job_get_state(const job *j);
const char *job_state_name(job_state st); /* "ready", "reserved", "delayed", "buried" */
const char *job_body(const job *j);       /* job_body_len(j) bytes, exactly as put */
size_t job_body_len(const job *j);
uint32_t job_ttr_s(const job *j);
/* The job's put-unique key (*len bytes, not NUL-terminated, valid while the job is), or NULL
 * (and *len 0) when it holds none: put without a key, or a move whose target tube had a live
 * job with the same key (see store_move_job). */
const char *job_key(const job *j, size_t *len);
/* The key bytes the job's record holds (0: none), kept even when a move lost the key: what
 * the record costs does not change. */
size_t job_key_bytes(const job *j);
/* These need the store: a job names its tube by index, and keeps what it needs only after
 * its first state change in a side record (see job.h). */
const tube *job_tube(const store *s, const job *j);
uint32_t job_delay_s(const store *s, const job *j); /* the delay of the last put/release */
/* Store clock at put, to 128 ms: rounded down, so ages are never understated. */
uint64_t job_created_ms(const store *s, const job *j);
/* DELAYED: when it becomes ready; RESERVED: when its TTR ends; otherwise 0. */
uint64_t job_deadline_ms(const store *s, const job *j);
/* The reserving client, or NULL. */
const client *job_reserver(const store *s, const job *j);
/* WAL bookkeeping: the log segment that holds the job's newest full record (0 = none).
 * The store only keeps the value; it is stats-job's `file`. Jobs have room for it only in
 * a store told so before its first job (store_track_log_segments). */
uint32_t job_log_segment(const job *j);
void job_set_log_segment(job *j, uint32_t seg);
void store_track_log_segments(store *s);

const char *tube_name(const tube *t); /* NUL-terminated */
size_t tube_name_len(const tube *t);
bool tube_is_paused(const tube *t);

/* ---- stats: exactly the values beanstalkd prints; formatting is the caller's ---- */

typedef struct store_stats {
    uint64_t urgent;       /* current-jobs-urgent (ready jobs with pri < 1024) */
    uint64_t ready;        /* current-jobs-ready */
    uint64_t reserved;     /* current-jobs-reserved */
    uint64_t delayed;      /* current-jobs-delayed */
    uint64_t buried;       /* current-jobs-buried */
    uint64_t total_jobs;   /* total-jobs */
    uint64_t job_timeouts; /* job-timeouts */
    uint64_t tubes;        /* current-tubes */
    uint64_t waiting;      /* current-waiting (clients in a reserve wait) */
    bool draining;         /* draining */
} store_stats;

typedef struct tube_stats {
    const char *name; /* NUL-terminated, name_len bytes */
    size_t name_len;
    uint64_t urgent, ready, reserved, delayed, buried; /* current-jobs-* */
    uint64_t total_jobs;                               /* total-jobs */
    uint64_t using;                                    /* current-using */
    uint64_t watching;                                 /* current-watching */
    uint64_t waiting;                                  /* current-waiting */
    uint64_t cmd_delete;                               /* cmd-delete */
    uint64_t cmd_pause_tube;                           /* cmd-pause-tube */
    uint64_t pause_s;                                  /* pause (0 when not paused) */
    int64_t pause_time_left_s;                         /* pause-time-left */
} tube_stats;

typedef struct job_stats {
    uint64_t id;
    const char *tube; /* NUL-terminated */
    job_state state;  /* print with job_state_name() */
    uint32_t pri;
    int64_t age_s;       /* age */
    uint32_t delay_s;    /* delay */
    uint32_t ttr_s;      /* ttr */
    int64_t time_left_s; /* time-left: reserved/delayed only, else 0 */
    uint32_t file;       /* file: job_log_segment() */
    uint32_t reserves, timeouts, releases, buries, kicks;
} job_stats;

void store_get_stats(const store *s, store_stats *out);

/* What the store's own structures hold, in bytes, allocator slack included (for metrics;
 * O(tubes + jobs / 512)). */
typedef struct store_memory {
    uint64_t records;   /* job records and exts: the slab's chunks, and malloc for big ones */
    uint64_t directory; /* id -> job pages */
    uint64_t ready;     /* every tube's ready set */
    uint64_t heaps;     /* the delay heaps' arrays and the TTR FIFOs */
} store_memory;
void store_get_memory(const store *s, store_memory *out);
void tube_get_stats(const store *s, const tube *t, tube_stats *out);
void job_get_stats(const store *s, const job *j, job_stats *out);

/* ---- write-ahead-log support ---- */

/* One job as a log replays it. A record for an id that exists updates that job in place
 * (pri, delay, ttr, state, counters; the body and tube stay); otherwise a job is made with
 * exactly this id, and later puts get ids above the largest seen. */
typedef struct store_job_record {
    uint64_t id; /* > 0 */
    const char *tube_name;
    size_t tube_name_len;
    uint32_t pri, delay_s, ttr_s;
    job_state state;      /* RESERVED is restored as READY (nobody holds it after restart) */
    uint64_t ready_in_ms; /* DELAYED: ms from now until ready (0 = due at the next tick) */
    uint64_t age_ms;      /* how old the job already is (its created time is now - age) */
    uint32_t reserves, timeouts, releases, buries, kicks;
    uint32_t log_segment;
    const char *body;
    size_t body_len;
    const char *key; /* put-unique key, key_len bytes (1..STORE_MAX_KEY); NULL = none */
    size_t key_len;
} store_job_record;

/* OK | NO_MEMORY. Never fires the journal hook. Serves waiting clients if any. *out (may
 * be NULL) is the job. A new job takes the record's key unless a live job of its tube holds
 * it (then it has none); an update in place keeps the job's key as it is. */
int store_restore_job(store *s, const store_job_record *rec, job **out);
/* Removes a job whatever its state (log replay of a delete). OK | NOT_FOUND. No journal. */
int store_forget_job(store *s, uint64_t id);
/* Calls cb for every job, in no particular order, until cb returns non-zero; returns that
 * value (or 0). cb may change a job's log segment but must not add or remove jobs. */
int store_foreach_job(store *s, int (*cb)(job *j, void *data), void *data);
/* Fault injection for tests: the n-th allocation of a job record or ext from now on and
 * every one after it fail, until store_fail_allocs_after(s, 0). */
void store_fail_allocs_after(store *s, uint64_t n);
/* Number of jobs in the store. */
size_t store_job_count(const store *s);

#endif
