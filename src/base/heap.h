/*
 * The one binary min-heap: an array of element pointers ordered by the caller's `less`, where
 * every element embeds a uint32_t holding its own array index (the heap is told the field's
 * offset, and keeps it up to date on every move; nothing else writes it). Knowing its index,
 * an element is removed or re-ordered in O(log n) without a search, and the index doubles as
 * "is it in the heap" (HEAP_NO_POS when not). The elements are the caller's (a timer, a tube,
 * a FIFO, a priority bucket); the heap owns only its array, which grows by doubling (vec.h)
 * and shrinks only when its owner asks (heap_shrink_to), so no operation allocates except an
 * insert into a full heap.
 *
 * An element may sit in several heaps if it embeds one position field per heap. Storing the
 * position through an offset rather than a callback keeps every move a plain store: with one
 * or two elements (a tube's priority buckets, the TTR FIFOs) the moves are most of the work.
 * Positions are uint32: a heap holds at most HEAP_MAX_LEN elements.
 *
 * Layout: the children of index i are 2i+1 and 2i+2. Every move of an element goes through
 * heap__set(), so each element's stored position is always its array index.
 *
 * Header-only (static inline), like libuv's heap-inl.h: libsynq's timers use it without
 * linking sq_base, and a caller's `less` is a direct call away.
 */
#ifndef SYNQ_BASE_HEAP_H
#define SYNQ_BASE_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "vec.h"

#define HEAP_NO_POS UINT32_MAX
#define HEAP_MAX_LEN (UINT32_MAX - 1)
/* Elements the array holds after its first allocation (heap_init). */
#define HEAP_DEFAULT_MIN_CAP 16u

/* Strict order: true if a must come out before b. It must be a total order for
 * deterministic results (break ties on a unique key). */
typedef bool (*heap_less_fn)(const void *a, const void *b);
typedef struct heap {
    void **items;
    uint32_t len, cap;
    heap_less_fn less;
    uint32_t pos_offset; /* of each element's uint32_t position: offsetof(type, field) */
    uint32_t min_cap;    /* the first allocation's capacity */
} heap;

/* An empty heap of elements ordered by `less` that keep their position in the uint32_t at
 * byte `pos_offset` (offsetof(type, field)); its first allocation holds `min_cap` (> 0)
 * elements. Allocates nothing. The caller sets the field of an element that is in no heap to
 * HEAP_NO_POS; the heap keeps it from then on. */
static inline void heap_init_cap(heap *h, heap_less_fn less, size_t pos_offset, uint32_t min_cap)
{
    h->items = NULL;
    h->len = h->cap = 0;
    h->less = less;
    h->pos_offset = (uint32_t)pos_offset;
    h->min_cap = min_cap;
}

/* heap_init_cap() with the default first capacity. */
static inline void heap_init(heap *h, heap_less_fn less, size_t pos_offset)
{
    heap_init_cap(h, less, pos_offset, HEAP_DEFAULT_MIN_CAP);
}

/* Frees the array (not the elements, whose positions it leaves as they are). The heap is
 * empty and reusable afterwards. */
static inline void heap_dispose(heap *h)
{
    free(h->items);
    h->items = NULL;
    h->len = h->cap = 0;
}

/* Grows the array to hold at least n elements, so that the inserts up to n cannot fail.
 * false on ENOMEM or n > HEAP_MAX_LEN (heap unchanged). */
static inline bool heap_reserve(heap *h, size_t n)
{
    if (n <= h->cap)
        return true;
    size_t cap = h->cap;
    void **items = vec_grow(h->items, &cap, n, sizeof(*items), h->min_cap, HEAP_MAX_LEN);
    if (!items)
        return false;
    h->items = items;
    h->cap = (uint32_t)cap;
    return true;
}

/* Gives back the array's room past `cap` elements (at least len: a heap reserved to hold n
 * stays reserved to n); nothing when it is no bigger. On ENOMEM the larger array stays. */
static inline void heap_shrink_to(heap *h, size_t cap)
{
    if (cap < h->len)
        cap = h->len;
    if (cap >= h->cap)
        return;
    if (cap == 0) {
        heap_dispose(h);
        return;
    }
    void **items = realloc(h->items, cap * sizeof(*items));
    if (items) {
        h->items = items;
        h->cap = (uint32_t)cap;
    }
}

/* The smallest element, or NULL if the heap is empty. */
static inline void *heap_peek(const heap *h)
{
    return h->len ? h->items[0] : NULL;
}

static inline void heap__setpos(const heap *h, void *item, uint32_t pos)
{
    *(uint32_t *)((char *)item + h->pos_offset) = pos;
}

static inline void heap__set(heap *h, uint32_t pos, void *item)
{
    h->items[pos] = item;
    heap__setpos(h, item, pos);
}

/* What may loop stays out of line (one copy per file that uses it): inlined into every
 * caller, the sifts cost more in register saves than they save (callgrind, cycle benchmark).
 * heap_insert() and heap_remove() inline only the cases where nothing moves. */
#define HEAP__OUT_OF_LINE __attribute__((noinline, unused))

static inline void heap__sift_up(heap *h, uint32_t pos)
{
    void *item = h->items[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!h->less(item, h->items[parent]))
            break;
        heap__set(h, pos, h->items[parent]);
        pos = parent;
    }
    heap__set(h, pos, item);
}

static inline void heap__sift_down(heap *h, uint32_t pos)
{
    void *item = h->items[pos];
    for (;;) {
        uint64_t left = 2 * (uint64_t)pos + 1;
        if (left >= h->len)
            break;
        uint32_t child = (uint32_t)left;
        if (child + 1 < h->len && h->less(h->items[child + 1], h->items[child]))
            child++;
        if (!h->less(h->items[child], item))
            break;
        heap__set(h, pos, h->items[child]);
        pos = child;
    }
    heap__set(h, pos, item);
}

/* Restores the order after the key of the element at pos (< len) changed, either way. */
HEAP__OUT_OF_LINE static void heap_fix(heap *h, uint32_t pos)
{
    if (pos > 0 && h->less(h->items[pos], h->items[(pos - 1) / 2]))
        heap__sift_up(h, pos);
    else
        heap__sift_down(h, pos);
}

HEAP__OUT_OF_LINE static bool heap__insert(heap *h, void *item)
{
    if (h->len == h->cap && !heap_reserve(h, (size_t)h->len + 1))
        return false;
    h->items[h->len] = item;
    heap__sift_up(h, h->len++);
    return true;
}

HEAP__OUT_OF_LINE static void heap__fill(heap *h, uint32_t pos)
{
    /* The last element fills the hole; it may belong above or below it. */
    h->items[pos] = h->items[h->len];
    heap_fix(h, pos);
}

/* Adds item (in no position of this heap). Returns false, heap unchanged, when the array
 * cannot grow; never fails after heap_reserve() made room. */
static inline bool heap_insert(heap *h, void *item)
{
    /* Inline only the case with nothing to compare: many heaps here hold one element (a
     * tube's one priority bucket, its one TTR FIFO) that comes and goes every command. */
    if (h->len == 0 && h->cap) {
        heap__set(h, 0, item);
        h->len = 1;
        return true;
    }
    return heap__insert(h, item);
}

/* Removes and returns the element at pos, which must be < len (checked: a stale position
 * would overwrite another element's slot). Its position becomes HEAP_NO_POS. */
static inline void *heap_remove(heap *h, uint32_t pos)
{
    SQ_CHECK(pos < h->len, "heap: remove at a position past the end");
    void *item = h->items[pos];
    h->len--;
    if (pos != h->len)
        heap__fill(h, pos);
    heap__setpos(h, item, HEAP_NO_POS);
    return item;
}

#endif
