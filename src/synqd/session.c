/*
 * session: the socket glue around one connection's state machine (session_core.c).
 *
 * The core reads the connection's input buffer and appends replies straight into its output
 * buffer (sq_conn_out); this file tells the engine the output grew, puts the session on the
 * server's lists (resume after a wait, replies held for the log) and closes the connection when
 * the core says so. It changes no protocol state of its own.
 *
 * Overload. Each call of the core runs within a budget (server.c sets the limits): at most
 * --pass-commands commands, and no command starts while the connection's output holds more
 * than --output-soft-limit bytes, or only one while all connections together hold more than
 * --output-total-limit. Whatever input is left waits in the connection's input buffer (the
 * engine stops reading once it is full) and runs again: on the next loop pass (a command
 * budget: sq_conn_yield), once the output drained below the low mark (the engine's
 * backpressure calls on_drain), or once the total fell back (the server's retry timer). A
 * FIN that arrives meanwhile is held until that input has run, so a client that pipelines and
 * half-closes gets every reply, as from beanstalkd.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "authcert.h"
#include "forward.h"
#include "relayid.h"
#include "server_int.h"
#include "synq/tls.h"

/* After a core call that may have appended to the output (which held out_before bytes): tell
 * the engine, hold the reply for the log, or end the session as the core says. */
static void after_core(session *se, size_t out_before, session_verdict v)
{
    bool wrote = sq_buf_len(sq_conn_out(se->conn)) != out_before;
    if (wrote)
        sq_conn_wrote(se->conn);
    /* A cluster leader holds every reply while a change is uncommitted (replica.c); a single
     * server only the replies that acknowledge a change. */
    bool journaled = session_core_take_journaled(&se->core);
    if ((journaled || (wrote && se->srv->rp)) && v != SESSION_RESET)
        server_note_unsynced(se->srv, se);
    if (v == SESSION_RESET) {
        fprintf(stderr, "synqd: queueing a reply failed (%s): closing the connection\n",
                sq_strerror(se->core.reply_err));
        if (se->core.reply_err == -ENOBUFS)
            se->srv->overload.output_closes++;
        session_close(se, true);
    } else if (v == SESSION_QUIT) {
        session_close(se, false);
    } else if (se->core.state == SESSION_BULK) {
        server_queue_bulk(se->srv, se);
    }
}

/* Most reply bytes one connection adds per loop pass: the replies of a pipelined batch (peeks
 * of big jobs) are made and sent a slice per pass, so other clients wait one slice. */
#define PASS_OUT_BYTES 262144u

static void session_eof(session *se);

/* The core stopped for its budget with input left: arrange to come back to it. */
static void session_yielded(session *se)
{
    server *srv = se->srv;
    if (sq_conn_pending(se->conn) > srv->opts.out_soft_bytes)
        return; /* the engine's backpressure is on: on_drain comes back */
    if (srv->opts.out_total_bytes && sq_tcp_out_pending(srv->loop) > srv->opts.out_total_bytes)
        server_queue_out_wait(srv, se);
    else
        sq_conn_yield(se->conn);
}

static void session_process(session *se)
{
    if (!se->in || se->core.state == SESSION_CLOSED)
        return;
    const server *srv = se->srv;
    session_budget b = {srv->opts.pass_commands, srv->opts.out_soft_bytes};
    if (srv->opts.out_total_bytes && sq_tcp_out_pending(srv->loop) > srv->opts.out_total_bytes)
        b.out_bytes = 0; /* one reply at a time until the total falls back */
    sq_buf *out = sq_conn_out(se->conn);
    size_t before = sq_buf_len(out);
    if (before + PASS_OUT_BYTES < b.out_bytes)
        b.out_bytes = before + PASS_OUT_BYTES;
    session_verdict v = session_core_input(&se->core, se->in, out, &b);
    se->yielded = v == SESSION_YIELD;
    after_core(se, before, v);
    if (se->yielded && se->core.state != SESSION_CLOSED)
        session_yielded(se);
    else if (se->eof_pending && se->core.state != SESSION_CLOSED)
        session_eof(se);
}

void session_resume(session *se)
{
    if (se->core.state == SESSION_COMMAND || se->core.state == SESSION_BATCH_READY)
        session_process(se);
}

void session_bulk_step(session *se)
{
    sq_buf *out = sq_conn_out(se->conn);
    size_t before = sq_buf_len(out);
    after_core(se, before, session_core_bulk_step(&se->core, out));
    if (se->core.state == SESSION_COMMAND)
        server_queue_resume(se->srv, se); /* the commands it pipelined after the bulk one */
}

void session_reserved(session *se, const job *j)
{
    server_queue_resume(se->srv, se);
    sq_buf *out = sq_conn_out(se->conn);
    size_t before = sq_buf_len(out);
    after_core(se, before, session_core_reserved(&se->core, j, out));
}

void session_wait_ended(session *se, const char *reply, size_t reply_len)
{
    server_queue_resume(se->srv, se);
    sq_buf *out = sq_conn_out(se->conn);
    size_t before = sq_buf_len(out);
    after_core(se, before, session_core_wait_ended(&se->core, reply, reply_len, out));
}

/* A TLS connection whose records the kernel handles (--tls-ktls yes): counted, and logged
 * with -V, so an operator sees the offload is real. */
static void note_ktls(session *se)
{
    server *srv = se->srv;
    srv->overload.tls_ktls++;
    if (!srv->opts.verbose)
        return;
    char peer[64] = "?";
    (void)sq_conn_peer(se->conn, peer, sizeof peer);
    unsigned k = sq_conn_tls_ktls(se->conn);
    fprintf(stderr, "synqd: TLS connection from %s: kernel TLS %s\n", peer,
            k == 3   ? "send and receive"
            : k == 1 ? "send"
                     : "receive");
}

/* The session is the client a follower relays (relayid.h): its address counts for the `auth`
 * limit, and the user its certificate named there (if this node's users file has it) is the
 * session's user. The node's own certificate names nobody. */
static void take_relayed(session *se, const relayid *id)
{
    server *srv = se->srv;
    se->cert_seen = true;
    auth_env *a = srv->env.auth;
    auth_user *u = a && id->user_len ? auth_users_find(a->users, id->user, id->user_len) : NULL;
    if (a) {
        session_core_set_peer(&se->core, id->peer);
        if (u)
            session_core_login(&se->core, u);
    }
    sq_buf *out = sq_conn_out(se->conn);
    sq_buf_append(out, RELAYID_REPLY, sizeof RELAYID_REPLY - 1);
    sq_conn_wrote(se->conn);
    if (sq_conn_tls_ktls(se->conn))
        note_ktls(se);
    if (srv->opts.verbose) {
        char node[80] = "?";
        (void)sq_conn_peer(se->conn, node, sizeof node);
        fprintf(stderr, "synqd: client %s relayed by node %s%s%.*s%s\n",
                id->peer[0] ? id->peer : "(local socket)", node,
                id->user_len ? " with a certificate of user " : "", (int)id->user_len, id->user,
                id->user_len && !u ? " (not in this node's --users: not logged in)" : "");
    }
}

/* The first bytes of a connection: from a cluster node, a relay line (taken here) or none.
 * False while the line may still be arriving (only a node's connection waits for it). */
static bool relay_line_checked(session *se, sq_buf *in)
{
    if (!forward_from_node(se->srv, se->conn)) {
        se->relay_checked = true;
        return true;
    }
    relayid id;
    size_t used = 0;
    relayid_status st = relayid_parse(sq_buf_peek(in), sq_buf_len(in), &id, &used);
    if (st == RELAYID_PARTIAL)
        return false;
    se->relay_checked = true;
    if (st == RELAYID_LINE) {
        sq_buf_consume(in, used);
        take_relayed(se, &id);
    }
    return true;
}

static void on_read(sq_conn *c, sq_buf *in)
{
    session *se = sq_conn_data(c);
    se->in = in;
    if (!se->relay_checked && !relay_line_checked(se, in))
        return;
    /* The first read of a TLS connection comes after its handshake: the moment to see whether
     * its certificate names a user (it then needs no `auth`). */
    if (!se->cert_seen) {
        se->cert_seen = true;
        const auth_env *a = se->srv->env.auth;
        auth_user *u =
            a && sq_conn_is_tls(c) ? auth_cert_user(a->users, sq_conn_tls_openssl(c)) : NULL;
        if (u)
            session_core_login(&se->core, u);
        if (sq_conn_tls_ktls(c))
            note_ktls(se);
    }
    session_process(se);
}

static void session_eof(session *se)
{
    se->eof_pending = false;
    sq_buf *out = sq_conn_out(se->conn);
    size_t before = sq_buf_len(out);
    after_core(se, before, session_core_eof(&se->core, se->in, out));
}

static void on_eof(sq_conn *c)
{
    session *se = sq_conn_data(c);
    if (se->yielded && se->core.state != SESSION_CLOSED) {
        se->eof_pending = true; /* after the input the budget left */
        return;
    }
    session_eof(se);
}

static void on_drain(sq_conn *c)
{
    session *se = sq_conn_data(c);
    if (se->yielded)
        session_process(se); /* whatever the state the budget stopped in (command or body) */
}

static void unqueue_resume(server *srv, session *se)
{
    if (!se->resume_queued)
        return;
    list_remove(&srv->resume, &se->resume_link);
    se->resume_queued = false;
}

/* Idempotent: the core ends once, the lists forget the session once. */
static void session_end(session *se)
{
    if (!se->core.cl)
        return;
    session_core_end(&se->core);
    unqueue_resume(se->srv, se);
    server_unqueue_out_wait(se->srv, se);
    server_unqueue_bulk(se->srv, se);
    server_forget_session(se->srv, se);
}

void session_close(session *se, bool abort)
{
    /* A cluster leader's held output waits for a commit: closing gracefully would wait for
     * it forever (the hold is never lifted once the session is gone), and lifting it would send
     * replies that may acknowledge uncommitted changes. Such a client gets no reply. */
    if (se->held)
        abort = true;
    session_end(se);
    if (abort)
        sq_conn_abort(se->conn);
    else
        sq_conn_close(se->conn);
}

/* A TLS connection that closed before its handshake completed: counted, and said once at -V
 * (a client with a wrong CA, no certificate, a plaintext client on the TLS port). */
static void note_failed_handshake(session *se, int err)
{
    server *srv = se->srv;
    srv->overload.tls_handshake_failures++;
    if (!srv->opts.verbose)
        return;
    char peer[64] = "?";
    (void)sq_conn_peer(se->conn, peer, sizeof peer);
    const char *why = sq_conn_tls_error(se->conn);
    if (!*why)
        why = err == -ETIMEDOUT ? "handshake timed out" : sq_strerror(err);
    fprintf(stderr, "synqd: TLS handshake with %s failed: %s\n", peer, why);
}

static void on_close(sq_conn *c, int err)
{
    session *se = sq_conn_data(c);
    server *srv = se->srv;
    if (err && sq_conn_is_tls(c) && !sq_conn_tls_version(c))
        note_failed_handshake(se, err);
    else if (err == -ETIMEDOUT)
        srv->overload.output_closes++; /* the only other timeout set: --output-timeout-ms */
    session_end(se);
    list_remove(&srv->sessions, &se->link);
    free(se);
}

static const sq_conn_handlers session_handlers = {
    .on_read = on_read,
    .on_eof = on_eof,
    .on_drain = on_drain,
    .on_close = on_close,
};

void session_accept(server *srv, sq_conn *conn)
{
    if (srv->rp && !replica_serving(srv->rp)) {
        forward_accept(srv, conn); /* a cluster node that does not lead relays to the leader */
        return;
    }
    session *se = calloc(1, sizeof *se);
    if (!se) {
        sq_conn_abort(conn);
        return;
    }
    if (session_core_init(&se->core, &srv->env, se) != 0) {
        free(se);
        sq_conn_abort(conn);
        return;
    }
    se->srv = srv;
    se->conn = conn;
    if (srv->env.auth) {
        char peer[80] = "";
        (void)sq_conn_peer(conn, peer, sizeof peer);
        session_core_set_peer(&se->core, peer);
    }
    list_prepend(&srv->sessions, &se->link);
    sq_conn_set_handlers(conn, &session_handlers, se);
}

size_t session_rebind_all(server *srv, const auth_users *fresh)
{
    size_t logged_out = 0;
    for (list_node *n = srv->sessions.first; n; n = n->next)
        logged_out += !session_core_rebind(&LIST_ENTRY(n, session, link)->core, fresh);
    return logged_out;
}

void session_close_all(server *srv, bool abort)
{
    /* session_close frees nothing (on_close does, later, from the loop): the list holds. */
    for (list_node *n = srv->sessions.first; n; n = n->next)
        session_close(LIST_ENTRY(n, session, link), abort);
}
