/*
 * tube-set's settings (store.h, "per-tube settings"): storing them, and the few places where
 * they change what the state machine does. A tube without settings has tube.conf NULL and
 * tube.held false, and every hook here returns at once for it.
 *
 * Holds. A tube at its max-reserved cap or out of rate tokens is *held*: it is not live
 * (watch.h), so reserve's scan disarms its watches and it leaves await_tubes, exactly as if it
 * had no ready job. It is let go when a reserved job of it leaves that state (the cap) or when
 * store__conf_tick refills its tokens at the time note_refill_due asked for; letting go arms
 * its watches again, and the caller serves waiters.
 *
 * Expiry. Ids grow with put time and a job keeps its id and put time for life, so the jobs
 * old enough to expire are the lowest ids: a sweep, once a second while any tube has
 * expire set, walks the directory from the lowest id and stops at the first job too young for
 * the smallest expire. Its cost is the number of jobs older than that (those of other tubes,
 * or reserved or buried ones, are walked again each second: docs/protocol.md says so), and
 * at most EXPIRE_BATCH jobs go per pass.
 */
#include "tube_settings.h"

#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "tube_lat.h"

enum { EXPIRE_BATCH = 4096, EXPIRE_SWEEP_MS = 1000 };

static bool conf_is_default(const store_tube_conf *c)
{
    return !c->max_reserves && !c->max_reserved && !c->rate && !c->retry_backoff_ms &&
           !c->expire_s && !c->dead_letter_len;
}

void tube_get_conf(const tube *t, store_tube_conf *out)
{
    if (t->conf)
        *out = t->conf->set;
    else
        memset(out, 0, sizeof *out);
}

bool tube_is_configured(const tube *t)
{
    return t->conf != NULL;
}

/* Tops the bucket up for the time since the last refill: `rate` thousandths per ms. */
static void refill(tube_conf *k, uint64_t now)
{
    if (!k->set.rate || now <= k->refill_ms) {
        k->refill_ms = now > k->refill_ms ? now : k->refill_ms;
        return;
    }
    int64_t cap = (int64_t)k->set.rate * 1000;
    uint64_t elapsed = now - k->refill_ms;
    k->refill_ms = now;
    if (elapsed >= 1000 || k->tokens_milli + (int64_t)(elapsed * k->set.rate) >= cap)
        k->tokens_milli = cap;
    else
        k->tokens_milli += (int64_t)(elapsed * k->set.rate);
}

static bool should_hold(const tube *t)
{
    const tube_conf *k = t->conf;
    if (!k)
        return false;
    if (k->set.max_reserved && t->reserved_ct >= k->set.max_reserved)
        return true;
    return k->set.rate && k->tokens_milli < 1000;
}

static void set_held(store *s, tube *t, bool held)
{
    if (t->held == held)
        return;
    t->held = held;
    if (!held && ready_len(&t->ready) && !t->pause_ms)
        watch_tube_live(t);
    store__tube_sched_await(s, t);
}

/* A tube short of tokens asks the tick to look again when its next token has come. */
static void note_refill_due(store *s, const tube_conf *k, uint64_t now)
{
    if (!k->set.rate || k->tokens_milli >= 1000)
        return;
    uint64_t wait = (uint64_t)(1000 - k->tokens_milli + k->set.rate - 1) / k->set.rate;
    if (now + wait < s->conf_due_ms)
        s->conf_due_ms = now + wait;
}

void store__conf_reserved(store *s, tube *t)
{
    tube_conf *k = t->conf;
    uint64_t now = store__now(s);
    if (k->set.rate) {
        refill(k, now);
        k->tokens_milli -= 1000;
    }
    set_held(s, t, should_hold(t));
    if (t->held)
        note_refill_due(s, k, now);
}

void store__conf_unreserved(store *s, tube *t)
{
    if (!t->conf)
        return;
    refill(t->conf, store__now(s));
    set_held(s, t, should_hold(t));
}

/* The dead-letter tube of k (created if missing), or NULL: none set, its own tube, or ENOMEM
 * (the caller buries the job instead). */
static tube *dead_letter_of(store *s, const tube_conf *k)
{
    if (!k->set.dead_letter_len)
        return NULL;
    tube *to = store__tube_get(s, k->set.dead_letter, k->set.dead_letter_len, true);
    return to == k->t ? NULL : to;
}

/* An unlinked job goes, ready, to tube `to` (keeping id, pri and counters); journals MOVE. The
 * old tube has settings, so it outlives losing the job. */
static void move_ready(store *s, job *j, job_ext *x, tube *to)
{
    tube *from = store__tube_of(s, j);
    store__tube_ref(to);
    j->tube_ix = to->ix & (JOB_MAX_TUBES - 1);
    store__tube_unref(s, from);
    store__ready_or_bury(s, j, x);
    store__journal(s, j, STORE_OP_MOVE);
}

static uint64_t backoff_ms(uint32_t base_ms, uint32_t timeouts)
{
    uint32_t shift = timeouts ? timeouts - 1 : 0;
    if (shift >= 32)
        return STORE_MAX_BACKOFF_MS;
    uint64_t ms = (uint64_t)base_ms << shift;
    return ms < STORE_MAX_BACKOFF_MS ? ms : STORE_MAX_BACKOFF_MS;
}

bool store__conf_returned(store *s, job *j, job_ext *x, bool timed_out)
{
    tube_conf *k = store__tube_of(s, j)->conf;
    if (!k)
        return false;
    if (k->set.max_reserves && x->reserves >= k->set.max_reserves) {
        k->dead_lettered++;
        tube *to = dead_letter_of(s, k);
        if (to) {
            move_ready(s, j, x, to);
        } else {
            store__make_buried(s, j, x);
            store__journal(s, j, STORE_OP_STATE);
        }
        return true;
    }
    if (timed_out && k->set.retry_backoff_ms &&
        store__make_delayed(s, j, x,
                            store__now(s) + backoff_ms(k->set.retry_backoff_ms, x->timeouts))) {
        store__journal(s, j, STORE_OP_STATE);
        return true;
    }
    return false;
}

/* Expires j (ready or delayed, of a tube with settings k) now. */
static void expire_job(store *s, tube_conf *k, job *j)
{
    job_ext *x = store__ext_make(s, j); /* a move may bury it, which needs one */
    tube *to = x ? dead_letter_of(s, k) : NULL;
    k->expired++;
    store__unlink(s, j, store__ext(s, j));
    if (to) {
        move_ready(s, j, x, to);
        return;
    }
    store__journal(s, j, STORE_OP_DELETE);
    store__destroy_job(s, j);
}

/* One sweep (see the module comment); true when it stopped at EXPIRE_BATCH with more to do. */
static bool expire_sweep(store *s, uint64_t now, uint32_t min_expire_s)
{
    uint64_t id = 0;
    uintptr_t v;
    uint32_t done = 0;
    while ((v = (uintptr_t)jobdir_next(&s->dir, &id))) {
        job *j = v & 1 ? ((job_ext *)(v & ~(uintptr_t)1))->j : (job *)v;
        uint64_t age = now - job_created_ms(s, j);
        if (age < (uint64_t)min_expire_s * 1000)
            break;
        tube_conf *k = store__tube_of(s, j)->conf;
        if (!k || !k->set.expire_s || age < (uint64_t)k->set.expire_s * 1000 ||
            (j->state != JOB_READY && j->state != JOB_DELAYED))
            continue;
        if (done++ == EXPIRE_BATCH)
            return true;
        expire_job(s, k, j);
    }
    return false;
}

void store__conf_tick(store *s, uint64_t now)
{
    s->conf_due_ms = UINT64_MAX;
    uint32_t min_expire = 0;
    for (list_node *n = s->conf_tubes.first; n; n = n->next) {
        tube_conf *k = LIST_ENTRY(n, tube_conf, link);
        if (k->t->held && k->set.rate) {
            refill(k, now);
            set_held(s, k->t, should_hold(k->t));
            note_refill_due(s, k, now);
        }
        if (k->set.expire_s && (!min_expire || k->set.expire_s < min_expire))
            min_expire = k->set.expire_s;
    }
    if (min_expire && !s->replica) {
        uint64_t due = expire_sweep(s, now, min_expire) ? now : now + EXPIRE_SWEEP_MS;
        if (due < s->conf_due_ms)
            s->conf_due_ms = due;
    }
}

int store_tube_configure(store *s, const char *name, size_t len, const store_tube_conf *conf,
                         bool journal)
{
    tube *t = store__tube_get(s, name, len, true);
    if (!t)
        return STORE_NO_MEMORY;
    uint64_t now = store__now(s);
    bool want = !conf_is_default(conf);
    if (want && !t->conf) {
        tube_conf *k = calloc(1, sizeof *k);
        if (!k) {
            store__tube_ref(t); /* drops the tube again if this call made it */
            store__tube_unref(s, t);
            return STORE_NO_MEMORY;
        }
        k->t = t;
        k->refill_ms = now;
        t->conf = k;
        store__tube_ref(t); /* the settings keep the tube alive */
        list_append(&s->conf_tubes, &k->link);
    }
    store__tube_ref(t); /* held across the hooks below */
    if (t->conf) {
        tube_conf *k = t->conf;
        if (conf->rate != k->set.rate) {
            k->tokens_milli = (int64_t)conf->rate * 1000; /* a new rate starts with a full burst */
            k->refill_ms = now;
        }
        k->set = *conf;
    }
    if (journal && s->hooks.tube_journal)
        s->hooks.tube_journal(s, t, s->data);
    if (!want && t->conf) {
        list_remove(&s->conf_tubes, &t->conf->link);
        free(t->conf);
        t->conf = NULL;
        store__tube_unref(s, t); /* the settings' reference; ours keeps it for now */
    }
    set_held(s, t, should_hold(t));
    s->conf_due_ms = t->conf ? now : s->conf_due_ms; /* the tick recomputes what is due */
    store__serve_waiters(s);
    store__tube_unref(s, t);
    return STORE_OK;
}

void tube_get_figures(const store *s, const tube *t, tube_figures *out)
{
    memset(out, 0, sizeof *out);
    if (t->conf) {
        out->dead_lettered = t->conf->dead_lettered;
        out->expired = t->conf->expired;
    }
    out->held = t->held;
    /* The oldest ready job has the lowest id among the ready ones: the smallest bucket min. */
    uint64_t oldest = 0;
    for (uint32_t i = 0; i < t->ready.buckets.len; i++) {
        const ready_bucket *b = t->ready.buckets.items[i];
        uint64_t id = idset_min(&b->ids);
        if (id && (!oldest || id < oldest))
            oldest = id;
    }
    job_ext *x;
    const job *j = oldest ? store__find(s, oldest, &x) : NULL;
    if (j) {
        uint64_t now = store__now(s), created = job_created_ms(s, j);
        out->oldest_ready_age_s = now > created ? (int64_t)((now - created) / 1000) : 0;
    }
}

bool store_tube_latency(store *s, tube *t, tube_latency *out)
{
    if (!t->lat && !(t->lat = calloc(1, sizeof(*t->lat))))
        return false;
    uint64_t now = store__now(s);
    out->wait_p50 = lat_quantile(&t->lat->wait, now, 0.5);
    out->wait_p99 = lat_quantile(&t->lat->wait, now, 0.99);
    out->run_p50 = lat_quantile(&t->lat->run, now, 0.5);
    out->run_p99 = lat_quantile(&t->lat->run, now, 0.99);
    return true;
}

uint64_t store_job_run_ms(const store *s, const job *j)
{
    if ((job_state)j->state != JOB_RESERVED)
        return 0;
    return (uint32_t)((uint32_t)store__now(s) - store__ext(s, j)->reserved_at);
}

uint64_t store_last_delete_run_ms(const store *s)
{
    return s->last_delete_run_ms;
}
