/*
 * The job-record allocator: size classes carved out of 2 MiB chunks, so a record costs its
 * size rounded up to 8 bytes and nothing more (malloc adds an 8-byte header and rounds to
 * 16, which is 12% of a 128-byte job record). With a million queued jobs that difference
 * is what decides whether synqd fits in half of beanstalkd's memory.
 *
 * Model. Sizes up to SLAB_MAX_SIZE are rounded up to a multiple of 8; each rounded size is
 * a class with its own chunks. A chunk is 2 MiB, aligned to 2 MiB (so a record finds its
 * chunk header by masking its address), mapped with mmap and never backed by huge pages
 * (a class holding one record must not cost 2 MiB of RSS). A chunk's slots are carved by a
 * bump pointer, so only touched pages become resident; a freed slot goes on the chunk's free
 * list and is reused (last freed, first) before the bump pointer moves on, so a class that
 * churns stays in the pages it already has.
 * A chunk whose last record is freed is unmapped (one empty chunk per class is kept to
 * avoid map/unmap churn at a boundary). Sizes above SLAB_MAX_SIZE go to malloc, behind a
 * 16-byte link that lets slab_destroy free them; with malloc's own 8 bytes that is under
 * 2.5% of the size.
 *
 * The caller passes the same size to slab_free that it allocated with: records know their
 * size, and that saves storing it.
 *
 * Not thread-safe: one slab per store, used from the store's thread.
 */
#ifndef SYNQ_QUEUE_SLAB_H
#define SYNQ_QUEUE_SLAB_H

#include <stddef.h>
#include <stdint.h>

#define SLAB_MAX_SIZE 1024

typedef struct slab slab;

/* An empty allocator (maps nothing yet). NULL on ENOMEM. */
slab *slab_new(void);
/* Unmaps every chunk and frees the allocator; every record from it becomes invalid. */
void slab_destroy(slab *a);
/* size bytes (size >= 1), 8-byte aligned, contents undefined. NULL on ENOMEM. */
void *slab_alloc(slab *a, size_t size);
/* Returns p, which slab_alloc(a, size) returned; p may be NULL (no-op). */
void slab_free(slab *a, void *p, size_t size);
/* Fault injection for tests: the n-th allocation from now on and every one after it fail
 * (return NULL) until slab_fail_after(a, 0). */
void slab_fail_after(slab *a, uint64_t n);
/* Bytes currently mapped or malloc'd on behalf of records (what the records cost the process,
 * slack included). */
size_t slab_footprint(const slab *a);

#endif
