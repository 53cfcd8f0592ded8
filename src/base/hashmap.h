/*
 * An open-addressing hash table of pointers (linear probing, backward-shift deletion, so
 * there are no tombstones and lookups never degrade after many deletes). The table stores
 * only the element pointers — 8 bytes per slot — and asks the caller for an element's hash
 * and whether it matches a key. It grows by doubling at 3/4 load, and shrinks only when its
 * owner asks (hashmap_shrink), so that no remove moves elements under an iteration.
 *
 * Keys are opaque to the table: find/remove take the key's hash plus the key pointer that
 * `eq` compares against.
 */
#ifndef SYNQ_QUEUE_HASHMAP_H
#define SYNQ_QUEUE_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hashmap {
    void **slots; /* NULL = empty */
    size_t cap;   /* 0 or a power of two */
    size_t len;
    uint64_t (*hash)(const void *item);
    bool (*eq)(const void *item, const void *key);
} hashmap;

void hashmap_init(hashmap *m, uint64_t (*hash)(const void *item),
                  bool (*eq)(const void *item, const void *key));
/* Frees the table (not the elements). */
void hashmap_dispose(hashmap *m);
/* The element matching key (whose hash is `h`), or NULL. */
void *hashmap_find(const hashmap *m, uint64_t h, const void *key);
/* Adds item, which must not match any element already present. false on ENOMEM. */
bool hashmap_insert(hashmap *m, void *item);
/* Grows the table so that it holds n elements without growing again (the capacity it would
 * reach by inserting them one by one). false on ENOMEM (table unchanged). */
bool hashmap_reserve(hashmap *m, size_t n);
/* When at most 1/16 of the table is used, rehashes it into the smallest capacity that is at
 * most 3/8 full (so the table must double its elements before it grows again: shrinking and
 * growing never alternate). Keeps the old table when that is already small or on ENOMEM.
 * Not during an iteration over the slots. */
void hashmap_shrink(hashmap *m);
/* Removes exactly this element (pointer identity). false if it is not present. */
bool hashmap_remove(hashmap *m, const void *item);
/* Iteration: slot i in [0, cap) holds an element or NULL. */
static inline void *hashmap_slot(const hashmap *m, size_t i)
{
    return m->slots[i];
}

/* A 64-bit mixer (splitmix64 finaliser) for integer keys the table's users choose (ids,
 * pointers, priorities). */
uint64_t hashmap_hash_u64(uint64_t x);
/* For byte strings that clients choose (tube names): SipHash-2-4 under a key drawn from
 * getrandom() once per process (on first use; thread-safe), so no one can compute names that
 * collide, and two processes hash differently. Iteration order of a table so keyed differs
 * between processes: do not rely on it. */
uint64_t hashmap_hash_bytes(const void *p, size_t n);

#endif
