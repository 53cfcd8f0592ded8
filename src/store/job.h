/*
 * The job record (internal to the store), laid out for memory: a queued job is mostly a
 * fresh READY job that nobody has touched, and that case costs 28 bytes plus the body.
 *
 * Two parts:
 *   - `job`, allocated from the store's slab (see slab.h) at exactly
 *     job_record_size(body_len, has_seg) bytes: id, pri, ttr, body length, creation time,
 *     tube index and state packed in one word, then the body, then (only in a store with
 *     a log, see store_track_log_segments) the 4-byte log segment, unaligned;
 *   - `job_ext`, everything a job needs only once something has happened to it: its
 *     deadline, reserver, list links, heap position, the delay it was given and its five
 *     stats-job counters. It is made the first time a job is delayed, reserved, buried or
 *     kicked, and lives until the job is deleted.
 * The store's directory (jobdir.h) maps an id to the job, or to its ext (low bit set) once
 * it has one; the ext points back at the job. So no field is spent on a pointer to the ext,
 * and a job whose ext is wanted is found by id.
 *
 * Containers, by state: READY -> its tube's ready set (ids only, see ready.h); DELAYED ->
 * its tube's delay heap; RESERVED -> the store's TTR FIFOs (ttrq.h) and its reserver's list;
 * BURIED -> its tube's buried list. Heaps and lists hold exts.
 */
#ifndef SYNQ_QUEUE_JOB_H
#define SYNQ_QUEUE_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "list.h"
#include "store.h"

/* Creation time is kept in quanta of 2^JOB_TIME_SHIFT ms from the store's epoch, rounded
 * down, so an age is overstated by less than 128 ms: a job asked about right after its put
 * still has age 0. 32 bits of 128 ms span 17 years around the epoch. */
#define JOB_TIME_SHIFT 7
#define JOB_MAX_TUBES (1u << 24)

struct job {
    uint32_t id_lo, id_hi; /* two halves: the record needs only 4-byte alignment */
    uint32_t pri;
    uint32_t ttr_s;
    uint32_t body_len;
    uint32_t created_q;    /* see JOB_TIME_SHIFT */
    uint32_t tube_ix : 24; /* the store's stable tube index */
    uint32_t state : 2;    /* job_state */
    uint32_t has_ext : 1;
    uint32_t has_seg : 1;
    uint32_t has_key : 1;   /* the record ends in a put-unique key (store_key.c) */
    uint32_t key_owner : 1; /* the key is in the store's key table (a move may drop it) */
    char body[]; /* body_len bytes, then the log segment if has_seg, then the key if has_key:
                  * its length (1 byte) and its bytes */
};

typedef struct job_ext {
    job *j;
    uint64_t deadline_ms; /* DELAYED: ready time; RESERVED: TTR end; else 0 */
    uint64_t seq;         /* when deadline_ms was set, in the store's order of events */
    client *reserver;     /* RESERVED only */
    list_node link;       /* BURIED: tube's list; RESERVED: reserver's list */
    list_node ttr_link;   /* RESERVED: its TTR value's FIFO (ttrq.h) */
    uint32_t heap_pos;    /* in its tube's delay heap, or HEAP_NO_POS */
    uint32_t delay_s;
    uint32_t reserved_at; /* RESERVED: the low 32 bits of the store's ms at the reserve */
    uint32_t reserves, timeouts, releases, buries, kicks;
} job_ext;
_Static_assert(sizeof(job_ext) <= 96, "an ext stays in its 96-byte slab class");

/* A FIFO of exts through their `link` (base/list.h), with its length. */
typedef struct job_list {
    list exts;
    size_t len;
} job_list;

/* The first ext of l, or NULL. */
static inline job_ext *job_list_first(const job_list *l)
{
    return LIST_ENTRY_OR_NULL(l->exts.first, job_ext, link);
}

/* The ext after x on its list, or NULL. */
static inline job_ext *job_list_next(const job_ext *x)
{
    return LIST_ENTRY_OR_NULL(x->link.next, job_ext, link);
}

void job_list_append(job_list *l, job_ext *x);
void job_list_remove(job_list *l, job_ext *x);

static inline size_t job_record_size(size_t body_len, bool has_seg)
{
    return offsetof(job, body) + body_len + (has_seg ? 4 : 0);
}

/* Where the key's length byte sits (only meaningful with has_key). */
static inline const unsigned char *job_key_at(const job *j)
{
    return (const unsigned char *)j->body + j->body_len + (j->has_seg ? 4 : 0);
}

/* The record's size as allocated: job_record_size plus the key, if any. */
static inline size_t job_size(const job *j)
{
    return job_record_size(j->body_len, j->has_seg) + (j->has_key ? 1u + *job_key_at(j) : 0);
}

static inline uint64_t job_id_of(const job *j)
{
    return (uint64_t)j->id_hi << 32 | j->id_lo;
}

/* Order of the delay heaps and the TTR FIFOs: (deadline_ms, seq). beanstalkd keeps deadlines in
 * nanoseconds, so two jobs given the same delay a moment apart never tie there: the one
 * scheduled first comes first (peek-delayed, kick). Milliseconds do tie, and breaking the
 * tie by the order the deadlines were set gives beanstalkd's answer; breaking it by id
 * did not. */
bool job_ext_deadline_less(const void *a, const void *b);

#endif
