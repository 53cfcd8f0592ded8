/*
 * Timers: base's binary min-heap (heap.h) of sq_timer pointers per loop, ordered by
 * (due_ms, seq_). seq_ is a per-loop counter taken at every (re)start, so two
 * timers due at the same millisecond fire in the order they were started and
 * the order is total: no two heap entries ever compare equal. Each timer
 * remembers its heap_index_, which makes stop and re-arm O(log n) without a
 * search; heap_index_ == HEAP_NO_POS (UINT32_MAX) means inactive.
 *
 * sq__timers_run() (step 4 of an iteration) pops due timers one at a time
 * and deactivates each before its callback, so a callback may re-arm,
 * stop or start any timer, including its own, with the heap always valid.
 */
#include <errno.h>

#include "heap.h"
#include "loop_struct.h"
#include "timer_int.h"

static bool timer_less(const void *a, const void *b)
{
    const sq_timer *x = a, *y = b;
    if (x->due_ms != y->due_ms)
        return x->due_ms < y->due_ms;
    return x->seq_ < y->seq_;
}

static void timer_remove(sq_loop *loop, sq_timer *t)
{
    uint32_t i = t->heap_index_;
    SQ_CHECK(i < loop->timers.len && loop->timers.items[i] == t,
             "timer: stop of a timer that is not in this loop's heap");
    heap_remove(&loop->timers, i);
}

void sq__timers_init(sq_loop *loop)
{
    heap_init(&loop->timers, timer_less, offsetof(sq_timer, heap_index_));
    loop->timer_seq = 0;
}

void sq_timer_init(sq_timer *timer, sq_timer_cb cb, void *data)
{
    timer->due_ms = 0;
    timer->cb = cb;
    timer->data = data;
    timer->seq_ = 0;
    timer->heap_index_ = HEAP_NO_POS;
}

bool sq_timer_active(const sq_timer *timer)
{
    return timer->heap_index_ != HEAP_NO_POS;
}

int sq_timer_start_at(sq_loop *loop, sq_timer *timer, uint64_t due_ms)
{
    /* Grow before touching the timer so a failed start leaves an active
     * timer armed as it was. */
    if (!sq_timer_active(timer) && !heap_reserve(&loop->timers, (size_t)loop->timers.len + 1))
        return -ENOMEM;
    if (sq_timer_active(timer))
        timer_remove(loop, timer);
    timer->due_ms = due_ms;
    timer->seq_ = loop->timer_seq++;
    heap_insert(&loop->timers, timer); /* cannot fail: room reserved above */
    return 0;
}

int sq_timer_start(sq_loop *loop, sq_timer *timer, uint64_t delay_ms)
{
    uint64_t now = loop->now_ms;
    uint64_t due = delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms;
    return sq_timer_start_at(loop, timer, due);
}

void sq_timer_stop(sq_loop *loop, sq_timer *timer)
{
    if (sq_timer_active(timer))
        timer_remove(loop, timer);
}

int sq__timers_next_ms(const sq_loop *loop)
{
    const sq_timer *first = heap_peek(&loop->timers);
    if (!first)
        return -1;
    uint64_t due = first->due_ms;
    if (due <= loop->now_ms)
        return 0;
    /* now_ms is the clock truncated to whole milliseconds, and the kernel
     * sleeps at least the timeout, so waiting due - now never wakes before
     * due: the wait is effectively rounded up. */
    uint64_t wait = due - loop->now_ms;
    return wait > INT32_MAX ? INT32_MAX : (int)wait;
}

void sq__timers_run(sq_loop *loop)
{
    /* Timers started by a callback get seq_ >= limit. Stopping at the first
     * such timer means one started "now" (or in the past) by a callback
     * waits for the next iteration instead of looping here forever; any
     * older timer behind it is due later than it, so the due order holds. */
    uint64_t limit = loop->timer_seq;
    sq_timer *t;
    while ((t = heap_peek(&loop->timers))) {
        if (t->due_ms > loop->now_ms || t->seq_ >= limit)
            break;
        heap_remove(&loop->timers, 0);
        t->cb(loop, t);
    }
}

void sq__timers_free(sq_loop *loop)
{
    heap_dispose(&loop->timers);
}
