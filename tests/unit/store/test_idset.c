/*
 * Tests for src/store/idset.c: exact values for each operation and edge case, the container
 * conversions seen through the footprint, and two randomized runs against naive references
 * (a flat bitmap over a fixed universe, and a sorted array for the FIFO traffic).
 *
 * The footprint figures are white-box: a container is a 16-byte header plus 2 bytes a slot
 * (arrays, 4 slots to start, doubling, halving at a quarter full) or 8 KiB (bitmaps), and the
 * container array is 8 bytes a slot, 1 slot to start, doubling.
 */
#include "idset.h"

#include "test.h"

#define HDR 16
#define BITMAP 8192
#define ARRAY(cap) ((size_t)HDR + 2 * (size_t)(cap))
#define ITEMS(cap) (8 * (size_t)(cap))

TEST(empty_set_allocates_nothing_and_answers_zero)
{
    idset s;
    idset_init(&s);
    ASSERT_EQ(idset_len(&s), 0);
    ASSERT_EQ(idset_footprint(&s), 0);
    ASSERT_EQ(idset_min(&s), 0);
    ASSERT_EQ(idset_pop_min(&s), 0);
    ASSERT_TRUE(!idset_contains(&s, 1));
    ASSERT_TRUE(!idset_remove(&s, 1));
    ASSERT_EQ(idset_footprint(&s), 0);
    idset_dispose(&s);
    ASSERT_EQ(idset_footprint(&s), 0);
}

TEST(add_contains_remove_in_one_container)
{
    idset s;
    idset_init(&s);
    ASSERT_TRUE(idset_add(&s, 5));
    ASSERT_TRUE(idset_add(&s, 3));
    ASSERT_TRUE(idset_add(&s, 9));
    ASSERT_EQ(idset_len(&s), 3);
    ASSERT_EQ(idset_min(&s), 3);
    ASSERT_EQ(idset_footprint(&s), ITEMS(1) + ARRAY(4));
    ASSERT_TRUE(idset_contains(&s, 3) && idset_contains(&s, 5) && idset_contains(&s, 9));
    ASSERT_TRUE(!idset_contains(&s, 4) && !idset_contains(&s, 10) && !idset_contains(&s, 0));
    ASSERT_TRUE(idset_remove(&s, 5));
    ASSERT_TRUE(!idset_remove(&s, 5));
    ASSERT_TRUE(!idset_remove(&s, 4));
    ASSERT_TRUE(!idset_contains(&s, 5));
    ASSERT_EQ(idset_len(&s), 2);
    ASSERT_EQ(idset_pop_min(&s), 3);
    ASSERT_EQ(idset_pop_min(&s), 9);
    ASSERT_EQ(idset_pop_min(&s), 0);
    ASSERT_EQ(idset_len(&s), 0);
    idset_dispose(&s);
}

TEST(pop_min_returns_ids_in_order_whatever_the_insertion_order)
{
    static const uint64_t in[] = {40, 7, 65, 12, 99, 1, 33, 64, 8, 2};
    static const uint64_t out[] = {1, 2, 7, 8, 12, 33, 40, 64, 65, 99};
    idset s;
    idset_init(&s);
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        ASSERT_TRUE(idset_add(&s, in[i]));
    ASSERT_EQ(idset_footprint(&s), ITEMS(1) + ARRAY(16));
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) {
        ASSERT_EQ(idset_min(&s), out[i]);
        ASSERT_EQ(idset_pop_min(&s), out[i]);
    }
    ASSERT_EQ(idset_pop_min(&s), 0);
    idset_dispose(&s);
}

TEST(keys_far_apart)
{
    static const uint64_t ids[] = {UINT64_MAX, UINT64_C(1) << 63, UINT64_C(1) << 40, 65536, 65535,
                                   1};
    idset s;
    idset_init(&s);
    for (size_t i = 0; i < 6; i++)
        ASSERT_TRUE(idset_add(&s, ids[i]));
    ASSERT_EQ(idset_len(&s), 6);
    /* 1 and 65535 share key 0; the five keys take 8 slots of container array. */
    ASSERT_EQ(idset_footprint(&s), ITEMS(8) + 5 * ARRAY(4));
    ASSERT_TRUE(idset_contains(&s, UINT64_C(1) << 40));
    ASSERT_TRUE(!idset_contains(&s, (UINT64_C(1) << 40) + 1));
    ASSERT_TRUE(!idset_contains(&s, (UINT64_C(1) << 40) - 1));
    ASSERT_TRUE(!idset_contains(&s, (UINT64_C(1) << 63) + 65536));
    ASSERT_TRUE(!idset_contains(&s, UINT64_MAX - 1));
    ASSERT_TRUE(!idset_contains(&s, 2));
    ASSERT_TRUE(idset_remove(&s, UINT64_C(1) << 40));
    ASSERT_TRUE(!idset_contains(&s, UINT64_C(1) << 40));
    ASSERT_TRUE(idset_add(&s, UINT64_C(1) << 40));
    for (size_t i = 6; i-- > 0;) {
        ASSERT_TRUE(idset_min(&s) == ids[i]);
        ASSERT_TRUE(idset_pop_min(&s) == ids[i]);
    }
    ASSERT_EQ(idset_len(&s), 0);
    idset_dispose(&s);
}

TEST(min_and_pop_min_cross_container_boundaries)
{
    idset s;
    idset_init(&s);
    /* Key 0 a bitmap (ids 60000..65535, 5536 of them), key 1 an array, key 2 one id. */
    for (uint64_t id = 60000; id <= 65535; id++)
        ASSERT_TRUE(idset_add(&s, id));
    ASSERT_TRUE(idset_add(&s, 65536));
    ASSERT_TRUE(idset_add(&s, 131071));
    ASSERT_TRUE(idset_add(&s, 131072));
    ASSERT_EQ(idset_footprint(&s), ITEMS(4) + HDR + BITMAP + ARRAY(4) + ARRAY(4));
    for (uint64_t id = 60000; id <= 65535; id++) {
        ASSERT_EQ(idset_min(&s), id);
        ASSERT_EQ(idset_pop_min(&s), id);
    }
    ASSERT_EQ(idset_pop_min(&s), 65536);
    ASSERT_EQ(idset_min(&s), 131071);
    ASSERT_TRUE(idset_remove(&s, 131071));
    ASSERT_EQ(idset_min(&s), 131072);
    ASSERT_EQ(idset_pop_min(&s), 131072);
    ASSERT_EQ(idset_pop_min(&s), 0);
    idset_dispose(&s);
}

TEST(removal_in_the_middle)
{
    idset s;
    idset_init(&s);
    for (uint64_t id = 1; id <= 100; id++)
        ASSERT_TRUE(idset_add(&s, id));
    ASSERT_TRUE(idset_remove(&s, 50));
    ASSERT_TRUE(idset_remove(&s, 2));
    ASSERT_TRUE(idset_remove(&s, 99));
    ASSERT_TRUE(!idset_remove(&s, 50));
    ASSERT_EQ(idset_len(&s), 97);
    /* Ids of three keys; emptying the middle key drops its container. */
    ASSERT_TRUE(idset_add(&s, 70000));
    ASSERT_TRUE(idset_add(&s, 70001));
    ASSERT_TRUE(idset_add(&s, 140000));
    size_t before = idset_footprint(&s);
    ASSERT_TRUE(idset_remove(&s, 70001));
    ASSERT_TRUE(idset_remove(&s, 70000));
    ASSERT_EQ(idset_footprint(&s), before - ARRAY(4));
    ASSERT_TRUE(!idset_contains(&s, 70000));
    uint64_t expect = 1;
    for (size_t i = 0; i < 97; i++) {
        if (expect == 2 || expect == 50 || expect == 99)
            expect++;
        ASSERT_EQ(idset_pop_min(&s), expect);
        expect++;
    }
    ASSERT_EQ(idset_pop_min(&s), 140000);
    ASSERT_EQ(idset_len(&s), 0);
    idset_dispose(&s);
}

TEST(re_adding_after_removal)
{
    idset s;
    idset_init(&s);
    ASSERT_TRUE(idset_add(&s, 10));
    ASSERT_TRUE(idset_add(&s, 20));
    ASSERT_TRUE(idset_remove(&s, 10));
    ASSERT_TRUE(idset_add(&s, 10));
    ASSERT_EQ(idset_min(&s), 10);
    ASSERT_EQ(idset_len(&s), 2);
    /* A bucket that goes empty and refills reuses its container: no growth, no leak. */
    size_t one = ITEMS(1) + ARRAY(4);
    ASSERT_EQ(idset_pop_min(&s), 10);
    ASSERT_EQ(idset_pop_min(&s), 20);
    ASSERT_EQ(idset_footprint(&s), one);
    for (uint64_t id = 1; id <= 100000; id++) {
        ASSERT_TRUE(idset_add(&s, id * 977));
        ASSERT_EQ(idset_footprint(&s), one);
        ASSERT_EQ(idset_min(&s), id * 977);
        ASSERT_EQ(idset_pop_min(&s), id * 977);
    }
    ASSERT_EQ(idset_len(&s), 0);
    idset_dispose(&s);
    ASSERT_EQ(idset_footprint(&s), 0);
    ASSERT_TRUE(idset_add(&s, 3));
    ASSERT_EQ(idset_pop_min(&s), 3);
    idset_dispose(&s);
}

static void fill_key0(idset *s, uint32_t count)
{
    /* Low parts 15 apart: none of the conversions depends on density. */
    for (uint32_t i = 0; i < count; i++)
        ASSERT_TRUE(idset_add(s, 15 * (uint64_t)i + 1));
}

TEST(array_stays_an_array_up_to_array_max)
{
    idset s;
    idset_init(&s);
    fill_key0(&s, IDSET_ARRAY_MAX);
    ASSERT_EQ(idset_footprint(&s), ITEMS(1) + ARRAY(IDSET_ARRAY_MAX));
    /* An array never turns into a smaller array at ARRAY_MAX / 2, it halves at a quarter. */
    for (uint32_t i = 0; i < IDSET_ARRAY_MAX / 2; i++)
        ASSERT_EQ(idset_pop_min(&s), 15 * (uint64_t)i + 1);
    ASSERT_EQ(idset_footprint(&s), ITEMS(1) + ARRAY(IDSET_ARRAY_MAX));
    for (uint32_t i = IDSET_ARRAY_MAX / 2; i < IDSET_ARRAY_MAX * 3 / 4; i++)
        ASSERT_EQ(idset_pop_min(&s), 15 * (uint64_t)i + 1);
    ASSERT_EQ(idset_len(&s), IDSET_ARRAY_MAX / 4);
    ASSERT_EQ(idset_footprint(&s), ITEMS(1) + ARRAY(IDSET_ARRAY_MAX / 2));
    ASSERT_EQ(idset_min(&s), 15 * (uint64_t)(IDSET_ARRAY_MAX * 3 / 4) + 1);
    idset_dispose(&s);
}

TEST(array_becomes_bitmap_at_array_max_plus_one_and_back_at_half)
{
    idset s;
    idset_init(&s);
    fill_key0(&s, IDSET_ARRAY_MAX + 1);
    ASSERT_EQ(idset_len(&s), IDSET_ARRAY_MAX + 1);
    ASSERT_EQ(idset_footprint(&s), ITEMS(1) + HDR + BITMAP);
    for (uint32_t i = 0; i <= IDSET_ARRAY_MAX; i++)
        ASSERT_TRUE(idset_contains(&s, 15 * (uint64_t)i + 1));
    ASSERT_TRUE(!idset_contains(&s, 15 * (uint64_t)IDSET_ARRAY_MAX + 2));
    /* Down to ARRAY_MAX / 2 + 1 it stays a bitmap (an array there would be no smaller)... */
    uint32_t next = 0;
    while (idset_len(&s) > IDSET_ARRAY_MAX / 2 + 1) {
        ASSERT_EQ(idset_pop_min(&s), 15 * (uint64_t)next + 1);
        next++;
    }
    ASSERT_EQ(idset_footprint(&s), ITEMS(1) + HDR + BITMAP);
    /* ...and one removal more, from the middle, makes it an array of ARRAY_MAX / 2 slots. */
    uint64_t mid = 15 * (uint64_t)(next + 1000) + 1;
    ASSERT_TRUE(idset_remove(&s, mid));
    ASSERT_EQ(idset_len(&s), IDSET_ARRAY_MAX / 2);
    ASSERT_EQ(idset_footprint(&s), ITEMS(1) + ARRAY(IDSET_ARRAY_MAX / 2));
    ASSERT_TRUE(!idset_contains(&s, mid));
    ASSERT_EQ(idset_min(&s), 15 * (uint64_t)next + 1);
    /* Hysteresis: growing again makes it a larger array, not a bitmap. */
    ASSERT_TRUE(idset_add(&s, mid));
    ASSERT_EQ(idset_footprint(&s), ITEMS(1) + ARRAY(IDSET_ARRAY_MAX));
    for (uint32_t i = next; i <= IDSET_ARRAY_MAX; i++)
        ASSERT_EQ(idset_pop_min(&s), 15 * (uint64_t)i + 1);
    ASSERT_EQ(idset_len(&s), 0);
    idset_dispose(&s);
}

TEST(footprint_of_a_million_dense_ids)
{
    idset s;
    idset_init(&s);
    for (uint64_t id = 1; id <= 1000000; id++)
        ASSERT_TRUE(idset_add(&s, id));
    /* Keys 0..15, all bitmaps. */
    ASSERT_EQ(idset_footprint(&s), ITEMS(16) + (size_t)16 * (HDR + BITMAP));
    ASSERT_LE(idset_footprint(&s), 200 * 1000);
    ASSERT_EQ(idset_len(&s), 1000000);
    ASSERT_TRUE(idset_contains(&s, 1000000) && !idset_contains(&s, 1000001));
    idset_dispose(&s);
}

TEST(footprint_of_a_million_ids_stride_7)
{
    idset s;
    idset_init(&s);
    for (uint64_t i = 1; i <= 1000000; i++)
        ASSERT_TRUE(idset_add(&s, 7 * i));
    /* Keys 0..106, each about 9362 ids: bitmaps. */
    ASSERT_EQ(idset_footprint(&s), ITEMS(128) + (size_t)107 * (HDR + BITMAP));
    ASSERT_LE(idset_footprint(&s), 2100 * 1000);
    ASSERT_TRUE(idset_contains(&s, 7000000) && !idset_contains(&s, 6999999));
    for (uint64_t i = 1; i <= 1000000; i++)
        ASSERT_EQ(idset_pop_min(&s), 7 * i);
    ASSERT_EQ(idset_footprint(&s), ITEMS(128) + ARRAY(4)); /* the spare */
    idset_dispose(&s);
}

/* Draining four full bitmaps in order walks each word once. */
TEST(pop_min_drains_full_bitmaps_in_order)
{
    idset s;
    idset_init(&s);
    for (uint64_t id = 65536; id < (uint64_t)5 * 65536; id++)
        ASSERT_TRUE(idset_add(&s, id));
    ASSERT_EQ(idset_footprint(&s), ITEMS(4) + (size_t)4 * (HDR + BITMAP));
    for (uint64_t id = 65536; id < (uint64_t)5 * 65536; id++)
        ASSERT_EQ(idset_pop_min(&s), id);
    ASSERT_EQ(idset_len(&s), 0);
    ASSERT_EQ(idset_pop_min(&s), 0);
    idset_dispose(&s);
}

TEST(add_of_a_present_id_aborts)
{
    for (int bitmap = 0; bitmap < 2; bitmap++) {
        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
            fclose(stderr); /* the abort message is expected */
            idset s;
            idset_init(&s);
            fill_key0(&s, bitmap ? IDSET_ARRAY_MAX + 1 : 10);
            idset_add(&s, 16); /* 15 * 1 + 1 */
            _exit(0);
        }
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFSIGNALED(status));
        ASSERT_EQ(WTERMSIG(status), SIGABRT);
    }
}

/* ---- randomized runs against naive references ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* The universe: eight keys, sorted, some neighbours and some far apart. A reference slot
 * r * 65536 + low stands for id (region_key[r] << 16) | low, which keeps the order. */
enum { REGIONS = 8, UNIVERSE = REGIONS * 65536 };
static const uint64_t region_key[REGIONS] = {0,
                                             1,
                                             2,
                                             7,
                                             UINT64_C(1) << 24,
                                             (UINT64_C(1) << 47) + 3,
                                             (UINT64_C(1) << 48) - 2,
                                             (UINT64_C(1) << 48) - 1};
static uint8_t ref[UNIVERSE];
static size_t ref_len, ref_min = UNIVERSE; /* the lowest present slot, UNIVERSE if none */

static uint64_t slot_id(size_t slot)
{
    return (region_key[slot >> 16] << 16) | (slot & 0xffff);
}

static void ref_settle_min(void)
{
    while (ref_min < UNIVERSE && !ref[ref_min])
        ref_min++;
}

/* A slot to operate on. The lows of each region are drawn from a window whose width
 * changes with the phase, so containers swing across both conversion thresholds. */
static size_t pick_slot(uint32_t width)
{
    size_t r = rng() % REGIONS;
    uint32_t low = (uint32_t)(rng() % width);
    if (r % 3 == 2)
        low = 65535 - low; /* some regions fill from the top */
    return (r << 16) | low;
}

static void check_all(const idset *s)
{
    ASSERT_EQ(idset_len(s), ref_len);
    ASSERT_TRUE(idset_min(s) == (ref_min < UNIVERSE ? slot_id(ref_min) : 0));
    for (size_t slot = 0; slot < UNIVERSE; slot++) {
        if (idset_contains(s, slot_id(slot)) != (ref[slot] != 0))
            TEST_FAIL_("slot %zu (id %" PRIu64 "): set and reference differ", slot, slot_id(slot));
    }
    /* idset_next from members and from a sample of other ids agrees with the reference. */
    uint64_t next = 0;
    for (size_t slot = UNIVERSE; slot-- > 0;) {
        if ((ref[slot] || slot % 61 == 0) && idset_next(s, slot_id(slot)) != next)
            TEST_FAIL_("next(%" PRIu64 ") != %" PRIu64, slot_id(slot), next);
        if (ref[slot])
            next = slot_id(slot);
    }
    /* Neighbours outside the universe are never members. */
    ASSERT_TRUE(!idset_contains(s, (UINT64_C(3) << 16) | 5));
    ASSERT_TRUE(!idset_contains(s, (UINT64_C(1) << 47) + 2));
}

TEST(random_operations_match_a_flat_reference)
{
    idset s;
    idset_init(&s);
    const uint32_t widths[] = {16, 6000, 9000, 65536, 3000, 40000, 500};
    for (uint32_t op = 0; op < 600000; op++) {
        uint32_t phase = op / 25000;
        uint32_t width = widths[phase % 7];
        bool grow = phase % 2 == 0;
        uint64_t dice = rng() % 100;
        size_t slot = pick_slot(width);
        uint64_t id = slot_id(slot);
        if (dice < (grow ? 55u : 30u)) {
            if (ref[slot]) {
                ASSERT_TRUE(idset_contains(&s, id));
                continue;
            }
            ASSERT_TRUE(idset_add(&s, id));
            ref[slot] = 1;
            ref_len++;
            if (slot < ref_min)
                ref_min = slot;
        } else if (dice < 85) {
            bool had = ref[slot];
            if (idset_remove(&s, id) != had)
                TEST_FAIL_("op %u: remove(%" PRIu64 ") != %d", op, id, had);
            ref[slot] = 0;
            ref_len -= had;
            ref_settle_min();
        } else if (dice < 92) {
            uint64_t expect = ref_min < UNIVERSE ? slot_id(ref_min) : 0;
            uint64_t got = idset_pop_min(&s);
            if (got != expect)
                TEST_FAIL_("op %u: pop_min %" PRIu64 " != %" PRIu64, op, got, expect);
            if (ref_min < UNIVERSE) {
                ref[ref_min] = 0;
                ref_len--;
                ref_settle_min();
            }
        } else {
            ASSERT_TRUE(idset_contains(&s, id) == (ref[slot] != 0));
            ASSERT_TRUE(idset_min(&s) == (ref_min < UNIVERSE ? slot_id(ref_min) : 0));
        }
        ASSERT_EQ(idset_len(&s), ref_len);
        /* At most every key's bitmap and a container array of 8 slots. */
        ASSERT_LE(idset_footprint(&s), ITEMS(8) + (size_t)REGIONS * (HDR + BITMAP));
        if (op % 20000 == 0)
            check_all(&s);
    }
    check_all(&s);
    for (size_t slot = 0; slot < UNIVERSE; slot++) {
        if (ref[slot])
            ASSERT_TRUE(idset_pop_min(&s) == slot_id(slot));
    }
    ASSERT_EQ(idset_pop_min(&s), 0);
    idset_dispose(&s);
}

/* Queue traffic: ids put in increasing order with gaps (other tubes' and buckets' ids),
 * taken lowest first, with some deleted by id and some released back with their old id. The
 * reference is a sorted array. */
TEST(fifo_traffic_matches_a_sorted_reference)
{
    enum { CAP = 20000 };
    static uint64_t live[CAP], gone[64];
    size_t n = 0, ngone = 0;
    uint64_t next_id = 1;
    idset s;
    idset_init(&s);
    for (uint32_t op = 0; op < 400000; op++) {
        uint32_t phase = op / 40000;
        uint64_t gap = phase % 3 == 0 ? 1 : phase % 3 == 1 ? 9 : 40;
        size_t target = phase % 2 ? 6000 : 300;
        uint64_t dice = rng() % 100;
        if ((dice < 50 && n < target) || n == 0) {
            next_id += 1 + rng() % gap;
            ASSERT_TRUE(idset_add(&s, next_id));
            live[n++] = next_id;
        } else if (dice < 85) {
            ASSERT_TRUE(idset_pop_min(&s) == live[0]);
            if (ngone < 64)
                gone[ngone++] = live[0];
            memmove(live, live + 1, --n * sizeof(*live));
        } else if (dice < 95) {
            size_t i = rng() % n;
            ASSERT_TRUE(idset_remove(&s, live[i]));
            ASSERT_TRUE(!idset_remove(&s, live[i]));
            memmove(live + i, live + i + 1, (--n - i) * sizeof(*live));
        } else if (ngone > 0) {
            uint64_t id = gone[--ngone];
            ASSERT_TRUE(!idset_contains(&s, id));
            ASSERT_TRUE(idset_add(&s, id));
            size_t i = n;
            while (i > 0 && live[i - 1] > id)
                i--;
            memmove(live + i + 1, live + i, (n - i) * sizeof(*live));
            live[i] = id;
            n++;
        }
        ASSERT_EQ(idset_len(&s), n);
        ASSERT_TRUE(idset_min(&s) == (n ? live[0] : 0));
        if (op % 10000 == 0) {
            for (size_t i = 0; i < n; i++) {
                ASSERT_TRUE(idset_contains(&s, live[i]));
                ASSERT_TRUE(live[i] + 1 == (i + 1 < n ? live[i + 1] : 0) ||
                            !idset_contains(&s, live[i] + 1));
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        ASSERT_TRUE(idset_pop_min(&s) == live[i]);
    ASSERT_EQ(idset_len(&s), 0);
    idset_dispose(&s);
}

TEST_MAIN()
