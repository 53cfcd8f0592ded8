/*
 * Bulk operations on one tube's jobs (synqd's extensions flush-tube, list-jobs, move-jobs): the
 * same container moves as the commands in store_cmd.c, applied to many jobs, each call doing a
 * bounded amount of work so that the caller can spread a big operation over loop passes.
 *
 * Which job goes next follows each container's own order, the one kick and peek use: ready
 * jobs by (pri, id), delayed jobs soonest first, buried jobs oldest burial first. None of it
 * needs a new index. list-jobs, which must answer in id order, reads the tube's listing index
 * (tube.h), and walks the job directory from the caller's after-id only where that index is
 * incomplete (see store_list_jobs in store.h for the bound each gives).
 */
#include "check.h"
#include "store_int.h"

/* The job of t in state st that the bulk operations take next, or NULL. */
static job *first_in_state(store *s, tube *t, job_state st)
{
    switch (st) {
    case JOB_READY: {
        uint32_t pri;
        uint64_t id = ready_peek(&t->ready, &pri);
        return id ? store_find_job(s, id) : NULL;
    }
    case JOB_DELAYED: {
        job_ext *x = heap_peek(&t->delay);
        return x ? x->j : NULL;
    }
    case JOB_BURIED: {
        job_ext *x = job_list_first(&t->buried);
        return x ? x->j : NULL;
    }
    case JOB_RESERVED:
        break;
    }
    return NULL;
}

uint64_t store_tube_jobs_in(store *s, const char *name, size_t len, unsigned states)
{
    const tube *t = store__tube_get(s, name, len, false);
    uint64_t n = 0;
    for (int st = JOB_READY; t && st <= JOB_BURIED; st++) {
        if (states & STORE_STATE_BIT(st))
            n += tube_count_in(t, (job_state)st);
    }
    return n;
}

job *store_tube_first(store *s, const char *name, size_t len, job_state st)
{
    tube *t = store__tube_get(s, name, len, false);
    return t ? first_in_state(s, t, st) : NULL;
}

job *store_tube_next_buried(const store *s, const tube *t, const job *j)
{
    const job_ext *x = j ? job_list_next(store__ext(s, j)) : job_list_first(&t->buried);
    return x ? x->j : NULL;
}

uint32_t store_flush_some(store *s, const char *name, size_t len, unsigned states, uint32_t max)
{
    tube *t = store__tube_get(s, name, len, false);
    if (!t)
        return 0;
    /* The last job's destroy would free the tube under the loop: hold it until the end. */
    store__tube_ref(t);
    uint32_t n = 0;
    for (int st = JOB_READY; st <= JOB_BURIED && n < max; st++) {
        if (st == JOB_RESERVED || !(states & STORE_STATE_BIT(st)))
            continue;
        job *j;
        while (n < max && (j = first_in_state(s, t, (job_state)st))) {
            store__unlink(s, j, store__ext(s, j));
            store__journal(s, j, STORE_OP_DELETE);
            store__destroy_job(s, j);
            n++;
        }
    }
    store__tube_unref(s, t);
    return n;
}

/* Gives j to tube `to` without changing its state: out of its container, the tube reference
 * and index swapped, into the same kind of container of `to`. Counters, pri, id and a delayed
 * job's deadline stay as they were. */
static void retube(store *s, job *j, job_ext *x, tube *to)
{
    tube *from = store__tube_of(s, j);
    job_state st = (job_state)j->state;
    uint64_t deadline = x ? x->deadline_ms : 0;
    if (st == JOB_RESERVED) {
        /* Not in a tube container: only the per-tube count and index follow it (a rollback). */
        from->reserved_ct--;
        tube_index_remove(from, JOB_RESERVED, job_id_of(j));
        to->reserved_ct++;
        tube_index_add(to, JOB_RESERVED, job_id_of(j));
    } else {
        store__unlink(s, j, x);
    }
    store__tube_ref(to);
    j->tube_ix = to->ix & (JOB_MAX_TUBES - 1);
    store__tube_unref(s, from); /* the caller holds its own reference on `from` */
    switch (st) {
    case JOB_READY:
        if (!store__make_ready(s, j))
            store__make_buried(s, j, x); /* the ready set could not grow: as release does */
        break;
    case JOB_DELAYED:
        if (!store__make_delayed(s, j, x, deadline))
            store__make_buried(s, j, x);
        break;
    case JOB_BURIED: {
        uint32_t buries = x->buries; /* a move is not a burial */
        store__make_buried(s, j, x);
        x->buries = buries;
        break;
    }
    case JOB_RESERVED:
        break;
    }
}

int store_move_job(store *s, job *j, const char *to, size_t to_len, bool journal)
{
    tube *from = store__tube_of(s, j);
    /* The ready set or delay heap of `to` can fail to grow; the job is then buried, which
     * needs an ext: made first, so that a failure changes nothing. */
    job_ext *x = store__ext_make(s, j);
    if (!x)
        return STORE_NO_MEMORY;
    tube *t = store__tube_get(s, to, to_len, true);
    if (!t)
        return STORE_NO_MEMORY;
    if (t == from)
        return STORE_OK;
    /* The key's slot in the table is hashed by tube: it is taken out before the tube changes
     * and claimed again after, which cannot fail once a slot is reserved. */
    bool keyed = j->key_owner;
    if (keyed && !store__key_reserve(s)) {
        if (!t->refs) {
            store__tube_ref(t); /* drop a tube made here for nothing */
            store__tube_unref(s, t);
        }
        return STORE_NO_MEMORY;
    }
    store__key_release(s, j);
    store__tube_ref(from);
    store__tube_ref(t); /* a tube made here has no reference until the job is in it */
    retube(s, j, x, t);
    if (keyed)
        (void)store__key_claim(s, j); /* false: a job of `to` holds the key; j loses it */
    if (journal)
        store__journal(s, j, STORE_OP_MOVE);
    store__tube_unref(s, t);
    store__tube_unref(s, from);
    store__serve_waiters(s);
    return STORE_OK;
}

/* The first reserved page of t: its reserved jobs into its index, O(jobs reserved in the
 * store), once. From then on the container moves keep it. */
static void index_reserved(store *s, tube *t)
{
    t->list_reserved = true;
    for (list_node *n = s->clients.first; n; n = n->next) {
        const client *c = LIST_ENTRY(n, client, link);
        for (job_ext *x = job_list_first(&c->reserved); x; x = job_list_next(x)) {
            if (store__tube_of(s, x->j) != t)
                continue;
            if (!idset_add(&t->by_state[JOB_RESERVED], job_id_of(x->j))) {
                idset_dispose(&t->by_state[JOB_RESERVED]); /* stays unindexed: the walk */
                return;
            }
        }
    }
    t->unindexed &= (uint8_t) ~(1u << JOB_RESERVED);
}

size_t store_list_jobs(store *s, const char *name, size_t len, job_state st, uint64_t after_id,
                       size_t max, int (*cb)(const job *j, void *data), void *data)
{
    tube *t = store__tube_get(s, name, len, false);
    if (!t || !tube_count_in(t, st))
        return 0;
    if (st == JOB_RESERVED && !t->list_reserved)
        index_reserved(s, t);
    size_t found = 0;
    uint64_t id = after_id;
    if (!(t->unindexed & (1u << st))) {
        while (found < max && (id = idset_next(&t->by_state[st], id))) {
            job_ext *x;
            const job *j = store__find(s, id, &x);
            s->list_looks++;
            found++;
            if (cb(j, data))
                break;
        }
        return found;
    }
    uintptr_t v; /* the index is incomplete: every id after after_id, filtered */
    while (found < max && (v = (uintptr_t)jobdir_next(&s->dir, &id))) {
        const job *j = v & 1 ? ((job_ext *)(v & ~(uintptr_t)1))->j : (job *)v;
        s->list_looks++;
        if (store__tube_of(s, j) != t || (job_state)j->state != st)
            continue;
        found++;
        if (cb(j, data))
            break;
    }
    return found;
}
