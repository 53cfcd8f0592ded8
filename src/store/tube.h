/*
 * The tube record (internal to the store). A tube owns a ready set (pri, id; see ready.h), a
 * delay heap of job exts (deadline, id), a buried FIFO of exts and the FIFO of clients waiting on
 * it. It also sits in up to three store-wide heaps, each with its own position field:
 *   - delay_tubes, keyed by the deadline of its soonest delayed job (present iff it has one),
 *     which finds the globally soonest delayed job in O(1) and keeps updates O(log tubes);
 *   - pause_tubes, keyed by unpause_ms (present iff paused);
 *   - await_tubes, keyed by its best ready job (present iff it has ready jobs, waiting
 *     clients and is not paused): the top is the job beanstalkd's process_queue hands out.
 *
 * The listing index (list-jobs): one idset per state of the ids of the tube's jobs in that
 * state, so a page in id order costs O(count) whatever else the store holds. It costs about
 * 2 bytes a job, and an add can fail for memory; the index is best-effort: a failed add drops
 * that state's set and marks it unindexed, list-jobs then walks the job directory as before
 * (correct, but O(ids passed)), and the state is indexed again once its last job leaves it
 * (an empty set is complete). No state change fails because of the index. Reserved jobs are
 * indexed only once someone lists them (list_reserved): a reserve and a delete come in any
 * order, so keeping that set costs a shift inside an id container on every delete, which
 * the plain put-reserve-delete path should not pay for a listing nobody asked for. The
 * first reserved page builds the set from the clients' reserved lists (store_bulk.c).
 *
 * Lifetime: refs counts clients using it, clients watching it, its jobs, and the store's pin
 * on "default". At zero the store destroys it.
 */
#ifndef SYNQ_QUEUE_TUBE_H
#define SYNQ_QUEUE_TUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap.h"
#include "idset.h"
#include "job.h"
#include "list.h"
#include "ready.h"
#include "store.h"
#include "watch.h"

struct tube {
    ready_set ready;
    heap delay;
    job_list buried;
    list waiters;        /* watches of the clients waiting here, longest-waiting first */
    list idle_watches;   /* watches not armed in their client's live list (watch.h) */
    uint64_t unpause_ms; /* valid while pause_ms != 0 */
    uint64_t pause_ms;   /* length of the current pause; 0 = not paused */
    uint64_t refs;
    uint64_t using_ct, watching_ct, waiting_ct;
    uint64_t urgent_ct, reserved_ct, buried_ct, total_jobs, delete_ct, pause_ct;
    uint32_t delay_pos, pause_pos, await_pos; /* positions in the store heaps */
    uint32_t list_pos;                        /* index in the store's tube list */
    uint32_t ix;                              /* stable index: jobs name their tube by it */
    uint64_t seq;                             /* creation number (store_tube_scan) */
    idset by_state[4];                        /* the listing index, by job_state (see above) */
    uint8_t unindexed;      /* bit st: by_state[st] is incomplete, list-jobs walks instead */
    bool list_reserved;     /* reserved jobs indexed (a reserved page was asked for) */
    struct tube_lat *lat;   /* last-minute latency rings, once tube-info asked; tube_lat.h */
    struct tube_conf *conf; /* tube-set settings (tube_settings.h); NULL = all defaults */
    bool held;              /* at its max-reserved cap or out of rate tokens: not live */
    size_t name_len;
    char name[]; /* NUL-terminated */
};

/* A tube with no jobs, no refs and a copy of the name. NULL on ENOMEM. */
tube *tube_alloc(const char *name, size_t len);
/* Frees the tube's arrays and the tube (jobs and watches are the store's business). */
void tube_destroy(tube *t);

/* Jobs of t in state st. */
static inline size_t tube_count_in(const tube *t, job_state st)
{
    switch (st) {
    case JOB_READY:
        return ready_len(&t->ready);
    case JOB_DELAYED:
        return t->delay.len;
    case JOB_BURIED:
        return t->buried.len;
    case JOB_RESERVED:
        return t->reserved_ct;
    }
    return 0;
}

/* The listing index follows a job into state st / out of it (after its count changed). */
static inline void tube_index_add(tube *t, job_state st, uint64_t id)
{
    if (t->unindexed & (1u << st))
        return;
    if (!idset_add(&t->by_state[st], id)) {
        idset_dispose(&t->by_state[st]);
        t->unindexed |= (uint8_t)(1u << st);
    }
}

static inline void tube_index_remove(tube *t, job_state st, uint64_t id)
{
    if (!(t->unindexed & (1u << st)))
        (void)idset_remove(&t->by_state[st], id);
    else if (tube_count_in(t, st) == 0 && (st != JOB_RESERVED || t->list_reserved))
        t->unindexed &= (uint8_t) ~(1u << st);
}

/* The longest-waiting client's watch, or NULL. */
static inline watch *tube_first_waiter(const tube *t)
{
    return LIST_ENTRY_OR_NULL(t->waiters.first, watch, link);
}

void tube_waiter_append(tube *t, watch *w);
void tube_waiter_remove(tube *t, watch *w);

/* Store-heap orders (see the module comment). */
bool tube_delay_less(const void *a, const void *b);
bool tube_pause_less(const void *a, const void *b);
bool tube_await_less(const void *a, const void *b);

/* hashmap callbacks for the name table; the key is a const tube_key *. */
typedef struct tube_key {
    const char *name;
    size_t len;
} tube_key;
uint64_t tube_hash(const void *item);
bool tube_name_eq(const void *item, const void *key);

#endif
