/*
 * A compressed set of job ids, ordered: the members of one priority bucket of a tube's ready
 * set (see ready.h). It replaces a heap of (id, job pointer) pairs, 16 bytes a job, with about
 * 2 bytes a job (4 at worst: a growing array's slack, a bitmap just above its threshold to
 * shrink) and 1 bit a job where the ids are dense.
 *
 * Model (the idea of Roaring bitmaps, Chambi et al. 2016). Ids are split into a 48-bit key
 * (id >> 16) and a 16-bit low part. Each key present has a container of low parts:
 *   - an array container: the low parts sorted, uint16 each, while it holds at most
 *     IDSET_ARRAY_MAX of them;
 *   - a bitmap container: 65536 bits (8 KiB) once it holds more; it turns back into an
 *     array when it shrinks to IDSET_ARRAY_MAX / 2 (hysteresis, so a set at the boundary
 *     does not convert back and forth).
 * Containers sit in a sorted array by key. Jobs normally arrive in increasing id order and
 * leave lowest first, so the common operations are an append at the back and a removal at
 * the front; both are O(1) amortised: an array container keeps a start offset instead of
 * shifting on front removal, and the container array keeps a head offset likewise. A
 * removal elsewhere (deleting a ready job by id, a job released with an old id) costs a
 * shift within one container, at most 8 KiB of memmove.
 */
#ifndef SYNQ_QUEUE_IDSET_H
#define SYNQ_QUEUE_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDSET_ARRAY_MAX 4096

typedef struct idset_container idset_container;

typedef struct idset {
    idset_container **items; /* sorted by key; the live ones are [head, head + n) */
    size_t head, n, cap;
    size_t len; /* ids in the set */
} idset;

/* An empty set; allocates nothing until the first add. */
void idset_init(idset *s);
/* Frees everything. The set is empty and reusable afterwards. */
void idset_dispose(idset *s);
/* Adds id (id must not be in the set). false on ENOMEM, and then the set is unchanged. */
bool idset_add(idset *s, uint64_t id);
/* Removes id. false if it was not in the set. Never fails for lack of memory (a container
 * that cannot shrink keeps its larger form). */
bool idset_remove(idset *s, uint64_t id);
bool idset_contains(const idset *s, uint64_t id);
/* The smallest id, or 0 if the set is empty (job ids start at 1). O(1): a bitmap container
 * keeps the word of its minimum, and the removal that empties that word scans on from it,
 * so draining a bitmap reads each of its words once. */
uint64_t idset_min(const idset *s);
/* The smallest id greater than after, or 0 if none: paging through the set in id order
 * (list-jobs). O(log containers) to find the container, then within it a binary search of
 * an array or a scan of a bitmap's words from after's word (at most its 1024 words; a
 * bitmap holds more than IDSET_ARRAY_MAX / 2 ids, so a page of consecutive calls reads each
 * word about once). */
uint64_t idset_next(const idset *s, uint64_t after);
/* Removes and returns the smallest id, or 0 if empty. */
uint64_t idset_pop_min(idset *s);
static inline size_t idset_len(const idset *s)
{
    return s->len;
}
/* Bytes allocated by the set (containers and the container array). */
size_t idset_footprint(const idset *s);

#endif
