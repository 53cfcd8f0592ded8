/*
 * Signal delivery into the loop (sq_loop_watch_signal). Two ways, one
 * contract: the callback runs inside the loop, in step 3 like any watcher.
 *
 * signalfd (Linux): the watched signals are blocked in the calling thread
 * and read from one signalfd covering all of them; nothing runs in signal
 * context at all.
 *
 * Self-pipe (every other POSIX system, and Linux built with SQ_PORTABLE,
 * which is how the tests exercise it): a handler installed with sigaction
 * writes the signal's number, one byte, into the watching loop's pipe, and
 * the loop reads the pipe like any watcher. A handler is process-wide, so a
 * signal can be watched by one loop at a time here (-EBUSY for a second);
 * the handler finds that loop in a table indexed by signal number. Watch
 * and unwatch from the loop's thread. A full pipe drops the byte: standard
 * signals coalesce anyway, and the byte of each kind already queued is
 * still read.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "loop_struct.h"

#ifdef SQ__HAVE_SIGNALFD
#include <sys/signalfd.h>

static void signal_io_cb(sq_loop *loop, sq_io *io, unsigned events)
{
    (void)events;
    struct signalfd_siginfo info;
    /* Bounded: at most one read per pending signal kind, since the kernel
     * coalesces standard signals; stop at EAGAIN. */
    for (int i = 0; i < SQ__MAX_SIGNALS; i++) {
        ssize_t n = read(io->fd, &info, sizeof info);
        if (n != (ssize_t)sizeof info)
            break;
        int signo = (int)info.ssi_signo;
        if (signo <= 0 || signo >= SQ__MAX_SIGNALS)
            continue;
        sq__signal_slot *slot = &loop->signals[signo];
        /* The watch may have been removed by an earlier callback here. */
        if (slot->cb)
            slot->cb(loop, signo, slot->data);
        if (io->fd < 0)
            break; /* the last watch was removed and the fd closed */
    }
}

int sq_loop_watch_signal(sq_loop *loop, int signo, sq_signal_cb cb, void *data)
{
    if (signo <= 0 || signo >= SQ__MAX_SIGNALS || signo == SIGKILL || signo == SIGSTOP || !cb)
        return -EINVAL;
    sq__signal_slot *slot = &loop->signals[signo];
    if (slot->cb) {
        slot->cb = cb;
        slot->data = data;
        return 0;
    }

    sigset_t one, old;
    sigemptyset(&one);
    sigaddset(&one, signo);
    int err = pthread_sigmask(SIG_BLOCK, &one, &old);
    if (err)
        return -err;
    int was_blocked = sigismember(&old, signo) == 1;

    sigaddset(&loop->signal_mask, signo);
    int fd = signalfd(loop->signal_io.fd, &loop->signal_mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        err = -errno;
        goto fail;
    }
    if (loop->signal_io.fd < 0) {
        sq_io_init(&loop->signal_io, fd, signal_io_cb, NULL);
        err = sq_io_set(loop, &loop->signal_io, SQ_EV_READ);
        if (err < 0) {
            close(fd);
            loop->signal_io.fd = -1;
            goto fail;
        }
    }
    slot->cb = cb;
    slot->data = data;
    slot->was_blocked = was_blocked;
    return 0;

fail:
    sigdelset(&loop->signal_mask, signo);
    if (!was_blocked)
        pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    return err;
}

void sq_loop_unwatch_signal(sq_loop *loop, int signo)
{
    if (signo <= 0 || signo >= SQ__MAX_SIGNALS || !loop->signals[signo].cb)
        return;
    sq__signal_slot *slot = &loop->signals[signo];
    sigdelset(&loop->signal_mask, signo);
    if (sigisemptyset(&loop->signal_mask)) {
        sq_io_stop(loop, &loop->signal_io);
        close(loop->signal_io.fd);
        loop->signal_io.fd = -1;
    } else {
        /* Narrowing the mask of an existing signalfd only fails on a bad
         * fd or mask, neither possible here. */
        signalfd(loop->signal_io.fd, &loop->signal_mask, SFD_NONBLOCK | SFD_CLOEXEC);
    }
    if (!slot->was_blocked) {
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, signo);
        pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    }
    slot->cb = NULL;
    slot->data = NULL;
    slot->was_blocked = 0;
}

#else /* the self-pipe */

/* Which loop watches each signal: read by the handler, so written only while
 * that signal's handler is not installed (before sigaction in watch, after
 * restoring the old action in unwatch). */
static sq_loop *volatile owners[SQ__MAX_SIGNALS];

static void on_signal(int signo)
{
    int saved = errno; /* the interrupted code's */
    sq_loop *loop = signo > 0 && signo < SQ__MAX_SIGNALS ? owners[signo] : NULL;
    if (loop) {
        unsigned char b = (unsigned char)signo;
        ssize_t n = write(loop->signal_wfd, &b, 1);
        (void)n; /* EAGAIN: the pipe is full of pending signals already */
    }
    errno = saved;
}

static void signal_io_cb(sq_loop *loop, sq_io *io, unsigned events)
{
    (void)events;
    unsigned char buf[64];
    ssize_t n;
    while ((n = read(io->fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            int signo = buf[i];
            if (signo < SQ__MAX_SIGNALS && loop->signals[signo].cb)
                loop->signals[signo].cb(loop, signo, loop->signals[signo].data);
            if (io->fd < 0)
                return; /* the last watch was removed and the pipe closed */
        }
    }
}

static bool any_watched(const sq_loop *loop)
{
    for (int signo = 1; signo < SQ__MAX_SIGNALS; signo++)
        if (loop->signals[signo].cb)
            return true;
    return false;
}

static void close_pipe(sq_loop *loop)
{
    sq_io_stop(loop, &loop->signal_io);
    close(loop->signal_io.fd);
    close(loop->signal_wfd);
    loop->signal_io.fd = loop->signal_wfd = -1;
}

int sq_loop_watch_signal(sq_loop *loop, int signo, sq_signal_cb cb, void *data)
{
    if (signo <= 0 || signo >= SQ__MAX_SIGNALS || signo == SIGKILL || signo == SIGSTOP || !cb)
        return -EINVAL;
    sq__signal_slot *slot = &loop->signals[signo];
    if (slot->cb) {
        slot->cb = cb;
        slot->data = data;
        return 0;
    }
    if (owners[signo])
        return -EBUSY; /* another loop has it: one handler per process */
    if (loop->signal_io.fd < 0) {
        int fds[2];
        int err = sq__pipe(fds);
        if (err < 0)
            return err;
        sq_io_init(&loop->signal_io, fds[0], signal_io_cb, NULL);
        loop->signal_wfd = fds[1];
        if ((err = sq_io_set(loop, &loop->signal_io, SQ_EV_READ)) < 0) {
            close_pipe(loop);
            return err;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask); /* one handler at a time: the byte writes never interleave */
    owners[signo] = loop;
    if (sigaction(signo, &sa, &slot->old_action) < 0) {
        int err = -errno;
        owners[signo] = NULL;
        if (!any_watched(loop))
            close_pipe(loop);
        return err;
    }
    sigaddset(&loop->signal_mask, signo);
    slot->cb = cb;
    slot->data = data;
    return 0;
}

void sq_loop_unwatch_signal(sq_loop *loop, int signo)
{
    if (signo <= 0 || signo >= SQ__MAX_SIGNALS || !loop->signals[signo].cb)
        return;
    sq__signal_slot *slot = &loop->signals[signo];
    sigaction(signo, &slot->old_action, NULL); /* first: no handler runs for it after this */
    owners[signo] = NULL;
    sigdelset(&loop->signal_mask, signo);
    slot->cb = NULL;
    slot->data = NULL;
    if (!any_watched(loop))
        close_pipe(loop);
}

#endif /* SQ__HAVE_SIGNALFD */
