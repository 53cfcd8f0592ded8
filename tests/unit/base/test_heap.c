/*
 * Unit tests for src/base/heap.c and src/base/hashmap.c: order, positions kept by the
 * index callback, arbitrary removal and re-keying, checked against a sorted model.
 */
#include "test.h"

#include "hashmap.h"
#include "heap.h"

typedef struct item {
    uint64_t key;
    uint32_t pos;
} item;

static bool item_less(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key;
    return x < y;
}

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void check_positions(const heap *h)
{
    for (uint32_t i = 0; i < h->len; i++) {
        ASSERT_EQ(((item *)h->items[i])->pos, i);
        if (i > 0)
            ASSERT_TRUE(!item_less(h->items[i], h->items[(i - 1) / 2]));
    }
}

TEST(heap_pops_in_order)
{
    heap h;
    heap_init(&h, item_less, offsetof(item, pos));
    item items[5] = {{50, 0}, {10, 0}, {40, 0}, {20, 0}, {30, 0}};
    for (int i = 0; i < 5; i++)
        ASSERT_TRUE(heap_insert(&h, &items[i]));
    uint64_t want[5] = {10, 20, 30, 40, 50};
    for (int i = 0; i < 5; i++) {
        item *top = heap_peek(&h);
        ASSERT_EQ(top->key, want[i]);
        ASSERT_EQ(heap_remove(&h, 0), top);
        ASSERT_EQ(top->pos, HEAP_NO_POS);
    }
    ASSERT_TRUE(heap_peek(&h) == NULL);
    heap_dispose(&h);
}

TEST(heap_random_insert_remove_fix_matches_model)
{
    enum { N = 2000 };
    static item items[N];
    static bool in[N];
    heap h;
    heap_init(&h, item_less, offsetof(item, pos));
    for (int i = 0; i < N; i++)
        items[i].pos = HEAP_NO_POS;
    for (int step = 0; step < 40000; step++) {
        int i = (int)(rnd() % N);
        int op = (int)(rnd() % 4);
        if (!in[i]) {
            items[i].key = rnd() % 500;
            ASSERT_TRUE(heap_insert(&h, &items[i]));
            in[i] = true;
        } else if (op == 0) {
            items[i].key = rnd() % 500;
            heap_fix(&h, items[i].pos);
        } else {
            ASSERT_EQ(heap_remove(&h, items[i].pos), &items[i]);
            in[i] = false;
        }
        if (step % 997 == 0)
            check_positions(&h);
        /* The top is the minimum of the model. */
        item *top = heap_peek(&h);
        if (top) {
            ASSERT_TRUE(in[top - items]);
            if (step % 101 == 0) {
                for (int k = 0; k < N; k++) {
                    if (in[k])
                        ASSERT_TRUE(!item_less(&items[k], top));
                }
            }
        }
    }
    check_positions(&h);
    uint64_t last = 0;
    while (h.len) {
        item *top = heap_remove(&h, 0);
        ASSERT_GE(top->key, last);
        last = top->key;
    }
    heap_dispose(&h);
}

static uint64_t key_hash(const void *it)
{
    return hashmap_hash_u64(((const item *)it)->key);
}

static bool key_eq(const void *it, const void *key)
{
    return ((const item *)it)->key == *(const uint64_t *)key;
}

TEST(hashmap_insert_find_remove_random)
{
    enum { N = 50000 };
    static item items[N];
    static bool in[N];
    hashmap m;
    hashmap_init(&m, key_hash, key_eq);
    for (int i = 0; i < N; i++)
        items[i].key = (uint64_t)i * 7919 + 1;
    size_t count = 0;
    for (int step = 0; step < 300000; step++) {
        int i = (int)(rnd() % N);
        if (in[i]) {
            ASSERT_TRUE(hashmap_remove(&m, &items[i]));
            in[i] = false;
            count--;
        } else {
            ASSERT_TRUE(hashmap_insert(&m, &items[i]));
            in[i] = true;
            count++;
        }
        int k = (int)(rnd() % N);
        void *found = hashmap_find(&m, hashmap_hash_u64(items[k].key), &items[k].key);
        ASSERT_TRUE(found == (in[k] ? &items[k] : NULL));
    }
    ASSERT_EQ(m.len, count);
    for (int k = 0; k < N; k++) {
        void *found = hashmap_find(&m, hashmap_hash_u64(items[k].key), &items[k].key);
        ASSERT_TRUE(found == (in[k] ? &items[k] : NULL));
    }
    hashmap_dispose(&m);
}

TEST(heap_shrink_to_keeps_order_and_at_least_len)
{
    enum { N = 4096 };
    static item items[N];
    heap h;
    heap_init(&h, item_less, offsetof(item, pos));
    for (int i = 0; i < N; i++) {
        items[i].key = rnd() % 1000;
        ASSERT_TRUE(heap_insert(&h, &items[i]));
    }
    for (int i = 0; i < N - 10; i++)
        heap_remove(&h, 0);
    ASSERT_EQ(h.cap, N);
    heap_shrink_to(&h, 4); /* never below len */
    ASSERT_EQ(h.cap, 10);
    check_positions(&h);
    heap_shrink_to(&h, 64); /* no bigger than it is: nothing */
    ASSERT_EQ(h.cap, 10);
    uint64_t last = 0;
    while (h.len) {
        item *it = heap_remove(&h, 0);
        ASSERT_GE(it->key, last);
        last = it->key;
    }
    heap_shrink_to(&h, 0);
    ASSERT_EQ(h.cap, 0);
    ASSERT_TRUE(heap_insert(&h, &items[0])); /* and it grows again */
    heap_dispose(&h);
}

TEST(hashmap_shrink_only_when_nearly_empty_and_keeps_elements)
{
    enum { N = 10000 };
    static item items[N];
    hashmap m;
    hashmap_init(&m, key_hash, key_eq);
    for (int i = 0; i < N; i++) {
        items[i].key = (uint64_t)i * 31 + 5;
        ASSERT_TRUE(hashmap_insert(&m, &items[i]));
    }
    size_t peak = m.cap;
    for (size_t i = 0; i < N - peak / 16 - 1; i++)
        ASSERT_TRUE(hashmap_remove(&m, &items[i]));
    hashmap_shrink(&m); /* just over 1/16 full: kept */
    ASSERT_EQ(m.cap, peak);
    ASSERT_TRUE(hashmap_remove(&m, &items[N - peak / 16 - 1]));
    hashmap_shrink(&m);
    ASSERT_LT(m.cap, peak);
    ASSERT_LE(2 * m.len, m.cap / 4 * 3); /* room to double before it grows again */
    for (int k = 0; k < N; k++) {
        void *found = hashmap_find(&m, hashmap_hash_u64(items[k].key), &items[k].key);
        ASSERT_TRUE(found == (k >= N - (int)(peak / 16) ? &items[k] : NULL));
    }
    hashmap_dispose(&m);
}

TEST_MAIN()
