/*
 * Internal interface between the loop core (loop.c), its readiness
 * backends (loop_epoll.c, loop_uring.c, loop_poll.c) and the other
 * engine modules (timer.c, tcp.c). Not installed; callers of the library
 * see only include/synq/.
 */
#ifndef SQ_LOOP_INT_H
#define SQ_LOOP_INT_H

#include "synq/loop.h"
#include "synq/timer.h"

#include "list.h"

/*
 * Deferred work run at step 6 of an iteration (after the before-wait
 * hooks): tcp.c queues a connection here when it has output to flush or a
 * close to finish, so all output of an iteration goes out in one send() per
 * connection (of its whole output buffer), after durable state was made safe
 * by the hooks. A node is
 * embedded in its owner and queued at most once (queued_ tells).
 */
typedef struct sq__deferred sq__deferred;
struct sq__deferred {
    list_node link_; /* on the loop's deferred or running list while queued_ */
    void (*run)(sq_loop *loop, sq__deferred *node);
    int queued_;
};

/* Queues node for step 6 of the current iteration (or of the next one,
 * when called while step 6 runs). No-op when already queued. */
void sq__loop_defer(sq_loop *loop, sq__deferred *node);

/* Takes node off the queue; no-op when not queued. */
void sq__loop_undefer(sq_loop *loop, sq__deferred *node);

/*
 * The backend interface: each backend file defines one of these, and a loop
 * picks one when it is made (sq_loop_new_backend). The backend keeps its
 * state behind loop->backend_ (see loop_struct.h).
 */
typedef struct sq__backend {
    const char *name;
    int (*init)(sq_loop *loop);
    void (*free)(sq_loop *loop);
    /* Registers, changes or removes (events == 0) the kernel's interest. */
    int (*set)(sq_loop *loop, sq_io *io, unsigned events);
    /* Waits up to timeout_ms (-1 forever) and calls sq__loop_dispatch for
     * each ready watcher. Returns 0 or -errno (EINTR is not an error). */
    int (*poll)(sq_loop *loop, int timeout_ms);
} sq__backend;

/* SQ_PORTABLE builds leave the Linux-only backends out, as a build on
 * another system would. */
#if defined(__linux__) && !defined(SQ_PORTABLE)
#define SQ__HAVE_EPOLL 1
extern const sq__backend sq__backend_epoll;
#endif
#if defined(SQ_HAVE_URING) && !defined(SQ_PORTABLE)
#define SQ__HAVE_URING 1
extern const sq__backend sq__backend_uring;
#endif
extern const sq__backend sq__backend_poll;

/* A non-blocking, close-on-exec pipe (POSIX has no pipe2). 0 or -errno. */
int sq__pipe(int fds[2]);

/* Called by the backend for each ready watcher; skips watchers stopped
 * earlier in the same iteration. */
void sq__loop_dispatch(sq_loop *loop, sq_io *io, unsigned events);

#endif
