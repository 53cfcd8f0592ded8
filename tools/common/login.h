/*
 * login: the password of synq's and synq-bench's --user, and the auth line they send with it.
 *
 * The password never comes from the command line, where every user of the machine can read it
 * (ps, /proc/PID/cmdline): it is the first line of --password-file FILE, else the value of the
 * environment variable SYNQ_PASSWORD. synqd's auth takes the rest of its line as the password,
 * so it may hold spaces but not a line end, and the whole line obeys the protocol's 224 bytes.
 */
#ifndef SYNQ_TOOLS_LOGIN_H
#define SYNQ_TOOLS_LOGIN_H

#include <stddef.h>

/* The longest auth line: beanstalkd's line limit, CRLF included. */
#define LOGIN_LINE_MAX 224
#define LOGIN_PASSWORD_ENV "SYNQ_PASSWORD"

/* Reads the password for user: the first line of file (its line end dropped) when file is
 * not NULL, else $SYNQ_PASSWORD. Then builds "auth USER PASSWORD\r\n" into line (NUL
 * terminated, at most LOGIN_LINE_MAX bytes before the NUL) and sets *len. Returns 0, or -1
 * with the reason in why (no password, an unreadable file, a line end or NUL in it, a line
 * too long, a user name with a blank). */
int login_line(const char *user, const char *file, char line[LOGIN_LINE_MAX + 1], size_t *len,
               char *why, size_t whylen);

#endif
