/*
 * Linear probing keeps a lookup to a few adjacent cache lines. Deletion shifts later members
 * of the probe run back into the hole (Knuth's algorithm R), which keeps the invariant that
 * every element is reachable from its home slot without crossing an empty slot.
 */
#include "hashmap.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "siphash.h"

/* Slots of the first allocation. */
enum { MIN_CAP = 64 };

void hashmap_init(hashmap *m, uint64_t (*hash)(const void *item),
                  bool (*eq)(const void *item, const void *key))
{
    m->slots = NULL;
    m->cap = m->len = 0;
    m->hash = hash;
    m->eq = eq;
}

void hashmap_dispose(hashmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}

uint64_t hashmap_hash_u64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The process's key for hashmap_hash_bytes, drawn once. */
static uint8_t bytes_key[SIPHASH_KEY_BYTES];
static pthread_once_t bytes_key_once = PTHREAD_ONCE_INIT;

static void draw_bytes_key(void)
{
    size_t got = 0;
    while (got < sizeof bytes_key) {
        ssize_t n = getrandom(bytes_key + got, sizeof bytes_key - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof bytes_key) {
        /* getrandom cannot fail on Linux >= 3.17 short of a seccomp filter; a table must
         * still work then, only without flooding resistance, so say so once. */
        fprintf(stderr, "synq: getrandom() failed (%s): hash tables of names are unkeyed\n",
                strerror(errno));
        memset(bytes_key, 0, sizeof bytes_key);
    }
}

uint64_t hashmap_hash_bytes(const void *p, size_t n)
{
    (void)pthread_once(&bytes_key_once, draw_bytes_key);
    return siphash24(bytes_key, p, n);
}

void *hashmap_find(const hashmap *m, uint64_t h, const void *key)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        void *item = m->slots[i];
        if (!item)
            return NULL;
        if (m->eq(item, key))
            return item;
    }
}

static void place(void **slots, size_t mask, void *item, uint64_t h)
{
    size_t i = h & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = item;
}

/* Rehashes into `cap` slots, in slot order (so the layout depends only on the sequence of
 * operations, which recovery relies on for a deterministic order of its live jobs). */
static bool resize(hashmap *m, size_t cap)
{
    void **slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return false;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i])
            place(slots, cap - 1, m->slots[i], m->hash(m->slots[i]));
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return true;
}

/* Keep the load at most 3/4 so probe runs stay short. */
static bool fits(size_t len, size_t cap)
{
    return len <= cap / 4 * 3;
}

bool hashmap_reserve(hashmap *m, size_t n)
{
    if (fits(n, m->cap))
        return true;
    if (n > SIZE_MAX / sizeof(void *) / 2)
        return false;
    size_t cap = m->cap ? m->cap : MIN_CAP;
    while (!fits(n, cap))
        cap *= 2;
    return resize(m, cap);
}

void hashmap_shrink(hashmap *m)
{
    if (m->cap <= MIN_CAP || m->len > m->cap / 16)
        return;
    size_t cap = MIN_CAP;
    while (!fits(2 * m->len, cap))
        cap *= 2;
    if (cap < m->cap)
        (void)resize(m, cap); /* on ENOMEM the larger table still works */
}

bool hashmap_insert(hashmap *m, void *item)
{
    if (!fits(m->len + 1, m->cap) && !resize(m, m->cap ? m->cap * 2 : MIN_CAP))
        return false;
    place(m->slots, m->cap - 1, item, m->hash(item));
    m->len++;
    return true;
}

bool hashmap_remove(hashmap *m, const void *item)
{
    if (!m->cap)
        return false;
    size_t mask = m->cap - 1;
    size_t i = m->hash(item) & mask;
    while (m->slots[i] != item) {
        if (!m->slots[i])
            return false;
        i = (i + 1) & mask;
    }
    /* Backward shift: move each later run member whose home is not in (hole, j] into the
     * hole, so no element ends up behind an empty slot. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->slots[j]; j = (j + 1) & mask) {
        size_t home = m->hash(m->slots[j]) & mask;
        bool home_in_range = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!home_in_range) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole] = NULL;
    m->len--;
    return true;
}
