/*
 * The store's job table: jobs by id, open addressing with linear probing and backward-shift
 * deletion (no tombstones), like hashmap.h but with each job's id stored next to its
 * pointer. Probing and the deletion shift then compare and rehash ids inside the table and
 * never dereference a job that is not the one asked for: with a million cold jobs queued, a
 * lookup or delete touches the table's cache line and the job itself, nothing else.
 * 16 bytes a slot; grows by doubling at 3/4 load; never shrinks.
 */
#ifndef SYNQ_QUEUE_JOBTAB_H
#define SYNQ_QUEUE_JOBTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/job.h"

typedef struct jobtab_slot {
    uint64_t id; /* 0 = empty (job ids start at 1) */
    job *j;
} jobtab_slot;

typedef struct jobtab {
    jobtab_slot *slots;
    size_t cap; /* 0 or a power of two */
    size_t len;
} jobtab;

/* An empty table; allocates nothing until the first insert. */
void jobtab_init(jobtab *t);
/* Frees the table (not the jobs). */
void jobtab_dispose(jobtab *t);
/* The job with this id, or NULL. */
job *jobtab_find(const jobtab *t, uint64_t id);
/* Adds j (j->id > 0, not present). false on ENOMEM (table unchanged). */
bool jobtab_insert(jobtab *t, job *j);
/* Removes the job with j's id. false if absent. */
bool jobtab_remove(jobtab *t, const job *j);
/* Iteration: slot i in [0, cap) holds a job or NULL. */
static inline job *jobtab_slot_job(const jobtab *t, size_t i)
{
    return t->slots[i].id ? t->slots[i].j : NULL;
}

#endif
