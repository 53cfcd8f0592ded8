/*
 * histogram: Prometheus histograms counted where the events happen, for what no beanstalkd
 * exporter can measure from outside: how long jobs wait, how long fsyncs take and how many
 * records each makes durable.
 *
 * A histogram is fixed upper bounds (in the unit observed: microseconds, milliseconds or a
 * count) and a count per bound; observing is a scan of at most HIST_MAX_BOUNDS bounds and
 * three additions, no allocation, no clock read. The metrics document prints the cumulative
 * counts as name_bucket{le="..."} in the base unit (seconds; counts as they are), then
 * name_sum and name_count.
 */
#ifndef SYNQ_SYNQD_HISTOGRAM_H
#define SYNQ_SYNQD_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define HIST_MAX_BOUNDS 20

typedef struct histogram {
    const uint64_t *bounds; /* ascending, n of them; static */
    size_t n;
    double unit; /* a bound or the sum times unit is in the base unit (1e-6: us -> s) */
    uint64_t counts[HIST_MAX_BOUNDS + 1]; /* counts[n]: above the last bound (+Inf) */
    uint64_t sum;                         /* of the observed values, in the observed unit */
    uint64_t count;
} histogram;

/* The server's histograms (docs/metrics.md). */
typedef struct synqd_histograms {
    histogram job_wait_ms;   /* put to reserve: a job's age each time it is reserved */
    histogram job_run_ms;    /* reserve to delete, of each reserved job deleted */
    histogram fsync_us;      /* one group commit's fdatasync calls */
    histogram fsync_records; /* records made durable by one group commit */
    /* By command (the command table, so the label set is bounded): from the command's input
     * in hand (its line; a put's body) to its reply queued (docs/metrics.md). */
    histogram command_us[CMD_COUNT_];
} synqd_histograms;

/* Zero counts over the given bounds (n <= HIST_MAX_BOUNDS). */
void hist_init(histogram *h, const uint64_t *bounds, size_t n, double unit);
void hist_observe(histogram *h, uint64_t v);
void synqd_histograms_init(synqd_histograms *hs);

/* CLOCK_MONOTONIC in microseconds: the clock command durations are measured with. */
uint64_t hist_clock_us(void);

#endif
