/*
 * Unit tests for src/net/buf.c: appending, consuming, growth up to the
 * limit, compaction, printf, reserve/commit, and random operation
 * sequences checked against a plain model (a flat array of the bytes that
 * should be live).
 */
#include "synq/buf.h"

#include <errno.h>

#include "test.h"

/* Fills p with a pattern that depends on the position in the stream, so a
 * byte moved to the wrong place is noticed. */
static void fill_pattern(char *p, size_t n, size_t stream_pos)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)((stream_pos + i) * 131u + 7u);
}

TEST(fresh_buffer_is_empty_and_unallocated)
{
    sq_buf b;
    sq_buf_init(&b, 1000);
    ASSERT_EQ(sq_buf_len(&b), 0);
    ASSERT_EQ(b.cap, 0);
    ASSERT_EQ(b.limit, 1000);
    ASSERT_TRUE(sq_buf_peek(&b) != NULL);
    sq_buf_free(&b);
}

TEST(append_then_peek_returns_bytes)
{
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(sq_buf_append(&b, "hello ", 6), 0);
    ASSERT_EQ(sq_buf_append(&b, "world", 5), 0);
    ASSERT_EQ(sq_buf_len(&b), 11);
    ASSERT_MEM_EQ(sq_buf_peek(&b), "hello world", 11);
    sq_buf_free(&b);
}

TEST(append_zero_bytes_allocates_nothing)
{
    sq_buf b;
    sq_buf_init(&b, 16);
    ASSERT_EQ(sq_buf_append(&b, "", 0), 0);
    ASSERT_EQ(b.cap, 0);
    ASSERT_EQ(sq_buf_len(&b), 0);
    sq_buf_free(&b);
}

TEST(consume_drops_from_front)
{
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(sq_buf_append(&b, "abcdef", 6), 0);
    sq_buf_consume(&b, 2);
    ASSERT_EQ(sq_buf_len(&b), 4);
    ASSERT_MEM_EQ(sq_buf_peek(&b), "cdef", 4);
    ASSERT_EQ(b.head, 2);
    sq_buf_free(&b);
}

TEST(consuming_everything_resets_offsets)
{
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(sq_buf_append(&b, "abcdef", 6), 0);
    char *storage = b.data;
    sq_buf_consume(&b, 3);
    sq_buf_consume(&b, 3);
    ASSERT_EQ(b.head, 0);
    ASSERT_EQ(b.tail, 0);
    ASSERT_TRUE(b.data == storage);
    sq_buf_free(&b);
}

TEST(steady_state_never_moves_or_grows)
{
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    char chunk[1000];
    fill_pattern(chunk, sizeof chunk, 0);
    ASSERT_EQ(sq_buf_append(&b, chunk, sizeof chunk), 0);
    char *storage = b.data;
    size_t cap = b.cap;
    sq_buf_consume(&b, sizeof chunk);
    for (int i = 0; i < 10000; i++) {
        ASSERT_EQ(sq_buf_append(&b, chunk, sizeof chunk), 0);
        ASSERT_EQ(b.head, 0);
        sq_buf_consume(&b, sizeof chunk);
    }
    ASSERT_TRUE(b.data == storage);
    ASSERT_EQ(b.cap, cap);
    sq_buf_free(&b);
}

TEST(clear_keeps_storage)
{
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(sq_buf_append(&b, "abc", 3), 0);
    size_t cap = b.cap;
    sq_buf_clear(&b);
    ASSERT_EQ(sq_buf_len(&b), 0);
    ASSERT_EQ(b.cap, cap);
    ASSERT_EQ(sq_buf_append(&b, "xy", 2), 0);
    ASSERT_MEM_EQ(sq_buf_peek(&b), "xy", 2);
    sq_buf_free(&b);
}

TEST(free_makes_buffer_reusable)
{
    sq_buf b;
    sq_buf_init(&b, 64);
    ASSERT_EQ(sq_buf_append(&b, "abc", 3), 0);
    sq_buf_free(&b);
    ASSERT_EQ(b.cap, 0);
    ASSERT_EQ(sq_buf_len(&b), 0);
    ASSERT_EQ(b.limit, 64);
    ASSERT_EQ(sq_buf_append(&b, "de", 2), 0);
    ASSERT_MEM_EQ(sq_buf_peek(&b), "de", 2);
    sq_buf_free(&b);
    sq_buf_free(&b); /* twice is harmless */
}

TEST(growth_is_geometric)
{
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(sq_buf_append(&b, "x", 1), 0);
    ASSERT_EQ(b.cap, 4096);
    char big[5000];
    fill_pattern(big, sizeof big, 1);
    ASSERT_EQ(sq_buf_append(&b, big, sizeof big), 0);
    ASSERT_EQ(b.cap, 8192);
    ASSERT_EQ(sq_buf_append(&b, big, sizeof big), 0);
    ASSERT_EQ(b.cap, 16384);
    ASSERT_EQ(sq_buf_len(&b), 10001);
    ASSERT_EQ(sq_buf_peek(&b)[0], 'x');
    ASSERT_MEM_EQ(sq_buf_peek(&b) + 1, big, sizeof big);
    ASSERT_MEM_EQ(sq_buf_peek(&b) + 5001, big, sizeof big);
    sq_buf_free(&b);
}

TEST(small_limit_caps_first_allocation)
{
    sq_buf b;
    sq_buf_init(&b, 100);
    ASSERT_EQ(sq_buf_append(&b, "x", 1), 0);
    ASSERT_EQ(b.cap, 100);
    sq_buf_free(&b);
}

TEST(growth_stops_exactly_at_limit)
{
    enum { LIMIT = 10000 };
    sq_buf b;
    sq_buf_init(&b, LIMIT);
    char chunk[LIMIT];
    fill_pattern(chunk, sizeof chunk, 0);
    size_t total = 0;
    while (total + 1000 <= LIMIT) {
        ASSERT_EQ(sq_buf_append(&b, chunk + total, 1000), 0);
        total += 1000;
        ASSERT_LE(b.cap, LIMIT);
    }
    ASSERT_EQ(sq_buf_len(&b), LIMIT);
    ASSERT_EQ(b.cap, LIMIT);
    ASSERT_MEM_EQ(sq_buf_peek(&b), chunk, LIMIT);
    sq_buf_free(&b);
}

TEST(append_past_limit_is_enobufs_and_changes_nothing)
{
    enum { LIMIT = 10000 };
    sq_buf b;
    sq_buf_init(&b, LIMIT);
    char chunk[LIMIT + 1];
    fill_pattern(chunk, sizeof chunk, 0);
    ASSERT_EQ(sq_buf_append(&b, chunk, LIMIT - 1), 0);
    sq_buf before = b;
    ASSERT_EQ(sq_buf_append(&b, chunk, 2), -ENOBUFS);
    ASSERT_TRUE(b.data == before.data);
    ASSERT_EQ(b.head, before.head);
    ASSERT_EQ(b.tail, before.tail);
    ASSERT_EQ(b.cap, before.cap);
    ASSERT_MEM_EQ(sq_buf_peek(&b), chunk, LIMIT - 1);
    /* One byte still fits: the limit is inclusive. */
    ASSERT_EQ(sq_buf_append(&b, chunk, 1), 0);
    ASSERT_EQ(sq_buf_len(&b), LIMIT);
    ASSERT_EQ(sq_buf_append(&b, chunk, 1), -ENOBUFS);
    ASSERT_EQ(sq_buf_len(&b), LIMIT);
    sq_buf_free(&b);
}

TEST(single_append_larger_than_limit_is_enobufs)
{
    sq_buf b;
    sq_buf_init(&b, 100);
    char chunk[101] = {0};
    ASSERT_EQ(sq_buf_append(&b, chunk, 101), -ENOBUFS);
    ASSERT_EQ(b.cap, 0);
    ASSERT_EQ(sq_buf_append(&b, chunk, 100), 0);
    ASSERT_EQ(sq_buf_len(&b), 100);
    sq_buf_free(&b);
}

TEST(consumed_front_counts_back_toward_limit)
{
    /* At the limit, dropping bytes from the front must make room again:
     * the limit bounds live bytes plus new ones, not head + new. */
    sq_buf b;
    sq_buf_init(&b, 100);
    char chunk[100];
    fill_pattern(chunk, sizeof chunk, 0);
    ASSERT_EQ(sq_buf_append(&b, chunk, 100), 0);
    sq_buf_consume(&b, 70);
    ASSERT_EQ(sq_buf_append(&b, chunk, 70), 0);
    ASSERT_EQ(b.cap, 100);
    ASSERT_EQ(sq_buf_len(&b), 100);
    ASSERT_MEM_EQ(sq_buf_peek(&b), chunk + 70, 30);
    ASSERT_MEM_EQ(sq_buf_peek(&b) + 30, chunk, 70);
    sq_buf_free(&b);
}

TEST(compaction_keeps_bytes_intact)
{
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    char stream[8192];
    fill_pattern(stream, sizeof stream, 0);
    ASSERT_EQ(sq_buf_append(&b, stream, 4000), 0);
    ASSERT_EQ(b.cap, 4096);
    char *storage = b.data;
    sq_buf_consume(&b, 3900); /* 100 live bytes at offset 3900 */
    ASSERT_EQ(sq_buf_append(&b, stream + 4000, 500), 0);
    /* The few live bytes were slid to the front instead of growing. */
    ASSERT_TRUE(b.data == storage);
    ASSERT_EQ(b.cap, 4096);
    ASSERT_EQ(b.head, 0);
    ASSERT_EQ(sq_buf_len(&b), 600);
    ASSERT_MEM_EQ(sq_buf_peek(&b), stream + 3900, 600);
    sq_buf_free(&b);
}

TEST(many_live_bytes_grow_instead_of_compacting)
{
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    char stream[8192];
    fill_pattern(stream, sizeof stream, 0);
    ASSERT_EQ(sq_buf_append(&b, stream, 4000), 0);
    sq_buf_consume(&b, 500); /* 3500 live: more than half of 4096 */
    ASSERT_EQ(sq_buf_append(&b, stream + 4000, 500), 0);
    ASSERT_EQ(b.cap, 8192);
    ASSERT_EQ(b.head, 0);
    ASSERT_EQ(sq_buf_len(&b), 4000);
    ASSERT_MEM_EQ(sq_buf_peek(&b), stream + 500, 4000);
    sq_buf_free(&b);
}

TEST(reserve_then_commit_appends)
{
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(sq_buf_append(&b, "ab", 2), 0);
    char *dst = NULL;
    size_t avail = 0;
    ASSERT_EQ(sq_buf_reserve(&b, 10, &dst, &avail), 0);
    ASSERT_GE(avail, 10);
    ASSERT_TRUE(dst == sq_buf_peek(&b) + 2);
    memcpy(dst, "cdefg", 5);
    sq_buf_commit(&b, 5);
    ASSERT_EQ(sq_buf_len(&b), 7);
    ASSERT_MEM_EQ(sq_buf_peek(&b), "abcdefg", 7);
    sq_buf_free(&b);
}

TEST(reserve_without_commit_adds_nothing)
{
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    char *dst;
    size_t avail;
    ASSERT_EQ(sq_buf_reserve(&b, 100, &dst, &avail), 0);
    memset(dst, 'z', 100);
    ASSERT_EQ(sq_buf_len(&b), 0);
    ASSERT_EQ(sq_buf_append(&b, "q", 1), 0);
    ASSERT_EQ(sq_buf_len(&b), 1);
    ASSERT_EQ(sq_buf_peek(&b)[0], 'q');
    sq_buf_free(&b);
}

TEST(reserve_avail_never_exceeds_limit)
{
    sq_buf b;
    sq_buf_init(&b, 5000);
    char *dst;
    size_t avail;
    ASSERT_EQ(sq_buf_reserve(&b, 4500, &dst, &avail), 0);
    ASSERT_EQ(avail, 5000);
    sq_buf_commit(&b, 4500);
    ASSERT_EQ(sq_buf_reserve(&b, 501, &dst, &avail), -ENOBUFS);
    ASSERT_EQ(sq_buf_reserve(&b, 500, &dst, &avail), 0);
    ASSERT_EQ(avail, 500);
    sq_buf_free(&b);
}

TEST(commit_past_reservation_aborts)
{
    /* The invariant check stays on in release builds; run in a child so the
     * abort is observed rather than fatal to this test. */
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        sq_buf b;
        sq_buf_init(&b, 100);
        char *dst;
        size_t avail;
        if (sq_buf_reserve(&b, 10, &dst, &avail) != 0)
            _exit(3);
        sq_buf_commit(&b, avail + 1);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGABRT);
}

TEST(printf_formats_text_without_nul)
{
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(sq_buf_printf(&b, "INSERTED %llu\r\n", 42ULL), 0);
    ASSERT_EQ(sq_buf_printf(&b, "%s-%d", "x", -7), 0);
    const char want[] = "INSERTED 42\r\nx--7";
    ASSERT_EQ(sq_buf_len(&b), sizeof want - 1);
    ASSERT_MEM_EQ(sq_buf_peek(&b), want, sizeof want - 1);
    sq_buf_free(&b);
}

TEST(printf_longer_than_free_space_grows)
{
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(sq_buf_append(&b, "x", 1), 0);
    char big[6001];
    memset(big, 'a', 6000);
    big[6000] = '\0';
    ASSERT_EQ(sq_buf_printf(&b, "<%s>", big), 0);
    ASSERT_EQ(sq_buf_len(&b), 6003);
    ASSERT_EQ(sq_buf_peek(&b)[1], '<');
    ASSERT_MEM_EQ(sq_buf_peek(&b) + 2, big, 6000);
    ASSERT_EQ(sq_buf_peek(&b)[6002], '>');
    sq_buf_free(&b);
}

TEST(printf_of_exactly_remaining_space_fits)
{
    /* vsnprintf needs a byte for its NUL; the buffer must not. */
    sq_buf b;
    sq_buf_init(&b, 10);
    ASSERT_EQ(sq_buf_printf(&b, "%s", "0123456789"), 0);
    ASSERT_EQ(sq_buf_len(&b), 10);
    ASSERT_MEM_EQ(sq_buf_peek(&b), "0123456789", 10);
    sq_buf_free(&b);

    sq_buf_init(&b, 10);
    ASSERT_EQ(sq_buf_append(&b, "abcd", 4), 0);
    ASSERT_EQ(sq_buf_printf(&b, "%d", 123456), 0);
    ASSERT_MEM_EQ(sq_buf_peek(&b), "abcd123456", 10);
    sq_buf_free(&b);
}

TEST(printf_past_limit_is_enobufs_and_changes_nothing)
{
    sq_buf b;
    sq_buf_init(&b, 10);
    ASSERT_EQ(sq_buf_append(&b, "abcd", 4), 0);
    ASSERT_EQ(sq_buf_printf(&b, "%s", "1234567"), -ENOBUFS);
    ASSERT_EQ(sq_buf_len(&b), 4);
    ASSERT_MEM_EQ(sq_buf_peek(&b), "abcd", 4);
    sq_buf_free(&b);
}

/* xorshift64*: a fixed seed makes every run check the same sequence. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

TEST(random_operations_match_model)
{
    enum { LIMIT = 20000, STEPS = 20000 };
    static char model[LIMIT];
    size_t model_len = 0;
    size_t stream_pos = 0;
    uint64_t seed = 0x5eed1234abcdULL;
    char chunk[LIMIT + 100];
    sq_buf b;
    sq_buf_init(&b, LIMIT);

    for (int step = 0; step < STEPS; step++) {
        uint64_t r = rng_next(&seed);
        unsigned op = (unsigned)(r % 6);
        /* Mostly small sizes, sometimes big ones that hit the limit. */
        size_t n =
            (r >> 8) % 8 == 0 ? (size_t)((r >> 16) % (LIMIT + 50)) : (size_t)((r >> 16) % 700);
        int rc;
        switch (op) {
        case 0:
        case 1: /* append */
            fill_pattern(chunk, n, stream_pos);
            rc = sq_buf_append(&b, chunk, n);
            if (model_len + n <= LIMIT) {
                ASSERT_EQ(rc, 0);
                memcpy(model + model_len, chunk, n);
                model_len += n;
                stream_pos += n;
            } else {
                ASSERT_EQ(rc, -ENOBUFS);
            }
            break;
        case 2: { /* reserve + partial commit */
            char *dst;
            size_t avail;
            rc = sq_buf_reserve(&b, n, &dst, &avail);
            if (model_len + n <= LIMIT) {
                ASSERT_EQ(rc, 0);
                ASSERT_GE(avail, n);
                ASSERT_LE(b.cap, LIMIT);
                size_t k = n ? (size_t)(r >> 40) % (n + 1) : 0;
                fill_pattern(dst, k, stream_pos);
                sq_buf_commit(&b, k);
                memcpy(model + model_len, dst, k);
                model_len += k;
                stream_pos += k;
            } else {
                ASSERT_EQ(rc, -ENOBUFS);
            }
            break;
        }
        case 3:
        case 4: { /* consume */
            size_t k = model_len ? n % (model_len + 1) : 0;
            sq_buf_consume(&b, k);
            memmove(model, model + k, model_len - k);
            model_len -= k;
            break;
        }
        case 5: /* printf */
            rc = sq_buf_printf(&b, "%zu:", n);
            {
                char txt[32];
                int t = snprintf(txt, sizeof txt, "%zu:", n);
                if (model_len + (size_t)t <= LIMIT) {
                    ASSERT_EQ(rc, 0);
                    memcpy(model + model_len, txt, (size_t)t);
                    model_len += (size_t)t;
                } else {
                    ASSERT_EQ(rc, -ENOBUFS);
                }
            }
            break;
        }
        ASSERT_EQ(sq_buf_len(&b), model_len);
        ASSERT_LE(b.cap, LIMIT);
        ASSERT_LE(b.tail, b.cap);
        if (model_len > 0)
            ASSERT_MEM_EQ(sq_buf_peek(&b), model, model_len);
        else
            ASSERT_EQ(b.head, 0);
    }
    sq_buf_free(&b);
}

TEST_MAIN()
