/*
 * Tests for the write-ahead log (src/queue/wal.c, recover.c, walio.c): round
 * trips, recovery across segments, torn tails at every byte offset, random
 * bit flips, fault injection through the wal_io seam, space reservation,
 * compaction, and a timed recovery of many jobs (printed, not asserted).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "queue/crc32c.h"
#include "queue/recover.h"
#include "queue/wal.h"
#include "test.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static char *tmp_dir(void)
{
    char *d = strdup("/tmp/synq-wal-test-XXXXXX");
    ASSERT_TRUE(d && mkdtemp(d));
    return d;
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int count_segments(const char *dir)
{
    DIR *d = opendir(dir);
    ASSERT_TRUE(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, "wal.", 4) == 0;
    closedir(d);
    return n;
}

typedef struct {
    uint8_t type, state;
    uint64_t id;
    uint32_t pri, ttr_s, segment;
    int64_t deadline, created;
    char tube[256];
    size_t tube_len;
    char *body;
    size_t body_len;
} rec_copy;

typedef struct {
    rec_copy *v;
    size_t n, alloc;
} rec_list;

static int collect_cb(const wal_record *r, void *data)
{
    rec_list *l = data;
    if (l->n == l->alloc) {
        l->alloc = l->alloc ? l->alloc * 2 : 64;
        l->v = realloc(l->v, l->alloc * sizeof *l->v);
        ASSERT_TRUE(l->v);
    }
    rec_copy *c = &l->v[l->n++];
    memset(c, 0, sizeof *c);
    c->type = r->type;
    c->state = r->state;
    c->id = r->id;
    c->pri = r->pri;
    c->ttr_s = r->ttr_s;
    c->segment = r->segment;
    c->deadline = r->deadline_wall_ms;
    c->created = r->created_wall_ms;
    c->tube_len = r->tube_len;
    if (r->tube_len)
        memcpy(c->tube, r->tube, r->tube_len);
    c->body_len = r->body_len;
    c->body = malloc(r->body_len + 1);
    if (r->body_len)
        memcpy(c->body, r->body, r->body_len);
    return 0;
}

static void rec_list_free(rec_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].body);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static wal_opts opts_for(const char *dir, uint64_t seg_bytes, wal_fsync_mode mode)
{
    return (wal_opts){.dir = dir, .segment_bytes = seg_bytes, .mode = mode, .interval_ms = 100};
}

static wal *open_ok(const wal_opts *o, rec_list *l)
{
    wal *w = NULL;
    rec_list scratch = {0};
    int rc = wal_open(o, collect_cb, l ? l : &scratch, NULL, &w);
    ASSERT_EQ(rc, 0);
    rec_list_free(&scratch);
    return w;
}

/* A deterministic body for job id: length and bytes both depend on the id. */
static size_t make_body(uint64_t id, char *buf, size_t max)
{
    size_t len = (size_t)(id * 7919 % max);
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)((id * 31 + i * 17) & 0xFF);
    return len;
}

static wal_record put_rec(uint64_t id, char *body, size_t body_max)
{
    return (wal_record){.type = WAL_REC_PUT,
                        .id = id,
                        .pri = (uint32_t)(id * 3),
                        .ttr_s = 60,
                        .state = WAL_STATE_READY,
                        .created_wall_ms = 1700000000000 + (int64_t)id,
                        .tube = "default",
                        .tube_len = 7,
                        .body = body,
                        .body_len = make_body(id, body, body_max)};
}

static void assert_put_matches(const rec_copy *c, uint64_t id, size_t body_max)
{
    char body[4096];
    wal_record want = put_rec(id, body, body_max);
    ASSERT_EQ(c->type, WAL_REC_PUT);
    ASSERT_EQ(c->id, id);
    ASSERT_EQ(c->pri, want.pri);
    ASSERT_EQ(c->ttr_s, want.ttr_s);
    ASSERT_EQ(c->created, want.created_wall_ms);
    ASSERT_EQ(c->tube_len, 7);
    ASSERT_MEM_EQ(c->tube, "default", 7);
    ASSERT_EQ(c->body_len, want.body_len);
    ASSERT_MEM_EQ(c->body, body, want.body_len);
}

static uint8_t *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ASSERT_TRUE(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len ? *len : 1);
    ASSERT_EQ(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void write_whole(const char *path, const uint8_t *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    ASSERT_TRUE(f);
    ASSERT_EQ(fwrite(b, 1, len, f), len);
    fclose(f);
}

static void seg_path(const char *dir, uint32_t index, char *buf, size_t size)
{
    snprintf(buf, size, "%s/wal.%016x", dir, index);
}

/* ---- format and round trips ---------------------------------------------------------------- */

TEST(round_trip_every_record_type)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 0, WAL_FSYNC_ALWAYS);
    wal *w = open_ok(&o, NULL);
    const char body[] = "hello\0world\r\n";
    wal_record p = {.type = WAL_REC_PUT, .id = 42, .pri = 4294967295u, .ttr_s = 120,
                    .state = WAL_STATE_DELAYED, .deadline_wall_ms = 1700000123456,
                    .created_wall_ms = 1700000000001, .tube = "emails", .tube_len = 6,
                    .body = body, .body_len = sizeof body - 1};
    uint32_t seg = 0;
    ASSERT_EQ(wal_append_put(w, &p, &seg), 0);
    ASSERT_EQ(seg, 1);
    wal_record p2 = p;
    p2.id = 43;
    p2.state = WAL_STATE_READY;
    p2.body_len = 0;
    ASSERT_EQ(wal_append_put(w, &p2, NULL), 0);
    wal_record s = {.type = WAL_REC_STATE, .id = 42, .pri = 7, .state = WAL_STATE_BURIED,
                    .deadline_wall_ms = -5};
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
    ASSERT_EQ(l.v[1].id, 43);
    ASSERT_EQ(l.v[1].body_len, 0);
    ASSERT_EQ(l.v[2].type, WAL_REC_STATE);
    ASSERT_EQ(l.v[2].id, 42);
    ASSERT_EQ(l.v[2].pri, 7);
    ASSERT_EQ(l.v[2].state, WAL_STATE_BURIED);
    ASSERT_EQ(l.v[2].deadline, -5);
    ASSERT_EQ(l.v[3].type, WAL_REC_DELETE);
    ASSERT_EQ(l.v[3].id, 43);
    wal_stats st;
    wal_get_stats(w, &st);
    ASSERT_EQ(st.live_jobs, 1);
    ASSERT_EQ(st.oldest_index, 1);
    ASSERT_EQ(st.current_index, 1);
    ASSERT_EQ(st.max_size, WAL_DEFAULT_SEGMENT_BYTES);
    ASSERT_EQ(st.live_bytes, wal_put_record_bytes(6, sizeof body - 1));
    ASSERT_EQ(wal_close(w), 0);
    rec_list_free(&l);
    rm_dir(dir);
    free(dir);
}

TEST(segment_file_is_preallocated_with_header)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 64 * 1024, WAL_FSYNC_ALWAYS);
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
        wal_record d = {.type = WAL_REC_DELETE, .id = id, .segment = segs[id], .tube_len = 7,
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
            wal_record s = {.type = WAL_REC_STATE, .id = id - 1, .pri = 9,
                            .state = WAL_STATE_BURIED};
            ASSERT_EQ(wal_append_state(w, &s), 0);
            wal_record d = {.type = WAL_REC_DELETE, .id = id - 2, .segment = seg,
                            .tube_len = 7, .body_len = make_body(id - 2, body, 60)};
            ASSERT_EQ(wal_append_delete(w, &d), 0);
        }
        ASSERT_EQ(wal_flush(w), 0);
    }
    wal_stats st;
    wal_get_stats(w, &st);
    *data_end = WAL_HDR_BYTES + st.live_bytes + st.dead_bytes;
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
           a->body_len == b->body_len && memcmp(a->body, b->body, a->body_len) == 0;
}

/* Record end offsets of the reference log, computed from the record sizes. */
static size_t record_ends(const rec_list *ref, size_t *ends)
{
    size_t off = WAL_HDR_BYTES;
    for (size_t i = 0; i < ref->n; i++) {
        const rec_copy *c = &ref->v[i];
        off += c->type == WAL_REC_PUT      ? wal_put_record_bytes(c->tube_len, c->body_len)
               : c->type == WAL_REC_STATE ? WAL_STATE_BYTES
                                          : WAL_DELETE_BYTES;
        ends[i] = off;
    }
    return off;
}

TEST(torn_tail_at_every_byte_offset_yields_longest_valid_prefix)
{
    char *src = tmp_dir();
    rec_list ref = {0};
    size_t data_end;
    small_log(src, &ref, &data_end);
    size_t ends[64];
    ASSERT_EQ(record_ends(&ref, ends), data_end);
    char path[4096];
    seg_path(src, 1, path, sizeof path);
    size_t len;
    uint8_t *orig = read_whole(path, &len);
    ASSERT_EQ(len, 4096);
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
            int rc = wal_open(&(wal_opts){.dir = dir, .segment_bytes = 4096}, collect_cb,
                              &got, &rep, &w);
            ASSERT_EQ(rc, 0);
            /* A record survives if none of its bytes were lost; with a zero-filled
             * tail, bytes that were zero anyway are not lost. */
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
            /* Torn: part of the next record is on disk (non-zero), not all of it. */
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
            wal_opts o = {.dir = dir, .segment_bytes = 4096,
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
    size_t first = 0;
    while (ref.v[first].segment != 2)
        first++;
    uint64_t off = WAL_HDR_BYTES + wal_put_record_bytes(7, ref.v[first].body_len);
    char path[4096];
    seg_path(dir, 2, path, sizeof path);
    size_t len;
    uint8_t *b = read_whole(path, &len);
    b[off + WAL_REC_HDR_BYTES + WAL_PUT_FIXED_BYTES + 7] ^= 0x40;
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
    /* Everything but the rest of segment 2 came back. */
    size_t seg2 = 0;
    for (size_t i = 0; i < ref.n; i++)
        seg2 += ref.v[i].segment == 2;
    ASSERT_EQ(got.n, ref.n - (seg2 - 1));
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

/* ---- group commit, sync modes and fault injection ------------------------------------------- */

TEST(group_commit_writes_a_batch_with_one_write_and_one_fdatasync)
{
    char *dir = tmp_dir();
    wal_fault f;
    wal_fault_init(&f);
    wal_opts o = opts_for(dir, 0, WAL_FSYNC_ALWAYS);
    o.io = &f.io;
    wal *w = open_ok(&o, NULL);
    uint64_t writes = f.calls[WAL_IO_PWRITE], syncs = f.calls[WAL_IO_FDATASYNC];
    char body[4096];
    for (uint64_t id = 1; id <= 100; id++) {
        wal_record r = put_rec(id, body, 100);
        ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    }
    /* Appending made no system call at all. */
    ASSERT_EQ(f.calls[WAL_IO_PWRITE], writes);
    ASSERT_EQ(f.calls[WAL_IO_FDATASYNC], syncs);
    ASSERT_EQ(wal_flush(w), 0);
    ASSERT_EQ(f.calls[WAL_IO_PWRITE], writes + 1);
    ASSERT_EQ(f.calls[WAL_IO_FDATASYNC], syncs + 1);
    ASSERT_EQ(wal_flush(w), 0); /* nothing pending: no call */
    ASSERT_EQ(f.calls[WAL_IO_PWRITE], writes + 1);
    wal_stats st;
    wal_get_stats(w, &st);
    ASSERT_EQ(st.records_written, 100);
    ASSERT_EQ(wal_close(w), 0);
    rm_dir(dir);
    free(dir);
}

TEST(interval_mode_syncs_at_most_every_interval)
{
    char *dir = tmp_dir();
    wal_fault f;
    wal_fault_init(&f);
    wal_opts o = opts_for(dir, 0, WAL_FSYNC_INTERVAL);
    o.interval_ms = 50;
    o.io = &f.io;
    wal *w = open_ok(&o, NULL);
    uint64_t syncs = f.calls[WAL_IO_FDATASYNC];
    ASSERT_EQ(wal_sync_deadline_ms(w), UINT64_MAX);
    char body[4096];
    wal_record r = put_rec(1, body, 100);
    ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    ASSERT_EQ(wal_flush(w), 0);
    ASSERT_EQ(f.calls[WAL_IO_FDATASYNC], syncs); /* written, not synced */
    ASSERT_EQ(wal_sync_due(w, 1000), 0);           /* first dirty tick: syncs */
    ASSERT_EQ(f.calls[WAL_IO_FDATASYNC], syncs + 1);
    ASSERT_EQ(wal_sync_deadline_ms(w), UINT64_MAX);
    r = put_rec(2, body, 100);
    ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    ASSERT_EQ(wal_flush(w), 0);
    ASSERT_EQ(wal_sync_deadline_ms(w), 1050);
    ASSERT_EQ(wal_sync_due(w, 1020), 0); /* too early */
    ASSERT_EQ(f.calls[WAL_IO_FDATASYNC], syncs + 1);
    ASSERT_EQ(wal_sync_due(w, 1050), 0);
    ASSERT_EQ(f.calls[WAL_IO_FDATASYNC], syncs + 2);
    ASSERT_EQ(wal_sync_due(w, 5000), 0); /* nothing unsynced: no call */
    ASSERT_EQ(f.calls[WAL_IO_FDATASYNC], syncs + 2);
    ASSERT_EQ(wal_close(w), 0);
    rm_dir(dir);
    free(dir);
}

/* Opens a WAL over the injector, acknowledges `acked` puts, and returns it. */
static wal *faulty_wal(const char *dir, wal_fault *f, wal_fsync_mode mode, uint64_t acked)
{
    wal_fault_init(f);
    wal_opts o = opts_for(dir, 0, mode);
    o.io = &f->io;
    wal *w = open_ok(&o, NULL);
    char body[4096];
    for (uint64_t id = 1; id <= acked; id++) {
        wal_record r = put_rec(id, body, 100);
        ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    }
    ASSERT_EQ(wal_flush(w), 0);
    return w;
}

/* After a failure: every later call fails with err, even with the fault gone. */
static void assert_stays_failed(wal *w, wal_fault *f, int err)
{
    wal_fault_disarm(f);
    char body[4096];
    wal_record r = put_rec(999, body, 100);
    ASSERT_EQ(wal_failed(w), err);
    ASSERT_EQ(wal_append_put(w, &r, NULL), err);
    wal_record d = {.type = WAL_REC_DELETE, .id = 1, .segment = 1};
    ASSERT_EQ(wal_append_delete(w, &d), err);
    ASSERT_EQ(wal_flush(w), err);
    ASSERT_EQ(wal_sync(w), err);
    ASSERT_EQ(wal_gc(w), err);
    wal_stats st;
    wal_get_stats(w, &st);
    ASSERT_EQ(st.failed, err);
    ASSERT_EQ(wal_close(w), err); /* closing a failed log reports it and frees it */
}

/* Recovery sees the acknowledged puts 1..acked and maybe a prefix of the failed batch. */
static void assert_recovers_acked(const char *dir, uint64_t acked, uint64_t attempted)
{
    rec_list l = {0};
    wal *w = open_ok(&(wal_opts){.dir = dir}, &l);
    ASSERT_GE(l.n, acked);
    ASSERT_LE(l.n, attempted);
    for (size_t i = 0; i < l.n; i++)
        assert_put_matches(&l.v[i], i + 1, 100);
    ASSERT_EQ(wal_close(w), 0);
    rec_list_free(&l);
}

TEST(failing_fdatasync_fails_the_wal)
{
    char *dir = tmp_dir();
    wal_fault f;
    wal *w = faulty_wal(dir, &f, WAL_FSYNC_ALWAYS, 10);
    char body[4096];
    wal_record r = put_rec(11, body, 100);
    ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    wal_fault_arm(&f, WAL_IO_FDATASYNC, 1, EIO, false, 0);
    ASSERT_EQ(wal_flush(w), -EIO);
    ASSERT_EQ(f.failures, 1);
    assert_stays_failed(w, &f, -EIO);
    assert_recovers_acked(dir, 10, 11);
    rm_dir(dir);
    free(dir);
}

TEST(failing_write_fails_the_wal)
{
    char *dir = tmp_dir();
    wal_fault f;
    wal *w = faulty_wal(dir, &f, WAL_FSYNC_ALWAYS, 10);
    char body[4096];
    wal_record r = put_rec(11, body, 100);
    ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    uint64_t syncs = f.calls[WAL_IO_FDATASYNC];
    wal_fault_arm(&f, WAL_IO_PWRITE, 1, ENOSPC, false, 0);
    ASSERT_EQ(wal_flush(w), -ENOSPC);
    ASSERT_EQ(f.calls[WAL_IO_FDATASYNC], syncs); /* nothing claimed durable */
    assert_stays_failed(w, &f, -ENOSPC);
    assert_recovers_acked(dir, 10, 10);
    rm_dir(dir);
    free(dir);
}

TEST(interval_mode_sync_failure_fails_the_wal)
{
    char *dir = tmp_dir();
    wal_fault f;
    wal *w = faulty_wal(dir, &f, WAL_FSYNC_INTERVAL, 10);
    wal_fault_arm(&f, WAL_IO_FDATASYNC, 1, EIO, false, 0);
    ASSERT_EQ(wal_sync_due(w, 1000000), -EIO);
    ASSERT_EQ(wal_sync_deadline_ms(w), UINT64_MAX);
    assert_stays_failed(w, &f, -EIO);
    rm_dir(dir);
    free(dir);
}

TEST(torn_write_recovers_acked_records_and_a_clean_prefix)
{
    for (size_t tear = 0; tear < 600; tear += 37) {
        char *dir = tmp_dir();
        wal_fault f;
        wal *w = faulty_wal(dir, &f, WAL_FSYNC_ALWAYS, 10);
        char body[4096];
        for (uint64_t id = 11; id <= 15; id++) {
            wal_record r = put_rec(id, body, 100);
            ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
        }
        wal_fault_arm(&f, WAL_IO_PWRITE, 1, EIO, false, tear);
        ASSERT_EQ(wal_flush(w), -EIO);
        assert_stays_failed(w, &f, -EIO);
        assert_recovers_acked(dir, 10, 15);
        rm_dir(dir);
        free(dir);
    }
}

TEST(failing_segment_preallocation_refuses_puts_but_deletes_work)
{
    char *dir = tmp_dir();
    wal_fault f;
    wal_fault_init(&f);
    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_ALWAYS);
    o.io = &f.io;
    wal *w = open_ok(&o, NULL);
    wal_fault_arm(&f, WAL_IO_FALLOCATE, 1, ENOSPC, true, 0);
    char body[4096];
    uint32_t segs[1000];
    uint64_t n = 0;
    int rc;
    for (;;) {
        wal_record r = put_rec(n + 1, body, 100);
        rc = wal_append_put(w, &r, &segs[n + 1]);
        if (rc != 0)
            break;
        n++;
        ASSERT_LT(n, 999);
    }
    ASSERT_EQ(rc, -ENOSPC);
    ASSERT_GT(n, 5);
    ASSERT_EQ(wal_failed(w), 0); /* a full disk refuses puts; it does not fail the log */
    /* Again: still refused, nothing appended. */
    wal_record r = put_rec(n + 1, body, 100);
    ASSERT_EQ(wal_append_put(w, &r, NULL), -ENOSPC);
    ASSERT_EQ(wal_flush(w), 0);
    /* Every live job can still be deleted, without any new allocation. */
    uint64_t allocs = f.calls[WAL_IO_FALLOCATE];
    for (uint64_t id = 1; id <= n; id++) {
        wal_record d = {.type = WAL_REC_DELETE, .id = id, .segment = segs[id], .tube_len = 7,
                        .body_len = make_body(id, body, 100)};
        ASSERT_EQ(wal_append_delete(w, &d), 0);
        if (id % 4 == 0)
            ASSERT_EQ(wal_flush(w), 0);
    }
    ASSERT_EQ(wal_flush(w), 0);
    ASSERT_EQ(f.calls[WAL_IO_FALLOCATE], allocs);
    wal_stats st;
    wal_get_stats(w, &st);
    ASSERT_EQ(st.live_jobs, 0);
    /* Space is back: puts work again. */
    wal_fault_disarm(&f);
    for (uint64_t id = 500; id < 520; id++) {
        r = put_rec(id, body, 100);
        ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    }
    ASSERT_EQ(wal_close(w), 0);
    rec_list l = {0};
    wal_open_report rep;
    ASSERT_EQ(wal_open(&(wal_opts){.dir = dir, .segment_bytes = 4096}, collect_cb, &l, &rep, &w),
              0);
    ASSERT_EQ(rep.live_jobs, 20);
    ASSERT_EQ(wal_close(w), 0);
    rec_list_free(&l);
    rm_dir(dir);
    free(dir);
}

TEST(failing_fallocate_with_eio_fails_the_wal)
{
    char *dir = tmp_dir();
    wal_fault f;
    wal_fault_init(&f);
    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_ALWAYS);
    o.io = &f.io;
    wal *w = open_ok(&o, NULL);
    wal_fault_arm(&f, WAL_IO_FALLOCATE, 1, EIO, false, 0);
    char body[4096];
    int rc = 0;
    for (uint64_t id = 1; id < 1000 && rc == 0; id++) {
        wal_record r = put_rec(id, body, 100);
        rc = wal_append_put(w, &r, NULL);
    }
    ASSERT_EQ(rc, -EIO);
    assert_stays_failed(w, &f, -EIO);
    rm_dir(dir);
    free(dir);
}

/* ---- compaction ---------------------------------------------------------------------------- */

typedef struct {
    uint64_t id;
    uint32_t seg;
    bool live;
} job_model;

/* The caller's side of compaction: migrate live jobs of the target segment in small batches. */
static uint64_t compact(wal *w, job_model *jobs, size_t njobs)
{
    uint64_t moved_total = 0;
    uint32_t seg;
    char body[4096];
    while (wal_compact_target(w, &seg)) {
        size_t moved = 0;
        for (size_t i = 0; i < njobs && moved < 4; i++) {
            if (!jobs[i].live || jobs[i].seg != seg)
                continue;
            wal_record r = put_rec(jobs[i].id, body, 100);
            r.segment = seg;
            ASSERT_EQ(wal_append_migrate(w, &r, &jobs[i].seg), 0);
            ASSERT_NE(jobs[i].seg, seg);
            moved++;
        }
        ASSERT_GT(moved, 0); /* the WAL's accounting agrees with the jobs */
        moved_total += moved;
        ASSERT_EQ(wal_flush(w), 0);
        ASSERT_GE(wal_gc(w), 0);
    }
    ASSERT_EQ(wal_flush(w), 0);
    ASSERT_GE(wal_gc(w), 0);
    return moved_total;
}

TEST(compaction_keeps_segments_bounded_with_one_old_job)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_INTERVAL);
    wal *w = open_ok(&o, NULL);
    enum { NJOBS = 6000 };
    job_model *jobs = calloc(NJOBS + 1, sizeof *jobs);
    char body[4096];
    int max_segments = 0;
    uint64_t moved = 0;
    for (uint64_t id = 1; id <= NJOBS; id++) {
        wal_record r = put_rec(id, body, 100);
        jobs[id] = (job_model){.id = id, .live = true};
        ASSERT_EQ(wal_append_put(w, &r, &jobs[id].seg), 0);
        /* Every job but the first and the multiples of 1000 dies 10 puts later. */
        if (id > 11 && (id - 10) % 1000 != 0) {
            job_model *old = &jobs[id - 10];
            wal_record d = {.type = WAL_REC_DELETE, .id = old->id, .segment = old->seg,
                            .tube_len = 7, .body_len = make_body(old->id, body, 100)};
            ASSERT_EQ(wal_append_delete(w, &d), 0);
            old->live = false;
        }
        if (id % 5 == 0) {
            ASSERT_EQ(wal_flush(w), 0);
            moved += compact(w, jobs, NJOBS + 1);
            int n = count_segments(dir);
            max_segments = n > max_segments ? n : max_segments;
        }
    }
    ASSERT_GT(moved, 0);
    wal_stats st;
    wal_get_stats(w, &st);
    printf("compaction: %" PRIu64 " records migrated, at most %d segments on disk, oldest %u "
           "current %u, live %" PRIu64 " B dead %" PRIu64 " B\n",
           st.records_migrated, max_segments, st.oldest_index, st.current_index, st.live_bytes,
           st.dead_bytes);
    ASSERT_EQ(st.records_migrated, moved);
    ASSERT_GT(st.oldest_index, 100);
    ASSERT_LE(max_segments, 12);
    ASSERT_EQ(wal_close(w), 0);

    /* Recovery yields exactly the live jobs, with their bodies. */
    rec_list l = {0};
    wal_open_report rep;
    ASSERT_EQ(wal_open(&o, collect_cb, &l, &rep, &w), 0);
    uint64_t live = 0;
    for (uint64_t id = 1; id <= NJOBS; id++)
        live += jobs[id].live;
    ASSERT_EQ(rep.live_jobs, live);
    bool *seen = calloc(NJOBS + 1, sizeof *seen);
    for (size_t i = 0; i < l.n; i++) {
        const rec_copy *c = &l.v[i];
        ASSERT_LE(c->id, NJOBS);
        if (c->type == WAL_REC_PUT) {
            assert_put_matches(c, c->id, 100);
            seen[c->id] = true;
            /* The WAL told the caller where the newest PUT lives. */
            if (jobs[c->id].live && c->segment == jobs[c->id].seg)
                ASSERT_GE(wal_segment_live(w, c->segment), 1);
        } else if (c->type == WAL_REC_DELETE) {
            seen[c->id] = false;
        }
    }
    for (uint64_t id = 1; id <= NJOBS; id++)
        ASSERT_EQ(seen[id], jobs[id].live);
    /* The rebuilt accounting still drives compaction correctly. */
    for (uint64_t id = NJOBS + 1; id <= NJOBS + 300; id++) {
        wal_record r = put_rec(id, body, 100);
        uint32_t seg;
        ASSERT_EQ(wal_append_put(w, &r, &seg), 0);
        wal_record d = {.type = WAL_REC_DELETE, .id = id, .segment = seg, .tube_len = 7,
                        .body_len = r.body_len};
        ASSERT_EQ(wal_append_delete(w, &d), 0);
        ASSERT_EQ(wal_flush(w), 0);
        compact(w, jobs, NJOBS + 1);
    }
    ASSERT_LE(count_segments(dir), 12);
    ASSERT_EQ(wal_close(w), 0);
    free(seen);
    free(jobs);
    rec_list_free(&l);
    rm_dir(dir);
    free(dir);
}

/* ---- scale: recovery time (printed, not asserted) ------------------------------------------- */

static int count_cb(const wal_record *r, void *data)
{
    uint64_t *sum = data;
    *sum += r->body_len + 1;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#if defined(__SANITIZE_ADDRESS__)
#define WAL_BENCH_DEFAULT_JOBS 100000
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WAL_BENCH_DEFAULT_JOBS 100000
#endif
#endif
#ifndef WAL_BENCH_DEFAULT_JOBS
#define WAL_BENCH_DEFAULT_JOBS 1000000
#endif

TEST(recovery_of_many_jobs_is_timed)
{
    uint64_t n = WAL_BENCH_DEFAULT_JOBS;
    const char *env = getenv("WAL_BENCH_JOBS");
    if (env)
        n = strtoull(env, NULL, 10);
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 0, WAL_FSYNC_NEVER);
    wal *w = open_ok(&o, NULL);
    char body[100];
    memset(body, 'j', sizeof body);
    double t0 = now_s();
    for (uint64_t id = 1; id <= n; id++) {
        wal_record r = {.type = WAL_REC_PUT, .id = id, .pri = 1024, .ttr_s = 60,
                        .tube = "default", .tube_len = 7, .body = body,
                        .body_len = sizeof body};
        ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
        if (id % 1000 == 0)
            ASSERT_EQ(wal_flush(w), 0);
    }
    ASSERT_EQ(wal_close(w), 0);
    double t1 = now_s();
    uint64_t sum = 0;
    wal_open_report rep;
    ASSERT_EQ(wal_open(&o, count_cb, &sum, &rep, &w), 0);
    double t2 = now_s();
    ASSERT_EQ(rep.live_jobs, n);
    ASSERT_EQ(sum, n * (sizeof body + 1));
    wal_stats st;
    wal_get_stats(w, &st);
    printf("wal scale: %" PRIu64 " puts of 100-byte bodies written in %.2f s; recovered in "
           "%.2f s (%u segments, %.0f MB)\n",
           n, t1 - t0, t2 - t1, st.segments, (double)st.disk_bytes / 1e6);
    ASSERT_EQ(wal_close(w), 0);
    rm_dir(dir);
    free(dir);
}

TEST_MAIN()
