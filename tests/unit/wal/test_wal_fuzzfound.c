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
 * 2. A skipped corruption whose proof was cut (tests/fuzz/corpus_wal/wal-reopen-torn-tail). With
 *    WAL_CORRUPT_SKIP_SEGMENT, damage in segment 1 was corruption because segment 2 held a
 *    complete frame (rule 8), and that frame then fell behind segment 2's own torn tail and was
 *    zeroed (rule 9). The next open found segment 1's damage with no proof left and reported it
 *    as a torn tail: the same bytes classified differently by two opens.
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

/* Puts jobs 1, 2, ... into w until one lands in another segment, closes w, and checks that the
 * log then opens clean with exactly those jobs. */
static void assert_grows_and_reads_back(const wal_opts *o, wal *w)
{
    uint64_t n = put_until_next_segment(w, 1);
    ASSERT_GT(n, 1);
    ASSERT_EQ(wal_close(w), 0);
    rec_list again = {0};
    wal_open_report rep;
    ASSERT_EQ(wal_open(o, collect_cb, &again, &rep, &w), 0);
    ASSERT_EQ(rep.corrupt, 0);
    ASSERT_TRUE(!rep.torn_tail);
    ASSERT_EQ(again.n, n);
    for (uint64_t i = 0; i < n; i++)
        assert_put_matches(&again.v[i], i + 1, 100);
    ASSERT_EQ(wal_close(w), 0);
    rec_list_free(&again);
}

/* The bytes of segment 1 of a log holding one job (id 1, a 100-byte body); sets *len. */
static uint8_t *one_job_segment(size_t *len)
{
    char *src = tmp_dir();
    wal_opts o = opts_for(src, 4096, WAL_FSYNC_NEVER);
    wal *w = open_ok(&o, NULL);
    char body[4096];
    wal_record r = put_rec(1, body, 100);
    ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    ASSERT_EQ(wal_close(w), 0);
    char path[4096];
    seg_path(src, 1, path, sizeof path);
    uint8_t *b = read_whole(path, len);
    rm_dir(src);
    free(src);
    return b;
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

    assert_grows_and_reads_back(&o, w);
    rec_list_free(&l);
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
    size_t len;
    uint8_t *b = one_job_segment(&len);
    wal_encode_header(b, 2);
    char path[4096];
    wal *w = NULL;

    char *dir = tmp_dir();
    write_zero_header_then_garbage(dir, 1);
    seg_path(dir, 2, path, sizeof path);
    write_whole(path, b, len);
    free(b);

    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_NEVER);
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
    rm_dir(dir);
    free(dir);
}

/*
 * Bug 2. Segment 1: garbage from offset 32. Segment 2: garbage from offset 32, then a complete
 * frame (seq 1, synced 0) that proves segment 1 was synced but is not itself proven synced.
 */
TEST(a_skipped_corruption_whose_proof_was_cut_stays_cut_on_the_next_open)
{
    /* The complete frame: a one-job log's first frame. */
    size_t len;
    uint8_t *frame_src = one_job_segment(&len);
    char path[4096];
    wal *w = NULL;
    uint64_t seq, synced;
    long frame = wal_check_frame(frame_src + WAL_HDR_BYTES, len - WAL_HDR_BYTES, WAL_FORMAT_VERSION,
                                 &seq, &synced);
    ASSERT_GT(frame, 0);
    ASSERT_EQ(seq, 1);

    char *dir = tmp_dir();
    uint8_t seg[SMALL_SEGMENT_BYTES * 2] = {0};
    wal_encode_header(seg, 1);
    memset(seg + WAL_HDR_BYTES, 0xab, 64);
    seg_path(dir, 1, path, sizeof path);
    write_whole(path, seg, SMALL_SEGMENT_BYTES);
    memset(seg, 0, sizeof seg);
    wal_encode_header(seg, 2);
    memset(seg + WAL_HDR_BYTES, 0xab, 64);
    ASSERT_TRUE(WAL_HDR_BYTES + 64 + (size_t)frame <= sizeof seg);
    memcpy(seg + WAL_HDR_BYTES + 64, frame_src + WAL_HDR_BYTES, (size_t)frame);
    seg_path(dir, 2, path, sizeof path);
    write_whole(path, seg, sizeof seg);
    free(frame_src);

    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_NEVER);
    o.on_corrupt = WAL_CORRUPT_SKIP_SEGMENT;
    rec_list l = {0};
    wal_open_report rep;
    ASSERT_EQ(wal_open(&o, collect_cb, &l, &rep, &w), 0);
    ASSERT_EQ(rep.corrupt, 1);
    ASSERT_EQ(rep.corrupt_segment, 1);
    ASSERT_EQ(rep.corrupt_offset, WAL_HDR_BYTES);
    ASSERT_TRUE(rep.torn_tail);
    ASSERT_EQ(rep.torn_segment, 2);
    ASSERT_EQ(l.n, 0);
    ASSERT_EQ(wal_close(w), 0);

    /* The log ended at segment 1's damage; the next open sees it end there cleanly. */
    seg_path(dir, 1, path, sizeof path);
    uint8_t *b = read_whole(path, &len);
    for (size_t i = WAL_HDR_BYTES; i < len; i++)
        ASSERT_EQ(b[i], 0);
    free(b);
    ASSERT_EQ(wal_open(&o, collect_cb, &l, &rep, &w), 0);
    ASSERT_EQ(rep.corrupt, 0);
    ASSERT_TRUE(!rep.torn_tail);
    ASSERT_EQ(l.n, 0);

    /* And the log grows from there and reads back whole. */
    assert_grows_and_reads_back(&o, w);
    rec_list_free(&l);
    rm_dir(dir);
    free(dir);
}

TEST_MAIN()
