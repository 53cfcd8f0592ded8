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

static uint64_t bucket_hash(const void *item)
{
    return hashmap_hash_u64(((const ready_bucket *)item)->pri);
}

static bool bucket_pri_eq(const void *item, const void *key)
{
    return ((const ready_bucket *)item)->pri == *(const uint32_t *)key;
}

void ready_init(ready_set *r)
{
    r->buckets = NULL;
    r->nbuckets = r->bucket_cap = 0;
    hashmap_init(&r->by_pri, bucket_hash, bucket_pri_eq);
    r->spare = NULL;
    r->nspare = 0;
    r->len = 0;
}

void ready_dispose(ready_set *r)
{
    for (uint32_t i = 0; i < r->nbuckets; i++) {
        idset_dispose(&r->buckets[i]->ids);
        free(r->buckets[i]);
    }
    while (r->spare) {
        ready_bucket *b = r->spare;
        r->spare = b->next_free;
        idset_dispose(&b->ids);
        free(b);
    }
    free(r->buckets);
    hashmap_dispose(&r->by_pri);
    ready_init(r);
}

/* ---- the bucket heap, by pri ---- */

static void set_bucket(ready_set *r, uint32_t pos, ready_bucket *b)
{
    r->buckets[pos] = b;
    b->pos = pos;
}

static void buckets_sift_up(ready_set *r, uint32_t pos)
{
    ready_bucket *b = r->buckets[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (r->buckets[parent]->pri < b->pri)
            break;
        set_bucket(r, pos, r->buckets[parent]);
        pos = parent;
    }
    set_bucket(r, pos, b);
}

static void buckets_sift_down(ready_set *r, uint32_t pos)
{
    ready_bucket *b = r->buckets[pos];
    for (;;) {
        uint64_t left = 2 * (uint64_t)pos + 1;
        if (left >= r->nbuckets)
            break;
        uint32_t child = (uint32_t)left;
        if (child + 1 < r->nbuckets && r->buckets[child + 1]->pri < r->buckets[child]->pri)
            child++;
        if (b->pri < r->buckets[child]->pri)
            break;
        set_bucket(r, pos, r->buckets[child]);
        pos = child;
    }
    set_bucket(r, pos, b);
}

static bool buckets_reserve(ready_set *r, uint64_t n)
{
    if (n <= r->bucket_cap)
        return true;
    uint64_t cap = r->bucket_cap ? (uint64_t)r->bucket_cap * 2 : 8;
    if (cap > HEAP_MAX_LEN)
        return false;
    ready_bucket **buckets = realloc(r->buckets, cap * sizeof(*buckets));
    if (!buckets)
        return false;
    r->buckets = buckets;
    r->bucket_cap = (uint32_t)cap;
    return true;
}

/* The live bucket for pri, or NULL. The top bucket is checked first: in a tube worked at
 * one priority it is nearly always the one asked for, and it saves hashing. */
static ready_bucket *find_bucket(const ready_set *r, uint32_t pri)
{
    if (r->nbuckets && r->buckets[0]->pri == pri)
        return r->buckets[0];
    return hashmap_find(&r->by_pri, hashmap_hash_u64(pri), &pri);
}

/* Makes a live (but still empty) bucket for pri, in both the heap and the table. NULL on ENOMEM,
 * with nothing changed except possibly grown capacities. */
static ready_bucket *open_bucket(ready_set *r, uint32_t pri)
{
    if (!buckets_reserve(r, (uint64_t)r->nbuckets + 1))
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
    r->buckets[r->nbuckets] = b;
    buckets_sift_up(r, r->nbuckets++);
    return b;
}

static void close_bucket(ready_set *r, ready_bucket *b)
{
    hashmap_remove(&r->by_pri, b);
    uint32_t pos = b->pos;
    r->nbuckets--;
    if (pos != r->nbuckets) {
        /* The last bucket fills the hole; it may belong above or below it. */
        set_bucket(r, pos, r->buckets[r->nbuckets]);
        if (pos > 0 && r->buckets[pos]->pri < r->buckets[(pos - 1) / 2]->pri)
            buckets_sift_up(r, pos);
        else
            buckets_sift_down(r, pos);
    }
    b->pos = HEAP_NO_POS;
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
    size_t n = (size_t)r->bucket_cap * sizeof(*r->buckets) + r->by_pri.cap * sizeof(void *);
    for (uint32_t i = 0; i < r->nbuckets; i++)
        n += sizeof(ready_bucket) + idset_footprint(&r->buckets[i]->ids);
    return n + r->nspare * sizeof(ready_bucket);
}
