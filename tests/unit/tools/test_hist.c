/*
 * Unit tests for the load generators' latency histogram
 * (tools/common/hist.c): bucket geometry, and percentiles of known
 * distributions within the bucket precision the header promises (half a
 * bucket, i.e. 1/128 of the value).
 */
#include "test.h"

#include "hist.h"

/* |got - want| <= want/128, the half-bucket precision, plus 1 for the
 * exact range where buckets are one value wide. */
static int within_precision(uint64_t got, uint64_t want)
{
    uint64_t diff = got > want ? got - want : want - got;
    return diff <= want / 128 + 1;
}

#define ASSERT_NEAR(got, want)                                                                     \
    do {                                                                                           \
        uint64_t g_ = (got), w_ = (want);                                                          \
        if (!within_precision(g_, w_))                                                             \
            TEST_FAIL_("%s ~ %s: %" PRIu64 " vs %" PRIu64, #got, #want, g_, w_);                   \
    } while (0)

TEST(small_values_have_exact_buckets)
{
    for (uint64_t v = 0; v < 64; v++) {
        ASSERT_EQ(hist_bucket_of(v), v);
        ASSERT_EQ(hist_bucket_low((unsigned)v), v);
        ASSERT_EQ(hist_bucket_high((unsigned)v), v);
    }
    ASSERT_EQ(hist_bucket_of(64), 64);
    ASSERT_EQ(hist_bucket_of(127), 127);
    ASSERT_EQ(hist_bucket_of(128), 128); /* [128,130) is bucket 128 */
    ASSERT_EQ(hist_bucket_of(129), 128);
    ASSERT_EQ(hist_bucket_of(130), 129);
}

TEST(every_value_lies_in_its_bucket_and_buckets_are_narrow)
{
    for (uint64_t v = 0; v < 2000000; v += 1 + v / 1000) {
        unsigned b = hist_bucket_of(v);
        ASSERT_LE(hist_bucket_low(b), v);
        ASSERT_GE(hist_bucket_high(b), v);
        uint64_t width = hist_bucket_high(b) - hist_bucket_low(b) + 1;
        ASSERT_LE(width, v / 64 + 1);
    }
}

TEST(buckets_tile_the_range_without_gaps)
{
    for (unsigned b = 0; b + 1 < HIST_BUCKETS; b++)
        ASSERT_EQ(hist_bucket_high(b) + 1, hist_bucket_low(b + 1));
    ASSERT_EQ(hist_bucket_low(0), 0);
}

TEST(extreme_values_use_the_last_bucket)
{
    ASSERT_EQ(hist_bucket_of(UINT64_MAX), HIST_BUCKETS - 1);
    ASSERT_TRUE(hist_bucket_high(HIST_BUCKETS - 1) == UINT64_MAX);
    hist h;
    hist_init(&h);
    hist_record(&h, UINT64_MAX);
    hist_record(&h, 0);
    ASSERT_EQ(h.count, 2);
    ASSERT_EQ(hist_percentile(&h, 50), 0);
    ASSERT_TRUE(hist_percentile(&h, 100) == UINT64_MAX);
}

TEST(empty_histogram_reports_zero)
{
    hist h;
    hist_init(&h);
    ASSERT_EQ(hist_percentile(&h, 50), 0);
    ASSERT_EQ(hist_percentile(&h, 100), 0);
    ASSERT_TRUE(hist_mean(&h) == 0.0);
}

TEST(exact_range_percentiles_are_exact)
{
    hist h;
    hist_init(&h);
    for (uint64_t v = 1; v <= 10; v++)
        hist_record(&h, v);
    ASSERT_EQ(hist_percentile(&h, 50), 5);
    ASSERT_EQ(hist_percentile(&h, 90), 9);
    ASSERT_EQ(hist_percentile(&h, 91), 10);
    ASSERT_EQ(hist_percentile(&h, 0), 1);
    ASSERT_EQ(h.min, 1);
    ASSERT_EQ(h.max, 10);
    ASSERT_TRUE(hist_mean(&h) == 5.5);
}

TEST(uniform_distribution_percentiles)
{
    hist h;
    hist_init(&h);
    for (uint64_t v = 1; v <= 1000000; v++)
        hist_record(&h, v);
    ASSERT_NEAR(hist_percentile(&h, 50), 500000);
    ASSERT_NEAR(hist_percentile(&h, 90), 900000);
    ASSERT_NEAR(hist_percentile(&h, 99), 990000);
    ASSERT_NEAR(hist_percentile(&h, 99.9), 999000);
    ASSERT_EQ(hist_percentile(&h, 100), 1000000);
    ASSERT_EQ(h.min, 1);
    ASSERT_EQ(h.count, 1000000);
}

TEST(constant_distribution_is_clamped_to_the_exact_value)
{
    hist h;
    hist_init(&h);
    for (int i = 0; i < 1000; i++)
        hist_record(&h, 123457);
    ASSERT_EQ(hist_percentile(&h, 1), 123457);
    ASSERT_EQ(hist_percentile(&h, 50), 123457);
    ASSERT_EQ(hist_percentile(&h, 99.9), 123457);
}

TEST(bimodal_tail_is_found)
{
    /* 99% at 100 us, 1% at 10 ms (in ns): the tail appears exactly past p99. */
    hist h;
    hist_init(&h);
    for (int i = 0; i < 9900; i++)
        hist_record(&h, 100000);
    for (int i = 0; i < 100; i++)
        hist_record(&h, 10000000);
    ASSERT_NEAR(hist_percentile(&h, 50), 100000);
    ASSERT_NEAR(hist_percentile(&h, 99), 100000);
    ASSERT_NEAR(hist_percentile(&h, 99.01), 10000000);
    ASSERT_NEAR(hist_percentile(&h, 99.9), 10000000);
    ASSERT_EQ(hist_percentile(&h, 100), 10000000);
}

TEST(quadratic_distribution_percentiles)
{
    /* v_i = i^2 for i = 1..1000: the p-th percentile is (10 p)^2. */
    hist h;
    hist_init(&h);
    for (uint64_t i = 1; i <= 1000; i++)
        hist_record(&h, i * i);
    ASSERT_NEAR(hist_percentile(&h, 50), 250000);
    ASSERT_NEAR(hist_percentile(&h, 90), 810000);
    ASSERT_NEAR(hist_percentile(&h, 99), 980100);
    ASSERT_NEAR(hist_percentile(&h, 10), 10000);
}

TEST(merge_equals_recording_everything_in_one)
{
    static hist a, b, all;
    hist_init(&a);
    hist_init(&b);
    hist_init(&all);
    for (uint64_t v = 0; v < 50000; v++) {
        uint64_t x = v * 7919 % 1000003;
        hist_record(v % 2 ? &a : &b, x);
        hist_record(&all, x);
    }
    hist_merge(&a, &b);
    ASSERT_EQ(a.count, all.count);
    ASSERT_EQ(a.min, all.min);
    ASSERT_EQ(a.max, all.max);
    ASSERT_MEM_EQ(a.buckets, all.buckets, sizeof a.buckets);
    ASSERT_EQ(hist_percentile(&a, 99), hist_percentile(&all, 99));
}

TEST_MAIN()
