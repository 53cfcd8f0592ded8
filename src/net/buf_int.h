/*
 * Spare blocks: how a loop's connections hold buffer memory only while they hold bytes.
 *
 * A loop keeps at most one spare block for input and one for output. A connection about to
 * read or write takes the spare instead of allocating; once its buffer drained it gives the
 * block back (or frees it when the loop already has one). In a single-threaded loop one block
 * then serves every connection that drains what it reads in the same call, as the shared read
 * buffer of libuv or nginx does, but the block a connection holds is its own: on_read's
 * handler may use every sq_buf call on it. A connection left with a partial frame keeps only
 * that frame's bytes, in a block of their size. Private to the engine.
 */
#ifndef SQ_BUF_INT_H
#define SQ_BUF_INT_H

#include <stddef.h>

#include "synq/buf.h"

typedef struct sq__spare {
    char *block; /* NULL when the loop holds none */
    size_t cap;
} sq__spare;

/* Gives b the room for `need` more bytes at its tail out of the spare, when b has not that
 * room now, the spare is big enough for b's live bytes plus `need` and within b's limit: the
 * live bytes move into the spare, whose block b then owns, and b's old block is freed. Else
 * does nothing (sq_buf_reserve then allocates as usual). Never fails. */
void sq__buf_from_spare(sq_buf *b, sq__spare *s, size_t need);

/* After b's owner consumed what it could: an empty b gives its block to the spare (when the
 * spare is empty and the block at most max_spare bytes) or frees it; a b whose live bytes fill
 * at most a quarter of a block bigger than a page moves them into a block of their own size,
 * and the old block goes the same way. Otherwise nothing changes. Out of memory only skips the
 * move. Pointers into b are invalidated. */
void sq__buf_settle(sq_buf *b, sq__spare *s, size_t max_spare);

/* Frees the spare's block. */
void sq__spare_free(sq__spare *s);

#endif
