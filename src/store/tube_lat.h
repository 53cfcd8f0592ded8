/*
 * A tube's latency figures over the last minute (tube-info's wait-ms-p50/-p99, put to first
 * reserve, and run-ms-p50/-p99, reserve to delete). Internal to the store.
 *
 * Model: per figure a ring of LAT_SLOTS slots of LAT_SLOT_MS each (one minute in all); a slot
 * is a histogram of LAT_BINS bins, 4 a power of two (a bin is at most 1/4 of its lower bound
 * wide, ~19%), from 0 ms to 2^32 ms. A slot older than the ring is cleared when its turn comes
 * again. Observing is a bin computation and an increment, no allocation; a quantile reads the
 * live slots (LAT_SLOTS * LAT_BINS counts). A ring takes 6 KiB, so a tube gets one only once
 * someone asks (tube-info): figures count from then. Both are kept with the tube.
 */
#ifndef SYNQ_QUEUE_TUBE_LAT_H
#define SYNQ_QUEUE_TUBE_LAT_H

#include <stdint.h>

#define LAT_SLOTS 12
#define LAT_SLOT_MS 5000
#define LAT_BINS 128

typedef struct lat_ring {
    uint64_t slot_start[LAT_SLOTS]; /* ms at which the slot's period began; 0 = never used */
    uint32_t counts[LAT_SLOTS][LAT_BINS];
} lat_ring;

typedef struct tube_lat {
    lat_ring wait, run;
} tube_lat;

/* The bin of v ms, and the largest value in a bin (the figure reported for it). */
unsigned lat_bin(uint64_t v);
uint64_t lat_bin_max(unsigned bin);
void lat_observe(lat_ring *r, uint64_t now_ms, uint64_t v);
/* The q-quantile (0 < q <= 1) over the slots within the last minute of now_ms, as its bin's
 * largest value; -1 when there were no observations. */
int64_t lat_quantile(const lat_ring *r, uint64_t now_ms, double q);

#endif
