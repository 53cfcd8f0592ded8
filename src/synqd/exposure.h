/*
 * exposure: whether a listener can be reached from other hosts. The protocol has no
 * authentication (beanstalkd's has none), so a listener on a non-loopback address lets anyone
 * who can reach it read, delete and add jobs; synqd says so when it starts. The check is the
 * one place that decides what counts as local, for the warnings and for the refusal to serve the
 * protocol to other hosts without authentication.
 */
#ifndef SYNQ_QUEUE_EXPOSURE_H
#define SYNQ_QUEUE_EXPOSURE_H

#include <stdbool.h>
#include <sys/socket.h>

#include "synq/tcp.h"

/*
 * True when sa, of length len, can only be reached from this host: IPv4 127.0.0.0/8, IPv6 ::1,
 * an IPv4-mapped loopback (::ffff:127.x.y.z), or an AF_UNIX socket. False for everything else,
 * the wildcards 0.0.0.0 and :: included (they accept on every interface), and for an address
 * too short for its family.
 */
bool addr_is_loopback(const struct sockaddr *sa, socklen_t len);

/*
 * Checks the address listener l is bound to; when it is not loopback, warns on stderr, naming
 * `what` ("listening", "metrics: listening"), the address and `risk` (what a stranger could do
 * there). Returns true when l is exposed (or its address cannot be read, which is reported and
 * counted as exposed).
 */
bool exposure_warn(const sq_listener *l, const char *what, const char *risk);

/*
 * The protocol listener without authentication (--users not given): when l is exposed (as
 * exposure_warn judges it), returns false after saying on stderr that synqd refuses to serve it
 * and what to give instead (--users, -l 127.0.0.1, or --insecure-listen); with `insecure` it
 * warns as exposure_warn does and returns true. A loopback listener: true, nothing said.
 */
bool exposure_allowed(const sq_listener *l, bool insecure);

#endif
