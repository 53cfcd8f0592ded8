/*
 * TTR FIFOs (see ttrq.h). Invariants: a FIFO is in `heads` iff it is non-empty, at heap_pos;
 * within a FIFO (deadline_ms, seq) increases from head to tail.
 */
#include "ttrq.h"

#include <stdlib.h>

#include "check.h"

typedef struct fifo {
    uint32_t ttr_s;
    uint32_t heap_pos;
    list exts; /* through their ttr_link, (deadline_ms, seq) increasing */
} fifo;

/* The FIFO's first ext, or NULL when it is empty. */
static job_ext *fifo_first(const fifo *f)
{
    return LIST_ENTRY_OR_NULL(f->exts.first, job_ext, ttr_link);
}

static uint64_t fifo_hash(const void *item)
{
    return hashmap_hash_u64(((const fifo *)item)->ttr_s);
}

static bool fifo_ttr_eq(const void *item, const void *key)
{
    return ((const fifo *)item)->ttr_s == *(const uint32_t *)key;
}

static bool fifo_less(const void *a, const void *b)
{
    return job_ext_deadline_less(fifo_first(a), fifo_first(b));
}

static fifo *find(const ttrq *q, uint32_t ttr_s)
{
    return hashmap_find(&q->by_ttr, hashmap_hash_u64(ttr_s), &ttr_s);
}

void ttrq_init(ttrq *q)
{
    hashmap_init(&q->by_ttr, fifo_hash, fifo_ttr_eq);
    heap_init(&q->heads, fifo_less, offsetof(fifo, heap_pos));
}

void ttrq_dispose(ttrq *q)
{
    for (size_t i = 0; i < q->by_ttr.cap; i++)
        free(hashmap_slot(&q->by_ttr, i));
    hashmap_dispose(&q->by_ttr);
    heap_dispose(&q->heads);
}

bool ttrq_prepare(ttrq *q, uint32_t ttr_s)
{
    if (find(q, ttr_s))
        return true;
    if (!heap_reserve(&q->heads, (size_t)q->by_ttr.len + 1))
        return false;
    fifo *f = calloc(1, sizeof(*f));
    if (!f)
        return false;
    f->ttr_s = ttr_s;
    f->heap_pos = HEAP_NO_POS;
    if (!hashmap_insert(&q->by_ttr, f)) {
        free(f);
        return false;
    }
    return true;
}

void ttrq_add(ttrq *q, uint32_t ttr_s, job_ext *x)
{
    fifo *f = find(q, ttr_s);
    SQ_CHECK(f != NULL, "ttrq: add without prepare");
    bool was_empty = list_empty(&f->exts);
    list_append(&f->exts, &x->ttr_link);
    if (!was_empty)
        return;
    heap_insert(&q->heads, f); /* room reserved by ttrq_prepare when the FIFO was made */
}

void ttrq_remove(ttrq *q, uint32_t ttr_s, job_ext *x)
{
    fifo *f = find(q, ttr_s);
    SQ_CHECK(f != NULL && !list_empty(&f->exts), "ttrq: remove of a job not added");
    bool was_head = f->exts.first == &x->ttr_link;
    list_remove(&f->exts, &x->ttr_link);
    if (!list_empty(&f->exts)) {
        if (was_head)
            heap_fix(&q->heads, f->heap_pos);
        return;
    }
    heap_remove(&q->heads, f->heap_pos);
    if (ttrq_empty_fifos(q) <= TTRQ_SPARE)
        return;
    hashmap_remove(&q->by_ttr, f);
    free(f);
}

void ttrq_requeue(ttrq *q, uint32_t ttr_s, job_ext *x)
{
    fifo *f = find(q, ttr_s);
    SQ_CHECK(f != NULL && !list_empty(&f->exts), "ttrq: requeue of a job not added");
    if (f->exts.last != &x->ttr_link) {
        list_remove(&f->exts, &x->ttr_link);
        list_append(&f->exts, &x->ttr_link);
    }
    heap_fix(&q->heads, f->heap_pos); /* the first job, or its deadline, may have changed */
}

job_ext *ttrq_peek(const ttrq *q)
{
    const fifo *f = heap_peek(&q->heads);
    return f ? fifo_first(f) : NULL;
}

size_t ttrq_footprint(const ttrq *q)
{
    return q->by_ttr.cap * sizeof(void *) + q->by_ttr.len * sizeof(fifo) +
           (size_t)q->heads.cap * sizeof(void *);
}
