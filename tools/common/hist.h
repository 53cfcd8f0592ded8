/*
 * A latency histogram in the HDR style: fixed memory, log-linear buckets.
 *
 * Values (nanoseconds, but any unit works) below 64 get a bucket each. Above
 * that, every power-of-two range [2^k, 2^(k+1)) is split into 64 linear
 * sub-buckets of width 2^(k-6), so a value is known to within 1/64 (about
 * 1.6%) of itself across the whole uint64_t range. Recording is a few
 * instructions and never allocates, so a load generator can record every
 * operation; two histograms merge by adding their buckets.
 *
 * Shared by synq-bench and synq-echoload (tools/echoload/hist.c includes
 * this module's source) and tested by tests/unit/test_hist.c.
 */
#ifndef SYNQ_TOOLS_HIST_H
#define SYNQ_TOOLS_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS) /* linear sub-buckets per power of two */
/* 64 exact buckets for 0..63, then 64 per power of two from 2^6 to 2^63. */
#define HIST_BUCKETS (HIST_SUB_COUNT + (64 - HIST_SUB_BITS) * HIST_SUB_COUNT)

typedef struct hist {
    uint64_t count;
    uint64_t min; /* exact; UINT64_MAX while empty */
    uint64_t max; /* exact; 0 while empty */
    long double sum;
    uint64_t buckets[HIST_BUCKETS];
} hist;

/* Empties the histogram. */
void hist_init(hist *h);

/* Records one value. */
void hist_record(hist *h, uint64_t value);

/* Adds every value recorded in src to dst. */
void hist_merge(hist *dst, const hist *src);

/* The bucket a value falls in, and the range [low, high] of values that
 * share it (exposed for tests and for reporting precision). */
unsigned hist_bucket_of(uint64_t value);
uint64_t hist_bucket_low(unsigned bucket);
uint64_t hist_bucket_high(unsigned bucket);

/* The value at percentile pct (0 < pct <= 100): the smallest recorded
 * value v such that at least pct% of the values are <= v, reported as the
 * middle of v's bucket, clamped to the exact [min, max]. So the answer is
 * within half a bucket (<= 1/128 relative) of the true percentile.
 * pct >= 100 returns the exact max; an empty histogram returns 0. */
uint64_t hist_percentile(const hist *h, double pct);

/* Mean of the recorded values; 0 when empty. */
double hist_mean(const hist *h);

#endif
