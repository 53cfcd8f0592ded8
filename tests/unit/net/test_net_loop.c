/*
 * Tests for src/net/loop.c and its backends: readiness dispatch, stopping
 * watchers mid-iteration, edge mode, the iteration order (events, timers,
 * hooks, deferred work), wake-up from another thread, signals and stop.
 * Built twice, against the epoll and the poll backend.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop_int.h"
#include "synq/loop.h"
#include "synq/timer.h"
#include "test.h"

static sq_loop *new_loop(void)
{
    sq_loop *loop = NULL;
    ASSERT_EQ(sq_loop_new(&loop), 0);
    ASSERT_TRUE(loop != NULL);
    return loop;
}

static void make_pipe(int fds[2])
{
    ASSERT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* An order log shared by callbacks: each appends one letter. */
static char order[64];
static void note(char c)
{
    size_t n = strlen(order);
    if (n + 1 < sizeof order) {
        order[n] = c;
        order[n + 1] = '\0';
    }
}

typedef struct {
    sq_io io;
    int calls;
    unsigned last_events;
} counted_io;

static void counted_cb(sq_loop *loop, sq_io *io, unsigned events)
{
    (void)loop;
    counted_io *c = io->data;
    c->calls++;
    c->last_events = events;
}

TEST(backend_is_the_one_asked_for)
{
    /* ctest runs this file once per backend, naming it in SQ_LOOP_BACKEND. */
    const char *want = getenv("SQ_LOOP_BACKEND");
    const char *const *names = sq_loop_backends();
    ASSERT_TRUE(names[0] != NULL);
    sq_loop *loop = new_loop();
    ASSERT_STR_EQ(sq_loop_backend(loop), want && *want ? want : names[0]);
    sq_loop_free(loop);
    bool has_poll = false;
    for (size_t i = 0; names[i]; i++) {
        ASSERT_EQ(sq_loop_new_backend(&loop, names[i]), 0);
        ASSERT_STR_EQ(sq_loop_backend(loop), names[i]);
        sq_loop_free(loop);
        has_poll |= strcmp(names[i], "poll") == 0;
    }
    ASSERT_TRUE(has_poll);
    loop = NULL;
    ASSERT_EQ(sq_loop_new_backend(&loop, "kqueue"), -ENOENT);
    ASSERT_TRUE(loop == NULL);
}

TEST(io_watcher_on_pipe_reports_read_and_write)
{
    sq_loop *loop = new_loop();
    int p[2];
    make_pipe(p);
    counted_io r = {0}, w = {0};
    sq_io_init(&r.io, p[0], counted_cb, &r);
    sq_io_init(&w.io, p[1], counted_cb, &w);
    ASSERT_EQ(sq_io_set(loop, &r.io, SQ_EV_READ), 0);
    ASSERT_EQ(sq_io_set(loop, &w.io, SQ_EV_WRITE), 0);

    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_EQ(r.calls, 0); /* nothing written yet */
    ASSERT_EQ(w.calls, 1);
    ASSERT_EQ(w.last_events, SQ_EV_WRITE);

    ASSERT_EQ(write(p[1], "x", 1), 1);
    ASSERT_EQ(sq_loop_run_once(loop, 1000), 0);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r.last_events, SQ_EV_READ);

    /* Level-triggered: still readable, so called again. */
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_EQ(r.calls, 2);

    /* Dropping WRITE interest stops the write callbacks. */
    sq_io_stop(loop, &w.io);
    int wcalls = w.calls;
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_EQ(w.calls, wcalls);

    sq_io_stop(loop, &r.io);
    close(p[0]);
    close(p[1]);
    sq_loop_free(loop);
}

TEST(io_error_on_hangup_is_reported_with_wanted_read)
{
    sq_loop *loop = new_loop();
    int p[2];
    make_pipe(p);
    counted_io r = {0};
    sq_io_init(&r.io, p[0], counted_cb, &r);
    ASSERT_EQ(sq_io_set(loop, &r.io, SQ_EV_READ), 0);
    close(p[1]);
    ASSERT_EQ(sq_loop_run_once(loop, 1000), 0);
    ASSERT_EQ(r.calls, 1);
    ASSERT_TRUE(r.last_events & SQ_EV_READ);
    sq_io_stop(loop, &r.io);
    close(p[0]);
    sq_loop_free(loop);
}

/* Two readable pipes; whichever callback runs first stops and frees the
 * other watcher. The other must never run (ASan would catch a use). */
typedef struct {
    sq_io io;
    int *calls;
    sq_io **other;
} killer_io;

static void killer_cb(sq_loop *loop, sq_io *io, unsigned events)
{
    (void)events;
    killer_io *k = io->data;
    (*k->calls)++;
    sq_io_stop(loop, io);
    if (*k->other) {
        sq_io_stop(loop, *k->other);
        free((*k->other)->data);
        *k->other = NULL;
    }
}

TEST(watcher_stopped_by_earlier_callback_is_not_dispatched)
{
    sq_loop *loop = new_loop();
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    ASSERT_EQ(write(a[1], "x", 1), 1);
    ASSERT_EQ(write(b[1], "x", 1), 1);
    int calls = 0;
    sq_io *ka_io = NULL, *kb_io = NULL;
    killer_io *ka = calloc(1, sizeof *ka), *kb = calloc(1, sizeof *kb);
    ASSERT_TRUE(ka && kb);
    sq_io_init(&ka->io, a[0], killer_cb, ka);
    sq_io_init(&kb->io, b[0], killer_cb, kb);
    ka->calls = kb->calls = &calls;
    ka_io = &ka->io;
    kb_io = &kb->io;
    ka->other = &kb_io;
    kb->other = &ka_io;
    ASSERT_EQ(sq_io_set(loop, &ka->io, SQ_EV_READ), 0);
    ASSERT_EQ(sq_io_set(loop, &kb->io, SQ_EV_READ), 0);

    ASSERT_EQ(sq_loop_run_once(loop, 1000), 0);
    ASSERT_EQ(calls, 1);
    ASSERT_TRUE((ka_io == NULL) != (kb_io == NULL));
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_EQ(calls, 1);
    free(ka_io ? ka : kb);
    close(a[0]), close(a[1]), close(b[0]), close(b[1]);
    sq_loop_free(loop);
}

TEST(edge_mode_reports_each_edge_once_on_epoll)
{
    sq_loop *loop = new_loop();
    int p[2];
    make_pipe(p);
    counted_io r = {0};
    sq_io_init(&r.io, p[0], counted_cb, &r);
    ASSERT_EQ(sq_io_set(loop, &r.io, SQ_EV_READ | SQ_EV_EDGE), 0);
    ASSERT_EQ(write(p[1], "x", 1), 1);
    ASSERT_EQ(sq_loop_run_once(loop, 1000), 0);
    ASSERT_EQ(r.calls, 1);
    /* The byte is not read. epoll's edge mode stays quiet; poll (level
     * only) reports it again, which an edge-ready callback tolerates. */
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    if (strcmp(sq_loop_backend(loop), "epoll") == 0)
        ASSERT_EQ(r.calls, 1);
    else
        ASSERT_EQ(r.calls, 2);
    int before = r.calls;
    ASSERT_EQ(write(p[1], "y", 1), 1); /* a new edge */
    ASSERT_EQ(sq_loop_run_once(loop, 1000), 0);
    ASSERT_EQ(r.calls, before + 1);
    sq_io_stop(loop, &r.io);
    close(p[0]);
    close(p[1]);
    sq_loop_free(loop);
}

TEST(run_once_with_timeout_returns_on_time)
{
    sq_loop *loop = new_loop();
    uint64_t t0 = wall_ms();
    ASSERT_EQ(sq_loop_run_once(loop, 50), 0);
    uint64_t elapsed = wall_ms() - t0;
    ASSERT_GE(elapsed, 49); /* the wall clock here is read a moment later */
    ASSERT_LT(elapsed, 500);
    ASSERT_GE(sq_loop_now_ms(loop), t0 + 49);

    t0 = wall_ms();
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_LT(wall_ms() - t0, 50);
    sq_loop_free(loop);
}

/* ---- iteration order ------------------------------------------------------ */

static void order_io_cb(sq_loop *loop, sq_io *io, unsigned events)
{
    (void)loop, (void)io, (void)events;
    note('I');
}

static void order_timer_cb(sq_loop *loop, sq_timer *t)
{
    (void)loop, (void)t;
    note('T');
}

static void hook_cb(sq_loop *loop, void *data)
{
    (void)loop;
    note(*(const char *)data);
}

typedef struct {
    sq__deferred node;
    char letter;
    sq__deferred *then; /* deferred from inside this node's run */
} letter_node;

static void letter_run(sq_loop *loop, sq__deferred *node)
{
    letter_node *ln = (letter_node *)node;
    note(ln->letter);
    if (ln->then)
        sq__loop_defer(loop, ln->then);
}

static void letter_init(letter_node *ln, char letter)
{
    memset(ln, 0, sizeof *ln);
    ln->node.run = letter_run;
    ln->letter = letter;
}

TEST(hooks_run_in_order_after_events_and_timers_then_deferred)
{
    sq_loop *loop = new_loop();
    order[0] = '\0';
    int p[2];
    make_pipe(p);
    ASSERT_EQ(write(p[1], "x", 1), 1);
    sq_io io;
    sq_io_init(&io, p[0], order_io_cb, NULL);
    ASSERT_EQ(sq_io_set(loop, &io, SQ_EV_READ), 0);
    sq_timer t;
    sq_timer_init(&t, order_timer_cb, NULL);
    ASSERT_EQ(sq_timer_start_at(loop, &t, sq_loop_now_ms(loop)), 0);
    static const char a = 'A', b = 'B';
    ASSERT_EQ(sq_loop_add_before_wait(loop, hook_cb, (void *)&a), 0);
    ASSERT_EQ(sq_loop_add_before_wait(loop, hook_cb, (void *)&b), 0);
    letter_node d;
    letter_init(&d, 'D');
    sq__loop_defer(loop, &d.node);

    ASSERT_EQ(sq_loop_run_once(loop, 1000), 0);
    ASSERT_STR_EQ(order, "ITABD");

    sq_loop_remove_before_wait(loop, hook_cb, (void *)&a);
    sq_io_stop(loop, &io);
    order[0] = '\0';
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_STR_EQ(order, "B");
    sq_loop_remove_before_wait(loop, hook_cb, (void *)&b);
    close(p[0]);
    close(p[1]);
    sq_loop_free(loop);
}

static void self_removing_hook(sq_loop *loop, void *data)
{
    note(*(const char *)data);
    sq_loop_remove_before_wait(loop, self_removing_hook, data);
}

TEST(hook_removing_itself_does_not_skip_the_next)
{
    sq_loop *loop = new_loop();
    order[0] = '\0';
    static const char a = 'A', b = 'B';
    ASSERT_EQ(sq_loop_add_before_wait(loop, self_removing_hook, (void *)&a), 0);
    ASSERT_EQ(sq_loop_add_before_wait(loop, hook_cb, (void *)&b), 0);
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_STR_EQ(order, "AB");
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_STR_EQ(order, "ABB");
    sq_loop_free(loop);
}

TEST(node_deferred_during_step_6_runs_next_iteration)
{
    sq_loop *loop = new_loop();
    order[0] = '\0';
    static const char h = 'H';
    ASSERT_EQ(sq_loop_add_before_wait(loop, hook_cb, (void *)&h), 0);
    letter_node a, b, c;
    letter_init(&a, 'a');
    letter_init(&b, 'b');
    letter_init(&c, 'c');
    a.then = &b.node;
    sq__loop_defer(loop, &a.node);
    sq__loop_defer(loop, &a.node); /* already queued: no-op */
    sq__loop_defer(loop, &c.node);
    sq__loop_undefer(loop, &c.node);
    ASSERT_EQ(c.node.queued_, 0);

    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_STR_EQ(order, "Ha");
    ASSERT_TRUE(b.node.queued_ != 0);
    /* Pending deferred work must not wait behind an indefinite wait. */
    uint64_t t0 = wall_ms();
    ASSERT_EQ(sq_loop_run_once(loop, -1), 0);
    ASSERT_LT(wall_ms() - t0, 1000);
    ASSERT_STR_EQ(order, "HaHb");
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_STR_EQ(order, "HaHbH");
    sq_loop_free(loop);
}

typedef struct {
    letter_node first;
    letter_node second;
} undefer_pair;

static void undefer_second_run(sq_loop *loop, sq__deferred *node)
{
    undefer_pair *p = (undefer_pair *)node;
    note('1');
    sq__loop_undefer(loop, &p->second.node);
}

TEST(node_undeferred_while_step_6_runs_does_not_run)
{
    sq_loop *loop = new_loop();
    order[0] = '\0';
    undefer_pair p;
    letter_init(&p.first, '1');
    letter_init(&p.second, '2');
    p.first.node.run = undefer_second_run;
    sq__loop_defer(loop, &p.first.node);
    sq__loop_defer(loop, &p.second.node);
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_STR_EQ(order, "1");
    /* The list stays usable: a new node queues and runs normally. */
    sq__loop_defer(loop, &p.second.node);
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_STR_EQ(order, "12");
    sq_loop_free(loop);
}

/* ---- stop, wake, signals -------------------------------------------------- */

static int iterations;

static void count_hook(sq_loop *loop, void *data)
{
    (void)loop, (void)data;
    iterations++;
}

static void stop_timer_cb(sq_loop *loop, sq_timer *t)
{
    (void)t;
    sq_loop_stop(loop);
}

TEST(stop_ends_run_after_the_current_iteration)
{
    sq_loop *loop = new_loop();
    iterations = 0;
    ASSERT_EQ(sq_loop_add_before_wait(loop, count_hook, NULL), 0);
    sq_timer t;
    sq_timer_init(&t, stop_timer_cb, NULL);
    ASSERT_EQ(sq_timer_start(loop, &t, 20), 0);
    ASSERT_EQ(sq_loop_run(loop), 0);
    ASSERT_TRUE(!sq_timer_active(&t));
    ASSERT_GE(iterations, 1); /* the stopping iteration still ran its hooks */
    int after_first = iterations;

    /* The loop can run again after a stop. */
    ASSERT_EQ(sq_timer_start(loop, &t, 1), 0);
    ASSERT_EQ(sq_loop_run(loop), 0);
    ASSERT_GT(iterations, after_first);
    sq_loop_free(loop);
}

static void wake_cb(sq_loop *loop, void *data)
{
    (*(int *)data)++;
    sq_loop_stop(loop);
}

typedef struct {
    sq_loop *loop;
    int rc; /* sq_loop_wake()'s */
} wake_job;

static void *wake_thread(void *arg)
{
    wake_job *job = arg;
    struct timespec ts = {0, 20L * 1000 * 1000};
    nanosleep(&ts, NULL);
    job->rc = sq_loop_wake(job->loop);
    return NULL;
}

TEST(wake_from_another_thread_runs_wake_cb)
{
    sq_loop *loop = new_loop();
    int woken = 0;
    sq_loop_set_wake_cb(loop, wake_cb, &woken);
    pthread_t th;
    wake_job job = {loop, -1};
    ASSERT_EQ(pthread_create(&th, NULL, wake_thread, &job), 0);
    ASSERT_EQ(sq_loop_run(loop), 0); /* only the wake-up can stop it */
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_EQ(job.rc, 0);
    ASSERT_EQ(woken, 1);
    sq_loop_free(loop);
}

TEST(wakes_coalesce_and_the_fd_goes_quiet)
{
    sq_loop *loop = new_loop();
    int woken = 0;
    sq_loop_set_wake_cb(loop, wake_cb, &woken);
    ASSERT_EQ(sq_loop_wake(loop), 0);
    ASSERT_EQ(sq_loop_wake(loop), 0);
    ASSERT_EQ(sq_loop_wake(loop), 0);
    ASSERT_EQ(sq_loop_run_once(loop, 1000), 0);
    ASSERT_EQ(woken, 1);
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_EQ(woken, 1);
    sq_loop_free(loop);
}

static void signal_cb(sq_loop *loop, int signo, void *data)
{
    (void)loop;
    *(int *)data = signo;
}

/* Whether the loop has taken signo over: blocked (for its signalfd), or, in a
 * portable build, given a handler (for its self-pipe). */
static int is_taken(int signo)
{
#ifdef SQ_PORTABLE
    struct sigaction sa;
    ASSERT_EQ(sigaction(signo, NULL, &sa), 0);
    return sa.sa_handler != SIG_DFL;
#else
    sigset_t cur;
    ASSERT_EQ(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
    return sigismember(&cur, signo) == 1;
#endif
}

TEST(sigusr1_is_delivered_to_the_callback)
{
    sq_loop *loop = new_loop();
    int got = 0;
    ASSERT_TRUE(!is_taken(SIGUSR1));
    ASSERT_EQ(sq_loop_watch_signal(loop, SIGUSR1, signal_cb, &got), 0);
    ASSERT_TRUE(is_taken(SIGUSR1));
    ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
    for (int i = 0; i < 10 && got == 0; i++)
        ASSERT_EQ(sq_loop_run_once(loop, 1000), 0);
    ASSERT_EQ(got, SIGUSR1);

    sq_loop_unwatch_signal(loop, SIGUSR1);
    ASSERT_TRUE(!is_taken(SIGUSR1));
    sq_loop_free(loop);
}

TEST(two_signals_share_the_loop_and_unwatch_keeps_the_other)
{
    sq_loop *loop = new_loop();
    int got1 = 0, got2 = 0;
    ASSERT_EQ(sq_loop_watch_signal(loop, SIGUSR1, signal_cb, &got1), 0);
    ASSERT_EQ(sq_loop_watch_signal(loop, SIGUSR2, signal_cb, &got2), 0);
    sq_loop_unwatch_signal(loop, SIGUSR1);
    ASSERT_TRUE(!is_taken(SIGUSR1));
    ASSERT_TRUE(is_taken(SIGUSR2));
    ASSERT_EQ(kill(getpid(), SIGUSR2), 0);
    for (int i = 0; i < 10 && got2 == 0; i++)
        ASSERT_EQ(sq_loop_run_once(loop, 1000), 0);
    ASSERT_EQ(got2, SIGUSR2);
    ASSERT_EQ(got1, 0);
    ASSERT_EQ(sq_loop_watch_signal(loop, SIGKILL, signal_cb, &got1), -EINVAL);
    sq_loop_free(loop); /* unwatches SIGUSR2 */
    ASSERT_TRUE(!is_taken(SIGUSR2));
}

#ifdef SQ_PORTABLE
/* A signal handler is process-wide: with the self-pipe, one loop per signal. */
TEST(self_pipe_signal_belongs_to_one_loop)
{
    sq_loop *a = new_loop(), *b = new_loop();
    int got = 0;
    ASSERT_STR_EQ(sq_loop_backend(a), "poll");
    ASSERT_EQ(sq_loop_watch_signal(a, SIGUSR1, signal_cb, &got), 0);
    ASSERT_EQ(sq_loop_watch_signal(b, SIGUSR1, signal_cb, &got), -EBUSY);
    sq_loop_unwatch_signal(a, SIGUSR1);
    ASSERT_EQ(sq_loop_watch_signal(b, SIGUSR1, signal_cb, &got), 0);
    ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
    for (int i = 0; i < 10 && got == 0; i++)
        ASSERT_EQ(sq_loop_run_once(b, 1000), 0);
    ASSERT_EQ(got, SIGUSR1);
    sq_loop_free(b);
    ASSERT_TRUE(!is_taken(SIGUSR1));
    sq_loop_free(a);
}
#endif

TEST(strerror_names_negative_errno)
{
    ASSERT_STR_EQ(sq_strerror(-ENOMEM), strerror(ENOMEM));
    ASSERT_STR_EQ(sq_strerror(-EAGAIN), strerror(EAGAIN));
}

TEST_MAIN()
