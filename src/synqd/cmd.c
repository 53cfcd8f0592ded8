/*
 * cmd: runs parsed commands against the store and writes beanstalkd's
 * replies, byte for byte. The parser (proto.c) decided what the line means;
 * the store (store.c) decides what happens; this module only maps one onto
 * the other and onto reply lines.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server_int.h"

static void reply_store_error(session *se, int r)
{
    switch (r) {
    case STORE_NOT_FOUND:
        session_reply_lit(se, "NOT_FOUND\r\n");
        break;
    case STORE_NO_MEMORY:
        session_reply_lit(se, "OUT_OF_MEMORY\r\n");
        break;
    case STORE_DRAINING:
        session_reply_lit(se, "DRAINING\r\n");
        break;
    case STORE_TIMED_OUT:
        session_reply_lit(se, "TIMED_OUT\r\n");
        break;
    case STORE_DEADLINE_SOON:
        session_reply_lit(se, "DEADLINE_SOON\r\n");
        break;
    case STORE_NOT_IGNORED:
        session_reply_lit(se, "NOT_IGNORED\r\n");
        break;
    default:
        session_reply_lit(se, "INTERNAL_ERROR\r\n");
        break;
    }
}

/* Drops the next `bytes` of input, then answers `reply`. */
static void skip_body(session *se, uint64_t bytes, const char *reply)
{
    se->skip_left = bytes;
    se->pending_reply = reply;
    se->state = SESSION_SKIP_BODY;
}

static void mark_producer(session *se)
{
    if (!se->is_producer) {
        se->is_producer = true;
        se->srv->current_producers++;
    }
}

static void mark_worker(session *se)
{
    if (!se->is_worker) {
        se->is_worker = true;
        se->srv->current_workers++;
    }
}

static void start_put(session *se, const proto_cmd *cmd)
{
    if (cmd->body_len > se->srv->opts.max_job_bytes) {
        skip_body(se, cmd->body_len + 2, "JOB_TOO_BIG\r\n");
        return;
    }
    mark_producer(se);
    se->put_pri = cmd->pri;
    se->put_delay_s = cmd->delay_s;
    se->put_ttr_s = cmd->ttr_s;
    se->body_len = cmd->body_len;
    se->state = SESSION_BODY;
}

/* Refuses a change up front when the log has failed: nothing may be
 * acknowledged that the log cannot hold. */
static bool refuse_if_log_failed(session *se)
{
    if (!server_log_failed(se->srv))
        return false;
    session_reply_lit(se, "INTERNAL_ERROR\r\n");
    return true;
}

/* After a change succeeded in memory: true when its log record is in the
 * batch, else the error reply was written. */
static bool journaled(session *se)
{
    int err = server_journal_result(se->srv, se);
    if (!err)
        return true;
    session_reply_lit(se, "INTERNAL_ERROR\r\n");
    return false;
}

void cmd_finish_put(session *se, const char *body, size_t body_len, bool crlf_ok)
{
    store *st = se->srv->st;
    if (!crlf_ok) {
        store_skip_id(st);
        session_reply_lit(se, "EXPECTED_CRLF\r\n");
        return;
    }
    if (refuse_if_log_failed(se))
        return;
    uint64_t limit = se->srv->opts.max_memory;
    if (limit && se->srv->job_memory + server_job_cost(body_len) > limit) {
        /* The configured bound on job memory: refused as beanstalkd
         * refuses a job it cannot allocate. */
        session_reply_lit(se, "OUT_OF_MEMORY\r\n");
        return;
    }
    job *j = NULL;
    int r = store_put(st, se->cl, se->put_pri, se->put_delay_s, se->put_ttr_s, body, body_len,
                      &j);
    if (r == STORE_OK || r == STORE_BURIED) {
        int err = server_journal_result(se->srv, se);
        if (err) {
            /* Not in the log, so not acknowledged: take the job back unless
             * a waiting worker already holds it. A full disk is
             * OUT_OF_MEMORY, as beanstalkd answers. */
            if (job_get_state(j) != JOB_RESERVED) {
                se->srv->job_memory -= server_job_cost(job_body_len(j));
                store_forget_job(st, job_id(j));
            }
            if (err == -ENOSPC)
                session_reply_lit(se, "OUT_OF_MEMORY\r\n");
            else
                session_reply_lit(se, "INTERNAL_ERROR\r\n");
            return;
        }
    }
    if (r == STORE_OK)
        session_reply_id_lit(se, "INSERTED", job_id(j));
    else if (r == STORE_BURIED)
        session_reply_id_lit(se, "BURIED", job_id(j));
    else
        reply_store_error(se, r);
}

static void do_reserve(session *se, const proto_cmd *cmd)
{
    mark_worker(se);
    int64_t timeout_ms = -1;
    if (cmd->type == CMD_RESERVE_WITH_TIMEOUT && cmd->timeout_s != PROTO_TIMEOUT_FOREVER)
        timeout_ms = (int64_t)cmd->timeout_s * 1000;
    job *j = NULL;
    int r = store_reserve(se->srv->st, se->cl, timeout_ms, &j);
    if (r == STORE_OK)
        session_reply_job(se, "RESERVED", j);
    else if (r == STORE_WAITING)
        se->state = SESSION_WAITING;
    else
        reply_store_error(se, r);
}

static void reply_found(session *se, const job *j)
{
    if (j)
        session_reply_job(se, "FOUND", j);
    else
        session_reply_lit(se, "NOT_FOUND\r\n");
}

static void reply_doc(session *se, int err)
{
    sq_buf *doc = &se->srv->scratch;
    if (err)
        session_reply_lit(se, "OUT_OF_MEMORY\r\n");
    else
        session_reply_doc(se, sq_buf_peek(doc), sq_buf_len(doc));
    sq_buf_clear(doc);
}

static void reply_ok_or(session *se, int r, const char *ok_reply)
{
    if (r == STORE_OK)
        session_reply(se, ok_reply, strlen(ok_reply));
    else
        reply_store_error(se, r);
}

/* As reply_ok_or, for a command that changed state the log must hold. */
static void reply_change(session *se, int r, const char *ok_reply)
{
    if (r == STORE_OK && !journaled(se))
        return;
    reply_ok_or(se, r, ok_reply);
}

static bool changes_state(proto_cmd_type t)
{
    return t == CMD_DELETE || t == CMD_RELEASE || t == CMD_BURY || t == CMD_KICK ||
           t == CMD_KICK_JOB;
}

static void execute_job_command(session *se, const proto_cmd *cmd)
{
    server *srv = se->srv;
    store *st = srv->st;
    job *j = NULL;
    int r;
    switch (cmd->type) {
    case CMD_RESERVE_JOB:
        mark_worker(se);
        r = store_reserve_job(st, se->cl, cmd->id, &j);
        if (r == STORE_OK)
            session_reply_job(se, "RESERVED", j);
        else
            reply_store_error(se, r);
        break;
    case CMD_DELETE:
        reply_change(se, store_delete(st, se->cl, cmd->id), "DELETED\r\n");
        break;
    case CMD_RELEASE:
        r = store_release(st, se->cl, cmd->id, cmd->pri, cmd->delay_s);
        if (r == STORE_BURIED) {
            if (journaled(se))
                session_reply_lit(se, "BURIED\r\n");
        } else {
            reply_change(se, r, "RELEASED\r\n");
        }
        break;
    case CMD_BURY:
        reply_change(se, store_bury(st, se->cl, cmd->id, cmd->pri), "BURIED\r\n");
        break;
    case CMD_TOUCH:
        reply_ok_or(se, store_touch(st, se->cl, cmd->id), "TOUCHED\r\n");
        break;
    case CMD_KICK_JOB:
        reply_change(se, store_kick_job(st, cmd->id), "KICKED\r\n");
        break;
    case CMD_PEEK:
        reply_found(se, store_find_job(st, cmd->id));
        break;
    case CMD_STATS_JOB:
        j = store_find_job(st, cmd->id);
        if (!j)
            session_reply_lit(se, "NOT_FOUND\r\n");
        else
            reply_doc(se, stats_format_job(srv, j, &srv->scratch));
        break;
    default:
        session_reply_lit(se, "INTERNAL_ERROR\r\n");
        break;
    }
}

static void execute_tube_command(session *se, const proto_cmd *cmd)
{
    server *srv = se->srv;
    store *st = srv->st;
    size_t count = 0;
    int r;
    switch (cmd->type) {
    case CMD_USE:
        r = store_use(st, se->cl, cmd->tube, cmd->tube_len);
        if (r == STORE_OK)
            session_replyf(se, "USING %s\r\n", tube_name(client_used_tube(se->cl)));
        else
            reply_store_error(se, r);
        break;
    case CMD_WATCH:
    case CMD_IGNORE:
        r = cmd->type == CMD_WATCH ? store_watch(st, se->cl, cmd->tube, cmd->tube_len, &count)
                                   : store_ignore(st, se->cl, cmd->tube, cmd->tube_len, &count);
        if (r == STORE_OK)
            session_replyf(se, "WATCHING %zu\r\n", count);
        else
            reply_store_error(se, r);
        break;
    case CMD_STATS_TUBE: {
        const tube *t = store_find_tube(st, cmd->tube, cmd->tube_len);
        if (!t)
            session_reply_lit(se, "NOT_FOUND\r\n");
        else
            reply_doc(se, stats_format_tube(srv, t, &srv->scratch));
        break;
    }
    case CMD_PAUSE_TUBE:
        reply_ok_or(se, store_pause_tube(st, cmd->tube, cmd->tube_len, cmd->delay_s),
                    "PAUSED\r\n");
        break;
    case CMD_LIST_TUBES:
    case CMD_LIST_TUBES_WATCHED:
        reply_doc(se, stats_format_tube_list(srv, se->cl, cmd->type == CMD_LIST_TUBES_WATCHED,
                                             &srv->scratch));
        break;
    case CMD_LIST_TUBE_USED:
        session_replyf(se, "USING %s\r\n", tube_name(client_used_tube(se->cl)));
        break;
    case CMD_PEEK_READY:
        reply_found(se, store_peek_ready(st, se->cl));
        break;
    case CMD_PEEK_DELAYED:
        reply_found(se, store_peek_delayed(st, se->cl));
        break;
    case CMD_PEEK_BURIED:
        reply_found(se, store_peek_buried(st, se->cl));
        break;
    case CMD_KICK: {
        uint32_t kicked = 0;
        store_kick(st, se->cl, cmd->bound, &kicked);
        if (journaled(se))
            session_replyf(se, "KICKED %u\r\n", kicked);
        break;
    }
    default:
        execute_job_command(se, cmd);
        break;
    }
}

void cmd_execute(session *se, proto_status status, const proto_cmd *cmd)
{
    server *srv = se->srv;
    if (cmd->counted && cmd->type < CMD_COUNT_)
        srv->cmd_counts[cmd->type]++;

    if (status == PROTO_UNKNOWN_COMMAND) {
        session_reply_lit(se, "UNKNOWN_COMMAND\r\n");
        return;
    }
    if (status != PROTO_OK) {
        /* beanstalkd checks a put's body size before its trailing bytes:
         * an oversized body is discarded even when the line had garbage. */
        if (cmd->type == CMD_PUT && cmd->counted && cmd->body_len > srv->opts.max_job_bytes)
            skip_body(se, cmd->body_len + 2, "JOB_TOO_BIG\r\n");
        else
            session_reply_lit(se, "BAD_FORMAT\r\n");
        return;
    }

    if (changes_state(cmd->type) && refuse_if_log_failed(se))
        return;
    switch (cmd->type) {
    case CMD_PUT:
        start_put(se, cmd);
        break;
    case CMD_RESERVE:
    case CMD_RESERVE_WITH_TIMEOUT:
        do_reserve(se, cmd);
        break;
    case CMD_STATS:
        reply_doc(se, stats_format_server(srv, &srv->scratch));
        break;
    case CMD_QUIT:
        session_close(se, false);
        break;
    default:
        execute_tube_command(se, cmd);
        break;
    }
}
