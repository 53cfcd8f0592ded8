/*
 * wallclock: the wall clock synqd reads, and its test seam.
 *
 * Every delay, TTR, pause and wait runs on the loop's monotonic clock; the wall clock
 * (CLOCK_REALTIME, ms since the epoch) is read only by persist.c, to write the log's
 * deadlines and creation times as instants a later start can translate back
 * (docs/operations.md, "Time"). So a wall-clock jump moves no deadline of a running server.
 *
 * Test hook: with SYNQD_WALL_OFFSET_FILE set, each reading adds the signed number of
 * milliseconds written in that file (decimal, optional sign; a missing, empty or unreadable
 * file counts as 0, said once on stderr), re-read at every reading, so a test can jump the
 * server's wall clock without touching the machine's. Never set it in production.
 */
#ifndef SYNQ_QUEUE_WALLCLOCK_H
#define SYNQ_QUEUE_WALLCLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* The environment variable naming the offset file. */
#define WALLCLOCK_OFFSET_ENV "SYNQD_WALL_OFFSET_FILE"

typedef struct {
    const char *offset_file; /* NULL: the real clock */
    bool complained;         /* the offset file was unusable once (said so) */
} wallclock;

/* The real clock, or (with SYNQD_WALL_OFFSET_FILE set) the shifted one; says so on stderr. */
void wallclock_init_from_env(wallclock *wc);

/* Milliseconds since the epoch, shifted by the test offset if any. `data` is a wallclock
 * (the signature of persist_opts.wall_ms). */
int64_t wallclock_now_ms(void *data);

#endif
