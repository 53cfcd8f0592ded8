/*
 * libFuzzer target for src/net/codec.c. The first four input bytes choose
 * the codec parameters (delimiter, max_line, prefix width and byte order,
 * max_frame, body length and terminator, read size); the rest is a byte
 * stream from a peer. Every decoder runs over the stream twice: fed whole,
 * and fed a few bytes at a time the way reads deliver it. Each decode call
 * sees an exact-size heap copy of the visible bytes, so ASan reports any
 * read past data[len-1]. Checked invariants:
 *   - consumed <= len and every frame lies inside the input;
 *   - a line frame is at most max_line bytes, ends with the delimiter and
 *     contains no earlier delimiter; a length-prefixed frame matches its
 *     prefix and re-encodes to the same bytes; a body is followed by its
 *     terminator;
 *   - feeding whole and feeding in pieces give the same frames and the same
 *     final status;
 *   - sq_body_skip never takes more than it was offered or than remains.
 */
#include "synq/codec.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

typedef struct {
    sq_delim delim;
    size_t max_line;
    sq_lenpfx_codec lenpfx;
    sq_body_codec body;
    size_t step; /* bytes made visible per simulated read */
} fuzz_cfg;

/* Frame boundaries found in one pass: offset and length of each frame
 * payload, plus the status the pass ended with. */
typedef struct {
    size_t off[4096];
    size_t len[4096];
    size_t count;
    int final_rc;
} frame_log;

static void log_frame(frame_log *log, size_t off, size_t len)
{
    if (log->count < sizeof log->off / sizeof log->off[0]) {
        log->off[log->count] = off;
        log->len[log->count] = len;
    }
    log->count++;
}

static void compare_logs(const frame_log *a, const frame_log *b)
{
    CHECK(a->count == b->count);
    CHECK(a->final_rc == b->final_rc);
    size_t n = a->count < 4096 ? a->count : 4096;
    for (size_t i = 0; i < n; i++) {
        CHECK(a->off[i] == b->off[i]);
        CHECK(a->len[i] == b->len[i]);
    }
}

/* An exact-size copy, so reading one byte past it is an ASan report. */
static char *exact_copy(const uint8_t *src, size_t len)
{
    char *p = malloc(len ? len : 1);
    CHECK(p != NULL);
    if (len)
        memcpy(p, src, len);
    return p;
}

static void check_line(const fuzz_cfg *cfg, const char *d, size_t len, size_t fl, size_t used)
{
    size_t dl = cfg->delim == SQ_DELIM_CRLF ? 2 : 1;
    CHECK(used <= len);
    CHECK(used == fl + dl);
    CHECK(fl <= cfg->max_line);
    if (cfg->delim == SQ_DELIM_CRLF) {
        CHECK(d[fl] == '\r' && d[fl + 1] == '\n');
        for (size_t i = 0; i + 1 < fl + 1; i++)
            CHECK(!(d[i] == '\r' && d[i + 1] == '\n'));
    } else {
        char delim = cfg->delim == SQ_DELIM_LF ? '\n' : '\0';
        CHECK(d[fl] == delim);
        CHECK(memchr(d, delim, fl) == NULL);
    }
}

static void run_lines(const fuzz_cfg *cfg, const uint8_t *s, size_t len, size_t step,
                      frame_log *log)
{
    sq_line_codec c;
    sq_line_codec_init(&c, cfg->delim, cfg->max_line);
    size_t start = 0, visible = 0;
    int rc = 0;
    log->count = 0;
    while (visible < len && rc >= 0) {
        visible = len - visible > step ? visible + step : len;
        for (;;) {
            size_t n = visible - start, fl = 0, used = 0;
            char *d = exact_copy(s + start, n);
            rc = sq_line_decode(&c, d, n, &fl, &used);
            CHECK(rc == 1 || rc == 0 || rc == -EMSGSIZE);
            if (rc == 1)
                check_line(cfg, d, n, fl, used);
            free(d);
            if (rc != 1)
                break;
            log_frame(log, start, fl);
            start += used;
        }
    }
    log->final_rc = rc;
}

static void check_lenpfx(const fuzz_cfg *cfg, const char *d, size_t len, size_t hl, size_t fl,
                         size_t used)
{
    const sq_lenpfx_codec *c = &cfg->lenpfx;
    CHECK(hl == c->width);
    CHECK(fl <= c->max_frame);
    CHECK(used == hl + fl && used <= len);

    /* Encoding the payload again must give back the same bytes. */
    sq_buf out;
    sq_buf_init(&out, SQ_BUF_NO_LIMIT);
    CHECK(sq_lenpfx_encode(c, &out, d + hl, fl) == 0);
    CHECK(sq_buf_len(&out) == used);
    CHECK(memcmp(sq_buf_peek(&out), d, used) == 0);
    sq_buf_free(&out);
}

static void run_lenpfx(const fuzz_cfg *cfg, const uint8_t *s, size_t len, size_t step,
                       frame_log *log)
{
    size_t start = 0, visible = 0;
    int rc = 0;
    log->count = 0;
    while (visible < len && rc >= 0) {
        visible = len - visible > step ? visible + step : len;
        for (;;) {
            size_t n = visible - start, hl = 0, fl = 0, used = 0;
            char *d = exact_copy(s + start, n);
            rc = sq_lenpfx_decode(&cfg->lenpfx, d, n, &hl, &fl, &used);
            CHECK(rc == 1 || rc == 0 || rc == -EMSGSIZE);
            CHECK(rc != -EMSGSIZE || n >= cfg->lenpfx.width);
            if (rc == 1)
                check_lenpfx(cfg, d, n, hl, fl, used);
            free(d);
            if (rc != 1)
                break;
            log_frame(log, start + hl, fl);
            start += used;
        }
    }
    log->final_rc = rc;
}

/* One body at the front of the stream, then sq_body_skip over the same
 * stream as if the body had been rejected. */
static void run_body(const fuzz_cfg *cfg, const uint8_t *s, size_t len, size_t step, frame_log *log)
{
    const sq_body_codec *c = &cfg->body;
    size_t visible = 0;
    int rc = 0;
    log->count = 0;
    while (visible < len && rc == 0) {
        visible = len - visible > step ? visible + step : len;
        size_t used = 0;
        char *d = exact_copy(s, visible);
        rc = sq_body_decode(c, d, visible, &used);
        CHECK(rc == 1 || rc == 0 || rc == -EBADMSG);
        if (rc == 1) {
            CHECK(used == c->body_len + c->terminator_len && used <= visible);
            CHECK(memcmp(d + c->body_len, c->terminator, c->terminator_len) == 0);
            log_frame(log, 0, (size_t)c->body_len);
        }
        if (rc == -EBADMSG)
            CHECK(visible > c->body_len);
        free(d);
    }
    log->final_rc = rc;

    uint64_t remaining = c->body_len + c->terminator_len;
    size_t skipped = 0;
    for (size_t pos = 0; pos < len;) {
        size_t n = len - pos > step ? step : len - pos;
        uint64_t before = remaining;
        size_t took = sq_body_skip(&remaining, n);
        CHECK(took <= n && took <= before && remaining == before - took);
        skipped += took;
        pos += n;
    }
    size_t whole = c->body_len + c->terminator_len;
    CHECK(skipped == (len < whole ? len : whole));
}

static const char *const terminators[] = {"\r\n", "", "\n", "\r\n\r\n"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    fuzz_cfg cfg;
    static const sq_delim delims[] = {SQ_DELIM_CRLF, SQ_DELIM_LF, SQ_DELIM_NUL, SQ_DELIM_CRLF};
    static const unsigned widths[] = {1, 2, 4, 8};
    cfg.delim = delims[data[0] & 3];
    cfg.step = 1 + ((data[0] >> 2) & 7);
    cfg.max_line = data[1] == 255 ? (size_t)-1 : data[1] % 64;
    cfg.lenpfx.width = widths[data[2] & 3];
    cfg.lenpfx.big_endian = (data[2] >> 2) & 1;
    cfg.lenpfx.max_frame = (data[2] >> 3) == 31 ? UINT64_MAX : (uint64_t)(data[2] >> 3) * 8;
    cfg.body.body_len = data[3] % 48;
    cfg.body.terminator = terminators[data[3] >> 6];
    cfg.body.terminator_len = strlen(cfg.body.terminator);
    const uint8_t *s = data + 4;
    size_t len = size - 4;

    static frame_log whole, pieces;
    run_lines(&cfg, s, len, len ? len : 1, &whole);
    run_lines(&cfg, s, len, cfg.step, &pieces);
    compare_logs(&whole, &pieces);

    run_lenpfx(&cfg, s, len, len ? len : 1, &whole);
    run_lenpfx(&cfg, s, len, cfg.step, &pieces);
    compare_logs(&whole, &pieces);

    run_body(&cfg, s, len, len ? len : 1, &whole);
    run_body(&cfg, s, len, cfg.step, &pieces);
    compare_logs(&whole, &pieces);
    return 0;
}
