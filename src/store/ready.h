/*
 * A tube's ready set: its READY jobs in beanstalkd's reserve order, (pri, id) ascending.
 * It holds ids, not jobs: the store finds a job by id in its directory (jobdir.h).
 *
 * Model. One bucket per distinct priority present; the buckets sit in a small binary
 * min-heap by pri and a hash table by pri, and each bucket is a compressed ordered set of
 * ids (idset.h). Consequences:
 *   - work at one priority never touches another priority's bucket, so a million jobs
 *     queued at pri 1000 cost nothing to put/reserve/delete at pri 0;
 *   - jobs normally arrive in increasing id order and leave lowest first: an append and a
 *     removal at the front of an idset, both O(1);
 *   - released and kicked jobs keep their old ids and still come out in id order;
 *   - a queued job costs at most 2 bytes here, and 1 bit where its bucket's ids are dense.
 * Bucket operations are O(log b) in the number of distinct priorities, and only when a
 * bucket appears or disappears.
 *
 * Memory: a bucket that empties is kept, with its empty id set's container, on a short free
 * list (capped), so a priority that keeps emptying and refilling allocates nothing.
 */
#ifndef SYNQ_QUEUE_READY_H
#define SYNQ_QUEUE_READY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hashmap.h"
#include "heap.h"
#include "idset.h"

typedef struct ready_bucket {
    uint32_t pri;
    uint32_t pos; /* index in ready_set.buckets, HEAP_NO_POS when not live */
    idset ids;
    struct ready_bucket *next_free;
} ready_bucket;

typedef struct ready_set {
    heap buckets;        /* binary min-heap by pri (pris are unique) */
    hashmap by_pri;      /* the same buckets, by pri */
    ready_bucket *spare; /* emptied buckets kept for reuse */
    uint32_t nspare;
    size_t len; /* ids in all buckets */
} ready_set;

/* An empty set; allocates nothing until the first insert. */
void ready_init(ready_set *r);
/* Frees every bucket. The set is empty and reusable afterwards. */
void ready_dispose(ready_set *r);
/* Adds id at pri (not in the set). false on ENOMEM (set unchanged). */
bool ready_insert(ready_set *r, uint32_t pri, uint64_t id);
/* Removes id, which must be in the set at pri. Never fails. */
void ready_remove(ready_set *r, uint32_t pri, uint64_t id);

/* The lowest (pri, id): returns the id and sets *pri, or returns 0 if the set is empty. */
static inline uint64_t ready_peek(const ready_set *r, uint32_t *pri)
{
    const ready_bucket *b = heap_peek(&r->buckets);
    if (!b)
        return 0;
    *pri = b->pri;
    return idset_min(&b->ids);
}

static inline size_t ready_len(const ready_set *r)
{
    return r->len;
}

/* Bytes allocated by the set. */
size_t ready_footprint(const ready_set *r);

#endif
