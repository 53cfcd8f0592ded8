/*
 * Unit tests for src/queue/ready.c (a tube's ready set of priority buckets) and jobtab.c
 * (jobs by id), checked against naive models, and the store's (pri, id) hand-out order
 * with mixed priorities, releases and kicks.
 */
#include "store_env.h"

#include "queue/heap.h"
#include "queue/job.h"
#include "queue/jobtab.h"
#include "queue/ready.h"
#include "queue/tube.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t pick(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* Every bucket non-empty, in the table, ordered by pri, each a 4-ary heap by id whose
 * entries agree with their jobs' ids, pris and positions. Returns the job count. */
static size_t check_invariants(const ready_set *r)
{
    size_t total = 0;
    for (uint32_t i = 0; i < r->nbuckets; i++) {
        const ready_bucket *b = r->buckets[i];
        ASSERT_EQ(b->pos, i);
        ASSERT_TRUE(b->len > 0);
        if (i > 0)
            ASSERT_TRUE(r->buckets[(i - 1) / 2]->pri < b->pri);
        uint32_t pri = b->pri;
        ASSERT_TRUE(hashmap_find(&r->by_pri, hashmap_hash_u64(pri), &pri) == b);
        for (uint32_t k = 0; k < b->len; k++) {
            ASSERT_EQ(b->items[k].id, b->items[k].j->id);
            ASSERT_EQ(b->items[k].j->pri, b->pri);
            ASSERT_EQ(b->items[k].j->heap_pos, k);
            if (k > 0)
                ASSERT_TRUE(b->items[(k - 1) / 4].id < b->items[k].id);
        }
        total += b->len;
    }
    ASSERT_EQ(r->by_pri.len, r->nbuckets);
    ASSERT_EQ(total, ready_len(r));
    ASSERT_TRUE(r->nspare <= 4);
    return total;
}

static bool pri_id_less(const job *a, const job *b)
{
    return a->pri != b->pri ? a->pri < b->pri : a->id < b->id;
}

TEST(ready_peek_is_lowest_pri_then_lowest_id)
{
    ready_set r;
    ready_init(&r);
    uint32_t pris[6] = {5, 0, 5, 1000, 0, 1};
    job *js[6];
    for (int i = 0; i < 6; i++) {
        js[i] = job_alloc((uint64_t)i + 1, "", 0);
        js[i]->pri = pris[i];
    }
    /* Inserted out of id order within a priority, as a release or kick does. */
    int order[6] = {4, 3, 0, 5, 2, 1};
    for (int i = 0; i < 6; i++)
        ASSERT_TRUE(ready_insert(&r, js[order[i]]));
    ASSERT_EQ(r.nbuckets, 4u);
    uint64_t want[6] = {2, 5, 6, 1, 3, 4}; /* (0,2) (0,5) (1,6) (5,1) (5,3) (1000,4) */
    for (int i = 0; i < 6; i++) {
        job *top = ready_peek(&r);
        ASSERT_TRUE(top != NULL);
        ASSERT_EQ(top->id, want[i]);
        ready_remove(&r, top);
        ASSERT_EQ(top->heap_pos, HEAP_NO_POS);
        check_invariants(&r);
    }
    ASSERT_TRUE(ready_peek(&r) == NULL);
    ASSERT_EQ(r.nbuckets, 0u);
    ready_dispose(&r);
    for (int i = 0; i < 6; i++)
        free(js[i]);
}

TEST(ready_fifo_puts_into_one_bucket_do_not_sift)
{
    enum { N = 5000 };
    static job *js[N];
    ready_set r;
    ready_init(&r);
    for (int i = 0; i < N; i++) {
        js[i] = job_alloc((uint64_t)i + 1, "", 0);
        js[i]->pri = 7;
        ASSERT_TRUE(ready_insert(&r, js[i]));
        /* Increasing ids land at the end of the array: nobody moves. */
        ASSERT_EQ(js[i]->heap_pos, (uint32_t)i);
    }
    check_invariants(&r);
    for (int i = 0; i < N; i++) {
        ASSERT_TRUE(ready_peek(&r) == js[i]);
        ready_remove(&r, js[i]);
    }
    ASSERT_EQ(ready_len(&r), 0u);
    ready_dispose(&r);
    for (int i = 0; i < N; i++)
        free(js[i]);
}

TEST(ready_emptied_buckets_are_reused_and_capped)
{
    ready_set r;
    ready_init(&r);
    job *js[10];
    for (int i = 0; i < 10; i++) {
        js[i] = job_alloc((uint64_t)i + 1, "", 0);
        js[i]->pri = (uint32_t)i;
        ASSERT_TRUE(ready_insert(&r, js[i]));
    }
    ASSERT_EQ(r.nbuckets, 10u);
    for (int i = 0; i < 10; i++)
        ready_remove(&r, js[i]);
    ASSERT_EQ(r.nbuckets, 0u);
    ASSERT_EQ(r.nspare, 4u);
    /* A priority that empties and refills takes a spare bucket, allocating nothing. */
    ready_bucket *spare = r.spare;
    js[0]->pri = 99;
    ASSERT_TRUE(ready_insert(&r, js[0]));
    ASSERT_TRUE(r.buckets[0] == spare);
    ASSERT_EQ(r.nspare, 3u);
    ready_remove(&r, js[0]);
    ASSERT_TRUE(r.spare == spare);
    ready_dispose(&r);
    for (int i = 0; i < 10; i++)
        free(js[i]);
}

TEST(ready_random_operations_match_model)
{
    enum { N = 3000 };
    static job *js[N];
    static bool in[N];
    ready_set r;
    ready_init(&r);
    for (int i = 0; i < N; i++)
        js[i] = job_alloc((uint64_t)i + 1, "", 0);
    size_t count = 0;
    for (int step = 0; step < 60000; step++) {
        int i = (int)pick(N);
        if (!in[i]) {
            /* Mostly a few priorities (deep buckets), sometimes many (many buckets). */
            js[i]->pri = pick(3) ? pick(4) * 1000 : pick(200);
            ASSERT_TRUE(ready_insert(&r, js[i]));
            in[i] = true;
            count++;
        } else if (pick(3) == 0) {
            /* reserve: take the top, as the store does */
            job *top = ready_peek(&r);
            ready_remove(&r, top);
            in[top->id - 1] = false;
            count--;
        } else {
            ready_remove(&r, js[i]);
            in[i] = false;
            count--;
        }
        ASSERT_EQ(ready_len(&r), count);
        job *best = NULL;
        for (int k = 0; k < N; k++) {
            if (in[k] && (!best || pri_id_less(js[k], best)))
                best = js[k];
        }
        ASSERT_TRUE(ready_peek(&r) == best);
        if (step % 1009 == 0)
            check_invariants(&r);
    }
    check_invariants(&r);
    job *prev = NULL;
    while (ready_len(&r)) {
        job *top = ready_peek(&r);
        if (prev)
            ASSERT_TRUE(pri_id_less(prev, top));
        ready_remove(&r, top);
        prev = top;
    }
    ready_dispose(&r);
    for (int i = 0; i < N; i++)
        free(js[i]);
}

TEST(jobtab_random_insert_find_remove_match_model)
{
    enum { N = 20000 };
    static job *js[N];
    static bool in[N];
    jobtab t;
    jobtab_init(&t);
    for (int i = 0; i < N; i++)
        js[i] = job_alloc((uint64_t)i * 3 + 1, "", 0); /* ids collide on small tables */
    size_t count = 0;
    for (int step = 0; step < 200000; step++) {
        int i = (int)pick(N);
        if (in[i]) {
            ASSERT_TRUE(jobtab_remove(&t, js[i]));
            ASSERT_TRUE(!jobtab_remove(&t, js[i]));
            count--;
        } else {
            ASSERT_TRUE(jobtab_insert(&t, js[i]));
            count++;
        }
        in[i] = !in[i];
        int k = (int)pick(N);
        ASSERT_TRUE(jobtab_find(&t, js[k]->id) == (in[k] ? js[k] : NULL));
        ASSERT_TRUE(jobtab_find(&t, js[k]->id + 1) == NULL);
    }
    ASSERT_EQ(t.len, count);
    size_t seen = 0;
    for (size_t s = 0; s < t.cap; s++) {
        job *j = jobtab_slot_job(&t, s);
        if (j) {
            ASSERT_TRUE(in[(j->id - 1) / 3]);
            seen++;
        }
    }
    ASSERT_EQ(seen, count);
    for (int k = 0; k < N; k++)
        ASSERT_TRUE(jobtab_find(&t, js[k]->id) == (in[k] ? js[k] : NULL));
    jobtab_dispose(&t);
    for (int i = 0; i < N; i++)
        free(js[i]);
}

/* ---- through the store ---- */

static uint64_t reserve_id(env *e, client *c)
{
    job *j = NULL;
    ASSERT_EQ(store_reserve(e->s, c, 0, &j), STORE_OK);
    return job_id(j);
}

static uint64_t put(env *e, client *c, uint32_t pri)
{
    job *j = NULL;
    ASSERT_EQ(store_put(e->s, c, pri, 0, 60, "x", 1, &j), STORE_OK);
    return job_id(j);
}

TEST(store_order_is_pri_then_id_across_releases_and_kicks)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    /* ids 1..8 at mixed priorities */
    uint32_t pris[8] = {10, 5, 10, 0, 5, 1000, 0, 10};
    for (int i = 0; i < 8; i++)
        ASSERT_EQ(put(e, c, pris[i]), (uint64_t)i + 1);
    /* Take the two pri-0 jobs and the first pri-5 job, then give them back with their old
     * ids: 7 released at pri 10 (between 3 and 8), 4 released at pri 5 (before 5), 2 buried
     * at pri 5 and kicked (before 4). */
    ASSERT_EQ(reserve_id(e, c), 4u);
    ASSERT_EQ(reserve_id(e, c), 7u);
    ASSERT_EQ(reserve_id(e, c), 2u);
    ASSERT_EQ(store_release(e->s, c, 7, 10, 0), STORE_OK);
    ASSERT_EQ(store_release(e->s, c, 4, 5, 0), STORE_OK);
    ASSERT_EQ(store_bury(e->s, c, 2, 5), STORE_OK);
    /* A new job gets a larger id than every released one. */
    ASSERT_EQ(put(e, c, 5), 9u);
    job *peek = store_peek_ready(e->s, c);
    ASSERT_EQ(job_id(peek), 4u);
    uint32_t kicked = 0;
    ASSERT_EQ(store_kick(e->s, c, 10, &kicked), STORE_OK);
    ASSERT_EQ(kicked, 1u);
    /* (5,2) (5,4) (5,5) (5,9) (10,1) (10,3) (10,7) (10,8) (1000,6) */
    uint64_t want[9] = {2, 4, 5, 9, 1, 3, 7, 8, 6};
    for (int i = 0; i < 9; i++) {
        peek = store_peek_ready(e->s, c);
        ASSERT_TRUE(peek != NULL);
        ASSERT_EQ(job_id(peek), want[i]);
        ASSERT_EQ(reserve_id(e, c), want[i]);
        ASSERT_EQ(store_delete(e->s, c, want[i]), STORE_OK);
    }
    ASSERT_TRUE(store_peek_ready(e->s, c) == NULL);
    job *none = NULL;
    ASSERT_EQ(store_reserve(e->s, c, 0, &none), STORE_TIMED_OUT);
    env_free(e);
}

TEST(store_delayed_kick_and_ttr_expiry_rejoin_in_id_order)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    job *j = NULL;
    ASSERT_EQ(store_put(e->s, c, 3, 5, 60, "x", 1, &j), STORE_OK); /* 1: delayed */
    ASSERT_EQ(put(e, c, 3), 2u);
    ASSERT_EQ(store_put(e->s, c, 3, 0, 1, "x", 1, &j), STORE_OK); /* 3: ttr 1 s */
    ASSERT_EQ(put(e, c, 3), 4u);
    ASSERT_EQ(reserve_id(e, c), 2u);
    ASSERT_EQ(reserve_id(e, c), 3u);
    ASSERT_EQ(store_delete(e->s, c, 2), STORE_OK);
    ASSERT_EQ(store_kick_job(e->s, 1), STORE_OK);
    advance(e, 1000); /* 3's TTR ends: back to ready with its old id */
    ASSERT_EQ(job_get_state(store_find_job(e->s, 3)), JOB_READY);
    uint64_t want[3] = {1, 3, 4};
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(job_id(store_peek_ready(e->s, c)), want[i]);
        ASSERT_EQ(reserve_id(e, c), want[i]);
    }
    env_free(e);
}

TEST(store_deep_bucket_is_untouched_by_work_at_other_priority)
{
    enum { DEEP = 20000 };
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    for (int i = 0; i < DEEP; i++)
        put(e, c, 1000);
    const tube *t = client_used_tube(c);
    const ready_bucket *deep = t->ready.buckets[0];
    ASSERT_EQ(deep->len, (uint32_t)DEEP);
    job *first = deep->items[0].j;
    for (int i = 0; i < 1000; i++) {
        uint64_t id = put(e, c, 0);
        ASSERT_EQ(reserve_id(e, c), id);
        ASSERT_EQ(store_delete(e->s, c, id), STORE_OK);
    }
    /* Same bucket, same top entry, same length: the pri-0 cycle never reached it. */
    ASSERT_TRUE(t->ready.buckets[0] == deep);
    ASSERT_TRUE(deep->items[0].j == first);
    ASSERT_EQ(deep->len, (uint32_t)DEEP);
    ASSERT_EQ(ready_len(&t->ready), (size_t)DEEP);
    env_free(e);
}

TEST_MAIN()
