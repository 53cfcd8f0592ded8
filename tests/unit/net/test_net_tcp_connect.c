/*
 * Engine tests for tcp.c, single-threaded: one thread pumps
 * sq_loop_run_once() while driving raw sockets, for outbound connects,
 * pausing, EMFILE and name resolution, where the test must see the loop's
 * state between iterations. Run against both backends (test_net_ prefix).
 */
#include "net_tcp_helpers.h"

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

TEST(emfile_sheds_waiting_connections_without_spinning)
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
    ASSERT_LT(emfiles, 50); /* each shed empties the queue: no retrying in a loop */
    if (cpu >= 0.5)
        TEST_FAIL_("accept loop spun: %.3f s of CPU in 1 s", cpu);
    /* The reserve descriptor took each connection that found no room off the queue and closed
     * it, so the backlog is empty: none is left waiting for descriptors to come back. */
    uint64_t shed = sq_listener_shed_count(s.l);
    ASSERT_EQ((uint64_t)accepted + shed, (uint64_t)CLIENTS);
    ASSERT_GE(shed, 1);
    for (int i = 0; i < 100 && atomic_load(&s.accepted) < CLIENTS; i++)
        ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_EQ(atomic_load(&s.accepted), accepted);
    for (int i = 0; i < CLIENTS; i++)
        close(fds[i]);
    rl.rlim_cur = rl.rlim_max;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
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
