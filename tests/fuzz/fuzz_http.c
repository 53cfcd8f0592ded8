/*
 * libFuzzer target for src/synqd/http.c, the request-head reader. The input
 * is what a client sends. It is read whole, then again delivered in
 * chunks of pseudo-random sizes (drawn from a hash of the input, so a
 * crash reproduces), each call getting, as metrics.c gives it, every byte
 * not consumed yet, copied into a buffer of exactly that size so that
 * AddressSanitizer catches any read past it. Besides the sanitizers'
 * checks it asserts the contract in http.h: *used never exceeds len, a
 * request line's target lies inside the bytes passed, verdicts are final,
 * the reader never holds more than the head budget, and a chunked feed
 * reaches the verdict, the consumed length and the request line the whole
 * feed does. Each input is read twice: as the metrics reader (no flags) and as the
 * console's (HTTP_ACCEPT_POST | HTTP_REPORT_FIELDS), whose header fields must lie within the
 * line just consumed, with no blank around the value, and be the same however the bytes
 * arrive.
 */
#include "http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

/* The flags of the reader under test (LLVMFuzzerTestOneInput runs both). */
static unsigned g_flags;

typedef struct {
    http_head_result result; /* MORE when the input ran out first */
    size_t fields;           /* HTTP_HEAD_FIELD results */
    uint64_t field_sum;      /* a checksum of their offsets and lengths */
    int status;
    size_t used;
    int requests;
    size_t request_end;
    http_method method;
    size_t target_off, target_len, path_off, path_len; /* offsets into the input */
} outcome;

/* One call, with the contract checks that hold for any bytes. */
static http_head_result feed(http_head *h, const char *bytes, size_t len, size_t *used)
{
    http_head_result r = http_head_feed(h, bytes, len, used);
    CHECK(*used <= len);
    switch (r) {
    case HTTP_HEAD_REQUEST:
        CHECK(h->method == HTTP_GET || h->method == HTTP_HEAD ||
              (h->method == HTTP_POST && (g_flags & HTTP_ACCEPT_POST)));
        CHECK(h->target >= bytes && h->target_len > 0 && h->target_len <= len &&
              h->target <= bytes + len - h->target_len);
        CHECK(h->path >= h->target && h->path + h->path_len <= h->target + h->target_len);
        CHECK(h->target + h->target_len < bytes + *used); /* the line is consumed */
        break;
    case HTTP_HEAD_ERROR:
        CHECK(h->status == 400 || h->status == 405 || h->status == 431 || h->status == 505);
        break;
    case HTTP_HEAD_FIELD:
        CHECK(g_flags & HTTP_REPORT_FIELDS);
        CHECK(h->name >= bytes && h->name_len > 0 && h->name + h->name_len < bytes + *used);
        CHECK(h->value >= h->name + h->name_len && h->value + h->value_len <= bytes + *used - 2);
        CHECK(h->value_len == 0 ||
              (h->value[0] != ' ' && h->value[0] != '\t' && h->value[h->value_len - 1] != ' ' &&
               h->value[h->value_len - 1] != '\t'));
        break;
    case HTTP_HEAD_DONE:
    case HTTP_HEAD_MORE:
        break;
    default:
        abort();
    }
    if (r == HTTP_HEAD_DONE || r == HTTP_HEAD_ERROR) {
        /* Final: the same verdict again, nothing consumed. */
        size_t again;
        int status = h->status;
        CHECK(http_head_feed(h, bytes, len, &again) == r && again == 0 && h->status == status);
    }
    return r;
}

/* Runs the reader over data, delivered up to cuts[0], then cuts[1], ...,
 * then whole. cuts == NULL: all at once, straight from libFuzzer's buffer
 * (itself exactly sized). */
static outcome run(const uint8_t *data, size_t size, const size_t *cuts, size_t ncuts)
{
    outcome o;
    memset(&o, 0, sizeof o);
    http_head h;
    http_head_init_flags(&h, g_flags);
    size_t off = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t avail = i < ncuts ? cuts[i] : size;
        for (;;) {
            size_t len = avail - off, used;
            char *copy = NULL;
            const char *bytes = (const char *)data + off;
            if (cuts) {
                copy = malloc(len ? len : 1);
                CHECK(copy != NULL);
                if (len)
                    memcpy(copy, bytes, len);
                bytes = copy;
            }
            http_head_result r = feed(&h, bytes, len, &used);
            if (r == HTTP_HEAD_REQUEST) {
                CHECK(o.requests++ == 0);
                o.request_end = off + used;
                o.method = h.method;
                o.target_off = off + (size_t)(h.target - bytes);
                o.target_len = h.target_len;
                o.path_off = off + (size_t)(h.path - bytes);
                o.path_len = h.path_len;
            }
            if (r == HTTP_HEAD_FIELD) {
                o.fields++;
                o.field_sum = o.field_sum * 31 + (off + (size_t)(h.name - bytes)) * 7 +
                              h.name_len * 5 + (off + (size_t)(h.value - bytes)) * 3 + h.value_len;
            }
            if (r == HTTP_HEAD_ERROR)
                o.status = h.status;
            free(copy);
            off += used;
            o.used = off;
            o.result = r;
            if (r == HTTP_HEAD_DONE || r == HTTP_HEAD_ERROR)
                return o;
            if (r == HTTP_HEAD_MORE)
                break;
        }
    }
    return o;
}

static void check_same(const outcome *a, const outcome *b)
{
    CHECK(a->result == b->result);
    CHECK(a->status == b->status);
    CHECK(a->used == b->used);
    CHECK(a->requests == b->requests);
    CHECK(a->fields == b->fields && a->field_sum == b->field_sum);
    if (a->requests) {
        CHECK(a->request_end == b->request_end);
        CHECK(a->method == b->method);
        CHECK(a->target_off == b->target_off && a->target_len == b->target_len);
        CHECK(a->path_off == b->path_off && a->path_len == b->path_len);
    }
}

static uint64_t hash(const uint8_t *data, size_t size)
{
    uint64_t x = 14695981039346656037u; /* FNV-1a */
    for (size_t i = 0; i < size; i++)
        x = (x ^ data[i]) * 1099511628211u;
    return x;
}

static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* Cut points for chunks of random sizes: mostly small (a slow client),
 * sometimes a whole read's worth. */
static size_t random_cuts(size_t size, uint64_t seed, size_t *cuts)
{
    uint64_t state = seed | 1;
    size_t n = 0, at = 0;
    while (at < size) {
        uint64_t r = next_random(&state);
        size_t step = 1 + (size_t)((r >> 8) % ((r & 3) == 0 ? 4096 : 16));
        at = step < size - at ? at + step : size;
        cuts[n++] = at;
    }
    return n;
}

static void one_input(const uint8_t *data, size_t size)
{
    outcome whole = run(data, size, NULL, 0);
    if (whole.result == HTTP_HEAD_DONE) {
        CHECK(whole.requests == 1 && whole.used >= 4);
        CHECK(memcmp(data + whole.used - 2, "\r\n", 2) == 0);
    }
    /* The reader holds less than the head budget while it waits. */
    CHECK(whole.used <= HTTP_MAX_HEAD_BYTES);
    if (whole.result == HTTP_HEAD_MORE)
        CHECK(size < HTTP_MAX_HEAD_BYTES);

    size_t *cuts = malloc((size + 1) * sizeof *cuts);
    CHECK(cuts != NULL);
    uint64_t seed = hash(data, size);
    for (int round = 0; round < 2; round++) {
        size_t n = random_cuts(size, seed + (uint64_t)round, cuts);
        outcome chunked = run(data, size, cuts, n);
        check_same(&chunked, &whole);
    }
    if (size <= 1024) {
        for (size_t i = 0; i < size; i++)
            cuts[i] = i + 1;
        outcome bytewise = run(data, size, cuts, size);
        check_same(&bytewise, &whole);
    }
    free(cuts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned flag_sets[] = {0, HTTP_ACCEPT_POST | HTTP_REPORT_FIELDS};
    for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0]; i++) {
        g_flags = flag_sets[i];
        one_input(data, size);
    }
    return 0;
}
