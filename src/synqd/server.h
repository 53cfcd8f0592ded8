/*
 * server: synqd's protocol sessions on top of the engine.
 *
 * The server owns the listener, one session per connection, the store (all
 * queue state) and, with -b, the write-ahead log. Sessions read command
 * lines and job bodies (session_core.c), hand parsed commands to cmd.c, and
 * write replies in command order. Replies to commands that changed state leave the process
 * only after the loop's before-wait hooks ran, which is where the log is
 * written and synced (group commit).
 */
#ifndef SYNQ_QUEUE_SERVER_H
#define SYNQ_QUEUE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"
#include "synq/loop.h"
#include "synq/tls.h"
#include "users.h"
#include "wal.h"

#define SERVER_DEFAULT_PORT 11300
#define SERVER_DEFAULT_MAX_JOB_BYTES 65535u
#define SERVER_MAX_JOB_BYTES_LIMIT 1073741824u
#define SERVER_DEFAULT_SEGMENT_BYTES WAL_DEFAULT_SEGMENT_BYTES
#define SERVER_DEFAULT_FSYNC_MS 50
/* Overload limits (docs/operations.md). */
#define SERVER_DEFAULT_OUT_SOFT_BYTES 1048576u    /* 1 MiB */
#define SERVER_DEFAULT_OUT_LIMIT_BYTES 67108864u  /* 64 MiB */
#define SERVER_DEFAULT_OUT_TOTAL_BYTES 268435456u /* 256 MiB */
#define SERVER_DEFAULT_OUT_TIMEOUT_MS 60000u
#define SERVER_DEFAULT_PASS_COMMANDS 1000u
/* What --max-memory counts per job besides its body, for the costliest kind
 * of job: a record header with its log segment (32 bytes), rounding to 8, the
 * ext a job gets once it is delayed, reserved or buried (96), its directory
 * slot (8) and its delay-heap slot (8). A fresh ready job takes about 37. */
#define SERVER_JOB_OVERHEAD_BYTES 152u
/* What a put-unique key costs besides its bytes: its length byte in the record and its slot in
 * the store's key table (8 bytes at a load that a shrink leaves as low as 3/8: 24). */
#define SERVER_KEY_OVERHEAD_BYTES 25u

/* The bytes --max-memory counts for a job with this body and a key of key_len bytes (0: none). */
static inline uint64_t server_job_cost(size_t body_len, size_t key_len)
{
    return (uint64_t)body_len + SERVER_JOB_OVERHEAD_BYTES +
           (key_len ? (uint64_t)key_len + SERVER_KEY_OVERHEAD_BYTES : 0);
}

typedef struct server_opts {
    const char *listen_addr;      /* default 127.0.0.1 */
    uint16_t port;                /* default 11300; 0 picks a free one (unless plain_off) */
    bool plain_off;               /* -p 0 with --tls-port: no plain TCP listener */
    uint16_t tls_port;            /* --tls-port, on listen_addr; with tls only */
    sq_tls_ctx *tls;              /* serve TLS on tls_port with this (the server takes its own
                                     reference); NULL = no TLS listener */
    int listen_fd;                /* >= 0: serve this inherited listening socket
                                     (systemd) instead of binding; default -1 */
    const char *wal_dir;          /* NULL: no write-ahead log */
    bool fsync_never;             /* -F */
    uint32_t fsync_ms;            /* -f: 0 = every change before its reply */
    uint64_t segment_bytes;       /* -s */
    size_t max_job_bytes;         /* -z */
    uint64_t max_memory;          /* --max-memory: bytes all jobs may take; 0 = no limit */
    int verbose;                  /* -V count */
    size_t out_soft_bytes;        /* --output-soft-limit: a connection's commands stop running while
                                     its output holds more (resume below a quarter of it) */
    size_t out_limit_bytes;       /* --output-limit: past it the connection is reset */
    size_t out_total_bytes;       /* --output-total-limit: all connections' output; 0 = none */
    uint32_t out_timeout_ms;      /* --output-timeout-ms: close a connection whose output made no
                                     progress for this long; 0 = never */
    uint32_t pass_commands;       /* --pass-commands: most commands per connection per loop pass */
    uint64_t node_id;             /* --node: a cluster node (replica.h), its store in Raft under
                                     wal_dir/raft instead of a local log; 0: the single server */
    const char *peers;            /* --peers ID=HOST:PORT,... */
    uint32_t election_timeout_ms; /* --election-timeout; 0: 1000 */
    uint32_t snapshot_entries;    /* --snapshot-entries; 0: 8192 */
    char *const *argv;            /* synqd's command line: a cluster node restarts with it */
    auth_users *users;            /* --users: every connection must authenticate (authz.h); the
                                     server_start call takes it over, freeing it in server_free (or on
                                     failure). NULL: no authentication */
    bool join;        /* --join: a new node waiting for cluster-add, not bootstrapping */
    bool cluster_tls; /* --cluster-tls yes: Raft links are mutual TLS (cluster/tlsxport.h) */
    const char *cluster_tls_cert, *cluster_tls_key, *cluster_tls_ca; /* --tls-cert/-key/-ca */
    const char *cluster_tls_name; /* --cluster-tls-name: the name every peer's certificate bears */
    bool insecure_listen;         /* --insecure-listen: serve a non-loopback plain listener without
                                     --users (with a warning) instead of refusing to start */
} server_opts;

typedef struct server server;

void server_opts_default(server_opts *o);

/* Creates the server on loop and binds its listener (or adopts o->listen_fd); the log is not
 * opened, nor a connection accepted, until server_serve(): the caller drops privileges in between,
 * so the least trusted input, the log on disk, is read as the user the server runs as, and what it
 * creates there belongs to that user. Returns 0 or a negative errno; failures are logged to stderr
 * with their cause. */
int server_start(sq_loop *loop, const server_opts *o, server **out);

/* With o->wal_dir, opens (creating the directory if missing: wal_open) and replays the log
 * into the store; then starts listening (a socket bound by server_start refuses connections
 * until here; an adopted one was listening already, and is served from the loop's next pass).
 * Call it once, after server_start() and before the loop runs. Returns 0 or a negative errno,
 * logged with its cause (for a permission error, the user the process runs as and the
 * directory's owner and mode); the server must then be freed. */
int server_serve(server *s);

/* The port the listener bound (or was given); 0 for an AF_UNIX socket or none. */
uint16_t server_port(const server *s);
uint16_t server_tls_port(const server *s);

/* SIGHUP: connections accepted from now on get ctx (new certificates); those open keep the
 * configuration they were accepted with until they close. 0 or a negative errno (logged). */
int server_reload_tls(server *s, sq_tls_ctx *ctx);

/* SIGHUP: a cluster node with --cluster-tls reads its TLS files again for the Raft links made
 * from now on (the open ones keep theirs). 0 (also when there is nothing to reload), or
 * -EINVAL with the old certificates kept (logged). */
int server_reload_cluster_tls(server *s);

/* Drain mode (SIGUSR1 on, SIGUSR2 off): put answers DRAINING. Once the server quiesces it
 * stays on (turning it off is ignored). */
void server_set_draining(server *s, bool on);

/* The first step of a graceful shutdown (SIGTERM): the listener is closed (an inherited
 * socket's descriptor too; systemd keeps its own), put answers DRAINING and no job is handed
 * out any more (store_set_holding: a waiting reserve keeps waiting), while the open sessions
 * go on working, so a worker can still delete, release, bury or touch the jobs it holds. The
 * caller runs the loop until server_reserved_jobs() is 0 or its grace ends, then stops it as
 * usual (server_shutdown). Idempotent. */
void server_quiesce(server *s);
bool server_quiescing(const server *s);
/* Jobs reserved at this moment (current-jobs-reserved). */
uint64_t server_reserved_jobs(const server *s);

/* Stops accepting and closes every session gracefully (queued replies are
 * still sent). Run the loop until server_idle() (or a deadline, then
 * server_abort_sessions() and one more iteration) before server_free(). */
void server_shutdown(server *s);
/* No session open and no relay connection still closing. */
bool server_idle(const server *s);
void server_abort_sessions(server *s);
/* Flushes and closes the log and frees everything. */
void server_free(server *s);

/* The server's figures at this moment, for `stats` and the metrics (see stats.h). The strings
 * it points to live as long as the server. */
void server_snapshot(server *s, synqd_snapshot *out);
/* The job store, for queries (stats-tube, metrics). Lives as long as the server. */
store *server_store(server *s);
/* What the server's commands share (cmd.h), for running commands outside a session (the
 * console's API): the same store, limits and log. Lives as long as the server. */
struct cmd_env;
const struct cmd_env *server_cmd_env(server *s);
/* --users: the users and the failed-`auth` limit the sessions share (authz.h), for
 * authenticating outside a session (the console's API); NULL without --users. Lives as long
 * as the server; its users table changes on SIGHUP (server_reload_users). */
struct auth_env;
struct auth_env *server_auth_env(server *s);
/* SIGHUP: fresh (owned from now on) replaces the --users table; open sessions keep their
 * connection and are rebound by name (session_core_rebind). Returns how many sessions were
 * logged out because their user is gone. Without --users, fresh is freed and 0 returned. */
size_t server_reload_users(server *s, auth_users *fresh);

#endif
