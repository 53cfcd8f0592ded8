/*
 * json: the console API's JSON (contract in json.h). The writer appends to an sq_buf and
 * reports the buffer's first error; the reader decodes into one pool as long as the text
 * (a decoded string is never longer than its escaped form), so a request allocates once.
 */
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* ---- writing ---- */

int json_put_raw(sq_buf *out, const char *s)
{
    return sq_buf_append(out, s, strlen(s));
}

int json_put_str(sq_buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    int err = sq_buf_append(out, "\"", 1);
    for (size_t i = 0; i < n && !err;) {
        unsigned char ch = p[i];
        char esc[8];
        size_t run = 0;
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\', esc[1] = (char)ch, esc[2] = '\0';
        } else if (ch == '\n' || ch == '\r' || ch == '\t') {
            esc[0] = '\\',
            esc[1] = (char)(ch == '\n'   ? 'n'
                            : ch == '\r' ? 'r'
                                         : 't'),
            esc[2] = '\0';
        } else if (ch < 0x20 || ch == 0x7F || (run = utf8_seq_len(p + i, n - i)) == 0) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
        } else {
            /* A run of plain bytes goes in one append. */
            size_t j = i + run;
            while (j < n && p[j] >= 0x20 && p[j] < 0x7F && p[j] != '"' && p[j] != '\\')
                j++;
            err = sq_buf_append(out, s + i, j - i);
            i = j;
            continue;
        }
        err = json_put_raw(out, esc);
        i++;
    }
    return err ? err : sq_buf_append(out, "\"", 1);
}

/* -?digits(.digits)?, no leading zero but "0" itself: the CLI's rule, so an id like "0755"
 * stays a string. */
static bool is_number(const char *v, size_t n)
{
    size_t i = 0;
    if (i < n && v[i] == '-')
        i++;
    if (i >= n || v[i] < '0' || v[i] > '9')
        return false;
    if (v[i] == '0' && i + 1 < n && v[i + 1] >= '0' && v[i + 1] <= '9')
        return false;
    while (i < n && v[i] >= '0' && v[i] <= '9')
        i++;
    if (i < n && v[i] == '.') {
        i++;
        if (i >= n || v[i] < '0' || v[i] > '9')
            return false;
        while (i < n && v[i] >= '0' && v[i] <= '9')
            i++;
    }
    return i == n;
}

int json_put_scalar(sq_buf *out, const char *v, size_t n)
{
    if (is_number(v, n) || (n == 4 && memcmp(v, "true", 4) == 0) ||
        (n == 5 && memcmp(v, "false", 5) == 0))
        return sq_buf_append(out, v, n);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
        return json_put_str(out, v + 1, n - 2);
    return json_put_str(out, v, n);
}

/* One "key: value" pair (the line without its indent) as "key": value; an "id" pair's value
 * goes to *id. */
static int put_pair(sq_buf *out, const char *line, size_t n, bool first, uint64_t *id)
{
    const char *colon = memchr(line, ':', n);
    if (!colon || colon == line || (size_t)(colon - line) + 1 > n)
        return -EINVAL;
    const char *v = colon + 1, *end = line + n;
    while (v < end && *v == ' ')
        v++;
    if (colon - line == 2 && memcmp(line, "id", 2) == 0) {
        *id = 0;
        for (const char *d = v; d < end && *d >= '0' && *d <= '9' && *id < UINT64_MAX / 10; d++)
            *id = *id * 10 + (uint64_t)(*d - '0');
    }
    int err = first ? 0 : sq_buf_append(out, ", ", 2);
    if (!err)
        err = json_put_str(out, line, (size_t)(colon - line));
    if (!err)
        err = sq_buf_append(out, ": ", 2);
    return err ? err : json_put_scalar(out, v, (size_t)(end - v));
}

int json_put_yaml(sq_buf *out, const char *doc, size_t n)
{
    return json_put_yaml_items(out, doc, n, NULL, NULL);
}

int json_put_yaml_items(sq_buf *out, const char *doc, size_t n, json_item_cb cb, void *data)
{
    const char *p = doc, *end = doc + n;
    uint64_t id = 0;
    if (n >= 6 && memcmp(doc, "--- []", 6) == 0)
        return json_put_raw(out, "[]");
    if (n < 4 || memcmp(doc, "---\n", 4) != 0)
        return -EINVAL;
    p += 4;
    bool list = p + 2 <= end && p[0] == '-' && p[1] == ' ';
    int err = sq_buf_append(out, list ? "[" : "{", 1);
    bool first_item = true, first_pair = true;
    while (!err && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        size_t len = (size_t)(line_end - p);
        if (list && len >= 2 && p[0] == '-' && p[1] == ' ') {
            if (!first_item && cb)
                err = cb(data, out, id);
            if (!err)
                err = json_put_raw(out, first_item ? "{" : "}, {");
            first_item = false;
            id = 0;
            first_pair = true;
            p += 2, len -= 2;
        } else if (list && len >= 2 && p[0] == ' ' && p[1] == ' ') {
            p += 2, len -= 2;
        } else if (list && len) {
            return -EINVAL;
        }
        if (!err && len) {
            err = put_pair(out, p, len, first_pair, &id);
            first_pair = false;
        }
        p = nl ? nl + 1 : end;
    }
    if (!err && cb && (!list || !first_item))
        err = cb(data, out, id);
    if (!err && list && !first_item)
        err = sq_buf_append(out, "}", 1);
    return err ? err : sq_buf_append(out, list ? "]" : "}", 1);
}

/* ---- reading ---- */

typedef struct reader {
    const char *p, *end;
    char *pool;
} reader;

static void skip_ws(reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -EINVAL;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *dst, unsigned cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xC0 | cp >> 6);
        dst[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | cp >> 12);
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | cp >> 18);
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A \u escape at r->p (after the backslash and the u): one code point, a surrogate pair
 * joined; a lone surrogate is refused (it has no UTF-8 form). */
static int read_u_escape(reader *r, unsigned *cp)
{
    if (r->end - r->p < 4 || hex4(r->p, cp))
        return -EINVAL;
    r->p += 4;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF)
        return -EINVAL;
    if (*cp >= 0xD800 && *cp <= 0xDBFF) {
        unsigned lo;
        if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || hex4(r->p + 2, &lo) ||
            lo < 0xDC00 || lo > 0xDFFF)
            return -EINVAL;
        r->p += 6;
        *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    return 0;
}

/* A string at r->p (its opening quote): decoded into the pool; *s and *n name it there. The
 * raw bytes must be valid UTF-8 without control characters, as RFC 8259 says. */
static int read_string(reader *r, const char **s, size_t *n)
{
    if (r->p >= r->end || *r->p != '"')
        return -EINVAL;
    r->p++;
    char *start = r->pool;
    while (r->p < r->end && *r->p != '"') {
        unsigned char ch = (unsigned char)*r->p;
        if (ch < 0x20)
            return -EINVAL;
        if (ch != '\\') {
            size_t len = utf8_seq_len((const unsigned char *)r->p, (size_t)(r->end - r->p));
            if (len == 0)
                return -EINVAL;
            memcpy(r->pool, r->p, len);
            r->pool += len, r->p += len;
            continue;
        }
        if (++r->p >= r->end)
            return -EINVAL;
        char e = *r->p++;
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *hit = strchr(from, e);
        if (e && hit) {
            *r->pool++ = to[hit - from];
        } else if (e == 'u') {
            unsigned cp;
            if (read_u_escape(r, &cp))
                return -EINVAL;
            r->pool += put_utf8(r->pool, cp);
        } else {
            return -EINVAL;
        }
    }
    if (r->p >= r->end)
        return -EINVAL;
    r->p++;
    *s = start;
    *n = (size_t)(r->pool - start);
    return 0;
}

static int read_value(reader *r, json_field *f)
{
    if (r->p >= r->end)
        return -EINVAL;
    static const struct {
        const char *word;
        int type;
        bool b;
    } words[] = {{"true", JSON_BOOL, true}, {"false", JSON_BOOL, false}, {"null", JSON_NULL, 0}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t wl = strlen(words[i].word);
        if ((size_t)(r->end - r->p) >= wl && memcmp(r->p, words[i].word, wl) == 0) {
            r->p += wl;
            f->type = words[i].type;
            f->b = words[i].b;
            return 0;
        }
    }
    if (*r->p == '"') {
        f->type = JSON_STRING;
        return read_string(r, &f->str, &f->len);
    }
    if (*r->p < '0' || *r->p > '9' ||
        (*r->p == '0' && r->end - r->p > 1 && r->p[1] >= '0' && r->p[1] <= '9'))
        return -EINVAL;
    uint64_t v = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        unsigned d = (unsigned)(*r->p++ - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    if (r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E'))
        return -EINVAL;
    f->type = JSON_NUMBER;
    f->num = v;
    return 0;
}

static int read_member(reader *r, json_obj *o)
{
    if (o->n == JSON_MAX_FIELDS)
        return -EINVAL;
    json_field *f = &o->fields[o->n];
    const char *key;
    size_t key_len;
    if (read_string(r, &key, &key_len) || key_len >= JSON_MAX_KEY || memchr(key, '\0', key_len))
        return -EINVAL;
    memcpy(f->key, key, key_len);
    f->key[key_len] = '\0';
    r->pool = (char *)key; /* keys are copied out: their pool bytes are reused */
    if (json_get(o, f->key))
        return -EINVAL;
    skip_ws(r);
    if (r->p >= r->end || *r->p++ != ':')
        return -EINVAL;
    skip_ws(r);
    if (read_value(r, f))
        return -EINVAL;
    o->n++;
    return 0;
}

int json_parse_object(const char *text, size_t len, json_obj *o)
{
    memset(o, 0, sizeof *o);
    char *pool = malloc(len ? len : 1);
    if (!pool)
        return -ENOMEM;
    reader r = {text, text + len, pool};
    skip_ws(&r);
    if (r.p >= r.end || *r.p++ != '{')
        goto bad;
    skip_ws(&r);
    if (r.p < r.end && *r.p == '}') {
        r.p++;
    } else {
        for (;;) {
            if (read_member(&r, o))
                goto bad;
            skip_ws(&r);
            if (r.p < r.end && *r.p == ',') {
                r.p++;
                skip_ws(&r);
                continue;
            }
            if (r.p < r.end && *r.p == '}') {
                r.p++;
                break;
            }
            goto bad;
        }
    }
    skip_ws(&r);
    if (r.p != r.end)
        goto bad;
    o->pool_ = pool;
    return 0;
bad:
    free(pool);
    memset(o, 0, sizeof *o);
    return -EINVAL;
}

void json_obj_free(json_obj *o)
{
    free(o->pool_);
    o->pool_ = NULL;
    o->n = 0;
}

const json_field *json_get(const json_obj *o, const char *key)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->fields[i].key, key) == 0)
            return &o->fields[i];
    return NULL;
}
