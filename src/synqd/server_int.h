/*
 * Internals shared by the server (server.c: listener, store hooks, the log, timers), the
 * sessions' socket glue (session.c) and a cluster node's replication and relay (replica.c,
 * forward.c). Nothing else includes this: command execution (cmd.c), the
 * session's state machine (session_core.c), `stats` (stats.c) and the metrics (metrics.c) see
 * only their narrow contexts and the server's snapshot.
 */
#ifndef SYNQ_QUEUE_SERVER_INT_H
#define SYNQ_QUEUE_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "list.h"
#include "memtrim.h"
#include "persist.h"
#include "replica.h"
#include "server.h"
#include "session_core.h"
#include "stats.h"
#include "store.h"
#include "synq/tcp.h"
#include "synq/timer.h"
#include "wallclock.h"

typedef struct session session;

/* One connection: the protocol state machine plus the server's lists it is on. */
struct session {
    session_core core;
    server *srv;
    sq_conn *conn;
    sq_buf *in;              /* the connection's input buffer, kept for resuming */
    list_node resume_link;   /* server's list of sessions to resume after a wait */
    list_node out_wait_link; /* server's list of sessions held for the total output */
    list_node bulk_link;     /* server's list of bulk commands for the next pass */
    list_node unsynced_link; /* server's list of sessions that acknowledged unflushed changes */
    list_node held_link;     /* server's list of sessions whose output waits (replica.c) */
    list_node link;          /* server's list of all sessions */
    uint64_t commit_token;   /* cluster: the entry whose commit releases the held output */
    /* The flags last, together: each says whether the session is on the list above. */
    bool resume_queued; /* on the resume list */
    bool yielded;       /* the core stopped for its budget with input left */
    bool eof_pending;   /* the peer's FIN came while yielded: handle it after that input */
    bool cert_seen;     /* the first read looked for a client certificate's user */
    bool relay_checked; /* the first read looked for a cluster node's relay line (relayid.h) */
    bool out_waiting;   /* on the out_wait list */
    bool bulk_queued;   /* on the bulk list */
    bool unsynced;      /* acknowledged a change the log has not flushed */
    bool held;          /* cluster: output held until entry commit_token commits */
};

struct server {
    sq_loop *loop;
    server_opts opts;
    sq_listener *listener;     /* plain TCP; NULL with -p 0 */
    sq_listener *tls_listener; /* --tls-port, or NULL */
    sq_tls_ctx *relay_tls;     /* --cluster-tls: forward.c relays to the leader's TLS port */
    bool relay_refusal_logged; /* forward.c said once that the leader refused a relay line */
    store *st;
    session_env env;         /* what every session and command shares */
    synqd_counters counters; /* changed only by session_core.c */
    sq_timer store_timer;
    uint64_t store_timer_due;
    list sessions;        /* session.link, newest first */
    list resume;          /* session.resume_link, in the order they were queued */
    persist *ps;          /* NULL without -b, and on a cluster node */
    replica *rp;          /* a cluster node's replication (replica.h), or NULL */
    list held;            /* session.held_link: replies waiting for their entry's commit */
    list forwards;        /* forward.c's relayed clients */
    list forward_graves;  /* forward.c's closed ones, freed at the end of the pass */
    list forward_closing; /* forward.c's connections of those, still closing in the engine */
    synqd_histograms hist;
    uint64_t records_at_sync; /* the log's records_written at its last fdatasync */
    wal_fault wal_fault;      /* used only with SYNQD_WAL_FAULT (tests) */
    wallclock wall;           /* what the log's wall times are read from (wallclock.h) */
    sq_timer persist_timer;
    uint64_t persist_timer_due;
    list unsynced; /* session.unsynced_link, newest first */
    list out_wait; /* session.out_wait_link: held for --output-total-limit,
                      retried from out_timer */
    sq_timer out_timer;
    memtrim trim; /* when to give freed heap memory back (memtrim.h) */
    sq_timer trim_timer;
    list bulk;                     /* session.bulk_link: bulk commands that run a chunk next pass */
    sq_timer bulk_timer;           /* due at once: the next loop pass runs them */
    synqd_overload_stats overload; /* changed by session.c and server.c */
    uint64_t job_memory; /* what --max-memory counts: bodies + overhead; changed only here */
    uint64_t started_ms;
    sq_buf scratch; /* reused for stats documents */
    char instance_id[17];
    bool quiescing; /* server_quiesce: no accepts, no puts, no job handed out */
    bool shutting_down;
};

/* session.c */
void session_accept(server *srv, sq_conn *conn);
/* Runs the commands buffered while the session waited. */
void session_resume(session *se);
/* Ends the session (jobs released, counters updated) and closes its
 * connection: gracefully, or with a reset when abort is set. */
void session_close(session *se, bool abort);
/* Closes every session: gracefully, or with a reset when abort is set. */
void session_close_all(server *srv, bool abort);
/* session.c: every session's user rebound to fresh (session_core_rebind); how many were
 * logged out because fresh lacks their user. */
size_t session_rebind_all(server *srv, const auth_users *fresh);
/* The store's answers to a session waiting in reserve (from its hooks). */
void session_reserved(session *se, const job *j);
void session_wait_ended(session *se, const char *reply, size_t reply_len);

/* server_log.c: the session's reply acknowledges a change in the log's batch: hold it until
 * the batch is written (or reset the session if the write fails). */
void server_note_unsynced(server *srv, session *se);
/* server_log.c: opens and replays the log (-b), logging why it could not. 0 or -errno. */
int server_open_log(server *srv);
/* server_log.c: has the log failed (every change is then refused)? False without -b. */
bool server_log_failed(const server *srv);
/* server_log.c, once per loop pass: group commit of the pass's batch, then the sessions
 * holding replies for it are released (or reset if it failed). */
void server_flush_log(server *srv);
/* server_log.c: the timer of -f MS syncs and of compaction, and its re-arming per pass. */
void server_on_persist_timer(sq_loop *loop, sq_timer *t);
void server_rearm_persist_timer(server *srv);
/* server.c: all connections' output passed --output-total-limit: hold the session (its input
 * stays buffered) and run it again once the total fell back. Idempotent. */
void server_queue_out_wait(server *srv, session *se);
void server_unqueue_out_wait(server *srv, session *se);
/* The next chunk of the session's bulk command (from the server's bulk timer). */
void session_bulk_step(session *se);
/* server.c: the session runs a bulk command: give it a chunk on the next loop pass, after
 * the other clients' input of this one. Idempotent. */
void server_queue_bulk(server *srv, session *se);
void server_unqueue_bulk(server *srv, session *se);
/* server.c: forget a session that is going away. */
void server_forget_session(server *srv, session *se);

/* server.c: counts (held) or uncounts a job in --max-memory's total, for replica.c, whose
 * applied records make and forget jobs without the journal hook. */
void server_count_job(server *srv, const job *j, bool held);
/* server.c: this cluster node became the serving leader (replica.c). */
void server_cluster_serving(server *srv);

/* server_listen.c: binds the plain and the TLS listener (or adopts the inherited socket),
 * listening only at server_listen(). 0 or a negative errno, logged. */
int server_open_listeners(server *srv);
int server_listen(server *srv);
/* Closes both listeners (idempotent). */
void server_close_listeners(server *srv);
/* server_listen.c: the client configuration a follower relays to the leader's TLS port with
 * (--cluster-tls: the node certificate, the cluster CA). 0, or -EINVAL (logged with what). */
int server_relay_tls_new(const server *srv, const char *what, sq_tls_ctx **out);

/* The store runs on the loop's monotonic clock shifted by this much, so a
 * job restored from the log can be older than the machine's uptime. */
#define SERVER_CLOCK_OFFSET_MS (UINT64_C(1) << 40)

/* server.c: a session ended its wait; run its buffered commands soon (not
 * inside the store hook that ended the wait). */
void server_queue_resume(server *srv, session *se);

#endif
