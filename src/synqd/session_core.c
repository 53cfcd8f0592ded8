/*
 * session_core: the connection's state machine (model and diagram in session_core.h).
 *
 * Commands pipelined in one packet run in order and their replies are appended in the same
 * order, so the engine sends them together at the end of the loop iteration. Each step below
 * returns false when the input holds too little to go on (or the session must stop for now).
 */
#include "session_core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "reply.h"
#include "synq/codec.h"

int session_core_init(session_core *sc, const session_env *env, void *owner)
{
    memset(sc, 0, sizeof *sc);
    sc->env = env;
    sc->cl = store_client_new(env->cmd.st, owner);
    if (!sc->cl)
        return -ENOMEM;
    sc->state = SESSION_COMMAND;
    env->counters->current_connections++;
    env->counters->total_connections++;
    return 0;
}

void session_core_end(session_core *sc)
{
    sc->state = SESSION_CLOSED;
    free(sc->bulk);
    sc->bulk = NULL;
    free(sc->put.key);
    sc->put.key = NULL;
    if (!sc->cl)
        return;
    synqd_counters *n = sc->env->counters;
    store_client_free(sc->env->cmd.st, sc->cl);
    sc->cl = NULL;
    n->current_connections--;
    if (sc->is_producer)
        n->current_producers--;
    if (sc->is_worker)
        n->current_workers--;
}

/* What a command asked for becomes the session's next state. */
static void apply(session_core *sc, const cmd_next *next, reply_buf *out)
{
    synqd_counters *n = sc->env->counters;
    if (next->producer && !sc->is_producer) {
        sc->is_producer = true;
        n->current_producers++;
    }
    if (next->worker && !sc->is_worker) {
        sc->is_worker = true;
        n->current_workers++;
    }
    if (next->journaled)
        sc->journaled = true;
    switch (next->kind) {
    case CMD_NEXT_REPLIED:
        break;
    case CMD_NEXT_READ_BODY:
        sc->put = next->put;
        sc->state = SESSION_BODY;
        break;
    case CMD_NEXT_SKIP:
        sc->skip_left = next->skip_bytes;
        sc->pending_reply = next->reply;
        sc->pending_len = next->reply_len;
        sc->state = SESSION_SKIP_BODY;
        break;
    case CMD_NEXT_WAIT:
        sc->batch_max = next->batch_max;
        sc->state = SESSION_WAITING;
        break;
    case CMD_NEXT_BULK:
        if (!sc->bulk && !(sc->bulk = malloc(sizeof *sc->bulk))) {
            /* The jobs of the first chunk are gone; the rest stay. */
            reply_lit(out, PROTO_REPLY_OUT_OF_MEMORY);
            break;
        }
        *sc->bulk = next->bulk;
        sc->state = SESSION_BULK;
        break;
    case CMD_NEXT_CLOSE:
        sc->state = SESSION_CLOSED;
        break;
    }
}

void session_core_set_peer(session_core *sc, const char *peer)
{
    auth_addr_of_peer(peer, sc->auth.addr);
}

void session_core_login(session_core *sc, auth_user *u)
{
    sc->auth.user = u;
    sc->auth.denied_watches = authz_denied_watches(u, sc->cl);
}

bool session_core_rebind(session_core *sc, const auth_users *fresh)
{
    if (!sc->auth.user)
        return true;
    auth_user *u = auth_users_find(fresh, sc->auth.user->name, sc->auth.user->name_len);
    sc->auth.user = NULL;
    sc->auth.denied_watches = 0;
    if (u)
        session_core_login(sc, u);
    return u != NULL;
}

/* auth <user> <password>. One login per connection: a second `auth` is refused without a
 * check, so that a session's rights never change under the tubes it already uses and
 * watches. */
static void run_auth(session_core *sc, const proto_cmd *cmd, reply_buf *out)
{
    auth_env *a = sc->env->auth;
    uint64_t now_ms = store_now_ms(sc->env->cmd.st);
    if (sc->auth.user || auth_limit_blocked(&a->limit, sc->auth.addr, now_ms)) {
        reply_lit(out, PROTO_REPLY_BAD_AUTH);
        return;
    }
    auth_user *u = auth_users_find(a->users, cmd->user, cmd->user_len);
    if (!auth_verify(u, cmd->password, cmd->password_len)) {
        auth_limit_failed(&a->limit, sc->auth.addr, now_ms);
        reply_lit(out, PROTO_REPLY_BAD_AUTH);
        return;
    }
    session_core_login(sc, u);
    reply_lit(out, PROTO_REPLY_OK_AUTH);
}

/* With authentication on, before a command runs: true when it was answered here (auth itself,
 * or NOT_AUTHORIZED), with *next set. A refused put's body is still read past, streamed and
 * never kept (CMD_NEXT_SKIP), so the connection stays in step with its client: closing would
 * be as safe but would turn a client's mistake into a reconnect loop. */
static bool gate(session_core *sc, proto_status st, const proto_cmd *cmd, reply_buf *out,
                 cmd_next *next)
{
    memset(next, 0, sizeof *next);
    next->kind = CMD_NEXT_REPLIED;
    if (cmd->type == CMD_QUIT)
        return false;
    if (cmd->type == CMD_AUTH && st == PROTO_OK) {
        run_auth(sc, cmd, out);
        return true;
    }
    if (sc->auth.user) {
        if (st != PROTO_OK || authz_allows(&sc->auth, sc->env->cmd.st, sc->cl, cmd))
            return false;
    }
    /* The body follows exactly when it would for an authorized client (cmd_execute: a put
     * with trailing bytes has one only when it is too big). */
    bool has_body = (cmd->type == CMD_PUT || cmd->type == CMD_PUT_UNIQUE) && cmd->counted &&
                    (st == PROTO_OK || cmd->body_len > sc->env->cmd.max_job_bytes);
    if (has_body) {
        next->kind = CMD_NEXT_SKIP;
        next->skip_bytes = cmd->body_len + 2;
        next->reply = PROTO_REPLY_NOT_AUTHORIZED;
        next->reply_len = sizeof PROTO_REPLY_NOT_AUTHORIZED - 1;
    } else {
        reply_lit(out, PROTO_REPLY_NOT_AUTHORIZED);
    }
    return true;
}

/* A command whose reply was just queued: its time since *start_us goes to its histogram, and
 * that clock read is the next command's start, so a pass reads the clock once per command and
 * once more at its start. */
static void observe_command(session_core *sc, int type, uint64_t *start_us)
{
    synqd_histograms *h = sc->env->cmd.hist;
    if (!h || type < 0 || type >= CMD_COUNT_)
        return;
    uint64_t now_us = hist_clock_us();
    hist_observe(&h->command_us[type], now_us > *start_us ? now_us - *start_us : 0);
    *start_us = now_us;
}

/* *done: the command whose reply this queued, or -1 (nothing, a malformed line, a put whose
 * body is still to come). */
static bool process_command_line(session_core *sc, sq_buf *in, reply_buf *out, int *done)
{
    size_t consumed;
    long n = proto_find_line(sq_buf_peek(in), sq_buf_len(in), &consumed);
    if (n == -1)
        return false;
    if (n == -2) {
        /* Too long: drop what we have and skip to the line's end, then answer BAD_FORMAT once,
         * as beanstalkd does. */
        sq_buf_consume(in, consumed);
        sc->state = SESSION_SKIP_LINE;
        return true;
    }
    proto_cmd cmd;
    proto_status st = proto_parse(sq_buf_peek(in), (size_t)n, &cmd);
    cmd_next next;
    if (sc->env->auth && gate(sc, st, &cmd, out, &next)) {
        /* Refused or answered here: counted nowhere, as if it had not been sent. */
        sq_buf_consume(in, consumed);
        apply(sc, &next, out);
        return true;
    }
    if (cmd.counted && cmd.type < CMD_COUNT_)
        sc->env->counters->cmd_counts[cmd.type]++;
    /* The command may borrow the line (tube names): run it before the line's bytes are
     * consumed. */
    cmd_ctx ctx = {&sc->env->cmd, sc->cl, out, sc->auth.user};
    cmd_execute(&ctx, st, &cmd, &next);
    if (cmd.type == CMD_IGNORE && sc->auth.denied_watches)
        sc->auth.denied_watches = authz_denied_watches(sc->auth.user, sc->cl);
    sq_buf_consume(in, consumed);
    apply(sc, &next, out);
    if (st == PROTO_OK && sc->state != SESSION_BODY)
        *done = (int)cmd.type;
    return true;
}

static bool process_skip_line(session_core *sc, sq_buf *in, reply_buf *out)
{
    size_t consumed;
    long n = proto_find_line(sq_buf_peek(in), sq_buf_len(in), &consumed);
    if (n == -1)
        return false;
    sq_buf_consume(in, consumed);
    if (n >= 0) {
        sc->state = SESSION_COMMAND;
        reply_lit(out, PROTO_REPLY_BAD_FORMAT);
    }
    return true;
}

static bool process_body(session_core *sc, sq_buf *in, reply_buf *out, int *done)
{
    size_t body_len = (size_t)sc->put.body_len;
    if (sq_buf_len(in) < body_len + 2)
        return false;
    const char *p = sq_buf_peek(in);
    bool crlf_ok = p[body_len] == '\r' && p[body_len + 1] == '\n';
    sc->state = SESSION_COMMAND;
    cmd_ctx ctx = {&sc->env->cmd, sc->cl, out, sc->auth.user};
    cmd_next next;
    cmd_finish_put(&ctx, &sc->put, p, crlf_ok, &next);
    *done = sc->put.key ? CMD_PUT_UNIQUE : CMD_PUT;
    free(sc->put.key);
    sc->put.key = NULL;
    sq_buf_consume(in, body_len + 2);
    apply(sc, &next, out);
    return true;
}

static bool process_skip_body(session_core *sc, sq_buf *in, reply_buf *out)
{
    sq_buf_consume(in, sq_body_skip(&sc->skip_left, sq_buf_len(in)));
    if (sc->skip_left > 0)
        return false;
    sc->state = SESSION_COMMAND;
    reply_text(out, sc->pending_reply, sc->pending_len);
    return true;
}

/* After replies were appended: a failed one ends the session. */
static session_verdict verdict(session_core *sc, const reply_buf *out)
{
    if (out->err) {
        sc->state = SESSION_CLOSED;
        sc->reply_err = out->err;
        return SESSION_RESET;
    }
    return sc->state == SESSION_CLOSED ? SESSION_QUIT : SESSION_GO_ON;
}

/* True when the budget lets no further command start (and counts why). Only the steps that
 * run a command count against it: skipping bytes is cheap and produces nothing. */
static bool budget_spent(session_core *sc, const session_budget *b, uint32_t ran, const sq_buf *out)
{
    if (!b)
        return false;
    if (b->commands && ran >= b->commands) {
        sc->env->counters->budget_yields++;
        return true;
    }
    if (sq_buf_len(out) > b->out_bytes) {
        sc->env->counters->output_stops++;
        return true;
    }
    return false;
}

session_verdict session_core_input(session_core *sc, sq_buf *in, sq_buf *out,
                                   const session_budget *budget)
{
    reply_buf rb = {out, 0};
    bool more = true;
    uint32_t ran = 0;
    uint64_t start_us = sc->env->cmd.hist ? hist_clock_us() : 0;
    if (sc->state == SESSION_BATCH_READY) {
        cmd_ctx ctx = {&sc->env->cmd, sc->cl, &rb, sc->auth.user};
        sc->state = SESSION_COMMAND;
        cmd_finish_batch(&ctx, sc->batch_first, sc->batch_max);
        sc->batch_max = 0;
        ran++;
    }
    while (more && !rb.err && sq_buf_len(in) > 0) {
        bool runs = sc->state == SESSION_COMMAND || sc->state == SESSION_BODY;
        if (runs && budget_spent(sc, budget, ran, out)) {
            session_verdict v = verdict(sc, &rb);
            return v == SESSION_GO_ON ? SESSION_YIELD : v;
        }
        if (runs)
            ran++;
        int done = -1;
        switch (sc->state) {
        case SESSION_COMMAND:
            more = process_command_line(sc, in, &rb, &done);
            break;
        case SESSION_SKIP_LINE:
            more = process_skip_line(sc, in, &rb);
            break;
        case SESSION_BODY:
            more = process_body(sc, in, &rb, &done);
            break;
        case SESSION_SKIP_BODY:
            more = process_skip_body(sc, in, &rb);
            break;
        case SESSION_WAITING:
        case SESSION_BATCH_READY:
        case SESSION_BULK:
        case SESSION_CLOSED:
            more = false;
            break;
        }
        observe_command(sc, done, &start_us);
    }
    return verdict(sc, &rb);
}

session_verdict session_core_reserved(session_core *sc, const job *j, sq_buf *out)
{
    reply_buf rb = {out, 0};
    if (sc->batch_max) {
        /* Taking more jobs reserves, which a store hook must not do. */
        sc->batch_first = job_id(j);
        sc->state = SESSION_BATCH_READY;
        return verdict(sc, &rb);
    }
    sc->state = SESSION_COMMAND;
    reply_job_lit(&rb, PROTO_WORD_RESERVED, j);
    return verdict(sc, &rb);
}

session_verdict session_core_bulk_step(session_core *sc, sq_buf *out)
{
    reply_buf rb = {out, 0};
    if (sc->state != SESSION_BULK)
        return verdict(sc, &rb);
    cmd_ctx ctx = {&sc->env->cmd, sc->cl, &rb, sc->auth.user};
    cmd_next next;
    cmd_bulk_step(&ctx, sc->bulk, &next);
    if (next.kind != CMD_NEXT_BULK) {
        free(sc->bulk);
        sc->bulk = NULL;
        sc->state = SESSION_COMMAND;
    }
    apply(sc, &next, &rb);
    return verdict(sc, &rb);
}

session_verdict session_core_wait_ended(session_core *sc, const char *reply, size_t reply_len,
                                        sq_buf *out)
{
    reply_buf rb = {out, 0};
    sc->state = SESSION_COMMAND;
    sc->batch_max = 0;
    reply_text(&rb, reply, reply_len);
    return verdict(sc, &rb);
}

session_verdict session_core_eof(session_core *sc, sq_buf *in, sq_buf *out)
{
    if (sc->state == SESSION_WAITING) {
        store_cancel_wait(sc->env->cmd.st, sc->cl);
        session_verdict v = session_core_wait_ended(sc, PROTO_REPLY_TIMED_OUT,
                                                    sizeof PROTO_REPLY_TIMED_OUT - 1, out);
        if (v == SESSION_GO_ON && in)
            v = session_core_input(sc, in, out, NULL);
        if (v == SESSION_RESET)
            return v;
    }
    return SESSION_QUIT;
}
