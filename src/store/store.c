/*
 * The store's state machine: containers, counters, tube lifetimes and time (the clients and
 * their waits: store_client.c).
 * The commands built on these moves are in store_cmd.c.
 *
 * Invariants kept by every move (store__make_*, store__unlink):
 *   - a job is in exactly the container its state names (see job.h), and the global and
 *     per-tube counters equal the container sizes;
 *   - a tube is in delay_tubes iff it has delayed jobs, in pause_tubes iff paused, and in
 *     await_tubes iff it has ready jobs, waiting clients and no pause;
 *   - a client is in wait_clients iff it waits and has something to time out (a wait
 *     deadline, or a reserved job whose DEADLINE_SOON moment will come).
 * Outside a store call, await_tubes is empty except for what store__serve_waiters() has yet
 * to see: every call that can make a job ready ends by serving waiters, so no client waits
 * while a job it could take is ready (beanstalkd runs process_queue after every enqueue).
 *
 * Capacity: the tube heaps are grown to the number of tubes at tube creation, so
 * rescheduling a tube never fails for lack of memory; the tube tables shrink again when the
 * number of tubes falls far (shrink_tube_tables). A job's ext and its TTR FIFO
 * are secured before a move that needs them (store__prepare_reserve, store__ext_make), so a
 * command either fails with nothing changed or completes. Growth of a ready set or delay
 * heap can fail mid-move; then the job is buried, as beanstalkd does.
 */
#include "store_int.h"
#include "tube_lat.h"
#include "vec.h"

#include <stdlib.h>
#include <string.h>

uint64_t store__now(const store *s)
{
    return s->hooks.now_ms(s->data);
}

uint64_t store_now_ms(const store *s)
{
    return store__now(s);
}

void store__journal(store *s, const job *j, int op)
{
    if (s->hooks.journal)
        s->hooks.journal(s, j, op, s->data);
}

/* ---- store lifecycle ---- */

static bool client_tick_less(const void *a, const void *b)
{
    const client *x = a, *y = b;
    if (x->tick_ms != y->tick_ms)
        return x->tick_ms < y->tick_ms;
    return x < y;
}

store *store_new(const store_hooks *hooks, void *data)
{
    store *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->hooks = *hooks;
    s->data = data;
    s->next_id = 1;
    s->conf_due_ms = UINT64_MAX;
    /* The epoch is 2^31 quanta before now: creation times fit 8.7 years either side. */
    s->epoch_ms = (int64_t)store__now(s) - ((int64_t)1 << (31 + JOB_TIME_SHIFT));
    jobdir_init(&s->dir);
    s->mem = slab_new();
    if (!s->mem) {
        free(s);
        return NULL;
    }
    hashmap_init(&s->names, tube_hash, tube_name_eq);
    store__keys_init(s);
    heap_init(&s->delay_tubes, tube_delay_less, offsetof(tube, delay_pos));
    heap_init(&s->pause_tubes, tube_pause_less, offsetof(tube, pause_pos));
    heap_init(&s->await_tubes, tube_await_less, offsetof(tube, await_pos));
    ttrq_init(&s->ttr);
    heap_init(&s->wait_clients, client_tick_less, offsetof(client, tick_pos));
    /* "default" is pinned by the store (beanstalkd holds a reference for new clients). */
    s->default_tube = store__tube_get(s, "default", 7, true);
    if (!s->default_tube) {
        store_free(s);
        return NULL;
    }
    store__tube_ref(s->default_tube);
    return s;
}

void store_free(store *s)
{
    if (!s)
        return;
    /* The list goes with the store, so its clients are freed without unlinking each. */
    for (list_node *n = s->clients.first, *next; n; n = next) {
        next = n->next;
        client *c = LIST_ENTRY(n, client, link);
        for (size_t i = 0; i < c->watch_len; i++)
            free(c->watches[i]);
        free(c->watches);
        free(c);
    }
    for (size_t i = 0; i < s->tube_len; i++)
        tube_destroy(s->tubes[i]);
    free(s->tubes);
    free(s->tube_slots);
    free(s->free_ix);
    jobdir_dispose(&s->dir);
    slab_destroy(s->mem); /* every job record and ext at once */
    hashmap_dispose(&s->names);
    hashmap_dispose(&s->keys);
    heap_dispose(&s->delay_tubes);
    heap_dispose(&s->pause_tubes);
    heap_dispose(&s->await_tubes);
    ttrq_dispose(&s->ttr);
    heap_dispose(&s->wait_clients);
    free(s);
}

void store_set_draining(store *s, bool on)
{
    s->draining = on;
}

bool store_draining(const store *s)
{
    return s->draining;
}

job *store_job_after(store *s, uint64_t *id)
{
    uintptr_t v = (uintptr_t)jobdir_next(&s->dir, id);
    if (!v)
        return NULL;
    return v & 1 ? ((job_ext *)(v & ~(uintptr_t)1))->j : (job *)v;
}

uint64_t store_next_id(const store *s)
{
    return s->next_id;
}

void store_set_replica(store *s, bool on)
{
    s->replica = on;
    if (!on)
        s->conf_due_ms = 0; /* the expiry sweep it skipped runs at the next tick */
}

void store_set_holding(store *s, bool on)
{
    s->holding = on;
    if (!on)
        store__serve_waiters(s);
}

bool store_holding(const store *s)
{
    return s->holding;
}

size_t store_job_count(const store *s)
{
    return jobdir_len(&s->dir);
}

void store_fail_allocs_after(store *s, uint64_t n)
{
    slab_fail_after(s->mem, n);
}

void store_track_log_segments(store *s)
{
    s->log_segments = true;
}

/* ---- tubes ---- */

/* Adds free tube indexes (jobs name their tube by a 24-bit index, see job.h). */
static bool grow_tube_slots(store *s)
{
    /* Both arrays grow by the same rule from the same capacity, so they agree. */
    size_t need = (size_t)s->slot_cap + 1, cap = s->slot_cap;
    tube **slots = vec_grow(s->tube_slots, &cap, need, sizeof(tube *), 16, JOB_MAX_TUBES);
    if (!slots)
        return false;
    s->tube_slots = slots;
    cap = s->slot_cap;
    uint32_t *free_ix = vec_grow(s->free_ix, &cap, need, sizeof(*free_ix), 16, JOB_MAX_TUBES);
    if (!free_ix)
        return false;
    s->free_ix = free_ix;
    for (uint32_t ix = cap; ix-- > s->slot_cap;) {
        slots[ix] = NULL;
        free_ix[s->nfree++] = ix;
    }
    s->slot_cap = cap;
    return true;
}

tube *store__tube_get(store *s, const char *name, size_t len, bool create)
{
    tube_key key = {name, len};
    tube *t = hashmap_find(&s->names, hashmap_hash_bytes(name, len), &key);
    if (t || !create)
        return t;
    size_t n = s->tube_len + 1;
    /* Reserve room in every tube heap now so that scheduling never fails later. */
    if (!heap_reserve(&s->delay_tubes, n) || !heap_reserve(&s->pause_tubes, n) ||
        !heap_reserve(&s->await_tubes, n))
        return NULL;
    tube **tubes = vec_grow(s->tubes, &s->tube_cap, n, sizeof(tube *), 8, SIZE_MAX);
    if (!tubes)
        return NULL;
    s->tubes = tubes;
    if (!s->nfree && !grow_tube_slots(s))
        return NULL;
    t = tube_alloc(name, len);
    if (!t)
        return NULL;
    if (!hashmap_insert(&s->names, t)) {
        tube_destroy(t);
        return NULL;
    }
    t->ix = s->free_ix[--s->nfree];
    t->seq = s->tube_seq++;
    s->tube_slots[t->ix] = t;
    t->list_pos = (uint32_t)s->tube_len;
    s->tubes[s->tube_len++] = t;
    return t;
}

/* The tube tables are sized for the most tubes there have been, and 100,000 tubes made by
 * `watch` and abandoned would leave them at that size for ever. When the count falls under a
 * quarter of the list's capacity they shrink to twice the count: a shrink is O(capacity),
 * paid for by the three quarters of it destroyed since the last one, and a count that hovers
 * does not shrink and regrow in turn. A failed realloc keeps the larger array. */
enum { TUBE_TABLES_MIN_CAP = 64 };

static void shrink_tube_slots(store *s)
{
    /* Indexes are stable (jobs hold them), so the slots shrink only down to the highest
     * index in use. */
    uint32_t top = 0;
    for (size_t i = 0; i < s->tube_len; i++) {
        if (s->tubes[i]->ix >= top)
            top = s->tubes[i]->ix + 1;
    }
    size_t cap = vec_grow_cap(0, top, 16, JOB_MAX_TUBES, sizeof(tube *));
    if (cap == 0 || cap >= s->slot_cap)
        return;
    /* The free indexes below the new end, lowest on top, as grow_tube_slots leaves them. */
    s->nfree = 0;
    for (uint32_t ix = (uint32_t)cap; ix-- > 0;) {
        if (!s->tube_slots[ix])
            s->free_ix[s->nfree++] = ix;
    }
    /* Both arrays hold at least slot_cap elements whether or not their realloc worked. */
    size_t slots_cap = s->slot_cap, free_cap = s->slot_cap;
    s->tube_slots = vec_shrink(s->tube_slots, &slots_cap, cap, sizeof(tube *));
    s->free_ix = vec_shrink(s->free_ix, &free_cap, cap, sizeof(uint32_t));
    s->slot_cap = (uint32_t)cap;
}

static void shrink_tube_tables(store *s)
{
    size_t cap = vec_grow_cap(0, 2 * s->tube_len, 8, SIZE_MAX, sizeof(tube *));
    if (cap == 0)
        return;
    s->tubes = vec_shrink(s->tubes, &s->tube_cap, cap, sizeof(tube *));
    heap_shrink_to(&s->delay_tubes, cap);
    heap_shrink_to(&s->pause_tubes, cap);
    heap_shrink_to(&s->await_tubes, cap);
    hashmap_shrink(&s->names);
    shrink_tube_slots(s);
}

void store__tube_ref(tube *t)
{
    t->refs++;
}

/* A tube created for a command that then failed has no refs: callers drop it through here
 * too, so an unreferenced tube never survives a store call. */
void store__tube_unref(store *s, tube *t)
{
    if (t->refs > 0)
        t->refs--;
    if (t->refs > 0)
        return;
    hashmap_remove(&s->names, t);
    /* beanstalkd's array delete: the last tube takes the freed slot. */
    tube *last = s->tubes[--s->tube_len];
    s->tubes[t->list_pos] = last;
    last->list_pos = t->list_pos;
    if (t->pause_pos != HEAP_NO_POS)
        heap_remove(&s->pause_tubes, t->pause_pos);
    if (t->delay_pos != HEAP_NO_POS)
        heap_remove(&s->delay_tubes, t->delay_pos);
    if (t->await_pos != HEAP_NO_POS)
        heap_remove(&s->await_tubes, t->await_pos);
    s->tube_slots[t->ix] = NULL;
    s->free_ix[s->nfree++] = t->ix;
    tube_destroy(t);
    if (s->tube_cap > TUBE_TABLES_MIN_CAP && s->tube_len < s->tube_cap / 4)
        shrink_tube_tables(s);
}

/* Keeps t's membership in a store heap equal to `want`, and its position right. */
static void sched(heap *h, tube *t, uint32_t pos, bool want)
{
    if (pos != HEAP_NO_POS) {
        if (want)
            heap_fix(h, pos);
        else
            heap_remove(h, pos);
    } else if (want) {
        heap_insert(h, t); /* cannot fail: capacity reserved at tube creation */
    }
}

void store__tube_sched_await(store *s, tube *t)
{
    bool want = ready_len(&t->ready) && !list_empty(&t->waiters) && !t->pause_ms && !t->held;
    sched(&s->await_tubes, t, t->await_pos, want);
}

static void tube_sched_delay(store *s, tube *t)
{
    sched(&s->delay_tubes, t, t->delay_pos, t->delay.len > 0);
}

void store__unpause_due(store *s, uint64_t now)
{
    tube *t;
    while ((t = heap_peek(&s->pause_tubes)) && t->unpause_ms <= now) {
        heap_remove(&s->pause_tubes, t->pause_pos);
        t->pause_ms = 0;
        t->unpause_ms = 0;
        if (ready_len(&t->ready))
            watch_tube_live(t);
        store__tube_sched_await(s, t);
    }
}

int store_pause_tube(store *s, const char *name, size_t len, uint32_t delay_s)
{
    tube *t = store__tube_get(s, name, len, false);
    if (!t)
        return STORE_NOT_FOUND;
    t->pause_ct++;
    if (delay_s == 0) {
        /* beanstalkd pauses for 1 ns, which has ended by the time its next reserve or tick
         * looks (both unpause a due tube before choosing a job); a 1 ms pause here would
         * outlive it, so 0 unpauses at once and serves the waiters it frees. */
        t->pause_ms = 0;
        t->unpause_ms = 0;
        sched(&s->pause_tubes, t, t->pause_pos, false);
        if (ready_len(&t->ready))
            watch_tube_live(t);
        store__tube_sched_await(s, t);
        store__serve_waiters(s);
        return STORE_OK;
    }
    t->pause_ms = (uint64_t)delay_s * 1000;
    t->unpause_ms = store__now(s) + t->pause_ms;
    sched(&s->pause_tubes, t, t->pause_pos, true);
    store__tube_sched_await(s, t);
    return STORE_OK;
}

/* ---- container moves ---- */

job_ext *store__ext_make(store *s, job *j)
{
    if (j->has_ext)
        return store__ext(s, j);
    job_ext *x = slab_alloc(s->mem, sizeof(*x));
    if (!x)
        return NULL;
    memset(x, 0, sizeof(*x));
    x->j = j;
    x->heap_pos = HEAP_NO_POS;
    jobdir_replace(&s->dir, job_id_of(j), (void *)((uintptr_t)x | 1));
    j->has_ext = 1;
    return x;
}

job_ext *store__prepare_reserve(store *s, job *j)
{
    if (!ttrq_prepare(&s->ttr, j->ttr_s))
        return NULL;
    return store__ext_make(s, j);
}

bool store__make_ready(store *s, job *j)
{
    tube *t = store__tube_of(s, j);
    if (!ready_insert(&t->ready, j->pri, job_id_of(j)))
        return false;
    j->state = JOB_READY;
    tube_index_add(t, JOB_READY, job_id_of(j));
    s->ready_ct++;
    if (ready_len(&t->ready) == 1 && !t->pause_ms)
        watch_tube_live(t);
    if (j->pri < STORE_URGENT_PRI) {
        s->urgent_ct++;
        t->urgent_ct++;
    }
    store__tube_sched_await(s, t);
    return true;
}

bool store__make_delayed(store *s, job *j, job_ext *x, uint64_t deadline_ms)
{
    tube *t = store__tube_of(s, j);
    x->deadline_ms = deadline_ms;
    x->seq = ++s->deadline_seq;
    if (!heap_insert(&t->delay, x)) {
        x->deadline_ms = 0;
        return false;
    }
    j->state = JOB_DELAYED;
    tube_index_add(t, JOB_DELAYED, job_id_of(j));
    s->delayed_ct++;
    tube_sched_delay(s, t);
    return true;
}

void store__make_buried(store *s, job *j, job_ext *x)
{
    tube *t = store__tube_of(s, j);
    job_list_append(&t->buried, x);
    j->state = JOB_BURIED;
    tube_index_add(t, JOB_BURIED, job_id_of(j));
    x->deadline_ms = 0;
    x->buries++;
    s->buried_ct++;
    t->buried_ct++;
}

int store__ready_or_bury(store *s, job *j, job_ext *x)
{
    if (store__make_ready(s, j))
        return STORE_OK;
    store__make_buried(s, j, x);
    return STORE_BURIED;
}

void store__make_reserved(store *s, client *c, job *j, job_ext *x)
{
    uint64_t now = store__now(s);
    x->deadline_ms = now + (uint64_t)j->ttr_s * 1000;
    x->reserved_at = (uint32_t)now;
    x->seq = ++s->deadline_seq;
    ttrq_add(&s->ttr, j->ttr_s, x); /* cannot fail: the FIFO made by store__prepare_reserve */
    j->state = JOB_RESERVED;
    x->reserver = c;
    x->reserves++;
    bool had_jobs = c->reserved.len > 0;
    job_list_append(&c->reserved, x);
    /* An unknown soonest (NULL with jobs held) stays unknown; the scan will find x. */
    if (!had_jobs || (c->soonest && job_ext_deadline_less(x, c->soonest)))
        c->soonest = x;
    s->reserved_ct++;
    tube *t = store__tube_of(s, j);
    t->reserved_ct++;
    tube_index_add(t, JOB_RESERVED, job_id_of(j));
    if (t->lat && x->reserves == 1) { /* put to first reserve */
        uint64_t created = job_created_ms(s, j);
        lat_observe(&t->lat->wait, now, now > created ? now - created : 0);
    }
    if (t->conf)
        store__conf_reserved(s, t);
    if (c->waiting)
        store__client_resched(s, c);
}

void store__retouch(store *s, client *c, job *j, job_ext *x)
{
    x->deadline_ms = store__now(s) + (uint64_t)j->ttr_s * 1000;
    x->seq = ++s->deadline_seq;
    ttrq_requeue(&s->ttr, j->ttr_s, x);
    if (c->soonest == x)
        c->soonest = NULL; /* it was the soonest and is now later: recompute */
    if (c->waiting)
        store__client_resched(s, c);
}

void store__unlink(store *s, job *j, job_ext *x)
{
    tube *t = store__tube_of(s, j);
    switch ((job_state)j->state) {
    case JOB_READY:
        ready_remove(&t->ready, j->pri, job_id_of(j));
        s->ready_ct--;
        if (j->pri < STORE_URGENT_PRI) {
            s->urgent_ct--;
            t->urgent_ct--;
        }
        store__tube_sched_await(s, t);
        break;
    case JOB_DELAYED:
        heap_remove(&t->delay, x->heap_pos);
        s->delayed_ct--;
        tube_sched_delay(s, t);
        break;
    case JOB_RESERVED: {
        client *c = x->reserver;
        ttrq_remove(&s->ttr, j->ttr_s, x);
        job_list_remove(&c->reserved, x);
        if (c->soonest == x)
            c->soonest = NULL;
        x->reserver = NULL;
        s->reserved_ct--;
        t->reserved_ct--;
        if (t->held)
            store__conf_unreserved(s, t);
        if (c->waiting)
            store__client_resched(s, c);
        break;
    }
    case JOB_BURIED:
        job_list_remove(&t->buried, x);
        s->buried_ct--;
        t->buried_ct--;
        break;
    }
    tube_index_remove(t, (job_state)j->state, job_id_of(j));
    if (x)
        x->deadline_ms = 0;
}

void store__destroy_job(store *s, job *j)
{
    if (j->key_owner) {
        store__key_release(s, j);
        store__keys_shrink(s);
    }
    void *v = jobdir_remove(&s->dir, job_id_of(j));
    if ((uintptr_t)v & 1)
        slab_free(s->mem, (void *)((uintptr_t)v & ~(uintptr_t)1), sizeof(job_ext));
    store__tube_unref(s, store__tube_of(s, j));
    slab_free(s->mem, j, job_size(j));
}

/* ---- serving and time ---- */

void store__serve_waiters(store *s)
{
    tube *t;
    if (s->holding)
        return; /* the waiters stay; store_set_holding(s, false) serves them */
    /* The top of await_tubes holds the best ready job among tubes with waiters; it goes to
     * the longest-waiting client of that tube (beanstalkd's next_awaited_job). */
    while ((t = heap_peek(&s->await_tubes))) {
        uint32_t pri;
        job *j = store_find_job(s, ready_peek(&t->ready, &pri));
        client *c = tube_first_waiter(t)->c;
        job_ext *x = store__prepare_reserve(s, j);
        if (!x)
            break; /* out of memory: the waiters stay; the next change tries again */
        store__unlink(s, j, x);
        store__client_unwait(s, c);
        store__make_reserved(s, c, j, x);
        if (s->hooks.reserved)
            s->hooks.reserved(c, j, s->data);
    }
}

uint64_t store_next_deadline_ms(const store *s)
{
    uint64_t at = UINT64_MAX;
    const tube *t = heap_peek(&s->delay_tubes);
    if (t) {
        const job_ext *x = heap_peek(&t->delay);
        at = x->deadline_ms;
    }
    t = heap_peek(&s->pause_tubes);
    if (t && t->unpause_ms < at)
        at = t->unpause_ms;
    const job_ext *x = ttrq_peek(&s->ttr);
    if (x && x->deadline_ms < at)
        at = x->deadline_ms;
    const client *c = heap_peek(&s->wait_clients);
    if (c && c->tick_ms < at)
        at = c->tick_ms;
    if (s->conf_due_ms < at)
        at = s->conf_due_ms;
    return at;
}

void store_tick(store *s)
{
    uint64_t now = store__now(s);
    tube *t;
    /* Delayed jobs become ready at their deadline, soonest first, each offered to waiting
     * clients at once (beanstalkd's prottick). */
    while ((t = heap_peek(&s->delay_tubes))) {
        job_ext *x = heap_peek(&t->delay);
        if (x->deadline_ms > now)
            break;
        store__unlink(s, x->j, x);
        store__ready_or_bury(s, x->j, x);
        store__serve_waiters(s);
    }
    store__unpause_due(s, now);
    if (s->conf_due_ms <= now)
        store__conf_tick(s, now);
    store__serve_waiters(s);

    /* Waiting clients: DEADLINE_SOON wins over a wait timeout, as in beanstalkd. */
    client *c;
    while ((c = heap_peek(&s->wait_clients)) && c->tick_ms <= now) {
        job_ext *soon = store__client_soonest(c);
        bool deadline_soon = soon && now + STORE_SAFETY_MARGIN_MS >= soon->deadline_ms;
        store__client_unwait(s, c);
        if (deadline_soon) {
            if (s->hooks.deadline_soon)
                s->hooks.deadline_soon(c, s->data);
        } else if (s->hooks.wait_timed_out) {
            s->hooks.wait_timed_out(c, s->data);
        }
    }

    job_ext *x;
    while ((x = ttrq_peek(&s->ttr)) && x->deadline_ms <= now) {
        store__unlink(s, x->j, x);
        x->timeouts++;
        s->timeout_ct++;
        if (!store__conf_returned(s, x->j, x, true))
            store__ready_or_bury(s, x->j, x);
        store__serve_waiters(s);
    }
}

/* ---- stats ---- */

void store_get_memory(const store *s, store_memory *out)
{
    memset(out, 0, sizeof(*out));
    out->records = slab_footprint(s->mem);
    out->directory = jobdir_footprint(&s->dir) + s->keys.cap * sizeof(void *);
    out->heaps = ttrq_footprint(&s->ttr);
    for (size_t i = 0; i < s->tube_len; i++) {
        out->ready += ready_footprint(&s->tubes[i]->ready);
        out->heaps += (uint64_t)s->tubes[i]->delay.cap * sizeof(void *);
    }
}

void store_get_stats(const store *s, store_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->urgent = s->urgent_ct;
    out->ready = s->ready_ct;
    out->reserved = s->reserved_ct;
    out->delayed = s->delayed_ct;
    out->buried = s->buried_ct;
    out->total_jobs = s->total_jobs;
    out->job_timeouts = s->timeout_ct;
    out->tubes = s->tube_len;
    out->waiting = s->waiting_ct;
    out->draining = s->draining;
}
