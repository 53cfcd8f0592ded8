/*
 * How connections come to exist (contract in include/synq/tcp.h):
 * listeners and outbound connects. A listener is a non-blocking listening
 * socket whose readiness runs a bounded accept loop; when the process runs
 * out of descriptors it stops watching the socket and resumes from a timer,
 * because the pending connection keeps the socket readable and watching it
 * would spin. A listener either makes its socket (sq_tcp_listen) or adopts
 * one made by someone else (sq_tcp_listen_fd: systemd socket activation);
 * both then share the one accept path. An outbound connect is an sq_conn in the CONNECTING state:
 * tcp.c completes it on writability. The connection life itself is tcp.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcp_int.h"
#include "tls_int.h"

/* Bounded per wake-up, so a burst of connections cannot starve the
 * established ones. */
#define ACCEPTS_PER_WAKE 128
/* How long accepting pauses when the process is out of descriptors. */
#define EMFILE_PAUSE_MS 100
#define DEFAULT_BACKLOG 511

struct sq_listener {
    sq_loop *loop;
    sq_io io;
    sq_timer resume_timer;
    sq_accept_cb cb;
    void *data;
    sq_conn_opts conn_opts;
    uint16_t port;
    uint64_t emfile_count;
    uint64_t shed_count;
    int reserve_fd;      /* spare descriptor for shedding; -1 when it could not be reopened */
    int pending_backlog; /* > 0: bound only (bind_only), listen(2) with it at sq_listener_listen */
    sq_tls_ctx *tls;     /* accepted connections speak TLS (a reference of ours), or NULL */
    bool in_accept;      /* the accept loop runs: close must not free yet */
    bool closed;
};

static void listener_free(sq_listener *l)
{
    if (l->reserve_fd >= 0)
        close(l->reserve_fd);
    sq_tls_ctx_free(l->tls);
    free(l);
}

static int open_reserve(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Out of descriptors: accepts one waiting connection with the reserve
 * descriptor and closes it (the client sees its connection closed rather
 * than hanging in a full backlog). True when one was shed, so the accept
 * loop may go on; false when there is no reserve or nothing was waiting. */
static bool listener_shed(sq_listener *l)
{
    if (l->reserve_fd < 0 && (l->reserve_fd = open_reserve()) < 0)
        return false;
    close(l->reserve_fd);
    l->reserve_fd = -1;
    int fd = accept4(l->io.fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        l->shed_count++;
    }
    l->reserve_fd = open_reserve();
    return fd >= 0;
}

static void listener_resume_cb(sq_loop *loop, sq_timer *timer)
{
    sq_listener *l = timer->data;
    /* If re-arming fails the listener stays paused; trying again later is
     * all that can be done without a way to report it. */
    if (sq_io_set(loop, &l->io, SQ_EV_READ) < 0)
        (void)sq_timer_start(loop, &l->resume_timer, EMFILE_PAUSE_MS);
}

static void listener_accepted(sq_listener *l, int fd, const struct sockaddr_storage *ss,
                              socklen_t sslen)
{
    sq_conn *c = sq__conn_new(l->loop, fd, &l->conn_opts);
    if (!c) {
        close(fd);
        return;
    }
    if (l->tls && (sq__tls_attach(c, l->tls, true, NULL) < 0 || sq__tls_start(c) < 0)) {
        /* Out of memory: nothing is watched or counted yet, so c goes as it came. */
        sq__tls_free(c);
        free(c);
        close(fd);
        return;
    }
    if (l->tls && c->opts.handshake_timeout_ms)
        c->connect_deadline_ms = sq_loop_now_ms(l->loop) + c->opts.handshake_timeout_ms;
    sq__set_nodelay(fd, c->opts.no_nodelay);
    memcpy(&c->peer, ss, sslen);
    c->peer_len = sslen;
    l->cb(l, c, l->data);
    sq__conn_started(c);
}

static void listener_io_cb(sq_loop *loop, sq_io *io, unsigned events)
{
    (void)events;
    sq_listener *l = io->data;
    l->in_accept = true;
    for (int i = 0; i < ACCEPTS_PER_WAKE && !l->closed; i++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        int fd = accept4(l->io.fd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            listener_accepted(l, fd, &ss, sslen);
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* The connection stays in the accept queue and the listener
             * stays readable: watching it now would spin. Pause instead. */
            if (errno == EMFILE || errno == ENFILE) {
                l->emfile_count++;
                if (listener_shed(l))
                    continue;
            }
            (void)sq_io_set(loop, &l->io, 0);
            (void)sq_timer_start(loop, &l->resume_timer, EMFILE_PAUSE_MS);
            break;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        /* ECONNABORTED, EPROTO, EPERM (firewall) ...: that connection is
         * gone, the next one may be fine. */
    }
    l->in_accept = false;
    if (l->closed)
        listener_free(l);
}

static int listen_socket(const struct addrinfo *ai, const sq_listen_opts *opts, int *out)
{
    int one = 1;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -errno;
    /* SO_REUSEADDR lets a restarted server bind while old connections of
     * the previous instance sit in TIME_WAIT on the same port. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        goto fail;
    if (opts->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        goto fail;
    /* An IPv6 address listens for IPv6 only; IPv4 gets its own listener,
     * so the address given says exactly what is served. */
    if (ai->ai_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
        goto fail;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        goto fail;
    if (!opts->bind_only && listen(fd, opts->backlog > 0 ? opts->backlog : DEFAULT_BACKLOG) < 0)
        goto fail;
    *out = fd;
    return 0;
fail:;
    int err = -errno;
    close(fd);
    return err;
}

/* getaddrinfo's EAI_* codes as errno values. */
static int gai_errno(int rc)
{
    switch (rc) {
    case EAI_SYSTEM:
        return -errno;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_FAMILY:
        return -EAFNOSUPPORT;
    case EAI_AGAIN:
        return -EAGAIN;
    default:
        return -EADDRNOTAVAIL;
    }
}

static int resolve(const char *host, uint16_t port, int flags, struct addrinfo **res)
{
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = flags | AI_NUMERICSERV};
    int rc = getaddrinfo(host ? host : "127.0.0.1", service, &hints, res);
    return rc == 0 ? 0 : gai_errno(rc);
}

/* The port fd is bound to; 0 for a socket with no port (AF_UNIX). */
static uint16_t bound_port(int fd)
{
    struct sockaddr_storage ss;
    /* Zeroed although getsockname() fills it: clang 14's analyzer does not
     * model that write, and takes the family for garbage. */
    memset(&ss, 0, sizeof ss);
    socklen_t sslen = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

/* Makes a listener that owns the socket fd and, unless backlog > 0 says it is only bound
 * (listen(2) with that backlog comes at sq_listener_listen), starts watching it. On failure fd
 * is left open, for the caller to close or keep. */
static int listener_start(sq_loop *loop, int fd, int backlog, const sq_conn_opts *conn,
                          sq_accept_cb cb, void *data, sq_listener **out)
{
    sq_listener *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->loop = loop;
    l->cb = cb;
    l->data = data;
    if (conn)
        l->conn_opts = *conn;
    else
        sq_conn_opts_default(&l->conn_opts);
    l->port = bound_port(fd);
    /* Without a reserve (already out of descriptors) accepting still works;
     * shedding then only tries to open one when it is needed. */
    l->reserve_fd = open_reserve();
    sq_io_init(&l->io, fd, listener_io_cb, l);
    sq_timer_init(&l->resume_timer, listener_resume_cb, l);
    l->pending_backlog = backlog;
    /* A bound socket that does not listen polls as hung up: it is watched only once it
     * listens. */
    int err = backlog > 0 ? 0 : sq_io_set(loop, &l->io, SQ_EV_READ);
    if (err < 0) {
        listener_free(l);
        return err;
    }
    *out = l;
    return 0;
}

int sq_tcp_listen(sq_loop *loop, const sq_listen_opts *opts, sq_accept_cb cb, void *data,
                  sq_listener **out)
{
    if (!loop || !opts || !cb || !out)
        return -EINVAL;
    struct addrinfo *res = NULL;
    int err = resolve(opts->host, opts->port, AI_PASSIVE, &res);
    if (err < 0)
        return err;
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        err = listen_socket(ai, opts, &fd);
        if (err == 0)
            break;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return err;
    int backlog = opts->backlog > 0 ? opts->backlog : DEFAULT_BACKLOG;
    err = listener_start(loop, fd, opts->bind_only ? backlog : 0, &opts->conn, cb, data, out);
    if (err < 0)
        close(fd);
    return err;
}

/* 0 when fd is a listening stream socket of a family the engine serves,
 * else why not. */
static int check_listening(int fd)
{
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return -errno; /* -EBADF, or -ENOTSOCK for a file or a pipe */
    if (type != SOCK_STREAM)
        return -EPROTOTYPE;
    len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
        return -errno;
    if (!listening)
        return -EINVAL;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss); /* as in bound_port() */
    socklen_t sslen = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0)
        return -errno;
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6 && ss.ss_family != AF_UNIX)
        return -EAFNOSUPPORT;
    return 0;
}

int sq_tcp_listen_fd(sq_loop *loop, int fd, const sq_conn_opts *conn, sq_accept_cb cb, void *data,
                     sq_listener **out)
{
    if (!loop || !cb || !out)
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    int err = check_listening(fd);
    if (err < 0)
        return err;
    /* The socket was made by someone else (systemd, a parent process), with
     * their flags: the accept loop needs it non-blocking, and it must not
     * leak into programs this process might run. */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
        return -errno;
    int fdfl = fcntl(fd, F_GETFD);
    if (fdfl < 0 || (!(fdfl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0))
        return -errno;
    return listener_start(loop, fd, 0, conn, cb, data, out);
}

uint16_t sq_listener_port(const sq_listener *l)
{
    return l->port;
}

int sq_listener_listen(sq_listener *l)
{
    if (l->pending_backlog == 0)
        return 0;
    if (listen(l->io.fd, l->pending_backlog) < 0)
        return -errno;
    l->pending_backlog = 0;
    return sq_io_set(l->loop, &l->io, SQ_EV_READ);
}

int sq_listener_address(const sq_listener *l, struct sockaddr_storage *out, socklen_t *len)
{
    memset(out, 0, sizeof *out);
    *len = sizeof *out;
    return getsockname(l->io.fd, (struct sockaddr *)out, len) == 0 ? 0 : -errno;
}

uint64_t sq_listener_emfile_count(const sq_listener *l)
{
    return l->emfile_count;
}

uint64_t sq_listener_shed_count(const sq_listener *l)
{
    return l->shed_count;
}

void sq_listener_close(sq_listener *l)
{
    if (!l || l->closed)
        return;
    l->closed = true;
    sq_io_stop(l->loop, &l->io);
    sq_timer_stop(l->loop, &l->resume_timer);
    close(l->io.fd);
    l->io.fd = -1;
    if (!l->in_accept)
        listener_free(l);
}

/* --- Outbound connections ---------------------------------------------- */

/* Starts a non-blocking connect to ai on a fresh socket owned by c.
 * Returns 0 when under way (or done), else a negative errno. */
static int connect_start(sq_conn *c, const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        int err = -errno;
        close(fd);
        return err;
    }
    sq_io_init(&c->io, fd, c->io.cb, c);
    memcpy(&c->peer, ai->ai_addr, ai->ai_addrlen);
    c->peer_len = ai->ai_addrlen;
    /* Completion, even a synchronous one, is reported by writability. */
    sq__conn_watch(c);
    return 0;
}

int sq__conn_connect_next(sq_conn *c, int err)
{
    while (c->next_addr) {
        const struct addrinfo *ai = c->next_addr;
        c->next_addr = ai->ai_next;
        err = connect_start(c, ai);
        if (err == 0)
            return 0;
    }
    return err;
}

/* sq_tcp_connect, with a TLS handshake of tls (a client configuration) when not NULL. */
static int connect_with(sq_loop *loop, const char *host, uint16_t port, const sq_conn_opts *opts,
                        uint32_t timeout_ms, sq_tls_ctx *tls, const char *server_name,
                        sq_connect_cb cb, void *data)
{
    if (!loop || !cb || port == 0)
        return -EINVAL;
    struct addrinfo *res = NULL;
    int err = resolve(host, port, 0, &res);
    if (err < 0)
        return err;
    sq_conn *c = sq__conn_new(loop, -1, opts);
    if (!c) {
        freeaddrinfo(res);
        return -ENOMEM;
    }
    if (tls && (err = sq__tls_attach(c, tls, false, server_name)) < 0) {
        freeaddrinfo(res);
        free(c); /* nothing is watched or counted yet */
        return err;
    }
    /* A name may resolve to several addresses ("localhost": ::1 and
     * 127.0.0.1); each is tried in getaddrinfo's order until one answers,
     * all within the one timeout. */
    c->addrs = res;
    c->next_addr = res;
    c->connect_cb = cb;
    c->connect_data = data;
    c->flags |= F_CONNECTING;
    if (timeout_ms)
        c->connect_deadline_ms = sq_loop_now_ms(loop) + timeout_ms;
    err = sq__conn_connect_next(c, -EADDRNOTAVAIL);
    if (err < 0) {
        /* Loopback refuses synchronously; cb still runs from the loop. */
        sq__conn_fail_connect(c, err);
    }
    return 0;
}

int sq_tcp_connect(sq_loop *loop, const char *host, uint16_t port, const sq_conn_opts *opts,
                   uint32_t timeout_ms, sq_connect_cb cb, void *data)
{
    return connect_with(loop, host, port, opts, timeout_ms, NULL, NULL, cb, data);
}

int sq_tcp_connect_tls(sq_loop *loop, const char *host, uint16_t port, const sq_conn_opts *opts,
                       uint32_t timeout_ms, sq_tls_ctx *ctx, const char *server_name,
                       sq_connect_cb cb, void *data)
{
#ifdef SQ_HAVE_TLS
    if (!ctx)
        return -EINVAL;
    return connect_with(loop, host, port, opts, timeout_ms, ctx, server_name, cb, data);
#else
    (void)loop, (void)host, (void)port, (void)opts, (void)timeout_ms, (void)ctx;
    (void)server_name, (void)cb, (void)data;
    return -ENOTSUP;
#endif
}

int sq_listener_set_tls(sq_listener *l, sq_tls_ctx *ctx)
{
#ifdef SQ_HAVE_TLS
    if (!l)
        return -EINVAL;
    sq_tls_ctx *old = l->tls;
    l->tls = sq__tls_ctx_ref(ctx);
    sq_tls_ctx_free(old);
    return 0;
#else
    (void)l, (void)ctx;
    return -ENOTSUP;
#endif
}

/* --- Connection setup --------------------------------------------------- */

/* An outbound connection is up (through TLS: its handshake completed): the callback. */
static void conn_connect_done(sq_conn *c)
{
    c->flags &= ~F_CONNECTING;
    c->last_io_ms = c->last_read_ms = c->last_write_ms = sq_loop_now_ms(c->loop);
    sq_timer_stop(c->loop, &c->timer); /* the connect deadline is gone */
    c->connect_cb(c, 0, c->connect_data);
    sq__conn_started(c);
}

/* One step of a TLS handshake, from the io callback (or right after connect). */
void sq__conn_tls_step(sq_conn *c)
{
    int rc = sq__tls_handshake(c);
    if (rc < 0) {
        if (c->flags & F_CONNECTING)
            sq__conn_fail_connect(c, rc);
        else
            sq__conn_release(c, rc, false);
        return;
    }
    if (rc > 0 && (c->flags & F_CONNECTING)) {
        conn_connect_done(c);
        return;
    }
    if (rc > 0) {
        c->last_io_ms = c->last_read_ms = sq_loop_now_ms(c->loop);
        if (sq_buf_len(&c->out) > 0 || (c->flags & F_SHUT_WANTED))
            sq__loop_defer(c->loop, &c->node); /* what waited for the handshake */
    }
    sq__conn_watch(c);
}

void sq__conn_connected(sq_conn *c)
{
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr != 0) {
        sq_io_stop(c->loop, &c->io);
        close(c->io.fd);
        c->io.fd = -1;
        int err = sq__conn_connect_next(c, -soerr);
        if (err < 0)
            sq__conn_fail_connect(c, err);
        return;
    }
    freeaddrinfo(c->addrs); /* the address that answered is in c->peer */
    c->addrs = NULL;
    c->next_addr = NULL;
    sq__set_nodelay(c->io.fd, c->opts.no_nodelay);
    if (c->tls) {
        /* Still CONNECTING: the connect timeout covers the handshake. */
        int err = sq__tls_start(c);
        if (err < 0)
            sq__conn_fail_connect(c, err);
        else
            sq__conn_tls_step(c);
        return;
    }
    conn_connect_done(c);
}

int sq_conn_peer(const sq_conn *c, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN];
    uint16_t port;
    const void *addr;
    if (c->peer.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&c->peer;
        addr = &sin->sin_addr;
        port = ntohs(sin->sin_port);
    } else if (c->peer.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&c->peer;
        addr = &sin6->sin6_addr;
        port = ntohs(sin6->sin6_port);
    } else {
        return -EAFNOSUPPORT;
    }
    if (!inet_ntop(c->peer.ss_family, addr, host, sizeof host))
        return -errno;
    int n = c->peer.ss_family == AF_INET6 ? snprintf(buf, len, "[%s]:%u", host, (unsigned)port)
                                          : snprintf(buf, len, "%s:%u", host, (unsigned)port);
    if (n < 0 || (size_t)n >= len)
        return -ENOSPC;
    return 0;
}
