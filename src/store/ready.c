/*
 * The ready set's two levels (see ready.h). Invariants:
 *   - every bucket in `buckets` is non-empty, is in `by_pri`, and has pos == its index;
 *   - spare buckets are empty and in neither structure.
 * The bucket heap is keyed by pri alone, which never changes while a bucket lives, so it
 * is touched only when a bucket appears or disappears, never when jobs come and go.
 */
#include "ready.h"

#include <stdlib.h>

#include "check.h"
#include "heap.h"

/* A few spare buckets absorb a priority that empties and refills on every command (a
 * consumer keeping up with its producer); more would only hold memory. */
enum { MAX_SPARE = 4 };
/* Most tubes use one or two priorities: the bucket heap starts small. */
enum { BUCKETS_MIN_CAP = 8 };

static uint64_t bucket_hash(const void *item)
{
    return hashmap_hash_u64(((const ready_bucket *)item)->pri);
}

static bool bucket_pri_eq(const void *item, const void *key)
{
    return ((const ready_bucket *)item)->pri == *(const uint32_t *)key;
}

/* ---- the bucket heap, by pri ---- */

static bool bucket_less(const void *a, const void *b)
{
    return ((const ready_bucket *)a)->pri < ((const ready_bucket *)b)->pri;
}

void ready_init(ready_set *r)
{
    heap_init_cap(&r->buckets, bucket_less, offsetof(ready_bucket, pos), BUCKETS_MIN_CAP);
    hashmap_init(&r->by_pri, bucket_hash, bucket_pri_eq);
    r->spare = NULL;
    r->nspare = 0;
    r->len = 0;
}

void ready_dispose(ready_set *r)
{
    for (uint32_t i = 0; i < r->buckets.len; i++) {
        ready_bucket *b = r->buckets.items[i];
        idset_dispose(&b->ids);
        free(b);
    }
    while (r->spare) {
        ready_bucket *b = r->spare;
        r->spare = b->next_free;
        idset_dispose(&b->ids);
        free(b);
    }
    heap_dispose(&r->buckets);
    hashmap_dispose(&r->by_pri);
    ready_init(r);
}

/* The live bucket for pri, or NULL. The top bucket is checked first: in a tube worked at
 * one priority it is nearly always the one asked for, and it saves hashing. */
static ready_bucket *find_bucket(const ready_set *r, uint32_t pri)
{
    ready_bucket *top = heap_peek(&r->buckets);
    if (top && top->pri == pri)
        return top;
    return hashmap_find(&r->by_pri, hashmap_hash_u64(pri), &pri);
}

/* Makes a live (but still empty) bucket for pri, in both the heap and the table. NULL on ENOMEM,
 * with nothing changed except possibly grown capacities. */
static ready_bucket *open_bucket(ready_set *r, uint32_t pri)
{
    if (!heap_reserve(&r->buckets, (size_t)r->buckets.len + 1))
        return NULL;
    ready_bucket *b = r->spare;
    if (b) {
        r->spare = b->next_free;
        r->nspare--;
    } else if ((b = calloc(1, sizeof(*b)))) {
        idset_init(&b->ids);
    } else {
        return NULL;
    }
    b->pri = pri;
    if (!hashmap_insert(&r->by_pri, b)) {
        b->next_free = r->spare;
        r->spare = b;
        r->nspare++;
        return NULL;
    }
    /* An empty bucket is briefly in the heap; its key is pri, so order holds. */
    heap_insert(&r->buckets, b); /* cannot fail: room reserved above */
    return b;
}

static void close_bucket(ready_set *r, ready_bucket *b)
{
    hashmap_remove(&r->by_pri, b);
    heap_remove(&r->buckets, b->pos);
    if (r->nspare >= MAX_SPARE) {
        idset_dispose(&b->ids);
        free(b);
        return;
    }
    /* The empty set keeps its (small) container: refilling allocates nothing. */
    b->next_free = r->spare;
    r->spare = b;
    r->nspare++;
}

bool ready_insert(ready_set *r, uint32_t pri, uint64_t id)
{
    ready_bucket *b = find_bucket(r, pri);
    bool opened = false;
    if (!b) {
        if (!(b = open_bucket(r, pri)))
            return false;
        opened = true;
    }
    if (!idset_add(&b->ids, id)) {
        if (opened)
            close_bucket(r, b);
        return false;
    }
    r->len++;
    return true;
}

void ready_remove(ready_set *r, uint32_t pri, uint64_t id)
{
    ready_bucket *b = find_bucket(r, pri);
    /* A miss would leave len wrong and, with no bucket, dereference NULL below. */
    SQ_CHECK(b && idset_remove(&b->ids, id), "ready: remove of an id not in the set");
    r->len--;
    if (idset_len(&b->ids) == 0)
        close_bucket(r, b);
}

size_t ready_footprint(const ready_set *r)
{
    size_t n = (size_t)r->buckets.cap * sizeof(void *) + r->by_pri.cap * sizeof(void *);
    for (uint32_t i = 0; i < r->buckets.len; i++)
        n += sizeof(ready_bucket) + idset_footprint(&((ready_bucket *)r->buckets.items[i])->ids);
    return n + r->nspare * sizeof(ready_bucket);
}
