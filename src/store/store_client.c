/*
 * The store's clients: a client's watch list and reserved jobs, its waits in reserve, and
 * its place in wait_clients (the heap of clients with something to time out: a wait
 * deadline, or a reserved job whose DEADLINE_SOON moment will come). store.c keeps the
 * invariants this file relies on (its header comment).
 */
#include "store_int.h"

#include <stdlib.h>

job_ext *store__client_soonest(client *c)
{
    /* A client holds few jobs; a scan after an invalidation is cheaper than a heap per
     * client. The cache makes repeated questions O(1). */
    if (!c->soonest) {
        for (job_ext *x = job_list_first(&c->reserved); x; x = job_list_next(x)) {
            if (!c->soonest || job_ext_deadline_less(x, c->soonest))
                c->soonest = x;
        }
    }
    return c->soonest;
}

void store__client_resched(store *s, client *c)
{
    uint64_t at = UINT64_MAX;
    if (c->waiting) {
        at = c->wait_deadline_ms;
        job_ext *x = store__client_soonest(c);
        if (x) {
            uint64_t soon = x->deadline_ms > STORE_SAFETY_MARGIN_MS
                                ? x->deadline_ms - STORE_SAFETY_MARGIN_MS
                                : 0;
            if (soon < at)
                at = soon;
        }
    }
    c->tick_ms = at;
    bool want = at != UINT64_MAX;
    if (c->tick_pos != HEAP_NO_POS) {
        if (want)
            heap_fix(&s->wait_clients, c->tick_pos);
        else
            heap_remove(&s->wait_clients, c->tick_pos);
    } else if (want) {
        heap_insert(&s->wait_clients, c); /* capacity reserved at client creation */
    }
}

void store__client_wait(store *s, client *c, uint64_t deadline_ms)
{
    c->waiting = true;
    c->wait_deadline_ms = deadline_ms;
    s->waiting_ct++;
    for (size_t i = 0; i < c->watch_len; i++) {
        tube_waiter_append(c->watches[i]->t, c->watches[i]);
        store__tube_sched_await(s, c->watches[i]->t);
    }
    store__client_resched(s, c);
}

void store__client_unwait(store *s, client *c)
{
    if (!c->waiting)
        return;
    c->waiting = false;
    s->waiting_ct--;
    for (size_t i = 0; i < c->watch_len; i++) {
        tube_waiter_remove(c->watches[i]->t, c->watches[i]);
        store__tube_sched_await(s, c->watches[i]->t);
    }
    store__client_resched(s, c);
}

void store_cancel_wait(store *s, client *c)
{
    store__client_unwait(s, c);
}

client *store_client_new(store *s, void *owner)
{
    size_t nclients = 1;
    for (const list_node *n = s->clients.first; n; n = n->next)
        nclients++;
    client *c = calloc(1, sizeof(*c));
    watch *w = calloc(1, sizeof(*w));
    watch **ws = calloc(4, sizeof(watch *));
    if (!c || !w || !ws || !heap_reserve(&s->wait_clients, nclients))
        goto fail;
    c->s = s;
    c->owner = owner;
    c->tick_pos = HEAP_NO_POS;
    c->wait_deadline_ms = UINT64_MAX;
    store__watch_index_init(c);
    c->use = s->default_tube;
    store__tube_ref(c->use);
    c->use->using_ct++;
    w->t = s->default_tube;
    w->c = c;
    store__tube_ref(w->t);
    w->t->watching_ct++;
    ws[0] = w;
    watch_attach(w);
    c->watches = ws;
    c->watch_len = 1;
    c->watch_cap = 4;
    list_prepend(&s->clients, &c->link);
    return c;
fail:
    free(ws);
    free(w);
    free(c);
    return NULL;
}

void store_client_free(store *s, client *c)
{
    store__client_unwait(s, c);
    /* beanstalkd puts a vanished worker's jobs back at once, one by one, serving waiters
     * after each; none of this counts as a timeout or a release. */
    job_ext *x;
    while ((x = job_list_first(&c->reserved))) {
        store__unlink(s, x->j, x);
        store__ready_or_bury(s, x->j, x);
        store__serve_waiters(s);
    }
    /* beanstalkd's ms_clear deletes item 0 until none is left, each time moving the last
     * item into the hole: watches go in the order 0, n-1, n-2, ..., 1. The order matters
     * because each tube that vanishes moves the last tube of list-tubes into its place. */
    for (size_t k = 0; k < c->watch_len; k++) {
        size_t i = k == 0 ? 0 : c->watch_len - k;
        tube *t = c->watches[i]->t;
        watch_detach(c->watches[i]);
        free(c->watches[i]);
        t->watching_ct--;
        store__tube_unref(s, t);
    }
    free(c->watches);
    hashmap_dispose(&c->watch_index);
    c->use->using_ct--;
    store__tube_unref(s, c->use);
    list_remove(&s->clients, &c->link);
    free(c);
}

void *client_owner(const client *c)
{
    return c->owner;
}

const tube *client_used_tube(const client *c)
{
    return c->use;
}

size_t client_watch_count(const client *c)
{
    return c->watch_len;
}

const tube *client_watched_at(const client *c, size_t i)
{
    return i < c->watch_len ? c->watches[i]->t : NULL;
}

bool client_is_waiting(const client *c)
{
    return c->waiting;
}

size_t client_reserved_count(const client *c)
{
    return c->reserved.len;
}
