/*
 * systemd integration: socket activation and readiness, as sd_listen_fds(3)
 * and sd_notify(3) describe them. Both do nothing when synqd was not started
 * by systemd (or by systemd-socket-activate), so every start-up path is the
 * same otherwise.
 */
#ifndef SYNQ_QUEUE_SYSTEMD_H
#define SYNQ_QUEUE_SYSTEMD_H

/* The listening socket systemd passed (LISTEN_PID is this process and
 * LISTEN_FDS at least 1), as beanstalkd takes it: the first one, which must
 * be a listening TCP or AF_UNIX stream socket; more than one is warned about
 * and the others are left alone. Unsets LISTEN_PID, LISTEN_FDS and
 * LISTEN_FDNAMES, so nothing this process runs inherits them.
 *
 * Returns 0 with *fd the socket (>= 3), 0 with *fd -1 when not
 * socket-activated, or a negative errno after logging why (a socket that
 * cannot be served, LISTEN_FDS garbled, or a build without libsystemd). */
int systemd_listen_fd(int *fd);

/* Tells the service manager state ("READY=1", "STOPPING=1", ...) when
 * NOTIFY_SOCKET is set; nothing otherwise. A failure is logged and is
 * otherwise harmless: the server goes on. */
void systemd_notify(const char *state);

#endif
