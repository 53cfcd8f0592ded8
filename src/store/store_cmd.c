/*
 * The store's commands: each is a few container moves from store.c plus beanstalkd's rules
 * about who may do what (a reserved job belongs to its reserver; kick prefers buried jobs;
 * the last watched tube cannot be ignored). Every command that can make a job ready journals
 * first and then serves waiting clients, so a log write precedes handing the job out.
 */
#include "check.h"
#include "store_int.h"
#include "tube_lat.h"
#include "vec.h"

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

/* A client's watches are an array in beanstalkd's order (which `list-tubes-watched` and the
 * reserve scan follow) plus, from WATCH_INDEX_MIN watches on, a hash index by tube, so that
 * finding a watch is a scan of a few entries or one lookup, never a scan of 100,000. */
enum { WATCH_INDEX_MIN = 16 };

static uint64_t tube_ptr_hash(const tube *t)
{
    return hashmap_hash_u64((uint64_t)(uintptr_t)t);
}

static uint64_t watch_hash(const void *item)
{
    return tube_ptr_hash(((const watch *)item)->t);
}

static bool watch_tube_eq(const void *item, const void *key)
{
    return ((const watch *)item)->t == key;
}

void store__watch_index_init(client *c)
{
    hashmap_init(&c->watch_index, watch_hash, watch_tube_eq);
}

static size_t find_watch(const client *c, const tube *t)
{
    if (c->watch_index.cap) {
        const watch *w = hashmap_find(&c->watch_index, tube_ptr_hash(t), t);
        return w ? w->ix : SIZE_MAX;
    }
    for (size_t i = 0; i < c->watch_len; i++) {
        if (c->watches[i]->t == t)
            return i;
    }
    return SIZE_MAX;
}

/* Makes room to index one more watch (building the index when the client reaches
 * WATCH_INDEX_MIN), so that adding it cannot fail. false on ENOMEM, nothing changed. */
static bool watch_index_reserve(client *c)
{
    size_t n = c->watch_len + 1;
    if (!c->watch_index.cap && n < WATCH_INDEX_MIN)
        return true;
    bool building = !c->watch_index.cap;
    if (!hashmap_reserve(&c->watch_index, n))
        return false;
    if (building) {
        for (size_t i = 0; i < c->watch_len; i++)
            (void)hashmap_insert(&c->watch_index, c->watches[i]); /* room reserved */
    }
    return true;
}

int store_watch(store *s, client *c, const char *name, size_t len, size_t *count)
{
    tube *t = store__tube_get(s, name, len, true);
    if (!t)
        return STORE_NO_MEMORY;
    if (find_watch(c, t) == SIZE_MAX) {
        watch *w = calloc(1, sizeof(*w));
        if (w && !watch_index_reserve(c)) {
            free(w);
            w = NULL;
        }
        if (w) {
            /* watch_cap starts at 4 (store_client_new), so min_cap never applies. */
            watch **ws =
                vec_grow(c->watches, &c->watch_cap, c->watch_len + 1, sizeof(watch *), 4, SIZE_MAX);
            if (ws) {
                c->watches = ws;
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
        w->ix = c->watch_len;
        c->watches[c->watch_len++] = w;
        watch_attach(w);
        if (c->watch_index.cap)
            (void)hashmap_insert(&c->watch_index, w); /* room reserved above */
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

/* A client that watched 100,000 tubes and ignores them gives the room back, under the same
 * hysteresis as the store's tube tables (store.c): under a quarter full, to twice the count. */
static void shrink_watches(client *c)
{
    if (c->watch_cap <= WATCH_INDEX_MIN || c->watch_len >= c->watch_cap / 4)
        return;
    size_t cap = vec_grow_cap(0, 2 * c->watch_len, 4, SIZE_MAX, sizeof(watch *));
    c->watches = vec_shrink(c->watches, &c->watch_cap, cap, sizeof(watch *));
    hashmap_shrink(&c->watch_index);
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
        c->watches[i]->ix = i;
        if (c->watch_index.cap)
            hashmap_remove(&c->watch_index, w);
        if (w->linked) {
            tube_waiter_remove(t, w);
            store__tube_sched_await(s, t);
        }
        watch_detach(w);
        free(w);
        t->watching_ct--;
        store__tube_unref(s, t);
        shrink_watches(c);
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

/* Slots are stable for a tube's whole life and a tube's creation number is below seq_end
 * only if it was made before the begin: together they give store.h's promise without the
 * store knowing a scan exists. */
void store_tube_scan_begin(const store *s, store_tube_scan *sc)
{
    sc->next_slot = 0;
    sc->end_slot = s->slot_cap; /* slots added later hold only tubes made later */
    sc->seq_end = s->tube_seq;
}

const tube *store_tube_scan_next(const store *s, store_tube_scan *sc, uint32_t *slots_left)
{
    /* The slot table may have shrunk since the scan began (shrink_tube_slots in store.c): slots
     * past its end hold no tube, so the scan ends there. */
    if (sc->end_slot > s->slot_cap)
        sc->end_slot = s->slot_cap;
    while (sc->next_slot<sc->end_slot && * slots_left> 0) {
        const tube *t = s->tube_slots[sc->next_slot++];
        --*slots_left;
        if (t && t->seq < sc->seq_end)
            return t;
    }
    return NULL;
}

bool store_tube_scan_done(const store_tube_scan *sc)
{
    return sc->next_slot >= sc->end_slot;
}

void store_tube_scan_restart(store_tube_scan *sc)
{
    sc->next_slot = 0;
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

/* A fresh record in the directory, holding a reference on t, with no state yet, and with the
 * key (key_len 0: none) at the end of the record, not yet claimed. NULL on ENOMEM or a body
 * over 4 GiB. */
static job *new_job(store *s, uint64_t id, tube *t, const char *body, size_t body_len,
                    const char *key, size_t key_len, uint64_t now)
{
    if (body_len > UINT32_MAX || key_len > STORE_MAX_KEY)
        return NULL;
    size_t size = job_record_size(body_len, s->log_segments) + (key_len ? 1 + key_len : 0);
    job *j = slab_alloc(s->mem, size);
    if (!j)
        return NULL;
    memset(j, 0, offsetof(job, body));
    j->id_lo = (uint32_t)id;
    j->id_hi = (uint32_t)(id >> 32);
    j->body_len = (uint32_t)body_len;
    j->tube_ix = t->ix & (JOB_MAX_TUBES - 1);
    j->has_seg = s->log_segments;
    int64_t q = ((int64_t)now - s->epoch_ms) >> JOB_TIME_SHIFT;
    j->created_q = q < 0 ? 0 : q > UINT32_MAX ? UINT32_MAX : (uint32_t)q;
    if (body_len)
        memcpy(j->body, body, body_len);
    job_set_log_segment(j, 0);
    if (key_len) {
        unsigned char *k = (unsigned char *)job_key_at(j);
        j->has_key = 1;
        k[0] = (unsigned char)key_len;
        memcpy(k + 1, key, key_len);
    }
    if (!jobdir_insert(&s->dir, id, j)) {
        slab_free(s->mem, j, size);
        return NULL;
    }
    store__tube_ref(t);
    return j;
}

static int put_job(store *s, client *c, const char *key, size_t key_len, uint32_t pri,
                   uint32_t delay_s, uint32_t ttr_s, const char *body, size_t body_len, job **out)
{
    if (s->draining) {
        /* beanstalkd makes the job (taking its id) before it checks for
         * drain mode, so the ids after a refused put match its. */
        s->next_id++;
        return STORE_DRAINING;
    }
    uint64_t now = store__now(s);
    /* The key's table slot comes first, so that a put failing later changes nothing. */
    if (key_len && !store__key_reserve(s))
        return STORE_NO_MEMORY;
    job *j = new_job(s, s->next_id, c->use, body, body_len, key, key_len, now);
    if (!j)
        return STORE_NO_MEMORY;
    j->pri = pri;
    j->ttr_s = ttr_s ? ttr_s : 1; /* beanstalkd raises a TTR under 1 s to 1 s */
    /* A delayed job needs its ext from the start; a ready one only if the ready set cannot
     * take it and it must be buried. Failing either, the put fails with nothing changed. */
    job_ext *x = NULL;
    bool placed = false;
    if (delay_s) {
        if ((x = store__ext_make(s, j))) {
            x->delay_s = delay_s;
            placed = store__make_delayed(s, j, x, now + (uint64_t)delay_s * 1000);
        }
    } else {
        placed = store__make_ready(s, j);
    }
    if (!placed && !x && !(x = store__ext_make(s, j))) {
        store__destroy_job(s, j);
        return STORE_NO_MEMORY;
    }
    if (!placed)
        store__make_buried(s, j, x);
    if (key_len)
        (void)store__key_claim(s, j); /* the caller saw the key free */
    s->next_id++;
    s->total_jobs++;
    store__tube_of(s, j)->total_jobs++;
    store__journal(s, j, STORE_OP_PUT);
    store__serve_waiters(s);
    if (out)
        *out = j;
    return placed ? STORE_OK : STORE_BURIED;
}

int store_put(store *s, client *c, uint32_t pri, uint32_t delay_s, uint32_t ttr_s, const char *body,
              size_t body_len, job **out)
{
    return put_job(s, c, NULL, 0, pri, delay_s, ttr_s, body, body_len, out);
}

int store_put_unique(store *s, client *c, const char *key, size_t key_len, uint32_t pri,
                     uint32_t delay_s, uint32_t ttr_s, const char *body, size_t body_len, job **out)
{
    SQ_CHECK(key_len >= 1 && key_len <= STORE_MAX_KEY, "store_put_unique: key length");
    job *holder = store__key_find(s, c->use, key, key_len);
    if (holder) {
        *out = holder;
        return STORE_EXISTS;
    }
    return put_job(s, c, key, key_len, pri, delay_s, ttr_s, body, body_len, out);
}

/* The best ready job among c's watched, unpaused tubes: those are all armed (watch.h), so
 * only the armed watches are looked at, and the stale ones among them go back to idle. */
static job *best_for(store *s, client *c)
{
    uint64_t best = 0;
    uint32_t best_pri = 0;
    for (list_node *n = c->live_watches.first, *next; n; n = next) {
        next = n->next;
        watch *w = LIST_ENTRY(n, watch, live_link);
        uint32_t pri;
        uint64_t id = ready_peek(&w->t->ready, &pri);
        if (!id || w->t->pause_ms || w->t->held) {
            watch_disarm(w);
            continue;
        }
        if (!best || pri < best_pri || (pri == best_pri && id < best)) {
            best = id;
            best_pri = pri;
        }
    }
    return best ? store_find_job(s, best) : NULL;
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
    /* Serving waiters after every change means no other client waits on a tube with a ready
     * job, so beanstalkd's "join the waiters, run process_queue" hands c exactly this job. */
    job *j = s->holding ? NULL : best_for(s, c);
    /* A job found means a watched tube has one, which is all beanstalkd asks before it
     * answers DEADLINE_SOON; only without one does the (paused tubes too) scan run. */
    job_ext *soon = j ? NULL : store__client_soonest(c);
    if (soon && now + STORE_SAFETY_MARGIN_MS >= soon->deadline_ms && (s->holding || !any_ready(c)))
        return STORE_DEADLINE_SOON;
    if (j) {
        job_ext *x = store__prepare_reserve(s, j);
        if (!x)
            return STORE_NO_MEMORY;
        store__unlink(s, j, x);
        store__make_reserved(s, c, j, x);
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
    if (!j || j->state == JOB_RESERVED || s->holding)
        return STORE_NOT_FOUND;
    job_ext *x = store__prepare_reserve(s, j);
    if (!x)
        return STORE_NO_MEMORY;
    bool was_ready = j->state == JOB_READY;
    store__unlink(s, j, x);
    store__make_reserved(s, c, j, x);
    /* A log keeps a reserved job as ready, so that whatever ends the reservation unlogged (a
     * disconnect, TTR expiry, a crash) leaves the log right. For a job taken from buried or
     * delayed the log still says buried or delayed: record the change. */
    if (!was_ready)
        store__journal(s, j, STORE_OP_STATE);
    *out = j;
    return STORE_OK;
}

/* ---- commands on one job ---- */

job *store_find_job(store *s, uint64_t id)
{
    job_ext *x;
    return store__find(s, id, &x);
}

/* The job with this id if c holds it reserved (and its ext), else NULL. */
static job *reserved_by(store *s, client *c, uint64_t id, job_ext **x)
{
    job *j = store__find(s, id, x);
    if (!j || j->state != JOB_RESERVED)
        return NULL;
    SQ_CHECK(*x, "store: a reserved job has no ext");
    return (*x)->reserver == c ? j : NULL;
}

int store_delete(store *s, client *c, uint64_t id)
{
    job_ext *x;
    job *j = store__find(s, id, &x);
    if (!j)
        return STORE_NOT_FOUND;
    if (j->state == JOB_RESERVED) {
        SQ_CHECK(x, "store: a reserved job has no ext");
        if (x->reserver != c)
            return STORE_NOT_FOUND;
    }
    tube *t = store__tube_of(s, j);
    t->delete_ct++;
    s->last_delete_run_ms = j->state == JOB_RESERVED ? store_job_run_ms(s, j) : UINT64_MAX;
    if (t->lat && j->state == JOB_RESERVED)
        lat_observe(&t->lat->run, store__now(s), s->last_delete_run_ms);
    store__unlink(s, j, x);
    store__journal(s, j, STORE_OP_DELETE);
    store__destroy_job(s, j);
    store__serve_waiters(s); /* a tube at its max-reserved cap may have been let go */
    return STORE_OK;
}

int store_release(store *s, client *c, uint64_t id, uint32_t pri, uint32_t delay_s)
{
    job_ext *x;
    job *j = reserved_by(s, c, id, &x);
    if (!j)
        return STORE_NOT_FOUND;
    store__unlink(s, j, x);
    j->pri = pri;
    x->delay_s = delay_s;
    x->releases++;
    if (store__conf_returned(s, j, x, false)) {
        store__serve_waiters(s);
        return STORE_OK;
    }
    bool placed = delay_s ? store__make_delayed(s, j, x, store__now(s) + (uint64_t)delay_s * 1000)
                          : store__make_ready(s, j);
    if (!placed)
        store__make_buried(s, j, x);
    store__journal(s, j, STORE_OP_STATE);
    store__serve_waiters(s);
    return placed ? STORE_OK : STORE_BURIED;
}

int store_bury(store *s, client *c, uint64_t id, uint32_t pri)
{
    job_ext *x;
    job *j = reserved_by(s, c, id, &x);
    if (!j)
        return STORE_NOT_FOUND;
    store__unlink(s, j, x);
    j->pri = pri;
    store__make_buried(s, j, x);
    store__journal(s, j, STORE_OP_STATE);
    store__serve_waiters(s); /* as store_delete */
    return STORE_OK;
}

int store_touch(store *s, client *c, uint64_t id)
{
    job_ext *x;
    job *j = reserved_by(s, c, id, &x);
    if (!j)
        return STORE_NOT_FOUND;
    store__retouch(s, c, j, x); /* the reserve count does not change */
    return STORE_OK;
}

/* Moves a buried or delayed job to ready, as kick does. */
static void kick_one(store *s, job *j)
{
    job_ext *x = store__ext(s, j);
    store__unlink(s, j, x);
    x->kicks++;
    store__ready_or_bury(s, j, x);
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
    if (t->buried.len) {
        for (; n < bound && t->buried.len; n++) {
            job *j = job_list_first(&t->buried)->j;
            kick_one(s, j);
            if (j->state == JOB_BURIED) /* could not be made ready: it is back at the tail */
                break;
        }
    } else {
        for (; n < bound && t->delay.len; n++)
            kick_one(s, ((job_ext *)heap_peek(&t->delay))->j);
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
    uint32_t pri;
    uint64_t id = ready_peek(&c->use->ready, &pri);
    return id ? store_find_job(s, id) : NULL;
}

job *store_peek_delayed(store *s, const client *c)
{
    (void)s;
    job_ext *x = heap_peek(&c->use->delay);
    return x ? x->j : NULL;
}

job *store_peek_buried(store *s, const client *c)
{
    (void)s;
    const job_ext *x = job_list_first(&c->use->buried);
    return x ? x->j : NULL;
}

/* ---- write-ahead-log support ---- */

static job *restore_new(store *s, const store_job_record *rec, uint64_t now)
{
    tube *t = store__tube_get(s, rec->tube_name, rec->tube_name_len, true);
    if (!t)
        return NULL;
    uint64_t created = rec->age_ms < now ? now - rec->age_ms : 0;
    job *j = new_job(s, rec->id, t, rec->body, rec->body_len, rec->key, rec->key ? rec->key_len : 0,
                     created);
    if (!j) {
        /* Drop the tube again if this call created it. */
        store__tube_ref(t);
        store__tube_unref(s, t);
        return NULL;
    }
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
    bool fresh = !j;
    if (fresh && rec->key && !store__key_reserve(s))
        return STORE_NO_MEMORY;
    if (fresh && !(j = restore_new(s, rec, now)))
        return STORE_NO_MEMORY;
    /* Anything but a plain ready job with zero counters needs an ext; it is made before the
     * job leaves its container, so failing leaves the store as it was. */
    bool plain = rec->state != JOB_DELAYED && rec->state != JOB_BURIED && !rec->delay_s &&
                 !rec->reserves && !rec->timeouts && !rec->releases && !rec->buries && !rec->kicks;
    job_ext *x = plain ? store__ext(s, j) : store__ext_make(s, j);
    if (!plain && !x) {
        if (fresh)
            store__destroy_job(s, j);
        return STORE_NO_MEMORY;
    }
    if (!fresh)
        store__unlink(s, j, x);
    j->pri = rec->pri;
    j->ttr_s = rec->ttr_s ? rec->ttr_s : 1;
    bool placed = true;
    if (rec->state == JOB_DELAYED)
        placed = store__make_delayed(s, j, x, now + rec->ready_in_ms);
    else if (rec->state == JOB_BURIED)
        store__make_buried(s, j, x);
    else
        placed = store__make_ready(s, j);
    if (!placed && !x && !(x = store__ext_make(s, j))) {
        store__destroy_job(s, j);
        return STORE_NO_MEMORY;
    }
    if (!placed)
        store__make_buried(s, j, x);
    /* Counters come from the record, after the moves that count. */
    if (x) {
        x->delay_s = rec->delay_s;
        x->reserves = rec->reserves;
        x->timeouts = rec->timeouts;
        x->releases = rec->releases;
        x->buries = rec->buries;
        x->kicks = rec->kicks;
    }
    job_set_log_segment(j, rec->log_segment);
    if (fresh && j->has_key)
        (void)store__key_claim(s, j); /* a live holder of the key keeps it */
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
    store__unlink(s, j, store__ext(s, j));
    store__destroy_job(s, j);
    return STORE_OK;
}

int store_foreach_job(store *s, int (*cb)(job *j, void *data), void *data)
{
    uint64_t id = 0;
    uintptr_t v;
    while ((v = (uintptr_t)jobdir_next(&s->dir, &id))) {
        job *j = v & 1 ? ((job_ext *)(v & ~(uintptr_t)1))->j : (job *)v;
        int r = cb(j, data);
        if (r)
            return r;
    }
    return 0;
}
