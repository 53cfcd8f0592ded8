/*
 * Log-linear latency histogram (see hist.h for the bucket layout).
 *
 * Bucket index for v >= 64: let k be the position of v's highest set bit;
 * the top seven bits of v (1 followed by six) select one of 64 sub-buckets
 * of the range [2^k, 2^(k+1)). Laying the ranges end to end after the 64
 * exact buckets gives index = 64 * (k - 5) + (v >> (k - 6)) - 64, which is
 * continuous with the exact buckets (v = 64 lands in bucket 64).
 */
#include "hist.h"

#include <string.h>

void hist_init(hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

unsigned hist_bucket_of(uint64_t value)
{
    if (value < HIST_SUB_COUNT)
        return (unsigned)value;
    unsigned k = 63u - (unsigned)__builtin_clzll(value);
    unsigned shift = k - HIST_SUB_BITS;
    return HIST_SUB_COUNT * (k - HIST_SUB_BITS + 1) + (unsigned)(value >> shift) - HIST_SUB_COUNT;
}

uint64_t hist_bucket_low(unsigned bucket)
{
    if (bucket < HIST_SUB_COUNT)
        return bucket;
    unsigned range = bucket / HIST_SUB_COUNT; /* 1 for [64, 128) */
    unsigned sub = bucket % HIST_SUB_COUNT;
    unsigned shift = range - 1;
    return (uint64_t)(HIST_SUB_COUNT + sub) << shift;
}

uint64_t hist_bucket_high(unsigned bucket)
{
    if (bucket < HIST_SUB_COUNT)
        return bucket;
    unsigned shift = bucket / HIST_SUB_COUNT - 1;
    /* Written as low + (width - 1) so the last bucket ends at UINT64_MAX
     * without overflowing. */
    return hist_bucket_low(bucket) + (((uint64_t)1 << shift) - 1);
}

void hist_record(hist *h, uint64_t value)
{
    h->buckets[hist_bucket_of(value)]++;
    h->count++;
    h->sum += (long double)value;
    if (value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
}

void hist_merge(hist *dst, const hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_percentile(const hist *h, double pct)
{
    if (h->count == 0)
        return 0;
    if (pct >= 100.0)
        return h->max;
    if (pct < 0.0)
        pct = 0.0;
    /* The rank of the wanted value, 1-based: ceil(count * pct / 100), at
     * least 1 so p0 means the smallest value. */
    long double exact = (long double)h->count * pct / 100.0L;
    uint64_t rank = (uint64_t)exact;
    if ((long double)rank < exact)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t low = hist_bucket_low(i), high = hist_bucket_high(i);
            uint64_t mid = low + (high - low) / 2;
            if (mid < h->min)
                mid = h->min;
            if (mid > h->max)
                mid = h->max;
            return mid;
        }
    }
    return h->max; /* unreachable while count matches the buckets */
}

double hist_mean(const hist *h)
{
    return h->count ? (double)(h->sum / (long double)h->count) : 0.0;
}
