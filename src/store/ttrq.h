/*
 * The store's reserved jobs in expiry order (deadline, then seq), for TTR timeouts.
 *
 * Model. Jobs reserved with the same TTR expire in the order they were reserved, because the
 * store clock only goes forward and a touch re-reserves at the back. So each TTR value in use
 * has a FIFO of exts (linked through their ttr_link), and a small binary heap orders the
 * FIFOs by their first job. Reserving appends, and a delete, release, bury or touch unlinks
 * in O(1); the heap moves only when a FIFO's first job changes, O(log v) for v distinct TTR
 * values in use (usually one or two). A single heap of every reserved job cost O(log n)
 * compares per unlink, 8% of synqd's instructions in a cycle benchmark.
 *
 * Memory: a FIFO that empties is kept for reuse while at most TTRQ_SPARE FIFOs are empty;
 * past that it is freed, so clients using many TTR values do not accumulate FIFOs.
 */
#ifndef SYNQ_QUEUE_TTRQ_H
#define SYNQ_QUEUE_TTRQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hashmap.h"
#include "heap.h"
#include "job.h"

#define TTRQ_SPARE 8

typedef struct ttrq {
    hashmap by_ttr; /* the FIFOs by TTR value */
    heap heads;     /* the non-empty FIFOs by their first job's (deadline, seq) */
} ttrq;

/* FIFOs kept while empty: those in by_ttr but not in heads. */
static inline size_t ttrq_empty_fifos(const ttrq *q)
{
    return q->by_ttr.len - q->heads.len;
}

void ttrq_init(ttrq *q);
/* Frees the FIFOs (not the exts). */
void ttrq_dispose(ttrq *q);
/* Makes sure ttrq_add(q, ttr_s, ...) cannot fail: a FIFO for ttr_s and room for it in the
 * heap. false on ENOMEM, with nothing that matters changed. */
bool ttrq_prepare(ttrq *q, uint32_t ttr_s);
/* Appends x, whose deadline_ms and seq are set and are the latest of its TTR value. */
void ttrq_add(ttrq *q, uint32_t ttr_s, job_ext *x);
/* Moves x, already added with ttr_s, to the back after its deadline_ms and seq were set
 * anew (touch). Never fails. */
void ttrq_requeue(ttrq *q, uint32_t ttr_s, job_ext *x);
/* Unlinks x, which was added with ttr_s. Never fails. */
void ttrq_remove(ttrq *q, uint32_t ttr_s, job_ext *x);
/* The reserved job that expires first, or NULL. */
job_ext *ttrq_peek(const ttrq *q);
/* Bytes allocated. */
size_t ttrq_footprint(const ttrq *q);

#endif
