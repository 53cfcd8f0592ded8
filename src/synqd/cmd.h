/*
 * cmd: command execution. Runs one parsed command against the store, appends beanstalkd's
 * reply, and says what the session must do next; it changes no session state and no counter.
 *
 * The narrow context is what every command of a server shares (cmd_env: the store, the limits,
 * a scratch buffer and a few calls into the server for the log and `stats`), the session's store
 * client, and where replies go. The session core (session_core.c) owns the connection's state
 * machine and applies the returned cmd_next.
 */
#ifndef SYNQ_SYNQD_CMD_H
#define SYNQ_SYNQD_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "replybuf.h"
#include "store.h"

/* Calls from command execution into its server. Each receives cmd_env.host_data. */
typedef struct cmd_host {
    /* True once the log has failed: changes are refused with INTERNAL_ERROR. */
    bool (*log_failed)(void *host_data);
    /* After a store call that changed state: 0 when the change is in the log's batch, or the
     * append error, already logged (-ENOSPC: the disk is full; otherwise the log failed). */
    int (*journal_result)(void *host_data);
    /* Bytes --max-memory counts for the jobs held now. */
    uint64_t (*job_memory)(void *host_data);
    /* A put the log could not take, and that no worker holds yet, is taken back: the server
     * uncounts its memory and removes it from the store. */
    void (*take_back_put)(void *host_data, job *j);
    /* The `stats` document (server figures) into out: 0 or -ENOMEM. */
    int (*format_stats)(void *host_data, sq_buf *out);
    /* The `stats-log` document (the log's figures) into out: 0, -ENOENT when the server has
     * no log (-b not given), or -ENOMEM. */
    int (*format_log_stats)(void *host_data, sq_buf *out);
} cmd_host;

/* What every command of one server shares. Borrowed for the server's lifetime. */
typedef struct cmd_env {
    store *st;
    size_t max_job_bytes; /* -z: a bigger put is JOB_TOO_BIG */
    uint64_t max_memory;  /* --max-memory: 0 = no limit */
    sq_buf *scratch;      /* documents are formatted here; empty between commands */
    const cmd_host *host;
    void *host_data;
} cmd_env;

/* One command's context. */
typedef struct cmd_ctx {
    const cmd_env *env;
    client *cl;     /* the session's store client */
    reply_buf *out; /* replies, in command order */
} cmd_ctx;

/* A put's line, kept by the session while its body is read. */
typedef struct cmd_put {
    uint32_t pri, delay_s, ttr_s;
    uint64_t body_len; /* bytes of body; the input holds body_len + 2 with the CRLF */
} cmd_put;

typedef enum {
    CMD_NEXT_REPLIED,   /* the reply (if any) is queued: read the next command line */
    CMD_NEXT_READ_BODY, /* put: read `put.body_len` bytes and a CRLF, then cmd_finish_put */
    CMD_NEXT_SKIP,      /* drop `skip_bytes` of input, then queue `reply` */
    CMD_NEXT_WAIT,      /* reserve waits: run nothing more until the store's hook answers */
    CMD_NEXT_CLOSE,     /* quit: close gracefully, no reply */
} cmd_next_kind;

typedef struct cmd_next {
    cmd_next_kind kind;
    bool journaled;      /* the reply acknowledges a change in the log's batch (group commit) */
    bool producer;       /* the session now counts in current-producers */
    bool worker;         /* the session now counts in current-workers */
    cmd_put put;         /* CMD_NEXT_READ_BODY */
    uint64_t skip_bytes; /* CMD_NEXT_SKIP */
    const char *reply;   /* CMD_NEXT_SKIP: a static PROTO_REPLY_* string */
    size_t reply_len;
} cmd_next;

/* Runs one parsed command line (status and cmd from proto_parse). The command may borrow the
 * line (tube names): the line's bytes must stay valid during the call. Replies are appended to
 * ctx->out; *next is filled. */
void cmd_execute(const cmd_ctx *ctx, proto_status status, const proto_cmd *cmd, cmd_next *next);

/* A put's body arrived: body[0..put->body_len) without its CRLF; crlf_ok tells whether the two
 * bytes after it were "\r\n". Fills *next (always CMD_NEXT_REPLIED, journaled or not). */
void cmd_finish_put(const cmd_ctx *ctx, const cmd_put *put, const char *body, bool crlf_ok,
                    cmd_next *next);

#endif
