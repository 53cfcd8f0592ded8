/*
 * Shared by the engine's TCP tests (test_net_tcp.c, test_net_tcp_connect.c):
 * a test server running a loop in its own thread, and blocking-socket
 * client helpers.
 */
#ifndef SQ_TEST_NET_TCP_HELPERS_H
#define SQ_TEST_NET_TCP_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "synq/loop.h"
#include "synq/tcp.h"
#include "synq/timer.h"
#include "test.h"

/* Sizes are size_t so that a product of them is computed in size_t. */
#define KIB ((size_t)1024)

/* --- A test server ------------------------------------------------------ */

enum mode {
    MODE_ECHO,        /* echo everything; default on_eof (close) */
    MODE_ABORT,       /* abort on the first input */
    MODE_REPLY_CLOSE, /* reply "bye\n" to the first input, then close */
    MODE_IDLE,        /* never replies */
};

typedef struct server {
    sq_loop *loop;
    sq_listener *l;
    pthread_t thread;
    enum mode mode;
    sq_listen_opts opts;
    uint16_t port;
    atomic_int accepted;
    atomic_int closed;
    atomic_int last_close_err;
    atomic_int close_calls_bad; /* on_close ran twice for one conn */
    atomic_size_t max_pending;
    atomic_size_t bytes_read;
    atomic_int drains;
    atomic_int reads_while_pressured;
    atomic_size_t max_in; /* most unconsumed input seen by on_read */
    char peer[64];
} server;

typedef struct conn_state {
    server *srv;
    bool closed;
} conn_state;

static inline void srv_read(sq_conn *c, sq_buf *in)
{
    conn_state *st = sq_conn_data(c);
    server *s = st->srv;
    size_t n = sq_buf_len(in);
    atomic_fetch_add(&s->bytes_read, n);
    if (n > atomic_load(&s->max_in))
        atomic_store(&s->max_in, n);
    /* Reading must have stopped above the high-water mark. */
    if (sq_conn_pending(c) > s->opts.conn.out_high_water)
        atomic_fetch_add(&s->reads_while_pressured, 1);
    switch (s->mode) {
    case MODE_ECHO:
        ASSERT_EQ(sq_conn_write(c, sq_buf_peek(in), n), 0);
        break;
    case MODE_ABORT:
        sq_conn_abort(c);
        ASSERT_EQ(sq_conn_write(c, "x", 1), -EPIPE);
        break;
    case MODE_REPLY_CLOSE:
        ASSERT_EQ(sq_conn_write(c, "bye\n", 4), 0);
        sq_conn_close(c);
        sq_conn_close(c); /* idempotent */
        break;
    case MODE_IDLE:
        return; /* keep the input: a started frame */
    }
    /* Consuming after a close or abort must still be safe. */
    sq_buf_consume(in, n);
    size_t p = sq_conn_pending(c);
    size_t prev = atomic_load(&s->max_pending);
    while (p > prev && !atomic_compare_exchange_weak(&s->max_pending, &prev, p))
        ;
}

static inline void srv_drain(sq_conn *c)
{
    conn_state *st = sq_conn_data(c);
    atomic_fetch_add(&st->srv->drains, 1);
}

static inline void srv_close(sq_conn *c, int err)
{
    conn_state *st = sq_conn_data(c);
    if (st->closed)
        atomic_fetch_add(&st->srv->close_calls_bad, 1);
    st->closed = true;
    atomic_store(&st->srv->last_close_err, err);
    atomic_fetch_add(&st->srv->closed, 1);
    free(st);
}

static inline void srv_accept(sq_listener *l, sq_conn *c, void *data)
{
    (void)l;
    server *s = data;
    conn_state *st = calloc(1, sizeof *st);
    ASSERT_TRUE(st != NULL);
    st->srv = s;
    static const sq_conn_handlers h = {
        .on_read = srv_read, .on_drain = srv_drain, .on_close = srv_close};
    sq_conn_set_handlers(c, &h, st);
    ASSERT_EQ(sq_conn_peer(c, s->peer, sizeof s->peer), 0);
    atomic_fetch_add(&s->accepted, 1);
}

static inline void srv_stop_cb(sq_loop *loop, void *data)
{
    (void)data;
    sq_loop_stop(loop);
}

static inline void *srv_thread(void *arg)
{
    server *s = arg;
    sq_loop_run(s->loop);
    return NULL;
}

/* A server loop listening on 127.0.0.1, port 0, not yet running (srv_run), so a test can
 * set up its listener further. conn_opts may be NULL. */
static inline void srv_listen(server *s, enum mode mode, const sq_conn_opts *conn_opts)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->opts.host = "127.0.0.1";
    if (conn_opts)
        s->opts.conn = *conn_opts;
    else
        sq_conn_opts_default(&s->opts.conn);
    ASSERT_EQ(sq_loop_new(&s->loop), 0);
    sq_loop_set_wake_cb(s->loop, srv_stop_cb, NULL);
    ASSERT_EQ(sq_tcp_listen(s->loop, &s->opts, srv_accept, s, &s->l), 0);
    s->port = sq_listener_port(s->l);
    ASSERT_GT(s->port, 0);
}

/* Runs srv_listen's loop in its own thread. */
static inline void srv_run(server *s)
{
    ASSERT_EQ(pthread_create(&s->thread, NULL, srv_thread, s), 0);
}

/* Starts a server loop on 127.0.0.1, port 0. conn_opts may be NULL. */
static inline void srv_start(server *s, enum mode mode, const sq_conn_opts *conn_opts)
{
    srv_listen(s, mode, conn_opts);
    srv_run(s);
}

static inline void srv_stop(server *s)
{
    ASSERT_EQ(sq_loop_wake(s->loop), 0);
    ASSERT_EQ(pthread_join(s->thread, NULL), 0);
    sq_listener_close(s->l);
    /* Connections still open belong to the exiting test process. */
}

/* --- Client helpers ----------------------------------------------------- */

static inline int client_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_TRUE(fd >= 0);
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_EQ(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static inline void fill_pattern(char *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (char)(seed >> 16);
    }
}

/* Sends all of out while receiving into in (up to in_len) with poll, so
 * neither side blocks on a full socket buffer; then receives the rest
 * until in_len bytes or EOF. Returns bytes received. */
static inline size_t exchange(int fd, const char *out, size_t out_len, char *in, size_t in_len,
                              bool shut_after_send)
{
    size_t sent = 0, got = 0;
    bool shut = false;
    while (got < in_len) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < out_len ? POLLOUT : 0)};
        int rc = poll(&p, 1, 10000);
        ASSERT_GT(rc, 0);
        if ((p.revents & POLLOUT) && sent < out_len) {
            ssize_t n = send(fd, out + sent, out_len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
        }
        if (sent == out_len && shut_after_send && !shut) {
            ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
            shut = true;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, in + got, in_len - got, MSG_DONTWAIT);
            if (n == 0)
                break;
            if (n > 0)
                got += (size_t)n;
        }
    }
    return got;
}

static inline int wait_until(atomic_int *v, int want, int ms)
{
    for (int i = 0; i < ms && atomic_load(v) < want; i++)
        usleep(1000);
    return atomic_load(v);
}

#endif
