/*
 * The store's commands: each is a few container moves from store.c plus beanstalkd's rules
 * about who may do what (a reserved job belongs to its reserver; kick prefers buried jobs;
 * the last watched tube cannot be ignored). Every command that can make a job ready journals
 * first and then serves waiting clients, so a log write precedes handing the job out.
 */
#include "queue/store_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- tubes ---- */

int store_use(store *s, client *c, const char *name, size_t len)
{
    tube *t = store__tube_get(s, name, len, true);
    if (!t)
        return STORE_NO_MEMORY;
    store__tube_ref(t); /* before dropping the old tube: it may be the same one */
    t->using_ct++;
    c->use->using_ct--;
    store__tube_unref(s, c->use);
    c->use = t;
    return STORE_OK;
}

static size_t find_watch(const client *c, const tube *t)
{
    for (size_t i = 0; i < c->watch_len; i++) {
        if (c->watches[i]->t == t)
            return i;
    }
    return SIZE_MAX;
}

int store_watch(store *s, client *c, const char *name, size_t len, size_t *count)
{
    tube *t = store__tube_get(s, name, len, true);
    if (!t)
        return STORE_NO_MEMORY;
    if (find_watch(c, t) == SIZE_MAX) {
        watch *w = calloc(1, sizeof(*w));
        if (w && c->watch_len == c->watch_cap) {
            watch **ws = realloc(c->watches, c->watch_cap * 2 * sizeof(*ws));
            if (ws) {
                c->watches = ws;
                c->watch_cap *= 2;
            } else {
                free(w);
                w = NULL;
            }
        }
        if (!w) {
            /* Drop the tube again if this call created it. */
            store__tube_ref(t);
            store__tube_unref(s, t);
            return STORE_NO_MEMORY;
        }
        w->t = t;
        w->c = c;
        store__tube_ref(t);
        t->watching_ct++;
        c->watches[c->watch_len++] = w;
        if (c->waiting) {
            tube_waiter_append(t, w);
            store__tube_sched_await(s, t);
            store__serve_waiters(s);
        }
    }
    if (count)
        *count = c->watch_len;
    return STORE_OK;
}

int store_ignore(store *s, client *c, const char *name, size_t len, size_t *count)
{
    tube *t = store__tube_get(s, name, len, false);
    size_t i = t ? find_watch(c, t) : SIZE_MAX;
    if (i != SIZE_MAX) {
        if (c->watch_len < 2)
            return STORE_NOT_IGNORED;
        watch *w = c->watches[i];
        c->watches[i] = c->watches[--c->watch_len]; /* beanstalkd's ms_delete order */
        if (w->linked) {
            tube_waiter_remove(t, w);
            store__tube_sched_await(s, t);
        }
        free(w);
        t->watching_ct--;
        store__tube_unref(s, t);
    }
    if (count)
        *count = c->watch_len;
    return STORE_OK;
}

tube *store_find_tube(store *s, const char *name, size_t len)
{
    return store__tube_get(s, name, len, false);
}

size_t store_tube_count(const store *s)
{
    return s->tube_len;
}

const tube *store_tube_at(const store *s, size_t i)
{
    return i < s->tube_len ? s->tubes[i] : NULL;
}

/* ---- put / reserve ---- */

void store_skip_id(store *s)
{
    s->next_id++;
}

void store_set_next_id(store *s, uint64_t id)
{
    if (id > s->next_id)
        s->next_id = id;
}

int store_put(store *s, client *c, uint32_t pri, uint32_t delay_s, uint32_t ttr_s,
              const char *body, size_t body_len, job **out)
{
    if (s->draining) {
        /* beanstalkd makes the job (taking its id) before it checks for
         * drain mode, so the ids after a refused put match its. */
        s->next_id++;
        return STORE_DRAINING;
    }
    /* Room in the TTR heap for every job, so a later reserve cannot fail. */
    if (!heap_reserve(&s->ttr, s->jobs.len + 1))
        return STORE_NO_MEMORY;
    job *j = job_alloc(s->next_id, body, body_len);
    if (!j)
        return STORE_NO_MEMORY;
    if (!jobtab_insert(&s->jobs, j)) {
        free(j);
        return STORE_NO_MEMORY;
    }
    s->next_id++;
    uint64_t now = store__now(s);
    j->tube = c->use;
    store__tube_ref(j->tube);
    j->pri = pri;
    j->delay_s = delay_s;
    j->ttr_s = ttr_s ? ttr_s : 1; /* beanstalkd raises a TTR under 1 s to 1 s */
    j->created_ms = now;
    s->total_jobs++;
    j->tube->total_jobs++;
    bool placed = delay_s ? store__make_delayed(s, j, now + (uint64_t)delay_s * 1000)
                          : store__make_ready(s, j);
    if (!placed)
        store__make_buried(s, j);
    store__journal(s, j, STORE_OP_PUT);
    store__serve_waiters(s);
    if (out)
        *out = j;
    return placed ? STORE_OK : STORE_BURIED;
}

/* The best ready job among c's watched, unpaused tubes. */
static job *best_for(const client *c)
{
    job *best = NULL;
    for (size_t i = 0; i < c->watch_len; i++) {
        tube *t = c->watches[i]->t;
        job *j = ready_peek(&t->ready);
        if (j && !t->pause_ms && (!best || job_pri_less(j, best)))
            best = j;
    }
    return best;
}

static bool any_ready(const client *c)
{
    for (size_t i = 0; i < c->watch_len; i++) {
        if (ready_len(&c->watches[i]->t->ready))
            return true;
    }
    return false;
}

int store_reserve(store *s, client *c, int64_t timeout_ms, job **out)
{
    uint64_t now = store__now(s);
    store__client_unwait(s, c);
    store__unpause_due(s, now);
    store__serve_waiters(s);
    job *soon = store__client_soonest(c);
    if (soon && now + STORE_SAFETY_MARGIN_MS >= soon->deadline_ms && !any_ready(c))
        return STORE_DEADLINE_SOON;
    /* Serving waiters after every change means no other client waits on a tube with a ready
     * job, so beanstalkd's "join the waiters, run process_queue" hands c exactly this job. */
    job *j = best_for(c);
    if (j) {
        store__unlink(s, j);
        store__make_reserved(s, c, j);
        *out = j;
        return STORE_OK;
    }
    if (timeout_ms == 0)
        return STORE_TIMED_OUT;
    store__client_wait(s, c, timeout_ms < 0 ? UINT64_MAX : now + (uint64_t)timeout_ms);
    return STORE_WAITING;
}

int store_reserve_job(store *s, client *c, uint64_t id, job **out)
{
    job *j = store_find_job(s, id);
    if (!j || j->state == JOB_RESERVED)
        return STORE_NOT_FOUND;
    store__unlink(s, j);
    store__make_reserved(s, c, j);
    *out = j;
    return STORE_OK;
}

/* ---- commands on one job ---- */

job *store_find_job(store *s, uint64_t id)
{
    return jobtab_find(&s->jobs, id);
}

int store_delete(store *s, client *c, uint64_t id)
{
    job *j = store_find_job(s, id);
    if (!j || (j->state == JOB_RESERVED && j->reserver != c))
        return STORE_NOT_FOUND;
    j->tube->delete_ct++;
    store__unlink(s, j);
    store__journal(s, j, STORE_OP_DELETE);
    store__destroy_job(s, j);
    return STORE_OK;
}

int store_release(store *s, client *c, uint64_t id, uint32_t pri, uint32_t delay_s)
{
    job *j = store_find_job(s, id);
    if (!store__reserved_by(c, j))
        return STORE_NOT_FOUND;
    store__unlink(s, j);
    j->pri = pri;
    j->delay_s = delay_s;
    j->releases++;
    bool placed = delay_s ? store__make_delayed(s, j, store__now(s) + (uint64_t)delay_s * 1000)
                          : store__make_ready(s, j);
    if (!placed)
        store__make_buried(s, j);
    store__journal(s, j, STORE_OP_STATE);
    store__serve_waiters(s);
    return placed ? STORE_OK : STORE_BURIED;
}

int store_bury(store *s, client *c, uint64_t id, uint32_t pri)
{
    job *j = store_find_job(s, id);
    if (!store__reserved_by(c, j))
        return STORE_NOT_FOUND;
    store__unlink(s, j);
    j->pri = pri;
    store__make_buried(s, j);
    store__journal(s, j, STORE_OP_STATE);
    return STORE_OK;
}

int store_touch(store *s, client *c, uint64_t id)
{
    job *j = store_find_job(s, id);
    if (!store__reserved_by(c, j))
        return STORE_NOT_FOUND;
    /* Re-reserving restarts the TTR; done as unlink + reserve so the TTR heap, the soonest
     * cache and the client's wait tick all follow. The reserve count must not change. */
    store__unlink(s, j);
    store__make_reserved(s, c, j);
    j->reserves--;
    return STORE_OK;
}

/* Moves a buried or delayed job to ready, as kick does. */
static void kick_one(store *s, job *j)
{
    store__unlink(s, j);
    j->kicks++;
    store__ready_or_bury(s, j);
    store__journal(s, j, STORE_OP_STATE);
    store__serve_waiters(s);
}

int store_kick(store *s, client *c, uint32_t bound, uint32_t *kicked)
{
    tube *t = c->use;
    uint32_t n = 0;
    /* beanstalkd kicks buried jobs if there are any, and delayed jobs only otherwise; the
     * choice is made once, so one kick never mixes the two. Holding a ref keeps t alive
     * even if serving waiters empties it. */
    store__tube_ref(t);
    if (t->buried.head) {
        for (; n < bound && t->buried.head; n++) {
            job *j = t->buried.head;
            kick_one(s, j);
            if (j->state == JOB_BURIED) /* could not be made ready: it is back at the tail */
                break;
        }
    } else {
        for (; n < bound && t->delay.len; n++)
            kick_one(s, heap_peek(&t->delay));
    }
    store__tube_unref(s, t);
    if (kicked)
        *kicked = n;
    return STORE_OK;
}

int store_kick_job(store *s, uint64_t id)
{
    job *j = store_find_job(s, id);
    if (!j || (j->state != JOB_BURIED && j->state != JOB_DELAYED))
        return STORE_NOT_FOUND;
    kick_one(s, j);
    return STORE_OK;
}

/* ---- peeks ---- */

job *store_peek_ready(store *s, const client *c)
{
    (void)s;
    return ready_peek(&c->use->ready);
}

job *store_peek_delayed(store *s, const client *c)
{
    (void)s;
    return heap_peek(&c->use->delay);
}

job *store_peek_buried(store *s, const client *c)
{
    (void)s;
    return c->use->buried.head;
}

/* ---- write-ahead-log support ---- */

static job *restore_new(store *s, const store_job_record *rec)
{
    if (!heap_reserve(&s->ttr, s->jobs.len + 1))
        return NULL;
    tube *t = store__tube_get(s, rec->tube_name, rec->tube_name_len, true);
    if (!t)
        return NULL;
    store__tube_ref(t); /* held from here: a failure below must drop a fresh tube */
    job *j = job_alloc(rec->id, rec->body, rec->body_len);
    if (!j || !jobtab_insert(&s->jobs, j)) {
        free(j);
        store__tube_unref(s, t);
        return NULL;
    }
    j->tube = t;
    if (rec->id >= s->next_id)
        s->next_id = rec->id + 1;
    /* total-jobs counts puts since this process started, as beanstalkd's
     * does: a job restored from the log was put by an earlier one. (Counting
     * here would also count every replayed PUT of jobs deleted later.) */
    return j;
}

int store_restore_job(store *s, const store_job_record *rec, job **out)
{
    uint64_t now = store__now(s);
    job *j = store_find_job(s, rec->id);
    if (j)
        store__unlink(s, j);
    else if (!(j = restore_new(s, rec)))
        return STORE_NO_MEMORY;
    j->pri = rec->pri;
    j->delay_s = rec->delay_s;
    j->ttr_s = rec->ttr_s ? rec->ttr_s : 1;
    j->created_ms = rec->age_ms < now ? now - rec->age_ms : 0;
    bool placed = true;
    if (rec->state == JOB_DELAYED)
        placed = store__make_delayed(s, j, now + rec->ready_in_ms);
    else if (rec->state == JOB_BURIED)
        store__make_buried(s, j);
    else
        placed = store__make_ready(s, j);
    if (!placed)
        store__make_buried(s, j);
    /* Counters come from the record, after the moves that count. */
    j->reserves = rec->reserves;
    j->timeouts = rec->timeouts;
    j->releases = rec->releases;
    j->buries = rec->buries;
    j->kicks = rec->kicks;
    j->log_segment = rec->log_segment;
    store__serve_waiters(s);
    if (out)
        *out = j;
    return STORE_OK;
}

int store_forget_job(store *s, uint64_t id)
{
    job *j = store_find_job(s, id);
    if (!j)
        return STORE_NOT_FOUND;
    store__unlink(s, j);
    store__destroy_job(s, j);
    return STORE_OK;
}

int store_foreach_job(store *s, int (*cb)(job *j, void *data), void *data)
{
    for (size_t i = 0; i < s->jobs.cap; i++) {
        job *j = jobtab_slot_job(&s->jobs, i);
        if (j) {
            int r = cb(j, data);
            if (r)
                return r;
        }
    }
    return 0;
}
