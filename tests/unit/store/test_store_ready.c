/*
 * Unit tests for src/store/ready.c (a tube's ready set: priority buckets of id sets),
 * checked against a naive model, and the store's (pri, id) hand-out order with mixed
 * priorities, releases and kicks.
 */
#include "store_env.h"

#include "heap.h"
#include "job.h"
#include "ready.h"
#include "tube.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t pick(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* Every bucket non-empty, in the table and ordered by pri. Returns the id count. */
static size_t check_invariants(const ready_set *r)
{
    size_t total = 0;
    for (uint32_t i = 0; i < r->buckets.len; i++) {
        const ready_bucket *b = r->buckets.items[i];
        ASSERT_EQ(b->pos, i);
        ASSERT_TRUE(idset_len(&b->ids) > 0);
        if (i > 0)
            ASSERT_TRUE(((const ready_bucket *)r->buckets.items[(i - 1) / 2])->pri < b->pri);
        uint32_t pri = b->pri;
        ASSERT_TRUE(hashmap_find(&r->by_pri, hashmap_hash_u64(pri), &pri) == b);
        total += idset_len(&b->ids);
    }
    ASSERT_EQ(r->by_pri.len, r->buckets.len);
    ASSERT_EQ(total, ready_len(r));
    ASSERT_TRUE(r->nspare <= 4);
    return total;
}

TEST(ready_peek_is_lowest_pri_then_lowest_id)
{
    ready_set r;
    ready_init(&r);
    uint32_t pris[6] = {5, 0, 5, 1000, 0, 1};
    /* Inserted out of id order within a priority, as a release or kick does. */
    int order[6] = {4, 3, 0, 5, 2, 1};
    for (int i = 0; i < 6; i++)
        ASSERT_TRUE(ready_insert(&r, pris[order[i]], (uint64_t)order[i] + 1));
    ASSERT_EQ(r.buckets.len, 4u);
    uint64_t want[6] = {2, 5, 6, 1, 3, 4}; /* (0,2) (0,5) (1,6) (5,1) (5,3) (1000,4) */
    uint32_t want_pri[6] = {0, 0, 1, 5, 5, 1000};
    for (int i = 0; i < 6; i++) {
        uint32_t pri = 0;
        ASSERT_EQ(ready_peek(&r, &pri), want[i]);
        ASSERT_EQ(pri, want_pri[i]);
        ready_remove(&r, pri, want[i]);
        check_invariants(&r);
    }
    uint32_t pri = 77;
    ASSERT_EQ(ready_peek(&r, &pri), 0);
    ASSERT_EQ(r.buckets.len, 0u);
    ready_dispose(&r);
}

TEST(ready_fifo_puts_into_one_bucket_come_out_in_order)
{
    enum { N = 70000 }; /* more than one idset container */
    ready_set r;
    ready_init(&r);
    for (uint64_t id = 1; id <= N; id++)
        ASSERT_TRUE(ready_insert(&r, 7, id));
    check_invariants(&r);
    ASSERT_EQ(r.buckets.len, 1u);
    for (uint64_t id = 1; id <= N; id++) {
        uint32_t pri = 0;
        ASSERT_EQ(ready_peek(&r, &pri), id);
        ready_remove(&r, pri, id);
    }
    ASSERT_EQ(ready_len(&r), 0u);
    ready_dispose(&r);
}

TEST(ready_emptied_buckets_are_reused_and_capped)
{
    ready_set r;
    ready_init(&r);
    for (uint32_t i = 0; i < 10; i++)
        ASSERT_TRUE(ready_insert(&r, i, i + 1));
    ASSERT_EQ(r.buckets.len, 10u);
    for (uint32_t i = 0; i < 10; i++)
        ready_remove(&r, i, i + 1);
    ASSERT_EQ(r.buckets.len, 0u);
    ASSERT_EQ(r.nspare, 4u);
    /* A priority that empties and refills takes a spare bucket. */
    ready_bucket *spare = r.spare;
    ASSERT_TRUE(ready_insert(&r, 99, 1));
    ASSERT_TRUE(r.buckets.items[0] == spare);
    ASSERT_EQ(r.nspare, 3u);
    ready_remove(&r, 99, 1);
    ASSERT_TRUE(r.spare == spare);
    ready_dispose(&r);
}

TEST(ready_random_operations_match_model)
{
    enum { N = 3000 };
    static uint32_t pri_of[N];
    static bool in[N];
    ready_set r;
    ready_init(&r);
    size_t count = 0;
    for (int step = 0; step < 60000; step++) {
        int i = (int)pick(N);
        if (!in[i]) {
            /* Mostly a few priorities (deep buckets), sometimes many (many buckets). */
            pri_of[i] = pick(3) ? pick(4) * 1000 : pick(200);
            ASSERT_TRUE(ready_insert(&r, pri_of[i], (uint64_t)i + 1));
            in[i] = true;
            count++;
        } else if (pick(3) == 0) {
            /* reserve: take the top, as the store does */
            uint32_t pri = 0;
            uint64_t top = ready_peek(&r, &pri);
            ASSERT_EQ(pri, pri_of[top - 1]);
            ready_remove(&r, pri, top);
            in[top - 1] = false;
            count--;
        } else {
            ready_remove(&r, pri_of[i], (uint64_t)i + 1);
            in[i] = false;
            count--;
        }
        ASSERT_EQ(ready_len(&r), count);
        int best = -1;
        for (int k = 0; k < N; k++) {
            if (in[k] && (best < 0 || pri_of[k] < pri_of[best]))
                best = k; /* ties keep the lower id: k ascends */
        }
        uint32_t pri = 0;
        ASSERT_EQ(ready_peek(&r, &pri), best < 0 ? 0 : (uint64_t)best + 1);
        if (step % 1009 == 0)
            check_invariants(&r);
    }
    check_invariants(&r);
    uint32_t prev_pri = 0;
    uint64_t prev = 0;
    while (ready_len(&r)) {
        uint32_t pri = 0;
        uint64_t top = ready_peek(&r, &pri);
        if (prev)
            ASSERT_TRUE(prev_pri < pri || (prev_pri == pri && prev < top));
        ready_remove(&r, pri, top);
        prev = top;
        prev_pri = pri;
    }
    ready_dispose(&r);
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
    const ready_bucket *deep = t->ready.buckets.items[0];
    ASSERT_EQ(idset_len(&deep->ids), (size_t)DEEP);
    size_t bytes = idset_footprint(&deep->ids);
    for (int i = 0; i < 1000; i++) {
        uint64_t id = put(e, c, 0);
        ASSERT_EQ(reserve_id(e, c), id);
        ASSERT_EQ(store_delete(e->s, c, id), STORE_OK);
    }
    /* Same bucket, same top, same length and size: the pri-0 cycle never reached it. */
    ASSERT_TRUE(t->ready.buckets.items[0] == deep);
    ASSERT_EQ(idset_min(&deep->ids), 1u);
    ASSERT_EQ(idset_len(&deep->ids), (size_t)DEEP);
    ASSERT_EQ(idset_footprint(&deep->ids), bytes);
    ASSERT_EQ(ready_len(&t->ready), (size_t)DEEP);
    env_free(e);
}

TEST_MAIN()
