/*
 * epoll backend. One epoll instance per loop; each registered watcher is
 * one epoll entry whose data.ptr is the sq_io itself, so a ready event maps
 * to its watcher without a lookup. The kernel's interest is changed only
 * when the wanted events differ from what it already has (io->registered_),
 * which keeps a connection that toggles nothing free of epoll_ctl calls.
 *
 * Stale events: epoll_wait fills `events` once per iteration and the loop
 * then calls watchers one by one. A callback may stop (and free) a watcher
 * whose event is still further down the array, so removing a watcher
 * clears data.ptr in every not-yet-dispatched slot that names it, and the
 * dispatch loop skips cleared slots. The scan is bounded by MAX_EVENTS.
 */
#include "loop_int.h"

#ifdef SQ__HAVE_EPOLL

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop_struct.h"

enum { MAX_EVENTS = 256 };

typedef struct {
    int epfd;
    int nready; /* events collected by the current sq__backend_poll, 0 outside it */
    int next;   /* index of the next event to dispatch */
    struct epoll_event events[MAX_EVENTS];
} epoll_state;

static int epoll_init(sq_loop *loop)
{
    epoll_state *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    st->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (st->epfd < 0) {
        int err = -errno;
        free(st);
        return err;
    }
    loop->backend_ = st;
    return 0;
}

static void epoll_free(sq_loop *loop)
{
    epoll_state *st = loop->backend_;
    if (!st)
        return;
    close(st->epfd);
    free(st);
    loop->backend_ = NULL;
}

static uint32_t to_epoll(unsigned events)
{
    uint32_t ev = 0;
    if (events & SQ_EV_READ)
        ev |= EPOLLIN;
    if (events & SQ_EV_WRITE)
        ev |= EPOLLOUT;
    if (events & SQ_EV_EDGE)
        ev |= EPOLLET;
    return ev;
}

static void forget_collected(epoll_state *st, const sq_io *io)
{
    for (int i = st->next; i < st->nready; i++)
        if (st->events[i].data.ptr == io)
            st->events[i].data.ptr = NULL;
}

static int epoll_set(sq_loop *loop, sq_io *io, unsigned events)
{
    epoll_state *st = loop->backend_;
    if (events == 0) {
        /* EBADF/ENOENT mean the kernel already dropped the fd (closed too
         * early); either way it is gone, which is what was asked. */
        if (io->registered_ != 0)
            epoll_ctl(st->epfd, EPOLL_CTL_DEL, io->fd, NULL);
        io->registered_ = 0;
        forget_collected(st, io);
        return 0;
    }

    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = io};
    int op = io->registered_ ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int rc = epoll_ctl(st->epfd, op, io->fd, &ev);
    /* Our bookkeeping and the kernel's can disagree when an fd number was
     * closed and reused, or added twice; retry with the other operation. */
    if (rc < 0 && op == EPOLL_CTL_ADD && errno == EEXIST)
        rc = epoll_ctl(st->epfd, EPOLL_CTL_MOD, io->fd, &ev);
    else if (rc < 0 && op == EPOLL_CTL_MOD && errno == ENOENT)
        rc = epoll_ctl(st->epfd, EPOLL_CTL_ADD, io->fd, &ev);
    if (rc < 0)
        return -errno;
    io->registered_ = events;
    return 0;
}

static int epoll_poll(sq_loop *loop, int timeout_ms)
{
    epoll_state *st = loop->backend_;
    int n = epoll_wait(st->epfd, st->events, MAX_EVENTS, timeout_ms);
    int err = n < 0 ? errno : 0;
    sq_loop_update_time(loop);
    if (n < 0)
        return err == EINTR ? 0 : -err;

    st->nready = n;
    for (st->next = 0; st->next < st->nready;) {
        struct epoll_event *e = &st->events[st->next++];
        sq_io *io = e->data.ptr;
        if (!io)
            continue; /* stopped by an earlier callback of this iteration */
        unsigned events = 0;
        if (e->events & EPOLLIN)
            events |= SQ_EV_READ;
        if (e->events & EPOLLOUT)
            events |= SQ_EV_WRITE;
        if (e->events & (EPOLLERR | EPOLLHUP))
            events |= SQ_EV_ERROR;
        sq__loop_dispatch(loop, io, events);
    }
    st->nready = st->next = 0;
    return 0;
}

const sq__backend sq__backend_epoll = {
    .name = "epoll",
    .init = epoll_init,
    .free = epoll_free,
    .set = epoll_set,
    .poll = epoll_poll,
};

#endif /* SQ__HAVE_EPOLL */
