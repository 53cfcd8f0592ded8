/*
 * replog: the bytes of the replicated log, and applying them to a store.
 *
 * No server and no Raft in here, only a store and bytes, so the unit tests drive it through
 * raft/fixture.h exactly as replica.c drives it through a real cluster.
 *
 * Entry (little-endian): magic u32 "SQRE", kind u8, zero u8[3], origin u64 (a random number per
 * process: whose speculative changes these are), then
 *   CHANGES: log records back to back (wal_record_encode), what one loop pass changed;
 *   LEADER:  node id u64, address length u16, the node's client address (followers relay there);
 *   PAUSE:   pause-tube: until (wall-clock ms since the epoch) i64, name length u8, the name.
 * Snapshot: magic u32 "SQSN", version u8 (1), zero u8[3], the store's next id u64, then a TUBE
 * record per configured tube and a PUT record per job.
 * Both are zero-padded to a multiple of 8 bytes: libraft 0.15's on-disk batches pad each entry
 * to 8 and, when they reload a log at start, return entries of any other length at shifted
 * offsets. Readers stop at the padding.
 */
#ifndef SYNQ_QUEUE_REPLOG_H
#define SYNQ_QUEUE_REPLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "wal.h"

enum { REPLOG_CHANGES = 1, REPLOG_LEADER = 2, REPLOG_PAUSE = 3 };
#define REPLOG_ADDR_MAX 64 /* a LEADER entry's address, NUL included */

/* The records of one pass, growing as the journal hook adds them. */
typedef struct {
    unsigned char *buf;
    size_t len, cap;
    int err; /* the first error (-ENOMEM, -EINVAL) since replog_batch_take */
} replog_batch;

void replog_batch_add(replog_batch *b, const wal_record *r);
void replog_batch_free(replog_batch *b);

/* A CHANGES entry of the batch's records (which it then empties), in memory from cluster_alloc
 * (*len bytes, padding included); NULL when out of memory. */
unsigned char *replog_changes_entry(replog_batch *b, uint64_t origin, size_t *len);
/* A LEADER entry; NULL when out of memory or the address is too long. */
unsigned char *replog_leader_entry(uint64_t origin, uint64_t node_id, const char *address,
                                   size_t *len);

/* A PAUSE entry: tube `name` (len bytes) hands out nothing until until_wall_ms. */
unsigned char *replog_pause_entry(uint64_t origin, const char *name, size_t len,
                                  int64_t until_wall_ms, size_t *out_len);

typedef struct {
    int kind; /* REPLOG_* */
    uint64_t origin;
    const unsigned char *records; /* CHANGES: records_len bytes */
    size_t records_len;
    uint64_t leader_id; /* LEADER */
    char leader_address[REPLOG_ADDR_MAX];
    const char *tube; /* PAUSE: tube_len bytes */
    size_t tube_len;
    int64_t until_wall_ms;
} replog_entry;

/* Applies a PAUSE entry: what is left of the pause at wall_ms, rounded up to seconds (0 ends a
 * pause). Always 0: a tube this store lacks has nothing to pause. */
int replog_apply_pause(store *s, const replog_entry *e, int64_t wall_ms);

/* 0, or -EBADMSG for bytes that are not an entry. */
int replog_parse(const unsigned char *e, size_t len, replog_entry *out);

/* Memory accounting of the caller (synqd's --max-memory), told of every job a record makes
 * (held) or ends. May be NULL. */
typedef void (*replog_count_fn)(void *data, const job *j, bool held);

/* Applies the records (a CHANGES entry's) to the store, wall_ms paired with its clock (see
 * jobrec.h). 0, -EBADMSG (a damaged record: the ones before it are applied) or -ENOMEM. */
int replog_apply(store *s, const unsigned char *records, size_t len, int64_t wall_ms,
                 replog_count_fn count, void *data);

/* The store's whole state as a snapshot in memory from cluster_alloc. 0 or -ENOMEM. */
int replog_snapshot(store *s, int64_t wall_ms, unsigned char **buf, size_t *len);
/* Replaces the store's jobs with the snapshot's. The store must have no client holding a job.
 * 0, -EBADMSG or -ENOMEM. */
int replog_restore(store *s, const unsigned char *buf, size_t len, int64_t wall_ms,
                   replog_count_fn count, void *data);

/* A digest of the jobs (id, tube, state as replicated, priority, body) in id order: equal on
 * stores holding the same jobs. *jobs gets their number. O(jobs). */
uint64_t replog_digest(store *s, uint64_t *jobs);

#endif
