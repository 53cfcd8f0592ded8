/*
 * metrics: the Prometheus endpoint (contract and state machine in
 * metrics.h). Two halves: the exposition document, built from the same
 * store and server accessors as `stats`; and the connection handling of a
 * deliberately small HTTP/1.x server, which reads the request head with
 * the pure reader in http.c, answers once and closes.
 *
 * Why so little HTTP: a scraper sends one GET and reads until the server
 * closes, so keep-alive, chunked bodies and request bodies buy nothing here
 * and would each be a way for a peer to hold resources. Everything a
 * connection can make the server hold is bounded: the head by
 * METRICS_MAX_HEAD_BYTES, the time by METRICS_REQUEST_TIMEOUT_MS, the
 * number of connections by METRICS_MAX_CONNS.
 *
 * The document is formatted into one buffer owned by the metrics object and
 * reused for every scrape, so a scrape allocates only when the document
 * outgrows the largest one so far.
 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exposure.h"
#include "http.h"
#include "list.h"
#include "proto.h"
#include "server.h"
#include "stats.h"
#include "store.h"
#include "synq/tcp.h"
#include "synq/timer.h"
#include "synq_version.h"

typedef enum {
    MC_READING,  /* the request head is arriving */
    MC_ANSWERED, /* the reply is queued and the connection is closing */
} mconn_state;

typedef struct mconn mconn;
struct mconn {
    metrics *m;
    sq_conn *conn;
    http_head head;
    mconn_state state;
    bool head_only;    /* HEAD: the same headers, no body */
    sq_timer deadline; /* whole-head deadline, armed at accept */
    list_node link;    /* metrics.conns */
};

struct metrics {
    sq_loop *loop;
    server *srv;
    sq_listener *listener;
    list conns; /* mconn.link, newest first */
    size_t conn_count;
    sq_buf doc; /* the exposition document, reused for every scrape */
    bool stopping;
};

/* ---- the exposition document ---- */

/* Appends stop at the first error, which is kept: the formatting code reads
 * as a list of metrics instead of a list of error checks. */
typedef struct writer {
    sq_buf *out;
    int err;
} writer;

typedef struct label {
    const char *key;
    const char *value;
    size_t value_len;
} label;

static void put_bytes(writer *w, const char *s, size_t len)
{
    if (!w->err)
        w->err = sq_buf_append(w->out, s, len);
}

static void put_str(writer *w, const char *s)
{
    put_bytes(w, s, strlen(s));
}

int metrics_escape_label(sq_buf *out, const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *esc = s[i] == '\\'   ? "\\\\"
                          : s[i] == '"'  ? "\\\""
                          : s[i] == '\n' ? "\\n"
                                         : NULL;
        if (!esc)
            continue;
        int err = sq_buf_append(out, s + start, i - start);
        if (!err)
            err = sq_buf_append(out, esc, 2);
        if (err)
            return err;
        start = i + 1;
    }
    return sq_buf_append(out, s + start, len - start);
}

/* "# HELP" and "# TYPE" for a family; its samples must follow at once,
 * since the format wants every sample of a family in one group. */
static void family(writer *w, const char *name, const char *type, const char *help)
{
    if (!w->err)
        w->err = sq_buf_printf(w->out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k="v",...} value */
static void sample(writer *w, const char *name, const label *labels, size_t nlabels, uint64_t v)
{
    put_str(w, name);
    for (size_t i = 0; i < nlabels; i++) {
        put_str(w, i == 0 ? "{" : ",");
        put_str(w, labels[i].key);
        put_bytes(w, "=\"", 2);
        if (!w->err)
            w->err = metrics_escape_label(w->out, labels[i].value, labels[i].value_len);
        put_bytes(w, "\"", 1);
    }
    if (nlabels)
        put_bytes(w, "}", 1);
    if (!w->err)
        w->err = sq_buf_printf(w->out, " %" PRIu64 "\n", v);
}

static void metric(writer *w, const char *name, const char *type, const char *help, uint64_t v)
{
    family(w, name, type, help);
    sample(w, name, NULL, 0, v);
}

static void metric_labelled(writer *w, const char *name, const char *key, const char *value,
                            uint64_t v)
{
    label l = {key, value, strlen(value)};
    sample(w, name, &l, 1, v);
}

static void format_jobs(writer *w, const store_stats *ss)
{
    family(w, "synq_jobs", "gauge",
           "Jobs by state (urgent: ready jobs with priority below 1024, a subset of ready).");
    metric_labelled(w, "synq_jobs", "state", "ready", ss->ready);
    metric_labelled(w, "synq_jobs", "state", "reserved", ss->reserved);
    metric_labelled(w, "synq_jobs", "state", "delayed", ss->delayed);
    metric_labelled(w, "synq_jobs", "state", "buried", ss->buried);
    metric_labelled(w, "synq_jobs", "state", "urgent", ss->urgent);
    metric(
        w, "synq_jobs_total", "counter",
        "Jobs put since the server started, plus jobs restored from the log (total-jobs of stats).",
        ss->total_jobs);
    metric(w, "synq_job_timeouts_total", "counter",
           "Reservations that ended because the job's time-to-run ran out.", ss->job_timeouts);
}

static void format_commands(writer *w, const synqd_counters *c)
{
    family(w, "synq_commands_total", "counter",
           "Protocol commands received, as the cmd-* counters of stats.");
    for (int t = 0; t < CMD_COUNT_; t++) {
        const char *name = proto_cmd_stat_name((proto_cmd_type)t);
        if (name && strncmp(name, "cmd-", 4) == 0)
            metric_labelled(w, "synq_commands_total", "cmd", name + 4, c->cmd_counts[t]);
    }
}

static void format_clients(writer *w, const synqd_counters *c, const store_stats *ss)
{
    metric(w, "synq_connections", "gauge", "Open protocol connections.", c->current_connections);
    metric(w, "synq_connections_total", "counter", "Protocol connections accepted.",
           c->total_connections);
    metric(w, "synq_producers", "gauge", "Open connections that have issued a put.",
           c->current_producers);
    metric(w, "synq_workers", "gauge", "Open connections that have issued a reserve.",
           c->current_workers);
    metric(w, "synq_waiting", "gauge", "Connections waiting in reserve for a job.", ss->waiting);
    metric(w, "synq_tubes", "gauge", "Tubes that exist.", ss->tubes);
}

/* Each time an overload limit bit (docs/operations.md). */
static void format_overload(writer *w, const synqd_counters *c, const synqd_overload_stats *o)
{
    metric(w, "synq_pass_budget_yields_total", "counter",
           "Times a connection stopped running commands for this loop pass (--pass-commands).",
           c->budget_yields);
    metric(w, "synq_output_soft_limit_total", "counter",
           "Times a connection's commands waited for its unsent replies to drain "
           "(--output-soft-limit, or --output-total-limit).",
           c->output_stops);
    metric(w, "synq_output_total_limit_total", "counter",
           "Times a connection was held because all connections' unsent replies passed "
           "--output-total-limit.",
           o->output_total_stops);
    metric(w, "synq_output_closed_total", "counter",
           "Connections closed for their unsent replies (--output-limit, --output-timeout-ms).",
           o->output_closes);
    metric(w, "synq_accept_emfile_total", "counter",
           "accept() failures for lack of file descriptors.", o->accept_emfile);
    metric(w, "synq_accept_shed_total", "counter",
           "Connections accepted and closed at once because descriptors ran out.", o->accept_shed);
}

/* One pass over the tubes per family keeps each family's samples together,
 * as the format requires, without buffering every tube's stats first. */
static void format_tubes(writer *w, const store *st)
{
    static const char *const states[] = {"ready", "reserved", "delayed", "buried", "urgent"};
    size_t n = store_tube_count(st);
    tube_stats ts;

    family(w, "synq_tube_jobs", "gauge",
           "Jobs in the tube by state (urgent is a subset of ready).");
    for (size_t i = 0; i < n && !w->err; i++) {
        tube_get_stats(st, store_tube_at(st, i), &ts);
        const uint64_t counts[] = {ts.ready, ts.reserved, ts.delayed, ts.buried, ts.urgent};
        for (size_t k = 0; k < sizeof states / sizeof states[0]; k++) {
            label l[2] = {{"tube", ts.name, ts.name_len}, {"state", states[k], strlen(states[k])}};
            sample(w, "synq_tube_jobs", l, 2, counts[k]);
        }
    }
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"synq_tube_paused", "gauge", "1 while the tube is paused (pause-tube), else 0."},
        {"synq_tube_waiting", "gauge", "Connections waiting in reserve on the tube."},
        {"synq_tube_jobs_total", "counter", "Jobs put into the tube since it was created."},
    };
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        family(w, fams[f].name, fams[f].type, fams[f].help);
        for (size_t i = 0; i < n && !w->err; i++) {
            tube_get_stats(st, store_tube_at(st, i), &ts);
            uint64_t v = f == 0 ? (ts.pause_s > 0) : f == 1 ? ts.waiting : ts.total_jobs;
            label l = {"tube", ts.name, ts.name_len};
            sample(w, fams[f].name, &l, 1, v);
        }
    }
}

static void format_binlog(writer *w, const synqd_binlog_stats *bs)
{
    metric(w, "synq_binlog_records_written_total", "counter",
           "Records appended to the write-ahead log.", bs->records_written);
    metric(w, "synq_binlog_records_migrated_total", "counter",
           "Records rewritten into newer segments by compaction.", bs->records_migrated);
    family(w, "synq_binlog_bytes", "gauge",
           "Bytes in log segments: live records still needed, dead ones awaiting compaction.");
    metric_labelled(w, "synq_binlog_bytes", "kind", "live", bs->bytes_live);
    metric_labelled(w, "synq_binlog_bytes", "kind", "dead", bs->bytes_dead);
    metric(w, "synq_binlog_fsyncs_total", "counter", "fdatasync calls made by the log.",
           bs->fsyncs);
    metric(w, "synq_binlog_current_index", "gauge", "Index of the segment being appended to.",
           bs->current_index);
    metric(w, "synq_binlog_oldest_index", "gauge", "Index of the oldest segment kept.",
           bs->oldest_index);
}

int metrics_format(server *srv, sq_buf *out)
{
    writer w = {out, 0};
    synqd_snapshot snap;
    server_snapshot(srv, &snap);
    const store *st = server_store(srv);
    store_stats ss;
    store_get_stats(st, &ss);

    format_jobs(&w, &ss);
    format_commands(&w, &snap.counters);
    format_clients(&w, &snap.counters, &ss);
    format_overload(&w, &snap.counters, &snap.overload);
    format_tubes(&w, st);
    metric(&w, "synq_uptime_seconds", "gauge", "Seconds since the server started.", snap.uptime_s);
    metric(&w, "synq_draining", "gauge", "1 in drain mode (SIGUSR1: put answers DRAINING).",
           ss.draining ? 1 : 0);
    family(&w, "synq_build_info", "gauge",
           "Always 1; the labels say which synqd this is and what its event loop waits on.");
    const char *backend = snap.io_backend;
    label info[2] = {{"version", SYNQ_VERSION, strlen(SYNQ_VERSION)},
                     {"io_backend", backend, strlen(backend)}};
    sample(&w, "synq_build_info", info, 2, 1);
    metric(&w, "synq_job_memory_bytes", "gauge",
           "Memory counted for the jobs held (bodies plus a fixed cost each): what "
           "--max-memory bounds.",
           snap.job_memory);
    metric(&w, "synq_job_memory_limit_bytes", "gauge",
           "The --max-memory bound; 0 when there is none.", snap.max_memory);
    store_memory sm;
    store_get_memory(st, &sm);
    family(&w, "synq_store_memory_bytes", "gauge",
           "Bytes the job store holds, by part: job records (slab chunks), the id directory, "
           "the ready sets, the delay heaps and TTR FIFOs.");
    metric_labelled(&w, "synq_store_memory_bytes", "part", "records", sm.records);
    metric_labelled(&w, "synq_store_memory_bytes", "part", "directory", sm.directory);
    metric_labelled(&w, "synq_store_memory_bytes", "part", "ready", sm.ready);
    metric_labelled(&w, "synq_store_memory_bytes", "part", "heaps", sm.heaps);
    /* The log's families exist only with -b, as its fields in `stats`: a
     * zero would read as "a log that never wrote", which is a different
     * thing from "no log". */
    if (snap.has_log)
        format_binlog(&w, &snap.binlog);
    return w.err;
}

/* ---- HTTP ---- */

static const char *status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

/* Queues the reply and closes gracefully: the engine sends it, half-closes
 * and discards whatever else the client sends until its FIN. */
static void answer(mconn *mc, int status)
{
    metrics *m = mc->m;
    mc->state = MC_ANSWERED;
    sq_timer_stop(m->loop, &mc->deadline);

    const char *type = "text/plain; charset=utf-8";
    const char *body = NULL;
    size_t body_len = 0;
    char err_body[64];
    if (status == 200) {
        sq_buf_clear(&m->doc);
        int err = metrics_format(m->srv, &m->doc);
        if (err) {
            fprintf(stderr, "synqd: metrics: formatting the document: %s\n", sq_strerror(err));
            status = 500;
        } else {
            type = "text/plain; version=0.0.4";
            body = sq_buf_peek(&m->doc);
            body_len = sq_buf_len(&m->doc);
        }
    }
    if (status != 200) {
        int n = snprintf(err_body, sizeof err_body, "%d %s\n", status, status_reason(status));
        body = err_body;
        body_len = n > 0 ? (size_t)n : 0;
    }
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "%s"
                     "Connection: close\r\n"
                     "\r\n",
                     status, status_reason(status), type, body_len,
                     status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof head) {
        fprintf(stderr, "synqd: metrics: formatting a reply head failed\n");
        sq_conn_abort(mc->conn);
        return;
    }
    struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, mc->head_only ? 0 : body_len}};
    int err = sq_conn_writev(mc->conn, iov, 2);
    if (err) {
        fprintf(stderr, "synqd: metrics: queueing a %zu-byte reply: %s\n", body_len,
                sq_strerror(err));
        sq_conn_abort(mc->conn);
        return;
    }
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
    while (mc->state != MC_ANSWERED) {
        size_t used;
        http_head_result r = http_head_feed(&mc->head, sq_buf_peek(in), sq_buf_len(in), &used);
        if (r == HTTP_HEAD_REQUEST) {
            mc->head_only = mc->head.method == HTTP_HEAD;
            if (!path_ok(&mc->head))
                answer(mc, 404);
        } else if (r == HTTP_HEAD_DONE) {
            answer(mc, 200);
        } else if (r == HTTP_HEAD_ERROR) {
            answer(mc, mc->head.status);
        }
        sq_buf_consume(in, used);
        if (r == HTTP_HEAD_MORE)
            break;
    }
    if (mc->state == MC_ANSWERED)
        sq_buf_consume(in, sq_buf_len(in));
}

static void on_deadline(sq_loop *loop, sq_timer *t)
{
    (void)loop;
    mconn *mc = t->data;
    if (mc->state != MC_ANSWERED)
        answer(mc, 408);
}

static void metrics_free(metrics *m)
{
    sq_buf_free(&m->doc);
    free(m);
}

static void on_close(sq_conn *c, int err)
{
    (void)err;
    mconn *mc = sq_conn_data(c);
    metrics *m = mc->m;
    sq_timer_stop(m->loop, &mc->deadline);
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
    sq_timer_init(&mc->deadline, on_deadline, mc);
    if (sq_timer_start(m->loop, &mc->deadline, METRICS_REQUEST_TIMEOUT_MS) != 0) {
        fprintf(stderr, "synqd: metrics: arming a request timer: out of memory\n");
        free(mc);
        sq_conn_abort(c);
        return;
    }
    static const sq_conn_handlers handlers = {.on_read = on_read, .on_close = on_close};
    sq_conn_set_handlers(c, &handlers, mc);
    list_prepend(&m->conns, &mc->link);
    m->conn_count++;
}

int metrics_start(sq_loop *loop, server *srv, const char *host, uint16_t port, metrics **out)
{
    metrics *m = calloc(1, sizeof *m);
    if (!m) {
        fprintf(stderr, "synqd: metrics: allocating the endpoint: out of memory\n");
        return -ENOMEM;
    }
    m->loop = loop;
    m->srv = srv;
    sq_buf_init(&m->doc, SQ_BUF_NO_LIMIT);

    sq_listen_opts lo = {0};
    lo.host = host;
    lo.port = port;
    sq_conn_opts_default(&lo.conn);
    /* Lines are consumed as they complete, so the buffer holds at most one
     * partial line of the head plus one read. */
    lo.conn.read_chunk = 4096;
    lo.conn.in_limit = METRICS_MAX_HEAD_BYTES + lo.conn.read_chunk;
    int err = sq_tcp_listen(loop, &lo, on_accept, m, &m->listener);
    if (err) {
        fprintf(stderr, "synqd: metrics: listening on %s:%u: %s\n", host ? host : "127.0.0.1",
                (unsigned)port, sq_strerror(err));
        metrics_free(m);
        return err;
    }
    (void)exposure_warn(m->listener, "metrics: listening", "can read the queues' figures");
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
        sq_timer_stop(m->loop, &mc->deadline);
        sq_conn_abort(mc->conn);
    }
}
