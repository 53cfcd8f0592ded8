/*
 * synq-echoload: a load generator for echo servers, on the synq engine.
 *
 * N connections each keep P messages of S bytes in flight. Every message
 * is stamped with its connection and sequence number in its first (up to)
 * eight bytes, the rest is a fixed pattern; the echoed stream is checked
 * message by message, so a lost, duplicated, reordered or corrupted byte
 * is an error. A message's latency is from the moment it was queued to
 * the moment its last echoed byte was parsed.
 *
 * As in synq-bench, nothing is allocated per message: each connection has
 * a pre-filled batch buffer of P messages (only the stamps change) and a
 * ring of send times; refills are one write per read callback.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synq/loop.h"
#include "synq/tcp.h"
#include "synq/timer.h"
#include "synq/tls.h"

#include "hist.h"
#include "loadgen.h"

#define STAMP_BYTES 8
#define MAX_MSG_BYTES (1 << 20)

typedef struct echoload echoload;

typedef struct econn {
    echoload *e;
    sq_conn *conn;
    unsigned index;
    bool aborted;
    uint64_t next_send_seq, next_recv_seq;
    uint64_t *sent_ns; /* ring indexed by seq % pipeline */
    char *batch;       /* pipeline messages, pattern pre-filled */
} econn;

struct echoload {
    const char *host;
    sq_tls_ctx *tls;      /* --tls: connections speak TLS with it */
    const char *tls_ca;   /* --tls-ca FILE (default: the system's CAs) */
    const char *tls_name; /* --tls-name NAME checked in the server's certificate */
    uint16_t port;
    unsigned conns, pipeline;
    size_t msg_bytes;
    double duration_s;

    sq_loop *loop;
    econn *ec;
    char *pattern; /* msg_bytes of filler */
    unsigned connecting, open;
    bool started, done;
    uint64_t start_ns, end_ns, msgs;
    lg_errors errors;
    hist lat;
    sq_timer deadline, progress, linger;
    uint64_t progress_last_msgs, progress_last_ns;
};

static void finish(echoload *e);

/* The stamp of a message: unique per connection and sequence number. */
static uint64_t stamp_of(const econn *ec, uint64_t seq)
{
    return ((uint64_t)ec->index << 40) ^ seq ^ 0x5a5a5a5a00000000ull;
}

static void put_stamp(char *msg, size_t msg_bytes, uint64_t stamp)
{
    size_t n = msg_bytes < STAMP_BYTES ? msg_bytes : STAMP_BYTES;
    for (size_t i = 0; i < n; i++)
        msg[i] = (char)(stamp >> (8 * i));
}

static bool stamp_matches(const char *msg, size_t msg_bytes, uint64_t stamp)
{
    size_t n = msg_bytes < STAMP_BYTES ? msg_bytes : STAMP_BYTES;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)msg[i] != (unsigned char)(stamp >> (8 * i)))
            return false;
    return true;
}

static void conn_abort(econn *ec)
{
    ec->aborted = true;
    sq_conn_abort(ec->conn);
}

/* Tops the connection up to P messages in flight with one write. */
static void refill(econn *ec, uint64_t now)
{
    echoload *e = ec->e;
    if (e->done || ec->aborted)
        return;
    unsigned in_flight = (unsigned)(ec->next_send_seq - ec->next_recv_seq);
    unsigned n = e->pipeline - in_flight;
    if (n == 0)
        return;
    for (unsigned i = 0; i < n; i++) {
        uint64_t seq = ec->next_send_seq++;
        put_stamp(ec->batch + (size_t)i * e->msg_bytes, e->msg_bytes, stamp_of(ec, seq));
        ec->sent_ns[seq % e->pipeline] = now;
    }
    int rc = sq_conn_write(ec->conn, ec->batch, (size_t)n * e->msg_bytes);
    if (rc < 0) {
        lg_error(&e->errors, "conn %u: sq_conn_write: %s", ec->index, sq_strerror(rc));
        conn_abort(ec);
    }
}

static void on_read(sq_conn *c, sq_buf *in)
{
    econn *ec = sq_conn_data(c);
    echoload *e = ec->e;
    if (e->done || ec->aborted) {
        sq_buf_consume(in, sq_buf_len(in));
        return;
    }
    uint64_t now = lg_now_ns();
    const char *p = sq_buf_peek(in);
    size_t len = sq_buf_len(in), used = 0;
    size_t stamp_len = e->msg_bytes < STAMP_BYTES ? e->msg_bytes : STAMP_BYTES;
    while (len - used >= e->msg_bytes) {
        const char *msg = p + used;
        if (ec->next_recv_seq == ec->next_send_seq) {
            lg_error(&e->errors, "conn %u: received bytes that were never sent", ec->index);
            conn_abort(ec);
            break;
        }
        uint64_t seq = ec->next_recv_seq++;
        if (!stamp_matches(msg, e->msg_bytes, stamp_of(ec, seq)) ||
            memcmp(msg + stamp_len, e->pattern + stamp_len, e->msg_bytes - stamp_len) != 0) {
            char text[64];
            lg_printable(text, sizeof text, msg, e->msg_bytes < 16 ? e->msg_bytes : 16);
            lg_error(&e->errors, "conn %u: message %llu echoed wrong (starts \"%s\")", ec->index,
                     (unsigned long long)seq, text);
            conn_abort(ec);
            break;
        }
        hist_record(&e->lat, now - ec->sent_ns[seq % e->pipeline]);
        e->msgs++;
        used += e->msg_bytes;
    }
    sq_buf_consume(in, ec->aborted ? len : used);
    refill(ec, now);
}

static void on_close(sq_conn *c, int err)
{
    econn *ec = sq_conn_data(c);
    echoload *e = ec->e;
    ec->conn = NULL;
    e->open--;
    if (!e->done) {
        /* A connection we reset ourselves was reported when we did. */
        if (!ec->aborted)
            lg_error(&e->errors, "conn %u: connection closed during the run: %s", ec->index,
                     err ? sq_strerror(err) : "closed by the server");
        if (e->open == 0)
            finish(e);
    } else if (e->open == 0) {
        sq_loop_stop(e->loop);
    }
}

static const sq_conn_handlers echo_handlers = {
    .on_read = on_read,
    .on_close = on_close,
};

static void on_progress(sq_loop *loop, sq_timer *t)
{
    echoload *e = t->data;
    uint64_t now = lg_now_ns();
    double interval_s = (double)(now - e->progress_last_ns) / 1e9;
    double rate = interval_s > 0 ? (double)(e->msgs - e->progress_last_msgs) / interval_s : 0;
    lg_progress("msgs", (double)(now - e->start_ns) / 1e9, e->msgs, rate, e->errors.count);
    e->progress_last_msgs = e->msgs;
    e->progress_last_ns = now;
    sq_timer_start(loop, t, 1000);
}

static void on_deadline(sq_loop *loop, sq_timer *t)
{
    (void)loop;
    finish(t->data);
}

static void on_linger(sq_loop *loop, sq_timer *t)
{
    (void)t;
    sq_loop_stop(loop);
}

static void start_run(echoload *e)
{
    e->started = true;
    e->start_ns = lg_now_ns();
    if (e->open == 0) {
        finish(e);
        return;
    }
    e->progress_last_ns = e->start_ns;
    sq_timer_start(e->loop, &e->deadline, (uint64_t)(e->duration_s * 1000.0));
    if (lg_progress_wanted())
        sq_timer_start(e->loop, &e->progress, 1000);
    for (unsigned i = 0; i < e->conns; i++)
        if (e->ec[i].conn)
            refill(&e->ec[i], e->start_ns);
}

static void on_connect(sq_conn *c, int err, void *data)
{
    econn *ec = data;
    echoload *e = ec->e;
    e->connecting--;
    if (err) {
        lg_error(&e->errors, "conn %u: connect to %s:%u: %s%s%s", ec->index, e->host, e->port,
                 sq_strerror(err), e->tls ? " " : "", e->tls ? sq_tls_last_error() : "");
    } else {
        sq_conn_set_handlers(c, &echo_handlers, ec);
        ec->conn = c;
        e->open++;
        if (e->done)
            sq_conn_close(c);
    }
    if (e->connecting == 0 && !e->started)
        start_run(e);
    else if (e->connecting == 0 && e->done && e->open == 0)
        sq_loop_stop(e->loop);
}

static void finish(echoload *e)
{
    if (e->done)
        return;
    e->done = true;
    e->end_ns = lg_now_ns();
    sq_timer_stop(e->loop, &e->deadline);
    sq_timer_stop(e->loop, &e->progress);
    lg_progress_end();
    for (unsigned i = 0; i < e->conns; i++)
        if (e->ec[i].conn)
            sq_conn_close(e->ec[i].conn);
    if (e->open == 0 && e->connecting == 0)
        sq_loop_stop(e->loop);
    else
        sq_timer_start(e->loop, &e->linger, 3000);
}

static void usage(FILE *f)
{
    fputs("usage: synq-echoload [options]\n"
          "Load generator for echo servers: pipelined messages, every echoed byte checked.\n"
          "\n"
          "  -H HOST[:PORT]  server address, and port if given (default 127.0.0.1)\n"
          "  -p PORT      server port (required)\n"
          "  -c CONNS     connections (default 50)\n"
          "  -P PIPELINE  messages in flight per connection (default 16)\n"
          "  -s BYTES     message size (default 64)\n"
          "  -d SECONDS   run this long (default 5)\n"
          "  --tls        speak TLS (the server's certificate is verified)\n"
          "  --tls-ca FILE   CAs (PEM) to verify it with (default: the system's)\n"
          "  --tls-name NAME the name its certificate must carry (default: not checked)\n"
          "  -h, --help   this text\n"
          "\n"
          "Last line on stdout:\n"
          "  RESULT tool=echoload conns=.. pipeline=.. size=.. msgs=.. secs=.. msgs_per_s=..\n"
          "         mb_per_s=.. p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=.. errors=..\n"
          "The exit status is 1 when any error was seen.\n",
          f);
}

static int parse_options(echoload *e, int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
                                             {"tls", no_argument, NULL, 'T'},
                                             {"tls-ca", required_argument, NULL, 'A'},
                                             {"tls-name", required_argument, NULL, 'N'},
                                             {0, 0, 0, 0}};
    bool tls = false;
    const lg_common common_opts = {&e->host, &e->port, &e->conns, &e->pipeline, &e->duration_s};
    uint64_t v;
    int opt;
    while ((opt = getopt_long(argc, argv, "H:p:c:P:s:d:h", longopts, NULL)) != -1) {
        int common = lg_common_option(&common_opts, opt, optarg);
        if (common < 0)
            return -1;
        if (common > 0)
            continue;
        switch (opt) {
        case 's':
            if (lg_parse_u64("-s", optarg, 1, MAX_MSG_BYTES, &v) < 0)
                return -1;
            e->msg_bytes = (size_t)v;
            break;
        case 'T':
            tls = true;
            break;
        case 'A':
            e->tls_ca = optarg;
            break;
        case 'N':
            e->tls_name = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc || e->port == 0) {
        fputs(optind != argc ? "unexpected argument (see --help)\n" : "-p PORT is required\n",
              stderr);
        return -1;
    }
    if (tls) {
        sq_tls_opts o = {.ca_file = e->tls_ca};
        if (sq_tls_client_new(&o, &e->tls) < 0) {
            fprintf(stderr, "synq-echoload: TLS: %s\n", sq_tls_last_error());
            return -1;
        }
    }
    return 0;
}

static int prepare(echoload *e)
{
    e->pattern = malloc(e->msg_bytes);
    e->ec = calloc(e->conns, sizeof *e->ec);
    if (!e->pattern || !e->ec)
        return -1;
    for (size_t i = 0; i < e->msg_bytes; i++)
        e->pattern[i] = (char)('A' + i % 26);
    for (unsigned i = 0; i < e->conns; i++) {
        econn *ec = &e->ec[i];
        ec->e = e;
        ec->index = i;
        ec->sent_ns = calloc(e->pipeline, sizeof *ec->sent_ns);
        /* Never 0 bytes: parse_options() takes -P and -s from 1 up. */
        /* NOLINTNEXTLINE(clang-analyzer-optin.portability.UnixAPI) */
        ec->batch = malloc((size_t)e->pipeline * e->msg_bytes);
        if (!ec->sent_ns || !ec->batch)
            return -1;
        for (unsigned m = 0; m < e->pipeline; m++)
            memcpy(ec->batch + (size_t)m * e->msg_bytes, e->pattern, e->msg_bytes);
    }
    return 0;
}

static void report(const echoload *e)
{
    double secs = e->end_ns > e->start_ns ? (double)(e->end_ns - e->start_ns) / 1e9 : 0.0;
    double rate = secs > 0 ? (double)e->msgs / secs : 0.0;
    printf("synq-echoload: %s:%u, %u conns, pipeline %u, %zu-byte messages\n", e->host, e->port,
           e->conns, e->pipeline, e->msg_bytes);
    lg_print_latency_line(stdout, "echo round trip", &e->lat);
    printf("RESULT tool=echoload conns=%u pipeline=%u size=%zu msgs=%llu secs=%.2f "
           "msgs_per_s=%.1f mb_per_s=%.2f",
           e->conns, e->pipeline, e->msg_bytes, (unsigned long long)e->msgs, secs, rate,
           rate * (double)e->msg_bytes / 1e6);
    lg_print_percentiles(stdout, &e->lat);
    printf(" errors=%llu\n", (unsigned long long)e->errors.count);
}

int main(int argc, char **argv)
{
    static echoload e = {
        .host = "127.0.0.1",
        .conns = 50,
        .pipeline = 16,
        .msg_bytes = 64,
        .duration_s = 5.0,
    };
    if (parse_options(&e, argc, argv) < 0)
        return 2;
    if (prepare(&e) < 0) {
        fputs("synq-echoload: out of memory\n", stderr);
        return 2;
    }
    hist_init(&e.lat);
    int rc = sq_loop_new(&e.loop);
    if (rc < 0) {
        fprintf(stderr, "synq-echoload: sq_loop_new: %s\n", sq_strerror(rc));
        return 2;
    }
    sq_timer_init(&e.deadline, on_deadline, &e);
    sq_timer_init(&e.progress, on_progress, &e);
    sq_timer_init(&e.linger, on_linger, &e);

    sq_conn_opts opts;
    sq_conn_opts_default(&opts);
    e.connecting = e.conns;
    for (unsigned i = 0; i < e.conns; i++) {
        rc = e.tls ? sq_tcp_connect_tls(e.loop, e.host, e.port, &opts, 5000, e.tls, e.tls_name,
                                        on_connect, &e.ec[i])
                   : sq_tcp_connect(e.loop, e.host, e.port, &opts, 5000, on_connect, &e.ec[i]);
        if (rc < 0) {
            e.connecting--;
            lg_error(&e.errors, "conn %u: sq_tcp_connect %s:%u: %s", i, e.host, e.port,
                     sq_strerror(rc));
        }
    }
    if (e.connecting == 0)
        start_run(&e);
    rc = 0;
    if (!e.done || e.open > 0)
        rc = sq_loop_run(e.loop);
    if (rc < 0)
        lg_error(&e.errors, "sq_loop_run: %s", sq_strerror(rc));
    report(&e);
    /* Connections that ignored our close for the linger time keep the
     * loop alive; the process is exiting anyway. */
    if (e.open == 0) {
        sq_timer_stop(e.loop, &e.linger);
        sq_loop_free(e.loop);
    }
    return e.errors.count > 0 ? 1 : 0;
}
