/*
 * fuzz_wal's reference encoder, written from docs/wal-format.md and not from wal.c, and its seed
 * generator: logs written by the real WAL API, cut into the target's input format
 * (SQ_FUZZ_WAL_SEEDS=<dir> ./fuzz_wal -runs=0 writes them; tests/fuzz/corpus_wal/ holds them).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "wal.h"
#include "wal_int.h"

#include "fuzz_wal.h"

/* ---- reference encoding, from docs/wal-format.md ------------------------------------------ */

/* Bitwise CRC-32C, independent of crc32c.c. */
uint32_t ref_crc32c(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c >> 1 ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

size_t ref_size(const wal_record *r, uint32_t version)
{
    bool v1 = version < 2;
    if (r->type == WAL_REC_PUT)
        return 9 + (v1 ? 36u : 60u) + r->tube_len + r->body_len;
    if (r->type == WAL_REC_STATE)
        return 9 + (v1 ? 24u : 48u);
    return 9 + 8;
}

static void ref_counters(unsigned char *q, const wal_record *r)
{
    const uint32_t c[6] = {r->delay_s, r->reserves, r->timeouts, r->releases, r->buries, r->kicks};
    for (int i = 0; i < 6; i++)
        wal_put_u32(q + (size_t)4 * i, c[i]);
}

/* Encodes r at p (ref_size bytes) in the layout of format `version`. */
void ref_encode(unsigned char *p, const wal_record *r, uint32_t version)
{
    bool v1 = version < 2;
    size_t n = ref_size(r, version);
    unsigned char *q = p + 9;
    memset(p, 0, n);
    wal_put_u64(q, r->id);
    if (r->type == WAL_REC_PUT) {
        size_t fixed = v1 ? 36 : 60;
        wal_put_u32(q + 8, r->pri);
        wal_put_u32(q + 12, r->ttr_s);
        q[16] = r->state;
        q[17] = (unsigned char)r->tube_len;
        wal_put_u64(q + 20, (uint64_t)r->deadline_wall_ms);
        wal_put_u64(q + 28, (uint64_t)r->created_wall_ms);
        if (!v1)
            ref_counters(q + 36, r);
        memcpy(q + fixed, r->tube, r->tube_len);
        if (r->body_len)
            memcpy(q + fixed + r->tube_len, r->body, r->body_len);
    } else if (r->type == WAL_REC_STATE) {
        wal_put_u32(q + 8, r->pri);
        q[12] = r->state;
        wal_put_u64(q + 16, (uint64_t)r->deadline_wall_ms);
        if (!v1)
            ref_counters(q + 24, r);
    }
    wal_put_u32(p + 4, (uint32_t)(n - 9));
    p[8] = r->type;
    wal_put_u32(p, ref_crc32c(p + 4, n - 4));
}

void ref_header(unsigned char *h, uint32_t index, uint32_t version)
{
    memset(h, 0, 32);
    memcpy(h, "SYNQWAL", 8);
    wal_put_u32(h + 8, version);
    wal_put_u32(h + 12, 32);
    wal_put_u64(h + 16, index);
    wal_put_u32(h + 24, ref_crc32c(h, 24));
}

/* A header with the right magic and checksum: one wal_open has to take seriously. */
bool header_sound(const unsigned char *h, size_t len)
{
    return len >= 32 && memcmp(h, "SYNQWAL", 8) == 0 && ref_crc32c(h, 24) == wal_get_u32(h + 24);
}

/* ---- seed generation: logs written by the real WAL ------------------------------------------ */

typedef struct {
    unsigned char *b;
    size_t len;      /* header and valid frames: where appending would continue */
    size_t ends[64]; /* offset after each record's frame (format 3: records come in frames) */
    size_t offs[64]; /* offset of each record */
    size_t nrecs;
} seg_image;

static void read_segment(const char *dir, uint32_t index, seg_image *s)
{
    char path[512];
    snprintf(path, sizeof path, "%s/wal.%016x", dir, index);
    FILE *f = fopen(path, "rb");
    CHECK(f);
    CHECK(fseek(f, 0, SEEK_END) == 0);
    long size = ftell(f);
    CHECK(size >= 32 && fseek(f, 0, SEEK_SET) == 0);
    s->b = malloc((size_t)size);
    CHECK(s->b && fread(s->b, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    size_t off = 32;
    s->nrecs = 0;
    wal_record r;
    long n;
    uint64_t seq, synced;
    while ((n = wal_check_frame(s->b + off, (size_t)size - off, WAL_FORMAT_VERSION, &seq,
                                &synced)) > 0) {
        size_t end = off + (size_t)n;
        for (size_t o = off + WAL_FRAME_HDR_BYTES; o < end; s->nrecs++) {
            CHECK(s->nrecs < 64);
            s->offs[s->nrecs] = o;
            s->ends[s->nrecs] = end;
            o += (size_t)wal_decode_record(s->b + o, end - o, WAL_FORMAT_VERSION, &r);
        }
        off = end;
    }
    s->len = off;
}

/* Writes one seed: selector, the split (for two-file layouts), then the bytes. */
static void emit(const char *out, const char *name, uint8_t sel, const unsigned char *a,
                 size_t alen, const unsigned char *b, size_t blen)
{
    size_t two = (sel & SEL_LAYOUT) >= LAYOUT_HDR_HDR;
    size_t len = 1 + (two ? 2 : 0) + alen + blen;
    unsigned char *buf = malloc(len);
    CHECK(buf);
    buf[0] = sel;
    if (two) {
        buf[1] = (unsigned char)alen;
        buf[2] = (unsigned char)(alen >> 8);
    }
    memcpy(buf + 1 + (two ? 2 : 0), a, alen);
    if (blen)
        memcpy(buf + 1 + (two ? 2 : 0) + alen, b, blen);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", out, name);
    write_path(path, buf, len);
    free(buf);
}

static int ignore_cb(const wal_record *r, void *data)
{
    (void)r;
    (void)data;
    return 0;
}

static wal *seed_open(void)
{
    clear_dir(false);
    wal_opts o = {.dir = g_dir, .segment_bytes = SEG_BYTES, .mode = WAL_FSYNC_NEVER, .io = &g_io};
    wal *w = NULL;
    CHECK(wal_open(&o, ignore_cb, NULL, NULL, &w) == 0);
    return w;
}

static uint32_t seed_put(wal *w, uint64_t id, const char *tube, size_t body_len, uint8_t state)
{
    char body[256];
    for (size_t i = 0; i < body_len && i < sizeof body; i++)
        body[i] = (char)('a' + (id + i) % 26);
    wal_record r = {.type = WAL_REC_PUT,
                    .id = id,
                    .pri = (uint32_t)(id * 100),
                    .ttr_s = 120,
                    .state = state,
                    .tube = tube,
                    .tube_len = strlen(tube),
                    .body = body,
                    .body_len = body_len < sizeof body ? body_len : sizeof body,
                    .created_wall_ms = 1700000000000 + (int64_t)id,
                    .deadline_wall_ms = state == WAL_STATE_DELAYED ? 1700000060000 : 0,
                    .delay_s = state == WAL_STATE_DELAYED ? 60 : 0,
                    .reserves = (uint32_t)id % 3};
    uint32_t seg = 0;
    CHECK(wal_append_put(w, &r, &seg) == 0);
    return seg;
}

/* Seeds from a small one-segment log, one frame per record (a flush after each append): every
 * layout, a torn, a corrupt and a format 1 variant. */
static void seeds_small(const char *out)
{
    wal *w = seed_open();
    seed_put(w, 1, "default", 5, WAL_STATE_READY);
    CHECK(wal_flush(w) == 0);
    uint32_t seg2 = seed_put(w, 2, "emails", 100, WAL_STATE_DELAYED);
    CHECK(wal_flush(w) == 0);
    seed_put(w, 3, "default", 0, WAL_STATE_READY);
    CHECK(wal_flush(w) == 0);
    wal_record st = {.type = WAL_REC_STATE,
                     .id = 1,
                     .pri = 5,
                     .state = WAL_STATE_BURIED,
                     .buries = 1,
                     .reserves = 1};
    CHECK(wal_append_state(w, &st) == 0);
    CHECK(wal_flush(w) == 0);
    wal_record del = {
        .type = WAL_REC_DELETE, .id = 2, .segment = seg2, .tube_len = 6, .body_len = 100};
    CHECK(wal_append_delete(w, &del) == 0);
    CHECK(wal_flush(w) == 0 && wal_close(w) == 0);
    seg_image s;
    read_segment(g_dir, 1, &s);
    CHECK(s.nrecs == 5);
    const unsigned char *recs = s.b + 32;
    size_t rlen = s.len - 32;
    emit(out, "small-hdr", LAYOUT_HDR | SEL_PAD, recs, rlen, NULL, 0);
    emit(out, "small-raw", LAYOUT_RAW | SEL_PAD, s.b, s.len, NULL, 0);
    emit(out, "small-split", LAYOUT_HDR_HDR | SEL_PAD, recs, s.ends[1] - 32, s.b + s.ends[1],
         s.len - s.ends[1]);
    emit(out, "small-cancel", LAYOUT_HDR | SEL_PAD | 2 << SEL_CANCEL_SHIFT, recs, rlen, NULL, 0);
    emit(out, "small-torn", LAYOUT_HDR, recs, rlen - 5, NULL, 0);
    unsigned char *bad = malloc(rlen);
    CHECK(bad);
    memcpy(bad, recs, rlen);
    bad[s.ends[1] - 32 - 10] ^= 0x40; /* inside job 2's body: valid records follow */
    emit(out, "small-corrupt-skip", LAYOUT_HDR | SEL_PAD | SEL_SKIP, bad, rlen, NULL, 0);
    free(bad);

    /* The same records in format 1, encoded from the decoded ones. */
    unsigned char v1[2048];
    size_t v1_len = 0;
    for (size_t i = 0; i < s.nrecs; i++) {
        size_t off = s.offs[i];
        wal_record r;
        CHECK(wal_decode_record(s.b + off, s.len - off, WAL_FORMAT_VERSION, &r) > 0);
        CHECK(v1_len + ref_size(&r, 1) <= sizeof v1);
        ref_encode(v1 + v1_len, &r, 1);
        v1_len += ref_size(&r, 1);
    }
    emit(out, "small-v1", LAYOUT_HDR | SEL_PAD | SEL_V1, v1, v1_len, NULL, 0);
    free(s.b);
}

/* Seeds from a log that filled its first segment and went on into the second. */
static void seeds_spill(const char *out)
{
    wal *w = seed_open();
    wal_stats st;
    uint64_t id = 1;
    do {
        seed_put(w, id, id % 2 ? "default" : "tube-b", 200, (uint8_t)(id % 3));
        wal_get_stats(w, &st);
        id++;
    } while (st.current_index == 1);
    seed_put(w, id, "default", 10, WAL_STATE_READY);
    wal_record del = {
        .type = WAL_REC_DELETE, .id = 1, .segment = 1, .tube_len = 7, .body_len = 200};
    CHECK(wal_append_delete(w, &del) == 0);
    CHECK(wal_flush(w) == 0 && wal_close(w) == 0);
    seg_image a, b;
    read_segment(g_dir, 1, &a);
    read_segment(g_dir, 2, &b);
    emit(out, "spill-hdr-hdr", LAYOUT_HDR_HDR, a.b + 32, a.len - 32, b.b + 32, b.len - 32);
    emit(out, "spill-hdr-raw", LAYOUT_HDR_RAW | SEL_PAD, a.b + 32, a.len - 32, b.b, b.len);
    free(a.b);
    free(b.b);
}

void fuzz_wal_generate_seeds(const char *out)
{
    seeds_small(out);
    seeds_spill(out);
    clear_dir(false);
    fprintf(stderr, "fuzz_wal: seeds written to %s\n", out);
}
