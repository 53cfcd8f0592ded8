/*
 * TCP connections (contract in include/synq/tcp.h): their life, reading, timeouts and closing.
 * Listeners and outbound connects, which create them, are in tcp_listen.c; the output side
 * (queueing replies, the flush at step 6, the half-close after it) in tcp_write.c.
 *
 * Model. A connection owns one sq_io, one sq_timer and one deferred node,
 * all embedded. Socket I/O happens in three places only:
 *  - the io callback (loop step 3) reads, accepts or completes a connect;
 *    it never writes: a writable socket only queues the deferred node;
 *  - the deferred node (step 6, after the before-wait hooks) sends the
 *    output buffer with one send(), half-closes, and finishes closes;
 *  - the timer (step 4) enforces deadlines and delivers notifications that
 *    must reach the handler before the hooks run (input held while the
 *    handler had paused reading, EOF, drain).
 * Writing only at step 6 is what makes the loop's group-commit guarantee
 * hold: no byte written during an iteration leaves before the hooks ran.
 *
 * State machine of a connection (flags below):
 *   CONNECTING -> open -> [CLOSING: flush, SHUT_WR, discard input until FIN
 *   or linger] -> RELEASED (fd closed, on_close queued) -> freed at step 6.
 * RELEASED is reached from any state by errors, timeouts and abort. The
 * sq_conn is freed only in the deferred node, after on_close returned, so
 * a handler may close or abort its connection from on_read and still touch
 * the sq_conn (and its input buffer) until it returns.
 *
 * Timeouts use one timer armed lazily: activity only records times; the
 * timer is re-armed only when a deadline comes nearer than the one it is
 * armed for, and on expiry the real deadlines are recomputed.
 */
#include "synq/tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf_int.h"
#include "loop_struct.h"
#include "tcp_int.h"
#include "tls_int.h"

/* Bounded work per wake-up, so one busy peer cannot starve the others. */
#define READS_PER_WAKE 4

/* How long a TLS connection without I/O keeps OpenSSL's record buffers (two of about 17 KiB):
 * a busy one keeps them instead of freeing and allocating both for every record, as
 * SSL_MODE_RELEASE_BUFFERS did (about 1,300 instructions per record written and read, under
 * bench/tls's cycle load), and an idle one holds none, as with the engine's own buffers. */
#define TLS_BUFFERS_IDLE_MS 1000

/* Sizes are size_t so that a product of them is computed in size_t. */
#define KIB ((size_t)1024)
#define MIB (1024 * KIB)

/* Which drained blocks the loop keeps as spares (buf_int.h). Input: a read chunk, grown once
 * for a partial frame at most; connections take and give it back within one read, so a few
 * do (at most 512 KiB of them in an idle loop). Output's are in tcp_write.c. */
#define IN_SPARE_MAX_BYTES (128 * KIB)
#define IN_SPARE_SLOTS 4

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static void conn_io_cb(sq_loop *loop, sq_io *io, unsigned events);
static void conn_timer_cb(sq_loop *loop, sq_timer *timer);
static void conn_run(sq_loop *loop, sq__deferred *node);
static void conn_readable(sq_conn *c);

void sq_conn_opts_default(sq_conn_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->read_chunk = 64 * KIB;
    opts->in_limit = 1 * MIB;
    opts->out_high_water = 1 * MIB;
    opts->out_low_water = 256 * KIB;
    opts->out_limit = 64 * MIB;
    opts->linger_ms = 5000;
}

/* Zero sizes in caller-supplied options mean "default", so a caller can
 * set only the fields it cares about on a zeroed struct. */
static void conn_opts_fix(sq_conn_opts *o)
{
    sq_conn_opts d;
    sq_conn_opts_default(&d);
    if (!o->read_chunk)
        o->read_chunk = d.read_chunk;
    if (!o->in_limit)
        o->in_limit = d.in_limit;
    if (!o->out_high_water)
        o->out_high_water = d.out_high_water;
    if (!o->out_low_water || o->out_low_water > o->out_high_water)
        o->out_low_water = o->out_high_water / 4;
    if (!o->out_limit)
        o->out_limit = d.out_limit;
    if (o->out_limit < o->out_high_water)
        o->out_limit = o->out_high_water;
    if (!o->linger_ms)
        o->linger_ms = d.linger_ms;
}

sq_conn *sq__conn_new(sq_loop *loop, int fd, const sq_conn_opts *opts)
{
    sq_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = loop;
    if (opts)
        c->opts = *opts;
    else
        sq_conn_opts_default(&c->opts);
    conn_opts_fix(&c->opts);
    sq_io_init(&c->io, fd, conn_io_cb, c);
    sq_timer_init(&c->timer, conn_timer_cb, c);
    c->node.run = conn_run;
    /* The input limit is enforced by how much each read asks for, not by
     * the buffer, so a read never fails for lack of room. */
    sq_buf_init(&c->in, SQ_BUF_NO_LIMIT);
    sq_buf_init(&c->out, c->opts.out_limit);
    c->flags = F_OUT_IDLE;
    uint64_t now = sq_loop_now_ms(loop);
    c->last_io_ms = c->last_read_ms = c->last_write_ms = now;
    return c;
}

static void conn_forget_addrs(sq_conn *c)
{
    if (c->addrs)
        freeaddrinfo(c->addrs);
    c->addrs = NULL;
    c->next_addr = NULL;
}

/*
 * A connection holds buffer memory only while it holds bytes: it takes the loop's spare block
 * to read or write, and gives it back once the block drained (buf_int.h). An idle connection,
 * however busy it was, holds neither buffer; one waiting for the rest of a frame holds that
 * frame's bytes in a block of their size. conn_settle_in runs after every call of the handler
 * with input, sq__conn_settle_out (tcp_write.c) after every send and wherever the output may
 * have been left empty, so the blocks go back as soon as they are free.
 */
static void conn_settle_in(sq_conn *c)
{
    sq__spare_policy p = {c->opts.read_chunk, IN_SPARE_MAX_BYTES, IN_SPARE_SLOTS};
    sq__buf_settle(&c->in, &c->loop->tcp_in_spare, &p);
}

/* After a call of the handler: input as conn_settle_in says, output only if it is empty (a
 * reply just queued is about to be sent from its block: moving it would only copy it). */
static void conn_settle(sq_conn *c)
{
    conn_settle_in(c);
    if (sq_buf_len(&c->out) == 0)
        sq__conn_settle_out(c);
}

static void conn_free(sq_conn *c)
{
    conn_forget_addrs(c);
    sq__loop_undefer(c->loop, &c->node);
    sq_timer_stop(c->loop, &c->timer);
    sq_buf_clear(&c->out);
    sq__conn_count_out(c);
    sq_buf_clear(&c->in);
    conn_settle(c);
    sq__tls_free(c);
    free(c);
}

void sq__set_nodelay(int fd, bool no_nodelay)
{
    int one = 1;
    /* Replies are written whole at the end of an iteration; Nagle would
     * only delay them waiting for an ACK. Failure is harmless. */
    if (!no_nodelay)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Contract in tcp_int.h. */
void sq__conn_release(sq_conn *c, int err, bool reset)
{
    if (c->flags & F_RELEASED)
        return;
    c->flags |= F_RELEASED;
    c->flags &= ~(F_NOTIFY_INPUT | F_NOTIFY_DRAIN | F_TLS_READ_AGAIN);
    c->close_err = err;
    sq_io_stop(c->loop, &c->io);
    sq_timer_stop(c->loop, &c->timer);
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        (void)setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    if (c->tls)
        sq__tls_end(c); /* no alert: a graceful close sent close_notify before */
    if (c->io.fd >= 0)
        close(c->io.fd);
    c->io.fd = -1;
    /* Output can no longer be sent; the input buffer is kept because a
     * handler closing from on_read may still consume from it. */
    sq_buf_clear(&c->out);
    sq__conn_count_out(c);
    sq__conn_settle_out(c);
    sq__loop_defer(c->loop, &c->node);
}

void sq__conn_fail_connect(sq_conn *c, int err)
{
    c->flags |= F_CONNECT_FAIL;
    sq__conn_release(c, err, false);
}

static void conn_run(sq_loop *loop, sq__deferred *node)
{
    (void)loop;
    sq_conn *c = container_of(node, sq_conn, node);
    if (!(c->flags & F_RELEASED))
        sq__conn_flush(c);
    if (!(c->flags & F_RELEASED))
        return;
    /* sq__conn_release() inside conn_flush() re-queued the node for the next
     * pass; we finish here instead, so take it off again. */
    sq__loop_undefer(c->loop, &c->node);
    if (c->flags & F_CONNECT_FAIL) {
        if (c->connect_cb)
            c->connect_cb(NULL, c->close_err, c->connect_data);
    } else if (c->h.on_close) {
        c->h.on_close(c, c->close_err);
    }
    conn_free(c);
}

static bool conn_wants_read(const sq_conn *c)
{
    if (c->flags & (F_EOF | F_RELEASED | F_CONNECTING))
        return false;
    if (c->flags & F_CLOSING)
        return true; /* input is discarded while waiting for the FIN */
    return !(c->flags & F_BACKPRESSURE) && sq_buf_len(&c->in) < c->opts.in_limit;
}

void sq__conn_update_io(sq_conn *c)
{
    if (c->flags & F_RELEASED)
        return;
    unsigned ev = 0;
    /* A TLS read that needs writability watches for it instead of readability, and a TLS
     * write the other way round (tls.c); a close_notify may wait for writability too. */
    unsigned read_ev = (c->flags & F_TLS_WANT_WRITE) ? SQ_EV_WRITE : SQ_EV_READ;
    unsigned write_ev = (c->flags & F_TLS_WANT_READ) ? SQ_EV_READ : SQ_EV_WRITE;
    bool shut_waits = (c->flags & F_SHUT_WANTED) && !(c->flags & F_SHUT_DONE);
    if (c->flags & F_TLS_HANDSHAKE) {
        ev = read_ev == SQ_EV_WRITE ? SQ_EV_WRITE : SQ_EV_READ;
    } else if (c->flags & F_CONNECTING) {
        ev = SQ_EV_WRITE;
    } else {
        if (conn_wants_read(c))
            ev |= read_ev;
        if ((c->flags & F_WRITE_BLOCKED) && (sq_buf_len(&c->out) > 0 || shut_waits))
            ev |= write_ev;
        /* Input OpenSSL decrypted and holds will not make the fd readable. */
        if (c->tls && !(c->flags & (F_CLOSING | F_TLS_READ_AGAIN)) && conn_wants_read(c) &&
            sq__tls_pending(c)) {
            c->flags |= F_TLS_READ_AGAIN;
            sq__conn_arm_timer(c);
        }
    }
    if (ev == c->io.events_)
        return;
    int err = sq_io_set(c->loop, &c->io, ev);
    if (err < 0) {
        if (c->flags & F_CONNECTING)
            sq__conn_fail_connect(c, err);
        else
            sq__conn_release(c, err, true);
    }
}

/* The nearest deadline, or UINT64_MAX when none applies. */
static uint64_t conn_deadline(const sq_conn *c)
{
    uint64_t d = UINT64_MAX;
    const sq_conn_opts *o = &c->opts;
#define SQ_MIN_DEADLINE(x)                                                                         \
    do {                                                                                           \
        uint64_t x_ = (x);                                                                         \
        if (x_ < d)                                                                                \
            d = x_;                                                                                \
    } while (0)
    if (c->flags & F_CONNECTING) {
        if (c->connect_deadline_ms)
            SQ_MIN_DEADLINE(c->connect_deadline_ms);
        return d;
    }
    if (c->flags & F_CLOSING) {
        /* linger runs from the close request or the last output progress,
         * so a slow but live reader still gets its reply. */
        SQ_MIN_DEADLINE(c->last_write_ms + o->linger_ms);
        return d;
    }
    /* An accepted TLS connection's handshake deadline (set at accept) outlives none of the
     * other timeouts: a peer that connects and never finishes gets no session. */
    if ((c->flags & F_TLS_HANDSHAKE) && c->connect_deadline_ms)
        SQ_MIN_DEADLINE(c->connect_deadline_ms);
    if (o->idle_timeout_ms)
        SQ_MIN_DEADLINE(c->last_io_ms + o->idle_timeout_ms);
    /* A handler that paused reading, or stopped it by not consuming, is
     * not waiting for the peer: no read timeout then. */
    if (o->read_timeout_ms && sq_buf_len(&c->in) > 0 && conn_wants_read(c) &&
        !(c->flags & F_PAUSED))
        SQ_MIN_DEADLINE(c->last_read_ms + o->read_timeout_ms);
    if (o->write_timeout_ms && sq_buf_len(&c->out) > 0)
        SQ_MIN_DEADLINE(c->last_write_ms + o->write_timeout_ms);
#undef SQ_MIN_DEADLINE
    return d;
}

/* When an idle TLS connection gives OpenSSL's buffers back, or UINT64_MAX. Not a deadline:
 * the timer does it and the connection goes on. */
static uint64_t conn_tls_buffers_due(const sq_conn *c)
{
    if ((c->flags & (F_TLS_BUFFERS | F_TLS_HANDSHAKE)) != F_TLS_BUFFERS)
        return UINT64_MAX;
    return c->last_io_ms + TLS_BUFFERS_IDLE_MS;
}

void sq__conn_arm_timer(sq_conn *c)
{
    if (c->flags & F_RELEASED)
        return;
    uint64_t due = conn_deadline(c);
    uint64_t buffers_due = conn_tls_buffers_due(c);
    if (buffers_due < due)
        due = buffers_due;
    if (c->flags & (F_NOTIFY_INPUT | F_NOTIFY_DRAIN | F_TLS_READ_AGAIN))
        due = sq_loop_now_ms(c->loop);
    if (due == UINT64_MAX)
        return; /* an armed timer finds nothing due and is not re-armed */
    if (sq_timer_active(&c->timer) && c->timer.due_ms <= due)
        return;
    if (sq_timer_start_at(c->loop, &c->timer, due) < 0)
        sq__conn_release(c, -ENOMEM, true);
}

/* What a connection does once the peer will send no more. */
static void conn_tell_eof(sq_conn *c)
{
    if ((c->flags & (F_EOF_TOLD | F_RELEASED | F_PAUSED)) || !(c->flags & F_EOF))
        return;
    c->flags |= F_EOF_TOLD;
    if (c->h.on_eof)
        c->h.on_eof(c);
    else
        sq_conn_close(c);
}

/* Hands buffered input to the handler; then EOF if it was seen. */
static void conn_deliver(sq_conn *c)
{
    if ((c->flags & (F_PAUSED | F_RELEASED | F_CLOSING)) || !c->h.on_read)
        return;
    if (sq_buf_len(&c->in) > 0) {
        c->h.on_read(c, &c->in);
        if (c->flags & (F_RELEASED | F_CLOSING))
            return;
    }
    conn_tell_eof(c);
}

static void conn_timer_cb(sq_loop *loop, sq_timer *timer)
{
    sq_conn *c = timer->data;
    if (c->flags & F_NOTIFY_INPUT) {
        c->flags &= ~F_NOTIFY_INPUT;
        conn_deliver(c);
    }
    if ((c->flags & F_TLS_READ_AGAIN) && !(c->flags & F_RELEASED)) {
        c->flags &= ~F_TLS_READ_AGAIN;
        conn_readable(c);
    }
    if ((c->flags & F_NOTIFY_DRAIN) && !(c->flags & F_RELEASED)) {
        c->flags &= ~F_NOTIFY_DRAIN;
        if (c->h.on_drain && !(c->flags & F_CLOSING))
            c->h.on_drain(c);
    }
    conn_settle(c); /* either may have consumed input or left the output empty */
    if (c->flags & F_RELEASED)
        return;
    if (conn_tls_buffers_due(c) <= sq_loop_now_ms(loop)) {
        /* Bytes OpenSSL still holds keep them until the next idle spell after more I/O. */
        c->flags &= ~F_TLS_BUFFERS;
        sq__tls_release_buffers(c);
    }
    if (conn_deadline(c) <= sq_loop_now_ms(loop)) {
        if (c->flags & F_CONNECTING) {
            sq__conn_fail_connect(c, -ETIMEDOUT);
        } else if (c->flags & F_CLOSING) {
            /* Linger over: whatever was sent, the close is complete only
             * if nothing stayed queued. */
            bool all_sent = sq_buf_len(&c->out) == 0;
            sq__conn_release(c, all_sent ? 0 : -ETIMEDOUT, !all_sent);
        } else {
            sq__conn_release(c, -ETIMEDOUT, sq_buf_len(&c->out) > 0);
        }
        return;
    }
    sq__conn_update_io(c);
    sq__conn_arm_timer(c);
}

void sq__conn_started(sq_conn *c)
{
    if (c->flags & F_RELEASED)
        return;
    /* A callback may close at once (after a farewell) without handlers. */
    if (!c->h.on_read && !(c->flags & F_CLOSING)) {
        sq__conn_release(c, -EINVAL, true);
        return;
    }
    sq__conn_watch(c);
}

void sq__conn_watch(sq_conn *c)
{
    sq__conn_update_io(c);
    sq__conn_arm_timer(c);
}

/* One read() of at most read_chunk (and never past in_limit). Returns the
 * bytes kept, 0 on EAGAIN; sets *eof on FIN, and *full when the read
 * filled what it asked for (more is likely waiting). Errors release the
 * connection. While closing, input is read only to find the FIN and is
 * dropped. */
static size_t conn_read_once(sq_conn *c, bool *eof, bool *full)
{
    size_t live = sq_buf_len(&c->in);
    size_t want = c->opts.read_chunk;
    if (!(c->flags & F_CLOSING) && c->opts.in_limit - live < want)
        want = c->opts.in_limit - live;
    /* A partial frame much smaller than a read shortens the read by its length, so that the
     * two together fit the loop's spare block (the frame moves to its front) instead of the
     * frame's small block growing past a read chunk. A bigger one is read after in its own
     * block, as it grows towards a whole body. */
    if (live <= want / 4)
        want -= live;
    sq__buf_from_spare(&c->in, &c->loop->tcp_in_spare, want);
    char *dst;
    size_t avail;
    int err = sq_buf_reserve(&c->in, want, &dst, &avail);
    if (err < 0) {
        sq__conn_release(c, err, true);
        return 0;
    }
    ssize_t n;
    if (c->tls && !(c->flags & F_CLOSING)) {
        /* Decrypted bytes may come with the peer's close_notify: both are kept. */
        n = sq__tls_read(c, dst, want, eof);
        if (n < 0)
            sq__conn_release(c, (int)n, false);
        if (n <= 0)
            return 0;
    } else {
        /* Plain, or a closing TLS connection waiting for the FIN: what comes is dropped. */
        do
            n = read(c->io.fd, dst, want);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                sq__conn_release(c, -errno, false);
            return 0;
        }
        if (n == 0) {
            *eof = true;
            return 0;
        }
    }
    *full = (size_t)n == want;
    c->last_io_ms = c->last_read_ms = sq_loop_now_ms(c->loop);
    if (c->flags & F_CLOSING)
        return 0;
    sq_buf_commit(&c->in, (size_t)n);
    return (size_t)n;
}

/* Up to READS_PER_WAKE reads, each handed to on_read before the next, so
 * the handler's output is checked against the high-water mark after every
 * chunk: queued output never exceeds out_high_water by more than what one
 * chunk of input produced. */
static void conn_readable(sq_conn *c)
{
    for (int i = 0; i < READS_PER_WAKE && conn_wants_read(c); i++) {
        bool eof = false, full = false;
        size_t got = conn_read_once(c, &eof, &full);
        if (c->flags & F_RELEASED)
            return;
        if (eof) {
            c->flags |= F_EOF;
            if (c->flags & F_CLOSING) {
                /* The peer's FIN ends the graceful close once output is out. */
                sq__loop_defer(c->loop, &c->node);
                return;
            }
        }
        /* A handler that yielded gets the new bytes with the ones it left, from the timer:
         * delivering each chunk now would hand it a fresh budget per read. */
        if ((got > 0 || eof) && !(c->flags & F_NOTIFY_INPUT))
            conn_deliver(c);
        if (eof || !full)
            return; /* EOF, EAGAIN, or most likely drained: spare a syscall */
    }
}

static void conn_io_cb(sq_loop *loop, sq_io *io, unsigned events)
{
    (void)loop;
    sq_conn *c = io->data;
    if (c->flags & F_TLS_HANDSHAKE) {
        sq__conn_tls_step(c);
        return;
    }
    if (c->flags & F_CONNECTING) {
        sq__conn_connected(c);
        return;
    }
    unsigned read_ev = (c->flags & F_TLS_WANT_WRITE) ? SQ_EV_WRITE : SQ_EV_READ;
    unsigned write_ev = (c->flags & F_TLS_WANT_READ) ? SQ_EV_READ : SQ_EV_WRITE;
    if (events & write_ev)
        sq__loop_defer(c->loop, &c->node); /* sent at step 6, never here */
    if ((events & read_ev) || ((events & SQ_EV_ERROR) && conn_wants_read(c))) {
        conn_readable(c);
        conn_settle(c);
    } else if (events & SQ_EV_ERROR) {
        /* Not reading, so the read will not report it: ask the socket. A
         * hang-up with both directions shut is a finished close, and
         * must not be reported again on every iteration. */
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr != 0)
            sq__conn_release(c, -soerr, false);
        else if ((c->flags & F_EOF) && (c->flags & F_SHUT_DONE))
            sq__conn_release(c, 0, false);
        else if (sq_buf_len(&c->out) > 0)
            sq__loop_defer(c->loop, &c->node);
    }
    sq__conn_update_io(c);
    sq__conn_arm_timer(c);
}

/* --- Connection API ---------------------------------------------------- */

void sq_conn_set_handlers(sq_conn *c, const sq_conn_handlers *h, void *data)
{
    c->h = *h;
    c->data = data;
}

void *sq_conn_data(const sq_conn *c)
{
    return c->data;
}

sq_loop *sq_conn_loop(const sq_conn *c)
{
    return c->loop;
}

int sq_conn_fd(const sq_conn *c)
{
    return c->io.fd;
}

void sq_conn_pause_read(sq_conn *c)
{
    c->flags |= F_PAUSED;
}

void sq_conn_resume_read(sq_conn *c)
{
    if (!(c->flags & F_PAUSED))
        return;
    c->flags &= ~F_PAUSED;
    if (c->flags & (F_RELEASED | F_CLOSING))
        return;
    /* Input that arrived while paused, or a FIN, is delivered from the
     * timer: never inside the caller's own callback, and before the
     * hooks of the iteration. */
    if (sq_buf_len(&c->in) > 0 || ((c->flags & F_EOF) && !(c->flags & F_EOF_TOLD))) {
        c->flags |= F_NOTIFY_INPUT;
        sq__conn_arm_timer(c);
    }
    sq__conn_update_io(c);
}

void sq_conn_yield(sq_conn *c)
{
    if (c->flags & (F_RELEASED | F_CLOSING | F_PAUSED) || sq_buf_len(&c->in) == 0)
        return;
    c->flags |= F_NOTIFY_INPUT;
    sq__conn_arm_timer(c);
}

void sq_conn_close(sq_conn *c)
{
    if (c->flags & (F_RELEASED | F_CLOSING))
        return;
    if (c->flags & F_CONNECTING) {
        sq__conn_fail_connect(c, -ECANCELED);
        return;
    }
    c->flags |= F_CLOSING | F_SHUT_WANTED | F_EOF_TOLD;
    c->flags &= ~(F_NOTIFY_INPUT | F_NOTIFY_DRAIN | F_BACKPRESSURE);
    c->last_write_ms = sq_loop_now_ms(c->loop);
    sq__loop_defer(c->loop, &c->node);
    sq__conn_update_io(c);
    sq__conn_arm_timer(c);
}

void sq_conn_shutdown(sq_conn *c)
{
    if (c->flags & (F_RELEASED | F_SHUT_WANTED | F_CONNECTING))
        return;
    c->flags |= F_SHUT_WANTED;
    sq__loop_defer(c->loop, &c->node);
}

void sq_conn_abort(sq_conn *c)
{
    sq__conn_release(c, -ECONNABORTED, true);
}
