/*
 * session: one client connection's input state machine.
 *
 *   COMMAND ──put──> BODY ──body+CRLF──> COMMAND
 *      │ └─put too big──> SKIP_BODY ──body+2 bytes dropped──> COMMAND (JOB_TOO_BIG)
 *      ├─line past 224 bytes──> SKIP_LINE ──CRLF──> COMMAND (BAD_FORMAT)
 *      ├─reserve, nothing ready──> WAITING ──store hook──> COMMAND
 *      └─quit / error──> CLOSED
 *
 * Input stays in the connection's buffer until a whole line or body is
 * there; a line never grows past PROTO_MAX_LINE bytes in memory and a body
 * never past the -z limit. Commands pipelined in one packet run in order and
 * their replies are queued in the same order; the engine sends them together
 * at the end of the loop iteration.
 *
 * While a session waits in reserve, commands that arrive are kept buffered,
 * as beanstalkd does: they run once the wait is answered.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_int.h"
#include "synq/codec.h"

static void session_process(session *se);

/* After sq_conn_write* failed. -EPIPE means the connection is already
 * closing, and the reply has nobody to go to. Otherwise the client stopped
 * reading while pipelining (past out_limit) or memory ran out: replies can no
 * longer be kept in order, so the connection ends. */
static void reply_failed(session *se, int err)
{
    if (err == -EPIPE || se->state == SESSION_CLOSED)
        return;
    fprintf(stderr, "synqd: queueing a reply failed (%s): closing the connection\n",
            sq_strerror(err));
    session_close(se, true);
}

void session_reply(session *se, const char *text, size_t len)
{
    int err = sq_conn_write(se->conn, text, len);
    if (err)
        reply_failed(se, err);
}

void session_replyf(session *se, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) {
        session_reply_lit(se, "INTERNAL_ERROR\r\n");
        return;
    }
    session_reply(se, line, (size_t)n);
}

/* Decimal digits of v at p; returns their count. snprintf costs about a
 * third of the server's instructions per job when it formats every reply. */
static size_t fmt_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

void session_reply_id(session *se, const char *word, size_t word_len, uint64_t id)
{
    char line[48];
    memcpy(line, word, word_len);
    size_t n = word_len;
    line[n++] = ' ';
    n += fmt_u64(line + n, id);
    line[n++] = '\r';
    line[n++] = '\n';
    session_reply(se, line, n);
}

void session_reply_job(session *se, const char *word, const job *j)
{
    char head[64];
    size_t n = strlen(word);
    memcpy(head, word, n);
    head[n++] = ' ';
    n += fmt_u64(head + n, job_id(j));
    head[n++] = ' ';
    n += fmt_u64(head + n, job_body_len(j));
    head[n++] = '\r';
    head[n++] = '\n';
    struct iovec iov[3] = {
        {head, n},
        {(void *)job_body(j), job_body_len(j)},
        {"\r\n", 2},
    };
    int err = sq_conn_writev(se->conn, iov, 3);
    if (err)
        reply_failed(se, err);
}

void session_reply_doc(session *se, const char *doc, size_t len)
{
    char head[48];
    int n = snprintf(head, sizeof head, "OK %zu\r\n", len);
    struct iovec iov[3] = {{head, (size_t)n}, {(void *)doc, len}, {"\r\n", 2}};
    int err = sq_conn_writev(se->conn, iov, 3);
    if (err)
        reply_failed(se, err);
}

/* Returns false when the session must stop processing input for now. */
static bool process_command_line(session *se, sq_buf *in)
{
    size_t consumed;
    long n = proto_find_line(sq_buf_peek(in), sq_buf_len(in), &consumed);
    if (n == -1)
        return false;
    if (n == -2) {
        /* Too long: drop what we have and skip to the line's end, then
         * answer BAD_FORMAT once, as beanstalkd does. */
        sq_buf_consume(in, consumed);
        se->state = SESSION_SKIP_LINE;
        return true;
    }
    proto_cmd cmd;
    proto_status st = proto_parse(sq_buf_peek(in), (size_t)n, &cmd);
    /* The command may borrow the line (tube names): run it before the
     * line's bytes are consumed. */
    cmd_execute(se, st, &cmd);
    sq_buf_consume(in, consumed);
    return true;
}

static bool process_skip_line(session *se, sq_buf *in)
{
    size_t consumed;
    long n = proto_find_line(sq_buf_peek(in), sq_buf_len(in), &consumed);
    if (n == -1)
        return false;
    sq_buf_consume(in, consumed);
    if (n >= 0) {
        se->state = SESSION_COMMAND;
        session_reply_lit(se, "BAD_FORMAT\r\n");
    }
    return true;
}

static bool process_body(session *se, sq_buf *in)
{
    size_t need = (size_t)se->body_len + 2;
    if (sq_buf_len(in) < need)
        return false;
    const char *p = sq_buf_peek(in);
    bool crlf_ok = p[se->body_len] == '\r' && p[se->body_len + 1] == '\n';
    se->state = SESSION_COMMAND;
    cmd_finish_put(se, p, (size_t)se->body_len, crlf_ok);
    sq_buf_consume(in, need);
    return true;
}

static bool process_skip_body(session *se, sq_buf *in)
{
    if (sq_buf_len(in) == 0)
        return false;
    sq_buf_consume(in, sq_body_skip(&se->skip_left, sq_buf_len(in)));
    if (se->skip_left > 0)
        return false;
    se->state = SESSION_COMMAND;
    session_reply(se, se->pending_reply, strlen(se->pending_reply));
    return true;
}

static void session_process(session *se)
{
    sq_buf *in = se->in;
    if (!in)
        return;
    bool more = true;
    while (more && sq_buf_len(in) > 0) {
        switch (se->state) {
        case SESSION_COMMAND:
            more = process_command_line(se, in);
            break;
        case SESSION_SKIP_LINE:
            more = process_skip_line(se, in);
            break;
        case SESSION_BODY:
            more = process_body(se, in);
            break;
        case SESSION_SKIP_BODY:
            more = process_skip_body(se, in);
            break;
        case SESSION_WAITING:
        case SESSION_CLOSED:
            more = false;
            break;
        }
    }
}

void session_resume(session *se)
{
    if (se->state == SESSION_COMMAND)
        session_process(se);
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
    if (se->state == SESSION_WAITING) {
        /* A client that half-closes while waiting gets TIMED_OUT, and the
         * commands it pipelined after the reserve still run (beanstalkd). */
        store_cancel_wait(se->srv->st, se->cl);
        se->state = SESSION_COMMAND;
        session_reply_lit(se, "TIMED_OUT\r\n");
        session_process(se);
    }
    session_close(se, false);
}

static void unqueue_resume(server *srv, session *se)
{
    if (!se->resume_queued)
        return;
    session **pp = &srv->resume_head;
    while (*pp && *pp != se)
        pp = &(*pp)->next_resume;
    if (*pp) {
        *pp = se->next_resume;
        if (srv->resume_tail == &se->next_resume)
            srv->resume_tail = pp;
    }
    se->resume_queued = false;
}

/* The session is over for the queue: its reserved jobs return to ready at
 * once and it stops counting as a connection, as beanstalkd does at the
 * moment it sees EOF or quit, even though the socket may take a little
 * longer to finish closing. Idempotent. */
static void session_end(session *se)
{
    server *srv = se->srv;
    se->state = SESSION_CLOSED;
    if (!se->cl)
        return;
    store_client_free(srv->st, se->cl);
    se->cl = NULL;
    unqueue_resume(srv, se);
    server_forget_session(srv, se);
    srv->current_connections--;
    if (se->is_producer)
        srv->current_producers--;
    if (se->is_worker)
        srv->current_workers--;
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
    if (se->prev)
        se->prev->next = se->next;
    else
        srv->sessions = se->next;
    if (se->next)
        se->next->prev = se->prev;
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
    se->cl = store_client_new(srv->st, se);
    if (!se->cl) {
        free(se);
        sq_conn_abort(conn);
        return;
    }
    se->srv = srv;
    se->conn = conn;
    se->state = SESSION_COMMAND;
    se->next = srv->sessions;
    if (se->next)
        se->next->prev = se;
    srv->sessions = se;
    srv->current_connections++;
    srv->total_connections++;
    sq_conn_set_handlers(conn, &session_handlers, se);
}

void session_close_all(server *srv, bool abort)
{
    for (session *se = srv->sessions; se; se = se->next)
        session_close(se, abort);
}
