/*
 * Tube allocation, the orders of the store-wide tube heaps, and tube accessors and stats.
 */
#include "tube.h"

#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

tube *tube_alloc(const char *name, size_t len)
{
    tube *t = calloc(1, sizeof(*t) + len + 1);
    if (!t)
        return NULL;
    ready_init(&t->ready);
    t->unindexed = 1u << JOB_RESERVED; /* until a reserved page is asked for (tube.h) */
    for (size_t st = 0; st < sizeof(t->by_state) / sizeof(t->by_state[0]); st++)
        idset_init(&t->by_state[st]);
    heap_init(&t->delay, job_ext_deadline_less, offsetof(job_ext, heap_pos));
    t->delay_pos = t->pause_pos = t->await_pos = HEAP_NO_POS;
    t->name_len = len;
    memcpy(t->name, name, len);
    t->name[len] = '\0';
    return t;
}

void tube_destroy(tube *t)
{
    ready_dispose(&t->ready);
    free(t->lat);
    for (size_t st = 0; st < sizeof(t->by_state) / sizeof(t->by_state[0]); st++)
        idset_dispose(&t->by_state[st]);
    heap_dispose(&t->delay);
    free(t->conf); /* set only on tubes the store frees with itself: see tube_settings.c */
    free(t);
}

void tube_waiter_append(tube *t, watch *w)
{
    list_append(&t->waiters, &w->link);
    w->linked = true;
    t->waiting_ct++;
}

void tube_waiter_remove(tube *t, watch *w)
{
    if (!w->linked)
        return;
    list_remove(&t->waiters, &w->link);
    w->linked = false;
    t->waiting_ct--;
}

bool tube_delay_less(const void *a, const void *b)
{
    return job_ext_deadline_less(heap_peek(&((const tube *)a)->delay),
                                 heap_peek(&((const tube *)b)->delay));
}

bool tube_pause_less(const void *a, const void *b)
{
    const tube *x = a, *y = b;
    if (x->unpause_ms != y->unpause_ms)
        return x->unpause_ms < y->unpause_ms;
    return x < y; /* any fixed tie-break will do: all due tubes are unpaused together */
}

bool tube_await_less(const void *a, const void *b)
{
    uint32_t pa = 0, pb = 0;
    uint64_t ia = ready_peek(&((const tube *)a)->ready, &pa);
    uint64_t ib = ready_peek(&((const tube *)b)->ready, &pb);
    return pa != pb ? pa < pb : ia < ib;
}

uint64_t tube_hash(const void *item)
{
    const tube *t = item;
    return hashmap_hash_bytes(t->name, t->name_len);
}

bool tube_name_eq(const void *item, const void *key)
{
    const tube *t = item;
    const tube_key *k = key;
    return t->name_len == k->len && memcmp(t->name, k->name, k->len) == 0;
}

const char *tube_name(const tube *t)
{
    return t->name;
}

size_t tube_name_len(const tube *t)
{
    return t->name_len;
}

bool tube_is_paused(const tube *t)
{
    return t->pause_ms != 0;
}

void tube_get_stats(const store *s, const tube *t, tube_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->name = t->name;
    out->name_len = t->name_len;
    out->urgent = t->urgent_ct;
    out->ready = ready_len(&t->ready);
    out->reserved = t->reserved_ct;
    out->delayed = t->delay.len;
    out->buried = t->buried_ct;
    out->total_jobs = t->total_jobs;
    out->using = t->using_ct;
    out->watching = t->watching_ct;
    out->waiting = t->waiting_ct;
    out->cmd_delete = t->delete_ct;
    out->cmd_pause_tube = t->pause_ct;
    if (t->pause_ms) {
        out->pause_s = t->pause_ms / 1000;
        int64_t left = (int64_t)t->unpause_ms - (int64_t)store_now_ms(s);
        out->pause_time_left_s = left > 0 ? left / 1000 : 0;
    }
}
