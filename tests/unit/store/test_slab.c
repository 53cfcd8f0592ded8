/*
 * Tests for the size-class allocator (src/store/slab.c): exact addresses and footprints for
 * the model in slab.h (bump order, LIFO reuse, class rounding, chunk boundaries, the one
 * spare chunk per class), the cost targets (resident memory of sparse classes, a million
 * 128-byte records), and a randomized run checked against a flat array of live records.
 */
#include "slab.h"

#include "test.h"

#include <fcntl.h>
#include <sys/resource.h>

#define CHUNK ((size_t)2 << 20)

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static size_t round8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static size_t chunk_offset(const void *p)
{
    return (uintptr_t)p & (CHUNK - 1);
}

static uintptr_t chunk_base(const void *p)
{
    return (uintptr_t)p & ~(uintptr_t)(CHUNK - 1);
}

/* Where the first slot of every chunk starts: the chunk header, rounded to 8. */
static size_t slots_offset(void)
{
    slab *a = slab_new();
    ASSERT_TRUE(a != NULL);
    size_t off = chunk_offset(slab_alloc(a, 8));
    slab_destroy(a);
    return off;
}

static size_t slots_per_chunk(size_t size)
{
    return (CHUNK - slots_offset()) / round8(size);
}

static void fill(unsigned char *p, size_t n, uint32_t tag)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((size_t)tag * 131u + i * 7u);
}

static int intact(const unsigned char *p, size_t n, uint32_t tag)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)((size_t)tag * 131u + i * 7u))
            return 0;
    return 1;
}

/* Resident pages of this process, from /proc/self/statm. */
static size_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    ASSERT_TRUE(f != NULL);
    unsigned long vm = 0, rss = 0;
    ASSERT_EQ(fscanf(f, "%lu %lu", &vm, &rss), 2);
    fclose(f);
    return rss * (size_t)sysconf(_SC_PAGESIZE);
}

TEST(new_slab_maps_nothing)
{
    slab *a = slab_new();
    ASSERT_TRUE(a != NULL);
    ASSERT_EQ(slab_footprint(a), 0);
    slab_free(a, NULL, 100);
    slab_free(a, NULL, 5000);
    ASSERT_EQ(slab_footprint(a), 0);
    slab_destroy(a);
}

TEST(first_record_follows_small_chunk_header)
{
    slab *a = slab_new();
    unsigned char *p = slab_alloc(a, 128);
    ASSERT_TRUE(p != NULL);
    size_t off = chunk_offset(p);
    ASSERT_GT(off, 0);
    ASSERT_LE(off, 64);
    ASSERT_EQ(off % 8, 0);
    ASSERT_EQ(slab_footprint(a), CHUNK);
    /* Every class's chunk has the same header. */
    ASSERT_EQ(chunk_offset(slab_alloc(a, 1)), off);
    ASSERT_EQ(chunk_offset(slab_alloc(a, 1024)), off);
    ASSERT_EQ(slab_footprint(a), 3 * CHUNK);
    slab_destroy(a);
}

TEST(bump_hands_out_consecutive_slots)
{
    slab *a = slab_new();
    unsigned char *p1 = slab_alloc(a, 100), *p2 = slab_alloc(a, 100), *p3 = slab_alloc(a, 97);
    ASSERT_EQ(p2 - p1, 104);
    ASSERT_EQ(p3 - p2, 104);
    ASSERT_EQ(slab_footprint(a), CHUNK);
    slab_destroy(a);
}

TEST(freed_slots_are_reused_last_in_first_out_before_bumping)
{
    slab *a = slab_new();
    unsigned char *p1 = slab_alloc(a, 40), *p2 = slab_alloc(a, 40), *p3 = slab_alloc(a, 40);
    slab_free(a, p2, 40);
    slab_free(a, p1, 40);
    ASSERT_EQ((uintptr_t)slab_alloc(a, 40), (uintptr_t)p1);
    ASSERT_EQ((uintptr_t)slab_alloc(a, 33), (uintptr_t)p2);
    ASSERT_EQ((uintptr_t)slab_alloc(a, 40), (uintptr_t)(p3 + 40));
    ASSERT_EQ(slab_footprint(a), CHUNK);
    slab_destroy(a);
}

TEST(every_size_up_to_max_rounds_to_a_multiple_of_8)
{
    slab *a = slab_new();
    for (size_t size = 1; size <= SLAB_MAX_SIZE; size++) {
        unsigned char *p = slab_alloc(a, size), *q = slab_alloc(a, size);
        ASSERT_TRUE(p != NULL && q != NULL);
        ASSERT_EQ((uintptr_t)p % 8, 0);
        /* Consecutive slots of a class sit exactly one rounded size apart. */
        ASSERT_EQ((size_t)(q - p), round8(size));
        fill(p, size, (uint32_t)size);
        fill(q, size, (uint32_t)size + 1);
    }
    /* One chunk per class: 1..8 is the first class, 1017..1024 the last. */
    ASSERT_EQ(slab_footprint(a), (SLAB_MAX_SIZE / 8) * CHUNK);
    slab_destroy(a);
}

TEST(sizes_of_one_class_share_a_chunk_and_neighbours_do_not)
{
    slab *a = slab_new();
    unsigned char *p1 = slab_alloc(a, 1), *p8 = slab_alloc(a, 8), *p9 = slab_alloc(a, 9);
    ASSERT_EQ(p8 - p1, 8);
    ASSERT_NE(chunk_base(p9), chunk_base(p1));
    ASSERT_EQ(slab_footprint(a), 2 * CHUNK);
    unsigned char *p1024 = slab_alloc(a, 1024), *p1017 = slab_alloc(a, 1017);
    ASSERT_EQ(p1017 - p1024, 1024);
    ASSERT_EQ(slab_footprint(a), 3 * CHUNK);
    slab_destroy(a);
}

TEST(sizes_above_max_go_to_malloc_with_small_overhead)
{
    slab *a = slab_new();
    unsigned char *p = slab_alloc(a, SLAB_MAX_SIZE + 1);
    ASSERT_TRUE(p != NULL);
    ASSERT_EQ((uintptr_t)p % 16, 0);
    size_t fp = slab_footprint(a);
    ASSERT_GE(fp, SLAB_MAX_SIZE + 1 + 16);
    ASSERT_LE(fp, SLAB_MAX_SIZE + 1 + 48);
    fill(p, SLAB_MAX_SIZE + 1, 9);

    size_t big = (size_t)1 << 20;
    unsigned char *q = slab_alloc(a, big);
    ASSERT_TRUE(q != NULL);
    fill(q, big, 10);
    ASSERT_GE(slab_footprint(a), fp + big);
    ASSERT_LE(slab_footprint(a), fp + big + 4096 + 48);
    ASSERT_TRUE(intact(p, SLAB_MAX_SIZE + 1, 9));
    slab_free(a, p, SLAB_MAX_SIZE + 1);
    ASSERT_TRUE(intact(q, big, 10));
    slab_free(a, q, big);
    ASSERT_EQ(slab_footprint(a), 0);
    slab_destroy(a);
}

TEST(absurd_size_is_enomem_not_overflow)
{
    slab *a = slab_new();
    ASSERT_TRUE(slab_alloc(a, SIZE_MAX) == NULL);
    ASSERT_TRUE(slab_alloc(a, SIZE_MAX - 8) == NULL);
    ASSERT_EQ(slab_footprint(a), 0);
    slab_destroy(a);
}

TEST(a_full_chunk_opens_a_second_at_the_exact_boundary)
{
    slab *a = slab_new();
    size_t n = slots_per_chunk(128);
    ASSERT_EQ(n, (CHUNK - slots_offset()) / 128);
    ASSERT_GE(n, 16383);
    unsigned char *first = NULL, *last = NULL;
    for (size_t i = 0; i < n; i++) {
        last = slab_alloc(a, 128);
        if (i == 0)
            first = last;
        ASSERT_EQ(chunk_base(last), chunk_base(first));
    }
    ASSERT_EQ(slab_footprint(a), CHUNK);
    ASSERT_LE((uintptr_t)last + 128, chunk_base(first) + CHUNK);
    unsigned char *next = slab_alloc(a, 128);
    ASSERT_EQ(slab_footprint(a), 2 * CHUNK);
    ASSERT_NE(chunk_base(next), chunk_base(first));
    ASSERT_EQ(chunk_offset(next), slots_offset());

    /* A slot freed in the full chunk puts it back in service. */
    unsigned char *mid = first + 128 * (n / 2);
    slab_free(a, mid, 128);
    ASSERT_EQ(slab_footprint(a), 2 * CHUNK);
    /* It goes to the front of the class's list, so the slot is the next one handed out. */
    ASSERT_EQ((uintptr_t)slab_alloc(a, 128), (uintptr_t)mid);
    ASSERT_EQ((uintptr_t)slab_alloc(a, 128), (uintptr_t)(next + 128));
    ASSERT_EQ(slab_footprint(a), 2 * CHUNK);
    slab_destroy(a);
}

TEST(a_fully_freed_class_returns_all_but_one_chunk)
{
    slab *a = slab_new();
    size_t per = slots_per_chunk(64), n = 3 * per + 1;
    unsigned char **recs = calloc(n, sizeof *recs);
    ASSERT_TRUE(recs != NULL);
    for (size_t i = 0; i < n; i++) {
        recs[i] = slab_alloc(a, 64);
        ASSERT_TRUE(recs[i] != NULL);
    }
    ASSERT_EQ(slab_footprint(a), 4 * CHUNK);
    unsigned char *other = slab_alloc(a, 200);
    ASSERT_EQ(slab_footprint(a), 5 * CHUNK);

    /* Free in an order that empties the chunks one after another from the middle. */
    for (size_t i = per; i < n; i++)
        slab_free(a, recs[i], 64);
    ASSERT_EQ(slab_footprint(a), 3 * CHUNK); /* one chunk in use, one kept empty */
    for (size_t i = 0; i < per; i++)
        slab_free(a, recs[i], 64);
    ASSERT_EQ(slab_footprint(a), 2 * CHUNK);

    /* The kept chunk starts over from its first slot. */
    unsigned char *p = slab_alloc(a, 64);
    ASSERT_EQ(chunk_offset(p), slots_offset());
    ASSERT_EQ((unsigned char *)slab_alloc(a, 64) - p, 64);
    ASSERT_EQ(slab_footprint(a), 2 * CHUNK);
    slab_free(a, other, 200);
    ASSERT_EQ(slab_footprint(a), 2 * CHUNK); /* class 200's only chunk is its spare */
    free(recs);
    slab_destroy(a);
}

TEST(alternating_one_record_at_a_chunk_boundary_does_not_remap)
{
    slab *a = slab_new();
    size_t per = slots_per_chunk(512);
    unsigned char **recs = malloc(per * sizeof *recs);
    for (size_t i = 0; i < per; i++)
        recs[i] = slab_alloc(a, 512);
    for (int round = 0; round < 1000; round++) {
        unsigned char *p = slab_alloc(a, 512);
        ASSERT_EQ(slab_footprint(a), 2 * CHUNK);
        ASSERT_EQ(chunk_offset(p), slots_offset());
        slab_free(a, p, 512);
        ASSERT_EQ(slab_footprint(a), 2 * CHUNK);
    }
    free(recs);
    slab_destroy(a);
}

TEST(records_of_mixed_sizes_do_not_overlap)
{
    slab *a = slab_new();
    enum { N = 20000 };
    static unsigned char *recs[N];
    static size_t sizes[N];
    for (uint32_t i = 0; i < N; i++) {
        sizes[i] = 1 + (i * 37u) % 1100;
        recs[i] = slab_alloc(a, sizes[i]);
        ASSERT_TRUE(recs[i] != NULL);
        ASSERT_EQ((uintptr_t)recs[i] % 8, 0);
        fill(recs[i], sizes[i], i);
    }
    for (uint32_t i = 0; i < N; i += 2) {
        ASSERT_TRUE(intact(recs[i], sizes[i], i));
        slab_free(a, recs[i], sizes[i]);
    }
    for (uint32_t i = 0; i < N; i += 2) {
        recs[i] = slab_alloc(a, sizes[i]);
        fill(recs[i], sizes[i], i + N);
    }
    for (uint32_t i = 0; i < N; i++) {
        ASSERT_TRUE(intact(recs[i], sizes[i], i % 2 ? i : i + N));
        slab_free(a, recs[i], sizes[i]);
    }
    /* Everything freed: only spare chunks remain, no malloc'd bytes. */
    ASSERT_EQ(slab_footprint(a) % CHUNK, 0);
    ASSERT_LE(slab_footprint(a), (SLAB_MAX_SIZE / 8) * CHUNK);
    slab_destroy(a);
}

TEST(a_class_holding_one_record_costs_pages_not_a_huge_page)
{
    slab *a = slab_new();
    size_t before = resident_bytes();
    for (size_t size = 8; size <= SLAB_MAX_SIZE; size += 8) {
        unsigned char *p = slab_alloc(a, size);
        fill(p, size, 1);
    }
    ASSERT_EQ(slab_footprint(a), (SLAB_MAX_SIZE / 8) * CHUNK);
    /* 128 chunks mapped (256 MiB); each touched in one or two pages. */
    size_t grown = resident_bytes() - before;
    ASSERT_LT(grown, 16 * ((size_t)1 << 20));
    slab_destroy(a);
}

TEST(a_million_128_byte_records_cost_at_most_2_percent_more)
{
    slab *a = slab_new();
    enum { N = 1000000 };
    unsigned char **recs = malloc(N * sizeof *recs);
    ASSERT_TRUE(recs != NULL);
    for (uint32_t i = 0; i < N; i++) {
        recs[i] = slab_alloc(a, 128);
        ASSERT_TRUE(recs[i] != NULL);
        memcpy(recs[i], &i, sizeof i);
        memcpy(recs[i] + 124, &i, sizeof i);
    }
    size_t fp = slab_footprint(a);
    ASSERT_LE(fp, (size_t)(1.02 * 128 * N));
    ASSERT_EQ(fp, ((N + slots_per_chunk(128) - 1) / slots_per_chunk(128)) * CHUNK);
    for (uint32_t i = 0; i < N; i++) {
        uint32_t head, tail;
        memcpy(&head, recs[i], sizeof head);
        memcpy(&tail, recs[i] + 124, sizeof tail);
        ASSERT_EQ(head, i);
        ASSERT_EQ(tail, i);
    }
    for (uint32_t i = 0; i < N; i++)
        slab_free(a, recs[i], 128);
    ASSERT_EQ(slab_footprint(a), CHUNK);
    free(recs);
    slab_destroy(a);
}

TEST(destroy_releases_live_records_of_every_kind)
{
    slab *a = slab_new();
    for (size_t size = 1; size <= 3000; size += 7)
        fill(slab_alloc(a, size), size, 3);
    size_t per = slots_per_chunk(1024);
    for (size_t i = 0; i < per + 5; i++)
        slab_alloc(a, 1024); /* one full chunk, one partial */
    ASSERT_GT(slab_footprint(a), 0);
    slab_destroy(a);
    slab_destroy(NULL);
}

#ifndef UNDER_ASAN
/* ASan reserves its shadow memory up front and aborts when its own allocator fails, so an
 * address-space limit only works in a plain build. */
TEST(enomem_is_reported_and_leaves_the_slab_usable)
{
    size_t per = slots_per_chunk(1024); /* before the limit: it maps a probe chunk */
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long vm_pages = 0;
    ASSERT_EQ(fscanf(f, "%lu", &vm_pages), 1);
    fclose(f);
    size_t vm = vm_pages * (size_t)sysconf(_SC_PAGESIZE);
    /* Room for a few chunks, counting the 4 MiB a chunk maps before trimming. */
    struct rlimit lim = {.rlim_cur = vm + 16 * ((size_t)1 << 20),
                         .rlim_max = vm + 16 * ((size_t)1 << 20)};
    ASSERT_EQ(setrlimit(RLIMIT_AS, &lim), 0);

    slab *a = slab_new();
    enum { MAX = 1 << 16 };
    static unsigned char *recs[MAX];
    size_t n = 0;
    while (n < MAX && (recs[n] = slab_alloc(a, 1024)) != NULL)
        n++;
    ASSERT_LT(n, MAX);
    ASSERT_GT(n, 0);
    ASSERT_EQ(n % per, 0); /* failed exactly when a chunk was needed */
    size_t fp = slab_footprint(a);
    ASSERT_EQ(fp, n / per * CHUNK);
    ASSERT_TRUE(slab_alloc(a, 1024) == NULL);
    ASSERT_EQ(slab_footprint(a), fp);

    slab_free(a, recs[n - 1], 1024);
    ASSERT_EQ((uintptr_t)slab_alloc(a, 1024), (uintptr_t)recs[n - 1]);
    ASSERT_TRUE(slab_alloc(a, (size_t)64 << 20) == NULL);
    ASSERT_EQ(slab_footprint(a), fp);
    for (size_t i = 0; i < n; i++)
        slab_free(a, recs[i], 1024);
    ASSERT_EQ(slab_footprint(a), CHUNK);
    slab_destroy(a);
}
#else
/* The allocator poisons freed slots, so ASan catches a use after slab_free. */
TEST(use_after_free_is_caught_by_asan)
{
    slab *a = slab_new();
    unsigned char *volatile p = slab_alloc(a, 48);
    slab_alloc(a, 48);
    p[0] = 1;
    slab_free(a, p, 48);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int saved = open("/dev/null", O_WRONLY);
        if (saved >= 0)
            dup2(saved, 2); /* the expected report is noise */
        p[47] = 2;
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
    /* Reallocated, the slot is usable again. */
    ASSERT_EQ((uintptr_t)slab_alloc(a, 48), (uintptr_t)p);
    p[47] = 3;
    slab_destroy(a);
}
#endif

/*
 * Randomized run against a reference: a flat array of the live records with their sizes
 * and fill tags. Phases alternately grow the live set and drain it to empty, so chunks
 * fill, get slots back, empty, become the spare and are unmapped. Every result is checked
 * (slot placement, footprint bounds, contents at free); every 8192 operations all live
 * records are checked for contents and, sorted by address, for overlap.
 */
typedef struct {
    unsigned char *p;
    size_t size;
    uint32_t tag;
} model_rec;

#define MODEL_CLASSES (SLAB_MAX_SIZE / 8)

typedef struct {
    slab *a;
    model_rec *live;
    size_t n_live, cap;
    size_t per_class[MODEL_CLASSES + 1]; /* live records per class; the last is malloc'd */
    size_t per_chunk[MODEL_CLASSES];
    int class_used[MODEL_CLASSES];
    size_t classes_used, big_bytes, slots_off;
} model;

static uint64_t xorshift64(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t class_of(size_t size)
{
    return size > SLAB_MAX_SIZE ? MODEL_CLASSES : (size - 1) / 8;
}

/* The footprint must cover the records that are live and exceed it by at most one chunk
 * per used class (the spare) plus one chunk per live record (the extreme fragmentation). */
static void model_check_footprint(const model *m)
{
    size_t lower = 0, upper = m->classes_used * CHUNK;
    for (size_t c = 0; c < MODEL_CLASSES; c++) {
        lower += (m->per_class[c] + m->per_chunk[c] - 1) / m->per_chunk[c] * CHUNK;
        upper += m->per_class[c] * CHUNK;
    }
    size_t n_big = m->per_class[MODEL_CLASSES];
    lower += m->big_bytes + 24 * n_big;
    upper += m->big_bytes + 48 * n_big;
    size_t fp = slab_footprint(m->a);
    ASSERT_GE(fp, lower);
    ASSERT_LE(fp, upper);
}

static int by_address(const void *x, const void *y)
{
    uintptr_t a = (uintptr_t)((const model_rec *)x)->p, b = (uintptr_t)((const model_rec *)y)->p;
    return a < b ? -1 : a > b;
}

static void model_check_all(model *m)
{
    model_rec *sorted = malloc((m->n_live + 1) * sizeof *sorted);
    ASSERT_TRUE(sorted != NULL);
    for (size_t i = 0; i < m->n_live; i++) {
        ASSERT_TRUE(intact(m->live[i].p, m->live[i].size, m->live[i].tag));
        sorted[i] = m->live[i];
    }
    qsort(sorted, m->n_live, sizeof *sorted, by_address);
    for (size_t i = 1; i < m->n_live; i++) {
        size_t prev = sorted[i - 1].size;
        size_t span = prev > SLAB_MAX_SIZE ? prev : round8(prev);
        ASSERT_LE((uintptr_t)sorted[i - 1].p + span, (uintptr_t)sorted[i].p);
    }
    free(sorted);
}

static size_t model_size(uint64_t *rng)
{
    static const size_t hot[] = {1024, 1024, 1024, 1000, 128, 128, 100, 8, 1, 1025, 4000};
    uint64_t r = xorshift64(rng);
    if (r % 10 < 6)
        return hot[(r >> 8) % (sizeof hot / sizeof hot[0])];
    return 1 + (r >> 8) % 1100;
}

static void model_alloc(model *m, uint64_t *rng, uint32_t tag)
{
    size_t size = model_size(rng), c = class_of(size);
    unsigned char *p = slab_alloc(m->a, size);
    ASSERT_TRUE(p != NULL);
    if (c < MODEL_CLASSES) {
        size_t off = chunk_offset(p);
        ASSERT_GE(off, m->slots_off);
        ASSERT_EQ((off - m->slots_off) % round8(size), 0);
        ASSERT_LE(off + round8(size), CHUNK);
        if (!m->class_used[c]) {
            m->class_used[c] = 1;
            m->classes_used++;
        }
    } else {
        ASSERT_EQ((uintptr_t)p % 16, 0);
        m->big_bytes += size;
    }
    fill(p, size, tag);
    if (m->n_live == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 1024;
        m->live = realloc(m->live, m->cap * sizeof *m->live);
        ASSERT_TRUE(m->live != NULL);
    }
    m->live[m->n_live++] = (model_rec){p, size, tag};
    m->per_class[c]++;
}

static void model_free(model *m, size_t i)
{
    model_rec r = m->live[i];
    ASSERT_TRUE(intact(r.p, r.size, r.tag));
    slab_free(m->a, r.p, r.size);
    m->live[i] = m->live[--m->n_live];
    m->per_class[class_of(r.size)]--;
    if (r.size > SLAB_MAX_SIZE)
        m->big_bytes -= r.size;
}

TEST(random_operations_match_a_flat_array_of_live_records)
{
    model m = {.a = slab_new(), .slots_off = slots_offset()};
    ASSERT_TRUE(m.a != NULL);
    for (size_t c = 0; c < MODEL_CLASSES; c++)
        m.per_chunk[c] = (CHUNK - m.slots_off) / ((c + 1) * 8);
    uint64_t rng = 0x9e3779b97f4a7c15u;
    const uint32_t ops = 420000, phase = 30000;
    size_t peak = 0;
    for (uint32_t op = 0; op < ops; op++) {
        /* Even phases grow (70% allocations), odd ones drain (25%) down to empty. */
        unsigned alloc_pct = (op / phase) % 2 ? 25 : 70;
        uint64_t r = xorshift64(&rng);
        if (m.n_live == 0 || r % 100 < alloc_pct) {
            model_alloc(&m, &rng, op);
        } else {
            /* Mostly random victims (fragmentation), some last-in (churn at a boundary). */
            size_t victim = (r >> 8) % 10 < 3 ? m.n_live - 1 : (size_t)((r >> 16) % m.n_live);
            model_free(&m, victim);
        }
        model_check_footprint(&m);
        if (m.n_live > peak)
            peak = m.n_live;
        if (op % 8192 == 0)
            model_check_all(&m);
    }
    model_check_all(&m);
    ASSERT_GT(peak, 10000); /* the run did cross chunk boundaries in the hot classes */
    while (m.n_live)
        model_free(&m, m.n_live - 1);
    /* Drained: each class ever used keeps exactly its one spare chunk. */
    ASSERT_EQ(slab_footprint(m.a), m.classes_used * CHUNK);
    free(m.live);
    slab_destroy(m.a);
}

TEST(fail_after_fails_the_nth_allocation_and_every_later_one_until_reset)
{
    slab *a = slab_new();
    ASSERT_TRUE(a != NULL);
    slab_fail_after(a, 3);
    void *p1 = slab_alloc(a, 64), *p2 = slab_alloc(a, 2000); /* small and big count alike */
    ASSERT_TRUE(p1 != NULL && p2 != NULL);
    ASSERT_TRUE(slab_alloc(a, 64) == NULL);
    ASSERT_TRUE(slab_alloc(a, 8) == NULL);
    slab_fail_after(a, 0);
    void *p3 = slab_alloc(a, 64);
    ASSERT_TRUE(p3 != NULL);
    slab_free(a, p1, 64);
    slab_free(a, p2, 2000);
    slab_free(a, p3, 64);
    slab_destroy(a);
}

TEST_MAIN()
