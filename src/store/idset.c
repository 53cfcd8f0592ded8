/*
 * The compressed ordered id set (see idset.h for the model). A container is one allocation:
 * a 16-byte header followed by its payload, either an array of low parts or a 1024-word
 * bitmap.
 *
 * The array is a ring: its live low parts are the logical slots [0, card), slot i stored at
 * (first + i) mod cap, cap a power of two. The common traffic (append at the back, removal
 * at the front) therefore never moves an element and never compacts, whatever the fill; an
 * insertion or removal elsewhere shifts the shorter side, at most IDSET_ARRAY_MAX / 2
 * elements. The array doubles when full and halves when a quarter full, so an array at a
 * boundary does not reallocate on every operation. At IDSET_ARRAY_MAX slots it takes exactly
 * the bitmap's 8 KiB, which is why the conversion to a bitmap happens in place and cannot
 * fail.
 *
 * Invariants, checked by the unit tests against a flat reference model:
 *   - every container in [head, head + n) holds at least one id, keys strictly increase;
 *   - a bitmap's `first` is the word holding its smallest id: every word below it is zero.
 *     Removals maintain it (advancing past words they empty), so the minimum is O(1) for
 *     both kinds and draining a bitmap walks each of its words once in all;
 *   - when n == 0 and items is allocated, items[0] is a spare container with no ids (or
 *     NULL). A bucket that goes empty and refills, the usual life of a quiet tube, then
 *     reuses it instead of a malloc and free per job.
 */
#include "idset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vec.h"

#define LOW_BITS 16
#define LOW_MASK 0xffffu
#define BITMAP_WORDS 1024 /* 65536 bits */
#define BITMAP_BYTES (BITMAP_WORDS * sizeof(uint64_t))
#define ARRAY_CAP_MIN 4
#define ITEMS_CAP_MIN 1

struct idset_container {
    uint64_t key;   /* id >> LOW_BITS */
    uint32_t card;  /* ids held, 1 ..= 65536 */
    uint16_t cap;   /* array: slots allocated, a power of two; 0 marks a bitmap */
    uint16_t first; /* array: the slot of the smallest id; bitmap: the word holding it */
};

_Static_assert(sizeof(idset_container) == 16, "the payload stays 8-byte aligned");
_Static_assert((IDSET_ARRAY_MAX & (IDSET_ARRAY_MAX - 1)) == 0, "array caps are powers of two");
_Static_assert(IDSET_ARRAY_MAX * sizeof(uint16_t) == BITMAP_BYTES,
               "a full array turns into a bitmap in place");

/* The payload after the header. The const variants keep lookups const-correct. */
#define LOWS(c) ((uint16_t *)((c) + 1))
#define WORDS(c) ((uint64_t *)((c) + 1))
#define CLOWS(c) ((const uint16_t *)((c) + 1))
#define CWORDS(c) ((const uint64_t *)((c) + 1))

static size_t container_bytes(const idset_container *c)
{
    return sizeof(*c) + (c->cap ? c->cap * sizeof(uint16_t) : BITMAP_BYTES);
}

/* Logical slot i of an array container. */
#define SLOT(c, i) LOWS(c)[((c)->first + (i)) & ((c)->cap - 1u)]
#define CSLOT(c, i) CLOWS(c)[((c)->first + (i)) & ((c)->cap - 1u)]

/* The first logical slot whose low part is >= low (card if none). Appends and the front
 * are checked first because that is where nearly all traffic goes. */
static uint32_t arr_lower_bound(const idset_container *c, uint16_t low)
{
    uint32_t lo = 0, hi = c->card;
    if (hi == 0 || CSLOT(c, hi - 1) < low)
        return hi;
    if (CSLOT(c, 0) >= low)
        return 0;
    while (lo < hi) { /* slot hi holds a value >= low */
        uint32_t mid = lo + (hi - lo) / 2;
        if (CSLOT(c, mid) < low)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void arr_linearize(const idset_container *c, uint16_t *out)
{
    for (uint32_t i = 0; i < c->card; i++)
        out[i] = CSLOT(c, i);
}

/* Doubles a full array. The ring is full, so its wrapped part is exactly slots [0, first),
 * which move to just past the old end. false on ENOMEM, with *cp unchanged. */
static bool arr_grow(idset_container **cp)
{
    idset_container *c = *cp;
    uint16_t old_cap = c->cap;
    idset_container *g = realloc(c, sizeof(*c) + (size_t)2 * old_cap * sizeof(uint16_t));
    if (!g)
        return false;
    g->cap = (uint16_t)(2u * old_cap);
    memcpy(LOWS(g) + old_cap, LOWS(g), g->first * sizeof(uint16_t));
    *cp = g;
    return true;
}

/* Halves an array a quarter full. A failed realloc leaves it as it was, which is valid. */
static void arr_maybe_shrink(idset_container **cp)
{
    idset_container *c = *cp;
    if (c->cap <= ARRAY_CAP_MIN || c->card == 0 || c->card > c->cap / 4u)
        return;
    uint16_t buf[IDSET_ARRAY_MAX / 4];
    arr_linearize(c, buf);
    uint16_t cap = c->cap / 2u;
    idset_container *s = realloc(c, sizeof(*c) + cap * sizeof(uint16_t));
    if (!s)
        return;
    memcpy(LOWS(s), buf, s->card * sizeof(uint16_t));
    s->cap = cap;
    s->first = 0;
    *cp = s;
}

/* Rewrites a full array of IDSET_ARRAY_MAX slots as a bitmap in the same block. */
static void arr_to_bitmap(idset_container *c)
{
    uint16_t buf[IDSET_ARRAY_MAX];
    arr_linearize(c, buf);
    uint64_t *w = WORDS(c);
    for (size_t i = 0; i < BITMAP_WORDS; i++)
        w[i] = 0;
    for (uint32_t i = 0; i < c->card; i++)
        w[buf[i] / 64] |= UINT64_C(1) << (buf[i] % 64);
    c->cap = 0;
    c->first = (uint16_t)(buf[0] / 64);
}

/* Rewrites a bitmap that shrank to IDSET_ARRAY_MAX / 2 ids as an array of that many slots.
 * On ENOMEM it stays a bitmap, and the next removal tries again. */
static void bitmap_maybe_to_array(idset_container **cp)
{
    idset_container *c = *cp;
    if (c->card == 0 || c->card > IDSET_ARRAY_MAX / 2)
        return;
    uint16_t buf[IDSET_ARRAY_MAX / 2];
    uint32_t n = 0;
    const uint64_t *w = CWORDS(c);
    for (uint32_t i = c->first; i < BITMAP_WORDS; i++) {
        for (uint64_t word = w[i]; word; word &= word - 1)
            buf[n++] = (uint16_t)(i * 64 + (unsigned)__builtin_ctzll(word));
    }
    SQ_CHECK(n == c->card, "idset: bitmap count differs from its bits");
    idset_container *a = realloc(c, sizeof(*c) + IDSET_ARRAY_MAX / 2 * sizeof(uint16_t));
    if (!a)
        return;
    memcpy(LOWS(a), buf, n * sizeof(uint16_t));
    a->cap = IDSET_ARRAY_MAX / 2;
    a->first = 0;
    *cp = a;
}

/* Adds low to the container; false on ENOMEM with nothing changed. */
static bool container_add(idset_container **cp, uint16_t low)
{
    idset_container *c = *cp;
    if (c->cap == 0) {
        uint64_t bit = UINT64_C(1) << (low % 64);
        SQ_CHECK(!(WORDS(c)[low / 64] & bit), "idset: add of an id already in the set");
        WORDS(c)[low / 64] |= bit;
        c->card++;
        if (low / 64 < c->first)
            c->first = (uint16_t)(low / 64);
        return true;
    }
    uint32_t i = arr_lower_bound(c, low);
    SQ_CHECK(i == c->card || SLOT(c, i) != low, "idset: add of an id already in the set");
    if (c->card == c->cap) {
        if (c->cap == IDSET_ARRAY_MAX) {
            arr_to_bitmap(c);
            return container_add(cp, low);
        }
        if (!arr_grow(cp))
            return false;
        c = *cp;
    }
    /* Shift whichever side of slot i is shorter; an append shifts nothing. */
    if (i >= c->card - i) {
        for (uint32_t k = c->card; k > i; k--)
            SLOT(c, k) = SLOT(c, k - 1);
    } else {
        c->first = (uint16_t)((c->first - 1u) & (c->cap - 1u));
        for (uint32_t k = 0; k < i; k++)
            SLOT(c, k) = SLOT(c, k + 1);
    }
    SLOT(c, i) = low;
    c->card++;
    return true;
}

/* Removes low if present. The container may move (it can shrink or become an array). */
static bool container_remove(idset_container **cp, uint16_t low)
{
    idset_container *c = *cp;
    if (c->cap == 0) {
        uint64_t *w = WORDS(c), bit = UINT64_C(1) << (low % 64);
        if (!(w[low / 64] & bit))
            return false;
        w[low / 64] &= ~bit;
        c->card--;
        if (c->card > 0 && low / 64 == c->first) {
            while (w[c->first] == 0)
                c->first++;
        }
        bitmap_maybe_to_array(cp);
        return true;
    }
    uint32_t i = arr_lower_bound(c, low);
    if (i == c->card || SLOT(c, i) != low)
        return false;
    if (i < c->card - 1 - i) {
        for (uint32_t k = i; k > 0; k--)
            SLOT(c, k) = SLOT(c, k - 1);
        c->first = (uint16_t)((c->first + 1u) & (c->cap - 1u));
    } else {
        for (uint32_t k = i; k + 1 < c->card; k++)
            SLOT(c, k) = SLOT(c, k + 1);
    }
    c->card--;
    arr_maybe_shrink(cp);
    return true;
}

static uint16_t container_min(const idset_container *c)
{
    if (c->cap)
        return CLOWS(c)[c->first];
    return (uint16_t)(c->first * 64u + (unsigned)__builtin_ctzll(CWORDS(c)[c->first]));
}

/* The index (from head) of the first container whose key is >= key (n if none). */
static size_t items_lower_bound(const idset *s, uint64_t key)
{
    size_t lo = 0, hi = s->n;
    if (hi == 0)
        return 0; /* and items may be NULL */
    idset_container *const *it = s->items + s->head;
    if (it[hi - 1]->key < key)
        return hi;
    if (it[hi - 1]->key == key)
        return hi - 1;
    if (it[0]->key >= key)
        return 0;
    while (lo < hi) { /* it[hi]->key >= key holds throughout */
        size_t mid = lo + (hi - lo) / 2;
        if (it[mid]->key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static idset_container *items_find(const idset *s, uint64_t key, size_t *index)
{
    size_t i = items_lower_bound(s, key);
    *index = i;
    if (i == s->n || s->items[s->head + i]->key != key)
        return NULL;
    return s->items[s->head + i];
}

/* A one-id array container for key, reusing the spare if there is one. */
static idset_container *container_new(idset *s, uint64_t key, uint16_t low)
{
    idset_container *c = NULL;
    if (s->n == 0 && s->items && s->items[0]) {
        c = s->items[0];
        s->items[0] = NULL;
        if (c->cap == 0) /* a bitmap emptied while short of memory: same bytes as the array */
            c->cap = IDSET_ARRAY_MAX;
    } else {
        c = malloc(sizeof(*c) + ARRAY_CAP_MIN * sizeof(uint16_t));
        if (!c)
            return NULL;
        c->cap = ARRAY_CAP_MIN;
    }
    c->key = key;
    c->card = 1;
    c->first = 0;
    LOWS(c)[0] = low;
    return c;
}

/* Inserts c at index i (from head). Room at the back comes from compacting when at least a
 * quarter of the array is free at the front, else from doubling, so both are amortised
 * O(1). false on ENOMEM with nothing changed. */
static bool items_insert(idset *s, size_t i, idset_container *c)
{
    if (s->head + s->n == s->cap) {
        if (s->head > 0 && s->head * 4 >= s->cap) {
            memmove(s->items, s->items + s->head, s->n * sizeof(idset_container *));
            s->head = 0;
        } else {
            idset_container **items = vec_grow(s->items, &s->cap, s->cap + 1,
                                               sizeof(idset_container *), ITEMS_CAP_MIN, SIZE_MAX);
            if (!items)
                return false;
            s->items = items;
        }
    }
    idset_container **it = s->items + s->head;
    if (i < s->n / 2 && s->head > 0) {
        memmove(it - 1, it, i * sizeof(idset_container *));
        s->head--;
    } else {
        memmove(it + i + 1, it + i, (s->n - i) * sizeof(idset_container *));
    }
    s->items[s->head + i] = c;
    s->n++;
    return true;
}

/* Drops the emptied container at index i (from head); the last one becomes the spare. */
static void items_erase(idset *s, size_t i)
{
    idset_container *c = s->items[s->head + i];
    if (i == 0) {
        s->head++;
    } else if (i + 1 < s->n) {
        idset_container **it = s->items + s->head;
        memmove(it + i, it + i + 1, (s->n - i - 1) * sizeof(idset_container *));
    }
    s->n--;
    if (s->n == 0) {
        s->head = 0;
        s->items[0] = c;
    } else {
        free(c);
    }
}

void idset_init(idset *s)
{
    s->items = NULL;
    s->head = s->n = s->cap = 0;
    s->len = 0;
}

void idset_dispose(idset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->items[s->head + i]);
    if (s->n == 0 && s->items)
        free(s->items[0]);
    free(s->items);
    idset_init(s);
}

bool idset_add(idset *s, uint64_t id)
{
    uint64_t key = id >> LOW_BITS;
    uint16_t low = (uint16_t)(id & LOW_MASK);
    size_t i;
    idset_container *c = items_find(s, key, &i);
    if (c) {
        idset_container **slot = &s->items[s->head + i];
        if (!container_add(slot, low))
            return false;
    } else {
        c = container_new(s, key, low);
        if (!c)
            return false;
        if (!items_insert(s, i, c)) {
            /* The set is unchanged, so a reused spare goes back where it was. */
            if (s->n == 0 && s->items)
                s->items[0] = c;
            else
                free(c);
            return false;
        }
    }
    s->len++;
    return true;
}

bool idset_remove(idset *s, uint64_t id)
{
    size_t i;
    if (!items_find(s, id >> LOW_BITS, &i))
        return false;
    idset_container **slot = &s->items[s->head + i];
    if (!container_remove(slot, (uint16_t)(id & LOW_MASK)))
        return false;
    if ((*slot)->card == 0)
        items_erase(s, i);
    s->len--;
    return true;
}

bool idset_contains(const idset *s, uint64_t id)
{
    size_t i;
    const idset_container *c = items_find(s, id >> LOW_BITS, &i);
    if (!c)
        return false;
    uint16_t low = (uint16_t)(id & LOW_MASK);
    if (c->cap == 0)
        return (CWORDS(c)[low / 64] >> (low % 64)) & 1;
    uint32_t k = arr_lower_bound(c, low);
    return k < c->card && CSLOT(c, k) == low;
}

uint64_t idset_min(const idset *s)
{
    if (s->n == 0)
        return 0;
    const idset_container *c = s->items[s->head];
    return (c->key << LOW_BITS) | container_min(c);
}

/* The smallest low part >= low in c, or -1 if none. */
static int32_t container_next(const idset_container *c, uint32_t low)
{
    if (c->cap) {
        uint32_t k = arr_lower_bound(c, (uint16_t)low);
        return k < c->card ? (int32_t)CSLOT(c, k) : -1;
    }
    const uint64_t *w = CWORDS(c);
    uint32_t i = low / 64;
    uint64_t word = w[i] & (~UINT64_C(0) << (low % 64));
    while (!word) {
        if (++i == BITMAP_WORDS)
            return -1;
        word = w[i];
    }
    return (int32_t)(i * 64 + (unsigned)__builtin_ctzll(word));
}

uint64_t idset_next(const idset *s, uint64_t after)
{
    if (after == UINT64_MAX)
        return 0;
    uint64_t from = after + 1, key = from >> LOW_BITS;
    size_t i = items_lower_bound(s, key);
    if (i == s->n)
        return 0;
    const idset_container *c = s->items[s->head + i];
    if (c->key == key) {
        int32_t low = container_next(c, (uint32_t)(from & LOW_MASK));
        if (low >= 0)
            return (key << LOW_BITS) | (uint64_t)low;
        if (++i == s->n)
            return 0;
        c = s->items[s->head + i];
    }
    return (c->key << LOW_BITS) | container_min(c);
}

uint64_t idset_pop_min(idset *s)
{
    uint64_t id = idset_min(s);
    if (s->n == 0)
        return 0;
    idset_container **slot = &s->items[s->head];
    bool removed = container_remove(slot, (uint16_t)(id & LOW_MASK));
    SQ_CHECK(removed, "idset: the minimum was not in its container");
    if ((*slot)->card == 0)
        items_erase(s, 0);
    s->len--;
    return id;
}

size_t idset_footprint(const idset *s)
{
    size_t bytes = s->cap * sizeof(idset_container *);
    for (size_t i = 0; i < s->n; i++)
        bytes += container_bytes(s->items[s->head + i]);
    if (s->n == 0 && s->items && s->items[0])
        bytes += container_bytes(s->items[0]);
    return bytes;
}
