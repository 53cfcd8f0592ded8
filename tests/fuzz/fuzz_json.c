/*
 * libFuzzer target for src/synqd/json.c, the console API's JSON: a request body (what any
 * page or script may POST) is parsed as one flat object, and the same bytes are written as a
 * JSON string and read back, and turned from "YAML" into JSON. Besides the sanitizers' checks
 * it asserts that a parsed object's strings lie within the pool (never longer than the
 * input), that refusals leave nothing to free, and that json_put_str's output of any bytes is
 * a string the reader accepts, giving back the bytes when they were valid UTF-8 text (a
 * byte that is not becomes its Latin-1 reading, as the CLI writes it).
 */
#include "json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

static bool valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq_len(s + i, n - i);
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_obj o;
    int r = json_parse_object((const char *)data, size, &o);
    CHECK(r == 0 || r == -22 /* EINVAL */ || r == -12 /* ENOMEM */);
    if (r == 0) {
        CHECK(o.n <= JSON_MAX_FIELDS);
        for (size_t i = 0; i < o.n; i++) {
            CHECK(strlen(o.fields[i].key) < JSON_MAX_KEY);
            if (o.fields[i].type == JSON_STRING)
                CHECK(o.fields[i].len <= size);
        }
        json_obj_free(&o);
    } else {
        CHECK(o.n == 0 && o.pool_ == NULL);
    }

    /* Any bytes as a string, wrapped in an object, read back. */
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    CHECK(json_put_raw(&b, "{\"k\": ") == 0);
    CHECK(json_put_str(&b, (const char *)data, size) == 0);
    CHECK(json_put_raw(&b, "}") == 0);
    CHECK(json_parse_object(sq_buf_peek(&b), sq_buf_len(&b), &o) == 0);
    const json_field *f = json_get(&o, "k");
    CHECK(f && f->type == JSON_STRING);
    if (valid_utf8(data, size))
        CHECK(f->len == size && memcmp(f->str, data, size) == 0);
    json_obj_free(&o);

    sq_buf_clear(&b);
    (void)json_put_yaml(&b, (const char *)data, size);
    sq_buf_free(&b);
    return 0;
}
