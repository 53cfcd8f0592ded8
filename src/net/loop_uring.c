/*
 * io_uring backend (liburing), readiness only: each watched fd has one
 * IORING_OP_POLL_ADD in the kernel, and every change of interest, every
 * re-arm and the wait itself go to the kernel together, in one
 * io_uring_enter per iteration. Where epoll needs an epoll_ctl per change,
 * this needs none.
 *
 * Level-triggered by re-arming. A one-shot poll armed on an fd that is
 * already ready completes at once, so after a watcher's poll completes and
 * its callback ran, the poll is armed again: a callback that left data
 * unread is called again in the next iteration, as with epoll in level mode.
 * (Multishot polls post on wake-ups, i.e. on edges, which would strand a
 * callback written for levels.) SQ_EV_EDGE is served level-triggered, like
 * the poll backend does, which is always correct for such a callback.
 *
 * Stale completions. A completion names its watcher by slot and generation
 * (user_data = gen << 32 | slot + 1), never by pointer: a watcher may be
 * stopped and freed while its poll is still in the kernel. Stopping or
 * re-arming a watcher with other events cancels the old poll and bumps the
 * slot's generation, so every completion of the old poll, including those
 * already reaped in this iteration, is dropped. user_data 0 marks the
 * cancel requests themselves, whose results are of no interest.
 *
 * Closing. A pending poll holds a reference to its file, so a socket closed
 * right after its watcher stopped is released when the cancel reaches the
 * kernel: at the next submit, which is the start of the next wait.
 */
#include "loop_int.h"

#ifdef SQ__HAVE_URING

#include <errno.h>
#include <liburing.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>

#include "loop_struct.h"
#include "vec.h"

enum { RING_ENTRIES = 1024, REAP_BATCH = 256 };

typedef struct {
    sq_io *io;      /* NULL when free */
    uint32_t gen;   /* completions of other generations are stale */
    unsigned armed; /* poll mask in the kernel, 0 when none is pending */
    int next_free;  /* free list link, -1 at the end */
} uring_slot;

typedef struct {
    struct io_uring ring;
    uring_slot *slots;
    int nslots, cap;
    int free_head;
} uring_state;

static int uring_init(sq_loop *loop)
{
    uring_state *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    st->free_head = -1;
    /* Task work run only when the loop enters the kernel anyway; older
     * kernels refuse the flag, and then the default serves. */
    int rc = io_uring_queue_init(RING_ENTRIES, &st->ring, IORING_SETUP_COOP_TASKRUN);
    if (rc == -EINVAL)
        rc = io_uring_queue_init(RING_ENTRIES, &st->ring, 0);
    if (rc < 0) {
        free(st);
        return rc;
    }
    loop->backend_ = st;
    return 0;
}

static void uring_free(sq_loop *loop)
{
    uring_state *st = loop->backend_;
    if (!st)
        return;
    io_uring_queue_exit(&st->ring);
    free(st->slots);
    free(st);
    loop->backend_ = NULL;
}

/* A submission entry; a full submission queue is flushed to the kernel
 * first. NULL only if the kernel takes nothing. */
static struct io_uring_sqe *get_sqe(uring_state *st)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
    if (!sqe && io_uring_submit(&st->ring) >= 0)
        sqe = io_uring_get_sqe(&st->ring);
    return sqe;
}

static uint64_t slot_tag(const uring_state *st, int i)
{
    return (uint64_t)st->slots[i].gen << 32 | (uint64_t)(i + 1);
}

static int arm(uring_state *st, int i, unsigned events)
{
    struct io_uring_sqe *sqe = get_sqe(st);
    if (!sqe)
        return -EBUSY;
    unsigned mask = 0;
    if (events & SQ_EV_READ)
        mask |= POLLIN;
    if (events & SQ_EV_WRITE)
        mask |= POLLOUT;
    io_uring_prep_poll_add(sqe, st->slots[i].io->fd, mask);
    io_uring_sqe_set_data64(sqe, slot_tag(st, i));
    st->slots[i].armed = events;
    return 0;
}

/* Cancels slot i's pending poll, if any, and retires its generation. */
static int disarm(uring_state *st, int i)
{
    uring_slot *s = &st->slots[i];
    if (s->armed) {
        struct io_uring_sqe *sqe = get_sqe(st);
        if (!sqe)
            return -EBUSY;
        io_uring_prep_poll_remove(sqe, slot_tag(st, i));
        io_uring_sqe_set_data64(sqe, 0);
        s->armed = 0;
    }
    s->gen++;
    return 0;
}

static int take_slot(uring_state *st, sq_io *io)
{
    if (st->free_head < 0) {
        if (st->nslots == st->cap) {
            size_t cap = (size_t)st->cap; /* an int: slots are indexed by int links */
            uring_slot *slots =
                vec_grow(st->slots, &cap, cap + 1, sizeof *slots, 64, (size_t)INT_MAX);
            if (!slots)
                return -ENOMEM;
            st->slots = slots;
            st->cap = (int)cap;
        }
        st->slots[st->nslots] = (uring_slot){.next_free = -1};
        st->free_head = st->nslots++;
    }
    int i = st->free_head;
    st->free_head = st->slots[i].next_free;
    st->slots[i].io = io;
    st->slots[i].armed = 0;
    io->slot_ = i;
    return i;
}

static int uring_set(sq_loop *loop, sq_io *io, unsigned events)
{
    uring_state *st = loop->backend_;
    int i = io->slot_;
    if (events == 0) {
        if (i >= 0) {
            disarm(st, i); /* a failed cancel still retires the generation */
            st->slots[i].io = NULL;
            st->slots[i].next_free = st->free_head;
            st->free_head = i;
            io->slot_ = -1;
        }
        io->registered_ = 0;
        return 0;
    }
    if (i < 0 && (i = take_slot(st, io)) < 0)
        return i;
    int rc = disarm(st, i);
    if (rc == 0)
        rc = arm(st, i, events);
    if (rc < 0)
        return rc;
    io->registered_ = events;
    return 0;
}

static unsigned from_poll(int res)
{
    if (res < 0)
        return SQ_EV_ERROR; /* e.g. -EBADF: the fd went away under the poll */
    unsigned events = 0;
    if (res & POLLIN)
        events |= SQ_EV_READ;
    if (res & POLLOUT)
        events |= SQ_EV_WRITE;
    if (res & (POLLERR | POLLHUP | POLLNVAL))
        events |= SQ_EV_ERROR;
    return events;
}

/* One completion: the watcher's callback, then the poll armed again unless
 * the callback stopped the watcher or re-armed it with other events. */
static void complete(sq_loop *loop, uring_state *st, uint64_t tag, int res)
{
    int i = (int)(tag & 0xffffffffu) - 1;
    if (tag == 0 || i >= st->nslots || st->slots[i].gen != (uint32_t)(tag >> 32) ||
        !st->slots[i].io)
        return; /* a cancel's result, or a poll retired since */
    uring_slot *s = &st->slots[i];
    uint32_t gen = s->gen;
    s->armed = 0;
    sq_io *io = s->io;
    sq__loop_dispatch(loop, io, from_poll(res));
    s = &st->slots[i]; /* the table may have grown */
    if (s->gen == gen && s->io == io && !s->armed && io->registered_ &&
        arm(st, i, io->registered_) < 0)
        sq__loop_dispatch(loop, io, SQ_EV_ERROR); /* cannot watch it any more: say so */
}

static int uring_poll(sq_loop *loop, int timeout_ms)
{
    uring_state *st = loop->backend_;
    struct io_uring_cqe *cqe = NULL;
    struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000,
                                   .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
    int rc =
        io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, timeout_ms >= 0 ? &ts : NULL, NULL);
    sq_loop_update_time(loop);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
        return rc;

    /* Completions are copied out and the ring advanced before any callback
     * runs, so a callback that submits (a full queue, see get_sqe) never
     * sees a half-consumed ring. */
    struct io_uring_cqe *batch[REAP_BATCH];
    unsigned n;
    while ((n = io_uring_peek_batch_cqe(&st->ring, batch, REAP_BATCH)) > 0) {
        uint64_t tags[REAP_BATCH];
        int res[REAP_BATCH];
        for (unsigned k = 0; k < n; k++) {
            tags[k] = io_uring_cqe_get_data64(batch[k]);
            res[k] = batch[k]->res;
        }
        io_uring_cq_advance(&st->ring, n);
        for (unsigned k = 0; k < n; k++)
            complete(loop, st, tags[k], res[k]);
        if (n < REAP_BATCH)
            break;
    }
    return 0;
}

const sq__backend sq__backend_uring = {
    .name = "io_uring",
    .init = uring_init,
    .free = uring_free,
    .set = uring_set,
    .poll = uring_poll,
};

#endif /* SQ__HAVE_URING */
