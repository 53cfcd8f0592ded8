/*
 * session: the socket glue around one connection's state machine (session_core.c).
 *
 * The core reads the connection's input buffer and appends replies straight into its output
 * buffer (sq_conn_out); this file tells the engine the output grew, puts the session on the
 * server's lists (resume after a wait, replies held for the log) and closes the connection when
 * the core says so. It changes no protocol state of its own.
 */
#include <stdio.h>
#include <stdlib.h>

#include "server_int.h"

/* After a core call that may have appended to the output (which held out_before bytes): tell
 * the engine, hold the reply for the log, or end the session as the core says. */
static void after_core(session *se, size_t out_before, session_verdict v)
{
    if (sq_buf_len(sq_conn_out(se->conn)) != out_before)
        sq_conn_wrote(se->conn);
    if (session_core_take_journaled(&se->core) && v != SESSION_RESET)
        server_note_unsynced(se->srv, se);
    if (v == SESSION_RESET) {
        fprintf(stderr, "synqd: queueing a reply failed (%s): closing the connection\n",
                sq_strerror(se->core.reply_err));
        session_close(se, true);
    } else if (v == SESSION_QUIT) {
        session_close(se, false);
    }
}

static void session_process(session *se)
{
    if (!se->in || se->core.state == SESSION_CLOSED)
        return;
    sq_buf *out = sq_conn_out(se->conn);
    size_t before = sq_buf_len(out);
    after_core(se, before, session_core_input(&se->core, se->in, out));
}

void session_resume(session *se)
{
    if (se->core.state == SESSION_COMMAND)
        session_process(se);
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

static void on_read(sq_conn *c, sq_buf *in)
{
    session *se = sq_conn_data(c);
    se->in = in;
    session_process(se);
}

static void on_eof(sq_conn *c)
{
    session *se = sq_conn_data(c);
    sq_buf *out = sq_conn_out(c);
    size_t before = sq_buf_len(out);
    after_core(se, before, session_core_eof(&se->core, se->in, out));
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
    server_forget_session(se->srv, se);
}

void session_close(session *se, bool abort)
{
    session_end(se);
    if (abort)
        sq_conn_abort(se->conn);
    else
        sq_conn_close(se->conn);
}

static void on_close(sq_conn *c, int err)
{
    (void)err;
    session *se = sq_conn_data(c);
    server *srv = se->srv;
    session_end(se);
    list_remove(&srv->sessions, &se->link);
    free(se);
}

static const sq_conn_handlers session_handlers = {
    .on_read = on_read,
    .on_eof = on_eof,
    .on_close = on_close,
};

void session_accept(server *srv, sq_conn *conn)
{
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
    list_prepend(&srv->sessions, &se->link);
    sq_conn_set_handlers(conn, &session_handlers, se);
}

void session_close_all(server *srv, bool abort)
{
    /* session_close frees nothing (on_close does, later, from the loop): the list holds. */
    for (list_node *n = srv->sessions.first; n; n = n->next)
        session_close(LIST_ENTRY(n, session, link), abort);
}
