/*
 * metrics: the Prometheus endpoint (contract and state machine in
 * metrics.h): the connection handling of a deliberately small HTTP/1.x
 * server, which reads the request head with the pure reader in http.c,
 * streams the document metrics_doc.c formats, and closes.
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

#include "exposure.h"
#include "http.h"
#include "list.h"
#include "metrics_doc.h"
#include "server.h"
#include "synq/tcp.h"
#include "synq/timer.h"

typedef enum {
    MC_READING,   /* the request head is arriving */
    MC_STREAMING, /* the head is answered; the document goes out a slice at a time */
    MC_ANSWERED,  /* everything is queued and the connection is closing */
} mconn_state;

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
    case 408:
        return "Request Timeout";
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

/* The path this endpoint serves, decided as soon as the request line is
 * in, before any header: a wrong path is answered 404 at once. */
static bool path_ok(const http_head *h)
{
    return h->path_len == strlen("/metrics") && memcmp(h->path, "/metrics", h->path_len) == 0;
}

static void on_read(sq_conn *c, sq_buf *in)
{
    mconn *mc = sq_conn_data(c);
    while (mc->state == MC_READING) {
        size_t used;
        http_head_result r = http_head_feed(&mc->head, sq_buf_peek(in), sq_buf_len(in), &used);
        if (r == HTTP_HEAD_REQUEST) {
            mc->head_only = mc->head.method == HTTP_HEAD;
            if (!path_ok(&mc->head))
                answer(mc, 404);
        } else if (r == HTTP_HEAD_DONE) {
            answer(mc, m_token_ok(mc) ? 200 : 401);
        } else if (r == HTTP_HEAD_ERROR) {
            answer(mc, mc->head.status);
        }
        sq_buf_consume(in, used);
        if (r == HTTP_HEAD_MORE)
            break;
    }
    /* What follows the head (a body, a pipelined request) is not read. */
    if (mc->state != MC_READING)
        sq_buf_consume(in, sq_buf_len(in));
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
    if (mc->state == MC_READING)
        answer(mc, 408);
    else if (mc->state == MC_STREAMING)
        pump(mc);
}

static void metrics_free(metrics *m)
{
    free(m);
}

static void on_close(sq_conn *c, int err)
{
    (void)err;
    mconn *mc = sq_conn_data(c);
    metrics *m = mc->m;
    sq_timer_stop(m->loop, &mc->timer);
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
    http_head_init(&mc->head);
    mc->head.token = m->token;
    sq_timer_init(&mc->timer, on_timer, mc);
    if (sq_timer_start(m->loop, &mc->timer, METRICS_REQUEST_TIMEOUT_MS) != 0) {
        fprintf(stderr, "synqd: metrics: arming a request timer: out of memory\n");
        free(mc);
        sq_conn_abort(c);
        return;
    }
    static const sq_conn_handlers handlers = {
        .on_read = on_read, .on_drain = on_drain, .on_close = on_close};
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
     * partial line of the head plus one read. */
    lo.conn.read_chunk = 4096;
    lo.conn.in_limit = METRICS_MAX_HEAD_BYTES + lo.conn.read_chunk;
    /* The streaming pace (module comment): a slice fills the output past the high-water mark
     * by less than one tube's lines, so the output limit is never reached. */
    lo.conn.out_high_water = METRICS_CHUNK_BYTES;
    lo.conn.out_low_water = METRICS_CHUNK_BYTES / 4;
    lo.conn.out_limit = 4 * METRICS_CHUNK_BYTES;
    lo.conn.write_timeout_ms = METRICS_WRITE_TIMEOUT_MS;
    int err = sq_tcp_listen(loop, &lo, on_accept, m, &m->listener);
    if (err) {
        fprintf(stderr, "synqd: metrics: listening on %s:%u: %s\n", host ? host : "127.0.0.1",
                (unsigned)port, sq_strerror(err));
        metrics_free(m);
        return err;
    }
    (void)exposure_warn(m->listener, "metrics: listening",
                        m->token ? "can read the bearer token, which HTTP sends in clear text"
                                 : "can read the queues' figures");
    *out = m;
    return 0;
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
        sq_conn_abort(mc->conn);
    }
}
