/*
 * Helpers shared by the WAL unit tests (test_wal.c, test_wal_faults.c): temporary
 * directories, a replay collector that copies records, deterministic job bodies.
 */
#ifndef SYNQ_TEST_WAL_HELPERS_H
#define SYNQ_TEST_WAL_HELPERS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "crc32c.h"
#include "format.h"
#include "test.h"
#include "wal.h"
#include "wal_int.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* A fresh directory, on tmpfs where the machine has one: these tests check what the log writes
 * and reads back (the system-call seam counts and fails syncs where that matters), and some
 * make thousands of directories, each of whose removal cost milliseconds on the shared machine's
 * disk, which took a test past its time limit. kill -9 and restart against a real disk is
 * the integration tests' job. */
static inline char *tmp_dir(void)
{
    struct stat st;
    char *d =
        strdup(stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm/synq-wal-test-XXXXXX"
                                                                 : "/tmp/synq-wal-test-XXXXXX");
    ASSERT_TRUE(d && mkdtemp(d));
    return d;
}

static inline void rm_dir(const char *dir)
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

static inline int count_segments(const char *dir)
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
    uint32_t delay_s, reserves, timeouts, releases, buries, kicks;
    bool has_counters;
} rec_copy;

typedef struct {
    rec_copy *v;
    size_t n, alloc;
} rec_list;

static inline int collect_cb(const wal_record *r, void *data)
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
    c->delay_s = r->delay_s;
    c->reserves = r->reserves;
    c->timeouts = r->timeouts;
    c->releases = r->releases;
    c->buries = r->buries;
    c->kicks = r->kicks;
    c->has_counters = r->has_counters;
    c->tube_len = r->tube_len;
    if (r->tube_len)
        memcpy(c->tube, r->tube, r->tube_len);
    c->body_len = r->body_len;
    c->body = malloc(r->body_len + 1);
    if (r->body_len)
        memcpy(c->body, r->body, r->body_len);
    return 0;
}

static inline void rec_list_free(rec_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].body);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static inline wal_opts opts_for(const char *dir, uint64_t seg_bytes, wal_fsync_mode mode)
{
    return (wal_opts){.dir = dir, .segment_bytes = seg_bytes, .mode = mode, .interval_ms = 100};
}

static inline wal *open_ok(const wal_opts *o, rec_list *l)
{
    wal *w = NULL;
    rec_list scratch = {0};
    int rc = wal_open(o, collect_cb, l ? l : &scratch, NULL, &w);
    ASSERT_EQ(rc, 0);
    rec_list_free(&scratch);
    return w;
}

/* A deterministic body for job id: length and bytes both depend on the id. */
static inline size_t make_body(uint64_t id, char *buf, size_t max)
{
    size_t len = (size_t)(id * 7919 % max);
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)((id * 31 + i * 17) & 0xFF);
    return len;
}

static inline wal_record put_rec(uint64_t id, char *body, size_t body_max)
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
                        .body_len = make_body(id, body, body_max),
                        .delay_s = (uint32_t)(id % 7),
                        .reserves = (uint32_t)id,
                        .timeouts = (uint32_t)(id % 3),
                        .releases = (uint32_t)(id % 5),
                        .buries = (uint32_t)(id % 2),
                        .kicks = (uint32_t)(id >> 1)};
}

static inline void assert_put_matches(const rec_copy *c, uint64_t id, size_t body_max)
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
    ASSERT_TRUE(c->has_counters);
    ASSERT_EQ(c->delay_s, want.delay_s);
    ASSERT_EQ(c->reserves, want.reserves);
    ASSERT_EQ(c->timeouts, want.timeouts);
    ASSERT_EQ(c->releases, want.releases);
    ASSERT_EQ(c->buries, want.buries);
    ASSERT_EQ(c->kicks, want.kicks);
}

static inline uint8_t *read_whole(const char *path, size_t *len)
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

static inline void write_whole(const char *path, const uint8_t *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    ASSERT_TRUE(f);
    ASSERT_EQ(fwrite(b, 1, len, f), len);
    fclose(f);
}

static inline void seg_path(const char *dir, uint32_t index, char *buf, size_t size)
{
    snprintf(buf, size, "%s/wal.%016x", dir, index);
}

/* ---- format 1 (before delay and counters were logged), written by hand ---------------------- */

/* Encodes r (PUT, STATE or DELETE) in format 1 at p; returns its size. */
static inline size_t v1_encode(uint8_t *p, const wal_record *r)
{
    uint8_t *q = p + WAL_REC_HDR_BYTES;
    size_t len = r->type == WAL_REC_PUT     ? WAL_V1_PUT_FIXED_BYTES + r->tube_len + r->body_len
                 : r->type == WAL_REC_STATE ? WAL_V1_STATE_PAYLOAD_BYTES
                                            : WAL_DELETE_PAYLOAD_BYTES;
    memset(p, 0, WAL_REC_HDR_BYTES + len);
    wal_put_u64(q, r->id);
    if (r->type == WAL_REC_PUT) {
        wal_put_u32(q + 8, r->pri);
        wal_put_u32(q + 12, r->ttr_s);
        q[16] = r->state;
        q[17] = (uint8_t)r->tube_len;
        wal_put_u64(q + 20, (uint64_t)r->deadline_wall_ms);
        wal_put_u64(q + 28, (uint64_t)r->created_wall_ms);
        memcpy(q + 36, r->tube, r->tube_len);
        if (r->body_len)
            memcpy(q + 36 + r->tube_len, r->body, r->body_len);
    } else if (r->type == WAL_REC_STATE) {
        wal_put_u32(q + 8, r->pri);
        q[12] = r->state;
        wal_put_u64(q + 16, (uint64_t)r->deadline_wall_ms);
    }
    wal_put_u32(p + 4, (uint32_t)len);
    p[8] = r->type;
    wal_put_u32(p, crc32c(0, p + 4, len + 5));
    return WAL_REC_HDR_BYTES + len;
}

/* Writes DIR/wal.<index> as a format 1 segment of seg_bytes holding recs[0..n). */
static inline void write_v1_segment(const char *dir, uint32_t index, size_t seg_bytes,
                                    const wal_record *recs, size_t n)
{
    uint8_t *b = calloc(1, seg_bytes);
    ASSERT_TRUE(b);
    wal_encode_header(b, index);
    wal_put_u32(b + 8, 1);
    wal_put_u32(b + 24, crc32c(0, b, 24));
    size_t off = WAL_HDR_BYTES;
    for (size_t i = 0; i < n; i++)
        off += v1_encode(b + off, &recs[i]);
    ASSERT_LE(off, seg_bytes);
    char path[4096];
    snprintf(path, sizeof path, "%s/wal.%016x", dir, index);
    write_whole(path, b, seg_bytes);
    free(b);
}

#endif
