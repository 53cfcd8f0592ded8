/*
 * epoll_echo: the hand-written anchor for bench/echo. A minimal echo server
 * straight on epoll, the way one would write it without a framework:
 * level-triggered, one 64 KiB read then one write per readiness event. When
 * the kernel takes only part of a reply, the rest is kept and the socket is
 * watched for EPOLLOUT instead of EPOLLIN until it drains (backpressure).
 *
 *     epoll_echo [PORT]     (0 or nothing: a free port)
 *
 * Prints "listening on 127.0.0.1:PORT" (the line bench/echo waits for).
 * Built by bench/echo with cc directly; not part of the CMake build.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK 65536

typedef struct conn {
    int fd;
    size_t pending_off, pending_len; /* unsent part of the last reply */
    char buf[CHUNK];
} conn;

static void drop(conn *c)
{
    close(c->fd); /* closing removes it from the epoll set */
    free(c);
}

/* Sends what is pending; returns 1 when all is sent, 0 when the kernel is
 * full, -1 on error. */
static int flush(conn *c)
{
    while (c->pending_len > 0) {
        ssize_t n = write(c->fd, c->buf + c->pending_off, c->pending_len);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->pending_off += (size_t)n;
        c->pending_len -= (size_t)n;
    }
    return 1;
}

static void on_conn(int ep, conn *c, unsigned events)
{
    if (events & EPOLLOUT) {
        int rc = flush(c);
        if (rc < 0)
            return drop(c);
        if (rc == 1) /* drained: read again */
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &(struct epoll_event){EPOLLIN, {.ptr = c}});
        return;
    }
    ssize_t n = read(c->fd, c->buf, CHUNK);
    if (n == 0 || (n < 0 && errno != EAGAIN))
        return drop(c);
    if (n < 0)
        return;
    c->pending_off = 0;
    c->pending_len = (size_t)n;
    int rc = flush(c);
    if (rc < 0)
        return drop(c);
    if (rc == 0)
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &(struct epoll_event){EPOLLOUT, {.ptr = c}});
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 511) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
        perror("epoll_echo: bind/listen");
        return 1;
    }
    int ep = epoll_create1(0);
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &(struct epoll_event){EPOLLIN, {.ptr = NULL}});
    printf("listening on 127.0.0.1:%u\n", ntohs(sa.sin_port));
    fflush(stdout);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno != EINTR) {
            perror("epoll_echo: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr) {
                on_conn(ep, evs[i].data.ptr, evs[i].events);
                continue;
            }
            int fd;
            while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                conn *c = malloc(sizeof *c);
                if (!c) {
                    close(fd);
                    continue;
                }
                c->fd = fd;
                c->pending_len = 0;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &(struct epoll_event){EPOLLIN, {.ptr = c}});
            }
        }
    }
}
