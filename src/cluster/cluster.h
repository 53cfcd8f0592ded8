/*
 * cluster: one Raft node (Canonical's C Raft library, libraft-dev) driven by synq's event loop.
 *
 * Consensus is the library's: elections, log replication, durable storage of the log and of
 * snapshots (raft/uv.h: its segments under DIR, its TCP transport between the nodes, or with
 * cluster TLS tlsxport.h's mutual-TLS one). This
 * module only wires it to an sq_loop and gives its user a small, store-agnostic interface:
 * propose an opaque entry, be told when entries are committed (on every node, in log order),
 * produce and install snapshots, and read the node's view (state, leader, term, indexes).
 *
 * Threads: none of its own. The library runs on libuv; the uv loop is embedded in the caller's
 * sq_loop: the uv backend's file descriptor is watched for readability and uv's next timeout is
 * an sq_timer, and either runs one non-blocking uv pass. So every callback below runs on the
 * sq_loop's thread, between the caller's own events, and the caller's state (the job store)
 * needs no lock and no cross-thread handoff. The library's disk writes and fsyncs run on uv's
 * thread pool or kernel AIO, never blocking this thread.
 *
 * Bootstrap: every node is started with the same member list. A node whose DIR holds no Raft
 * state bootstraps it with that list (all voters); a node with state ignores the list and
 * rejoins with the configuration its log holds (membership changes are log entries).
 */
#ifndef SYNQ_CLUSTER_H
#define SYNQ_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synq/loop.h"

#define CLUSTER_MAX_PEERS 16
#define CLUSTER_ADDR_MAX 64 /* "host:port", NUL included */

typedef struct {
    uint64_t id;                    /* >= 1 */
    char address[CLUSTER_ADDR_MAX]; /* the node's Raft address, host:port */
} cluster_peer;

/*
 * Parses `ID=HOST:PORT,ID=HOST:PORT,...` into out (at most CLUSTER_MAX_PEERS). Ids are positive,
 * distinct; each address has a host and a port 1..65535. 0, or -EINVAL with a reason in err.
 */
int cluster_parse_peers(const char *spec, cluster_peer *out, size_t *n, char *err, size_t errlen);

enum { CLUSTER_FOLLOWER = 1, CLUSTER_CANDIDATE = 2, CLUSTER_LEADER = 3, CLUSTER_DOWN = 4 };

typedef struct {
    int state;                  /* CLUSTER_* */
    uint64_t leader;            /* the leader's id as this node knows it; 0: none */
    const char *leader_address; /* its Raft address, or NULL */
    uint64_t term;
    uint64_t commit_index;
    uint64_t applied_index;
    uint64_t last_index;
    size_t n_peers; /* the current configuration */
    cluster_peer peers[CLUSTER_MAX_PEERS];
} cluster_status;

typedef struct cluster cluster;

typedef struct {
    /* A committed entry, in log order, on every node (leader included). */
    void (*apply)(void *data, const unsigned char *entry, size_t len, uint64_t index);
    /* The whole state as one buffer from cluster_alloc(); the caller's *len bytes of it.
     * -EBUSY: not now (the library asks again after a later apply). */
    int (*snapshot)(void *data, unsigned char **buf, size_t *len);
    /* Replace the whole state with a snapshot's (buf is the library's; read, do not keep). */
    int (*restore)(void *data, const unsigned char *buf, size_t len);
    /* A proposal or barrier this node made ended: status 0 means committed and applied here,
     * anything else (leadership lost, shutting down) means its fate is unknown to this node. */
    void (*done)(void *data, uint64_t token, int status);
    /* The node's state, term or leader may have changed (after every pass of the library). */
    void (*changed)(void *data);
} cluster_callbacks;

typedef struct {
    sq_loop *loop;
    uint64_t id;
    const cluster_peer *peers; /* the bootstrap member list, this node's own entry included */
    size_t n_peers;
    const char *dir;              /* Raft's storage; created (0700) when missing */
    unsigned election_timeout_ms; /* 0: 1000 */
    unsigned heartbeat_ms;        /* 0: election timeout / 10 */
    unsigned snapshot_threshold;  /* entries between snapshots; 0: 8192 */
    bool join; /* never bootstrap: an empty node waits to be added by the leader */
    /* Cluster TLS (tlsxport.h): with tls_cert set, every Raft link is mutual TLS, peers
     * verified against tls_ca (and named tls_name when set); NULL: libraft's plain TCP. */
    const char *tls_cert, *tls_key, *tls_ca, *tls_name;
    cluster_callbacks cb;
    void *data;
} cluster_opts;

/* Opens the storage, bootstraps it if empty, starts the node (a snapshot it holds is restored
 * through cb.restore before this returns). 0, or a negative errno with the reason logged. */
int cluster_open(const cluster_opts *o, cluster **out);

/* Leaves the node for the process's exit, as kill -9 would: synq's loop stops driving it, the
 * library is not closed (no callback runs any more) and nothing is freed. The process must exit
 * or exec right after; the library's files are consistent on disk whenever it dies, and its
 * descriptors are close-on-exec. Why not raft_close: see cluster.c. */
void cluster_abandon(cluster *c);

/* Memory for an entry: the library takes ownership of it in cluster_propose. */
unsigned char *cluster_alloc(size_t len);
void cluster_free(void *p);

/* Proposes an entry (len bytes from cluster_alloc, owned by the library from now on, even on
 * error). Only a leader may; cb.done(token) follows. 0, -EPERM (not the leader), -ENOMEM. */
int cluster_propose(cluster *c, unsigned char *entry, size_t len, uint64_t token);

/* A barrier: cb.done(token, 0) once every entry before it is applied here. 0 or -errno. */
int cluster_barrier(cluster *c, uint64_t token);

/* Membership (leader only): add a voter, or remove a node. cb.done(token) follows. */
int cluster_add(cluster *c, uint64_t id, const char *address, uint64_t token);
int cluster_remove(cluster *c, uint64_t id, uint64_t token);

void cluster_get_status(cluster *c, cluster_status *out);

/* Runs the library's pending work now (writes queued by a proposal made in this pass). */
void cluster_pump(cluster *c);

/* SIGHUP: the cluster TLS files are read again for the Raft links made from now on
 * (tlsxport_reload; the open links keep theirs). 0 (also without cluster TLS: nothing to do),
 * or -EINVAL with the reason logged and the old certificates still in force. */
int cluster_reload_tls(cluster *c);

/* A human-readable name of a status passed to cb.done. */
const char *cluster_strerror(int status);

#endif
