/*
 * Unit tests for the spare blocks of src/net/buf.c (buf_int.h): a drained buffer gives its
 * block back and holds none, a partial frame keeps only its bytes, a buffer short of room
 * takes a spare with its live bytes moved to the front, and the policy bounds what is kept.
 */
#include <string.h>

#include "buf_int.h"
#include "synq/buf.h"
#include "test.h"

static const sq__spare_policy policy = {4096, 65536, 2};

/* A buffer holding `live` bytes "0123..." in a block of `cap` bytes, with `dead` consumed
 * bytes in front of them (a block under a page needs a limit of its size). */
static void make(sq_buf *b, size_t cap, size_t dead, size_t live)
{
    sq_buf_init(b, cap < 4096 ? cap : SQ_BUF_NO_LIMIT);
    char *dst;
    size_t avail;
    ASSERT_EQ(sq_buf_reserve(b, cap, &dst, &avail), 0);
    ASSERT_EQ(b->cap, cap);
    for (size_t i = 0; i < dead + live; i++)
        dst[i] = (char)('0' + (i - dead) % 10);
    sq_buf_commit(b, dead + live);
    sq_buf_consume(b, dead);
}

TEST(drained_buffer_gives_its_block_to_the_spare)
{
    sq__spare s = {0};
    sq_buf b;
    make(&b, 65536, 100, 0);
    char *block = b.data;
    sq__buf_settle(&b, &s, &policy);
    ASSERT_EQ(b.cap, 0);
    ASSERT_EQ(sq_buf_len(&b), 0);
    ASSERT_EQ(s.n, 1);
    ASSERT_TRUE(s.block[0] == block);
    ASSERT_EQ(s.cap[0], 65536);
    sq__spare_free(&s);
    ASSERT_EQ(s.n, 0);
}

TEST(partial_frame_moves_into_a_block_of_its_size)
{
    sq__spare s = {0};
    sq_buf b;
    make(&b, 65536, 1000, 7);
    sq__buf_settle(&b, &s, &policy);
    ASSERT_EQ(b.cap, 7);
    ASSERT_EQ(sq_buf_len(&b), 7);
    ASSERT_MEM_EQ(sq_buf_peek(&b), "0123456", 7);
    ASSERT_EQ(s.n, 1); /* the big block is kept for the next reader */
    sq_buf_free(&b);
    sq__spare_free(&s);
}

TEST(buffer_more_than_a_quarter_full_keeps_its_block)
{
    sq__spare s = {0};
    sq_buf b;
    make(&b, 65536, 0, 16385);
    char *block = b.data;
    sq__buf_settle(&b, &s, &policy);
    ASSERT_TRUE(b.data == block);
    ASSERT_EQ(s.n, 0);
    sq_buf_free(&b);
}

TEST(page_sized_block_is_not_shrunk)
{
    sq__spare s = {0};
    sq_buf b;
    make(&b, 4096, 0, 10);
    char *block = b.data;
    sq__buf_settle(&b, &s, &policy);
    ASSERT_TRUE(b.data == block);
    sq_buf_free(&b);
}

TEST(short_buffer_takes_the_spare_with_its_bytes_in_front)
{
    sq__spare s = {0};
    sq_buf b;
    make(&b, 65536, 0, 0);
    sq__buf_settle(&b, &s, &policy); /* one spare of 64 KiB */
    sq_buf c;
    make(&c, 4096, 4000, 5);
    sq__buf_from_spare(&c, &s, 60000);
    ASSERT_EQ(s.n, 0);
    ASSERT_EQ(c.cap, 65536);
    ASSERT_EQ(c.head, 0);
    ASSERT_MEM_EQ(sq_buf_peek(&c), "01234", 5);
    sq_buf_free(&c);
}

TEST(spare_too_small_or_past_the_limit_is_left)
{
    sq__spare s = {0};
    sq_buf b;
    make(&b, 8192, 0, 0);
    sq__buf_settle(&b, &s, &policy);
    ASSERT_EQ(s.n, 1);
    sq_buf c;
    make(&c, 4096, 0, 5);
    sq__buf_from_spare(&c, &s, 8190); /* 5 + 8190 > 8192 */
    ASSERT_EQ(s.n, 1);
    ASSERT_EQ(c.cap, 4096);
    sq_buf d;
    sq_buf_init(&d, 4096); /* the spare would break d's limit */
    sq__buf_from_spare(&d, &s, 1);
    ASSERT_EQ(s.n, 1);
    ASSERT_EQ(d.cap, 0);
    sq__buf_from_spare(&c, &s, 100); /* c has the room: nothing to do */
    ASSERT_EQ(s.n, 1);
    sq_buf_free(&c);
    sq__spare_free(&s);
}

TEST(policy_bounds_the_blocks_kept)
{
    sq__spare s = {0};
    size_t caps[] = {2048, 131072, 8192, 8192, 8192};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        sq_buf b;
        make(&b, caps[i], 0, 0);
        sq__buf_settle(&b, &s, &policy); /* kept or freed: never leaked (ASan) */
        ASSERT_EQ(b.cap, 0);
    }
    ASSERT_EQ(s.n, 2); /* too small, too big, then two slots */
    ASSERT_EQ(s.cap[0], 8192);
    ASSERT_EQ(s.cap[1], 8192);
    sq__spare_free(&s);
}

TEST(unallocated_buffer_settles_to_nothing)
{
    sq__spare s = {0};
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    sq__buf_settle(&b, &s, &policy);
    ASSERT_EQ(s.n, 0);
    ASSERT_EQ(b.cap, 0);
}

TEST_MAIN()
