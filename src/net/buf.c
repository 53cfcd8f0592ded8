/*
 * Growable byte buffers (see include/synq/buf.h for the contract).
 *
 * Model: live bytes are data[head, tail) inside cap allocated bytes.
 * Consuming only advances head, and consuming the last live byte resets
 * head = tail = 0, so a connection that drains its buffer on every read
 * (the common case) never moves a byte. Space at the tail is made by
 * sq_buf_reserve in this order of preference:
 *
 *   1. it is already there: nothing to do;
 *   2. the dead bytes at the front would make it, and the live bytes are at
 *      most half of the capacity: slide them to the front (a cheap memmove
 *      that also stops the buffer creeping to its limit on a slow consumer);
 *   3. otherwise grow geometrically (x2, from SQ_BUF_MIN_CAP) to fit, never
 *      past limit; copying into the new block compacts at the same time.
 *
 * Failure leaves the buffer exactly as it was: allocation happens into a new
 * block before anything is changed.
 *
 * An unallocated buffer points data at a static empty array rather than at
 * NULL, so sq_buf_peek() on a fresh buffer computes data + 0 on a real
 * object (NULL + 0 is undefined behaviour and clang's UBSan aborts on it).
 */
#include "synq/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf_int.h"
#include "check.h"
#include "vec.h"

/* Smallest block allocated: one page, so small replies don't realloc
 * through 1, 2, 4... bytes. Smaller only when the limit says so. */
#define SQ_BUF_MIN_CAP ((size_t)4096)

static char sq__buf_empty[1];

static int sq__buf_is_allocated(const sq_buf *b)
{
    return b->data != NULL && b->data != sq__buf_empty;
}

void sq_buf_init(sq_buf *b, size_t limit)
{
    b->data = sq__buf_empty;
    b->head = 0;
    b->tail = 0;
    b->cap = 0;
    b->limit = limit;
}

void sq_buf_free(sq_buf *b)
{
    if (sq__buf_is_allocated(b))
        free(b->data);
    b->data = sq__buf_empty;
    b->head = 0;
    b->tail = 0;
    b->cap = 0;
}

/* The capacity to grow to for `need` bytes: at least double the current
 * size (even when need would fit after compaction, since growing is chosen
 * only when the live bytes fill most of the buffer), which keeps the total
 * copying linear in the bytes ever appended. */
static size_t sq__buf_grown_cap(const sq_buf *b, size_t need)
{
    /* A block below one page was held there by the limit: grow from a page, not from it. A
     * grown block at least doubles, even when compaction alone would have made room (the
     * caller grows instead of moving more than half the block). sq_buf_reserve checked that
     * need <= limit, and grows a block only below its limit or when need exceeds it, so the
     * capacity asked for always fits and is never 0. */
    size_t cap = b->cap >= SQ_BUF_MIN_CAP ? b->cap : 0;
    return vec_grow_cap(cap, need > cap ? need : cap + 1, SQ_BUF_MIN_CAP, b->limit, 1);
}

int sq_buf_reserve(sq_buf *b, size_t n, char **out, size_t *avail)
{
    size_t live = b->tail - b->head;

    if (b->cap - b->tail < n) {
        /* Everything is compacted to the front in the end, so the limit
         * only has to hold live + n. */
        if (n > b->limit || live > b->limit - n)
            return -ENOBUFS;
        size_t room_after_compact = b->cap - live;
        if (room_after_compact >= n && (live <= b->cap / 2 || b->cap >= b->limit)) {
            memmove(b->data, b->data + b->head, live);
        } else {
            size_t new_cap = sq__buf_grown_cap(b, live + n);
            SQ_CHECK(new_cap != 0 && new_cap >= live + n, "buf: grown capacity too small");
            char *p = malloc(new_cap);
            if (p == NULL)
                return -ENOMEM;
            if (live > 0)
                memcpy(p, b->data + b->head, live);
            if (sq__buf_is_allocated(b))
                free(b->data);
            b->data = p;
            b->cap = new_cap;
        }
        b->head = 0;
        b->tail = live;
    }
    *out = b->data + b->tail;
    *avail = b->cap - b->tail;
    return 0;
}

void sq_buf_commit(sq_buf *b, size_t n)
{
    SQ_CHECK(n <= b->cap - b->tail, "buf: commit past the reserved space");
    b->tail += n;
}

int sq_buf_append(sq_buf *b, const void *bytes, size_t len)
{
    char *dst;
    size_t avail;
    if (len == 0)
        return 0;
    int rc = sq_buf_reserve(b, len, &dst, &avail);
    if (rc < 0)
        return rc;
    memcpy(dst, bytes, len);
    b->tail += len;
    return 0;
}

/* The header declares no format attribute for the va_list variant; adding
 * it here lets the compiler check the forwarding (clang's -Wformat=2 asks
 * for it) without changing the public declaration. */
int sq_buf_vprintf(sq_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

int sq_buf_printf(sq_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sq_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* The text is formatted straight into the free tail when it fits (the usual
 * case for short replies); otherwise it is measured, space reserved, and
 * formatted again. vsnprintf always writes a NUL, which needs one byte more
 * than the text: when only that byte would break the limit, the text goes
 * through a temporary copy so a reply of exactly the remaining size fits. */
int sq_buf_vprintf(sq_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    size_t room = b->cap - b->tail;
    int n;

    va_copy(ap2, ap);
    if (room > 0)
        n = vsnprintf(b->data + b->tail, room, fmt, ap2);
    else
        n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return errno ? -errno : -EINVAL;
    size_t len = (size_t)n;
    if (len < room) {
        b->tail += len;
        return 0;
    }

    char *dst;
    size_t avail;
    int rc = len < (size_t)-1 ? sq_buf_reserve(b, len + 1, &dst, &avail) : -ENOBUFS;
    if (rc == 0) {
        va_copy(ap2, ap);
        vsnprintf(dst, len + 1, fmt, ap2);
        va_end(ap2);
        b->tail += len;
        return 0;
    }
    if (rc != -ENOBUFS)
        return rc;
    rc = sq_buf_reserve(b, len, &dst, &avail);
    if (rc < 0)
        return rc;
    char *tmp = malloc(len + 1);
    if (tmp == NULL)
        return -ENOMEM;
    va_copy(ap2, ap);
    vsnprintf(tmp, len + 1, fmt, ap2);
    va_end(ap2);
    memcpy(dst, tmp, len);
    free(tmp);
    b->tail += len;
    return 0;
}

void sq_buf_consume(sq_buf *b, size_t n)
{
    SQ_CHECK(n <= b->tail - b->head, "buf: consume of more than is buffered");
    b->head += n;
    if (b->head == b->tail) {
        b->head = 0;
        b->tail = 0;
    }
}

int sq_buf_shrink(sq_buf *b, size_t keep)
{
    size_t live = b->tail - b->head;
    if (!sq__buf_is_allocated(b) || b->cap <= keep || live > b->cap / 4)
        return 0;
    if (live == 0) {
        sq_buf_free(b);
        return 0;
    }
    size_t cap = live > keep ? live : keep;
    char *p = malloc(cap);
    if (p == NULL)
        return -ENOMEM;
    memcpy(p, b->data + b->head, live);
    free(b->data);
    b->data = p;
    b->cap = cap;
    b->head = 0;
    b->tail = live;
    return 0;
}

void sq_buf_clear(sq_buf *b)
{
    b->head = 0;
    b->tail = 0;
}

/* --- Spare blocks (buf_int.h) ------------------------------------------- */

void sq__buf_from_spare(sq_buf *b, sq__spare *s, size_t need)
{
    size_t live = b->tail - b->head;
    if (s->n == 0 || b->cap - b->tail >= need)
        return;
    size_t cap = s->cap[s->n - 1];
    if (cap > b->limit || cap < live || cap - live < need)
        return;
    char *block = s->block[--s->n];
    if (live > 0)
        memcpy(block, b->data + b->head, live);
    if (sq__buf_is_allocated(b))
        free(b->data);
    b->data = block;
    b->cap = cap;
    b->head = 0;
    b->tail = live;
}

/* A block b no longer uses becomes a spare or is freed. */
static void sq__buf_leave_block(char *block, size_t cap, sq__spare *s, const sq__spare_policy *p)
{
    if (s->n < p->slots && s->n < SQ__SPARE_SLOTS && cap >= p->min_cap && cap <= p->max_cap) {
        s->block[s->n] = block;
        s->cap[s->n++] = cap;
    } else {
        free(block);
    }
}

void sq__buf_settle(sq_buf *b, sq__spare *s, const sq__spare_policy *policy)
{
    size_t live = b->tail - b->head;
    if (!sq__buf_is_allocated(b))
        return;
    if (live == 0) {
        sq__buf_leave_block(b->data, b->cap, s, policy);
        sq_buf_init(b, b->limit);
        return;
    }
    /* A page-sized block is what holding any bytes costs anyway. */
    if (b->cap <= SQ_BUF_MIN_CAP || live > b->cap / 4)
        return;
    char *p = malloc(live);
    if (p == NULL)
        return;
    memcpy(p, b->data + b->head, live);
    sq__buf_leave_block(b->data, b->cap, s, policy);
    b->data = p;
    b->cap = live;
    b->head = 0;
    b->tail = live;
}

void sq__spare_free(sq__spare *s)
{
    while (s->n > 0)
        free(s->block[--s->n]);
}
