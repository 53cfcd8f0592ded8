/*
 * relayid: who a relayed client is, as the follower that relays it tells the leader.
 *
 * A follower relays each client over its own connection to the leader (forward.h), so the
 * leader would see only the follower. With --cluster-tls and --cluster-tls-name the follower
 * starts that connection with one internal line, before any of the client's bytes:
 *
 *     relay-from <client-addr> <user>\r\n   ->   RELAYED\r\n
 *
 * <client-addr> is the client's address as the follower saw it (sq_conn_peer's text:
 * "192.0.2.7:40112", "[2001:db8::7]:40112"; "-" for a peer without one, an AF_UNIX socket);
 * <user> is the user of the follower's --users file that the client's verified certificate
 * named (authcert.h), or "-". The follower sends the user, not the certificate's names: the
 * line stays one bounded token (a certificate may carry any number of names), and the leader
 * still checks it against its own users file, as SIGHUP rebinds sessions by name.
 *
 * The leader believes the line only at the start of a connection whose peer certificate
 * verified against the cluster CA and names --cluster-tls-name (session.c); from anyone else
 * it is no command at all and is answered as any unknown line is (UNKNOWN_COMMAND, or
 * NOT_AUTHORIZED before `auth`). This module only formats and parses the line: no I/O.
 */
#ifndef SYNQ_SYNQD_RELAYID_H
#define SYNQ_SYNQD_RELAYID_H

#include <stddef.h>

#include "proto.h"

#define RELAYID_REPLY "RELAYED\r\n"
/* "[" + an IPv6 address (INET6_ADDRSTRLEN) + "]:" + a port, with room to spare. */
#define RELAYID_PEER_BYTES 64
/* The longest line, CRLF included: "relay-from ", a peer, a space, a user. It fits the
 * protocol's line limit, so a leader that does not know the line answers it like any other. */
#define RELAYID_LINE_BYTES (11 + (RELAYID_PEER_BYTES - 1) + 1 + PROTO_MAX_USER + 2)

typedef struct relayid {
    char peer[RELAYID_PEER_BYTES]; /* the client's address text; "" when it has none */
    char user[PROTO_MAX_USER + 1]; /* the user its certificate named; "" for none */
    size_t user_len;
} relayid;

typedef enum {
    RELAYID_NONE,    /* the input does not start with a well-formed relay line */
    RELAYID_PARTIAL, /* it may: wait for more bytes */
    RELAYID_LINE,    /* it does: *id is filled, *used bytes hold the line */
} relayid_status;

/* Writes the line for a client at peer ("" or NULL: none) whose certificate named user
 * (user_len bytes; 0: none) into out[RELAYID_LINE_BYTES + 1], NUL-terminated. Returns its
 * length with the CRLF, or 0 when peer or user is not one the line can carry (too long, a
 * byte outside an address or a user name): the caller then sends "-" for it instead. */
size_t relayid_format(char *out, const char *peer, const char *user, size_t user_len);

/* Reads the first len bytes of a connection's input. A line that starts "relay-from " but is
 * malformed (a bad address or user, extra words, too long) is RELAYID_NONE: the session then
 * runs it as a command, and it is answered as an unknown one. */
relayid_status relayid_parse(const char *bytes, size_t len, relayid *id, size_t *used);

#endif
