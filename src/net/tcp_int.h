/*
 * Internal interface between the parts of the TCP module: tcp.c (a
 * connection's life: reading, timeouts, closing), tcp_write.c (its output:
 * queueing, the flush at step 6, the half-close) and tcp_listen.c (how
 * connections come to exist: listeners, accept, outbound connect). Not
 * installed.
 */
#ifndef SQ_TCP_INT_H
#define SQ_TCP_INT_H

#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop_int.h"
#include "synq/tcp.h"
#include "synq/timer.h"

/* Connection state flags (the state machine is described in tcp.c). */
enum {
    F_CONNECTING = 1u << 0,   /* outbound connect in progress */
    F_CONNECT_FAIL = 1u << 1, /* connect failed; cb(NULL, err) at step 6 */
    F_PAUSED = 1u << 2,       /* handler asked not to get on_read */
    F_BACKPRESSURE = 1u << 3, /* output passed high water; not reading */
    F_EOF = 1u << 4,          /* peer FIN seen */
    F_EOF_TOLD = 1u << 5,     /* on_eof already ran (or was replaced) */
    F_CLOSING = 1u << 6,      /* graceful close in progress */
    F_SHUT_WANTED = 1u << 7,  /* SHUT_WR once the output is sent */
    F_SHUT_DONE = 1u << 8,
    F_RELEASED = 1u << 9, /* fd closed; on_close pending */
    F_NOTIFY_INPUT = 1u << 10,
    F_NOTIFY_DRAIN = 1u << 11,
    F_OUT_IDLE = 1u << 12, /* output was empty at the last check */
    /* The kernel took less than all queued output: wait for writability.
     * Output that went out whole never asks for EPOLLOUT, which saves two
     * epoll_ctl calls per request-reply round trip. */
    F_WRITE_BLOCKED = 1u << 13,
    /* TLS (tls.c): the handshake is under way (for an outbound connect, F_CONNECTING stays
     * set until it completed); the last TLS read needs writability, or the last TLS write
     * readability (or, during the handshake, which one it waits for); OpenSSL holds
     * decrypted input the fd's readiness will not announce: read it from the timer. */
    F_TLS_HANDSHAKE = 1u << 14,
    F_TLS_WANT_READ = 1u << 15,
    F_TLS_WANT_WRITE = 1u << 16,
    F_TLS_READ_AGAIN = 1u << 17,
    F_OUT_HELD = 1u << 18, /* sq_conn_hold_output: queued output is not sent */
    /* TLS: OpenSSL may hold its record buffers (a TLS call since they were last freed); the
     * timer frees them once the connection had no I/O for a while (tcp.c). */
    F_TLS_BUFFERS = 1u << 19,
};

struct sq_conn {
    sq_loop *loop;
    sq_io io;
    sq_timer timer;
    sq__deferred node;
    sq_buf in;
    sq_buf out;
    sq_conn_opts opts;
    sq_conn_handlers h;
    void *data;
    unsigned flags;
    int close_err;
    size_t out_counted;     /* this connection's share of loop->tcp_out_bytes */
    uint64_t last_io_ms;    /* last byte read or sent (idle timeout) */
    uint64_t last_read_ms;  /* last byte read (read timeout) */
    uint64_t last_write_ms; /* last output progress (write timeout, linger) */
    uint64_t connect_deadline_ms;
    struct addrinfo *addrs;           /* resolved for an outbound connect */
    const struct addrinfo *next_addr; /* next one to try after a failure */
    sq_connect_cb connect_cb;
    void *connect_data;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    struct sq__tls *tls; /* NULL for plain TCP (tls_int.h) */
};

/* A connection for a connected or connecting socket fd (owned from now
 * on), not yet watched. opts NULL means defaults. NULL when out of memory
 * (fd is then left to the caller). */
sq_conn *sq__conn_new(sq_loop *loop, int fd, const sq_conn_opts *opts);

/* After the accept or connect callback returned: starts watching the
 * connection, or aborts it with -EINVAL when the callback installed no
 * on_read (and did not close it). */
void sq__conn_started(sq_conn *c);

/* (Re)computes the events watched and arms the timer for the nearest
 * deadline; for a connecting socket, writability and the connect timeout. */
void sq__conn_watch(sq_conn *c);

/* Recomputes only the events watched (sq__conn_watch without the timer). */
void sq__conn_update_io(sq_conn *c);

/* Arms the timer for the nearest deadline or notification, if it is not armed nearer. */
void sq__conn_arm_timer(sq_conn *c);

/* The deferred node's work (tcp_write.c): sends the output, half-closes once it is all out,
 * finishes a graceful close. May release c. */
void sq__conn_flush(sq_conn *c);

/* Brings the loop's total of queued output up to date with c's output buffer (tcp_write.c):
 * after anything that changed the buffer. */
void sq__conn_count_out(sq_conn *c);

/* Gives c's drained output block back to the loop's spares, or shrinks a burst's (tcp_write.c). */
void sq__conn_settle_out(sq_conn *c);

/* Closes the socket now and queues on_close for step 6. reset sends an RST (SO_LINGER 0)
 * instead of a FIN. Safe from anywhere; the sq_conn stays valid until the deferred node ran
 * on_close. */
void sq__conn_release(sq_conn *c, int err, bool reset);

/* A connecting socket became writable: the connect completed or failed (then the next
 * address is tried). Through TLS, the handshake starts; the callback runs when it is done. */
void sq__conn_connected(sq_conn *c);

/* One step of c's TLS handshake (from the io callback, or right after connect). */
void sq__conn_tls_step(sq_conn *c);

/* Ends a connect attempt: the connect callback gets (NULL, err) from the
 * loop's deferred step, then the connection is freed. */
void sq__conn_fail_connect(sq_conn *c, int err);

/* Tries the remaining resolved addresses of a connecting c, in order,
 * until a connect is under way (returns 0). Returns the last immediate
 * failure, or err when no address was left to try. c's previous socket
 * must already be stopped and closed. */
int sq__conn_connect_next(sq_conn *c, int err);

/* TCP_NODELAY unless no_nodelay; failure is harmless and ignored. */
void sq__set_nodelay(int fd, bool no_nodelay);

#endif
