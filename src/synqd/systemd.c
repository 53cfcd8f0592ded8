/*
 * systemd integration through Debian's libsystemd (sd-daemon.h): the same
 * calls beanstalkd makes for socket activation (net.c:make_server_socket),
 * plus readiness notification, which beanstalkd does not send (its unit is
 * Type=simple; synqd's is Type=notify so that "started" means "the log is
 * replayed and the socket is served").
 *
 * Built with -DSQ_SYSTEMD=OFF there is no libsystemd: a socket-activated
 * start is then refused with that reason rather than failing later on a
 * bind to the port systemd already holds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifdef SQ_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "systemd.h"

#ifdef SQ_HAVE_SYSTEMD

int systemd_listen_fd(int *fd)
{
    *fd = -1;
    /* 1: unset the variables, as beanstalkd does; they describe this
     * process's descriptors and mean nothing to a child. */
    int n = sd_listen_fds(1);
    if (n < 0) {
        fprintf(stderr, "synqd: sd_listen_fds(): %s\n", strerror(-n));
        return n;
    }
    if (n == 0)
        return 0;
    /* beanstalkd's words, for whoever greps for them. */
    if (n > 1)
        fprintf(stderr, "synqd: inherited more than one listen socket; ignoring all but the "
                        "first\n");
    int s = SD_LISTEN_FDS_START;
    const char *call = "sd_is_socket_inet";
    int rc = sd_is_socket_inet(s, AF_UNSPEC, SOCK_STREAM, 1, 0);
    if (rc == 0) {
        call = "sd_is_socket_unix";
        rc = sd_is_socket_unix(s, SOCK_STREAM, 1, NULL, 0);
    }
    if (rc < 0) {
        fprintf(stderr, "synqd: %s(%d): %s\n", call, s, strerror(-rc));
        return rc;
    }
    if (rc == 0) {
        fprintf(stderr, "synqd: inherited fd %d is not a TCP or UNIX listening socket\n", s);
        return -ENOTSOCK;
    }
    *fd = s;
    return 0;
}

void systemd_notify(const char *state)
{
    /* 0: keep NOTIFY_SOCKET, for STOPPING=1 after READY=1. */
    int rc = sd_notify(0, state);
    if (rc < 0)
        fprintf(stderr, "synqd: sd_notify(\"%s\"): %s\n", state, strerror(-rc));
}

#else /* !SQ_HAVE_SYSTEMD */

int systemd_listen_fd(int *fd)
{
    *fd = -1;
    if (!getenv("LISTEN_FDS"))
        return 0;
    fprintf(stderr, "synqd: LISTEN_FDS is set but this synqd was built without libsystemd "
                    "(-DSQ_SYSTEMD=OFF): socket activation is not supported\n");
    return -ENOTSUP;
}

void systemd_notify(const char *state)
{
    (void)state;
}

#endif
