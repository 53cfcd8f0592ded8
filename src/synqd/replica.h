/*
 * replica: synqd's store replicated through the cluster (cluster.h), in place of the local log.
 *
 * The leader runs commands as a single server does: they change the store at once and the
 * store's journal hook hands every change to replica_journal, which encodes it as the same
 * record the write-ahead log would hold (wal_record_encode). Once per loop pass
 * replica_flush proposes all of the pass's records as one Raft entry (group commit survives
 * replication) and holds the output of every session whose reply acknowledges one of them
 * (sq_conn_hold_output) until that entry is committed on a majority and applied.
 *
 * Every other node applies committed entries to its store with jobrec_apply, as a restart
 * replays a log, and forwards its clients to the leader (forward.h). The leader skips its own
 * entries when they come back committed: its store already holds them.
 *
 * Leadership. A new leader first commits a LEADER entry (its client address: followers forward
 * there) and serves only once that entry is applied, which means every entry of earlier terms
 * is applied too. A leader that loses leadership with entries still uncommitted cannot know
 * which of them the next leader keeps, and its store holds them all: it restarts itself
 * (execv of its own binary and arguments) and rebuilds its store from the replicated log, which
 * Raft has on its disk. Client connections are closed in every leadership change, so reserved
 * jobs go back to ready as when a worker disconnects (at-least-once delivery).
 *
 * The bytes of entries and snapshots are replog.h's.
 */
#ifndef SYNQ_QUEUE_REPLICA_H
#define SYNQ_QUEUE_REPLICA_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "store.h"
#include "synq/buf.h"

typedef struct server server;
typedef struct replica replica;

typedef struct {
    uint64_t node_id;
    const char *peers;            /* --peers, as given */
    const char *dir;              /* Raft's storage: DIR/raft */
    unsigned election_timeout_ms; /* --election-timeout */
    unsigned snapshot_entries;    /* --snapshot-entries; 0: the cluster's default */
    const char *client_address;   /* host:port clients reach this node at (for forwarding) */
    char *const *argv;            /* to restart with after losing leadership */
    bool join;                    /* --join: wait to be added (cluster-add), never bootstrap */
    const char *tls_cert, *tls_key, *tls_ca, *tls_name; /* cluster TLS; tls_cert NULL: off */
} replica_opts;

/* Parses --peers (for main's early checks): 0, or -EINVAL with a reason in err. */
int replica_check_peers(const char *spec, uint64_t node_id, char *err, size_t errlen);

/* Starts the node; the store (empty) is filled from Raft's snapshot and log. 0 or -errno. */
int replica_open(server *srv, const replica_opts *o, replica **out);
void replica_close(replica *rp);

/* The store's journal hooks, forwarded (only a serving leader journals). */
void replica_journal(replica *rp, const job *j, int op);
void replica_journal_tube(replica *rp, const tube *t);
/* The first encoding error since the last call (-ENOMEM), or -EPERM when this node may not
 * change anything now (not the serving leader); 0 otherwise. */
int replica_take_error(replica *rp);

/* pause-tube paused a tube (the cmd_host hook): replicated with the pass's changes. */
void replica_paused(replica *rp, const char *name, size_t len, uint32_t delay_s);

/* End of a loop pass: proposes the pass's changes and holds the replies acknowledging them. */
void replica_flush(replica *rp);

/* SIGHUP: the Raft links made from now on use the cluster TLS files read again (cluster.h,
 * cluster_reload_tls). 0, or -EINVAL with the old certificates kept (logged). */
int replica_reload_tls(replica *rp);

/* Is this node the leader, past its LEADER entry: may it run commands itself? */
bool replica_serving(const replica *rp);

/* The leader's client address as the log last said ("host:port"), or NULL when unknown. */
const char *replica_leader_client(const replica *rp);

/* cluster-add (address non-NULL: address_len bytes, host:port) or cluster-remove of node id,
 * for session se, which waits: it gets CHANGED or NOT_CHANGED when the change is committed or
 * fails. 0, or -errno when it could not start (then se gets nothing from here). */
typedef struct session session;
int replica_change(replica *rp, session *se, uint64_t id, const char *address, size_t address_len);
/* se is going away: a change it waits for answers nobody. */
void replica_forget_session(replica *rp, session *se);

/* The stats-cluster document (YAML, without the OK line). 0 or -ENOMEM. */
int replica_format_stats(replica *rp, sq_buf *out);

#endif
