/*
 * Unit tests for the job directory (src/store/jobdir.c): exact results for each operation
 * at page boundaries, far-apart ids and out-of-order inserts; the hint going stale; pages
 * freed as they empty; the memory of a million dense ids; and a randomized run of 300k
 * operations checked step by step against a plain sorted array.
 */
#include "jobdir.h"

#include "test.h"

#include <malloc.h>

/* The value the tests store for id: opaque, non-NULL, distinct per id. */
static void *val(uint64_t id)
{
    return (void *)(uintptr_t)(id * 16 + 8);
}

/* The directory's iteration as an array of ids; returns how many. */
static size_t collect(jobdir *d, uint64_t *ids, size_t max)
{
    size_t n = 0;
    uint64_t id = 0;
    void *v;
    while ((v = jobdir_next(d, &id)) != NULL) {
        ASSERT_LT(n, max);
        ASSERT_TRUE(v == val(id));
        ids[n++] = id;
    }
    return n;
}

TEST(empty_directory_allocates_nothing_and_finds_nothing)
{
    jobdir d;
    jobdir_init(&d);
    ASSERT_EQ(jobdir_len(&d), 0);
    ASSERT_EQ(jobdir_footprint(&d), 0);
    ASSERT_TRUE(jobdir_get(&d, 1) == NULL);
    ASSERT_TRUE(jobdir_get(&d, UINT64_MAX) == NULL);
    ASSERT_TRUE(jobdir_remove(&d, 1) == NULL);
    uint64_t id = 0;
    ASSERT_TRUE(jobdir_next(&d, &id) == NULL);
    ASSERT_EQ(id, 0);
    jobdir_dispose(&d);
    ASSERT_EQ(jobdir_footprint(&d), 0);
}

TEST(insert_then_get_returns_each_value)
{
    jobdir d;
    jobdir_init(&d);
    for (uint64_t id = 1; id <= 100; id++)
        ASSERT_TRUE(jobdir_insert(&d, id, val(id)));
    ASSERT_EQ(jobdir_len(&d), 100);
    ASSERT_EQ(d.npages, 1);
    for (uint64_t id = 1; id <= 100; id++)
        ASSERT_TRUE(jobdir_get(&d, id) == val(id));
    ASSERT_TRUE(jobdir_get(&d, 0) == NULL);
    ASSERT_TRUE(jobdir_get(&d, 101) == NULL);
    ASSERT_TRUE(jobdir_get(&d, 511) == NULL);
    ASSERT_TRUE(jobdir_get(&d, 512) == NULL);
    jobdir_dispose(&d);
}

TEST(page_boundaries_split_ids_into_pages)
{
    jobdir d;
    jobdir_init(&d);
    uint64_t ids[] = {0, 511, 512, 1023, 1024};
    for (size_t i = 0; i < 5; i++)
        ASSERT_TRUE(jobdir_insert(&d, ids[i], val(ids[i])));
    ASSERT_EQ(d.npages, 3);
    for (size_t i = 0; i < 5; i++)
        ASSERT_TRUE(jobdir_get(&d, ids[i]) == val(ids[i]));
    ASSERT_TRUE(jobdir_get(&d, 510) == NULL);
    ASSERT_TRUE(jobdir_get(&d, 513) == NULL);
    ASSERT_TRUE(jobdir_get(&d, 1025) == NULL);
    /* Id 0 is stored, but iteration starts above *id = 0 and so begins at 511. */
    uint64_t got[8];
    size_t n = collect(&d, got, 8);
    ASSERT_EQ(n, 4);
    ASSERT_EQ(got[0], 511);
    ASSERT_EQ(got[1], 512);
    ASSERT_EQ(got[2], 1023);
    ASSERT_EQ(got[3], 1024);
    ASSERT_TRUE(jobdir_remove(&d, 512) == val(512));
    ASSERT_EQ(d.npages, 3); /* 1023 is left in page 1 */
    ASSERT_TRUE(jobdir_remove(&d, 1023) == val(1023));
    ASSERT_EQ(d.npages, 2);
    ASSERT_TRUE(jobdir_get(&d, 1024) == val(1024));
    ASSERT_TRUE(jobdir_get(&d, 0) == val(0));
    ASSERT_EQ(jobdir_len(&d), 3);
    jobdir_dispose(&d);
}

TEST(full_page_holds_all_512_ids)
{
    jobdir d;
    jobdir_init(&d);
    for (uint64_t id = 1024; id < 1536; id++)
        ASSERT_TRUE(jobdir_insert(&d, id, val(id)));
    ASSERT_EQ(d.npages, 1);
    for (uint64_t id = 1024; id < 1536; id++)
        ASSERT_TRUE(jobdir_get(&d, id) == val(id));
    /* Remove every other id, from the top bit down, and check ranks still line up. */
    for (uint64_t id = 1535; id >= 1024; id -= 2)
        ASSERT_TRUE(jobdir_remove(&d, id) == val(id));
    for (uint64_t id = 1024; id < 1536; id++)
        ASSERT_TRUE(jobdir_get(&d, id) == ((id & 1) ? NULL : val(id)));
    ASSERT_EQ(jobdir_len(&d), 256);
    jobdir_dispose(&d);
}

TEST(replace_changes_the_value_and_never_allocates)
{
    jobdir d;
    jobdir_init(&d);
    for (uint64_t id = 1; id <= 5000; id++)
        ASSERT_TRUE(jobdir_insert(&d, id, val(id)));
    size_t footprint = jobdir_footprint(&d);
    jobdir_page *first = d.pages[0], *lastpage = d.pages[d.npages - 1];
    struct mallinfo2 before = mallinfo2();
    for (int round = 0; round < 20; round++)
        for (uint64_t id = 1; id <= 5000; id++)
            jobdir_replace(&d, id, (void *)(uintptr_t)(id * 16 + 9 + (uint64_t)round * 65536));
    struct mallinfo2 after = mallinfo2();
    ASSERT_EQ(after.uordblks, before.uordblks);
    ASSERT_EQ(after.arena, before.arena);
    ASSERT_EQ(jobdir_footprint(&d), footprint);
    ASSERT_TRUE(d.pages[0] == first);
    ASSERT_TRUE(d.pages[d.npages - 1] == lastpage);
    ASSERT_EQ(jobdir_len(&d), 5000);
    for (uint64_t id = 1; id <= 5000; id++)
        ASSERT_TRUE(jobdir_get(&d, id) == (void *)(uintptr_t)(id * 16 + 9 + (uint64_t)19 * 65536));
    jobdir_dispose(&d);
}

TEST(remove_returns_value_once_and_null_when_absent)
{
    jobdir d;
    jobdir_init(&d);
    ASSERT_TRUE(jobdir_insert(&d, 7, val(7)));
    ASSERT_TRUE(jobdir_insert(&d, 9, val(9)));
    ASSERT_TRUE(jobdir_remove(&d, 8) == NULL);    /* absent, page present */
    ASSERT_TRUE(jobdir_remove(&d, 5000) == NULL); /* absent, page absent */
    ASSERT_EQ(jobdir_len(&d), 2);
    ASSERT_TRUE(jobdir_remove(&d, 7) == val(7));
    ASSERT_TRUE(jobdir_remove(&d, 7) == NULL);
    ASSERT_TRUE(jobdir_get(&d, 9) == val(9));
    ASSERT_EQ(jobdir_len(&d), 1);
    /* An id can come back after removal. */
    ASSERT_TRUE(jobdir_insert(&d, 7, val(8)));
    ASSERT_TRUE(jobdir_get(&d, 7) == val(8));
    jobdir_dispose(&d);
}

TEST(pages_are_freed_as_they_empty)
{
    jobdir d;
    jobdir_init(&d);
    for (uint64_t id = 1; id <= 20000; id++)
        ASSERT_TRUE(jobdir_insert(&d, id, val(id)));
    ASSERT_EQ(d.npages, 40); /* pages 0..39: 20000 / 512 = 39.06 */
    size_t full = jobdir_footprint(&d);
    ASSERT_GE(full, 20000 * 8);
    /* Drain in FIFO order: the footprint falls as pages go. */
    for (uint64_t id = 1; id <= 10240; id++)
        ASSERT_TRUE(jobdir_remove(&d, id) == val(id));
    ASSERT_EQ(d.npages, 20);
    ASSERT_LT(jobdir_footprint(&d), full / 2 + 4096);
    /* The rest in a scrambled order (a stride coprime to the count visits each once). */
    for (uint64_t k = 0; k < 9760; k++) {
        uint64_t id = 10241 + (k * 7919) % 9760;
        ASSERT_TRUE(jobdir_remove(&d, id) == val(id));
    }
    ASSERT_EQ(jobdir_len(&d), 0);
    ASSERT_EQ(d.npages, 0);
    ASSERT_TRUE(d.pages == NULL);
    ASSERT_EQ(jobdir_footprint(&d), 0);
    jobdir_dispose(&d);
}

TEST(page_with_one_job_left_shrinks_to_about_120_bytes)
{
    jobdir d;
    jobdir_init(&d);
    for (uint64_t id = 512; id < 1024; id++)
        ASSERT_TRUE(jobdir_insert(&d, id, val(id)));
    size_t full = jobdir_footprint(&d);
    ASSERT_GE(full, 512 * 8 + 64);
    ASSERT_LE(full, 512 * 8 + 64 + 128);
    for (uint64_t id = 512; id < 1023; id++)
        ASSERT_TRUE(jobdir_remove(&d, id) == val(id));
    ASSERT_EQ(d.npages, 1);
    ASSERT_TRUE(jobdir_get(&d, 1023) == val(1023));
    /* The page (bitmap, header, a pointer or two) plus the page array's minimum. */
    ASSERT_LE(jobdir_footprint(&d), 116 + 4 * sizeof(void *));
    jobdir_dispose(&d);
}

TEST(stale_hint_after_pages_are_removed)
{
    jobdir d;
    jobdir_init(&d);
    for (uint64_t p = 0; p < 10; p++)
        ASSERT_TRUE(jobdir_insert(&d, p * 512 + 3, val(p * 512 + 3)));
    ASSERT_EQ(d.npages, 10);
    ASSERT_TRUE(jobdir_get(&d, 9 * 512 + 3) == val(9 * 512 + 3));
    ASSERT_EQ(d.last, 9);
    /* Remove pages 5..9: the hint (9) is past the end of the array. */
    for (uint64_t p = 9; p >= 5; p--)
        ASSERT_TRUE(jobdir_remove(&d, p * 512 + 3) == val(p * 512 + 3));
    ASSERT_EQ(d.npages, 5);
    d.last = 9; /* whatever remove left, force the stale value */
    ASSERT_TRUE(jobdir_get(&d, 9 * 512 + 3) == NULL);
    ASSERT_TRUE(jobdir_get(&d, 2 * 512 + 3) == val(2 * 512 + 3));
    ASSERT_EQ(d.last, 2);
    /* Now the hint names index 2, then page 1 goes: index 2 holds page 3. */
    ASSERT_TRUE(jobdir_remove(&d, 512 + 3) == val(512 + 3));
    d.last = 2;
    ASSERT_TRUE(jobdir_get(&d, 2 * 512 + 3) == val(2 * 512 + 3));
    ASSERT_TRUE(jobdir_get(&d, 3 * 512 + 3) == val(3 * 512 + 3));
    ASSERT_TRUE(jobdir_get(&d, 512 + 3) == NULL);
    d.last = 2;
    jobdir_replace(&d, 4 * 512 + 3, val(1));
    ASSERT_TRUE(jobdir_get(&d, 4 * 512 + 3) == val(1));
    d.last = 1000;
    ASSERT_TRUE(jobdir_insert(&d, 512 + 4, val(512 + 4)));
    d.last = 1000;
    ASSERT_TRUE(jobdir_remove(&d, 3) == val(3));
    d.last = 1000;
    uint64_t id = 0;
    ASSERT_TRUE(jobdir_next(&d, &id) == val(512 + 4));
    ASSERT_EQ(id, 512 + 4);
    ASSERT_EQ(jobdir_len(&d), 4);
    jobdir_dispose(&d);
}

TEST(iteration_in_order_with_gaps_and_across_pages)
{
    jobdir d;
    jobdir_init(&d);
    static const uint64_t ids[] = {1, 2, 5, 511, 512, 513, 1500, 100000, 100001};
    size_t n = sizeof ids / sizeof ids[0];
    for (size_t i = n; i-- > 0;) /* inserted backwards */
        ASSERT_TRUE(jobdir_insert(&d, ids[i], val(ids[i])));
    uint64_t got[16];
    ASSERT_EQ(collect(&d, got, 16), n);
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ(got[i], ids[i]);
    /* Starting points that are not present: the next larger id. */
    static const uint64_t from[][2] = {{2, 5},       {3, 5},         {5, 511},       {510, 511},
                                       {511, 512},   {513, 1500},    {600, 1500},    {1023, 1500},
                                       {1024, 1500}, {1501, 100000}, {99999, 100000}};
    for (size_t i = 0; i < sizeof from / sizeof from[0]; i++) {
        uint64_t id = from[i][0];
        ASSERT_TRUE(jobdir_next(&d, &id) == val(from[i][1]));
        ASSERT_EQ(id, from[i][1]);
    }
    uint64_t id = 100001;
    ASSERT_TRUE(jobdir_next(&d, &id) == NULL);
    ASSERT_EQ(id, 100001);
    id = 200000;
    ASSERT_TRUE(jobdir_next(&d, &id) == NULL);
    ASSERT_EQ(id, 200000);
    jobdir_dispose(&d);
}

TEST(ids_far_apart)
{
    jobdir d;
    jobdir_init(&d);
    static const uint64_t ids[] = {1, UINT64_C(1) << 33, UINT64_C(1) << 63, UINT64_MAX};
    for (size_t i = 0; i < 4; i++)
        ASSERT_TRUE(jobdir_insert(&d, ids[i], val(ids[i])));
    ASSERT_EQ(d.npages, 4);
    ASSERT_EQ(jobdir_len(&d), 4);
    for (size_t i = 0; i < 4; i++)
        ASSERT_TRUE(jobdir_get(&d, ids[i]) == val(ids[i]));
    ASSERT_TRUE(jobdir_get(&d, (UINT64_C(1) << 33) + 1) == NULL);
    ASSERT_TRUE(jobdir_get(&d, (UINT64_C(1) << 63) - 1) == NULL);
    ASSERT_TRUE(jobdir_get(&d, UINT64_MAX - 1) == NULL);
    /* Four one-id pages stay small: no dense-page cost where the ids are sparse. */
    ASSERT_LE(jobdir_footprint(&d), (size_t)4 * 116 + 4 * sizeof(void *));
    uint64_t id = 0;
    for (size_t i = 0; i < 4; i++) {
        ASSERT_TRUE(jobdir_next(&d, &id) == val(ids[i]));
        ASSERT_TRUE(id == ids[i]);
    }
    ASSERT_TRUE(jobdir_next(&d, &id) == NULL);
    ASSERT_TRUE(id == UINT64_MAX);
    ASSERT_TRUE(jobdir_remove(&d, UINT64_C(1) << 63) == val(UINT64_C(1) << 63));
    id = 2;
    ASSERT_TRUE(jobdir_next(&d, &id) == val(UINT64_C(1) << 33));
    ASSERT_TRUE(jobdir_next(&d, &id) == val(UINT64_MAX));
    ASSERT_TRUE(id == UINT64_MAX);
    jobdir_dispose(&d);
}

TEST(page_array_shrinks_as_pages_go)
{
    jobdir d;
    jobdir_init(&d);
    for (uint64_t p = 0; p < 1000; p++)
        ASSERT_TRUE(jobdir_insert(&d, p * 1000003, val(p * 1000003)));
    ASSERT_EQ(d.npages, 1000);
    ASSERT_GE(d.cap, 1000);
    for (uint64_t p = 1; p < 1000; p++)
        ASSERT_TRUE(jobdir_remove(&d, p * 1000003) == val(p * 1000003));
    ASSERT_EQ(d.npages, 1);
    ASSERT_LE(d.cap, 4);
    ASSERT_LE(jobdir_footprint(&d), 116 + 4 * sizeof(void *));
    ASSERT_TRUE(jobdir_get(&d, 0) == val(0));
    jobdir_dispose(&d);
}

TEST(insert_below_existing_pages)
{
    jobdir d;
    jobdir_init(&d);
    for (uint64_t id = 100000; id <= 100010; id++)
        ASSERT_TRUE(jobdir_insert(&d, id, val(id)));
    ASSERT_TRUE(jobdir_insert(&d, 600, val(600)));
    ASSERT_TRUE(jobdir_insert(&d, 5, val(5)));
    ASSERT_TRUE(jobdir_insert(&d, 50000, val(50000)));
    ASSERT_TRUE(jobdir_insert(&d, 4, val(4)));
    ASSERT_EQ(d.npages, 4);
    uint64_t got[32];
    ASSERT_EQ(collect(&d, got, 32), 15);
    ASSERT_EQ(got[0], 4);
    ASSERT_EQ(got[1], 5);
    ASSERT_EQ(got[2], 600);
    ASSERT_EQ(got[3], 50000);
    for (size_t i = 0; i <= 10; i++)
        ASSERT_EQ(got[4 + i], 100000 + i);
    jobdir_dispose(&d);
}

TEST(values_with_low_bit_tagged_round_trip)
{
    jobdir d;
    jobdir_init(&d);
    ASSERT_TRUE(jobdir_insert(&d, 3, (void *)(uintptr_t)0x1001));
    ASSERT_TRUE(jobdir_insert(&d, 4, (void *)(uintptr_t)1));
    ASSERT_TRUE(jobdir_get(&d, 3) == (void *)(uintptr_t)0x1001);
    ASSERT_TRUE(jobdir_get(&d, 4) == (void *)(uintptr_t)1);
    jobdir_replace(&d, 3, (void *)(uintptr_t)0x1000);
    ASSERT_TRUE(jobdir_remove(&d, 3) == (void *)(uintptr_t)0x1000);
    jobdir_dispose(&d);
}

TEST(one_million_dense_ids_fit_in_8_3_mb)
{
    jobdir d;
    jobdir_init(&d);
    for (uint64_t id = 1; id <= 1000000; id++)
        ASSERT_TRUE(jobdir_insert(&d, id, val(id)));
    ASSERT_EQ(jobdir_len(&d), 1000000);
    ASSERT_EQ(d.npages, 1954); /* pages 0..1953 */
    size_t bytes = jobdir_footprint(&d);
    ASSERT_GE(bytes, 8000000);
    ASSERT_LE(bytes, 8300000);
    for (uint64_t id = 1; id <= 1000000; id += 997)
        ASSERT_TRUE(jobdir_get(&d, id) == val(id));
    for (uint64_t id = 1; id <= 1000000; id++)
        ASSERT_TRUE(jobdir_remove(&d, id) == val(id));
    ASSERT_EQ(jobdir_footprint(&d), 0);
    jobdir_dispose(&d);
}

TEST(fifo_steady_state_stays_bounded)
{
    /* Put at the head, delete at the tail, 10000 jobs in flight: the footprint tracks the
     * window, not the number of ids ever seen. */
    jobdir d;
    jobdir_init(&d);
    size_t peak = 0;
    for (uint64_t id = 1; id <= 500000; id++) {
        ASSERT_TRUE(jobdir_insert(&d, id, val(id)));
        if (id > 10000)
            ASSERT_TRUE(jobdir_remove(&d, id - 10000) == val(id - 10000));
        if (id % 1000 == 0) {
            size_t bytes = jobdir_footprint(&d);
            peak = bytes > peak ? bytes : peak;
        }
    }
    ASSERT_EQ(jobdir_len(&d), 10000);
    ASSERT_LE(peak, 10000 * 8 + 3 * (512 * 8 + 100) + 64 * sizeof(void *));
    jobdir_dispose(&d);
}

/* ---- randomized model test ---------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* The reference: ids sorted ascending with their values, searched by bisection. */
typedef struct {
    uint64_t *ids;
    void **vals;
    size_t n, cap;
} model;

static size_t model_lower(const model *m, uint64_t id)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void *model_get(const model *m, uint64_t id)
{
    size_t i = model_lower(m, id);
    return i < m->n && m->ids[i] == id ? m->vals[i] : NULL;
}

static void model_insert(model *m, uint64_t id, void *v)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1024;
        m->ids = realloc(m->ids, m->cap * sizeof *m->ids);
        m->vals = realloc(m->vals, m->cap * sizeof *m->vals);
        ASSERT_TRUE(m->ids && m->vals);
    }
    size_t i = model_lower(m, id);
    memmove(&m->ids[i + 1], &m->ids[i], (m->n - i) * sizeof *m->ids);
    memmove(&m->vals[i + 1], &m->vals[i], (m->n - i) * sizeof *m->vals);
    m->ids[i] = id;
    m->vals[i] = v;
    m->n++;
}

static void *model_remove(model *m, uint64_t id)
{
    size_t i = model_lower(m, id);
    if (i == m->n || m->ids[i] != id)
        return NULL;
    void *v = m->vals[i];
    m->n--;
    memmove(&m->ids[i], &m->ids[i + 1], (m->n - i) * sizeof *m->ids);
    memmove(&m->vals[i], &m->vals[i + 1], (m->n - i) * sizeof *m->vals);
    return v;
}

/* A fresh value for id: odd (a tagged pointer), and different on each call. */
static void *model_value(uint64_t id)
{
    return (void *)(uintptr_t)(((id * 0x9e3779b97f4a7c15u) ^ rng()) | 1);
}

/* An id to operate on: mostly the ids of a queue (the next put, the oldest ones, a random
 * live one), sometimes anywhere in the dense range or near the far ends of the id space. */
static uint64_t model_pick(const model *m, uint64_t next_put)
{
    static const uint64_t far[] = {UINT64_C(1) << 33, UINT64_C(1) << 63, UINT64_MAX - 3000};
    uint64_t r = rng() % 100;
    if (m->n && r < 40)
        return m->ids[rng() % m->n];
    if (m->n && r < 55)
        return m->ids[rng() % (m->n < 64 ? m->n : 64)];
    if (r < 75)
        return next_put - rng() % 3000;
    if (r < 92)
        return rng() % (next_put + 1000);
    return far[rng() % 3] + rng() % 3000;
}

static void model_check_all(jobdir *d, const model *m)
{
    ASSERT_EQ(jobdir_len(d), m->n);
    /* next() starts above 0, so an id 0 in the model is checked by get() instead. */
    size_t i = 0;
    if (m->n && m->ids[0] == 0) {
        ASSERT_TRUE(jobdir_get(d, 0) == m->vals[0]);
        i = 1;
    }
    uint64_t id = 0;
    void *v;
    while ((v = jobdir_next(d, &id)) != NULL) {
        ASSERT_LT(i, m->n);
        ASSERT_TRUE(id == m->ids[i]);
        ASSERT_TRUE(v == m->vals[i]);
        i++;
    }
    ASSERT_EQ(i, m->n);
    /* At most a page per id, and about 8 bytes an id when dense: a loose bound that still
     * fails if emptied pages or doubled arrays are never given back. */
    ASSERT_LE(jobdir_footprint(d), (size_t)128 * (m->n + 1) + (size_t)2 * 4200 * (d->npages + 1));
    ASSERT_LE(d->npages, m->n);
}

static void model_step(jobdir *d, model *m, uint64_t *next_put)
{
    uint64_t op = rng() % 100;
    if (op < 35) {
        uint64_t id = op < 25 ? (*next_put)++ : model_pick(m, *next_put);
        void *v = model_value(id);
        if (model_get(m, id) == NULL) {
            ASSERT_TRUE(jobdir_insert(d, id, v));
            model_insert(m, id, v);
        }
    } else if (op < 60) {
        uint64_t id = model_pick(m, *next_put);
        void *want = model_remove(m, id);
        ASSERT_TRUE(jobdir_remove(d, id) == want);
    } else if (op < 75) {
        uint64_t id = model_pick(m, *next_put);
        ASSERT_TRUE(jobdir_get(d, id) == model_get(m, id));
    } else if (op < 85) {
        if (m->n == 0)
            return;
        size_t i = rng() % m->n;
        void *v = model_value(m->ids[i]);
        jobdir_replace(d, m->ids[i], v);
        m->vals[i] = v;
    } else {
        uint64_t id = model_pick(m, *next_put) - rng() % 2;
        uint64_t start = id;
        size_t i = model_lower(m, id == UINT64_MAX ? id : id + 1);
        if (id == UINT64_MAX || i == m->n) {
            ASSERT_TRUE(jobdir_next(d, &id) == NULL);
            ASSERT_TRUE(id == start);
        } else {
            ASSERT_TRUE(jobdir_next(d, &id) == m->vals[i]);
            ASSERT_TRUE(id == m->ids[i]);
        }
    }
}

TEST(randomized_against_sorted_array)
{
    jobdir d;
    jobdir_init(&d);
    model m = {0};
    uint64_t next_put = 1;
    for (int step = 1; step <= 300000; step++) {
        model_step(&d, &m, &next_put);
        if (step % 5000 == 0)
            model_check_all(&d, &m);
        /* Drain now and then so pages empty, the array shrinks and the hint goes stale. */
        if (step % 60000 == 0) {
            while (m.n > 0) {
                uint64_t id = m.ids[rng() % m.n];
                ASSERT_TRUE(jobdir_remove(&d, id) == model_remove(&m, id));
            }
            model_check_all(&d, &m);
            ASSERT_EQ(jobdir_footprint(&d), 0);
        }
    }
    model_check_all(&d, &m);
    jobdir_dispose(&d);
    free(m.ids);
    free(m.vals);
}

TEST_MAIN()
