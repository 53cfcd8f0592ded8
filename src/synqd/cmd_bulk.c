/*
 * cmd_bulk: synqd's bulk extensions (docs/protocol.md, Extensions; contract in cmd.h):
 * flush-tube and move-jobs, which run CMD_BULK_CHUNK jobs per loop pass and reply when done;
 * list-jobs, one page of a tube's jobs in id order; reserve-batch, which reserves like
 * reserve-with-timeout and then takes up to max ready jobs at once.
 *
 * None of them is a beanstalkd command, so none keeps a cmd-* counter (`stats` keeps exactly
 * beanstalkd's fields), and none changes a reply of the commands beanstalkd has.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "cmd.h"

/* proto's state bits name the store's states, which number them differently. */
static unsigned store_states_of(uint32_t proto_states)
{
    unsigned m = 0;
    if (proto_states & PROTO_STATE_READY)
        m |= STORE_STATE_BIT(JOB_READY);
    if (proto_states & PROTO_STATE_DELAYED)
        m |= STORE_STATE_BIT(JOB_DELAYED);
    if (proto_states & PROTO_STATE_BURIED)
        m |= STORE_STATE_BIT(JOB_BURIED);
    if (proto_states & PROTO_STATE_RESERVED)
        m |= STORE_STATE_BIT(JOB_RESERVED);
    return m;
}

/* The one state of a mask with one bit. */
static job_state state_of_mask(unsigned m)
{
    for (int st = JOB_READY; st <= JOB_BURIED; st++) {
        if (m & STORE_STATE_BIT(st))
            return (job_state)st;
    }
    return JOB_READY;
}

static void reply_journal_error(const cmd_ctx *ctx, int err)
{
    if (err == -ENOSPC)
        reply_lit(ctx->out, PROTO_REPLY_OUT_OF_MEMORY);
    else
        reply_lit(ctx->out, PROTO_REPLY_INTERNAL_ERROR);
}

/* Moves up to `max` jobs; false (with the error replied) when the store or the log refused
 * one. A job whose record the log refused goes back to its tube, unlogged: the log still has
 * it there. */
static bool move_some(const cmd_ctx *ctx, cmd_bulk *b, uint64_t max)
{
    const cmd_env *env = ctx->env;
    store *st = env->st;
    job_state state = state_of_mask(b->states);
    for (uint64_t n = 0; n < max; n++) {
        job *j = store_tube_first(st, b->tube, b->tube_len, state);
        if (!j) {
            b->left = 0;
            break;
        }
        if (store_move_job(st, j, b->to, b->to_len, true) != STORE_OK) {
            reply_lit(ctx->out, PROTO_REPLY_OUT_OF_MEMORY);
            return false;
        }
        int err = env->host->journal_result(env->host_data);
        if (err) {
            (void)store_move_job(st, j, b->tube, b->tube_len, false);
            reply_journal_error(ctx, err);
            return false;
        }
        b->done++;
        b->left--;
    }
    return true;
}

void cmd_bulk_step(const cmd_ctx *ctx, const cmd_bulk *bulk, cmd_next *next)
{
    const cmd_env *env = ctx->env;
    cmd_bulk b = *bulk; /* bulk may point into *next, which is reset here */
    memset(next, 0, sizeof *next);
    next->kind = CMD_NEXT_REPLIED;
    uint64_t chunk = b.left < CMD_BULK_CHUNK ? b.left : CMD_BULK_CHUNK;
    if (b.type == CMD_FLUSH_TUBE) {
        uint32_t n = store_flush_some(env->st, b.tube, b.tube_len, b.states, (uint32_t)chunk);
        b.done += n;
        b.left = n < chunk ? 0 : b.left - n;
        /* Deletes use the space their put reserved: only a failed log refuses them. */
        int err = n ? env->host->journal_result(env->host_data) : 0;
        if (err) {
            reply_journal_error(ctx, err);
            return;
        }
    } else if (!move_some(ctx, &b, chunk)) {
        return;
    }
    if (b.left) {
        next->kind = CMD_NEXT_BULK;
        next->bulk = b;
        return;
    }
    /* Earlier chunks' records went out with earlier passes' batches; this reply waits for
     * the batch that holds the last ones. */
    next->journaled = b.done > 0;
    if (b.type == CMD_FLUSH_TUBE)
        reply_num_lit(ctx->out, PROTO_WORD_FLUSHED, b.done);
    else
        reply_num_lit(ctx->out, PROTO_WORD_MOVED, b.done);
}

static void start_bulk(const cmd_ctx *ctx, const proto_cmd *cmd, cmd_next *next)
{
    store *st = ctx->env->st;
    cmd_bulk *b = &next->bulk;
    b->type = cmd->type;
    b->states = store_states_of(cmd->states);
    b->tube_len = cmd->tube_len;
    memcpy(b->tube, cmd->tube, cmd->tube_len);
    if (cmd->type == CMD_FLUSH_TUBE) {
        /* At most the jobs there now, so that a flush ends even while producers keep
         * putting into the tube (docs/protocol.md says which jobs that leaves). */
        b->left = store_tube_jobs_in(st, b->tube, b->tube_len, b->states);
    } else {
        b->to_len = cmd->to_tube_len;
        memcpy(b->to, cmd->to_tube, cmd->to_tube_len);
        bool same = b->to_len == b->tube_len && memcmp(b->to, b->tube, b->tube_len) == 0;
        b->left = same ? 0 : cmd->count;
    }
    cmd_bulk_step(ctx, b, next);
}

/* ---- list-jobs ---- */

typedef struct list_page {
    const store *st;
    sq_buf *doc;
    int err;
} list_page;

static int list_one(const job *j, void *data)
{
    list_page *pg = data;
    job_stats js;
    job_get_stats(pg->st, j, &js);
    pg->err = sq_buf_printf(pg->doc,
                            "- id: %" PRIu64 "\n"
                            "  pri: %u\n"
                            "  age: %" PRId64 "\n"
                            "  delay: %u\n"
                            "  time-left: %" PRId64 "\n"
                            "  size: %zu\n"
                            "  reserves: %u\n"
                            "  timeouts: %u\n"
                            "  releases: %u\n"
                            "  buries: %u\n"
                            "  kicks: %u\n",
                            js.id, js.pri, js.age_s, js.delay_s, js.time_left_s, job_body_len(j),
                            js.reserves, js.timeouts, js.releases, js.buries, js.kicks);
    return pg->err;
}

static void list_jobs(const cmd_ctx *ctx, const proto_cmd *cmd)
{
    sq_buf *doc = ctx->env->scratch;
    list_page pg = {ctx->env->st, doc, sq_buf_append(doc, "---\n", 4)};
    size_t n = 0;
    if (!pg.err)
        n = store_list_jobs(ctx->env->st, cmd->tube, cmd->tube_len,
                            state_of_mask(store_states_of(cmd->states)), cmd->id, cmd->count,
                            list_one, &pg);
    if (!pg.err && n == 0) {
        /* An empty page is the empty flow sequence, so that every page is a YAML sequence. */
        sq_buf_clear(doc);
        pg.err = sq_buf_append(doc, "--- []\n", 7);
    }
    if (pg.err)
        reply_lit(ctx->out, PROTO_REPLY_OUT_OF_MEMORY);
    else
        reply_doc(ctx->out, sq_buf_peek(doc), sq_buf_len(doc));
    sq_buf_clear(doc);
}

/* ---- reserve-batch ---- */

/* RESERVED_BATCH with `first` (may be NULL) and as many more ready jobs as max allows, or
 * TIMED_OUT when there is none at all. */
static void reply_batch(const cmd_ctx *ctx, job *first, uint32_t max)
{
    job *jobs[PROTO_MAX_PAGE];
    uint32_t n = 0;
    if (first)
        jobs[n++] = first;
    job *j;
    while (n < max && n < PROTO_MAX_PAGE && store_reserve(ctx->env->st, ctx->cl, 0, &j) == STORE_OK)
        jobs[n++] = j;
    if (n == 0) {
        reply_lit(ctx->out, PROTO_REPLY_TIMED_OUT);
        return;
    }
    reply_num_lit(ctx->out, PROTO_WORD_RESERVED_BATCH, n);
    for (uint32_t i = 0; i < n; i++)
        reply_job_lit(ctx->out, PROTO_WORD_RESERVED, jobs[i]);
}

void cmd_finish_batch(const cmd_ctx *ctx, uint64_t first_id, uint32_t max)
{
    store *st = ctx->env->st;
    job *j = store_find_job(st, first_id);
    /* Between the store's hook and this call the job stays reserved by this client unless
     * its TTR ran out meanwhile; then the batch is made of what is ready now. */
    if (j && (job_get_state(j) != JOB_RESERVED || job_reserver(st, j) != ctx->cl))
        j = NULL;
    reply_batch(ctx, j, max);
}

static void reserve_batch(const cmd_ctx *ctx, const proto_cmd *cmd, cmd_next *next)
{
    next->worker = true;
    job *j = NULL;
    int r = store_reserve(ctx->env->st, ctx->cl, (int64_t)cmd->timeout_s * 1000, &j);
    if (r == STORE_OK) {
        reply_batch(ctx, j, cmd->count);
    } else if (r == STORE_WAITING) {
        next->kind = CMD_NEXT_WAIT;
        next->batch_max = cmd->count;
    } else if (r == STORE_TIMED_OUT) {
        reply_lit(ctx->out, PROTO_REPLY_TIMED_OUT);
    } else if (r == STORE_DEADLINE_SOON) {
        reply_lit(ctx->out, PROTO_REPLY_DEADLINE_SOON);
    } else {
        reply_lit(ctx->out, PROTO_REPLY_OUT_OF_MEMORY);
    }
}

void cmd_execute_bulk(const cmd_ctx *ctx, const proto_cmd *cmd, cmd_next *next)
{
    switch (cmd->type) {
    case CMD_FLUSH_TUBE:
    case CMD_MOVE_JOBS:
        start_bulk(ctx, cmd, next);
        break;
    case CMD_LIST_JOBS:
        list_jobs(ctx, cmd);
        break;
    case CMD_RESERVE_BATCH:
        reserve_batch(ctx, cmd, next);
        break;
    default:
        reply_lit(ctx->out, PROTO_REPLY_INTERNAL_ERROR);
        break;
    }
}
