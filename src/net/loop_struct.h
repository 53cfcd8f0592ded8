/*
 * The definition of struct sq_loop, shared by the loop core (loop.c), the
 * timer heap (timer.c) and the readiness backends (loop_epoll.c,
 * loop_poll.c). Nothing else in the engine includes this: tcp.c works
 * through loop_int.h and the public headers only.
 *
 * Backend duties beyond loop_int.h:
 *  - sq__backend_poll() calls sq_loop_update_time() right after the kernel
 *    wait returns and before dispatching, so step 2 of the iteration order
 *    (loop.h) happens between the wait and the callbacks.
 *  - sq__backend_set(loop, io, 0) must forget every event already collected
 *    for io in the current iteration (see "stale events" in each backend),
 *    because the watcher's owner may free it as soon as sq_io_stop returns.
 */
#ifndef SQ_LOOP_STRUCT_H
#define SQ_LOOP_STRUCT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "buf_int.h"
#include "heap.h"
#include "loop_int.h"

/* Signal numbers 1.._NSIG-1 are valid; realtime signals included. */
#define SQ__MAX_SIGNALS 65

/* Linux's eventfd and signalfd, unless the build asks for the portable code
 * (SQ_PORTABLE: a pipe and a self-pipe, what every POSIX system has), which
 * is how that code is tested on Linux. */
#if defined(__linux__) && !defined(SQ_PORTABLE)
#define SQ__HAVE_EVENTFD 1
#define SQ__HAVE_SIGNALFD 1
#endif

typedef struct {
    sq_hook_cb cb;
    void *data;
} sq__hook;

typedef struct {
    sq_signal_cb cb;
    void *data;
    int was_blocked; /* signalfd: the signal's mask bit before watch, restored by unwatch */
#ifndef SQ__HAVE_SIGNALFD
    struct sigaction old_action; /* self-pipe: the disposition before watch */
#endif
} sq__signal_slot;

struct sq_loop {
    const sq__backend *backend;
    void *backend_; /* owned by the backend: its fd and event arrays */
    uint64_t now_ms;
    int stop_;

    /* Timer min-heap ordered by (due_ms, seq_), see timer.c. */
    heap timers;
    uint64_t timer_seq; /* next seq_ handed out */

    /* Before-wait hooks, in the order added. hook_next is the index of the
     * next hook to run while step 5 runs (SIZE_MAX otherwise), so a hook may
     * remove itself or another without one being skipped or run twice. */
    sq__hook *hooks;
    size_t hook_count;
    size_t hook_cap;
    size_t hook_next;

    /* Deferred work (step 6). Nodes queued during the iteration wait on
     * `deferred` (queued_ == 1); step 6 moves them to `running` (queued_ ==
     * 2) and drains that, so nodes deferred while it runs wait for the next
     * iteration. Both are FIFO lists of nodes through their link_. */
    list deferred;
    list running;

    /* Cross-thread wake-up: an eventfd (a pipe elsewhere; wake_wfd is its
     * write end, equal to wake_io.fd for an eventfd). */
    sq_io wake_io;
    int wake_wfd;
    sq_wake_cb wake_cb;
    void *wake_data;

    /* Signals through one signalfd covering every watched signal, or the
     * read end of a self-pipe (signal_wfd its write end) that a handler
     * writes each signal's number into. */
    sq_io signal_io;
    int signal_wfd;
    sigset_t signal_mask;
    sq__signal_slot signals[SQ__MAX_SIGNALS];

    /* Output queued on all of this loop's connections and not yet taken by
     * the kernel (tcp.c keeps it; sq_tcp_out_pending()). */
    size_t tcp_out_bytes;
    /* The spare input and output blocks of this loop's connections (buf_int.h), so that an
     * idle connection holds no buffer. */
    sq__spare tcp_in_spare, tcp_out_spare;
};

#endif
