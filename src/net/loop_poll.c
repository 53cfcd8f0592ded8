/*
 * poll(2) backend, for systems without epoll and to check that nothing in
 * the engine depends on epoll's behaviour. The pollfd array is dense: a
 * watcher's io->slot_ is its index, adding appends, and removing moves the
 * last entry into the hole, so both are O(1). Level-triggered only;
 * SQ_EV_EDGE is ignored, which is correct for callbacks written for edges.
 *
 * Stale events: callbacks may add and remove watchers, which reorders the
 * pollfd array, so after poll() returns the ready watchers are first copied
 * into `ready` and dispatched from there. Removing a watcher clears its
 * pointer in the not-yet-dispatched part of `ready`, so a watcher stopped
 * (and perhaps freed) by an earlier callback is never called.
 */

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "loop_struct.h"
#include "vec.h"

typedef struct {
    sq_io *io;
    unsigned events;
} ready_event;

typedef struct {
    struct pollfd *fds;
    sq_io **ios; /* ios[i] watches fds[i] */
    ready_event *ready;
    size_t count;
    size_t cap;
    size_t nready; /* collected by the current sq__backend_poll, 0 outside it */
    size_t next;   /* index of the next ready entry to dispatch */
} poll_state;

static int poll_init(sq_loop *loop)
{
    poll_state *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    loop->backend_ = st;
    return 0;
}

static void poll_free(sq_loop *loop)
{
    poll_state *st = loop->backend_;
    if (!st)
        return;
    free(st->fds);
    free(st->ios);
    free(st->ready);
    free(st);
    loop->backend_ = NULL;
}

static short to_poll(unsigned events)
{
    short ev = 0;
    if (events & SQ_EV_READ)
        ev |= POLLIN;
    if (events & SQ_EV_WRITE)
        ev |= POLLOUT;
    return ev;
}

/* Grows the three arrays together; `ready` must hold one entry per fd. */
static int grow(poll_state *st)
{
    /* Each array grows by the same rule from the same capacity, so all three agree. */
    size_t need = st->cap + 1, cap = st->cap;
    struct pollfd *fds = vec_grow(st->fds, &cap, need, sizeof *fds, 16, SIZE_MAX);
    if (!fds)
        return -ENOMEM;
    st->fds = fds;
    cap = st->cap;
    sq_io **ios = vec_grow(st->ios, &cap, need, sizeof(sq_io *), 16, SIZE_MAX);
    if (!ios)
        return -ENOMEM;
    st->ios = ios;
    cap = st->cap;
    ready_event *ready = vec_grow(st->ready, &cap, need, sizeof *ready, 16, SIZE_MAX);
    if (!ready)
        return -ENOMEM;
    st->ready = ready;
    st->cap = cap;
    return 0;
}

static void remove_slot(poll_state *st, sq_io *io)
{
    size_t slot = (size_t)io->slot_;
    size_t last = --st->count;
    if (slot != last) {
        st->fds[slot] = st->fds[last];
        st->ios[slot] = st->ios[last];
        st->ios[slot]->slot_ = (int)slot;
    }
    io->slot_ = -1;
    for (size_t i = st->next; i < st->nready; i++)
        if (st->ready[i].io == io)
            st->ready[i].io = NULL;
}

static int poll_set(sq_loop *loop, sq_io *io, unsigned events)
{
    poll_state *st = loop->backend_;
    if (events == 0) {
        if (io->slot_ >= 0)
            remove_slot(st, io);
        io->registered_ = 0;
        return 0;
    }
    if (io->slot_ < 0) {
        if (st->count == st->cap) {
            int rc = grow(st);
            if (rc < 0)
                return rc;
        }
        io->slot_ = (int)st->count++;
        st->ios[io->slot_] = io;
        st->fds[io->slot_].fd = io->fd;
        st->fds[io->slot_].revents = 0;
    }
    st->fds[io->slot_].events = to_poll(events);
    io->registered_ = events;
    return 0;
}

static int poll_poll(sq_loop *loop, int timeout_ms)
{
    poll_state *st = loop->backend_;
    int n = poll(st->fds, (nfds_t)st->count, timeout_ms);
    int err = n < 0 ? errno : 0;
    sq_loop_update_time(loop);
    if (n < 0)
        return err == EINTR ? 0 : -err;

    st->nready = 0;
    for (size_t i = 0; i < st->count && st->nready < (size_t)n; i++) {
        short re = st->fds[i].revents;
        if (re == 0)
            continue;
        unsigned events = 0;
        if (re & POLLIN)
            events |= SQ_EV_READ;
        if (re & POLLOUT)
            events |= SQ_EV_WRITE;
        if (re & (POLLERR | POLLHUP | POLLNVAL))
            events |= SQ_EV_ERROR;
        st->ready[st->nready++] = (ready_event){st->ios[i], events};
    }
    /* Index, not pointer: a callback adding a watcher may move `ready`. */
    for (st->next = 0; st->next < st->nready;) {
        ready_event e = st->ready[st->next++];
        if (e.io)
            sq__loop_dispatch(loop, e.io, e.events);
    }
    st->nready = st->next = 0;
    return 0;
}

const sq__backend sq__backend_poll = {
    .name = "poll",
    .init = poll_init,
    .free = poll_free,
    .set = poll_set,
    .poll = poll_poll,
};
