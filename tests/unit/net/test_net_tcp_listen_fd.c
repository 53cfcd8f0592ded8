/*
 * sq_tcp_listen_fd(): adopting a listening socket made elsewhere (as systemd
 * socket activation passes one), run against every backend (the test_net_
 * prefix). The test makes the socket the way a service manager does
 * (blocking, inheritable), hands it over, and checks that connections on it
 * are served by the same accept path, that the listener took ownership only
 * on success, and that sockets that cannot be served are refused, untouched.
 */
#include <sys/stat.h>
#include <sys/un.h>

#include "net_tcp_helpers.h"

/* A blocking, inheritable TCP socket on 127.0.0.1 with a free port,
 * listening unless listening is false. */
static int make_tcp_socket(bool listening, uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_TRUE(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_EQ(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    if (listening)
        ASSERT_EQ(listen(fd, 16), 0);
    socklen_t len = sizeof sin;
    ASSERT_EQ(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* srv_accept() for connections with no peer address (AF_UNIX). */
static void unix_accept(sq_listener *l, sq_conn *c, void *data)
{
    (void)l;
    server *s = data;
    conn_state *st = calloc(1, sizeof *st);
    ASSERT_TRUE(st != NULL);
    st->srv = s;
    static const sq_conn_handlers h = {.on_read = srv_read, .on_close = srv_close};
    sq_conn_set_handlers(c, &h, st);
    ASSERT_EQ(sq_conn_peer(c, s->peer, sizeof s->peer), -EAFNOSUPPORT);
    atomic_fetch_add(&s->accepted, 1);
}

/* Starts the echo server of net_tcp_helpers.h on an adopted socket. */
static void srv_start_fd(server *s, int fd, sq_accept_cb cb)
{
    memset(s, 0, sizeof *s);
    s->mode = MODE_ECHO;
    sq_conn_opts_default(&s->opts.conn);
    ASSERT_EQ(sq_loop_new(&s->loop), 0);
    sq_loop_set_wake_cb(s->loop, srv_stop_cb, NULL);
    ASSERT_EQ(sq_tcp_listen_fd(s->loop, fd, NULL, cb, s, &s->l), 0);
    s->port = sq_listener_port(s->l);
    ASSERT_EQ(pthread_create(&s->thread, NULL, srv_thread, s), 0);
}

static void assert_echo(int fd)
{
    char out[1000], in[1001];
    fill_pattern(out, sizeof out, 5);
    ASSERT_EQ(exchange(fd, out, sizeof out, in, sizeof out, false), sizeof out);
    ASSERT_MEM_EQ(in, out, sizeof out);
}

TEST(adopted_tcp_socket_serves_connections)
{
    uint16_t port;
    int fd = make_tcp_socket(true, &port);
    server s;
    srv_start_fd(&s, fd, srv_accept);
    ASSERT_EQ(s.port, port);
    int c1 = client_connect(port), c2 = client_connect(port);
    assert_echo(c1);
    assert_echo(c2);
    ASSERT_EQ(wait_until(&s.accepted, 2, 2000), 2);
    ASSERT_TRUE(strncmp(s.peer, "127.0.0.1:", 10) == 0);
    close(c1);
    close(c2);
    srv_stop(&s);
}

TEST(adopted_socket_is_made_nonblocking_and_cloexec)
{
    uint16_t port;
    int fd = make_tcp_socket(true, &port);
    ASSERT_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    ASSERT_EQ(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    sq_loop *loop;
    ASSERT_EQ(sq_loop_new(&loop), 0);
    sq_listener *l;
    ASSERT_EQ(sq_tcp_listen_fd(loop, fd, NULL, srv_accept, NULL, &l), 0);
    ASSERT_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    ASSERT_EQ(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    /* A blocking accept would hang the loop here: with nothing pending the
     * pass must come back. */
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    sq_listener_close(l);
    sq_loop_free(loop);
}

TEST(the_address_of_an_adopted_or_bound_listener_is_the_socket_s)
{
    uint16_t port;
    int fd = make_tcp_socket(true, &port);
    sq_loop *loop;
    ASSERT_EQ(sq_loop_new(&loop), 0);
    sq_listener *l;
    ASSERT_EQ(sq_tcp_listen_fd(loop, fd, NULL, srv_accept, NULL, &l), 0);
    struct sockaddr_storage ss;
    socklen_t len = 0;
    ASSERT_EQ(sq_listener_address(l, &ss, &len), 0);
    ASSERT_EQ(len, sizeof(struct sockaddr_in));
    const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
    ASSERT_EQ(in->sin_family, AF_INET);
    ASSERT_EQ(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
    ASSERT_EQ(ntohs(in->sin_port), port);
    sq_listener_close(l);

    /* One sq_tcp_listen() bound to the wildcard: the kernel's address, not the text's. */
    sq_listen_opts lo = {.host = "0.0.0.0"};
    sq_conn_opts_default(&lo.conn);
    ASSERT_EQ(sq_tcp_listen(loop, &lo, srv_accept, NULL, &l), 0);
    ASSERT_EQ(sq_listener_address(l, &ss, &len), 0);
    ASSERT_EQ(in->sin_family, AF_INET);
    ASSERT_EQ(in->sin_addr.s_addr, htonl(INADDR_ANY));
    ASSERT_EQ(ntohs(in->sin_port), sq_listener_port(l));
    sq_listener_close(l);
    sq_loop_free(loop);
}

/* A blocking connect to 127.0.0.1:port: 0 or the errno. */
static int connect_errno(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_TRUE(fd >= 0);
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(port)};
    int rc = connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

TEST(a_bind_only_listener_holds_its_port_and_refuses_until_it_listens)
{
    sq_loop *loop;
    ASSERT_EQ(sq_loop_new(&loop), 0);
    sq_listen_opts lo = {.host = "127.0.0.1", .bind_only = true};
    sq_conn_opts_default(&lo.conn);
    sq_listener *l;
    ASSERT_EQ(sq_tcp_listen(loop, &lo, srv_accept, NULL, &l), 0);
    uint16_t port = sq_listener_port(l);
    ASSERT_NE(port, 0);
    ASSERT_EQ(connect_errno(port), ECONNREFUSED);
    /* Nothing is watched yet: a pass does not see the unlistening socket as hung up. */
    ASSERT_EQ(sq_loop_run_once(loop, 0), 0);
    ASSERT_EQ(sq_listener_listen(l), 0);
    ASSERT_EQ(connect_errno(port), 0);
    ASSERT_EQ(sq_listener_listen(l), 0); /* a second call does nothing */
    sq_listener_close(l);
    sq_loop_free(loop);
}

TEST(closing_the_listener_closes_the_adopted_fd)
{
    uint16_t port;
    int fd = make_tcp_socket(true, &port);
    sq_loop *loop;
    ASSERT_EQ(sq_loop_new(&loop), 0);
    sq_listener *l;
    ASSERT_EQ(sq_tcp_listen_fd(loop, fd, NULL, srv_accept, NULL, &l), 0);
    sq_listener_close(l);
    ASSERT_EQ(fcntl(fd, F_GETFD), -1);
    ASSERT_EQ(errno, EBADF);
    sq_loop_free(loop);
}

TEST(adopted_unix_socket_serves_connections)
{
    char dir[] = "/tmp/sq_listen_fd_XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s/sock", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    ASSERT_EQ(listen(fd, 16), 0);
    server s;
    srv_start_fd(&s, fd, unix_accept);
    ASSERT_EQ(s.port, 0);
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_TRUE(c >= 0);
    ASSERT_EQ(connect(c, (struct sockaddr *)&sun, sizeof sun), 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_echo(c);
    ASSERT_EQ(wait_until(&s.accepted, 1, 2000), 1);
    close(c);
    srv_stop(&s);
    unlink(sun.sun_path);
    rmdir(dir);
}

/* Each refusal leaves the fd open and as it was. */
static void assert_refused(int fd, int want)
{
    sq_loop *loop;
    ASSERT_EQ(sq_loop_new(&loop), 0);
    sq_listener *l = NULL;
    ASSERT_EQ(sq_tcp_listen_fd(loop, fd, NULL, srv_accept, NULL, &l), want);
    ASSERT_TRUE(l == NULL);
    if (want != -EBADF) {
        ASSERT_GE(fcntl(fd, F_GETFD), 0);
        ASSERT_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    }
    sq_loop_free(loop);
}

TEST(refuses_what_it_cannot_serve_and_leaves_it_open)
{
    uint16_t port;
    int bound = make_tcp_socket(false, &port);
    assert_refused(bound, -EINVAL);
    close(bound);

    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_TRUE(udp >= 0);
    assert_refused(udp, -EPROTOTYPE);
    close(udp);

    int pipefd[2];
    ASSERT_EQ(pipe(pipefd), 0);
    assert_refused(pipefd[0], -ENOTSOCK);
    close(pipefd[0]);
    close(pipefd[1]);

    assert_refused(-1, -EBADF);
    /* A number no descriptor has (a just-closed one would be reused by the
     * loop's own epoll or pipe descriptors). */
    int unused = 1000;
    ASSERT_EQ(fcntl(unused, F_GETFD), -1);
    assert_refused(unused, -EBADF);
}

TEST_MAIN()
