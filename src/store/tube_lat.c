/*
 * Last-minute latency rings (the model is in tube_lat.h).
 */
#include "tube_lat.h"

#include <string.h>

unsigned lat_bin(uint64_t v)
{
    if (v < 4)
        return (unsigned)v;
    if (v >> 32)
        return LAT_BINS - 1;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* 2 ..= 31 */
    return 4u * (e - 1u) + (unsigned)((v >> (e - 2u)) & 3u);
}

uint64_t lat_bin_max(unsigned bin)
{
    if (bin < 4)
        return bin;
    if (bin >= 4u * 31u)
        return UINT32_MAX; /* the last octave and above: at least 2^31 ms */
    unsigned e = bin / 4u + 1u, sub = bin % 4u;
    uint64_t step = UINT64_C(1) << (e - 2u);
    return (4u + sub) * step + step - 1u;
}

void lat_observe(lat_ring *r, uint64_t now_ms, uint64_t v)
{
    uint64_t period = now_ms / LAT_SLOT_MS;
    size_t i = (size_t)(period % LAT_SLOTS);
    uint64_t start = period * LAT_SLOT_MS + 1; /* + 1: 0 marks a slot never used */
    if (r->slot_start[i] != start) {
        memset(r->counts[i], 0, sizeof r->counts[i]);
        r->slot_start[i] = start;
    }
    uint32_t *c = &r->counts[i][lat_bin(v)];
    if (*c != UINT32_MAX)
        (*c)++;
}

/* Whether slot i holds observations of the last LAT_SLOTS periods (the current one too). */
static int slot_live(const lat_ring *r, size_t i, uint64_t now_ms)
{
    uint64_t start = r->slot_start[i];
    return start && start - 1 + (uint64_t)LAT_SLOTS * LAT_SLOT_MS > now_ms;
}

int64_t lat_quantile(const lat_ring *r, uint64_t now_ms, double q)
{
    uint64_t bins[LAT_BINS] = {0}, total = 0;
    for (size_t i = 0; i < LAT_SLOTS; i++) {
        if (!slot_live(r, i, now_ms))
            continue;
        for (size_t b = 0; b < LAT_BINS; b++) {
            bins[b] += r->counts[i][b];
            total += r->counts[i][b];
        }
    }
    if (!total)
        return -1;
    uint64_t rank = (uint64_t)(q * (double)total + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < LAT_BINS; b++) {
        seen += bins[b];
        if (seen >= rank)
            return (int64_t)lat_bin_max(b);
    }
    return (int64_t)lat_bin_max(LAT_BINS - 1);
}
