/*
 * metrics: synqd's HTTP endpoint (`--http`, alias `--metrics`; contract and state machine in
 * metrics.h): the connection handling of a deliberately small HTTP/1.x server, which reads the
 * request head with the pure reader in http.c, streams the Prometheus document metrics_doc.c
 * formats for /metrics, hands every other request to the web console (console.h), and closes.
 *
 * Why so little HTTP: a scraper sends one GET and reads until the server
 * closes, so keep-alive, chunked bodies and request bodies buy nothing here
 * and would each be a way for a peer to hold resources. Everything a
 * connection can make the server hold is bounded: the head by
 * METRICS_MAX_HEAD_BYTES, the time by METRICS_REQUEST_TIMEOUT_MS, the
 * number of connections by METRICS_MAX_CONNS, the output by
 * METRICS_CHUNK_BYTES (plus one tube's lines) and METRICS_WRITE_TIMEOUT_MS.
 *
 * Streaming. The body has no Content-Length: it ends when the server
 * closes (HTTP/1.0 and 1.1 alike; Prometheus reads to the close). A slice
 * of the document is formatted straight into the connection's output
 * buffer until that holds more than METRICS_CHUNK_BYTES, which is the
 * connection's high-water mark: the engine then calls on_drain once the
 * socket took it down to the low-water mark, and the next slice follows.
 * A slice that stopped short (the tube walk's slot budget ran out on empty
 * slots) asks for the next pass through the connection's timer instead.
 * So a scrape formats at most about 32 KiB per loop pass and holds at most
 * that much output, whatever the document's size. A scrape that cannot go
 * on (out of memory) is reset, never closed cleanly, so the scraper sees
 * an error rather than a document that looks whole.
 */
#include "metrics.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "console.h"
#include "exposure.h"
#include "http.h"
#include "list.h"
#include "metrics_doc.h"
#include "server.h"
#include "synq/tcp.h"
#include "synq/timer.h"
#include "synq/tls.h"
#include "tls_setup.h"

typedef enum {
    MC_READING,   /* the request head is arriving */
    MC_BODY,      /* a POST's body is arriving (Content-Length bytes) */
    MC_PENDING,   /* the console answers later (a flush or a move in flight) */
    MC_STREAMING, /* the head is answered; the document goes out a slice at a time */
    MC_ANSWERED,  /* everything is queued and the connection is closing */
} mconn_state;

/* The longest request target the console takes (path and query); 414 beyond. */
#define TARGET_BYTES 2048

typedef struct mconn mconn;
struct mconn {
    metrics *m;
    sq_conn *conn;
    http_head head;
    mconn_state state;
    bool head_only; /* HEAD: the same headers, no body */
    /* Reading: the whole-head deadline, armed at accept. Streaming: "format the next slice
     * at the next pass", when a slice stopped short of filling the output. */
    sq_timer timer;
    metrics_doc doc;
    list_node link; /* metrics.conns */
    /* The console's request: the target copied out of the input, the headers it reads. */
    char target[TARGET_BYTES];
    console_req req;
    bool is_metrics;        /* the path is /metrics */
    int64_t content_length; /* -1: none */
    bool chunked;           /* Transfer-Encoding was sent: not supported (501) */
    console_call *call;     /* MC_PENDING: the console's call in flight */
    bool journaled;         /* on metrics.journaled: its reply acknowledges a change */
    list_node journal_link;
};

struct metrics {
    sq_loop *loop;
    server *srv;
    uint32_t max_tubes;
    const char *tube_patterns;
    const struct authtoken *token; /* --metrics-token-file, or NULL */
    sq_listener *listener;
    list conns; /* mconn.link, newest first */
    size_t conn_count;
    bool stopping;
    bool tls; /* --http-tls: the listener speaks TLS */
    console *console;
    list journaled; /* mconn.journal_link: replies of this pass that acknowledge a change */
};

/* ---- HTTP ---- */

static const char *status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 403:
        return "Forbidden";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 507:
        return "Insufficient Storage";
    case 431:
        return "Request Header Fields Too Large";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

/* Formats the next slice of the document into the output buffer (see the
 * module comment), and closes once the document is complete. */
static void pump(mconn *mc)
{
    sq_buf *out = sq_conn_out(mc->conn);
    /* Past the high-water mark on_drain is coming: nothing to do before it. */
    if (sq_buf_len(out) > METRICS_CHUNK_BYTES)
        return;
    int r = metrics_doc_next(&mc->doc, out, METRICS_CHUNK_BYTES + 1);
    sq_conn_wrote(mc->conn);
    if (r < 0) {
        fprintf(stderr, "synqd: metrics: formatting the document: %s; resetting the scrape\n",
                sq_strerror(r));
        sq_conn_abort(mc->conn);
    } else if (r == 0) {
        mc->state = MC_ANSWERED;
        sq_conn_close(mc->conn);
    } else if (sq_buf_len(out) <= METRICS_CHUNK_BYTES &&
               sq_timer_start(mc->m->loop, &mc->timer, 0) != 0) {
        fprintf(stderr, "synqd: metrics: arming a scrape timer: out of memory\n");
        sq_conn_abort(mc->conn);
    }
}

/* Queues the reply head; a 200 to GET then streams the document, every
 * other reply closes gracefully at once: the engine sends it, half-closes
 * and discards whatever else the client sends until its FIN. */
/* --metrics-token-file: the head carried the token. */
static bool m_token_ok(const mconn *mc)
{
    return !mc->m->token || mc->head.authorized;
}

static void answer(mconn *mc, int status)
{
    metrics *m = mc->m;
    sq_timer_stop(m->loop, &mc->timer);
    char err_body[64] = "";
    size_t body_len = 0;
    if (status != 200) {
        int n = snprintf(err_body, sizeof err_body, "%d %s\n", status, status_reason(status));
        body_len = n > 0 ? (size_t)n : 0;
    }
    char length[48] = "";
    if (status != 200)
        snprintf(length, sizeof length, "Content-Length: %zu\r\n", body_len);
    char head[256];
    int n =
        snprintf(head, sizeof head,
                 "HTTP/1.1 %d %s\r\n"
                 "Content-Type: %s\r\n"
                 "%s%s"
                 "Connection: close\r\n"
                 "\r\n",
                 status, status_reason(status),
                 status == 200 ? "text/plain; version=0.0.4" : "text/plain; charset=utf-8", length,
                 status == 405   ? "Allow: GET, HEAD\r\n"
                 : status == 401 ? "WWW-Authenticate: Bearer realm=\"synqd\"\r\n"
                                 : "");
    if (n < 0 || (size_t)n >= sizeof head) {
        fprintf(stderr, "synqd: metrics: formatting a reply head failed\n");
        sq_conn_abort(mc->conn);
        return;
    }
    struct iovec iov[2] = {{head, (size_t)n}, {err_body, mc->head_only ? 0 : body_len}};
    int err = sq_conn_writev(mc->conn, iov, 2);
    if (err) {
        fprintf(stderr, "synqd: metrics: queueing a %d reply: %s\n", status, sq_strerror(err));
        sq_conn_abort(mc->conn);
        return;
    }
    if (status == 200 && !mc->head_only) {
        mc->state = MC_STREAMING;
        metrics_doc_begin(&mc->doc, m->srv, m->max_tubes, m->tube_patterns);
        pump(mc);
        return;
    }
    mc->state = MC_ANSWERED;
    sq_conn_close(mc->conn);
}

/* Sends the console's reply (always whole, with its length) and closes gracefully. */
static void send_reply(mconn *mc, console_reply *rep)
{
    metrics *m = mc->m;
    sq_timer_stop(m->loop, &mc->timer);
    const char *body = rep->is_static ? (const char *)rep->static_body : sq_buf_peek(&rep->body);
    size_t body_len = rep->is_static ? rep->static_len : sq_buf_len(&rep->body);
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "%s%s"
                     "Connection: close\r\n"
                     "\r\n",
                     rep->status, status_reason(rep->status), rep->content_type, body_len,
                     rep->is_static ? "" : "Cache-Control: no-store\r\n", rep->extra_headers);
    if (n < 0 || (size_t)n >= sizeof head) {
        fprintf(stderr, "synqd: http: formatting a reply head failed\n");
        sq_conn_abort(mc->conn);
        return;
    }
    struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, mc->head_only ? 0 : body_len}};
    int err = sq_conn_writev(mc->conn, iov, 2);
    if (err) {
        fprintf(stderr, "synqd: http: queueing a %d reply: %s\n", rep->status, sq_strerror(err));
        sq_conn_abort(mc->conn);
        return;
    }
    /* Held like a session's reply: the engine sends it after the group commit, and the
     * before-wait hook (after the server's) resets the connection if that commit failed. */
    if (rep->journaled && !mc->journaled) {
        mc->journaled = true;
        list_append(&m->journaled, &mc->journal_link);
    }
    mc->state = MC_ANSWERED;
    sq_conn_close(mc->conn);
}

static void on_console_done(void *data, console_reply *rep)
{
    mconn *mc = data;
    mc->call = NULL;
    send_reply(mc, rep);
    console_reply_free(rep);
}

/* The head (and a POST's body) is in: the console answers. */
static void dispatch(mconn *mc, const char *body, size_t body_len)
{
    console_reply rep;
    console_reply_init(&rep);
    mc->req.body = body;
    mc->req.body_len = body_len;
    char peer[80] = "";
    (void)sq_conn_peer(mc->conn, peer, sizeof peer);
    auth_addr_of_peer(peer, mc->req.peer_addr);
    mc->req.tls = sq_conn_tls_openssl(mc->conn);
    if (console_check(mc->m->console, &mc->req, &rep) == 0 &&
        !console_handle(mc->m->console, &mc->req, &rep, on_console_done, mc, &mc->call)) {
        mc->state = MC_PENDING;
        console_reply_free(&rep);
        return;
    }
    send_reply(mc, &rep);
    console_reply_free(&rep);
}

static void copy_header(char *dst, size_t cap, const http_head *h)
{
    size_t n = h->value_len < cap - 1 ? h->value_len : cap - 1;
    memcpy(dst, h->value, n);
    dst[n] = '\0';
}

static bool name_is(const http_head *h, const char *name)
{
    return h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

/* One header field: the few the console reads are kept. 0, or the status that refuses the
 * request (a bad or contradictory Content-Length). */
static int note_field(mconn *mc, const http_head *h)
{
    console_req *r = &mc->req;
    if (name_is(h, "Host"))
        copy_header(r->host, sizeof r->host, h);
    else if (name_is(h, "Origin"))
        copy_header(r->origin, sizeof r->origin, h);
    else if (name_is(h, "Sec-Fetch-Site"))
        copy_header(r->fetch_site, sizeof r->fetch_site, h);
    else if (name_is(h, "Authorization"))
        copy_header(r->authorization, sizeof r->authorization, h);
    else if (name_is(h, "Content-Type"))
        copy_header(r->content_type, sizeof r->content_type, h);
    else if (name_is(h, "Transfer-Encoding"))
        mc->chunked = true;
    else if (name_is(h, "Content-Length")) {
        int64_t v = 0;
        if (h->value_len == 0 || h->value_len > 15)
            return 400;
        for (size_t i = 0; i < h->value_len; i++) {
            if (h->value[i] < '0' || h->value[i] > '9')
                return 400;
            v = v * 10 + (h->value[i] - '0');
        }
        /* Two different lengths are a request smuggling attempt (RFC 9112 6.3). */
        if (mc->content_length >= 0 && mc->content_length != v)
            return 400;
        mc->content_length = v;
    }
    return 0;
}

/* The request line is in: /metrics is the Prometheus endpoint (GET and HEAD), everything
 * else the console's; the target is copied, since the input it points into is consumed. */
static void note_request(mconn *mc)
{
    const http_head *h = &mc->head;
    mc->head_only = h->method == HTTP_HEAD;
    mc->is_metrics =
        h->path_len == strlen("/metrics") && memcmp(h->path, "/metrics", h->path_len) == 0;
    if (mc->is_metrics && h->method == HTTP_POST) {
        answer(mc, 405);
        return;
    }
    if (mc->is_metrics)
        return;
    size_t off = (size_t)(h->path - h->target);
    if (h->target_len >= sizeof mc->target) {
        answer(mc, 414);
        return;
    }
    memcpy(mc->target, h->target, h->target_len);
    mc->req.method = h->method;
    mc->req.path = mc->target + off;
    mc->req.path_len = h->path_len;
    size_t after = off + h->path_len;
    if (after < h->target_len && h->target[after] == '?') {
        mc->req.query = mc->target + after + 1;
        mc->req.query_len = h->target_len - after - 1;
    } else {
        mc->req.query = mc->target + h->target_len;
    }
}

/* The head is complete: answer, or read the body first. */
static void head_done(mconn *mc)
{
    if (mc->is_metrics) {
        answer(mc, m_token_ok(mc) ? 200 : 401); /* --metrics-token-file */
        return;
    }
    if (mc->chunked) {
        answer(mc, 501);
        return;
    }
    if (mc->req.method != HTTP_POST || mc->content_length <= 0) {
        dispatch(mc, "", 0);
        return;
    }
    if ((uint64_t)mc->content_length > CONSOLE_MAX_BODY_BYTES) {
        answer(mc, 413);
        return;
    }
    mc->state = MC_BODY;
}

static void on_read(sq_conn *c, sq_buf *in)
{
    mconn *mc = sq_conn_data(c);
    while (mc->state == MC_READING) {
        size_t used;
        http_head_result r = http_head_feed(&mc->head, sq_buf_peek(in), sq_buf_len(in), &used);
        int status = 0;
        if (r == HTTP_HEAD_REQUEST)
            note_request(mc);
        else if (r == HTTP_HEAD_FIELD && (status = note_field(mc, &mc->head)) != 0)
            answer(mc, status);
        else if (r == HTTP_HEAD_DONE)
            head_done(mc);
        else if (r == HTTP_HEAD_ERROR)
            answer(mc, mc->head.status);
        sq_buf_consume(in, used);
        if (r == HTTP_HEAD_MORE)
            break;
    }
    if (mc->state == MC_BODY) {
        /* The body stays in the input until all of it is in: in_limit leaves room for it. */
        if (sq_buf_len(in) < (size_t)mc->content_length)
            return;
        dispatch(mc, sq_buf_peek(in), (size_t)mc->content_length);
    }
    /* What follows the request (a pipelined one) is not read. */
    if (mc->state != MC_READING)
        sq_buf_consume(in, sq_buf_len(in));
}

/* The peer half-closed: a reply still being made (a flush or a move in flight) is sent when it
 * is done, and closes then; otherwise the engine's default, a graceful close. */
static void on_eof(sq_conn *c)
{
    mconn *mc = sq_conn_data(c);
    if (mc->state != MC_PENDING)
        sq_conn_close(c);
}

static void on_drain(sq_conn *c)
{
    mconn *mc = sq_conn_data(c);
    if (mc->state == MC_STREAMING)
        pump(mc);
}

static void on_timer(sq_loop *loop, sq_timer *t)
{
    (void)loop;
    mconn *mc = t->data;
    if (mc->state == MC_READING || mc->state == MC_BODY)
        answer(mc, 408);
    else if (mc->state == MC_STREAMING)
        pump(mc);
}

static void before_wait(sq_loop *loop, void *data);

/* Whether l can be reached from this host only (a getsockname() failure counts as exposed). */
static bool listener_is_loopback(const sq_listener *l)
{
    struct sockaddr_storage ss;
    socklen_t len;
    return sq_listener_address(l, &ss, &len) == 0 &&
           addr_is_loopback((const struct sockaddr *)&ss, len);
}

static void metrics_free(metrics *m)
{
    sq_loop_remove_before_wait(m->loop, before_wait, m);
    console_stop(m->console);
    free(m);
}

static void unjournal(metrics *m, mconn *mc)
{
    if (!mc->journaled)
        return;
    list_remove(&m->journaled, &mc->journal_link);
    mc->journaled = false;
}

/* After the server's hook wrote (and synced) the log: a console reply of this pass that
 * acknowledges a change whose write failed must not go out, as for a session (server.c,
 * abort_unsynced): resetting the connection drops it. */
static void before_wait(sq_loop *loop, void *data)
{
    (void)loop;
    metrics *m = data;
    if (list_empty(&m->journaled))
        return;
    bool failed = console_log_failed(m->console);
    while (!list_empty(&m->journaled)) {
        mconn *mc = LIST_ENTRY(m->journaled.first, mconn, journal_link);
        unjournal(m, mc);
        if (failed)
            sq_conn_abort(mc->conn);
    }
}

static void on_close(sq_conn *c, int err)
{
    (void)err;
    mconn *mc = sq_conn_data(c);
    metrics *m = mc->m;
    sq_timer_stop(m->loop, &mc->timer);
    console_cancel(m->console, mc->call);
    unjournal(m, mc);
    list_remove(&m->conns, &mc->link);
    m->conn_count--;
    free(mc);
    if (m->stopping && list_empty(&m->conns))
        metrics_free(m);
}

static void on_accept(sq_listener *l, sq_conn *c, void *data)
{
    (void)l;
    metrics *m = data;
    if (m->conn_count >= METRICS_MAX_CONNS) {
        sq_conn_close(c);
        return;
    }
    mconn *mc = calloc(1, sizeof *mc);
    if (!mc) {
        fprintf(stderr, "synqd: metrics: accepting a connection: out of memory\n");
        sq_conn_abort(c);
        return;
    }
    mc->m = m;
    mc->conn = c;
    mc->state = MC_READING;
    mc->content_length = -1;
    http_head_init_flags(&mc->head, HTTP_ACCEPT_POST | HTTP_REPORT_FIELDS);
    mc->head.token = m->token;
    sq_timer_init(&mc->timer, on_timer, mc);
    if (sq_timer_start(m->loop, &mc->timer, METRICS_REQUEST_TIMEOUT_MS) != 0) {
        fprintf(stderr, "synqd: metrics: arming a request timer: out of memory\n");
        free(mc);
        sq_conn_abort(c);
        return;
    }
    static const sq_conn_handlers handlers = {
        .on_read = on_read, .on_eof = on_eof, .on_drain = on_drain, .on_close = on_close};
    sq_conn_set_handlers(c, &handlers, mc);
    list_prepend(&m->conns, &mc->link);
    m->conn_count++;
}

void metrics_opts_default(metrics_opts *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->max_tubes = METRICS_DEFAULT_MAX_TUBES;
}

int metrics_start(sq_loop *loop, server *srv, const metrics_opts *o, metrics **out)
{
    const char *host = o->host;
    uint16_t port = o->port;
    metrics *m = calloc(1, sizeof *m);
    if (!m) {
        fprintf(stderr, "synqd: metrics: allocating the endpoint: out of memory\n");
        return -ENOMEM;
    }
    m->loop = loop;
    m->srv = srv;
    m->max_tubes = o->max_tubes;
    m->tube_patterns = o->tube_patterns;
    m->token = o->token;

    sq_listen_opts lo = {0};
    lo.host = host;
    lo.port = port;
    sq_conn_opts_default(&lo.conn);
    /* Lines are consumed as they complete, so the buffer holds at most one
     * partial line of the head plus one read; a POST's body is held whole. */
    lo.conn.read_chunk = 4096;
    lo.conn.in_limit = METRICS_MAX_HEAD_BYTES + CONSOLE_MAX_BODY_BYTES + lo.conn.read_chunk;
    /* The streaming pace (module comment): a slice fills the output past the high-water mark
     * by less than one tube's lines, so a scrape stays far below the output limit, which
     * is there for the console's replies (written whole). */
    lo.conn.out_high_water = METRICS_CHUNK_BYTES;
    lo.conn.out_low_water = METRICS_CHUNK_BYTES / 4;
    lo.conn.out_limit = CONSOLE_MAX_REPLY_BYTES + 4096;
    lo.conn.write_timeout_ms = METRICS_WRITE_TIMEOUT_MS;
    if (o->tls)
        lo.conn.handshake_timeout_ms = SYNQD_TLS_HANDSHAKE_TIMEOUT_MS;
    int err = sq_tcp_listen(loop, &lo, on_accept, m, &m->listener);
    if (err == 0 && o->tls)
        err = sq_listener_set_tls(m->listener, o->tls);
    if (err) {
        fprintf(stderr, "synqd: metrics: listening on %s:%u: %s\n", host ? host : "127.0.0.1",
                (unsigned)port, sq_strerror(err));
        if (m->listener)
            sq_listener_close(m->listener);
        metrics_free(m);
        return err;
    }
    m->tls = o->tls != NULL;
    /* Over TLS the token is as safe off loopback as the queue's own TLS port; what is left to
     * say is that, without a token, anyone who reaches the port reads the figures. */
    bool exposed = !listener_is_loopback(m->listener);
    if (exposed && !(m->tls && m->token))
        (void)exposure_warn(m->listener, "metrics: listening",
                            m->token ? "can read the bearer token, which HTTP sends in clear text"
                                     : "can read the queues' figures");
    console_opts co = {.token_file = o->token_file, .loopback = !exposed};
    if ((err = console_start(loop, srv, &co, &m->console)) != 0 ||
        (err = sq_loop_add_before_wait(loop, before_wait, m)) != 0) {
        sq_listener_close(m->listener);
        console_stop(m->console);
        free(m);
        return err;
    }
    *out = m;
    return 0;
}

int metrics_reload_tls(metrics *m, struct sq_tls_ctx *ctx)
{
    if (!m->tls)
        return -ENOTSUP;
    int err = sq_listener_set_tls(m->listener, ctx);
    if (err)
        fprintf(stderr, "synqd: SIGHUP: http: %s\n", sq_strerror(err));
    return err;
}

uint16_t metrics_port(const metrics *m)
{
    return sq_listener_port(m->listener);
}

void metrics_stop(metrics *m)
{
    if (!m)
        return;
    m->stopping = true;
    sq_listener_close(m->listener);
    m->listener = NULL;
    if (list_empty(&m->conns)) {
        metrics_free(m);
        return;
    }
    /* on_close runs later, from the loop, so the list stays intact here. */
    for (list_node *n = m->conns.first; n; n = n->next) {
        mconn *mc = LIST_ENTRY(n, mconn, link);
        sq_timer_stop(m->loop, &mc->timer);
        console_cancel(m->console, mc->call);
        mc->call = NULL;
        sq_conn_abort(mc->conn);
    }
}
