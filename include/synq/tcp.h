/*
 * TCP listeners and connections with buffered non-blocking I/O.
 *
 * A connection reads into its input buffer and calls on_read with
 * everything not yet consumed; the handler consumes what it can parse and
 * leaves partial frames for the next call. Output written with
 * sq_conn_write() or sq_conn_writev() is appended to the connection's output
 * buffer and sent at the end of the loop iteration (see loop.h) with one
 * send() of the whole buffer; what the kernel does not take stays queued and
 * is sent when the socket becomes writable.
 *
 * Memory: a connection holds its input and output buffers only while they
 * hold bytes. Blocks come from a few spares the loop keeps and go back once
 * drained (after on_read returned, after a send); input left unconsumed for a
 * partial frame is moved into a block of its size. So the storage behind the
 * sq_buf that on_read receives, and behind sq_conn_out(), may change between
 * callbacks: keep the sq_buf pointers, never pointers into their bytes.
 *
 * Backpressure: when queued output exceeds the high-water mark the engine
 * stops reading from the connection until the output drains below the
 * low-water mark (then on_drain runs). Input beyond the input limit also
 * stops reading until the handler consumes some.
 *
 * Termination:
 *  - peer FIN (read returns 0): on_eof runs (default: close gracefully);
 *    queued output is still sent before the socket is closed, so no socket
 *    lingers in CLOSE_WAIT and a half-closed client gets its full reply;
 *  - sq_conn_close(): stop reading, send what is queued, shutdown(SHUT_WR),
 *    then close when the peer closes or after the linger timeout;
 *  - sq_conn_abort(): drop queued output and reset the connection (RST via
 *    SO_LINGER 0), for protocol violations;
 *  - errors and timeouts close the connection with the error.
 * on_close runs exactly once, from the loop (never inside another callback
 * of the same connection); the sq_conn is freed right after it returns.
 */
#ifndef SYNQ_TCP_H
#define SYNQ_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "synq/buf.h"
#include "synq/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sq_listener sq_listener;
typedef struct sq_conn sq_conn;

typedef struct sq_conn_handlers {
    /* Unconsumed input is in `in`; consume what you handle with
     * sq_buf_consume(). Required. */
    void (*on_read)(sq_conn *c, sq_buf *in);
    /* The peer will send no more. NULL means sq_conn_close(). Input already
     * buffered was delivered to on_read before this. */
    void (*on_eof)(sq_conn *c);
    /* Queued output fell below the low-water mark after exceeding the high
     * one. May be NULL. */
    void (*on_drain)(sq_conn *c);
    /* The connection is closed; err is 0 after an orderly close, else a
     * negative errno (-ETIMEDOUT for timeouts, -ECONNRESET ...). The
     * sq_conn is freed after this returns. May be NULL. */
    void (*on_close)(sq_conn *c, int err);
} sq_conn_handlers;

typedef struct sq_conn_opts {
    size_t read_chunk;             /* bytes asked of each read(); default 64 KiB */
    size_t in_limit;               /* most unconsumed input held; default 1 MiB */
    size_t out_high_water;         /* stop reading above this; default 1 MiB */
    size_t out_low_water;          /* resume reading below this; default 256 KiB */
    size_t out_limit;              /* most queued output; past it writes fail
                                      with -ENOBUFS; default 64 MiB */
    uint32_t idle_timeout_ms;      /* close after no I/O for this long; 0 = never */
    uint32_t read_timeout_ms;      /* close when a started frame (input pending)
                                      sees no new bytes for this long; 0 = never */
    uint32_t write_timeout_ms;     /* close when queued output makes no progress
                                      for this long; 0 = never */
    uint32_t linger_ms;            /* graceful close waits this long for the
                                      peer's FIN; default 5000 */
    uint32_t handshake_timeout_ms; /* an accepted TLS connection (tls.h) whose handshake
                                      has not completed this long after accept is closed
                                      with -ETIMEDOUT; 0 = never (the default) */
    bool no_nodelay;               /* TCP_NODELAY is on unless this is set */
} sq_conn_opts;

/* Fills opts with the defaults above. */
void sq_conn_opts_default(sq_conn_opts *opts);

typedef struct sq_listen_opts {
    const char *host;  /* numeric IPv4/IPv6 address or name; NULL = 127.0.0.1 */
    uint16_t port;     /* 0 picks a free port (see sq_listener_port) */
    int backlog;       /* listen(2) backlog; 0 = 511 */
    bool reuseport;    /* SO_REUSEPORT, for one listener per thread */
    bool bind_only;    /* bind, but listen only at sq_listener_listen(): the address is
                          bound (a privileged port too) while connections are refused. Until
                          then Linux lets another SO_REUSEADDR socket bind it as well, and
                          whichever listens first gets it */
    sq_conn_opts conn; /* options for accepted connections */
} sq_listen_opts;

/* A new connection. Set its handlers (sq_conn_set_handlers) before
 * returning, or close it. */
typedef void (*sq_accept_cb)(sq_listener *l, sq_conn *c, void *data);

/* Creates a listening socket (SO_REUSEADDR always) and starts accepting:
 * accepts in a loop until EAGAIN. On EMFILE/ENFILE it sheds: a spare
 * descriptor the listener keeps open is closed to accept the waiting
 * connection and close it at once (sq_listener_shed_count), so the backlog
 * never stays full; when even that fails it pauses accepting for a short
 * while instead of spinning. The listener holds that one extra descriptor
 * for its lifetime. */
int sq_tcp_listen(sq_loop *loop, const sq_listen_opts *opts, sq_accept_cb cb, void *data,
                  sq_listener **out);

/* Adopts a socket that is already bound and listening, made by someone
 * else (systemd socket activation, a parent process), and starts accepting
 * on it exactly as sq_tcp_listen() does.
 *
 * fd must be a listening SOCK_STREAM socket of family AF_INET, AF_INET6 or
 * AF_UNIX (connections on AF_UNIX get no peer address: sq_conn_peer()
 * answers -EAFNOSUPPORT). Its options are left as they are (no
 * SO_REUSEADDR, backlog or IPV6_V6ONLY change); it is made non-blocking and
 * close-on-exec. conn NULL means sq_conn_opts_default().
 *
 * Returns 0 and *out, and the listener owns fd from then on
 * (sq_listener_close() closes it). Else a negative errno and fd stays the
 * caller's, open: -EBADF (fd is not open), -ENOTSOCK (not a socket),
 * -EPROTOTYPE (not a stream socket), -EINVAL (not listening, or a NULL
 * argument), -EAFNOSUPPORT (another family), -ENOMEM. */
int sq_tcp_listen_fd(sq_loop *loop, int fd, const sq_conn_opts *conn, sq_accept_cb cb, void *data,
                     sq_listener **out);

/* Starts listening and accepting on a listener made with bind_only (for any other, does
 * nothing). 0 or a negative errno (listen(2)'s; the listener stays bound, not listening). */
int sq_listener_listen(sq_listener *l);

/* The port actually bound; 0 for an AF_UNIX listener. */
uint16_t sq_listener_port(const sq_listener *l);

/* The address the listening socket is bound to (getsockname(2)), for an adopted socket too:
 * 0 with *out filled and *len its length, or a negative errno. */
int sq_listener_address(const sq_listener *l, struct sockaddr_storage *out, socklen_t *len);

/* Stops accepting and closes the socket; existing connections live on. */
void sq_listener_close(sq_listener *l);

/* Counts accept() failures for lack of descriptors (for tests and stats). */
uint64_t sq_listener_emfile_count(const sq_listener *l);

/* Connections accepted and closed at once because the process was out of
 * descriptors (see sq_tcp_listen). */
uint64_t sq_listener_shed_count(const sq_listener *l);

/* Outbound connection. cb runs exactly once, from the loop: with c set and
 * err 0 when connected, else c NULL and err a negative errno (-ETIMEDOUT
 * when timeout_ms passed, -ECONNREFUSED ...). */
typedef void (*sq_connect_cb)(sq_conn *c, int err, void *data);
int sq_tcp_connect(sq_loop *loop, const char *host, uint16_t port, const sq_conn_opts *opts,
                   uint32_t timeout_ms, sq_connect_cb cb, void *data);

void sq_conn_set_handlers(sq_conn *c, const sq_conn_handlers *h, void *data);
void *sq_conn_data(const sq_conn *c);
sq_loop *sq_conn_loop(const sq_conn *c);
int sq_conn_fd(const sq_conn *c);

/* Queues bytes for sending at the end of the iteration (they are copied:
 * bytes may be reused on return). Returns 0, or -ENOBUFS past out_limit,
 * -ENOMEM, -EPIPE after close/abort. */
int sq_conn_write(sq_conn *c, const void *bytes, size_t len);
/* sq_conn_write() of the iovcnt pieces one after the other, all or nothing:
 * past out_limit none of them is queued. The pieces are copied into the
 * output buffer, which goes out in the same one send() as any other output
 * (no writev() is made). */
int sq_conn_writev(sq_conn *c, const struct iovec *iov, int iovcnt);

/* The output buffer, for formatting replies in place; call
 * sq_conn_wrote() after appending to it directly. */
sq_buf *sq_conn_out(sq_conn *c);
void sq_conn_wrote(sq_conn *c);

/* Holds the output: bytes queued (and a graceful close's FIN) are not sent until the hold is
 * lifted with hold false, while input, timers and deadlines go on. A server that may answer
 * only once a change is replicated holds the replies until then. */
void sq_conn_hold_output(sq_conn *c, bool hold);

/* Bytes queued and not yet taken by the kernel. */
size_t sq_conn_pending(const sq_conn *c);

/* Stop / resume calling on_read (input keeps being buffered up to
 * in_limit, and EOF is still noticed). */
void sq_conn_pause_read(sq_conn *c);
void sq_conn_resume_read(sq_conn *c);

/* The handler left input unconsumed on purpose (it bounds its work per
 * loop iteration so that one busy peer cannot starve the others): call
 * on_read again with what is left at the next timer step (step 4 of this
 * iteration when called from an I/O callback, else of the next one),
 * without waiting for new bytes; bytes read meanwhile are not delivered
 * separately but join that call. No-op when no input is buffered, while
 * paused (resuming delivers it) or closing. Safe from any callback. */
void sq_conn_yield(sq_conn *c);

/* Output queued on all of loop's connections and not yet taken by the
 * kernel, in bytes: for a server that bounds its total output memory. */
size_t sq_tcp_out_pending(const sq_loop *loop);

/* Graceful close: stop reading, send what is queued, half-close, then
 * close (see above). Safe from any callback; idempotent. */
void sq_conn_close(sq_conn *c);

/* Half-close only: send what is queued, then shutdown(SHUT_WR); reading
 * goes on. */
void sq_conn_shutdown(sq_conn *c);

/* Abortive close: drop queued output and reset (RST). */
void sq_conn_abort(sq_conn *c);

/* The peer's address as text ("127.0.0.1:5555", "[::1]:5555"). */
int sq_conn_peer(const sq_conn *c, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
