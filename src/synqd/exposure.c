/*
 * exposure: see exposure.h. The address is the one the socket is bound to (getsockname), not
 * the -l text, so a host name, a wildcard and a socket systemd passed are judged alike.
 */
#include "exposure.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

bool addr_is_loopback(const struct sockaddr *sa, socklen_t len)
{
    if (sa->sa_family == AF_UNIX)
        return true;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

/* "0.0.0.0:11300", "[::]:11300" into buf. */
static void format_address(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        snprintf(buf, len, "%s:%u", host, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        snprintf(buf, len, "[%s]:%u", host, port);
    } else {
        snprintf(buf, len, "an address of family %d", (int)ss->ss_family);
    }
}

bool exposure_warn(const sq_listener *l, const char *what, const char *risk)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int err = sq_listener_address(l, &ss, &len);
    if (err) {
        fprintf(stderr,
                "synqd: warning: %s: getsockname() failed: %s; taking it as reachable "
                "from other hosts\n",
                what, sq_strerror(err));
        return true;
    }
    if (addr_is_loopback((const struct sockaddr *)&ss, len))
        return false;
    char addr[INET6_ADDRSTRLEN + 16];
    format_address(&ss, addr, sizeof addr);
    fprintf(stderr,
            "synqd: warning: %s on %s, not a loopback address: anyone who can reach it %s; "
            "listen on 127.0.0.1, or firewall the port\n",
            what, addr, risk);
    return true;
}

bool exposure_allowed(const sq_listener *l, bool insecure)
{
    static const char risk[] = "can read, delete and add jobs (no --users: no authentication)";
    if (insecure) {
        (void)exposure_warn(l, "listening", risk);
        return true;
    }
    struct sockaddr_storage ss;
    socklen_t len;
    char addr[INET6_ADDRSTRLEN + 16] = "an address getsockname() cannot tell";
    if (sq_listener_address(l, &ss, &len) == 0) {
        if (addr_is_loopback((const struct sockaddr *)&ss, len))
            return true;
        format_address(&ss, addr, sizeof addr);
    }
    fprintf(stderr,
            "synqd: refusing to listen on %s, not a loopback address, without authentication: "
            "anyone who can reach it %s. Give --users FILE (docs/security.md), listen on "
            "127.0.0.1, or --insecure-listen to serve it anyway\n",
            addr, risk);
    return false;
}
