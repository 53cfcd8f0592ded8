/*
 * persist: connects a store (queue state in memory) to a write-ahead log.
 *
 * At start, persist_open() replays the log into the store with
 * store_restore_job/store_forget_job, then puts each tube's buried jobs in id
 * order, as beanstalkd's restart does (jobrec_bury_in_id_order). While the server runs, the store's
 * journal hook calls persist_journal() for every change, which appends the
 * matching record (no system call); the server calls persist_flush() once
 * per event-loop pass, before it sends the replies of the commands it ran
 * (group commit), and persist_tick() from a timer for interval fsync and
 * compaction.
 *
 * Times: the store runs on a monotonic clock; the log stores wall-clock
 * milliseconds (a delayed job's deadline must survive a restart), converted
 * here with the wall clock at the moment of the append or replay. The store's
 * clock must be current when persist_open() is called (for the server, just
 * after sq_loop_update_time()): the replay pairs it with one wall-clock reading
 * taken then, so the time the replay itself takes cannot make a delayed job's
 * deadline come early.
 *
 * Errors: the journal hook cannot return one, so persist keeps the first
 * append error of the current command for persist_take_error(). A put that
 * got -ENOSPC is not in the log: the server must store_forget_job() it and
 * answer OUT_OF_MEMORY. Any other error means the log has failed: the server
 * must not acknowledge anything any more.
 */
#ifndef SYNQ_QUEUE_PERSIST_H
#define SYNQ_QUEUE_PERSIST_H

#include <stdint.h>

#include "store.h"
#include "wal.h"

typedef struct persist persist;

typedef struct {
    wal_opts wal;                   /* directory, segment size, fsync mode, I/O table */
    int64_t (*wall_ms)(void *data); /* wall clock, ms since the epoch; NULL = CLOCK_REALTIME
                                       (synqd passes wallclock_now_ms: wallclock.h) */
    void *clock_data;
    size_t compact_batch; /* most jobs migrated per persist_tick; 0 = 1024 */
} persist_opts;

/*
 * Opens the log and replays it into `s` (which should be empty and must
 * outlive the persist). `report` may be NULL. Returns 0 and *out, or a
 * negative errno as wal_open (-ENOMEM also when the store runs out).
 */
int persist_open(const persist_opts *o, store *s, wal_open_report *report, persist **out);

/* Flushes, syncs and closes the log; frees p. Returns wal_close's result. */
int persist_close(persist *p);

/* The store's journal hook, forwarded: appends the record for `op` on `j`. */
void persist_journal(persist *p, const job *j, int op);

/* The store's tube_journal hook, forwarded: appends the tube's TUBE record (its settings). */
void persist_journal_tube(persist *p, const tube *t);

/* The first append error since the last call (0 if none), and clears it. */
int persist_take_error(persist *p);

/* Writes the batch (and syncs it in ALWAYS mode). 0 or -errno. */
int persist_flush(persist *p);

/* Timer work: interval fsync, then one bounded compaction step. 0 or -errno. */
int persist_tick(persist *p, uint64_t now_ms);

/* When persist_tick should next run (UINT64_MAX = only compaction pending: any time). */
uint64_t persist_next_deadline_ms(const persist *p);

/* The log, for stats and failure checks. */
wal *persist_wal(persist *p);

#endif
