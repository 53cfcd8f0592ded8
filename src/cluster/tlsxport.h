/*
 * tlsxport: a libraft transport (struct raft_uv_transport) whose links between nodes are
 * mutual TLS, every peer's certificate verified against the cluster CA.
 *
 * libraft reads and writes a uv_stream_t. Each link is a TCP connection carrying TLS (OpenSSL
 * over memory BIOs, driven by the uv loop the transport is given) and a socketpair(AF_UNIX):
 * libraft gets one end as a uv_pipe_t, this module pumps plaintext between the other end and
 * the TLS connection. Backpressure both ways (a side whose write queue passes a bound stops
 * reading the other), close of either side closes the other. After the TLS handshake the
 * connecting node sends a small preamble (magic, its id, its address), which the listening
 * node reads before handing the link to libraft, as libraft's own TCP transport does in clear.
 *
 * A peer that does not speak TLS, or whose certificate the CA did not sign, is refused: the
 * connection is closed and the reason logged, once per peer address until the reason changes.
 */
#ifndef SYNQ_CLUSTER_TLSXPORT_H
#define SYNQ_CLUSTER_TLSXPORT_H

#include <raft/uv.h>
#include <uv.h>

typedef struct {
    const char *cert; /* PEM: this node's certificate (chain), presented both ways */
    const char *key;  /* PEM: its private key */
    const char *ca;   /* PEM: the cluster CA, the only issuer accepted for peers */
    const char *name; /* NULL: chain check only; else a peer's certificate must name it */
} tlsxport_opts;

/* 0, or a RAFT_* error with the reason in t->errmsg (and logged). */
int tlsxport_init(struct raft_uv_transport *t, uv_loop_t *loop, const tlsxport_opts *o);

/*
 * Reads the files tlsxport_init was given again (SIGHUP). Links made from then on, both ways,
 * present the new certificate and check peers against the new CA; open links keep the
 * configuration they were made with until they close (libraft reconnects a closed one, with
 * the new). A file that does not load, or a key that does not match, changes nothing: the
 * reason is logged and -EINVAL returned. A certificate the CA file does not verify is put in
 * force (the operator may be rolling the CA) with a warning that peers will refuse it. Call
 * it on the thread of the uv loop the transport was given (the only one that touches it).
 * 0 or -EINVAL.
 */
int tlsxport_reload(struct raft_uv_transport *t);

/* Frees what tlsxport_init allocated; call after libraft closed the transport. */
void tlsxport_close(struct raft_uv_transport *t);

#endif
