/*
 * Size-class allocator (contract and model in slab.h).
 *
 * Every chunk of a class is on exactly one of three places: the class's `partial` list (it
 * has a free slot: an untouched one past `bump` or one on its free list), its `full` list
 * (no free slot), or the class's single `spare` slot (it holds no record). Allocation takes
 * the head of `partial`, so it is O(1); a chunk moves between the lists only when it fills
 * up or gets its first free slot back, also O(1) because the lists are doubly linked.
 * The lists exist so that slab_destroy can find every chunk, full ones included.
 *
 * A free slot's first 8 bytes hold the link to the next free slot of its chunk, which is
 * why the smallest class is 8 bytes. Records above SLAB_MAX_SIZE carry a 16-byte link in
 * front of them for the same reason: slab_destroy frees them too.
 *
 * Under AddressSanitizer a freed slot is poisoned, so a use after slab_free is reported as
 * it would be for malloc'd memory.
 */
#include "slab.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "check.h"
#include "list.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_ASAN 1
#endif
#endif

#ifdef SLAB_ASAN
#include <sanitizer/asan_interface.h>
#define slab_poison(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define slab_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define slab_poison(p, n) ((void)(p), (void)(n))
#define slab_unpoison(p, n) ((void)(p), (void)(n))
#endif

#define CHUNK_BYTES ((size_t)2 << 20)
#define SLOT_ALIGN 8
#define CLASS_COUNT (SLAB_MAX_SIZE / SLOT_ALIGN)

typedef struct free_slot {
    struct free_slot *next;
} free_slot;

/* Lives in the first bytes of its chunk; 40 bytes on LP64, so a 128-byte class loses no
 * slot to it compared with a headerless chunk ((2 MiB - 40) / 128 = 16383 either way). */
typedef struct chunk {
    list_node link;       /* in its class's partial or full list */
    free_slot *free_head; /* slots freed since they were bump-allocated */
    uint32_t used;        /* live records */
    uint32_t bump;        /* slots [0, bump) have been handed out at least once */
    uint32_t slot_count;
    uint32_t slot_size;
} chunk;

#define SLOTS_OFFSET ((sizeof(chunk) + SLOT_ALIGN - 1) & ~(size_t)(SLOT_ALIGN - 1))

typedef struct {
    list partial; /* of chunks, through their link; allocation takes the first */
    list full;
    chunk *spare;
} size_class;

/* The link in front of a record above SLAB_MAX_SIZE; 16 bytes keep malloc's alignment. */
typedef list_node big_link;

struct slab {
    size_class classes[CLASS_COUNT];
    list big; /* of big_links */
    size_t footprint_bytes;
    uint64_t fail_in; /* see slab_fail_after: 0 = off, 1 = this allocation fails */
};

_Static_assert(SLAB_MAX_SIZE % SLOT_ALIGN == 0, "classes are multiples of 8");
_Static_assert(sizeof(big_link) == 16, "big records keep malloc's 16-byte alignment");

slab *slab_new(void)
{
    return calloc(1, sizeof(slab));
}

static unsigned char *slots_of(chunk *ch)
{
    return (unsigned char *)ch + SLOTS_OFFSET;
}

static chunk *first_chunk(const list *l)
{
    return LIST_ENTRY_OR_NULL(l->first, chunk, link);
}

static bool chunk_has_room(const chunk *ch)
{
    return ch->free_head != NULL || ch->bump < ch->slot_count;
}

/*
 * Maps a 2 MiB-aligned chunk. mmap only promises page alignment, so map twice the size and
 * give back the misaligned head and the surplus tail; what stays is exactly one aligned
 * chunk. NULL on ENOMEM.
 */
static chunk *chunk_map(slab *a, uint32_t slot_size)
{
    size_t span = 2 * CHUNK_BYTES;
    unsigned char *raw =
        mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + CHUNK_BYTES - 1) & ~(uintptr_t)(CHUNK_BYTES - 1);
    size_t head = start - (uintptr_t)raw;
    size_t tail = span - head - CHUNK_BYTES;
    /* munmap of a page-aligned part of our own mapping cannot fail. */
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((unsigned char *)start + CHUNK_BYTES, tail);
    /* With THP the first touch would fault in a whole 2 MiB huge page, and a class holding
     * one record would cost 2 MiB of RSS. EINVAL (a kernel without THP) is harmless. */
    (void)madvise((void *)start, CHUNK_BYTES, MADV_NOHUGEPAGE);

    chunk *ch = (chunk *)start;
    *ch = (chunk){.slot_count = (uint32_t)((CHUNK_BYTES - SLOTS_OFFSET) / slot_size),
                  .slot_size = slot_size};
    a->footprint_bytes += CHUNK_BYTES;
    return ch;
}

static void chunk_unmap(slab *a, chunk *ch)
{
    /* ASan keeps shadow state for the range after munmap; a later mapping at the same
     * address must not inherit poisoned slots. */
    slab_unpoison(ch, CHUNK_BYTES);
    munmap(ch, CHUNK_BYTES);
    a->footprint_bytes -= CHUNK_BYTES;
}

/* The chunk a class allocates from when its partial list is empty. NULL on ENOMEM. */
static chunk *class_refill(slab *a, size_class *c, uint32_t slot_size)
{
    chunk *ch = c->spare;
    if (ch)
        c->spare = NULL;
    else if (!(ch = chunk_map(a, slot_size)))
        return NULL;
    list_prepend(&c->partial, &ch->link);
    return ch;
}

static void *big_alloc(slab *a, size_t size)
{
    if (size > SIZE_MAX - sizeof(big_link))
        return NULL;
    big_link *link = malloc(sizeof(big_link) + size);
    if (!link)
        return NULL;
    list_prepend(&a->big, link);
    /* What malloc really spent: the usable size plus its own 8-byte chunk header. */
    a->footprint_bytes += malloc_usable_size(link) + sizeof(size_t);
    return link + 1;
}

static void big_free(slab *a, void *p)
{
    big_link *link = (big_link *)p - 1;
    list_remove(&a->big, link);
    a->footprint_bytes -= malloc_usable_size(link) + sizeof(size_t);
    free(link);
}

void slab_fail_after(slab *a, uint64_t n)
{
    a->fail_in = n;
}

void *slab_alloc(slab *a, size_t size)
{
    SQ_CHECK(size >= 1, "slab: a record of size 0");
    if (a->fail_in) {
        if (a->fail_in == 1)
            return NULL; /* out of memory until told otherwise */
        a->fail_in--;
    }
    if (size > SLAB_MAX_SIZE)
        return big_alloc(a, size);

    size_t idx = (size - 1) / SLOT_ALIGN;
    uint32_t slot_size = (uint32_t)((idx + 1) * SLOT_ALIGN);
    size_class *c = &a->classes[idx];
    chunk *ch = first_chunk(&c->partial);
    if (!ch && !(ch = class_refill(a, c, slot_size)))
        return NULL;

    void *p;
    if (ch->free_head) {
        free_slot *s = ch->free_head;
        slab_unpoison(s, slot_size);
        ch->free_head = s->next;
        p = s;
    } else {
        /* Untouched slots are only in the partial list with bump below the count. */
        p = slots_of(ch) + (size_t)ch->bump * slot_size;
        ch->bump++;
        slab_unpoison(p, slot_size);
    }
    ch->used++;
    if (!chunk_has_room(ch)) {
        list_remove(&c->partial, &ch->link);
        list_prepend(&c->full, &ch->link);
    }
    return p;
}

void slab_free(slab *a, void *p, size_t size)
{
    if (!p)
        return;
    SQ_CHECK(size >= 1, "slab: a record of size 0");
    if (size > SLAB_MAX_SIZE) {
        big_free(a, p);
        return;
    }

    size_t idx = (size - 1) / SLOT_ALIGN;
    size_class *c = &a->classes[idx];
    chunk *ch = (chunk *)((uintptr_t)p & ~(uintptr_t)(CHUNK_BYTES - 1));
    /* One load from a header the free touches anyway. */
    SQ_CHECK(ch->slot_size == (idx + 1) * SLOT_ALIGN && ch->used > 0,
             "slab: freed with a size of another class, or twice");

    bool was_full = !chunk_has_room(ch);
    free_slot *s = p;
    s->next = ch->free_head;
    ch->free_head = s;
    slab_poison(s, ch->slot_size);
    ch->used--;

    if (ch->used == 0) {
        list_remove(was_full ? &c->full : &c->partial, &ch->link);
        if (c->spare) {
            chunk_unmap(a, ch);
            return;
        }
        /* Every slot is free, so forget the free list and start bumping from the front:
         * the next records reuse the pages already resident, in address order. */
        ch->free_head = NULL;
        ch->bump = 0;
        c->spare = ch;
        return;
    }
    if (was_full) {
        list_remove(&c->full, &ch->link);
        list_prepend(&c->partial, &ch->link);
    }
}

size_t slab_footprint(const slab *a)
{
    return a->footprint_bytes;
}

static void unmap_list(slab *a, list *l)
{
    chunk *ch;
    while ((ch = first_chunk(l))) {
        list_remove(l, &ch->link);
        chunk_unmap(a, ch);
    }
}

void slab_destroy(slab *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < CLASS_COUNT; i++) {
        size_class *c = &a->classes[i];
        unmap_list(a, &c->partial);
        unmap_list(a, &c->full);
        if (c->spare)
            chunk_unmap(a, c->spare);
    }
    while (a->big.first) {
        big_link *link = a->big.first;
        list_remove(&a->big, link);
        free(link);
    }
    free(a);
}
