/*
 * histogram: fixed-bound histograms (contract in histogram.h). The bounds are chosen for what
 * each one measures: a queue's waits run from milliseconds (a worker already waiting) to
 * hours (a backlog, a delayed job); a disk's fsync from tens of microseconds (a write cache)
 * to seconds (a stalled device); a group commit's batch from one record to thousands.
 */
#include "histogram.h"

#include <string.h>
#include <time.h>

#include "check.h"

static const uint64_t job_wait_bounds_ms[] = {1,      5,       10,       50,      100,   500,
                                              1000,   5000,    10000,    30000,   60000, 300000,
                                              900000, 3600000, 14400000, 86400000};
static const uint64_t fsync_bounds_us[] = {50,     100,     250,     500,     1000,   2500,
                                           5000,   10000,   25000,   50000,   100000, 250000,
                                           500000, 1000000, 2500000, 10000000};
/* A command served from memory takes microseconds; one that scans (list-jobs, flush-tube's
 * first step, stats-tube of a huge tube) or waits on a slow allocator, milliseconds. */
static const uint64_t command_bounds_us[] = {5,    10,   25,   50,    100,   250,    500,
                                             1000, 2500, 5000, 10000, 25000, 100000, 1000000};
static const uint64_t batch_bounds[] = {1,   2,   4,   8,    16,   32,    64,
                                        128, 256, 512, 1024, 4096, 16384, 65536};

void hist_init(histogram *h, const uint64_t *bounds, size_t n, double unit)
{
    SQ_CHECK(n <= HIST_MAX_BOUNDS, "histogram bounds");
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->n = n;
    h->unit = unit;
}

void hist_observe(histogram *h, uint64_t v)
{
    size_t i = 0;
    while (i < h->n && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

void synqd_histograms_init(synqd_histograms *hs)
{
    hist_init(&hs->job_wait_ms, job_wait_bounds_ms,
              sizeof job_wait_bounds_ms / sizeof job_wait_bounds_ms[0], 1e-3);
    hist_init(&hs->job_run_ms, job_wait_bounds_ms,
              sizeof job_wait_bounds_ms / sizeof job_wait_bounds_ms[0], 1e-3);
    hist_init(&hs->fsync_us, fsync_bounds_us, sizeof fsync_bounds_us / sizeof fsync_bounds_us[0],
              1e-6);
    hist_init(&hs->fsync_records, batch_bounds, sizeof batch_bounds / sizeof batch_bounds[0], 1);
    for (size_t t = 0; t < CMD_COUNT_; t++)
        hist_init(&hs->command_us[t], command_bounds_us,
                  sizeof command_bounds_us / sizeof command_bounds_us[0], 1e-6);
}

uint64_t hist_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
