/*
 * Regression tests for WAL recovery bugs found by tests/fuzz/fuzz_wal.c.
 *
 * 1. Garbage after a zero record header. A segment whose next record header is all zero but
 *    which holds non-zero bytes further on (a torn multi-page write: a later page reached the
 *    disk, an earlier one did not) was taken as a clean end and the garbage left in place.
 *    Appending then overwrote only the start of it, moved on to a new segment, and the next
 *    wal_open found a bad record in a segment before the last one holding records: -EBADMSG,
 *    a server that accepted writes refusing to start. docs/wal-format.md says a zero header is
 *    handled like a torn record: the garbage after it is zeroed.
 */
#include "wal_helpers.h"

/*
 * Segment `index` of 512 bytes (a segment's capacity is its file's size): a valid header, one
 * all-zero record header, and garbage (0xab, never a valid record: its length field is too large)
 * to the end. A few records fit before the log moves on, and garbage follows them.
 */
#define SMALL_SEGMENT_BYTES 512

static void write_zero_header_then_garbage(const char *dir, uint32_t index)
{
    uint8_t b[SMALL_SEGMENT_BYTES] = {0};
    wal_encode_header(b, index);
    memset(b + WAL_HDR_BYTES + WAL_REC_HDR_BYTES, 0xab,
           sizeof b - WAL_HDR_BYTES - WAL_REC_HDR_BYTES);
    char path[4096];
    seg_path(dir, index, path, sizeof path);
    write_whole(path, b, sizeof b);
}

/* Appends jobs first_id, first_id+1, ... until one lands in another segment; returns the count. */
static uint64_t put_until_next_segment(wal *w, uint64_t first_id)
{
    char body[4096];
    wal_stats st;
    wal_get_stats(w, &st);
    uint32_t start = st.current_index;
    uint64_t n = 0;
    do {
        wal_record r = put_rec(first_id + n, body, 100);
        ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
        n++;
        wal_get_stats(w, &st);
    } while (st.current_index == start);
    ASSERT_EQ(wal_flush(w), 0);
    return n;
}

TEST(garbage_after_a_zero_header_is_a_torn_tail_and_the_log_stays_readable_as_it_grows)
{
    char *dir = tmp_dir();
    write_zero_header_then_garbage(dir, 1);
    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_NEVER);
    rec_list l = {0};
    wal_open_report rep;
    wal *w = NULL;
    ASSERT_EQ(wal_open(&o, collect_cb, &l, &rep, &w), 0);
    ASSERT_EQ(l.n, 0);
    ASSERT_TRUE(rep.torn_tail);
    ASSERT_EQ(rep.torn_segment, 1);
    ASSERT_EQ(rep.torn_offset, WAL_HDR_BYTES);

    char path[4096];
    seg_path(dir, 1, path, sizeof path);
    size_t len;
    uint8_t *b = read_whole(path, &len);
    ASSERT_EQ(len, SMALL_SEGMENT_BYTES);
    for (size_t i = WAL_HDR_BYTES; i < len; i++)
        ASSERT_EQ(b[i], 0); /* the garbage is gone from disk */
    free(b);

    uint64_t n = put_until_next_segment(w, 1);
    ASSERT_GT(n, 1);
    ASSERT_EQ(wal_close(w), 0);

    rec_list again = {0};
    ASSERT_EQ(wal_open(&o, collect_cb, &again, &rep, &w), 0);
    ASSERT_EQ(rep.corrupt, 0);
    ASSERT_TRUE(!rep.torn_tail);
    ASSERT_EQ(again.n, n);
    for (uint64_t i = 0; i < n; i++)
        assert_put_matches(&again.v[i], i + 1, 100);
    ASSERT_EQ(wal_close(w), 0);
    rec_list_free(&l);
    rec_list_free(&again);
    rm_dir(dir);
    free(dir);
}

/*
 * The fix's boundary, as format 3 draws it: in a segment before the last one holding frames, a
 * zero frame header followed by anything but zeros is corruption (rule 8 of docs/wal-format.md).
 * wal_flush syncs a segment before writing into the next, so whatever segment 1 lost there had
 * been synced. (A format 2 segment still ends cleanly at a zero header: scan_file's rule.)
 */
TEST(garbage_after_a_zero_header_in_an_older_segment_is_corruption)
{
    /* A one-job log, its segment then renamed to index 2 behind a damaged segment 1. */
    char *src = tmp_dir();
    wal_opts o = opts_for(src, 4096, WAL_FSYNC_NEVER);
    wal *w = open_ok(&o, NULL);
    char body[4096];
    wal_record r = put_rec(1, body, 100);
    ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    ASSERT_EQ(wal_close(w), 0);
    char path[4096];
    seg_path(src, 1, path, sizeof path);
    size_t len;
    uint8_t *b = read_whole(path, &len);
    wal_encode_header(b, 2);

    char *dir = tmp_dir();
    write_zero_header_then_garbage(dir, 1);
    seg_path(dir, 2, path, sizeof path);
    write_whole(path, b, len);
    free(b);

    o = opts_for(dir, 4096, WAL_FSYNC_NEVER);
    rec_list l = {0};
    wal_open_report rep;
    ASSERT_EQ(wal_open(&o, collect_cb, &l, &rep, &w), -EBADMSG);
    ASSERT_EQ(rep.corrupt, 1);
    ASSERT_EQ(rep.corrupt_segment, 1);
    ASSERT_EQ(rep.corrupt_offset, WAL_HDR_BYTES);
    ASSERT_TRUE(!rep.torn_tail);
    rec_list_free(&l);

    o.on_corrupt = WAL_CORRUPT_SKIP_SEGMENT;
    ASSERT_EQ(wal_open(&o, collect_cb, &l, &rep, &w), 0);
    ASSERT_EQ(rep.corrupt, 1);
    ASSERT_EQ(l.n, 1);
    assert_put_matches(&l.v[0], 1, 100);
    ASSERT_EQ(wal_close(w), 0);
    rec_list_free(&l);
    rm_dir(src);
    rm_dir(dir);
    free(src);
    free(dir);
}

TEST_MAIN()
