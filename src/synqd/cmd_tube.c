/*
 * cmd_tube: tube-set and tube-info, synqd's per-tube settings (docs/protocol.md, Extensions;
 * the store's side is store.h's "per-tube settings"). Neither is a beanstalkd command, so
 * neither keeps a cmd-* counter.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "cmd.h"

/* The setting cmd names, in conf, to the value cmd carries. */
static void apply_setting(store_tube_conf *conf, const proto_cmd *cmd)
{
    switch (cmd->setting) {
    case PROTO_SET_MAX_RESERVES:
        conf->max_reserves = cmd->count;
        break;
    case PROTO_SET_DEAD_LETTER:
        conf->dead_letter_len = cmd->to_tube_len; /* 0: "-", none (to_tube is NULL then) */
        if (cmd->to_tube_len)
            memcpy(conf->dead_letter, cmd->to_tube, cmd->to_tube_len);
        conf->dead_letter[cmd->to_tube_len] = '\0';
        break;
    case PROTO_SET_RETRY_BACKOFF:
        conf->retry_backoff_ms = cmd->count;
        break;
    case PROTO_SET_MAX_RESERVED:
        conf->max_reserved = cmd->count;
        break;
    case PROTO_SET_RATE:
        conf->rate = cmd->count;
        break;
    case PROTO_SET_EXPIRE:
    case PROTO_SET_COUNT_:
        conf->expire_s = cmd->count;
        break;
    }
}

static void tube_set(const cmd_ctx *ctx, const proto_cmd *cmd, cmd_next *next)
{
    const cmd_env *env = ctx->env;
    store_tube_conf old, conf;
    const tube *t = store_find_tube(env->st, cmd->tube, cmd->tube_len);
    if (t)
        tube_get_conf(t, &old);
    else
        memset(&old, 0, sizeof old);
    conf = old;
    apply_setting(&conf, cmd);
    if (store_tube_configure(env->st, cmd->tube, cmd->tube_len, &conf, true) != STORE_OK) {
        reply_lit(ctx->out, PROTO_REPLY_OUT_OF_MEMORY);
        return;
    }
    int err = env->host->journal_result(env->host_data);
    if (err) {
        /* The log does not have the change: the tube keeps what the log says. */
        (void)store_tube_configure(env->st, cmd->tube, cmd->tube_len, &old, false);
        if (err == -ENOSPC)
            reply_lit(ctx->out, PROTO_REPLY_OUT_OF_MEMORY);
        else
            reply_lit(ctx->out, PROTO_REPLY_INTERNAL_ERROR);
        return;
    }
    next->journaled = true;
    reply_lit(ctx->out, PROTO_REPLY_SET);
}

static void tube_info(const cmd_ctx *ctx, const proto_cmd *cmd)
{
    const cmd_env *env = ctx->env;
    tube *t = store_find_tube(env->st, cmd->tube, cmd->tube_len);
    if (!t) {
        reply_lit(ctx->out, PROTO_REPLY_NOT_FOUND);
        return;
    }
    store_tube_conf c;
    tube_figures f;
    tube_latency lat;
    tube_get_conf(t, &c);
    tube_get_figures(env->st, t, &f);
    if (!store_tube_latency(env->st, t, &lat)) {
        reply_lit(ctx->out, PROTO_REPLY_OUT_OF_MEMORY);
        return;
    }
    sq_buf *doc = env->scratch;
    /* dead-letter is quoted: a bare "-" would start a YAML sequence. */
    int err = sq_buf_printf(doc,
                            "---\n"
                            "name: %s\n"
                            "max-reserves: %u\n"
                            "dead-letter: \"%s\"\n"
                            "retry-backoff: %u\n"
                            "max-reserved: %u\n"
                            "rate: %u\n"
                            "expire: %u\n"
                            "held: %s\n"
                            "oldest-ready-age: %" PRId64 "\n"
                            "dead-lettered: %" PRIu64 "\n"
                            "expired: %" PRIu64 "\n"
                            "wait-ms-p50: %" PRId64 "\n"
                            "wait-ms-p99: %" PRId64 "\n"
                            "run-ms-p50: %" PRId64 "\n"
                            "run-ms-p99: %" PRId64 "\n",
                            tube_name(t), c.max_reserves, c.dead_letter_len ? c.dead_letter : "-",
                            c.retry_backoff_ms, c.max_reserved, c.rate, c.expire_s,
                            f.held ? "true" : "false", f.oldest_ready_age_s, f.dead_lettered,
                            f.expired, lat.wait_p50, lat.wait_p99, lat.run_p50, lat.run_p99);
    if (err)
        reply_lit(ctx->out, PROTO_REPLY_OUT_OF_MEMORY);
    else
        reply_doc(ctx->out, sq_buf_peek(doc), sq_buf_len(doc));
    sq_buf_clear(doc);
}

void cmd_execute_tube(const cmd_ctx *ctx, const proto_cmd *cmd, cmd_next *next)
{
    if (cmd->type == CMD_TUBE_SET)
        tube_set(ctx, cmd, next);
    else
        tube_info(ctx, cmd);
}
