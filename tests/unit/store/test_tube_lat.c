/*
 * Unit tests for src/store/tube_lat.c (tube-info's last-minute latency rings) and the store's
 * use of them: bins cover every value with ~19% width, quantiles give a bin's upper bound,
 * observations older than a minute drop out, and a tube records first-reserve waits and
 * reserve-to-delete runs once tube-info has asked (fake clock).
 */
#include "store_env.h"
#include "test.h"
#include "tube_lat.h"

TEST(bins_are_ordered_and_hold_their_values)
{
    for (uint64_t v = 0; v < 100000; v++) {
        unsigned b = lat_bin(v);
        ASSERT_TRUE(b < LAT_BINS);
        ASSERT_TRUE(v <= lat_bin_max(b));
        ASSERT_TRUE(b == 0 || v > lat_bin_max(b - 1));
        ASSERT_TRUE(lat_bin_max(b) <= v + v / 4 + 1);
    }
    ASSERT_EQ(lat_bin(UINT64_C(1) << 40), LAT_BINS - 1);
}

TEST(quantiles_over_the_last_minute)
{
    static lat_ring r;
    uint64_t t0 = 1000000;
    ASSERT_EQ(lat_quantile(&r, t0, 0.5), -1);
    for (int i = 0; i < 98; i++)
        lat_observe(&r, t0, 100);
    lat_observe(&r, t0 + 20000, 5000);
    lat_observe(&r, t0 + 20000, 5000);
    int64_t p50 = lat_quantile(&r, t0 + 20000, 0.5), p99 = lat_quantile(&r, t0 + 20000, 0.99);
    ASSERT_TRUE(p50 >= 100 && p50 <= 125);
    ASSERT_TRUE(p99 >= 5000 && p99 <= 6250);
    /* 61 s on, the 100s have left the window; the 5000s (40 s younger) are still in. */
    p50 = lat_quantile(&r, t0 + 61000, 0.5);
    ASSERT_TRUE(p50 >= 5000 && p50 <= 6250);
    ASSERT_EQ(lat_quantile(&r, t0 + 90000, 0.5), -1);
    /* A slot reused a lap later starts empty. */
    lat_observe(&r, t0 + 120000, 7);
    ASSERT_EQ(lat_quantile(&r, t0 + 120000, 0.99), 7);
}

TEST(tube_records_waits_and_runs_once_asked)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    size_t n;
    ASSERT_EQ(store_use(e->s, c, "t", 1), STORE_OK);
    ASSERT_EQ(store_watch(e->s, c, "t", 1, &n), STORE_OK);
    tube *t = store_find_tube(e->s, "t", 1);
    tube_latency l;
    ASSERT_TRUE(store_tube_latency(e->s, t, &l));
    ASSERT_EQ(l.wait_p50, -1);
    ASSERT_EQ(l.run_p99, -1);
    job *j = NULL;
    ASSERT_EQ(store_put(e->s, c, 0, 0, 60, "x", 1, &j), STORE_OK);
    advance(e, 2000);
    job *r = NULL;
    ASSERT_EQ(store_reserve(e->s, c, 0, &r), STORE_OK);
    advance(e, 700);
    ASSERT_EQ(store_job_run_ms(e->s, r), 700);
    ASSERT_EQ(store_release(e->s, c, job_id(r), 0, 0), STORE_OK);
    ASSERT_EQ(store_reserve(e->s, c, 0, &r), STORE_OK); /* not a first reserve */
    advance(e, 300);
    ASSERT_EQ(store_delete(e->s, c, job_id(r)), STORE_OK);
    ASSERT_TRUE(store_tube_latency(e->s, t, &l));
    /* Creation times are in 128 ms steps: the wait is 2000 ms to 2128 ms, then its bin. */
    ASSERT_TRUE(l.wait_p50 >= 2000 && l.wait_p50 <= 2600);
    ASSERT_EQ(l.wait_p99, l.wait_p50);
    ASSERT_TRUE(l.run_p50 >= 300 && l.run_p50 <= 375);
    store_client_free(e->s, c);
    env_free(e);
}

TEST_MAIN()
