/*
 * memtrim: gives the heap memory freed by a large release back to the kernel.
 *
 * glibc's malloc keeps what is freed: 100,000 abandoned tubes (and the connections that made
 * them) leave tens of MiB of free chunks resident, interleaved with live ones, which only
 * malloc_trim() returns. Trimming walks the whole heap, so it runs off the command path: the
 * server notes the tube and connection counts once per loop pass (memtrim_note, O(1)); when
 * either fell far below its peak since the last trim, the server runs memtrim_run() from a
 * timer MEMTRIM_DELAY_MS later, so trims come at most about once per MEMTRIM_DELAY_MS however
 * long a churn lasts. Without glibc memtrim_run() only counts.
 */
#ifndef SYNQ_SYNQD_MEMTRIM_H
#define SYNQ_SYNQD_MEMTRIM_H

#include <stdbool.h>
#include <stdint.h>

#define MEMTRIM_DELAY_MS 1000
#define MEMTRIM_TUBES_DROP 1024      /* tubes gone since the peak that make a trim worth it */
#define MEMTRIM_CONNECTIONS_DROP 256 /* connections gone, likewise */

typedef struct memtrim {
    uint64_t peak_tubes, peak_connections; /* since the last trim */
    uint64_t tubes, connections;           /* at the last note */
    uint64_t trims;                        /* memtrim_run() calls (synq_malloc_trims_total) */
} memtrim;

/* Records the current counts; true when a trim is due (the caller arms its timer, if it has
 * none armed, and calls memtrim_run() when it fires). */
bool memtrim_note(memtrim *m, uint64_t tubes, uint64_t connections);
/* Trims the heap (glibc's malloc_trim(0)) and starts the next peaks from the counts noted. */
void memtrim_run(memtrim *m);

#endif
