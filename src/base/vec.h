/*
 * Growable arrays: the one growth rule of the code base. An array of `cap` elements that must
 * hold `need` grows by doubling (from a minimum when it is empty), so a run of appends costs
 * amortised O(1); an array shrinks only when its owner asks (vec_shrink). Every size is checked
 * against the caller's element limit and against overflow of size_t bytes before it reaches
 * realloc, so no caller multiplies a count by an element size itself.
 *
 * Header-only (static inline), so libsynq uses it without linking sq_base.
 */
#ifndef SYNQ_BASE_VEC_H
#define SYNQ_BASE_VEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * The capacity an array of `cap` elements of `elem_size` bytes grows to so that it holds
 * `need`: `cap` itself when it already does, else `cap` doubled (starting from `min_cap` when
 * `cap` is 0) until it holds `need`, clamped to `max_len`. Returns 0 when `need` is over
 * `max_len` or its bytes would not fit in size_t. `min_cap` and `elem_size` are not 0.
 */
static inline size_t vec_grow_cap(size_t cap, size_t need, size_t min_cap, size_t max_len,
                                  size_t elem_size)
{
    if (max_len > SIZE_MAX / elem_size)
        max_len = SIZE_MAX / elem_size;
    if (need > max_len)
        return 0;
    if (need <= cap)
        return cap;
    size_t n = cap ? cap : min_cap;
    while (n < need)
        n = n > max_len / 2 ? max_len : n * 2;
    return n > max_len ? max_len : n;
}

/*
 * Grows `items` (an array of *cap elements of elem_size bytes, or NULL with *cap == 0) to hold
 * at least `need` elements, by vec_grow_cap(*cap, need, min_cap, max_len, elem_size). Returns
 * the array (moved, maybe) and sets *cap; returns `items` unchanged when it already holds
 * `need`. On overflow or ENOMEM returns NULL, and `items` and *cap are untouched: the caller
 * still owns the old array. The new elements are uninitialised.
 */
static inline void *vec_grow(void *items, size_t *cap, size_t need, size_t elem_size,
                             size_t min_cap, size_t max_len)
{
    if (need <= *cap)
        return items;
    size_t n = vec_grow_cap(*cap, need, min_cap, max_len, elem_size);
    if (!n)
        return NULL;
    void *p = realloc(items, n * elem_size);
    if (p)
        *cap = n;
    return p;
}

/*
 * Gives back the room of `items` (an array of *cap elements) past `new_cap` elements, when
 * 0 < new_cap < *cap: returns the array (moved, maybe) and sets *cap. Otherwise, and when
 * realloc fails (the larger array still holds everything), returns `items` as it is.
 */
static inline void *vec_shrink(void *items, size_t *cap, size_t new_cap, size_t elem_size)
{
    if (new_cap == 0 || new_cap >= *cap)
        return items;
    void *p = realloc(items, new_cap * elem_size);
    if (!p)
        return items;
    *cap = new_cap;
    return p;
}

#endif
