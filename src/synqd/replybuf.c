/*
 * replybuf: reply assembly (contract in replybuf.h). Each reply is appended whole or not at all,
 * with its exact length: a reply that fits the buffer's limit is never refused for reserving
 * more than it needs.
 */
#include "replybuf.h"

#include <stdbool.h>
#include <string.h>

#include "store.h"

/* Decimal digits of v at p; returns their count. */
static size_t fmt_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

void reply_text(reply_buf *r, const char *text, size_t len)
{
    if (r->err)
        return;
    r->err = sq_buf_append(r->buf, text, len);
}

/* "<word> <a>[ <b>]\r\n" into line (at least word_len + 44 bytes); returns its length. */
static size_t fmt_head(char *line, const char *word, size_t word_len, uint64_t a, bool with_b,
                       uint64_t b)
{
    memcpy(line, word, word_len);
    size_t n = word_len;
    line[n++] = ' ';
    n += fmt_u64(line + n, a);
    if (with_b) {
        line[n++] = ' ';
        n += fmt_u64(line + n, b);
    }
    line[n++] = '\r';
    line[n++] = '\n';
    return n;
}

void reply_num(reply_buf *r, const char *word, size_t word_len, uint64_t n)
{
    char line[64];
    reply_text(r, line, fmt_head(line, word, word_len, n, false, 0));
}

void reply_name(reply_buf *r, const char *word, size_t word_len, const char *name, size_t name_len)
{
    char line[256];
    size_t n = word_len;
    memcpy(line, word, word_len);
    line[n++] = ' ';
    memcpy(line + n, name, name_len);
    n += name_len;
    line[n++] = '\r';
    line[n++] = '\n';
    reply_text(r, line, n);
}

/* head, then body, then CRLF, as one append. */
static void reply_with_body(reply_buf *r, const char *head, size_t head_len, const char *body,
                            size_t body_len)
{
    if (r->err)
        return;
    size_t total = head_len + body_len + 2;
    char *dst;
    size_t avail;
    r->err = sq_buf_reserve(r->buf, total, &dst, &avail);
    if (r->err)
        return;
    memcpy(dst, head, head_len);
    memcpy(dst + head_len, body, body_len);
    dst[head_len + body_len] = '\r';
    dst[head_len + body_len + 1] = '\n';
    sq_buf_commit(r->buf, total);
}

void reply_job(reply_buf *r, const char *word, size_t word_len, const job *j)
{
    char head[64];
    size_t n = fmt_head(head, word, word_len, job_id(j), true, job_body_len(j));
    reply_with_body(r, head, n, job_body(j), job_body_len(j));
}

void reply_doc(reply_buf *r, const char *doc, size_t len)
{
    char head[64];
    size_t n = fmt_head(head, PROTO_WORD_OK, sizeof PROTO_WORD_OK - 1, len, false, 0);
    reply_with_body(r, head, n, doc, len);
}
