/*
 * Engine tests for tcp.c over real loopback sockets, run against both
 * backends (the test_net_ prefix). Two styles:
 *  - a server loop in its own thread with plain blocking client sockets,
 *    for data-path behaviour (echo, half-close, backpressure, close kinds);
 *  - one thread pumping sq_loop_run_once() while driving raw sockets, for
 *    outbound connects, EMFILE and timeouts, where the test must see the
 *    loop's state between iterations.
 * Counters shared with the server thread are atomics; the loop itself is
 * touched only from its own thread (stopped through sq_loop_wake()).
 */
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

static void srv_read(sq_conn *c, sq_buf *in)
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

static void srv_drain(sq_conn *c)
{
    conn_state *st = sq_conn_data(c);
    atomic_fetch_add(&st->srv->drains, 1);
}

static void srv_close(sq_conn *c, int err)
{
    conn_state *st = sq_conn_data(c);
    if (st->closed)
        atomic_fetch_add(&st->srv->close_calls_bad, 1);
    st->closed = true;
    atomic_store(&st->srv->last_close_err, err);
    atomic_fetch_add(&st->srv->closed, 1);
    free(st);
}

static void srv_accept(sq_listener *l, sq_conn *c, void *data)
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

static void srv_stop_cb(sq_loop *loop, void *data)
{
    (void)data;
    sq_loop_stop(loop);
}

static void *srv_thread(void *arg)
{
    server *s = arg;
    sq_loop_run(s->loop);
    return NULL;
}

/* Starts a server loop on 127.0.0.1, port 0. conn_opts may be NULL. */
static void srv_start(server *s, enum mode mode, const sq_conn_opts *conn_opts)
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
    ASSERT_EQ(pthread_create(&s->thread, NULL, srv_thread, s), 0);
}

static void srv_stop(server *s)
{
    ASSERT_EQ(sq_loop_wake(s->loop), 0);
    ASSERT_EQ(pthread_join(s->thread, NULL), 0);
    sq_listener_close(s->l);
    /* Connections still open belong to the exiting test process. */
}

/* --- Client helpers ----------------------------------------------------- */

static int client_connect(uint16_t port)
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

static void fill_pattern(char *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (char)(seed >> 16);
    }
}

/* Sends all of out while receiving into in (up to in_len) with poll, so
 * neither side blocks on a full socket buffer; then receives the rest
 * until in_len bytes or EOF. Returns bytes received. */
static size_t exchange(int fd, const char *out, size_t out_len, char *in, size_t in_len,
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

static int wait_until(atomic_int *v, int want, int ms)
{
    for (int i = 0; i < ms && atomic_load(v) < want; i++)
        usleep(1000);
    return atomic_load(v);
}

/* --- Data path ---------------------------------------------------------- */

TEST(echo_1mib_byte_exact)
{
    server s;
    srv_start(&s, MODE_ECHO, NULL);
    size_t len = 1 << 20;
    char *out = malloc(len), *in = malloc(len + 1);
    fill_pattern(out, len, 1);
    int fd = client_connect(s.port);
    ASSERT_EQ(exchange(fd, out, len, in, len + 1, true), len);
    ASSERT_MEM_EQ(in, out, len);
    /* The peer's FIN after the reply: default on_eof closes gracefully. */
    ASSERT_EQ(recv(fd, in, 1, 0), 0);
    ASSERT_EQ(wait_until(&s.closed, 1, 2000), 1);
    ASSERT_EQ(atomic_load(&s.last_close_err), 0);
    close(fd);
    srv_stop(&s);
    free(out);
    free(in);
}

TEST(one_byte_writes_reassemble)
{
    server s;
    srv_start(&s, MODE_ECHO, NULL);
    int fd = client_connect(s.port);
    char msg[300], in[300];
    fill_pattern(msg, sizeof msg, 7);
    for (size_t i = 0; i < sizeof msg; i++) {
        ASSERT_EQ(send(fd, msg + i, 1, MSG_NOSIGNAL), 1);
        if (i % 50 == 0)
            usleep(1000); /* let some bytes arrive one per segment */
    }
    size_t got = 0;
    while (got < sizeof msg) {
        ssize_t n = recv(fd, in + got, sizeof in - got, 0);
        ASSERT_GT(n, 0);
        got += (size_t)n;
    }
    ASSERT_MEM_EQ(in, msg, sizeof msg);
    close(fd);
    srv_stop(&s);
}

TEST(many_clients_pipelining)
{
    server s;
    srv_start(&s, MODE_ECHO, NULL);
    enum { CLIENTS = 50, MSGS = 200, MSG_LEN = 16 };
    int fds[CLIENTS];
    static char out[CLIENTS][MSGS * MSG_LEN], in[CLIENTS][MSGS * MSG_LEN];
    size_t sent[CLIENTS] = {0}, got[CLIENTS] = {0};
    for (int i = 0; i < CLIENTS; i++) {
        fds[i] = client_connect(s.port);
        for (int m = 0; m < MSGS; m++) {
            char msg[MSG_LEN + 1];
            snprintf(msg, sizeof msg, "c%03d m%05d xyz\n", i, m);
            memcpy(out[i] + m * MSG_LEN, msg, MSG_LEN);
        }
    }
    int done = 0;
    while (done < CLIENTS) {
        struct pollfd p[CLIENTS];
        for (int i = 0; i < CLIENTS; i++) {
            p[i].fd = got[i] == sizeof in[i] ? -1 : fds[i];
            p[i].events = POLLIN | (sent[i] < sizeof out[i] ? POLLOUT : 0);
        }
        ASSERT_GT(poll(p, CLIENTS, 10000), 0);
        for (int i = 0; i < CLIENTS; i++) {
            if ((p[i].revents & POLLOUT) && sent[i] < sizeof out[i]) {
                /* Odd-sized pieces so messages straddle segments. */
                size_t piece = sizeof out[i] - sent[i];
                if (piece > 333)
                    piece = 333;
                ssize_t n = send(fds[i], out[i] + sent[i], piece, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n > 0)
                    sent[i] += (size_t)n;
            }
            if (p[i].revents & POLLIN) {
                ssize_t n = recv(fds[i], in[i] + got[i], sizeof in[i] - got[i], MSG_DONTWAIT);
                ASSERT_TRUE(n != 0);
                if (n > 0) {
                    got[i] += (size_t)n;
                    if (got[i] == sizeof in[i])
                        done++;
                }
            }
        }
    }
    for (int i = 0; i < CLIENTS; i++) {
        ASSERT_MEM_EQ(in[i], out[i], sizeof out[i]);
        close(fds[i]);
    }
    ASSERT_EQ(atomic_load(&s.accepted), CLIENTS);
    srv_stop(&s);
}

TEST(half_close_gets_full_reply_then_eof)
{
    server s;
    srv_start(&s, MODE_ECHO, NULL);
    int fd = client_connect(s.port);
    char msg[200000], in[200001];
    fill_pattern(msg, sizeof msg, 3);
    /* Everything, then FIN, before reading a byte. */
    size_t off = 0;
    while (off < sizeof msg) {
        ssize_t n = send(fd, msg + off, sizeof msg - off, MSG_NOSIGNAL);
        ASSERT_GT(n, 0);
        off += (size_t)n;
    }
    ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, in + got, sizeof in - got, 0);
        ASSERT_TRUE(n >= 0);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    ASSERT_EQ(got, sizeof msg);
    ASSERT_MEM_EQ(in, msg, sizeof msg);
    close(fd);
    ASSERT_EQ(wait_until(&s.closed, 1, 2000), 1);
    ASSERT_EQ(atomic_load(&s.last_close_err), 0);
    srv_stop(&s);
}

TEST(backpressure_bounds_queued_output)
{
    sq_conn_opts o;
    sq_conn_opts_default(&o);
    o.read_chunk = 16 * 1024;
    o.out_high_water = 128 * 1024;
    o.out_low_water = 32 * 1024;
    server s;
    srv_start(&s, MODE_ECHO, &o);
    int fd = client_connect(s.port);
    int small = 64 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    /* Send without ever reading until the kernel refuses more for a while:
     * that only happens if the server stopped reading. */
    char chunk[16384];
    fill_pattern(chunk, sizeof chunk, 9);
    size_t sent = 0;
    int stalls = 0;
    while (stalls < 20 && sent < (size_t)256 << 20) {
        ssize_t n = send(fd, chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            stalls = 0;
        } else {
            ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
            stalls++;
            usleep(10000);
        }
    }
    ASSERT_EQ(stalls, 20);             /* the flood was stopped */
    ASSERT_LT(sent, (size_t)32 << 20); /* by the server, not by memory */
    ASSERT_LE(atomic_load(&s.max_pending), o.out_high_water + o.read_chunk);
    ASSERT_GT(atomic_load(&s.max_pending), o.out_high_water); /* it was reached */
    ASSERT_EQ(atomic_load(&s.reads_while_pressured), 0);
    /* Reading everything back lets the server drain and resume. */
    char *in = malloc(sent);
    size_t got = 0;
    while (got < sent) {
        ssize_t n = recv(fd, in + got, sent - got, 0);
        ASSERT_GT(n, 0);
        got += (size_t)n;
    }
    ASSERT_EQ(atomic_load(&s.bytes_read), sent);
    ASSERT_GE(atomic_load(&s.drains), 1);
    free(in);
    close(fd);
    srv_stop(&s);
}

TEST(write_timeout_when_output_makes_no_progress)
{
    sq_conn_opts o;
    sq_conn_opts_default(&o);
    o.read_chunk = 16 * 1024;
    o.out_high_water = 64 * 1024;
    o.out_low_water = 16 * 1024;
    o.write_timeout_ms = 200;
    server s;
    srv_start(&s, MODE_ECHO, &o);
    int fd = client_connect(s.port);
    char chunk[16384];
    fill_pattern(chunk, sizeof chunk, 5);
    int stalls = 0;
    while (stalls < 10) {
        if (send(fd, chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
            stalls = 0;
        } else {
            stalls++;
            usleep(5000);
        }
    }
    ASSERT_EQ(wait_until(&s.closed, 1, 3000), 1);
    ASSERT_EQ(atomic_load(&s.last_close_err), -ETIMEDOUT);
    close(fd);
    srv_stop(&s);
}

TEST(input_limit_stops_reading_until_consumed)
{
    sq_conn_opts o;
    sq_conn_opts_default(&o);
    o.read_chunk = 4096;
    o.in_limit = 10000;
    server s;
    srv_start(&s, MODE_IDLE, &o); /* never consumes */
    int fd = client_connect(s.port);
    char chunk[4096];
    memset(chunk, 'i', sizeof chunk);
    size_t sent = 0;
    int stalls = 0;
    while (stalls < 20 && sent < (size_t)256 << 20) {
        ssize_t n = send(fd, chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            stalls = 0;
        } else {
            stalls++;
            usleep(5000);
        }
    }
    ASSERT_EQ(stalls, 20);
    ASSERT_EQ(atomic_load(&s.max_in), o.in_limit); /* filled exactly, never past */
    close(fd);
    srv_stop(&s);
}

static void limit_accept(sq_listener *l, sq_conn *c, void *data)
{
    (void)l;
    int *result = data;
    static char big[3000];
    struct iovec iov[2] = {{.iov_base = big, .iov_len = 1500}, {.iov_base = big, .iov_len = 1500}};
    /* out_limit is 4096 (it is raised to out_high_water, also 4096). */
    ASSERT_EQ(sq_conn_writev(c, iov, 2), 0);
    ASSERT_EQ(sq_conn_writev(c, iov, 2), -ENOBUFS); /* all or nothing */
    ASSERT_EQ(sq_conn_pending(c), 3000);
    ASSERT_EQ(sq_conn_write(c, big, 1096), 0);
    ASSERT_EQ(sq_conn_write(c, big, 1), -ENOBUFS);
    ASSERT_EQ(sq_conn_pending(c), 4096);
    *result = 1;
    sq_conn_abort(c);
}

TEST(output_limit_fails_writes_with_enobufs)
{
    sq_loop *loop;
    ASSERT_EQ(sq_loop_new(&loop), 0);
    sq_listen_opts lo = {.host = "127.0.0.1"};
    sq_conn_opts_default(&lo.conn);
    lo.conn.out_high_water = 4096;
    lo.conn.out_low_water = 1024;
    lo.conn.out_limit = 4096;
    int result = 0;
    sq_listener *l;
    ASSERT_EQ(sq_tcp_listen(loop, &lo, limit_accept, &result, &l), 0);
    int fd = client_connect(sq_listener_port(l));
    for (int i = 0; i < 200 && !result; i++)
        ASSERT_EQ(sq_loop_run_once(loop, 10), 0);
    ASSERT_EQ(result, 1);
    ASSERT_EQ(sq_loop_run_once(loop, 10), 0); /* on_close, free */
    close(fd);
    sq_listener_close(l);
    sq_loop_free(loop);
}

/* --- Termination -------------------------------------------------------- */

TEST(abort_sends_rst)
{
    server s;
    srv_start(&s, MODE_ABORT, NULL);
    int fd = client_connect(s.port);
    ASSERT_EQ(send(fd, "hello", 5, MSG_NOSIGNAL), 5);
    char b[16];
    ssize_t n = recv(fd, b, sizeof b, 0);
    ASSERT_EQ(n, -1);
    ASSERT_EQ(errno, ECONNRESET);
    ASSERT_EQ(wait_until(&s.closed, 1, 2000), 1);
    ASSERT_EQ(atomic_load(&s.last_close_err), -ECONNABORTED);
    ASSERT_EQ(atomic_load(&s.close_calls_bad), 0);
    close(fd);
    srv_stop(&s);
}

/* Counts sockets on local port `port` in TCP state `st` (hex state codes of
 * /proc/net/tcp: 08 CLOSE_WAIT, 06 TIME_WAIT). */
static int count_tcp_state(uint16_t port, unsigned st)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    ASSERT_TRUE(f != NULL);
    char line[512];
    int count = 0;
    (void)!fgets(line, sizeof line, f);
    while (fgets(line, sizeof line, f)) {
        unsigned lport, state;
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x", &lport, &state) == 2 && lport == port &&
            state == st)
            count++;
    }
    fclose(f);
    return count;
}

TEST(graceful_close_flushes_and_leaves_no_close_wait)
{
    server s;
    srv_start(&s, MODE_REPLY_CLOSE, NULL);
    int fd = client_connect(s.port);
    ASSERT_EQ(send(fd, "hi\n", 3, MSG_NOSIGNAL), 3);
    char b[16];
    ssize_t n = recv(fd, b, sizeof b, 0);
    ASSERT_EQ(n, 4);
    ASSERT_MEM_EQ(b, "bye\n", 4);
    ASSERT_EQ(recv(fd, b, sizeof b, 0), 0); /* the server's FIN */
    close(fd);                              /* ours ends the server's linger */
    ASSERT_EQ(wait_until(&s.closed, 1, 2000), 1);
    ASSERT_EQ(atomic_load(&s.last_close_err), 0);

    ASSERT_EQ(count_tcp_state(s.port, 0x08), 0);
    srv_stop(&s);

    /* Client closes first: the server must not sit in CLOSE_WAIT. */
    server e;
    srv_start(&e, MODE_ECHO, NULL);
    fd = client_connect(e.port);
    ASSERT_EQ(send(fd, "x", 1, MSG_NOSIGNAL), 1);
    ASSERT_EQ(recv(fd, b, 1, 0), 1);
    close(fd);
    ASSERT_EQ(wait_until(&e.closed, 1, 2000), 1);
    ASSERT_EQ(atomic_load(&e.last_close_err), 0);
    ASSERT_EQ(count_tcp_state(e.port, 0x08), 0);
    srv_stop(&e);
}

TEST(linger_closes_when_peer_never_does)
{
    sq_conn_opts o;
    sq_conn_opts_default(&o);
    o.linger_ms = 200;
    server s;
    srv_start(&s, MODE_REPLY_CLOSE, &o);
    int fd = client_connect(s.port);
    ASSERT_EQ(send(fd, "hi\n", 3, MSG_NOSIGNAL), 3);
    /* The client never closes; after linger_ms the server is done anyway. */
    ASSERT_EQ(wait_until(&s.closed, 1, 3000), 1);
    ASSERT_EQ(atomic_load(&s.last_close_err), 0);
    close(fd);
    srv_stop(&s);
}

TEST(idle_timeout_closes)
{
    sq_conn_opts o;
    sq_conn_opts_default(&o);
    o.idle_timeout_ms = 150;
    server s;
    srv_start(&s, MODE_ECHO, &o);
    int fd = client_connect(s.port);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char b[4];
    ASSERT_EQ(recv(fd, b, sizeof b, 0), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    ASSERT_GE(ms, 140);
    ASSERT_LT(ms, 2000);
    ASSERT_EQ(wait_until(&s.closed, 1, 2000), 1);
    ASSERT_EQ(atomic_load(&s.last_close_err), -ETIMEDOUT);
    close(fd);
    srv_stop(&s);
}

TEST(read_timeout_only_with_a_started_frame)
{
    sq_conn_opts o;
    sq_conn_opts_default(&o);
    o.read_timeout_ms = 150;
    server s;
    srv_start(&s, MODE_IDLE, &o);
    int fd = client_connect(s.port);
    usleep(400000); /* no input pending: no read timeout */
    ASSERT_EQ(atomic_load(&s.closed), 0);
    ASSERT_EQ(send(fd, "part", 4, MSG_NOSIGNAL), 4);
    ASSERT_EQ(wait_until(&s.closed, 1, 2000), 1);
    ASSERT_EQ(atomic_load(&s.last_close_err), -ETIMEDOUT);
    close(fd);
    srv_stop(&s);
}

TEST(peer_address_is_formatted)
{
    server s;
    srv_start(&s, MODE_ECHO, NULL);
    int fd = client_connect(s.port);
    ASSERT_EQ(wait_until(&s.accepted, 1, 2000), 1);
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    ASSERT_EQ(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
    usleep(20000);
    ASSERT_STR_EQ(s.peer, want);
    close(fd);
    srv_stop(&s);
}

/* --- Single-threaded: connect, EMFILE ------------------------------------ */

typedef struct connect_result {
    int calls;
    int err;
    sq_conn *conn;
} connect_result;

static void on_connect(sq_conn *c, int err, void *data)
{
    connect_result *r = data;
    r->calls++;
    r->err = err;
    r->conn = c;
    if (c) {
        static const sq_conn_handlers h = {.on_read = srv_read};
        sq_conn_set_handlers(c, &h, NULL);
        sq_conn_abort(c);
    }
}

static void pump_until(sq_loop *loop, const int *flag, int ms)
{
    for (int i = 0; i < ms / 10 && !*flag; i++)
        ASSERT_EQ(sq_loop_run_once(loop, 10), 0);
}

TEST(connect_refused)
{
    sq_loop *loop;
    ASSERT_EQ(sq_loop_new(&loop), 0);
    /* A port that was free a moment ago and has no listener. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    ASSERT_EQ(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    ASSERT_EQ(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    connect_result r = {0};
    ASSERT_EQ(sq_tcp_connect(loop, "127.0.0.1", ntohs(sin.sin_port), NULL, 1000, on_connect, &r),
              0);
    ASSERT_EQ(r.calls, 0); /* never from inside sq_tcp_connect */
    pump_until(loop, &r.calls, 2000);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r.err, -ECONNREFUSED);
    ASSERT_TRUE(r.conn == NULL);
    sq_loop_free(loop);
}

TEST(connect_succeeds_to_listener)
{
    sq_loop *loop;
    ASSERT_EQ(sq_loop_new(&loop), 0);
    server s; /* only its counters are used; the listener runs in this loop */
    memset(&s, 0, sizeof s);
    s.opts.host = "127.0.0.1";
    sq_conn_opts_default(&s.opts.conn);
    ASSERT_EQ(sq_tcp_listen(loop, &s.opts, srv_accept, &s, &s.l), 0);
    connect_result r = {0};
    ASSERT_EQ(sq_tcp_connect(loop, "localhost", sq_listener_port(s.l), NULL, 1000, on_connect, &r),
              0);
    pump_until(loop, &r.calls, 2000);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r.err, 0);
    ASSERT_TRUE(r.conn != NULL);
    /* The client aborted in on_connect: the accepted side sees the reset. */
    for (int i = 0; i < 100 && atomic_load(&s.closed) < 1; i++)
        ASSERT_EQ(sq_loop_run_once(loop, 10), 0);
    ASSERT_EQ(atomic_load(&s.accepted), 1);
    ASSERT_EQ(atomic_load(&s.closed), 1);
    ASSERT_EQ(atomic_load(&s.last_close_err), -ECONNRESET);
    sq_listener_close(s.l);
    sq_loop_free(loop);
}

TEST(connect_timeout)
{
    sq_loop *loop;
    ASSERT_EQ(sq_loop_new(&loop), 0);
    /* A listener that never accepts, its queue filled: further SYNs are
     * dropped, so a connect neither succeeds nor fails. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    ASSERT_EQ(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
    ASSERT_EQ(listen(lfd, 0), 0);
    ASSERT_EQ(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
    int fillers[4];
    for (int i = 0; i < 4; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)connect(fillers[i], (struct sockaddr *)&sin, sizeof sin);
    }
    usleep(50000);
    connect_result r = {0};
    ASSERT_EQ(sq_tcp_connect(loop, "127.0.0.1", ntohs(sin.sin_port), NULL, 200, on_connect, &r), 0);
    pump_until(loop, &r.calls, 3000);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r.err, -ETIMEDOUT);
    for (int i = 0; i < 4; i++)
        close(fillers[i]);
    close(lfd);
    sq_loop_free(loop);
}

typedef struct pause_state {
    sq_conn *conn;
    int reads, eofs, closes;
    char got[16];
    size_t got_len;
} pause_state;

static void pause_read(sq_conn *c, sq_buf *in)
{
    pause_state *p = sq_conn_data(c);
    p->reads++;
    memcpy(p->got + p->got_len, sq_buf_peek(in), sq_buf_len(in));
    p->got_len += sq_buf_len(in);
    sq_buf_consume(in, sq_buf_len(in));
    sq_conn_pause_read(c);
}

static void pause_eof(sq_conn *c)
{
    pause_state *p = sq_conn_data(c);
    p->eofs++;
    sq_conn_close(c);
}

static void pause_close(sq_conn *c, int err)
{
    pause_state *p = sq_conn_data(c);
    ASSERT_EQ(err, 0);
    p->closes++;
}

static void pause_accept(sq_listener *l, sq_conn *c, void *data)
{
    (void)l;
    pause_state *p = data;
    static const sq_conn_handlers h = {
        .on_read = pause_read, .on_eof = pause_eof, .on_close = pause_close};
    p->conn = c;
    sq_conn_set_handlers(c, &h, p);
}

TEST(pause_holds_input_and_eof_until_resume)
{
    sq_loop *loop;
    ASSERT_EQ(sq_loop_new(&loop), 0);
    sq_listen_opts lo = {.host = "127.0.0.1"};
    sq_conn_opts_default(&lo.conn);
    pause_state p = {0};
    sq_listener *l;
    ASSERT_EQ(sq_tcp_listen(loop, &lo, pause_accept, &p, &l), 0);
    int fd = client_connect(sq_listener_port(l));
    ASSERT_EQ(send(fd, "a", 1, 0), 1);
    pump_until(loop, &p.reads, 2000);
    ASSERT_EQ(p.reads, 1);
    ASSERT_EQ(send(fd, "bc", 2, 0), 2);
    ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
    for (int i = 0; i < 10; i++)
        ASSERT_EQ(sq_loop_run_once(loop, 10), 0);
    ASSERT_EQ(p.reads, 1); /* paused: buffered, not delivered */
    ASSERT_EQ(p.eofs, 0);  /* EOF waits behind the buffered input */
    sq_conn_resume_read(p.conn);
    ASSERT_EQ(p.reads, 1); /* never from inside resume itself */
    for (int i = 0; i < 200 && p.reads < 2; i++)
        ASSERT_EQ(sq_loop_run_once(loop, 10), 0);
    for (int i = 0; i < 5; i++)
        ASSERT_EQ(sq_loop_run_once(loop, 10), 0);
    ASSERT_EQ(p.reads, 2);
    ASSERT_EQ(p.got_len, 3);
    ASSERT_MEM_EQ(p.got, "abc", 3);
    ASSERT_EQ(p.eofs, 0); /* paused again inside on_read */
    ASSERT_EQ(p.closes, 0);
    sq_conn_resume_read(p.conn);
    pump_until(loop, &p.closes, 2000);
    ASSERT_EQ(p.eofs, 1);
    ASSERT_EQ(p.closes, 1);
    char b[4];
    ASSERT_EQ(recv(fd, b, sizeof b, 0), 0);
    close(fd);
    sq_listener_close(l);
    sq_loop_free(loop);
}

static void busy_accept(sq_listener *l, sq_conn *c, void *data)
{
    (void)l;
    (void)data;
    /* Turned away at once, without handlers: the farewell still goes out. */
    ASSERT_EQ(sq_conn_write(c, "busy\n", 5), 0);
    sq_conn_close(c);
}

TEST(close_from_accept_callback_sends_farewell)
{
    sq_loop *loop;
    ASSERT_EQ(sq_loop_new(&loop), 0);
    sq_listen_opts lo = {.host = "127.0.0.1"};
    sq_listener *l;
    ASSERT_EQ(sq_tcp_listen(loop, &lo, busy_accept, NULL, &l), 0);
    int fd = client_connect(sq_listener_port(l));
    ASSERT_EQ(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    char b[16];
    size_t got = 0;
    ssize_t n = -1;
    for (int i = 0; i < 200; i++) {
        ASSERT_EQ(sq_loop_run_once(loop, 10), 0);
        n = recv(fd, b + got, sizeof b - got, 0);
        if (n > 0)
            got += (size_t)n;
        if (n == 0)
            break;
    }
    ASSERT_EQ(n, 0);
    ASSERT_EQ(got, 5);
    ASSERT_MEM_EQ(b, "busy\n", 5);
    close(fd);
    /* Let the server see our FIN and finish its close. */
    for (int i = 0; i < 5; i++)
        ASSERT_EQ(sq_loop_run_once(loop, 10), 0);
    sq_listener_close(l);
    sq_loop_free(loop);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

TEST(emfile_pauses_accepting_without_spinning)
{
    sq_loop *loop;
    ASSERT_EQ(sq_loop_new(&loop), 0);
    server s;
    memset(&s, 0, sizeof s);
    s.mode = MODE_IDLE;
    s.opts.host = "127.0.0.1";
    sq_conn_opts_default(&s.opts.conn);
    ASSERT_EQ(sq_tcp_listen(loop, &s.opts, srv_accept, &s, &s.l), 0);
    enum { CLIENTS = 12, ROOM = 3 };
    int fds[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        fds[i] = client_connect(sq_listener_port(s.l));
    /* Leave room for ROOM accepted sockets above the highest fd in use. */
    int probe = dup(0);
    ASSERT_TRUE(probe >= 0);
    close(probe);
    int maxfd = fds[CLIENTS - 1] > probe ? fds[CLIENTS - 1] : probe;
    struct rlimit rl;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = (rlim_t)maxfd + 1 + ROOM;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);

    double cpu0 = cpu_seconds();
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        ASSERT_EQ(sq_loop_run_once(loop, 50), 0);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 1000);
    double cpu = cpu_seconds() - cpu0;
    /* The exact count depends on descriptors below maxfd that were free. */
    int accepted = atomic_load(&s.accepted);
    ASSERT_LE(accepted, ROOM + 2);
    uint64_t emfiles = sq_listener_emfile_count(s.l);
    ASSERT_GE(emfiles, 1);
    ASSERT_LT(emfiles, 50); /* paused ~100 ms each time, not retried in a loop */
    if (cpu >= 0.5)
        TEST_FAIL_("accept loop spun: %.3f s of CPU in 1 s", cpu);

    /* Freeing descriptors lets the queued connections in. */
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
    for (int i = 0; i < 100 && atomic_load(&s.accepted) < CLIENTS; i++)
        ASSERT_EQ(sq_loop_run_once(loop, 20), 0);
    accepted = atomic_load(&s.accepted);
    ASSERT_EQ(accepted, CLIENTS);
    sq_listener_close(s.l);
}

TEST(listen_ipv6_and_names)
{
    sq_loop *loop;
    ASSERT_EQ(sq_loop_new(&loop), 0);
    server s;
    memset(&s, 0, sizeof s);
    sq_conn_opts_default(&s.opts.conn);
    s.opts.host = "::1";
    int err = sq_tcp_listen(loop, &s.opts, srv_accept, &s, &s.l);
    if (err == -EADDRNOTAVAIL || err == -EAFNOSUPPORT) {
        printf("(no IPv6 loopback here; skipped)\n");
        sq_loop_free(loop);
        return;
    }
    ASSERT_EQ(err, 0);
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6,
                                .sin6_port = htons(sq_listener_port(s.l)),
                                .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    ASSERT_EQ(connect(fd, (struct sockaddr *)&sin6, sizeof sin6), 0);
    for (int i = 0; i < 100 && atomic_load(&s.accepted) < 1; i++)
        ASSERT_EQ(sq_loop_run_once(loop, 10), 0);
    ASSERT_EQ(atomic_load(&s.accepted), 1);
    ASSERT_EQ(strncmp(s.peer, "[::1]:", 6), 0);
    close(fd);
    sq_listener_close(s.l);

    /* A bad name is an error from sq_tcp_listen itself. */
    s.opts.host = "no-such-host.invalid";
    ASSERT_TRUE(sq_tcp_listen(loop, &s.opts, srv_accept, &s, &s.l) < 0);
}

TEST_MAIN()
