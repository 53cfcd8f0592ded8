/*
 * Unit tests for src/store/ttrq.c (reserved jobs by expiry: one FIFO per TTR value and a
 * heap of FIFOs), with exact orders and a randomized run against a naive scan.
 */
#include "ttrq.h"

#include <stdlib.h>

#include "heap.h"
#include "test.h"

static uint64_t seq;

/* An ext reserved now with ttr_s: deadline now + ttr, the next seq. */
static void reserve_at(ttrq *q, job_ext *x, uint64_t now, uint32_t ttr_s)
{
    x->deadline_ms = now + (uint64_t)ttr_s * 1000;
    x->seq = ++seq;
    ASSERT_TRUE(ttrq_prepare(q, ttr_s));
    ttrq_add(q, ttr_s, x);
}

TEST(soonest_across_ttr_values_and_ties_by_seq)
{
    ttrq q;
    ttrq_init(&q);
    static job_ext x[4];
    ASSERT_TRUE(ttrq_peek(&q) == NULL);
    reserve_at(&q, &x[0], 1000, 60); /* 61000 */
    reserve_at(&q, &x[1], 1000, 5);  /*  6000 */
    reserve_at(&q, &x[2], 2000, 5);  /*  7000 */
    reserve_at(&q, &x[3], 55000, 6); /* 61000, after x[0] */
    ASSERT_TRUE(ttrq_peek(&q) == &x[1]);
    ttrq_remove(&q, 5, &x[1]);
    ASSERT_TRUE(ttrq_peek(&q) == &x[2]);
    ttrq_remove(&q, 5, &x[2]);
    ASSERT_TRUE(ttrq_peek(&q) == &x[0]); /* equal deadline: the one reserved first */
    ttrq_remove(&q, 60, &x[0]);
    ASSERT_TRUE(ttrq_peek(&q) == &x[3]);
    ttrq_remove(&q, 6, &x[3]);
    ASSERT_TRUE(ttrq_peek(&q) == NULL);
    ttrq_dispose(&q);
}

TEST(requeue_moves_a_touched_job_behind_the_others)
{
    ttrq q;
    ttrq_init(&q);
    static job_ext x[3];
    for (int i = 0; i < 3; i++)
        reserve_at(&q, &x[i], 1000 + (uint64_t)i, 10);
    /* Touch the first at a later time: the second becomes the soonest. */
    x[0].deadline_ms = 5000 + 10000;
    x[0].seq = ++seq;
    ttrq_requeue(&q, 10, &x[0]);
    ASSERT_TRUE(ttrq_peek(&q) == &x[1]);
    ttrq_remove(&q, 10, &x[1]);
    ttrq_remove(&q, 10, &x[2]);
    ASSERT_TRUE(ttrq_peek(&q) == &x[0]);
    /* Touching the only job (head and tail) keeps it and its place in the heap right. */
    x[0].deadline_ms += 1;
    x[0].seq = ++seq;
    ttrq_requeue(&q, 10, &x[0]);
    ASSERT_TRUE(ttrq_peek(&q) == &x[0]);
    ttrq_remove(&q, 10, &x[0]);
    ASSERT_TRUE(ttrq_peek(&q) == NULL);
    ttrq_dispose(&q);
}

TEST(emptied_fifos_are_kept_up_to_the_spare_count_then_freed)
{
    ttrq q;
    ttrq_init(&q);
    static job_ext x[TTRQ_SPARE + 4];
    for (uint32_t i = 0; i < TTRQ_SPARE + 4; i++)
        reserve_at(&q, &x[i], 0, i + 1);
    ASSERT_EQ(q.by_ttr.len, TTRQ_SPARE + 4u);
    for (uint32_t i = 0; i < TTRQ_SPARE + 4; i++)
        ttrq_remove(&q, i + 1, &x[i]);
    ASSERT_EQ(ttrq_empty_fifos(&q), (size_t)TTRQ_SPARE);
    ASSERT_EQ(q.by_ttr.len, (size_t)TTRQ_SPARE);
    ASSERT_EQ(q.heads.len, 0u);
    /* A kept FIFO is reused without a new one. */
    reserve_at(&q, &x[0], 0, 1);
    ASSERT_EQ(q.by_ttr.len, (size_t)TTRQ_SPARE);
    ASSERT_EQ(ttrq_empty_fifos(&q), (size_t)TTRQ_SPARE - 1);
    ttrq_remove(&q, 1, &x[0]);
    ttrq_dispose(&q);
}

static uint64_t rng = 0x853C49E6748FEA9BULL;
static uint32_t pick(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

TEST(random_reserves_touches_and_removes_match_a_scan)
{
    enum { N = 500 };
    static job_ext x[N];
    static uint32_t ttr_of[N];
    static bool in[N];
    ttrq q;
    ttrq_init(&q);
    uint64_t now = 0;
    for (int step = 0; step < 100000; step++) {
        int i = (int)pick(N);
        now += pick(3);
        if (!in[i]) {
            ttr_of[i] = 1 + pick(pick(4) ? 3 : 40); /* mostly few TTR values, sometimes many */
            reserve_at(&q, &x[i], now, ttr_of[i]);
            in[i] = true;
        } else if (pick(3) == 0) {
            x[i].deadline_ms = now + (uint64_t)ttr_of[i] * 1000;
            x[i].seq = ++seq;
            ttrq_requeue(&q, ttr_of[i], &x[i]);
        } else {
            ttrq_remove(&q, ttr_of[i], &x[i]);
            in[i] = false;
        }
        const job_ext *best = NULL;
        for (int k = 0; k < N; k++) {
            if (in[k] && (!best || job_ext_deadline_less(&x[k], best)))
                best = &x[k];
        }
        ASSERT_TRUE(ttrq_peek(&q) == best);
        ASSERT_TRUE(ttrq_empty_fifos(&q) <= TTRQ_SPARE);
    }
    ttrq_dispose(&q);
}

TEST_MAIN()
