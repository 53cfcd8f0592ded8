/*
 * put-unique keys: the store's table from (tube, key) to the live job that holds the key.
 *
 * Model. A keyed job carries its key at the end of its own record (job.h), so a job without a
 * key pays nothing, and the table holds only job pointers (8 bytes a slot, at most 3/4 full):
 * an element's hash and identity are computed from the job it points to, the tube by its
 * stable index and the key's bytes hashed with the keyed SipHash (clients choose keys, as they
 * choose tube names). A job is in the table iff key_owner is set. Every way a job ends goes
 * through store__destroy_job, which releases its key there, so a key is free again the moment
 * its job is gone, whatever removed it (delete, flush-tube, a replayed DELETE).
 *
 * Inserts never fail at the point of no return: the caller reserves a slot first
 * (store__key_reserve), which is what lets a put-unique or a move fail with nothing changed.
 */
#include "check.h"
#include "store_int.h"

#include <string.h>

typedef struct key_probe {
    uint32_t tube_ix;
    const char *key;
    size_t len;
} key_probe;

static uint64_t key_hash(uint32_t tube_ix, const char *key, size_t len)
{
    return hashmap_hash_bytes(key, len) ^ hashmap_hash_u64(tube_ix);
}

static uint64_t key_item_hash(const void *item)
{
    const job *j = item;
    const unsigned char *k = job_key_at(j);
    return key_hash(j->tube_ix, (const char *)k + 1, *k);
}

static bool key_item_eq(const void *item, const void *key)
{
    const job *j = item;
    const key_probe *p = key;
    const unsigned char *k = job_key_at(j);
    return j->tube_ix == p->tube_ix && *k == p->len && memcmp(k + 1, p->key, p->len) == 0;
}

void store__keys_init(store *s)
{
    hashmap_init(&s->keys, key_item_hash, key_item_eq);
}

job *store__key_find(const store *s, const tube *t, const char *key, size_t len)
{
    key_probe p = {t->ix & (JOB_MAX_TUBES - 1), key, len};
    return hashmap_find(&s->keys, key_hash(p.tube_ix, key, len), &p);
}

bool store__key_reserve(store *s)
{
    return hashmap_reserve(&s->keys, s->keys.len + 1);
}

bool store__key_claim(store *s, job *j)
{
    const unsigned char *k = job_key_at(j);
    key_probe p = {j->tube_ix, (const char *)k + 1, *k};
    if (!j->has_key || hashmap_find(&s->keys, key_item_hash(j), &p))
        return false;
    bool ok = hashmap_insert(&s->keys, j);
    SQ_CHECK(ok, "store_key: a claim has its slot reserved"); /* the caller reserved it */
    j->key_owner = 1;
    return true;
}

void store__key_release(store *s, job *j)
{
    if (!j->key_owner)
        return;
    bool ok = hashmap_remove(&s->keys, j);
    SQ_CHECK(ok, "store_key: a key owner is in the table");
    j->key_owner = 0;
}

void store__keys_shrink(store *s)
{
    hashmap_shrink(&s->keys); /* O(1) unless the table is 1/16 full: see hashmap.h */
}

const char *job_key(const job *j, size_t *len)
{
    if (!j->key_owner) {
        *len = 0;
        return NULL;
    }
    const unsigned char *k = job_key_at(j);
    *len = *k;
    return (const char *)k + 1;
}

size_t job_key_bytes(const job *j)
{
    return j->has_key ? *job_key_at(j) : 0;
}
