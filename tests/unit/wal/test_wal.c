/*
 * Tests for the write-ahead log's format and recovery (src/wal/wal.c,
 * recover.c): round trips, recovery across segments, torn tails at every byte
 * offset, random bit flips, corruption reports. Format 1 segments and the compaction index
 * are in test_wal_segments.c; fault injection, compaction and the timed recovery in
 * test_wal_faults.c.
 */
#include "wal_helpers.h"

/* ---- format and round trips ---------------------------------------------------------------- */

TEST(round_trip_every_record_type)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 0, WAL_FSYNC_ALWAYS);
    wal *w = open_ok(&o, NULL);
    const char body[] = "hello\0world\r\n";
    wal_record p = {.type = WAL_REC_PUT,
                    .id = 42,
                    .pri = 4294967295u,
                    .ttr_s = 120,
                    .state = WAL_STATE_DELAYED,
                    .deadline_wall_ms = 1700000123456,
                    .created_wall_ms = 1700000000001,
                    .tube = "emails",
                    .tube_len = 6,
                    .body = body,
                    .body_len = sizeof body - 1,
                    .delay_s = 4294967295u,
                    .reserves = 1,
                    .timeouts = 2,
                    .releases = 3,
                    .buries = 4,
                    .kicks = 5};
    uint32_t seg = 0;
    ASSERT_EQ(wal_append_put(w, &p, &seg), 0);
    ASSERT_EQ(seg, 1);
    wal_record p2 = p;
    p2.id = 43;
    p2.state = WAL_STATE_READY;
    p2.body_len = 0;
    ASSERT_EQ(wal_append_put(w, &p2, NULL), 0);
    wal_record s = {.type = WAL_REC_STATE,
                    .id = 42,
                    .pri = 7,
                    .state = WAL_STATE_BURIED,
                    .deadline_wall_ms = -5,
                    .delay_s = 30,
                    .reserves = 6,
                    .timeouts = 7,
                    .releases = 8,
                    .buries = 9,
                    .kicks = 4000000000u};
    ASSERT_EQ(wal_append_state(w, &s), 0);
    wal_record d = {.type = WAL_REC_DELETE, .id = 43, .segment = seg, .tube_len = 6};
    ASSERT_EQ(wal_append_delete(w, &d), 0);
    ASSERT_TRUE(wal_has_pending(w));
    ASSERT_EQ(wal_flush(w), 0);
    ASSERT_TRUE(!wal_has_pending(w));
    ASSERT_EQ(wal_close(w), 0);

    rec_list l = {0};
    wal_open_report rep;
    ASSERT_EQ(wal_open(&o, collect_cb, &l, &rep, &w), 0);
    ASSERT_EQ(l.n, 4);
    ASSERT_EQ(rep.records, 4);
    ASSERT_EQ(rep.live_jobs, 1);
    ASSERT_EQ(rep.max_id, 43);
    ASSERT_TRUE(!rep.torn_tail);
    ASSERT_EQ(l.v[0].type, WAL_REC_PUT);
    ASSERT_EQ(l.v[0].id, 42);
    ASSERT_EQ(l.v[0].pri, 4294967295u);
    ASSERT_EQ(l.v[0].ttr_s, 120);
    ASSERT_EQ(l.v[0].state, WAL_STATE_DELAYED);
    ASSERT_EQ(l.v[0].deadline, 1700000123456);
    ASSERT_EQ(l.v[0].created, 1700000000001);
    ASSERT_EQ(l.v[0].segment, 1);
    ASSERT_EQ(l.v[0].tube_len, 6);
    ASSERT_MEM_EQ(l.v[0].tube, "emails", 6);
    ASSERT_EQ(l.v[0].body_len, sizeof body - 1);
    ASSERT_MEM_EQ(l.v[0].body, body, sizeof body - 1);
    ASSERT_TRUE(l.v[0].has_counters);
    ASSERT_EQ(l.v[0].delay_s, 4294967295u);
    ASSERT_EQ(l.v[0].reserves, 1);
    ASSERT_EQ(l.v[0].timeouts, 2);
    ASSERT_EQ(l.v[0].releases, 3);
    ASSERT_EQ(l.v[0].buries, 4);
    ASSERT_EQ(l.v[0].kicks, 5);
    ASSERT_EQ(l.v[1].id, 43);
    ASSERT_EQ(l.v[1].body_len, 0);
    ASSERT_EQ(l.v[2].type, WAL_REC_STATE);
    ASSERT_EQ(l.v[2].id, 42);
    ASSERT_EQ(l.v[2].pri, 7);
    ASSERT_EQ(l.v[2].state, WAL_STATE_BURIED);
    ASSERT_EQ(l.v[2].deadline, -5);
    ASSERT_TRUE(l.v[2].has_counters);
    ASSERT_EQ(l.v[2].delay_s, 30);
    ASSERT_EQ(l.v[2].reserves, 6);
    ASSERT_EQ(l.v[2].timeouts, 7);
    ASSERT_EQ(l.v[2].releases, 8);
    ASSERT_EQ(l.v[2].buries, 9);
    ASSERT_EQ(l.v[2].kicks, 4000000000u);
    ASSERT_TRUE(!l.v[3].has_counters);
    ASSERT_EQ(l.v[3].type, WAL_REC_DELETE);
    ASSERT_EQ(l.v[3].id, 43);
    wal_stats st;
    wal_get_stats(w, &st);
    ASSERT_EQ(st.live_jobs, 1);
    ASSERT_EQ(st.oldest_index, 1);
    ASSERT_EQ(st.current_index, 1);
    ASSERT_EQ(st.max_size, WAL_DEFAULT_SEGMENT_BYTES);
    ASSERT_EQ(st.live_bytes, wal_put_record_bytes(6, 0, sizeof body - 1));
    ASSERT_EQ(wal_close(w), 0);
    rec_list_free(&l);
    rm_dir(dir);
    free(dir);
}

TEST(segment_file_is_preallocated_with_header)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, (uint64_t)64 * 1024, WAL_FSYNC_ALWAYS);
    wal *w = open_ok(&o, NULL);
    char path[4096];
    seg_path(dir, 1, path, sizeof path);
    struct stat st;
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_EQ(st.st_size, 64 * 1024);
    size_t len;
    uint8_t *b = read_whole(path, &len);
    ASSERT_MEM_EQ(b, "SYNQWAL\0", 8);
    ASSERT_EQ(wal_get_u32(b + 8), WAL_FORMAT_VERSION);
    ASSERT_EQ(wal_get_u64(b + 16), 1);
    free(b);
    ASSERT_EQ(wal_close(w), 0);
    rm_dir(dir);
    free(dir);
}

TEST(second_open_of_a_directory_is_refused)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 0, WAL_FSYNC_ALWAYS);
    wal *w = open_ok(&o, NULL);
    wal *w2 = NULL;
    rec_list l = {0};
    ASSERT_EQ(wal_open(&o, collect_cb, &l, NULL, &w2), -EBUSY);
    ASSERT_EQ(wal_close(w), 0);
    w2 = open_ok(&o, NULL);
    ASSERT_EQ(wal_close(w2), 0);
    rm_dir(dir);
    free(dir);
}

TEST(invalid_records_are_refused)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 8192, WAL_FSYNC_ALWAYS);
    wal *w = open_ok(&o, NULL);
    char body[9000];
    wal_record r = put_rec(1, body, 10);
    r.id = 0;
    ASSERT_EQ(wal_append_put(w, &r, NULL), -EINVAL);
    r.id = WAL_MAX_ID + 1;
    ASSERT_EQ(wal_append_put(w, &r, NULL), -EINVAL);
    r.id = 1;
    r.tube_len = 0;
    ASSERT_EQ(wal_append_put(w, &r, NULL), -EINVAL);
    r.tube_len = 7;
    r.body_len = sizeof body;
    memset(body, 'x', sizeof body);
    ASSERT_EQ(wal_append_put(w, &r, NULL), -EFBIG);
    ASSERT_EQ(wal_failed(w), 0);
    ASSERT_TRUE(!wal_has_pending(w));
    ASSERT_EQ(wal_close(w), 0);
    rm_dir(dir);
    free(dir);
}

/* Writes `n` puts (ids 1..n) and deletes every id divisible by `del_every`. */
static void write_log(const wal_opts *o, uint64_t n, uint64_t del_every, size_t body_max)
{
    wal *w = open_ok(o, NULL);
    char body[4096];
    uint32_t *segs = calloc(n + 1, sizeof *segs);
    for (uint64_t id = 1; id <= n; id++) {
        wal_record r = put_rec(id, body, body_max);
        ASSERT_EQ(wal_append_put(w, &r, &segs[id]), 0);
        if (id % 16 == 0)
            ASSERT_EQ(wal_flush(w), 0);
    }
    for (uint64_t id = del_every; del_every && id <= n; id += del_every) {
        wal_record d = {.type = WAL_REC_DELETE,
                        .id = id,
                        .segment = segs[id],
                        .tube_len = 7,
                        .body_len = make_body(id, body, body_max)};
        ASSERT_EQ(wal_append_delete(w, &d), 0);
    }
    ASSERT_EQ(wal_close(w), 0);
    free(segs);
}

TEST(recovery_across_many_segments)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_NEVER);
    write_log(&o, 2000, 3, 200);
    ASSERT_GT(count_segments(dir), 20);
    rec_list l = {0};
    wal_open_report rep;
    wal *w = NULL;
    ASSERT_EQ(wal_open(&o, collect_cb, &l, &rep, &w), 0);
    ASSERT_EQ(rep.records, 2000 + 666);
    ASSERT_EQ(rep.live_jobs, 2000 - 666);
    ASSERT_EQ(l.n, 2000 + 666);
    for (uint64_t id = 1; id <= 2000; id++)
        assert_put_matches(&l.v[id - 1], id, 200);
    for (size_t i = 2000; i < l.n; i++) {
        ASSERT_EQ(l.v[i].type, WAL_REC_DELETE);
        ASSERT_EQ(l.v[i].id, (i - 2000 + 1) * 3);
    }
    /* Segments are consecutive and records land in increasing segments. */
    for (size_t i = 1; i < l.n; i++)
        ASSERT_GE(l.v[i].segment, l.v[i - 1].segment);
    wal_stats st;
    wal_get_stats(w, &st);
    ASSERT_EQ(st.live_jobs, 2000 - 666);
    ASSERT_EQ(st.oldest_index, 1);
    ASSERT_EQ(wal_close(w), 0);
    rec_list_free(&l);
    rm_dir(dir);
    free(dir);
}

TEST(appending_continues_after_reopen)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_ALWAYS);
    write_log(&o, 100, 0, 100);
    wal *w = open_ok(&o, NULL);
    char body[4096];
    for (uint64_t id = 101; id <= 200; id++) {
        wal_record r = put_rec(id, body, 100);
        ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    }
    ASSERT_EQ(wal_close(w), 0);
    rec_list l = {0};
    w = open_ok(&o, &l);
    ASSERT_EQ(l.n, 200);
    for (uint64_t id = 1; id <= 200; id++)
        assert_put_matches(&l.v[id - 1], id, 100);
    ASSERT_EQ(wal_close(w), 0);
    rec_list_free(&l);
    rm_dir(dir);
    free(dir);
}

/* ---- torn tails and corruption -------------------------------------------------------------- */

/* A small single-segment log of puts, states and deletes; returns its reference replay. */
static void small_log(const char *dir, rec_list *ref, size_t *data_end)
{
    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_ALWAYS);
    wal *w = open_ok(&o, NULL);
    char body[4096];
    uint32_t seg;
    for (uint64_t id = 1; id <= 12; id++) {
        wal_record r = put_rec(id, body, 60);
        ASSERT_EQ(wal_append_put(w, &r, &seg), 0);
        if (id % 3 == 0) {
            wal_record s = {.type = WAL_REC_STATE,
                            .id = id - 1,
                            .pri = 9,
                            .state = WAL_STATE_BURIED,
                            .delay_s = 3,
                            .reserves = (uint32_t)id,
                            .buries = 1,
                            .kicks = 2};
            ASSERT_EQ(wal_append_state(w, &s), 0);
            wal_record d = {.type = WAL_REC_DELETE,
                            .id = id - 2,
                            .segment = seg,
                            .tube_len = 7,
                            .body_len = make_body(id - 2, body, 60)};
            ASSERT_EQ(wal_append_delete(w, &d), 0);
        }
        ASSERT_EQ(wal_flush(w), 0);
    }
    wal_stats st;
    wal_get_stats(w, &st);
    *data_end = WAL_HDR_BYTES + st.live_bytes + st.dead_bytes; /* 12 frames besides */
    ASSERT_EQ(st.current_index, 1);
    ASSERT_EQ(wal_close(w), 0);
    w = open_ok(&o, ref);
    ASSERT_EQ(ref->n, 20);
    ASSERT_EQ(wal_close(w), 0);
}

static bool same_record(const rec_copy *a, const rec_copy *b)
{
    return a->type == b->type && a->id == b->id && a->pri == b->pri && a->state == b->state &&
           a->ttr_s == b->ttr_s && a->deadline == b->deadline && a->created == b->created &&
           a->tube_len == b->tube_len && memcmp(a->tube, b->tube, a->tube_len) == 0 &&
           a->body_len == b->body_len && memcmp(a->body, b->body, a->body_len) == 0 &&
           a->has_counters == b->has_counters && a->delay_s == b->delay_s &&
           a->reserves == b->reserves && a->timeouts == b->timeouts && a->releases == b->releases &&
           a->buries == b->buries && a->kicks == b->kicks;
}

/* For each record of the framed segment b, the end offset of the frame holding it (a record
 * survives a cut only with its whole frame); returns the end of the last frame. */
static size_t frame_ends(const uint8_t *b, size_t len, size_t *ends, size_t max, size_t *nrec)
{
    size_t off = WAL_HDR_BYTES, n = 0;
    uint64_t seq, synced;
    long size;
    while ((size = wal_check_frame(b + off, len - off, WAL_FORMAT_VERSION, &seq, &synced)) > 0) {
        for (size_t o = off + WAL_FRAME_HDR_BYTES; o < off + (size_t)size; n++) {
            wal_record r;
            ASSERT_LT(n, max);
            ends[n] = off + (size_t)size;
            o += (size_t)wal_decode_record(b + o, off + (size_t)size - o, WAL_FORMAT_VERSION, &r);
        }
        off += (size_t)size;
    }
    *nrec = n;
    return off;
}

TEST(torn_tail_at_every_byte_offset_yields_longest_valid_prefix)
{
    char *src = tmp_dir();
    rec_list ref = {0};
    size_t data_end;
    small_log(src, &ref, &data_end);
    char path[4096];
    seg_path(src, 1, path, sizeof path);
    size_t len;
    uint8_t *orig = read_whole(path, &len);
    ASSERT_EQ(len, 4096);
    size_t ends[64], nrec;
    /* The frames cover exactly the records replayed, and the frame headers are not counted as
     * the log's live or dead bytes. */
    data_end += (size_t)12 * WAL_FRAME_HDR_BYTES; /* small_log flushed 12 times */
    ASSERT_EQ(frame_ends(orig, len, ends, 64, &nrec), data_end);
    ASSERT_EQ(nrec, ref.n);
    uint8_t *copy = malloc(len);
    for (int truncate = 0; truncate <= 1; truncate++) {
        for (size_t cut = 0; cut <= data_end; cut++) {
            char *dir = tmp_dir();
            memset(copy, 0, len);
            memcpy(copy, orig, cut);
            seg_path(dir, 1, path, sizeof path);
            /* Zero-filled preallocated tail, or a file that simply ends at the cut. */
            write_whole(path, copy, truncate ? cut : len);
            rec_list got = {0};
            wal_open_report rep;
            wal *w = NULL;
            int rc = wal_open(&(wal_opts){.dir = dir, .segment_bytes = 4096}, collect_cb, &got,
                              &rep, &w);
            ASSERT_EQ(rc, 0);
            /* A record survives if none of its frame's bytes were lost (a frame is one group
             * commit: all of it or none); with a zero-filled tail, bytes that were zero anyway
             * are not lost. */
            size_t lost = cut;
            while (!truncate && lost < len && orig[lost] == 0)
                lost++;
            size_t want = 0;
            while (want < ref.n && ends[want] <= lost)
                want++;
            if (got.n != want)
                TEST_FAIL_("cut %zu: %zu records, want %zu", cut, got.n, want);
            for (size_t i = 0; i < got.n; i++)
                ASSERT_TRUE(same_record(&got.v[i], &ref.v[i]));
            /* Torn: part of the next frame is on disk (non-zero), not all of it. */
            size_t start = want ? ends[want - 1] : WAL_HDR_BYTES;
            bool partial = false;
            for (size_t k = start; k < cut && want < ref.n; k++)
                partial = partial || orig[k] != 0;
            if (cut < WAL_HDR_BYTES)
                partial = false;
            ASSERT_EQ(rep.torn_tail, partial);
            ASSERT_EQ(rep.corrupt, 0);
            /* The log stays appendable right after the valid prefix. */
            char body[64];
            wal_record r = put_rec(1000, body, 60);
            ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
            ASSERT_EQ(wal_close(w), 0);
            rec_list again = {0};
            w = open_ok(&(wal_opts){.dir = dir, .segment_bytes = 4096}, &again);
            ASSERT_EQ(again.n, want + 1);
            ASSERT_EQ(again.v[want].id, 1000);
            ASSERT_EQ(wal_close(w), 0);
            rec_list_free(&again);
            rec_list_free(&got);
            rm_dir(dir);
            free(dir);
        }
    }
    free(copy);
    free(orig);
    rec_list_free(&ref);
    rm_dir(src);
    free(src);
}

/* Is every record in got equal to some record of ref, in order (a subsequence)? */
static bool is_subsequence(const rec_list *got, const rec_list *ref)
{
    size_t j = 0;
    for (size_t i = 0; i < got->n; i++) {
        while (j < ref->n && !same_record(&got->v[i], &ref->v[j]))
            j++;
        if (j == ref->n)
            return false;
        j++;
    }
    return true;
}

TEST(random_bit_flips_never_yield_a_wrong_record)
{
    char *src = tmp_dir();
    rec_list ref = {0};
    size_t data_end;
    small_log(src, &ref, &data_end);
    char path[4096];
    seg_path(src, 1, path, sizeof path);
    size_t len;
    uint8_t *orig = read_whole(path, &len);
    uint8_t *copy = malloc(len);
    uint32_t seed = 20240601;
    int refused = 0, skipped = 0;
    for (int trial = 0; trial < 400; trial++) {
        memcpy(copy, orig, len);
        int flips = 1 + trial % 3;
        for (int k = 0; k < flips; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t bit = (seed >> 8) % (data_end * 8);
            copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        for (int policy = 0; policy <= 1; policy++) {
            char *dir = tmp_dir();
            seg_path(dir, 1, path, sizeof path);
            write_whole(path, copy, len);
            rec_list got = {0};
            wal *w = NULL;
            wal_opts o = {.dir = dir,
                          .segment_bytes = 4096,
                          .on_corrupt = policy ? WAL_CORRUPT_SKIP_SEGMENT : WAL_CORRUPT_REFUSE};
            int rc = wal_open(&o, collect_cb, &got, NULL, &w);
            ASSERT_TRUE(rc == 0 || rc == -EBADMSG);
            refused += rc != 0;
            if (!is_subsequence(&got, &ref))
                TEST_FAIL_("trial %d: a replayed record is not in the original log", trial);
            if (rc == 0) {
                skipped += got.n < ref.n;
                ASSERT_EQ(wal_close(w), 0);
            }
            rec_list_free(&got);
            rm_dir(dir);
            free(dir);
        }
    }
    printf("bit flips: %d opens refused, %d recovered a shorter log\n", refused, skipped);
    ASSERT_GT(refused, 0);
    free(copy);
    free(orig);
    rec_list_free(&ref);
    rm_dir(src);
    free(src);
}

TEST(corruption_in_an_older_segment_is_reported_with_offset)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_NEVER);
    write_log(&o, 300, 0, 100);
    ASSERT_GT(count_segments(dir), 3);
    /* Damage the body of the second record of segment 2 (valid records follow). */
    rec_list ref = {0};
    wal *w = open_ok(&o, &ref);
    ASSERT_EQ(wal_close(w), 0);
    char path[4096];
    seg_path(dir, 2, path, sizeof path);
    size_t len;
    uint8_t *b = read_whole(path, &len);
    /* The second record's offset, and the offset of the frame holding it (what is reported). */
    uint64_t seq, synced, off = WAL_HDR_BYTES, rec = 0;
    long size = wal_check_frame(b + off, len - off, WAL_FORMAT_VERSION, &seq, &synced);
    ASSERT_GT(size, 0);
    wal_record r;
    rec = off + WAL_FRAME_HDR_BYTES;
    rec += (uint64_t)wal_decode_record(b + rec, len - rec, WAL_FORMAT_VERSION, &r);
    if (rec == off + (uint64_t)size) { /* the frame held one record: the next frame's first */
        off = rec;
        rec += WAL_FRAME_HDR_BYTES;
    }
    b[rec + WAL_REC_HDR_BYTES + WAL_PUT_FIXED_BYTES + 7] ^= 0x40;
    write_whole(path, b, len);
    free(b);

    rec_list got = {0};
    wal_open_report rep;
    ASSERT_EQ(wal_open(&o, collect_cb, &got, &rep, &w), -EBADMSG);
    ASSERT_EQ(rep.corrupt, 1);
    ASSERT_EQ(rep.corrupt_segment, 2);
    ASSERT_EQ(rep.corrupt_offset, off);
    ASSERT_TRUE(is_subsequence(&got, &ref));
    rec_list_free(&got);

    o.on_corrupt = WAL_CORRUPT_SKIP_SEGMENT;
    ASSERT_EQ(wal_open(&o, collect_cb, &got, &rep, &w), 0);
    ASSERT_EQ(rep.corrupt, 1);
    ASSERT_EQ(rep.corrupt_offset, off);
    ASSERT_TRUE(is_subsequence(&got, &ref));
    /* Everything but segment 2 from the damaged frame on came back. */
    size_t seg2 = 0;
    for (size_t i = 0; i < ref.n; i++)
        seg2 += ref.v[i].segment == 2;
    ASSERT_EQ(got.n, ref.n - (seg2 - (off == WAL_HDR_BYTES ? 0 : 1)));
    ASSERT_EQ(wal_close(w), 0);
    rec_list_free(&got);
    rec_list_free(&ref);
    rm_dir(dir);
    free(dir);
}

/* Gives the record at `off` of segment 1 the id `id`, with a checksum to match. */
/* The offsets of the first `max` records of segment 1 (a framed segment); returns how many. */
static size_t record_offsets(const char *dir, uint64_t *offs, size_t max)
{
    char path[4096];
    seg_path(dir, 1, path, sizeof path);
    size_t len, n = 0;
    uint8_t *b = read_whole(path, &len);
    uint64_t seq, synced, off = WAL_HDR_BYTES;
    long size;
    while (n < max &&
           (size = wal_check_frame(b + off, len - off, WAL_FORMAT_VERSION, &seq, &synced)) > 0) {
        for (uint64_t o = off + WAL_FRAME_HDR_BYTES; n < max && o < off + (uint64_t)size; n++) {
            wal_record r;
            offs[n] = o;
            o += (uint64_t)wal_decode_record(b + o, off + (uint64_t)size - o, WAL_FORMAT_VERSION,
                                             &r);
        }
        off += (uint64_t)size;
    }
    free(b);
    return n;
}

static void set_record_id(const char *dir, uint64_t off, uint64_t id)
{
    char path[4096];
    seg_path(dir, 1, path, sizeof path);
    size_t len;
    uint8_t *b = read_whole(path, &len);
    uint8_t *p = b + off;
    wal_put_u64(p + WAL_REC_HDR_BYTES, id);
    wal_put_u32(p, crc32c(0, p + 4, (size_t)wal_get_u32(p + 4) + 5));
    write_whole(path, b, len);
    free(b);
}

/* A valid record with an id no server hands out (a crafted or corrupt log) would make the id
 * counter wrap: it is corruption, reported with segment, offset and id, even as the last record
 * (where a bad record would be a torn tail). Ids up to WAL_MAX_ID are fine. */
TEST(an_id_over_the_maximum_is_refused_as_corruption_wherever_it_is)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 1 << 20, WAL_FSYNC_NEVER);
    write_log(&o, 3, 0, 100);
    rec_list ref = {0};
    wal *w = open_ok(&o, &ref);
    ASSERT_EQ(wal_close(w), 0);
    ASSERT_EQ(ref.n, 3);
    uint64_t offs[3];
    ASSERT_EQ(record_offsets(dir, offs, 3), 3);
    uint64_t off2 = offs[1], off3 = offs[2];
    for (int last = 0; last < 2; last++) {
        uint64_t off = last ? off3 : off2;
        set_record_id(dir, off, UINT64_MAX);
        rec_list got = {0};
        wal_open_report rep;
        ASSERT_EQ(wal_open(&o, collect_cb, &got, &rep, &w), -EBADMSG);
        ASSERT_EQ(rep.corrupt, 1);
        ASSERT_EQ(rep.corrupt_segment, 1);
        ASSERT_EQ(rep.corrupt_offset, off);
        ASSERT_EQ(rep.corrupt_id, UINT64_MAX);
        ASSERT_TRUE(!rep.torn_tail);
        rec_list_free(&got);
        set_record_id(dir, off, WAL_MAX_ID + 1);
        ASSERT_EQ(wal_open(&o, collect_cb, &got, &rep, &w), -EBADMSG);
        ASSERT_EQ(rep.corrupt_id, WAL_MAX_ID + 1);
        rec_list_free(&got);
        set_record_id(dir, off, last ? 3 : 2);
    }
    set_record_id(dir, off3, WAL_MAX_ID);
    rec_list got = {0};
    wal_open_report rep;
    ASSERT_EQ(wal_open(&o, collect_cb, &got, &rep, &w), 0);
    ASSERT_EQ(rep.corrupt, 0);
    ASSERT_EQ(rep.max_id, WAL_MAX_ID);
    ASSERT_EQ(got.n, 3);
    ASSERT_EQ(wal_close(w), 0);
    rec_list_free(&got);
    rec_list_free(&ref);
    rm_dir(dir);
    free(dir);
}

TEST(missing_middle_segment_is_refused)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_NEVER);
    write_log(&o, 300, 0, 100);
    char path[4096];
    seg_path(dir, 3, path, sizeof path);
    ASSERT_EQ(unlink(path), 0);
    rec_list got = {0};
    wal_open_report rep;
    wal *w = NULL;
    ASSERT_EQ(wal_open(&o, collect_cb, &got, &rep, &w), -EBADMSG);
    ASSERT_EQ(rep.corrupt_segment, 3);
    rec_list_free(&got);
    rm_dir(dir);
    free(dir);
}

TEST(newer_format_version_is_refused)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_NEVER);
    write_log(&o, 10, 0, 100);
    char path[4096];
    seg_path(dir, 1, path, sizeof path);
    size_t len;
    uint8_t *b = read_whole(path, &len);
    wal_put_u32(b + 8, WAL_FORMAT_VERSION + 1);
    wal_put_u32(b + 24, crc32c(0, b, 24));
    write_whole(path, b, len);
    free(b);
    rec_list got = {0};
    wal *w = NULL;
    ASSERT_EQ(wal_open(&o, collect_cb, &got, NULL, &w), -EPROTONOSUPPORT);
    ASSERT_EQ(got.n, 0);
    rm_dir(dir);
    free(dir);
}

TEST_MAIN()
