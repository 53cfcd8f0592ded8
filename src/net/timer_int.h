/*
 * What the loop core (loop.c) needs from the timer heap (timer.c). Internal;
 * only loop.c includes it.
 */
#ifndef SQ_TIMER_INT_H
#define SQ_TIMER_INT_H

#include "synq/loop.h"

/* Makes the loop's timer heap empty (at loop creation). */
void sq__timers_init(sq_loop *loop);

/* Milliseconds until the nearest timer is due against the cached clock: 0
 * if one is already due, -1 if there is none; capped at INT32_MAX. */
int sq__timers_next_ms(const sq_loop *loop);

/* Step 4: runs the timers due at the cached clock, earliest first. Timers
 * started by these callbacks run on a later iteration at the earliest. */
void sq__timers_run(sq_loop *loop);

/* Frees the heap array (the timers belong to their owners). */
void sq__timers_free(sq_loop *loop);

#endif
