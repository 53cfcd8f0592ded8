/*
 * cmd: runs parsed commands against the store and writes beanstalkd's replies, byte for byte
 * (contract in cmd.h). The parser (proto.c) decided what the line means; the store decides what
 * happens; this module only maps one onto the other and onto reply lines, and tells the session
 * what to do next. It keeps no state of its own and changes none of the session's.
 */
#include "cmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "server.h"
#include "stats.h"

static void reply_store_error(const cmd_ctx *ctx, int r)
{
    reply_buf *out = ctx->out;
    switch (r) {
    case STORE_NOT_FOUND:
        reply_lit(out, PROTO_REPLY_NOT_FOUND);
        break;
    case STORE_NO_MEMORY:
        reply_lit(out, PROTO_REPLY_OUT_OF_MEMORY);
        break;
    case STORE_DRAINING:
        reply_lit(out, PROTO_REPLY_DRAINING);
        break;
    case STORE_TIMED_OUT:
        reply_lit(out, PROTO_REPLY_TIMED_OUT);
        break;
    case STORE_DEADLINE_SOON:
        reply_lit(out, PROTO_REPLY_DEADLINE_SOON);
        break;
    case STORE_NOT_IGNORED:
        reply_lit(out, PROTO_REPLY_NOT_IGNORED);
        break;
    default:
        reply_lit(out, PROTO_REPLY_INTERNAL_ERROR);
        break;
    }
}

/* Drops the next `bytes` of input, then answers JOB_TOO_BIG. */
static void skip_too_big(const proto_cmd *cmd, cmd_next *next)
{
    next->kind = CMD_NEXT_SKIP;
    next->skip_bytes = cmd->body_len + 2;
    next->reply = PROTO_REPLY_JOB_TOO_BIG;
    next->reply_len = sizeof PROTO_REPLY_JOB_TOO_BIG - 1;
}

static void start_put(const cmd_ctx *ctx, const proto_cmd *cmd, cmd_next *next)
{
    /* A put-unique's key counts towards -z: so its log record fits every segment that the
     * largest put fits (main.c sizes -s for -z), and no -s that worked before is refused. */
    if (cmd->body_len + cmd->key_len > ctx->env->max_job_bytes) {
        skip_too_big(cmd, next);
        return;
    }
    if (cmd->type == CMD_PUT_UNIQUE) {
        next->put.key = malloc(cmd->key_len);
        if (!next->put.key) {
            /* The body still follows: dropped, as a put's other refusals drop it. */
            next->kind = CMD_NEXT_SKIP;
            next->skip_bytes = cmd->body_len + 2;
            next->reply = PROTO_REPLY_OUT_OF_MEMORY;
            next->reply_len = sizeof PROTO_REPLY_OUT_OF_MEMORY - 1;
            return;
        }
        memcpy(next->put.key, cmd->key, cmd->key_len);
        next->put.key_len = cmd->key_len;
    }
    next->producer = true;
    next->kind = CMD_NEXT_READ_BODY;
    next->put.pri = cmd->pri;
    next->put.delay_s = cmd->delay_s;
    next->put.ttr_s = cmd->ttr_s;
    next->put.body_len = cmd->body_len;
}

/* Refuses a change up front when the log has failed: nothing may be acknowledged that the log
 * cannot hold. */
static bool refuse_if_log_failed(const cmd_ctx *ctx)
{
    const cmd_env *env = ctx->env;
    if (!env->host->log_failed(env->host_data))
        return false;
    reply_lit(ctx->out, PROTO_REPLY_INTERNAL_ERROR);
    return true;
}

/* After a change succeeded in memory: true when its log record is in the batch (the reply then
 * waits for the flush), else the error reply was written. */
static bool journaled(const cmd_ctx *ctx, cmd_next *next)
{
    const cmd_env *env = ctx->env;
    if (!env->host->journal_result(env->host_data)) {
        next->journaled = true;
        return true;
    }
    reply_lit(ctx->out, PROTO_REPLY_INTERNAL_ERROR);
    return false;
}

void cmd_finish_put(const cmd_ctx *ctx, const cmd_put *put, const char *body, bool crlf_ok,
                    cmd_next *next)
{
    const cmd_env *env = ctx->env;
    store *st = env->st;
    const cmd_put p = *put; /* put may point into *next, which is reset here */
    size_t body_len = (size_t)p.body_len;
    memset(next, 0, sizeof *next);
    next->kind = CMD_NEXT_REPLIED;
    if (!crlf_ok) {
        store_skip_id(st);
        reply_lit(ctx->out, PROTO_REPLY_EXPECTED_CRLF);
        return;
    }
    if (refuse_if_log_failed(ctx))
        return;
    uint64_t limit = env->max_memory;
    if (limit &&
        env->host->job_memory(env->host_data) + server_job_cost(body_len, p.key_len) > limit) {
        /* The configured bound on job memory: refused as beanstalkd refuses a job it cannot
         * allocate. */
        reply_lit(ctx->out, PROTO_REPLY_OUT_OF_MEMORY);
        return;
    }
    job *j = NULL;
    int r = p.key ? store_put_unique(st, ctx->cl, p.key, p.key_len, p.pri, p.delay_s, p.ttr_s, body,
                                     body_len, &j)
                  : store_put(st, ctx->cl, p.pri, p.delay_s, p.ttr_s, body, body_len, &j);
    if (r == STORE_EXISTS) {
        reply_num_lit(ctx->out, PROTO_WORD_EXISTS, job_id(j));
        return;
    }
    if (r == STORE_OK || r == STORE_BURIED) {
        int err = env->host->journal_result(env->host_data);
        if (err) {
            /* Not in the log, so not acknowledged: take the job back unless a waiting worker
             * already holds it. A full disk is OUT_OF_MEMORY, as beanstalkd answers. */
            if (job_get_state(j) != JOB_RESERVED)
                env->host->take_back_put(env->host_data, j);
            if (err == -ENOSPC)
                reply_lit(ctx->out, PROTO_REPLY_OUT_OF_MEMORY);
            else
                reply_lit(ctx->out, PROTO_REPLY_INTERNAL_ERROR);
            return;
        }
        next->journaled = true;
    }
    if (r == STORE_OK)
        reply_num_lit(ctx->out, PROTO_WORD_INSERTED, job_id(j));
    else if (r == STORE_BURIED)
        reply_num_lit(ctx->out, PROTO_WORD_BURIED, job_id(j));
    else
        reply_store_error(ctx, r);
}

static void do_reserve(const cmd_ctx *ctx, const proto_cmd *cmd, cmd_next *next)
{
    next->worker = true;
    int64_t timeout_ms = -1;
    if (cmd->type == CMD_RESERVE_WITH_TIMEOUT && cmd->timeout_s != PROTO_TIMEOUT_FOREVER)
        timeout_ms = (int64_t)cmd->timeout_s * 1000;
    job *j = NULL;
    int r = store_reserve(ctx->env->st, ctx->cl, timeout_ms, &j);
    if (r == STORE_OK) {
        cmd_job_reserved(ctx->env, j);
        reply_job_lit(ctx->out, PROTO_WORD_RESERVED, j);
    } else if (r == STORE_WAITING)
        next->kind = CMD_NEXT_WAIT;
    else
        reply_store_error(ctx, r);
}

void cmd_job_reserved(const cmd_env *env, const job *j)
{
    if (!env->hist)
        return;
    uint64_t now = store_now_ms(env->st), created = job_created_ms(env->st, j);
    hist_observe(&env->hist->job_wait_ms, now > created ? now - created : 0);
}

static void reply_found(const cmd_ctx *ctx, const job *j)
{
    if (j)
        reply_job_lit(ctx->out, PROTO_WORD_FOUND, j);
    else
        reply_lit(ctx->out, PROTO_REPLY_NOT_FOUND);
}

/* The document formatted into the scratch buffer (err: formatting failed). */
static void reply_scratch_doc(const cmd_ctx *ctx, int err)
{
    sq_buf *doc = ctx->env->scratch;
    if (err)
        reply_lit(ctx->out, PROTO_REPLY_OUT_OF_MEMORY);
    else
        reply_doc(ctx->out, sq_buf_peek(doc), sq_buf_len(doc));
    sq_buf_clear(doc);
}

static void reply_ok_or(const cmd_ctx *ctx, int r, const char *ok_reply, size_t ok_len)
{
    if (r == STORE_OK)
        reply_text(ctx->out, ok_reply, ok_len);
    else
        reply_store_error(ctx, r);
}
#define reply_ok_or_lit(ctx, r, lit) reply_ok_or((ctx), (r), (lit), sizeof(lit) - 1)

/* As reply_ok_or, for a command that changed state the log must hold. */
static void reply_change(const cmd_ctx *ctx, cmd_next *next, int r, const char *ok_reply,
                         size_t ok_len)
{
    if (r == STORE_OK && !journaled(ctx, next))
        return;
    reply_ok_or(ctx, r, ok_reply, ok_len);
}
#define reply_change_lit(ctx, next, r, lit) reply_change((ctx), (next), (r), (lit), sizeof(lit) - 1)

static void reply_using(const cmd_ctx *ctx)
{
    const tube *t = client_used_tube(ctx->cl);
    reply_name(ctx->out, PROTO_WORD_USING, sizeof PROTO_WORD_USING - 1, tube_name(t),
               tube_name_len(t));
}

static void execute_job_command(const cmd_ctx *ctx, const proto_cmd *cmd, cmd_next *next)
{
    store *st = ctx->env->st;
    client *cl = ctx->cl;
    job *j = NULL;
    int r;
    switch (cmd->type) {
    case CMD_RESERVE_JOB: {
        next->worker = true;
        /* Taking a job from buried or delayed is a change the log records (store.h); like
         * every logged change it is refused once the log has failed, and its reply waits
         * for the record. */
        const job *was = store_find_job(st, cmd->id);
        bool logged = was && job_get_state(was) != JOB_READY && job_get_state(was) != JOB_RESERVED;
        if (logged && refuse_if_log_failed(ctx))
            break;
        r = store_reserve_job(st, cl, cmd->id, &j);
        if (r == STORE_OK && (!logged || journaled(ctx, next)))
            reply_job_lit(ctx->out, PROTO_WORD_RESERVED, j);
        else if (r != STORE_OK)
            reply_store_error(ctx, r);
        break;
    }
    case CMD_DELETE: {
        r = store_delete(st, cl, cmd->id);
        uint64_t run_ms = r == STORE_OK ? store_last_delete_run_ms(st) : UINT64_MAX;
        if (run_ms != UINT64_MAX && ctx->env->hist)
            hist_observe(&ctx->env->hist->job_run_ms, run_ms);
        reply_change_lit(ctx, next, r, PROTO_REPLY_DELETED);
        break;
    } break;
    case CMD_RELEASE:
        r = store_release(st, cl, cmd->id, cmd->pri, cmd->delay_s);
        if (r == STORE_BURIED) {
            if (journaled(ctx, next))
                reply_lit(ctx->out, PROTO_REPLY_BURIED);
        } else {
            reply_change_lit(ctx, next, r, PROTO_REPLY_RELEASED);
        }
        break;
    case CMD_BURY:
        reply_change_lit(ctx, next, store_bury(st, cl, cmd->id, cmd->pri), PROTO_REPLY_BURIED);
        break;
    case CMD_TOUCH:
        reply_ok_or_lit(ctx, store_touch(st, cl, cmd->id), PROTO_REPLY_TOUCHED);
        break;
    case CMD_KICK_JOB:
        reply_change_lit(ctx, next, store_kick_job(st, cmd->id), PROTO_REPLY_KICKED);
        break;
    case CMD_PEEK:
        reply_found(ctx, store_find_job(st, cmd->id));
        break;
    case CMD_STATS_JOB:
        j = store_find_job(st, cmd->id);
        if (!j)
            reply_lit(ctx->out, PROTO_REPLY_NOT_FOUND);
        else
            reply_scratch_doc(ctx, stats_format_job(st, j, ctx->env->scratch));
        break;
    default:
        reply_lit(ctx->out, PROTO_REPLY_INTERNAL_ERROR);
        break;
    }
}

/* list-tubes with authentication on: the tubes the user has a right on. */
static bool tube_visible(void *user, const tube *t)
{
    return authz_tube_visible(user, t);
}

static void execute_tube_command(const cmd_ctx *ctx, const proto_cmd *cmd, cmd_next *next)
{
    store *st = ctx->env->st;
    client *cl = ctx->cl;
    size_t count = 0;
    int r;
    switch (cmd->type) {
    case CMD_USE:
        r = store_use(st, cl, cmd->tube, cmd->tube_len);
        if (r == STORE_OK)
            reply_using(ctx);
        else
            reply_store_error(ctx, r);
        break;
    case CMD_WATCH:
    case CMD_IGNORE:
        r = cmd->type == CMD_WATCH ? store_watch(st, cl, cmd->tube, cmd->tube_len, &count)
                                   : store_ignore(st, cl, cmd->tube, cmd->tube_len, &count);
        if (r == STORE_OK)
            reply_num_lit(ctx->out, PROTO_WORD_WATCHING, count);
        else
            reply_store_error(ctx, r);
        break;
    case CMD_STATS_TUBE: {
        const tube *t = store_find_tube(st, cmd->tube, cmd->tube_len);
        if (!t)
            reply_lit(ctx->out, PROTO_REPLY_NOT_FOUND);
        else
            reply_scratch_doc(ctx, stats_format_tube(st, t, ctx->env->scratch));
        break;
    }
    case CMD_PAUSE_TUBE: {
        int rc = store_pause_tube(st, cmd->tube, cmd->tube_len, cmd->delay_s);
        /* The log keeps no pause (beanstalkd's binlog neither); a cluster replicates it. */
        if (rc == STORE_OK && ctx->env->host->paused)
            ctx->env->host->paused(ctx->env->host_data, cmd->tube, cmd->tube_len, cmd->delay_s);
        reply_ok_or_lit(ctx, rc, PROTO_REPLY_PAUSED);
        break;
    }
    case CMD_LIST_TUBES:
        reply_scratch_doc(ctx,
                          stats_format_tube_list_of(st, cl, false, ctx->user ? tube_visible : NULL,
                                                    ctx->user, ctx->env->scratch));
        break;
    case CMD_LIST_TUBES_WATCHED:
        reply_scratch_doc(ctx, stats_format_tube_list(st, cl, true, ctx->env->scratch));
        break;
    case CMD_LIST_TUBE_USED:
        reply_using(ctx);
        break;
    case CMD_PEEK_READY:
        reply_found(ctx, store_peek_ready(st, cl));
        break;
    case CMD_PEEK_DELAYED:
        reply_found(ctx, store_peek_delayed(st, cl));
        break;
    case CMD_PEEK_BURIED:
        reply_found(ctx, store_peek_buried(st, cl));
        break;
    case CMD_KICK: {
        uint32_t kicked = 0;
        store_kick(st, cl, cmd->bound, &kicked);
        if (journaled(ctx, next))
            reply_num_lit(ctx->out, PROTO_WORD_KICKED, kicked);
        break;
    }
    default:
        execute_job_command(ctx, cmd, next);
        break;
    }
}

void cmd_execute(const cmd_ctx *ctx, proto_status status, const proto_cmd *cmd, cmd_next *next)
{
    const cmd_env *env = ctx->env;
    memset(next, 0, sizeof *next);
    next->kind = CMD_NEXT_REPLIED;

    if (status == PROTO_UNKNOWN_COMMAND) {
        reply_lit(ctx->out, PROTO_REPLY_UNKNOWN_COMMAND);
        return;
    }
    if (status != PROTO_OK) {
        /* beanstalkd checks a put's body size before its trailing bytes: an oversized body is
         * discarded even when the line had garbage. */
        if (cmd->type == CMD_PUT && cmd->counted && cmd->body_len > env->max_job_bytes)
            skip_too_big(cmd, next);
        else
            reply_lit(ctx->out, PROTO_REPLY_BAD_FORMAT);
        return;
    }

    if ((proto_cmds[cmd->type].flags & PROTO_CMD_LOGGED) && refuse_if_log_failed(ctx))
        return;
    switch (cmd->type) {
    case CMD_PUT:
    case CMD_PUT_UNIQUE:
        start_put(ctx, cmd, next);
        break;
    case CMD_RESERVE:
    case CMD_RESERVE_WITH_TIMEOUT:
        do_reserve(ctx, cmd, next);
        break;
    case CMD_STATS:
        reply_scratch_doc(ctx, env->host->format_stats(env->host_data, env->scratch));
        break;
    case CMD_STATS_LOG: {
        int err = env->host->format_log_stats(env->host_data, env->scratch);
        if (err == -ENOENT)
            reply_lit(ctx->out, PROTO_REPLY_NOT_FOUND);
        else
            reply_scratch_doc(ctx, err);
        break;
    }
    case CMD_STATS_CLUSTER: {
        int err = env->host->format_cluster_stats
                      ? env->host->format_cluster_stats(env->host_data, env->scratch)
                      : -ENOENT;
        if (err == -ENOENT)
            reply_lit(ctx->out, PROTO_REPLY_NOT_FOUND);
        else
            reply_scratch_doc(ctx, err);
        break;
    }
    case CMD_CLUSTER_ADD:
    case CMD_CLUSTER_REMOVE: {
        int err = env->host->cluster_change
                      ? env->host->cluster_change(env->host_data, ctx->cl, cmd->id,
                                                  cmd->type == CMD_CLUSTER_ADD ? cmd->tube : NULL,
                                                  cmd->tube_len)
                      : -ENOENT;
        if (err == 0)
            next->kind = CMD_NEXT_WAIT; /* CHANGED or NOT_CHANGED once the cluster decided */
        else if (err == -ENOENT)
            reply_lit(ctx->out, PROTO_REPLY_NOT_FOUND);
        else
            reply_lit(ctx->out, PROTO_REPLY_NOT_CHANGED);
        break;
    }
    case CMD_QUIT:
        next->kind = CMD_NEXT_CLOSE;
        break;
    case CMD_AUTH:
        /* Only without --users (the session core answers it otherwise): there is nothing to
         * log in to, and beanstalkd does not know the command either. */
        reply_lit(ctx->out, PROTO_REPLY_UNKNOWN_COMMAND);
        break;
    case CMD_FLUSH_TUBE:
    case CMD_LIST_JOBS:
    case CMD_MOVE_JOBS:
    case CMD_RESERVE_BATCH:
        cmd_execute_bulk(ctx, cmd, next);
        break;
    case CMD_TUBE_SET:
    case CMD_TUBE_INFO:
        cmd_execute_tube(ctx, cmd, next);
        break;
    default:
        execute_tube_command(ctx, cmd, next);
        break;
    }
}
