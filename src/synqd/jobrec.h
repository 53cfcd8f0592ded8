/*
 * jobrec: a job (or a tube's settings) as a log record, and a record applied to the store.
 *
 * The write-ahead log's replay (persist.c) and a cluster follower applying a replicated entry
 * (replica.c) do the same thing: make the store hold what a record says. Both go through
 * jobrec_apply, so a follower's store is what a restart from the same records would build.
 *
 * Times: the store runs on a monotonic clock, records carry wall-clock milliseconds (a delayed
 * job's deadline must mean the same instant after a restart, or on another machine). `wall_ms`
 * is the wall clock paired with the store's current time: read it once per batch of records
 * (see persist.h, "Times").
 */
#ifndef SYNQ_QUEUE_JOBREC_H
#define SYNQ_QUEUE_JOBREC_H

#include <stdint.h>

#include "store.h"
#include "wal.h"

/* The full record of job j's current state, of `type` (WAL_REC_PUT, _STATE or _DELETE). Its
 * pointers (tube, key, body) point into the store: valid until the job changes. */
wal_record jobrec_of(const store *s, const job *j, uint8_t type, int64_t wall_ms);

/* The TUBE record of t's settings; its dead_letter points into *conf, which the caller keeps. */
wal_record jobrec_of_tube(const tube *t, store_tube_conf *conf);

/*
 * Makes the store hold what r says: a PUT creates the job (or replaces it: a migrated copy, or
 * a move to another tube), a STATE updates it, a DELETE forgets it, a TUBE configures the tube.
 * A STATE or DELETE for an id the store does not have is ignored. 0, or -ENOMEM.
 */
int jobrec_apply(store *s, const wal_record *r, int64_t wall_ms);

/*
 * Puts each tube's buried jobs in id order, the order kick and peek-buried take them in after
 * a restart: beanstalkd's replay rebuilds its buried lists in the order its binlog first names
 * each job (its put, unless compaction copied it), not in the order they were buried. Within a
 * run the order stays the burial order. The single server calls this when its log replay ends
 * (persist_open); a cluster node when it applies a LEADER entry, so every node does it at the
 * same point of the log, a whole-cluster restart ends with it, and all keep one order. Changes
 * nothing else of a job (counters, priority, age) and journals nothing. 0, or -ENOMEM (the
 * order is then partly sorted).
 */
int jobrec_bury_in_id_order(store *s, int64_t wall_ms);

#endif
