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

#include "histogram.h"
#include "proto.h"
#include "replybuf.h"
#include "store.h"
#include "users.h"

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
    /* stats-cluster's YAML; -ENOENT when the server is not a cluster node. */
    int (*format_cluster_stats)(void *host_data, sq_buf *out);
    /* pause-tube succeeded (may be NULL): a cluster leader replicates the pause. */
    void (*paused)(void *host_data, const char *name, size_t len, uint32_t delay_s);
    /* cluster-add (address non-NULL) or cluster-remove of node id for client c: 0 when the
     * change is under way (the host answers c through its wait later), -ENOENT when the server
     * is not a cluster node, another -errno when the change could not start. */
    int (*cluster_change)(void *host_data, client *c, uint64_t id, const char *address,
                          size_t address_len);
} cmd_host;

/* What every command of one server shares. Borrowed for the server's lifetime. */
typedef struct cmd_env {
    store *st;
    size_t max_job_bytes; /* -z: a bigger put is JOB_TOO_BIG */
    uint64_t max_memory;  /* --max-memory: 0 = no limit */
    sq_buf *scratch;      /* documents are formatted here; empty between commands */
    const cmd_host *host;
    void *host_data;
    synqd_histograms *hist; /* where job waits are counted; NULL: nowhere */
} cmd_env;

/* One command's context. */
typedef struct cmd_ctx {
    const cmd_env *env;
    client *cl;      /* the session's store client */
    reply_buf *out;  /* replies, in command order */
    auth_user *user; /* with authentication on, who runs it (list-tubes shows that user's
                      * tubes only); NULL: no authentication. Whether the command is allowed at
                      * all was decided before (authz.h). */
} cmd_ctx;

/* A put's line, kept by the session while its body is read. */
typedef struct cmd_put {
    uint32_t pri, delay_s, ttr_s;
    uint64_t body_len; /* bytes of body; the input holds body_len + 2 with the CRLF */
    /* put-unique: a malloc'd copy of the key (the line is gone when the body arrives), owned
     * by whoever holds the cmd_put: the session frees it once the body was handled (or it
     * ends). NULL for put, so a session pays for a key only while its put-unique is read. */
    char *key;
    size_t key_len;
} cmd_put;

/* A bulk command (flush-tube, move-jobs) in progress: it runs a chunk per loop pass, and the
 * session keeps this between passes (the command line is gone by then, so the names are
 * copied). */
typedef struct cmd_bulk {
    proto_cmd_type type; /* CMD_FLUSH_TUBE or CMD_MOVE_JOBS */
    unsigned states;     /* STORE_STATE_BIT mask: flush-tube's states, move-jobs' one state */
    uint64_t left;       /* jobs it may still take */
    uint64_t done;       /* jobs taken so far: the reply's count */
    size_t tube_len, to_len;
    char tube[PROTO_MAX_TUBE_NAME]; /* the tube (move-jobs: the source) */
    char to[PROTO_MAX_TUBE_NAME];   /* move-jobs: the destination */
} cmd_bulk;

/* Jobs a bulk command takes per loop pass: about a millisecond of work, so that a flush of a
 * million jobs costs any other client at most that much latency per pass. */
#define CMD_BULK_CHUNK 1024u

typedef enum {
    CMD_NEXT_REPLIED,   /* the reply (if any) is queued: read the next command line */
    CMD_NEXT_READ_BODY, /* put: read `put.body_len` bytes and a CRLF, then cmd_finish_put */
    CMD_NEXT_SKIP,      /* drop `skip_bytes` of input, then queue `reply` */
    CMD_NEXT_WAIT,      /* reserve waits: run nothing more until the store's hook answers
                         * (reserve-batch: `batch_max` says how many jobs it takes then) */
    CMD_NEXT_BULK,      /* a bulk command goes on: call cmd_bulk_step with `bulk` on a later
                         * loop pass, and run nothing else meanwhile, until it replies */
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
    uint32_t batch_max; /* CMD_NEXT_WAIT after reserve-batch: 1..PROTO_MAX_PAGE; else 0 */
    cmd_bulk bulk;      /* CMD_NEXT_BULK */
} cmd_next;

/* Runs one parsed command line (status and cmd from proto_parse). The command may borrow the
 * line (tube names): the line's bytes must stay valid during the call. Replies are appended to
 * ctx->out; *next is filled. */
void cmd_execute(const cmd_ctx *ctx, proto_status status, const proto_cmd *cmd, cmd_next *next);

/* A put's body arrived: body[0..put->body_len) without its CRLF; crlf_ok tells whether the two
 * bytes after it were "\r\n". Fills *next (always CMD_NEXT_REPLIED, journaled or not). A
 * put-unique (put->key set) answers EXISTS <id> when a live job of the used tube holds the key;
 * put->key stays the caller's to free. */
void cmd_finish_put(const cmd_ctx *ctx, const cmd_put *put, const char *body, bool crlf_ok,
                    cmd_next *next);

/* Runs the next chunk of a bulk command (at most CMD_BULK_CHUNK jobs). When it is done it
 * replies (FLUSHED/MOVED <count>, journaled when any job was taken, or the error reply) and
 * fills *next with CMD_NEXT_REPLIED; otherwise *next is CMD_NEXT_BULK with the updated state
 * (bulk may point into *next). */
void cmd_bulk_step(const cmd_ctx *ctx, const cmd_bulk *bulk, cmd_next *next);

/* A reserve-batch waited and the store handed the session job `first_id`: replies
 * RESERVED_BATCH with that job (if the session still holds it) and up to max - 1 more ready
 * ones, taken now. Run outside the store's hooks (the session core defers it to its next
 * input call), since it reserves. */
void cmd_finish_batch(const cmd_ctx *ctx, uint64_t first_id, uint32_t max);

/* Extensions implemented in cmd_bulk.c, called by cmd_execute. */
void cmd_execute_bulk(const cmd_ctx *ctx, const proto_cmd *cmd, cmd_next *next);
/* tube-set and tube-info (cmd_tube.c), called by cmd_execute. */
void cmd_execute_tube(const cmd_ctx *ctx, const proto_cmd *cmd, cmd_next *next);

/* A job was just reserved (by a reserve command, or handed to a waiting client): its age
 * goes to env->hist's put-to-reserve waits. */
void cmd_job_reserved(const cmd_env *env, const job *j);

#endif
