/*
 * forward: a cluster node that is not the serving leader relays its clients to the leader.
 *
 * Each client connection gets one connection to the leader's client port; bytes go through
 * unchanged both ways, so a beanstalkd client sees exactly what the leader answers. Under
 * cluster TLS with --cluster-tls-name that connection starts with one line of the relay's own
 * saying who the client is, whose answer the relay takes (relayid.h). The relay
 * frames the client's commands (a put's body is passed through, never parsed) and counts the
 * leader's replies (RESERVED/FOUND/OK carry a body, RESERVED_BATCH a number of RESERVED
 * blocks) for one reason: `stats-cluster` is answered by this node, in order, once every reply
 * before it has come back. While no leader is known the client is held (not read) for a few
 * election timeouts, then closed; when the leader changes, relayed clients are closed and
 * reconnect. A node that becomes the serving leader takes the held clients as its own sessions.
 */
#ifndef SYNQ_QUEUE_FORWARD_H
#define SYNQ_QUEUE_FORWARD_H

#include "synq/tcp.h"

typedef struct server server;

/* A client connected to a node that does not serve: relay it (or hold it until a leader). */
void forward_accept(server *srv, sq_conn *conn);
/* The leader (or its client address) may have changed: connect held clients, close stale ones. */
void forward_leader_changed(server *srv);
/* Closes every relayed and held client. */
void forward_close_all(server *srv);
/* Whether connections of closed relays are still closing (flushing, awaiting the FIN). */
bool forward_closing(const server *srv);
/* Resets them (at shutdown, once the wait for them is over); they are gone after a pass. */
void forward_abort_closing(server *srv);
/* Frees the relays closed during this pass (server.c, once per pass and at exit). */
void forward_reap(server *srv);
/* This node now serves: held clients become its sessions; relayed ones are closed. */
void forward_adopt_all(server *srv);

/* Whether conn's peer is a cluster node, whose relay line (relayid.h) is believed: under
 * --cluster-tls with --cluster-tls-name, its certificate verified against the cluster CA (the
 * TLS port's --tls-ca) and is issued for that name. Without the name the CA alone cannot tell
 * a node from a client, whose certificates come from the same --tls-ca: nobody is a node then,
 * and relayed clients are seen as their follower, as they were before relay lines. Call once
 * conn's handshake completed (from its first read on). */
bool forward_from_node(const server *srv, const sq_conn *conn);

#endif
