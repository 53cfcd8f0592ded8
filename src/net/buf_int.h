/*
 * Spare blocks: how a loop's connections hold buffer memory only while they hold bytes.
 *
 * A loop keeps a few spare blocks for input and a few for output. A connection about to read
 * or write takes a spare instead of allocating; once its buffer drained it gives the block
 * back (or frees it when the loop has enough). In a single-threaded loop one input block then
 * serves every connection that consumes what it reads in the same call, as the shared read
 * buffer of libuv or nginx does, and the output blocks serve the connections whose replies
 * wait for the end of the loop pass; but the block a connection holds is its own: on_read's
 * handler may use every sq_buf call on it. A connection left with a partial frame keeps only
 * that frame's bytes, in a block of their size. Private to the engine.
 */
#ifndef SQ_BUF_INT_H
#define SQ_BUF_INT_H

#include <stddef.h>

#include "synq/buf.h"

/* Room for the spares of one kind; sq__spare_policy.slots says how many are kept. */
#define SQ__SPARE_SLOTS 64

typedef struct sq__spare {
    char *block[SQ__SPARE_SLOTS]; /* a stack: the last given back is taken first */
    size_t cap[SQ__SPARE_SLOTS];
    unsigned n;
} sq__spare;

/* Which blocks a spare keeps: from min_cap to max_cap bytes (a smaller one would only be grown
 * by whoever took it, a bigger one held for one large burst), at most `slots` of them (about
 * the connections one loop pass serves at once), so an idle loop holds at most
 * slots * max_cap bytes of them. */
typedef struct sq__spare_policy {
    size_t min_cap, max_cap;
    unsigned slots; /* at most SQ__SPARE_SLOTS */
} sq__spare_policy;

/* Gives b the room for `need` more bytes at its tail out of the last spare, when b has not
 * that room now, the spare is big enough for b's live bytes plus `need` and within b's limit:
 * the live bytes move into the spare, whose block b then owns, and b's old block is freed.
 * Else does nothing (sq_buf_reserve then allocates as usual). Never fails. */
void sq__buf_from_spare(sq_buf *b, sq__spare *s, size_t need);

/* After b's owner consumed what it could: an empty b gives its block to the spares (when the
 * policy keeps it) or frees it; a b whose live
 * bytes fill at most a quarter of a block bigger than a page moves them into a block of their
 * own size, and the old block goes the same way. Otherwise nothing changes. Out of memory only
 * skips the move. Pointers into b are invalidated. */
void sq__buf_settle(sq_buf *b, sq__spare *s, const sq__spare_policy *p);

/* Frees the spare blocks. */
void sq__spare_free(sq__spare *s);

#endif
