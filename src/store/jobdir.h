/*
 * The store's job directory: job id -> record pointer, for ids that the store hands out in
 * increasing order. It replaces an open-addressing hash table (16-byte slots at up to 3/4
 * load, 21-43 bytes a job) with 8 bytes a job where ids are dense, and stays bounded where
 * they are not.
 *
 * Model. Ids are grouped in pages of JOBDIR_PAGE_IDS consecutive ids (id / 512). A page
 * has a 512-bit presence bitmap and a packed array of the pointers of the ids present, in
 * id order; the index of id's pointer is the number of present ids below it in the page:
 * a per-word count of the ids in the words before it (kept up to date by insert and
 * remove, at most 7 increments) plus one popcount. So a full page costs 8 bytes a job plus
 * 96 bytes, and a
 * page with one job left costs ~120 bytes until it is freed with its last job. Pages sit in
 * an array sorted by page number, found by binary search after a check of the page used
 * last (jobs are put, reserved and deleted mostly in id order, so that check usually hits).
 * The pointer array grows by doubling up to the page size and halves when a quarter full
 * (which is what brings a page with one job left down to ~120 bytes). The pointers sit at a
 * start offset in the array, so an insert or removal shifts the shorter side (at most 255
 * pointers), and removing the oldest id of a page, what a queue does, shifts none.
 *
 * The values are opaque non-NULL pointers; the store may tag the low bit.
 */
#ifndef SYNQ_QUEUE_JOBDIR_H
#define SYNQ_QUEUE_JOBDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOBDIR_PAGE_IDS 512

typedef struct jobdir_page jobdir_page;

typedef struct jobdir {
    jobdir_page **pages; /* sorted by page number */
    size_t npages, cap;
    size_t len;          /* ids present */
    size_t last;         /* index in pages of the page used last (a hint; may be stale) */
} jobdir;

/* An empty directory; allocates nothing until the first insert. */
void jobdir_init(jobdir *d);
/* Frees the directory (not the values). */
void jobdir_dispose(jobdir *d);
/* The value for id, or NULL if absent. */
void *jobdir_get(jobdir *d, uint64_t id);
/* Adds id -> v (v non-NULL, id absent). false on ENOMEM, directory unchanged. */
bool jobdir_insert(jobdir *d, uint64_t id, void *v);
/* Replaces the value of id, which must be present. Never fails. */
void jobdir_replace(jobdir *d, uint64_t id, void *v);
/* Removes id and returns its value, or NULL if absent. Never fails for lack of memory. */
void *jobdir_remove(jobdir *d, uint64_t id);
static inline size_t jobdir_len(const jobdir *d)
{
    return d->len;
}
/* In-order iteration: the value of the smallest id > *id, with *id set to that id; NULL
 * (and *id unchanged) when there is none. Start with *id = 0, so an id 0 (which the store
 * never hands out) is not visited. */
void *jobdir_next(jobdir *d, uint64_t *id);
/* Bytes allocated by the directory. */
size_t jobdir_footprint(const jobdir *d);

#endif
