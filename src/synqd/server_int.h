/*
 * Internals shared by the server's modules: server.c (listener, hooks,
 * timers), session.c (per-connection input state machine), cmd.c (command
 * execution) and stats.c (YAML documents). Not for other modules.
 */
#ifndef SYNQ_QUEUE_SERVER_INT_H
#define SYNQ_QUEUE_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist.h"
#include "proto.h"
#include "server.h"
#include "store.h"
#include "synq/tcp.h"
#include "synq/timer.h"

typedef struct session session;

/* What the session expects next from its input. */
typedef enum {
    SESSION_COMMAND,   /* a command line */
    SESSION_BODY,      /* put's body and its CRLF */
    SESSION_SKIP_BODY, /* discarding a rejected body, then `pending_reply` */
    SESSION_SKIP_LINE, /* discarding an over-long line up to its CRLF */
    SESSION_WAITING,   /* in reserve: no command runs until the store answers */
    SESSION_CLOSED,    /* quit or error: input is ignored */
} session_state;

struct session {
    server *srv;
    sq_conn *conn;
    client *cl;
    sq_buf *in; /* the connection's input buffer, kept for resuming */
    session_state state;
    /* SESSION_BODY: the put being read. */
    uint32_t put_pri, put_delay_s, put_ttr_s;
    uint64_t body_len;
    /* SESSION_SKIP_BODY: bytes still to drop, and the reply after. */
    uint64_t skip_left;
    const char *pending_reply;
    bool is_producer; /* has put: counts in current-producers */
    bool is_worker;   /* has reserved: counts in current-workers */
    bool resume_queued;
    session *next_resume;
    bool unsynced;          /* acknowledged a change the log has not flushed */
    session *next_unsynced; /* server's list of such sessions */ /* server's list of sessions to resume after a wait */
    session *prev, *next; /* server's list of all sessions */
};

struct server {
    sq_loop *loop;
    server_opts opts;
    sq_listener *listener;
    store *st;
    sq_timer store_timer;
    uint64_t store_timer_due;
    session *sessions;
    session *resume_head;
    session **resume_tail;
    persist *ps; /* NULL without -b */
    wal_fault wal_fault; /* used only with SYNQD_WAL_FAULT (tests) */
    sq_timer persist_timer;
    uint64_t persist_timer_due;
    session *unsynced_head;
    uint64_t cmd_counts[CMD_COUNT_];
    uint64_t current_connections, total_connections;
    uint64_t current_producers, current_workers;
    uint64_t job_memory; /* what --max-memory counts: bodies + overhead */
    uint64_t started_ms;
    sq_buf scratch; /* reused for stats documents */
    char instance_id[17];
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

/* Reply helpers: append to the connection's output, in command order. */
void session_reply(session *se, const char *text, size_t len);
#define session_reply_lit(se, lit) session_reply((se), (lit), sizeof(lit) - 1)
void session_replyf(session *se, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "<word> <id>\r\n" for INSERTED and BURIED, without printf. */
void session_reply_id(session *se, const char *word, size_t word_len, uint64_t id);
#define session_reply_id_lit(se, lit, id) session_reply_id((se), (lit), sizeof(lit) - 1, (id))
/* "<word> <id> <bytes>\r\n<body>\r\n" for RESERVED and FOUND. */
void session_reply_job(session *se, const char *word, const job *j);
/* "OK <bytes>\r\n<doc>\r\n" for stats documents. */
void session_reply_doc(session *se, const char *doc, size_t len);

/* cmd.c: runs one parsed command line. `line` is the raw line (without CRLF)
 * for the cases that need it. Returns nothing: replies go through the
 * session; the session's state may change (BODY, SKIP_BODY, WAITING,
 * CLOSED). */
void cmd_execute(session *se, proto_status status, const proto_cmd *cmd);
/* cmd.c: the body of a put arrived (body excludes the CRLF; crlf_ok tells
 * whether the two bytes after it were "\r\n"). */
void cmd_finish_put(session *se, const char *body, size_t body_len, bool crlf_ok);

/* stats.c: YAML documents exactly as beanstalkd formats them. Each returns
 * 0 and appends to out, or -ENOMEM. */
int stats_format_server(server *srv, sq_buf *out);
int stats_format_tube(server *srv, const tube *t, sq_buf *out);
int stats_format_job(server *srv, const job *j, sq_buf *out);
int stats_format_tube_list(server *srv, const client *cl, bool watched_only, sq_buf *out);

/* server.c: the log's figures for `stats` (zeros without -b). */
typedef struct server_binlog_stats {
    uint64_t oldest_index, current_index;
    uint64_t records_migrated, records_written;
    uint64_t max_size;
    uint64_t bytes_live, bytes_dead, fsyncs;
} server_binlog_stats;
void server_binlog_stats_get(const server *srv, server_binlog_stats *out);

/* server.c: after a store call that changed state. Returns 0 when the change
 * is in the log's batch (the session's reply will wait for the flush), or
 * the append error (-ENOSPC: the disk is full; otherwise the log failed). */
int server_journal_result(server *srv, session *se);
/* server.c: true when the log has failed and changes must be refused. */
bool server_log_failed(const server *srv);
/* server.c: forget a session that is going away. */
void server_forget_session(server *srv, session *se);

/* The store runs on the loop's monotonic clock shifted by this much, so a
 * job restored from the log can be older than the machine's uptime. */
#define SERVER_CLOCK_OFFSET_MS (UINT64_C(1) << 40)

/* server.c: the bytes --max-memory counts for a job with this body. */
static inline uint64_t server_job_cost(size_t body_len)
{
    return (uint64_t)body_len + SERVER_JOB_OVERHEAD_BYTES;
}

/* server.c: a session ended its wait; run its buffered commands soon (not
 * inside the store hook that ended the wait). */
void server_queue_resume(server *srv, session *se);

#endif
