/*
 * A tube's ready set: its READY jobs in beanstalkd's reserve order, (pri, id) ascending.
 *
 * Model. One bucket per distinct priority present; the buckets sit in a small binary
 * min-heap by pri and a hash table by pri, and each bucket is a 4-ary min-heap of jobs by
 * id. The id is stored next to the job pointer in the bucket's array, so ordering a bucket
 * compares integers in one array and never dereferences a job; only the job that moves
 * learns its new index (job.heap_pos). Consequences:
 *   - work at one priority never touches another priority's bucket, so a million jobs
 *     queued at pri 1000 cost nothing to put/reserve/delete at pri 0;
 *   - jobs normally arrive in increasing id order, and inserting the largest id into a
 *     min-heap stops after one comparison: put is O(1) in the common case;
 *   - released and kicked jobs keep their old ids and still come out in id order.
 * All operations are O(log n) in the bucket's length plus O(log b) in the number of
 * distinct priorities (the latter only when a bucket appears or disappears).
 *
 * Memory: a bucket that empties is kept on a short free list with its array (capped), so
 * a priority that keeps emptying and refilling allocates nothing in the steady state.
 */
#ifndef SYNQ_QUEUE_READY_H
#define SYNQ_QUEUE_READY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/hashmap.h"
#include "queue/job.h"

typedef struct ready_entry {
    uint64_t id;
    job *j;
} ready_entry;

typedef struct ready_bucket {
    uint32_t pri;
    uint32_t pos;       /* index in ready_set.buckets */
    uint32_t len, cap;
    ready_entry *items; /* 4-ary min-heap by id */
    struct ready_bucket *next_free;
} ready_bucket;

typedef struct ready_set {
    ready_bucket **buckets; /* binary min-heap by pri (pris are unique) */
    uint32_t nbuckets, bucket_cap;
    hashmap by_pri;         /* the same buckets, by pri */
    ready_bucket *spare;    /* emptied buckets kept for reuse */
    uint32_t nspare;
    size_t len;             /* jobs in all buckets */
} ready_set;

/* An empty set; allocates nothing until the first insert. */
void ready_init(ready_set *r);
/* Frees every bucket (not the jobs). The set is empty and reusable afterwards. */
void ready_dispose(ready_set *r);
/* Adds j by (j->pri, j->id) and sets j->heap_pos. j must not be in the set, and its pri and
 * id must not change while it is. false on ENOMEM (set unchanged). */
bool ready_insert(ready_set *r, job *j);
/* Removes j, which must be in the set; sets j->heap_pos to HEAP_NO_POS. Never fails. */
void ready_remove(ready_set *r, job *j);

/* The job with the lowest (pri, id), or NULL if empty. O(1). */
static inline job *ready_peek(const ready_set *r)
{
    return r->nbuckets ? r->buckets[0]->items[0].j : NULL;
}

static inline size_t ready_len(const ready_set *r)
{
    return r->len;
}

#endif
