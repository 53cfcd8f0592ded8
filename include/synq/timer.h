/*
 * Timers with millisecond resolution, kept in a binary min-heap per loop:
 * start, re-arm and stop are O(log n); the loop finds the nearest in O(1).
 * A timer is embedded in the struct that owns it; the loop allocates only
 * when its heap array grows.
 *
 * Timers due at the same millisecond fire in the order they were started.
 * A callback may start, re-arm or stop any timer, including its own.
 */
#ifndef SYNQ_TIMER_H
#define SYNQ_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synq/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sq_timer sq_timer;
typedef void (*sq_timer_cb)(sq_loop *loop, sq_timer *timer);

struct sq_timer {
    uint64_t due_ms; /* in sq_loop_now_ms() time; valid while active */
    sq_timer_cb cb;
    void *data;
    uint64_t seq_;        /* start order, breaks ties between equal due times */
    uint32_t heap_index_; /* UINT32_MAX while inactive */
};

/* Prepares an inactive timer. */
void sq_timer_init(sq_timer *timer, sq_timer_cb cb, void *data);

/* Arms the timer to fire once, delay_ms after the loop's cached now. An
 * active timer is re-armed. Returns 0 or -ENOMEM. */
int sq_timer_start(sq_loop *loop, sq_timer *timer, uint64_t delay_ms);

/* Arms the timer to fire at due_ms (loop time); a past time fires on the
 * next iteration. Returns 0 or -ENOMEM. */
int sq_timer_start_at(sq_loop *loop, sq_timer *timer, uint64_t due_ms);

/* Disarms the timer; harmless when inactive. */
void sq_timer_stop(sq_loop *loop, sq_timer *timer);

bool sq_timer_active(const sq_timer *timer);

#ifdef __cplusplus
}
#endif

#endif
