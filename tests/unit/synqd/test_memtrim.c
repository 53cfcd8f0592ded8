/*
 * Unit tests for src/synqd/memtrim.c: a trim is due after a large drop from the peak, not at a
 * high level, and each trim starts the next peak from where the counts are.
 */
#include "test.h"

#include "memtrim.h"

TEST(no_trim_while_counts_only_grow_or_stay_high)
{
    memtrim m = {0};
    for (uint64_t n = 0; n <= 100000; n += 1000)
        ASSERT_TRUE(!memtrim_note(&m, n, n / 10));
    ASSERT_TRUE(!memtrim_note(&m, 100000 - MEMTRIM_TUBES_DROP + 1, 10000));
}

TEST(tube_drop_makes_a_trim_due_once)
{
    memtrim m = {0};
    ASSERT_TRUE(!memtrim_note(&m, 100001, 5));
    ASSERT_TRUE(memtrim_note(&m, 1, 1));
    memtrim_run(&m);
    ASSERT_EQ(m.trims, 1);
    ASSERT_TRUE(!memtrim_note(&m, 1, 1)); /* the peak starts again from 1 */
    ASSERT_TRUE(!memtrim_note(&m, 1000, 1));
}

TEST(connection_drop_makes_a_trim_due)
{
    memtrim m = {0};
    ASSERT_TRUE(!memtrim_note(&m, 1, 5000));
    ASSERT_TRUE(!memtrim_note(&m, 1, 5000 - MEMTRIM_CONNECTIONS_DROP + 1));
    ASSERT_TRUE(memtrim_note(&m, 1, 5000 - MEMTRIM_CONNECTIONS_DROP));
}

TEST_MAIN()
