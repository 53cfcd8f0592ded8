/*
 * synq event loop: one loop per thread over the kernel's readiness queue.
 *
 * A loop owns a set of I/O watchers (sq_io), timers (see timer.h), signal
 * watchers and one cross-thread wake-up. One iteration of sq_loop_run():
 *
 *   1. wait for readiness, at most until the nearest timer is due;
 *   2. update the cached clock (sq_loop_now_ms) once;
 *   3. run the callbacks of ready watchers;
 *   4. run expired timers, earliest first;
 *   5. run the before-wait hooks in the order they were added;
 *   6. flush connection output written during this iteration (tcp.h).
 *
 * Step 6 coming after step 5 is a guarantee callers build on: a server can
 * make state durable in a before-wait hook (one write and one fsync for the
 * whole iteration) and know that no reply written during the iteration has
 * left the process before the hook returned.
 *
 * Every function returns 0 or a negative errno unless documented otherwise.
 * A loop and everything attached to it is used from its own thread only,
 * except sq_loop_wake(), which any thread (or signal handler) may call.
 */
#ifndef SYNQ_LOOP_H
#define SYNQ_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sq_loop sq_loop;
typedef struct sq_io sq_io;

/* Readiness events, as wanted by a watcher and as reported to it. */
enum {
    SQ_EV_READ = 1,
    SQ_EV_WRITE = 2,
    SQ_EV_ERROR = 4, /* reported only: EPOLLERR/EPOLLHUP or POLLERR/POLLHUP/POLLNVAL */
    /* Asked for with sq_io_set(): edge-triggered where the backend has it
     * (epoll). The callback must then read or write until EAGAIN, or
     * remember that the fd is still ready. Level-triggered backends ignore
     * it, which is always correct for such a callback. */
    SQ_EV_EDGE = 8,
};

typedef void (*sq_io_cb)(sq_loop *loop, sq_io *io, unsigned events);

/*
 * A file-descriptor watcher, embedded in the struct that owns it (no
 * allocation per watcher). Fields ending in '_' belong to the loop.
 */
struct sq_io {
    int fd;
    sq_io_cb cb;
    void *data;
    unsigned events_;     /* wanted events */
    unsigned registered_; /* events the backend currently has */
    int slot_;            /* backend bookkeeping (poll array index); -1 when unused */
};

/* Creates a loop on the default backend: the one named by the environment
 * variable SQ_LOOP_BACKEND when it is set, else the build's default (epoll
 * on Linux; cmake -DSQ_BACKEND=... changes it). *out is set on success. */
int sq_loop_new(sq_loop **out);

/* Creates a loop on the named backend: "epoll", "io_uring" or "poll" (NULL
 * = the default, as sq_loop_new). -ENOENT for a name this build does not
 * have (see sq_loop_backends); the kernel's error when it refuses the
 * backend (io_uring can be disabled, e.g. by a seccomp policy). */
int sq_loop_new_backend(sq_loop **out, const char *backend);

/* The names of the backends this build has, the default first, then NULL. */
const char *const *sq_loop_backends(void);

/* Frees the loop. Every watcher, timer and connection must be stopped or
 * closed first; the loop does not own them. */
void sq_loop_free(sq_loop *loop);

/* Runs iterations until sq_loop_stop() is called. Returns 0, or a negative
 * errno if waiting on the kernel failed for a reason other than EINTR. */
int sq_loop_run(sq_loop *loop);

/* Runs exactly one iteration, waiting at most timeout_ms (-1: until an
 * event or a timer; 0: do not block). For tests and embedding. */
int sq_loop_run_once(sq_loop *loop, int timeout_ms);

/* Makes sq_loop_run() return after the current iteration. */
void sq_loop_stop(sq_loop *loop);

/* The monotonic clock in milliseconds, cached once per iteration. */
uint64_t sq_loop_now_ms(const sq_loop *loop);

/* Re-reads the monotonic clock into the cache (after long computations). */
void sq_loop_update_time(sq_loop *loop);

/* The backend's name: "epoll", "io_uring" or "poll". */
const char *sq_loop_backend(const sq_loop *loop);

/* Prepares a watcher for fd. Does not register it with the loop. */
void sq_io_init(sq_io *io, int fd, sq_io_cb cb, void *data);

/* Sets the events the watcher wants (SQ_EV_READ | SQ_EV_WRITE); 0 stops
 * watching. Level-triggered semantics: the callback runs on every
 * iteration while the fd is ready for a wanted event. */
int sq_io_set(sq_loop *loop, sq_io *io, unsigned events);

/* Removes the watcher from the loop. Must be called before close(fd). Safe
 * to call from inside any callback, including the watcher's own; a stopped
 * watcher's callback never runs again, even for events already collected
 * in the current iteration. */
void sq_io_stop(sq_loop *loop, sq_io *io);

/* A callback run once per iteration after events and timers, before
 * connection output is flushed (see the iteration order above). */
typedef void (*sq_hook_cb)(sq_loop *loop, void *data);

/* Adds a before-wait hook. Hooks run in the order added. */
int sq_loop_add_before_wait(sq_loop *loop, sq_hook_cb cb, void *data);

/* Removes a hook added with the same cb and data. */
void sq_loop_remove_before_wait(sq_loop *loop, sq_hook_cb cb, void *data);

typedef void (*sq_wake_cb)(sq_loop *loop, void *data);

/* Sets the callback run in the loop's thread after sq_loop_wake(). */
void sq_loop_set_wake_cb(sq_loop *loop, sq_wake_cb cb, void *data);

/* Wakes the loop from any thread or from a signal handler. Wake-ups
 * coalesce: several calls before the loop runs may produce one callback. */
int sq_loop_wake(sq_loop *loop);

typedef void (*sq_signal_cb)(sq_loop *loop, int signo, void *data);

/* Delivers signo to cb inside the loop. On Linux through a signalfd: the
 * signal is blocked for ordinary delivery in the calling thread, so call
 * this before starting other threads, which inherit the mask. Elsewhere
 * (and in SQ_PORTABLE builds) through a self-pipe that a sigaction handler
 * writes to: a handler is process-wide, so only one loop at a time may
 * watch a given signal there (-EBUSY for another). One callback per signal
 * number per loop; a second call replaces it. 0, -EINVAL (SIGKILL, SIGSTOP,
 * out of range) or -errno. */
int sq_loop_watch_signal(sq_loop *loop, int signo, sq_signal_cb cb, void *data);

/* Stops delivering signo and restores its previous mask or disposition. */
void sq_loop_unwatch_signal(sq_loop *loop, int signo);

/* A message for an engine error code, like strerror() for -errno values. */
const char *sq_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
