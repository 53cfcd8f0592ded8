/*
 * The loop core: the iteration order of loop.h, the cached clock, watcher
 * bookkeeping, before-wait hooks, the deferred-work list of step 6, the
 * cross-thread wake-up and signal delivery. Everything kernel-specific about
 * waiting lives in the backend (loop_epoll.c, loop_uring.c or loop_poll.c),
 * picked per loop; this file sees it only through the sq__backend table of
 * loop_int.h.
 *
 * One iteration (sq_loop_run_once):
 *   read the clock, compute the wait from the nearest timer (0 when deferred
 *   work is queued), let the backend wait, refresh the clock and dispatch
 *   ready watchers, then run due timers, before-wait hooks and deferred work.
 *
 * Stale events: a watcher stopped during an iteration must not be called for
 * an event the backend collected before the stop, and its memory may already
 * be freed. The backends therefore forget every collected event for a
 * watcher when it is removed (backend->set with 0), so dispatch never
 * touches a stopped watcher.
 *
 * The wake-up and the signals are ordinary watchers owned by the loop: an
 * eventfd (a pipe where there is none) and, in loop_signal.c, one signalfd
 * for every watched signal (a self-pipe where there is none).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop_struct.h"
#include "timer_int.h"
#include "vec.h"

#ifdef SQ__HAVE_EVENTFD /* decided in loop_struct.h */
#include <sys/eventfd.h>
#endif

/* ---- clock ---------------------------------------------------------------- */

uint64_t sq_loop_now_ms(const sq_loop *loop)
{
    return loop->now_ms;
}

void sq_loop_update_time(sq_loop *loop)
{
    struct timespec ts;
    /* CLOCK_MONOTONIC cannot fail with a valid clock id and pointer. The
     * value is truncated to whole milliseconds; timer.c relies on that to
     * never fire a timer early. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    loop->now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *sq_loop_backend(const sq_loop *loop)
{
    return loop->backend->name;
}

/* ---- backends ------------------------------------------------------------- */

#ifndef SQ_DEFAULT_BACKEND
#define SQ_DEFAULT_BACKEND "epoll"
#endif

static const sq__backend *const backends[] = {
#ifdef SQ__HAVE_EPOLL
    &sq__backend_epoll,
#endif
#ifdef SQ__HAVE_URING
    &sq__backend_uring,
#endif
    &sq__backend_poll,
};
enum { NBACKENDS = sizeof backends / sizeof backends[0] };

static const sq__backend *backend_named(const char *name)
{
    for (size_t i = 0; i < NBACKENDS; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

static const char *backend_names[NBACKENDS + 1];

/* The build's default, or the first backend when the default is not in this
 * build (SQ_DEFAULT_BACKEND "epoll" on a system without epoll). */
static const sq__backend *default_backend(void)
{
    const sq__backend *def = backend_named(SQ_DEFAULT_BACKEND);
    return def ? def : backends[0];
}

static void fill_backend_names(void)
{
    const sq__backend *def = default_backend();
    size_t n = 0;
    if (def)
        backend_names[n++] = def->name;
    for (size_t i = 0; i < NBACKENDS; i++)
        if (backends[i] != def)
            backend_names[n++] = backends[i]->name;
    backend_names[n] = NULL;
}

const char *const *sq_loop_backends(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT; /* loops live on many threads */
    pthread_once(&once, fill_backend_names);
    return backend_names;
}

const char *sq_strerror(int err)
{
    return strerror(err < 0 ? -err : err);
}

/* ---- watchers ------------------------------------------------------------- */

void sq_io_init(sq_io *io, int fd, sq_io_cb cb, void *data)
{
    io->fd = fd;
    io->cb = cb;
    io->data = data;
    io->events_ = 0;
    io->registered_ = 0;
    io->slot_ = -1;
}

int sq_io_set(sq_loop *loop, sq_io *io, unsigned events)
{
    events &= SQ_EV_READ | SQ_EV_WRITE | SQ_EV_EDGE;
    /* Edge mode alone asks for nothing: treat it as "stop watching". */
    if ((events & (SQ_EV_READ | SQ_EV_WRITE)) == 0) {
        sq_io_stop(loop, io);
        return 0;
    }
    if (events == io->registered_) {
        io->events_ = events;
        return 0;
    }
    int rc = loop->backend->set(loop, io, events);
    if (rc < 0)
        return rc;
    io->events_ = events;
    return 0;
}

void sq_io_stop(sq_loop *loop, sq_io *io)
{
    io->events_ = 0;
    if (io->registered_ != 0)
        loop->backend->set(loop, io, 0);
}

void sq__loop_dispatch(sq_loop *loop, sq_io *io, unsigned events)
{
    /* The backend never hands over a stopped watcher (see "stale events"),
     * so io is live here; registered_ is checked only as a cheap guard. */
    if (io->registered_ == 0)
        return;
    unsigned wanted = io->events_ & (SQ_EV_READ | SQ_EV_WRITE);
    /* An error or hang-up is also reported as the wanted events, so a
     * callback that only reads still reads, and sees EOF or the error. */
    if (events & SQ_EV_ERROR)
        events |= wanted;
    events &= wanted | SQ_EV_ERROR;
    if (events != 0)
        io->cb(loop, io, events);
}

/* ---- deferred work (step 6) ----------------------------------------------- */

enum { DEFER_IDLE = 0, DEFER_WAITING = 1, DEFER_RUNNING = 2 };

void sq__loop_defer(sq_loop *loop, sq__deferred *node)
{
    if (node->queued_)
        return;
    list_append(&loop->deferred, &node->link_);
    node->queued_ = DEFER_WAITING;
}

void sq__loop_undefer(sq_loop *loop, sq__deferred *node)
{
    if (!node->queued_)
        return;
    list_remove(node->queued_ == DEFER_RUNNING ? &loop->running : &loop->deferred, &node->link_);
    node->queued_ = DEFER_IDLE;
}

static void run_deferred(sq_loop *loop)
{
    if (list_empty(&loop->deferred))
        return;
    /* Move the whole list aside (a list head is a plain value: nothing points back at it):
     * what is deferred while it drains lands on the (now empty) waiting list and runs in the
     * next iteration. */
    loop->running = loop->deferred;
    loop->deferred = (list){0};
    for (list_node *n = loop->running.first; n; n = n->next)
        LIST_ENTRY(n, sq__deferred, link_)->queued_ = DEFER_RUNNING;

    while (!list_empty(&loop->running)) {
        sq__deferred *node = LIST_ENTRY(loop->running.first, sq__deferred, link_);
        sq__loop_undefer(loop, node);
        node->run(loop, node);
    }
}

/* ---- before-wait hooks (step 5) ------------------------------------------- */

int sq_loop_add_before_wait(sq_loop *loop, sq_hook_cb cb, void *data)
{
    if (!cb)
        return -EINVAL;
    sq__hook *hooks =
        vec_grow(loop->hooks, &loop->hook_cap, loop->hook_count + 1, sizeof *hooks, 4, SIZE_MAX);
    if (!hooks)
        return -ENOMEM;
    loop->hooks = hooks;
    loop->hooks[loop->hook_count++] = (sq__hook){cb, data};
    return 0;
}

void sq_loop_remove_before_wait(sq_loop *loop, sq_hook_cb cb, void *data)
{
    for (size_t i = 0; i < loop->hook_count; i++) {
        if (loop->hooks[i].cb != cb || loop->hooks[i].data != data)
            continue;
        memmove(&loop->hooks[i], &loop->hooks[i + 1],
                (loop->hook_count - i - 1) * sizeof loop->hooks[0]);
        loop->hook_count--;
        /* Keep the running step 5 pointing at the same next hook. */
        if (loop->hook_next != SIZE_MAX && i < loop->hook_next)
            loop->hook_next--;
        return;
    }
}

static void run_hooks(sq_loop *loop)
{
    loop->hook_next = 0;
    while (loop->hook_next < loop->hook_count) {
        /* Copy first: the hook may add hooks and move the array. */
        sq__hook h = loop->hooks[loop->hook_next++];
        h.cb(loop, h.data);
    }
    loop->hook_next = SIZE_MAX;
}

/* ---- wake-up -------------------------------------------------------------- */

int sq__pipe(int fds[2])
{
    /* pipe2 is not POSIX: set the flags one by one. */
    if (pipe(fds) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        if (fcntl(fds[i], F_SETFL, O_NONBLOCK) < 0 || fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0) {
            int err = -errno;
            close(fds[0]);
            close(fds[1]);
            return err;
        }
    }
    return 0;
}

static void wake_io_cb(sq_loop *loop, sq_io *io, unsigned events)
{
    (void)events;
    /* Drain so the level-triggered watcher goes quiet; several wakes before
     * this point coalesce into this one callback. */
#ifdef SQ__HAVE_EVENTFD
    uint64_t count; /* one 8-byte read empties an eventfd */
    if (read(io->fd, &count, sizeof count) < 0 && errno != EAGAIN)
        return; /* cannot happen on a live eventfd; never spin on it */
#else
    char drain[64];
    while (read(io->fd, drain, sizeof drain) > 0)
        continue;
#endif
    if (loop->wake_cb)
        loop->wake_cb(loop, loop->wake_data);
}

static int wake_open(sq_loop *loop)
{
#ifdef SQ__HAVE_EVENTFD
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    loop->wake_wfd = fd;
#else
    int fds[2];
    int rc = sq__pipe(fds);
    if (rc < 0)
        return rc;
    int fd = fds[0];
    loop->wake_wfd = fds[1];
#endif
    sq_io_init(&loop->wake_io, fd, wake_io_cb, NULL);
#ifdef SQ__HAVE_EVENTFD
    int rc;
#endif
    rc = sq_io_set(loop, &loop->wake_io, SQ_EV_READ);
    if (rc < 0) {
        close(fd);
        if (loop->wake_wfd != fd)
            close(loop->wake_wfd);
        loop->wake_io.fd = loop->wake_wfd = -1;
    }
    return rc;
}

static void wake_close(sq_loop *loop)
{
    if (loop->wake_io.fd < 0)
        return;
    sq_io_stop(loop, &loop->wake_io);
    close(loop->wake_io.fd);
    if (loop->wake_wfd != loop->wake_io.fd)
        close(loop->wake_wfd);
    loop->wake_io.fd = loop->wake_wfd = -1;
}

void sq_loop_set_wake_cb(sq_loop *loop, sq_wake_cb cb, void *data)
{
    loop->wake_cb = cb;
    loop->wake_data = data;
}

int sq_loop_wake(sq_loop *loop)
{
    /* Only write(2) here: async-signal-safe, and errno is preserved for the
     * interrupted code when called from a signal handler. */
    int saved = errno;
    int rc = 0;
#ifdef SQ__HAVE_EVENTFD
    uint64_t one = 1;
    ssize_t n = write(loop->wake_wfd, &one, sizeof one);
#else
    char one = 1;
    ssize_t n = write(loop->wake_wfd, &one, 1);
#endif
    /* EAGAIN: the counter or pipe is full, so a wake-up is pending anyway. */
    if (n < 0 && errno != EAGAIN)
        rc = -errno;
    errno = saved;
    return rc;
}

/* ---- lifetime and iteration ----------------------------------------------- */

int sq_loop_new(sq_loop **out)
{
    return sq_loop_new_backend(out, NULL);
}

int sq_loop_new_backend(sq_loop **out, const char *name)
{
    if (!name)
        name = getenv("SQ_LOOP_BACKEND");
    const sq__backend *backend = name && *name ? backend_named(name) : default_backend();
    if (!backend)
        return -ENOENT;
    sq_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return -ENOMEM;
    loop->backend = backend;
    loop->hook_next = SIZE_MAX;
    sq__timers_init(loop);
    loop->wake_io.fd = loop->wake_wfd = -1;
    loop->signal_io.fd = loop->signal_wfd = -1;
    sigemptyset(&loop->signal_mask);
    sq_loop_update_time(loop);

    int rc = loop->backend->init(loop);
    if (rc < 0) {
        free(loop);
        return rc;
    }
    rc = wake_open(loop);
    if (rc < 0) {
        loop->backend->free(loop);
        free(loop);
        return rc;
    }
    *out = loop;
    return 0;
}

void sq_loop_free(sq_loop *loop)
{
    if (!loop)
        return;
    /* Signal watches change process state (the mask), so undo them even
     * when the caller forgot. */
    for (int signo = 1; signo < SQ__MAX_SIGNALS; signo++)
        sq_loop_unwatch_signal(loop, signo);
    wake_close(loop);
    loop->backend->free(loop);
    sq__timers_free(loop);
    sq__spare_free(&loop->tcp_in_spare);
    sq__spare_free(&loop->tcp_out_spare);
    free(loop->hooks);
    free(loop);
}

int sq_loop_run_once(sq_loop *loop, int timeout_ms)
{
    sq_loop_update_time(loop);
    int wait_ms = sq__timers_next_ms(loop);
    if (timeout_ms >= 0 && (wait_ms < 0 || timeout_ms < wait_ms))
        wait_ms = timeout_ms;
    /* Work deferred outside step 6 (or during it) must not sit behind an
     * indefinite wait. */
    if (!list_empty(&loop->deferred))
        wait_ms = 0;

    int rc = loop->backend->poll(loop, wait_ms); /* steps 1-3 */
    if (rc < 0)
        return rc;
    sq__timers_run(loop);
    run_hooks(loop);
    run_deferred(loop);
    return 0;
}

int sq_loop_run(sq_loop *loop)
{
    int rc = 0;
    /* A stop requested before run (or during the last iteration) ends the
     * run; the flag is cleared on the way out so the loop can run again. */
    while (!loop->stop_) {
        rc = sq_loop_run_once(loop, -1);
        if (rc < 0)
            break;
    }
    loop->stop_ = 0;
    return rc;
}

void sq_loop_stop(sq_loop *loop)
{
    loop->stop_ = 1;
}
