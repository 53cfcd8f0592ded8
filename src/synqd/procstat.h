/*
 * procstat: what the kernel says about this process, for the metrics' process_* families
 * (the names every Prometheus client library exports, so the standard process dashboards
 * and alerts work on synqd unchanged).
 *
 * Read from getrusage(), getrlimit() and /proc/self at the moment a scrape asks: nothing is
 * kept between scrapes, and nothing runs when nobody scrapes.
 */
#ifndef SYNQ_SYNQD_PROCSTAT_H
#define SYNQ_SYNQD_PROCSTAT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct procstat {
    double user_s, system_s; /* CPU time spent in user and kernel mode (getrusage) */
    /* The rest are false/0 where /proc is not mounted (has_proc false). */
    bool has_proc;
    uint64_t resident_bytes; /* /proc/self/stat rss, in bytes */
    uint64_t virtual_bytes;  /* /proc/self/stat vsize */
    double start_time_s;     /* since the Unix epoch: the boot time plus the start tick */
    uint64_t open_fds;       /* entries of /proc/self/fd */
    uint64_t max_fds;        /* RLIMIT_NOFILE's soft limit (0 when unlimited or unknown) */
} procstat;

/* Fills out; never fails as a whole (a part that cannot be read is left 0 and has_proc
 * says so). Costs one readdir of /proc/self/fd: O(open descriptors). */
void procstat_read(procstat *out);

#endif
