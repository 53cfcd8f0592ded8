/*
 * Timers: a binary min-heap of sq_timer pointers per loop, ordered by
 * (due_ms, seq_). seq_ is a per-loop counter taken at every (re)start, so two
 * timers due at the same millisecond fire in the order they were started and
 * the order is total: no two heap entries ever compare equal. Each timer
 * remembers its heap_index_, which makes stop and re-arm O(log n) without a
 * search; heap_index_ == SIZE_MAX means inactive.
 *
 * sq__timers_run() (step 4 of an iteration) pops due timers one at a time
 * and deactivates each before its callback, so a callback may re-arm,
 * stop or start any timer, including its own, with the heap always valid.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "loop_struct.h"
#include "timer_int.h"

static int timer_less(const sq_timer *a, const sq_timer *b)
{
    if (a->due_ms != b->due_ms)
        return a->due_ms < b->due_ms;
    return a->seq_ < b->seq_;
}

static void heap_place(sq_loop *loop, size_t i, sq_timer *t)
{
    loop->timer_heap[i] = t;
    t->heap_index_ = i;
}

static void sift_up(sq_loop *loop, size_t i)
{
    sq_timer *t = loop->timer_heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_less(t, loop->timer_heap[parent]))
            break;
        heap_place(loop, i, loop->timer_heap[parent]);
        i = parent;
    }
    heap_place(loop, i, t);
}

static void sift_down(sq_loop *loop, size_t i)
{
    sq_timer *t = loop->timer_heap[i];
    size_t n = loop->timer_count;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && timer_less(loop->timer_heap[child + 1], loop->timer_heap[child]))
            child++;
        if (!timer_less(loop->timer_heap[child], t))
            break;
        heap_place(loop, i, loop->timer_heap[child]);
        i = child;
    }
    heap_place(loop, i, t);
}

static void heap_remove(sq_loop *loop, sq_timer *t)
{
    size_t i = t->heap_index_;
    assert(i < loop->timer_count && loop->timer_heap[i] == t);
    size_t last = --loop->timer_count;
    t->heap_index_ = SIZE_MAX;
    if (i == last)
        return;
    /* The former last element may belong above or below position i. */
    sq_timer *moved = loop->timer_heap[last];
    heap_place(loop, i, moved);
    if (i > 0 && timer_less(moved, loop->timer_heap[(i - 1) / 2]))
        sift_up(loop, i);
    else
        sift_down(loop, i);
}

void sq_timer_init(sq_timer *timer, sq_timer_cb cb, void *data)
{
    timer->due_ms = 0;
    timer->cb = cb;
    timer->data = data;
    timer->seq_ = 0;
    timer->heap_index_ = SIZE_MAX;
}

bool sq_timer_active(const sq_timer *timer)
{
    return timer->heap_index_ != SIZE_MAX;
}

int sq_timer_start_at(sq_loop *loop, sq_timer *timer, uint64_t due_ms)
{
    /* Grow before touching the timer so a failed start leaves an active
     * timer armed as it was. */
    if (!sq_timer_active(timer) && loop->timer_count == loop->timer_cap) {
        size_t cap = loop->timer_cap ? loop->timer_cap * 2 : 16;
        sq_timer **heap = realloc(loop->timer_heap, cap * sizeof *heap);
        if (!heap)
            return -ENOMEM;
        loop->timer_heap = heap;
        loop->timer_cap = cap;
    }
    if (sq_timer_active(timer))
        heap_remove(loop, timer);
    timer->due_ms = due_ms;
    timer->seq_ = loop->timer_seq++;
    size_t i = loop->timer_count++;
    heap_place(loop, i, timer);
    sift_up(loop, i);
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
        heap_remove(loop, timer);
}

int sq__timers_next_ms(const sq_loop *loop)
{
    if (loop->timer_count == 0)
        return -1;
    uint64_t due = loop->timer_heap[0]->due_ms;
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
    while (loop->timer_count > 0) {
        sq_timer *t = loop->timer_heap[0];
        if (t->due_ms > loop->now_ms || t->seq_ >= limit)
            break;
        heap_remove(loop, t);
        t->cb(loop, t);
    }
}

void sq__timers_free(sq_loop *loop)
{
    free(loop->timer_heap);
    loop->timer_heap = NULL;
    loop->timer_count = loop->timer_cap = 0;
}
