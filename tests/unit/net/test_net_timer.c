/*
 * Tests for src/net/timer.c through the public timer API and the loop's
 * step 4. Built twice (epoll and poll backends). Most tests arm timers at
 * absolute times at or before the loop's clock so they fire on the next
 * iteration without sleeping; the timing tests check "never early".
 */
#include <stdlib.h>

#include "synq/loop.h"
#include "synq/timer.h"
#include "test.h"

#define MAX_LOG 16

typedef struct {
    int ids[MAX_LOG];
    int n;
} fire_log;

typedef struct {
    sq_timer timer;
    int id;
    fire_log *log;
} tagged_timer;

static void log_cb(sq_loop *loop, sq_timer *t)
{
    (void)loop;
    tagged_timer *tt = t->data;
    if (tt->log->n < MAX_LOG)
        tt->log->ids[tt->log->n++] = tt->id;
}

static void tag(tagged_timer *tt, int id, fire_log *log)
{
    sq_timer_init(&tt->timer, log_cb, tt);
    tt->id = id;
    tt->log = log;
}

static sq_loop *new_loop(void)
{
    sq_loop *loop = NULL;
    ASSERT_EQ(sq_loop_new(&loop), 0);
    ASSERT_TRUE(loop != NULL);
    return loop;
}

TEST(timers_fire_in_due_order_and_ties_in_start_order)
{
    sq_loop *loop = new_loop();
    fire_log log = {0};
    tagged_timer t[5];
    for (int i = 0; i < 5; i++)
        tag(&t[i], i, &log);
    uint64_t now = sq_loop_now_ms(loop);
    ASSERT_EQ(sq_timer_start_at(loop, &t[0].timer, now - 1), 0);
    ASSERT_EQ(sq_timer_start_at(loop, &t[1].timer, now - 3), 0);
    ASSERT_EQ(sq_timer_start_at(loop, &t[2].timer, now - 2), 0);
    ASSERT_EQ(sq_timer_start_at(loop, &t[3].timer, now - 3), 0); /* ties with t[1] */
    ASSERT_EQ(sq_timer_start_at(loop, &t[4].timer, now - 1), 0); /* ties with t[0] */
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_EQ(log.n, 5);
    int want[5] = {1, 3, 2, 0, 4};
    for (int i = 0; i < 5; i++)
        ASSERT_EQ(log.ids[i], want[i]);
    for (int i = 0; i < 5; i++)
        ASSERT_TRUE(!sq_timer_active(&t[i].timer));
    sq_loop_free(loop);
}

TEST(timers_with_delays_fire_in_due_order_never_early)
{
    sq_loop *loop = new_loop();
    fire_log log = {0};
    tagged_timer t[3];
    for (int i = 0; i < 3; i++)
        tag(&t[i], i, &log);
    uint64_t start = sq_loop_now_ms(loop);
    ASSERT_EQ(sq_timer_start(loop, &t[0].timer, 30), 0);
    ASSERT_EQ(sq_timer_start(loop, &t[1].timer, 10), 0);
    ASSERT_EQ(sq_timer_start(loop, &t[2].timer, 20), 0);
    uint64_t fired_at[3] = {0};
    for (int iter = 0; iter < 100 && log.n < 3; iter++) {
        int before = log.n;
        ASSERT_EQ(sq_loop_run_once(loop, -1), 0);
        for (int k = before; k < log.n; k++)
            fired_at[k] = sq_loop_now_ms(loop);
    }
    ASSERT_EQ(log.n, 3);
    ASSERT_EQ(log.ids[0], 1);
    ASSERT_EQ(log.ids[1], 2);
    ASSERT_EQ(log.ids[2], 0);
    ASSERT_GE(fired_at[0], start + 10);
    ASSERT_GE(fired_at[1], start + 20);
    ASSERT_GE(fired_at[2], start + 30);
    sq_loop_free(loop);
}

TEST(stopped_timer_does_not_fire)
{
    sq_loop *loop = new_loop();
    fire_log log = {0};
    tagged_timer a, b;
    tag(&a, 1, &log);
    tag(&b, 2, &log);
    uint64_t now = sq_loop_now_ms(loop);
    ASSERT_EQ(sq_timer_start_at(loop, &a.timer, now), 0);
    ASSERT_EQ(sq_timer_start_at(loop, &b.timer, now), 0);
    ASSERT_TRUE(sq_timer_active(&a.timer));
    sq_timer_stop(loop, &a.timer);
    ASSERT_TRUE(!sq_timer_active(&a.timer));
    sq_timer_stop(loop, &a.timer); /* harmless when inactive */
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_EQ(log.n, 1);
    ASSERT_EQ(log.ids[0], 2);
    sq_loop_free(loop);
}

TEST(rearming_an_active_timer_moves_it)
{
    sq_loop *loop = new_loop();
    fire_log log = {0};
    tagged_timer a, b;
    tag(&a, 1, &log);
    tag(&b, 2, &log);
    uint64_t now = sq_loop_now_ms(loop);
    ASSERT_EQ(sq_timer_start_at(loop, &a.timer, now - 5), 0);
    ASSERT_EQ(sq_timer_start_at(loop, &b.timer, now - 3), 0);
    ASSERT_EQ(sq_timer_start_at(loop, &a.timer, now - 1), 0); /* later than b now */
    ASSERT_EQ(a.timer.due_ms, now - 1);
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_EQ(log.n, 2);
    ASSERT_EQ(log.ids[0], 2);
    ASSERT_EQ(log.ids[1], 1);

    /* Re-arming far into the future keeps it from firing at all. */
    ASSERT_EQ(sq_timer_start_at(loop, &a.timer, sq_loop_now_ms(loop)), 0);
    ASSERT_EQ(sq_timer_start(loop, &a.timer, 100000), 0);
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_EQ(log.n, 2);
    ASSERT_TRUE(sq_timer_active(&a.timer));
    sq_timer_stop(loop, &a.timer);
    sq_loop_free(loop);
}

typedef struct {
    sq_timer timer;
    int count;
    int limit;
    uint64_t delay_ms;
} self_rearming;

static void rearm_cb(sq_loop *loop, sq_timer *t)
{
    self_rearming *s = t->data;
    ASSERT_TRUE(!sq_timer_active(t)); /* inactive inside its own callback */
    if (++s->count < s->limit)
        ASSERT_EQ(sq_timer_start(loop, t, s->delay_ms), 0);
}

TEST(timer_rearming_itself_fires_repeatedly)
{
    sq_loop *loop = new_loop();
    self_rearming s = {.count = 0, .limit = 4, .delay_ms = 2};
    sq_timer_init(&s.timer, rearm_cb, &s);
    uint64_t start = sq_loop_now_ms(loop);
    ASSERT_EQ(sq_timer_start(loop, &s.timer, 2), 0);
    for (int i = 0; i < 100 && s.count < 4; i++)
        ASSERT_EQ(sq_loop_run_once(loop, -1), 0);
    ASSERT_EQ(s.count, 4);
    ASSERT_GE(sq_loop_now_ms(loop), start + 8);
    ASSERT_TRUE(!sq_timer_active(&s.timer));
    sq_loop_free(loop);
}

TEST(timer_rearmed_for_now_runs_next_iteration_not_in_a_loop)
{
    sq_loop *loop = new_loop();
    self_rearming s = {.count = 0, .limit = 1000, .delay_ms = 0};
    sq_timer_init(&s.timer, rearm_cb, &s);
    ASSERT_EQ(sq_timer_start(loop, &s.timer, 0), 0);
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_EQ(s.count, 1);
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_EQ(s.count, 2);
    ASSERT_TRUE(sq_timer_active(&s.timer));
    sq_timer_stop(loop, &s.timer);
    sq_loop_free(loop);
}

typedef struct {
    sq_timer timer;
    sq_timer *victim;
    int fired;
} stopper;

static void stopper_cb(sq_loop *loop, sq_timer *t)
{
    stopper *s = t->data;
    s->fired++;
    if (s->victim)
        sq_timer_stop(loop, s->victim);
}

TEST(timer_callback_stopping_another_due_timer_prevents_it)
{
    sq_loop *loop = new_loop();
    stopper a = {0}, b = {0};
    sq_timer_init(&a.timer, stopper_cb, &a);
    sq_timer_init(&b.timer, stopper_cb, &b);
    a.victim = &b.timer;
    uint64_t now = sq_loop_now_ms(loop);
    ASSERT_EQ(sq_timer_start_at(loop, &a.timer, now - 2), 0);
    ASSERT_EQ(sq_timer_start_at(loop, &b.timer, now - 1), 0);
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_EQ(a.fired, 1);
    ASSERT_EQ(b.fired, 0);
    ASSERT_TRUE(!sq_timer_active(&b.timer));
    sq_loop_free(loop);
}

/* ---- 10k random timers ---------------------------------------------------- */

enum { RANDOM_TIMERS = 10000 };

typedef struct {
    sq_timer timer;
    int stopped;
} rnd_timer;

static uint64_t last_due, last_seq;
static int fired_count, order_errors;

static void random_cb(sq_loop *loop, sq_timer *t)
{
    (void)loop;
    rnd_timer *r = t->data;
    if (r->stopped)
        order_errors++;
    if (fired_count > 0 && (t->due_ms < last_due || (t->due_ms == last_due && t->seq_ <= last_seq)))
        order_errors++;
    last_due = t->due_ms;
    last_seq = t->seq_;
    fired_count++;
}

TEST(ten_thousand_random_timers_fire_in_order)
{
    sq_loop *loop = new_loop();
    rnd_timer *timers = calloc(RANDOM_TIMERS, sizeof *timers);
    ASSERT_TRUE(timers != NULL);
    srand(12345);
    uint64_t now = sq_loop_now_ms(loop);
    /* Due times in the past so everything fires on the next iteration;
     * the range is small so there are many ties. */
    for (int i = 0; i < RANDOM_TIMERS; i++) {
        sq_timer_init(&timers[i].timer, random_cb, &timers[i]);
        ASSERT_EQ(sq_timer_start_at(loop, &timers[i].timer, now - 1 - (uint64_t)(rand() % 500)), 0);
    }
    int expected = RANDOM_TIMERS;
    for (int i = 0; i < RANDOM_TIMERS; i++) {
        int k = rand() % RANDOM_TIMERS;
        switch (rand() % 3) {
        case 0: /* stop */
            if (!timers[k].stopped) {
                sq_timer_stop(loop, &timers[k].timer);
                timers[k].stopped = 1;
                expected--;
            }
            break;
        case 1: /* re-arm (revives a stopped one) */
            if (timers[k].stopped) {
                timers[k].stopped = 0;
                expected++;
            }
            ASSERT_EQ(sq_timer_start_at(loop, &timers[k].timer, now - 1 - (uint64_t)(rand() % 500)),
                      0);
            break;
        default:
            break;
        }
    }
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_EQ(order_errors, 0);
    ASSERT_EQ(fired_count, expected);
    for (int i = 0; i < RANDOM_TIMERS; i++)
        ASSERT_TRUE(!sq_timer_active(&timers[i].timer));
    free(timers);
    sq_loop_free(loop);
}

TEST_MAIN()
