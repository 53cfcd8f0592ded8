/*
 * A generic binary min-heap of pointers. The caller supplies the order (`less`) and an index
 * callback (`setpos`) through which every element learns its own position, so removing or
 * re-ordering an arbitrary element is O(log n) without a search. An element may sit in
 * several heaps only if it keeps a separate position per heap (one setpos per heap).
 *
 * Positions are uint32: a heap holds at most HEAP_MAX_LEN elements. HEAP_NO_POS marks an
 * element that is in no heap; the heap itself sets it on removal.
 */
#ifndef SYNQ_QUEUE_HEAP_H
#define SYNQ_QUEUE_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEAP_NO_POS UINT32_MAX
#define HEAP_MAX_LEN (UINT32_MAX - 1)

typedef struct heap {
    void **items;
    uint32_t len, cap;
    /* Strict order: true if a must come out before b. Must be a total order for
     * deterministic results (break ties on a unique key). */
    bool (*less)(const void *a, const void *b);
    /* Stores pos in the element (HEAP_NO_POS when it leaves the heap). */
    void (*setpos)(void *item, uint32_t pos);
} heap;

/* An empty heap; allocates nothing until the first insert. */
void heap_init(heap *h, bool (*less)(const void *, const void *),
               void (*setpos)(void *, uint32_t));
/* Frees the array (not the elements). The heap is empty and reusable afterwards. */
void heap_dispose(heap *h);
/* Grows the array to hold at least n elements, so that the next inserts up to n cannot
 * fail. false on ENOMEM (heap unchanged). */
bool heap_reserve(heap *h, size_t n);
/* Adds item. Returns false (heap unchanged) when the array cannot grow. */
bool heap_insert(heap *h, void *item);
/* The smallest element, or NULL if empty. */
static inline void *heap_peek(const heap *h)
{
    return h->len ? h->items[0] : NULL;
}
/* Removes and returns the element at pos (pos < len). */
void *heap_remove(heap *h, uint32_t pos);
/* Restores the order after the key of the element at pos changed (either direction). */
void heap_fix(heap *h, uint32_t pos);

#endif
