/*
 * The output side of a TCP connection (contract in include/synq/tcp.h; the connection's life
 * is in tcp.c): queueing output (sq_conn_write and the rest), and the flush of the loop's step
 * 6, which sends the output buffer with one send() (through TLS: SSL_write_ex of the whole
 * output, in records of up to 16 KiB), then half-closes once everything went out (after
 * close_notify on TLS), and finishes a graceful close. Nothing here writes to the socket
 * outside that step: see the model in tcp.c.
 */
#include "synq/tcp.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "buf_int.h"
#include "loop_struct.h"
#include "tcp_int.h"
#include "tls_int.h"

/* Sizes are size_t so that a product of them is computed in size_t. */
#define KIB ((size_t)1024)

/* Which drained output blocks the loop keeps as spares (buf_int.h): replies wait in their
 * blocks until the end of the loop pass, so there is one per connection served in a pass, up
 * to 64; a burst's bigger block is freed once sent. An idle loop holds at most 1 MiB of them. */
static const sq__spare_policy out_spare_policy = {4 * KIB, 16 * KIB, 64};

/* Brings the loop's total of queued output up to date with this
 * connection's output buffer. Called wherever the buffer changed; sizes are
 * unsigned, so the difference wraps and the sum comes out right. */
void sq__conn_count_out(sq_conn *c)
{
    size_t len = sq_buf_len(&c->out);
    c->loop->tcp_out_bytes += len - c->out_counted;
    c->out_counted = len;
}

void sq__conn_settle_out(sq_conn *c)
{
    sq__buf_settle(&c->out, &c->loop->tcp_out_spare, &out_spare_policy);
}

/* Before a write into the output buffer: a connection that holds none takes the spare. */
static void conn_take_out(sq_conn *c)
{
    if (c->out.cap == 0 && !(c->flags & F_RELEASED))
        sq__buf_from_spare(&c->out, &c->loop->tcp_out_spare, 1);
}

/* The one send of a flush (through TLS: the records of the whole output, one by one). Returns
 * the bytes taken, 0 when the socket is full, -1 after an error released c. */
static ssize_t conn_send(sq_conn *c, size_t len)
{
    ssize_t n;
    if (c->tls) {
        n = sq__tls_write(c, sq_buf_peek(&c->out), len);
    } else {
        /* send() rather than write(): MSG_NOSIGNAL turns a write to a reset
         * connection into EPIPE instead of killing the process. */
        n = send(c->io.fd, sq_buf_peek(&c->out), len, MSG_NOSIGNAL);
        if (n < 0)
            n = errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
    }
    if (n < 0) {
        sq__conn_release(c, (int)n, true);
        return -1;
    }
    return n;
}

/* Before the TCP half-close, a TLS connection sends close_notify. False when that has to
 * wait for writability (or an error released c). */
static bool conn_tls_shutdown(sq_conn *c)
{
    int r = c->tls ? sq__tls_shutdown(c) : 0;
    if (r < 0)
        sq__conn_release(c, r, true);
    if (r > 0) {
        c->flags |= F_WRITE_BLOCKED;
        sq__conn_update_io(c);
    }
    return r == 0;
}

/* The loop's step 6: flush output, half-close, finish closes. */
void sq__conn_flush(sq_conn *c)
{
    size_t len = sq_buf_len(&c->out);
    uint64_t now = sq_loop_now_ms(c->loop);
    if (c->flags & F_TLS_HANDSHAKE)
        return; /* output waits for the handshake, which queues this again when done */
    if (c->flags & F_OUT_HELD)
        return; /* sq_conn_hold_output(c, false) queues this again */
    if (len > 0) {
        ssize_t n = conn_send(c, len);
        if (n < 0)
            return;
        if (n > 0) {
            sq_buf_consume(&c->out, (size_t)n);
            sq__conn_count_out(c);
            c->last_io_ms = c->last_write_ms = now;
            len -= (size_t)n;
        }
    }
    /* Sent whole, the block goes back; a burst drained to a quarter keeps only what is left. */
    sq__conn_settle_out(c);
    if (len > 0)
        c->flags |= F_WRITE_BLOCKED;
    else
        c->flags &= ~F_WRITE_BLOCKED;
    if (len == 0) {
        c->flags |= F_OUT_IDLE;
        if ((c->flags & F_SHUT_WANTED) && !(c->flags & F_SHUT_DONE)) {
            if (!conn_tls_shutdown(c))
                return;
            if (shutdown(c->io.fd, SHUT_WR) < 0 && errno != ENOTCONN) {
                sq__conn_release(c, -errno, true);
                return;
            }
            c->flags |= F_SHUT_DONE;
            c->last_write_ms = now; /* linger counts from the FIN */
        }
        if ((c->flags & F_CLOSING) && (c->flags & F_EOF)) {
            sq__conn_release(c, 0, false);
            return;
        }
    }
    if ((c->flags & F_BACKPRESSURE) && len <= c->opts.out_low_water) {
        c->flags &= ~F_BACKPRESSURE;
        if (c->h.on_drain && !(c->flags & F_CLOSING)) {
            /* on_drain runs from the timer (step 4 of the next iteration)
             * so what it writes passes the before-wait hooks first. */
            c->flags |= F_NOTIFY_DRAIN;
        }
    }
    sq__conn_update_io(c);
    sq__conn_arm_timer(c);
}

sq_buf *sq_conn_out(sq_conn *c)
{
    conn_take_out(c);
    return &c->out;
}

/* After output was queued: schedule the flush, watch the water marks. */
void sq_conn_wrote(sq_conn *c)
{
    if (c->flags & F_RELEASED) {
        sq_buf_clear(&c->out);
        sq__conn_count_out(c);
        return;
    }
    sq__conn_count_out(c);
    size_t len = sq_buf_len(&c->out);
    if (len == 0)
        return;
    if (c->flags & F_OUT_IDLE) {
        /* The write timeout counts from when output started waiting. */
        c->flags &= ~F_OUT_IDLE;
        c->last_write_ms = sq_loop_now_ms(c->loop);
    }
    sq__loop_defer(c->loop, &c->node);
    if (len > c->opts.out_high_water && !(c->flags & F_BACKPRESSURE)) {
        c->flags |= F_BACKPRESSURE;
        sq__conn_update_io(c);
    }
    sq__conn_arm_timer(c);
}

void sq_conn_hold_output(sq_conn *c, bool hold)
{
    if (hold) {
        c->flags |= F_OUT_HELD;
        return;
    }
    if (!(c->flags & F_OUT_HELD))
        return;
    c->flags &= ~F_OUT_HELD;
    if (!(c->flags & F_RELEASED))
        sq__loop_defer(c->loop, &c->node);
}

int sq_conn_write(sq_conn *c, const void *bytes, size_t len)
{
    if (c->flags & (F_RELEASED | F_SHUT_WANTED | F_CONNECTING))
        return -EPIPE;
    if (len == 0)
        return 0;
    conn_take_out(c);
    int err = sq_buf_append(&c->out, bytes, len);
    if (err < 0)
        return err;
    sq_conn_wrote(c);
    return 0;
}

int sq_conn_writev(sq_conn *c, const struct iovec *iov, int iovcnt)
{
    if (c->flags & (F_RELEASED | F_SHUT_WANTED | F_CONNECTING))
        return -EPIPE;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    /* All or nothing: check the limit before appending any piece. */
    if (total > c->opts.out_limit - sq_buf_len(&c->out))
        return -ENOBUFS;
    conn_take_out(c);
    char *dst;
    size_t avail;
    int err = sq_buf_reserve(&c->out, total, &dst, &avail);
    if (err < 0)
        return err;
    for (int i = 0; i < iovcnt; i++) {
        memcpy(dst, iov[i].iov_base, iov[i].iov_len);
        dst += iov[i].iov_len;
    }
    sq_buf_commit(&c->out, total);
    sq_conn_wrote(c);
    return 0;
}

size_t sq_conn_pending(const sq_conn *c)
{
    return sq_buf_len(&c->out);
}

size_t sq_tcp_out_pending(const sq_loop *loop)
{
    return loop->tcp_out_bytes;
}
