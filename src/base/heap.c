/*
 * Binary min-heap over an array: the children of i are 2i+1 and 2i+2. Every move of an
 * element goes through set(), so each element's stored position is always its array index;
 * that invariant is what makes heap_remove() of an arbitrary element O(log n).
 */
#include "heap.h"

#include <stdlib.h>

void heap_init(heap *h, bool (*less)(const void *, const void *),
               void (*setpos)(void *, uint32_t))
{
    h->items = NULL;
    h->len = h->cap = 0;
    h->less = less;
    h->setpos = setpos;
}

void heap_dispose(heap *h)
{
    free(h->items);
    h->items = NULL;
    h->len = h->cap = 0;
}

static void set(heap *h, uint32_t pos, void *item)
{
    h->items[pos] = item;
    h->setpos(item, pos);
}

static void sift_up(heap *h, uint32_t pos)
{
    void *item = h->items[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!h->less(item, h->items[parent]))
            break;
        set(h, pos, h->items[parent]);
        pos = parent;
    }
    set(h, pos, item);
}

static void sift_down(heap *h, uint32_t pos)
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
        set(h, pos, h->items[child]);
        pos = child;
    }
    set(h, pos, item);
}

bool heap_reserve(heap *h, size_t n)
{
    if (n <= h->cap)
        return true;
    if (n > HEAP_MAX_LEN)
        return false;
    /* Doubling keeps a run of inserts amortised O(1). */
    uint64_t cap = h->cap ? (uint64_t)h->cap * 2 : 16;
    while (cap < n)
        cap *= 2;
    if (cap > HEAP_MAX_LEN)
        cap = HEAP_MAX_LEN;
    void **items = realloc(h->items, cap * sizeof(*items));
    if (!items)
        return false;
    h->items = items;
    h->cap = (uint32_t)cap;
    return true;
}

bool heap_insert(heap *h, void *item)
{
    if (h->len == h->cap && !heap_reserve(h, (size_t)h->len + 1))
        return false;
    h->items[h->len] = item;
    sift_up(h, h->len++);
    return true;
}

void *heap_remove(heap *h, uint32_t pos)
{
    void *item = h->items[pos];
    h->len--;
    if (pos != h->len) {
        /* The last element fills the hole; it may belong above or below it. */
        h->items[pos] = h->items[h->len];
        heap_fix(h, pos);
    }
    h->setpos(item, HEAP_NO_POS);
    return item;
}

void heap_fix(heap *h, uint32_t pos)
{
    if (pos > 0 && h->less(h->items[pos], h->items[(pos - 1) / 2]))
        sift_up(h, pos);
    else
        sift_down(h, pos);
}
