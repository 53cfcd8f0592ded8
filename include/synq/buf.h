/*
 * Growable byte buffers with cheap consume-from-front.
 *
 * Bytes live in data[head, tail). Consuming from the front only moves head;
 * the unused front is reclaimed when space is reserved at the tail (by a
 * memmove when the live bytes are few, else by growing). A buffer has a
 * limit: no operation makes it hold more than `limit` bytes of capacity,
 * so a peer cannot grow it without bound.
 */
#ifndef SYNQ_BUF_H
#define SYNQ_BUF_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sq_buf {
    char *data;
    size_t head;  /* first live byte */
    size_t tail;  /* one past the last live byte */
    size_t cap;   /* allocated bytes */
    size_t limit; /* maximum capacity */
} sq_buf;

#define SQ_BUF_NO_LIMIT ((size_t)-1)

/* An empty buffer that will never hold more than limit bytes. No
 * allocation happens until bytes are added. */
void sq_buf_init(sq_buf *b, size_t limit);

/* Frees the storage; the buffer is empty and reusable afterwards. */
void sq_buf_free(sq_buf *b);

static inline size_t sq_buf_len(const sq_buf *b)
{
    return b->tail - b->head;
}

/* The first unconsumed byte; valid until the next call that adds bytes. */
static inline char *sq_buf_peek(const sq_buf *b)
{
    return b->data + b->head;
}

/* Makes room for at least n more bytes at the tail and returns where they
 * go in *out (room available: *avail, which may exceed n). Write into it,
 * then sq_buf_commit(). Returns 0, -ENOBUFS when the limit forbids it, or
 * -ENOMEM. */
int sq_buf_reserve(sq_buf *b, size_t n, char **out, size_t *avail);

/* Marks n bytes written after sq_buf_reserve() as live. */
void sq_buf_commit(sq_buf *b, size_t n);

/* Gives memory back: when the buffer holds more than `keep` bytes of capacity and its live
 * bytes fill at most a quarter of it, moves them into a block of max(live, keep) bytes (an
 * empty buffer is freed). Otherwise does nothing. Returns 0, or -ENOMEM (buffer unchanged).
 * Pointers from sq_buf_peek and sq_buf_reserve are invalidated. */
int sq_buf_shrink(sq_buf *b, size_t keep);

/* Appends len bytes. Returns 0, -ENOBUFS or -ENOMEM; on error nothing is
 * appended. */
int sq_buf_append(sq_buf *b, const void *bytes, size_t len);

/* Appends formatted text (no terminating NUL). Same returns. */
int sq_buf_printf(sq_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sq_buf_vprintf(sq_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Drops n bytes from the front (n <= sq_buf_len). */
void sq_buf_consume(sq_buf *b, size_t n);

/* Drops everything, keeping the storage. */
void sq_buf_clear(sq_buf *b);

#ifdef __cplusplus
}
#endif

#endif
