/*
 * synq-bench: a load generator for the beanstalkd protocol, built on the
 * synq engine (sq_tcp_connect, sq_conn_write, replies parsed in on_read).
 *
 * Model. Every connection has a role and keeps up to P "slots" (pipeline
 * depth) of work in flight:
 *   producer  put                              (workload put; half of produce-consume)
 *   cycler    put + reserve, then delete <id>  (workload cycle)
 *   consumer  reserve, then delete <id>        (other half of produce-consume)
 *   timeouter reserve-with-timeout 0           (workload reserve-timeout)
 * A slot is freed when its chain ends (INSERTED for a producer, DELETED
 * for cycler and consumer, TIMED_OUT for a timeouter) or on an error
 * reply. After each batch of replies, all free slots are refilled with one
 * write of a pre-built run of commands, so the tool costs one memcpy per
 * command and nothing is allocated per operation.
 *
 * beanstalkd answers a connection's commands in order with exactly one
 * reply each, so each connection keeps a FIFO ring of (command kind, send
 * time) and matches every reply against its head. That is what validates
 * replies and measures latency (send -> reply) per operation.
 *
 * Run: connect all, then send setup (use/watch/ignore) and the first batch
 * together; stop at the deadline (-d) or after -n jobs; close everything
 * gracefully and print a summary and one RESULT line on stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synq/loop.h"
#include "synq/tcp.h"
#include "synq/timer.h"

#include "hist.h"
#include "loadgen.h"

#define MAX_TUBES 64
#define MAX_TUBE_NAME 200        /* beanstalkd's limit */
#define MAX_REPLY_LINE 256       /* no reply we expect is longer */
#define MAX_BODY_BYTES (1 << 20) /* -s limit; also bounds foreign bodies */
#define MAX_ID_DIGITS 20
#define SETUP_OPS 3 /* use, watch, ignore */

enum workload { WL_PUT, WL_CYCLE, WL_PRODUCE_CONSUME, WL_RESERVE_TIMEOUT };
static const char *const workload_names[] = {"put", "cycle", "produce-consume",
                                             "reserve-timeout"};

enum role { ROLE_PRODUCER, ROLE_CYCLER, ROLE_CONSUMER, ROLE_TIMEOUTER };

enum op_kind { OP_USE, OP_WATCH, OP_IGNORE, OP_PUT, OP_RESERVE, OP_RESERVE_TIMEOUT, OP_DELETE };
#define OP_KINDS 7
#define OP_FIRST_TIMED OP_PUT /* setup commands are not measured */
static const char *const op_names[] = {"use",     "watch",   "ignore",
                                       "put",     "reserve", "reserve-with-timeout",
                                       "delete"};

typedef struct bench bench;

typedef struct bconn {
    bench *b;
    sq_conn *conn; /* NULL until connected and after close */
    unsigned index;
    enum role role;
    const char *tube;
    unsigned busy; /* slots in flight */
    /* FIFO of commands awaiting their reply. */
    uint64_t *ring_sent_ns;
    uint8_t *ring_kind;
    unsigned ring_cap, ring_head, ring_len;
    /* Delete commands gathered while parsing one batch of replies. */
    char *deletes;
    size_t deletes_len;
} bconn;

struct bench {
    /* Options. */
    const char *host;
    uint16_t port;
    unsigned conns;
    unsigned pipeline;
    double duration_s;
    uint64_t total_jobs; /* 0: run for duration_s */
    size_t body_bytes;
    const char *tubes[MAX_TUBES];
    unsigned ntubes;
    enum workload workload;

    sq_loop *loop;
    bconn *bc;
    unsigned connecting, open;
    bool started, done;
    uint64_t start_ns, end_ns;
    uint64_t jobs, ops, issued;
    lg_errors errors;
    hist op_hist[OP_KINDS];

    /* Pre-built command runs: pipeline copies of one unit each. */
    char *body;
    char *put_run, *cycle_run, *reserve_run, *rwt_run;
    size_t put_len, cycle_len, reserve_len, rwt_len;

    sq_timer deadline, progress, linger;
    uint64_t progress_last_jobs, progress_last_ns;
};

static void finish(bench *b);

/* --- Command runs ---------------------------------------------------- */

/* Repeats unit `count` times into a new buffer. */
static char *repeat(const char *unit, size_t unit_len, unsigned count)
{
    char *run = malloc(unit_len * count);
    if (!run)
        return NULL;
    for (unsigned i = 0; i < count; i++)
        memcpy(run + (size_t)i * unit_len, unit, unit_len);
    return run;
}

static int build_runs(bench *b)
{
    b->body = malloc(b->body_bytes + 1);
    if (!b->body)
        return -1;
    for (size_t i = 0; i < b->body_bytes; i++)
        b->body[i] = (char)('a' + i % 26);

    char head[64];
    int head_len = snprintf(head, sizeof head, "put 0 0 60 %zu\r\n", b->body_bytes);
    size_t put_len = (size_t)head_len + b->body_bytes + 2;
    static const char reserve[] = "reserve\r\n";
    static const char rwt[] = "reserve-with-timeout 0\r\n";
    char *put = malloc(put_len + sizeof reserve);
    if (!put)
        return -1;
    memcpy(put, head, (size_t)head_len);
    memcpy(put + head_len, b->body, b->body_bytes);
    memcpy(put + head_len + b->body_bytes, "\r\n", 2);
    memcpy(put + put_len, reserve, sizeof reserve - 1);

    b->put_len = put_len;
    b->cycle_len = put_len + sizeof reserve - 1;
    b->reserve_len = sizeof reserve - 1;
    b->rwt_len = sizeof rwt - 1;
    b->put_run = repeat(put, b->put_len, b->pipeline);
    b->cycle_run = repeat(put, b->cycle_len, b->pipeline);
    b->reserve_run = repeat(reserve, b->reserve_len, b->pipeline);
    b->rwt_run = repeat(rwt, b->rwt_len, b->pipeline);
    free(put);
    return b->put_run && b->cycle_run && b->reserve_run && b->rwt_run ? 0 : -1;
}

/* --- The in-flight ring ---------------------------------------------- */

static void ring_push(bconn *bc, enum op_kind kind, uint64_t now_ns)
{
    /* ring_cap covers setup plus two commands per slot; the slot
     * accounting guarantees it never overflows. */
    unsigned at = (bc->ring_head + bc->ring_len) % bc->ring_cap;
    bc->ring_sent_ns[at] = now_ns;
    bc->ring_kind[at] = (uint8_t)kind;
    bc->ring_len++;
}

static bool ring_pop(bconn *bc, enum op_kind *kind, uint64_t *sent_ns)
{
    if (bc->ring_len == 0)
        return false;
    *kind = (enum op_kind)bc->ring_kind[bc->ring_head];
    *sent_ns = bc->ring_sent_ns[bc->ring_head];
    bc->ring_head = (bc->ring_head + 1) % bc->ring_cap;
    bc->ring_len--;
    return true;
}

/* --- Sending ----------------------------------------------------------- */

static void conn_write(bconn *bc, const void *bytes, size_t len)
{
    int rc = sq_conn_write(bc->conn, bytes, len);
    if (rc < 0) {
        lg_error(&bc->b->errors, "conn %u: sq_conn_write: %s", bc->index, sq_strerror(rc));
        sq_conn_abort(bc->conn);
    }
}

static void send_setup(bconn *bc, uint64_t now)
{
    char cmd[3 * (MAX_TUBE_NAME + 16)];
    size_t len = 0;
    bool is_default = strcmp(bc->tube, "default") == 0;
    bool uses = bc->role == ROLE_PRODUCER || bc->role == ROLE_CYCLER;
    bool watches = bc->role != ROLE_PRODUCER;
    if (uses && !is_default) {
        len += (size_t)snprintf(cmd + len, sizeof cmd - len, "use %s\r\n", bc->tube);
        ring_push(bc, OP_USE, now);
    }
    if (watches && !is_default) {
        len += (size_t)snprintf(cmd + len, sizeof cmd - len, "watch %s\r\nignore default\r\n",
                                bc->tube);
        ring_push(bc, OP_WATCH, now);
        ring_push(bc, OP_IGNORE, now);
    }
    if (len > 0)
        conn_write(bc, cmd, len);
}

/* Fills every free slot with one write. */
static void refill(bconn *bc, uint64_t now)
{
    bench *b = bc->b;
    if (b->done || !bc->conn)
        return;
    unsigned free_slots = b->pipeline - bc->busy;
    /* Consumers are not limited by -n: they drain what producers issued. */
    if (b->total_jobs && bc->role != ROLE_CONSUMER) {
        uint64_t left = b->total_jobs - b->issued;
        if (left < free_slots)
            free_slots = (unsigned)left;
    }
    if (free_slots == 0)
        return;
    const char *run;
    size_t unit;
    switch (bc->role) {
    case ROLE_PRODUCER:
        run = b->put_run, unit = b->put_len;
        break;
    case ROLE_CYCLER:
        run = b->cycle_run, unit = b->cycle_len;
        break;
    case ROLE_CONSUMER:
        run = b->reserve_run, unit = b->reserve_len;
        break;
    default:
        run = b->rwt_run, unit = b->rwt_len;
        break;
    }
    for (unsigned i = 0; i < free_slots; i++) {
        switch (bc->role) {
        case ROLE_PRODUCER:
            ring_push(bc, OP_PUT, now);
            break;
        case ROLE_CYCLER:
            ring_push(bc, OP_PUT, now);
            ring_push(bc, OP_RESERVE, now);
            break;
        case ROLE_CONSUMER:
            ring_push(bc, OP_RESERVE, now);
            break;
        case ROLE_TIMEOUTER:
            ring_push(bc, OP_RESERVE_TIMEOUT, now);
            break;
        }
    }
    bc->busy += free_slots;
    if (bc->role != ROLE_CONSUMER)
        b->issued += free_slots;
    conn_write(bc, run, unit * free_slots);
}

static void queue_delete(bconn *bc, const char *id, size_t id_len)
{
    char *p = bc->deletes + bc->deletes_len;
    memcpy(p, "delete ", 7);
    memcpy(p + 7, id, id_len);
    memcpy(p + 7 + id_len, "\r\n", 2);
    bc->deletes_len += 7 + id_len + 2;
}

/* --- Parsing replies ----------------------------------------------------- */

static bool has_prefix(const char *line, size_t len, const char *prefix, size_t prefix_len)
{
    return len >= prefix_len && memcmp(line, prefix, prefix_len) == 0;
}
#define HAS_PREFIX(line, len, lit) has_prefix(line, len, lit, sizeof lit - 1)
#define IS_LINE(line, len, lit) ((len) == sizeof lit - 1 && memcmp(line, lit, sizeof lit - 1) == 0)

/* A run of 1..MAX_ID_DIGITS decimal digits starting at p (within len);
 * returns its length, 0 if there is none. */
static size_t digits(const char *p, size_t len)
{
    size_t n = 0;
    while (n < len && n <= MAX_ID_DIGITS && p[n] >= '0' && p[n] <= '9')
        n++;
    return n > MAX_ID_DIGITS ? 0 : n;
}

static void unexpected(bconn *bc, enum op_kind kind, const char *line, size_t len,
                       const char *why)
{
    char text[96];
    lg_printable(text, sizeof text, line, len);
    lg_error(&bc->b->errors, "conn %u: %s: unexpected reply \"%s\"%s%s", bc->index,
             op_names[kind], text, why ? ": " : "", why ? why : "");
}

/* Checks one reply (line without CRLF, body if RESERVED) against the
 * command it answers and advances the connection's state. */
static void handle_reply(bconn *bc, enum op_kind kind, const char *line, size_t len,
                         const char *body, uint64_t body_len)
{
    bench *b = bc->b;
    bool ok = false, chain_ends = true, job_done = false;
    switch (kind) {
    case OP_USE:
        ok = HAS_PREFIX(line, len, "USING ");
        chain_ends = false;
        break;
    case OP_WATCH:
    case OP_IGNORE:
        ok = HAS_PREFIX(line, len, "WATCHING ") && digits(line + 9, len - 9) == len - 9;
        chain_ends = false;
        break;
    case OP_PUT:
        ok = HAS_PREFIX(line, len, "INSERTED ") && len > 9 && digits(line + 9, len - 9) == len - 9;
        /* A cycler's put is followed by its reserve: the chain goes on even
         * when the put failed, since that reserve is already in flight. */
        chain_ends = bc->role == ROLE_PRODUCER;
        job_done = ok && b->workload == WL_PUT;
        break;
    case OP_RESERVE:
        ok = body != NULL;
        if (ok && (body_len != b->body_bytes || memcmp(body, b->body, b->body_bytes) != 0)) {
            unexpected(bc, kind, line, len, "job body differs from what synq-bench puts "
                                            "(the tube holds foreign jobs? use a fresh -t)");
            ok = true; /* counted; still delete it so the run goes on */
        }
        if (ok) {
            size_t id_len = digits(line + 9, len - 9);
            queue_delete(bc, line + 9, id_len);
            ring_push(bc, OP_DELETE, lg_now_ns());
            chain_ends = false;
        }
        break;
    case OP_RESERVE_TIMEOUT:
        ok = IS_LINE(line, len, "TIMED_OUT");
        job_done = ok;
        break;
    case OP_DELETE:
        ok = IS_LINE(line, len, "DELETED");
        job_done = ok;
        break;
    }
    if (!ok)
        unexpected(bc, kind, line, len,
                   kind == OP_RESERVE_TIMEOUT && body ? "the tube is not empty" : NULL);
    if (kind >= OP_FIRST_TIMED)
        b->ops++;
    if (kind >= OP_FIRST_TIMED && chain_ends)
        bc->busy--;
    if (job_done)
        b->jobs++;
}

/* Validates "RESERVED <id> <bytes>" and returns bytes, or -1. */
static int64_t reserved_bytes(const char *line, size_t len)
{
    if (!HAS_PREFIX(line, len, "RESERVED "))
        return -1;
    size_t id_len = digits(line + 9, len - 9);
    size_t at = 9 + id_len;
    if (id_len == 0 || at >= len || line[at] != ' ')
        return -1;
    at++;
    size_t n_len = digits(line + at, len - at);
    if (n_len == 0 || at + n_len != len || n_len > 8)
        return -1;
    int64_t bytes = 0;
    for (size_t i = 0; i < n_len; i++)
        bytes = bytes * 10 + (line[at + i] - '0');
    return bytes;
}

/* Parses as many whole replies as data holds; returns the bytes consumed,
 * or -1 after a fatal desynchronisation (the connection was aborted). */
static ssize_t parse_replies(bconn *bc, const char *data, size_t len, uint64_t now)
{
    bench *b = bc->b;
    size_t pos = 0;
    while (pos < len) {
        const char *line = data + pos;
        size_t avail = len - pos;
        const char *cr = memchr(line, '\n', avail < MAX_REPLY_LINE ? avail : MAX_REPLY_LINE);
        if (!cr) {
            if (avail < MAX_REPLY_LINE)
                break; /* the rest of the line is still on its way */
            unexpected(bc, OP_PUT, line, 40, "reply line too long, giving up on connection");
            return -1;
        }
        size_t line_len = (size_t)(cr - line);
        if (line_len == 0 || line[line_len - 1] != '\r') {
            unexpected(bc, OP_PUT, line, line_len + 1, "reply not terminated by CRLF");
            return -1;
        }
        line_len--;
        size_t used = line_len + 2;
        const char *body = NULL;
        int64_t body_len = HAS_PREFIX(line, line_len, "RESERVED ")
                               ? reserved_bytes(line, line_len) : 0;
        if (body_len < 0 || body_len > MAX_BODY_BYTES) {
            unexpected(bc, OP_RESERVE, line, line_len, "malformed RESERVED line");
            return -1;
        }
        if (HAS_PREFIX(line, line_len, "RESERVED ")) {
            if (avail < used + (size_t)body_len + 2)
                break; /* wait for the whole body */
            body = line + used;
            if (memcmp(body + body_len, "\r\n", 2) != 0) {
                unexpected(bc, OP_RESERVE, line, line_len, "body not followed by CRLF");
                return -1;
            }
            used += (size_t)body_len + 2;
        }
        enum op_kind kind;
        uint64_t sent_ns;
        if (!ring_pop(bc, &kind, &sent_ns)) {
            unexpected(bc, OP_PUT, line, line_len, "reply to no command");
            return -1;
        }
        if (kind >= OP_FIRST_TIMED)
            hist_record(&b->op_hist[kind], now - sent_ns);
        handle_reply(bc, kind, line, line_len, body, (uint64_t)body_len);
        pos += used;
    }
    return (ssize_t)pos;
}

/* --- Connection callbacks ------------------------------------------------ */

static void on_read(sq_conn *c, sq_buf *in)
{
    bconn *bc = sq_conn_data(c);
    bench *b = bc->b;
    if (b->done) {
        sq_buf_consume(in, sq_buf_len(in));
        return;
    }
    uint64_t now = lg_now_ns();
    bc->deletes_len = 0;
    ssize_t used = parse_replies(bc, sq_buf_peek(in), sq_buf_len(in), now);
    if (used < 0) {
        sq_buf_consume(in, sq_buf_len(in));
        sq_conn_abort(c);
        return;
    }
    sq_buf_consume(in, (size_t)used);
    if (bc->deletes_len > 0)
        conn_write(bc, bc->deletes, bc->deletes_len);
    if (b->total_jobs && b->jobs >= b->total_jobs) {
        finish(b);
        return;
    }
    refill(bc, now);
}

static void on_close(sq_conn *c, int err)
{
    bconn *bc = sq_conn_data(c);
    bench *b = bc->b;
    bc->conn = NULL;
    b->open--;
    if (!b->done) {
        lg_error(&b->errors, "conn %u: connection closed during the run: %s", bc->index,
                 err ? sq_strerror(err) : "closed by the server");
        if (b->open == 0)
            finish(b);
    } else if (b->open == 0) {
        sq_loop_stop(b->loop);
    }
}

static const sq_conn_handlers bench_handlers = {
    .on_read = on_read,
    .on_close = on_close,
};

/* --- Run control ----------------------------------------------------------- */

static void on_progress(sq_loop *loop, sq_timer *t)
{
    bench *b = t->data;
    uint64_t now = lg_now_ns();
    double interval_s = (double)(now - b->progress_last_ns) / 1e9;
    double rate = interval_s > 0 ? (double)(b->jobs - b->progress_last_jobs) / interval_s : 0;
    lg_progress("jobs", (double)(now - b->start_ns) / 1e9, b->jobs, rate, b->errors.count);
    b->progress_last_jobs = b->jobs;
    b->progress_last_ns = now;
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
    /* Some server did not close after our FIN; do not wait forever. */
    sq_loop_stop(loop);
}

static void start_run(bench *b)
{
    b->started = true;
    if (b->open == 0) {
        finish(b);
        return;
    }
    b->start_ns = lg_now_ns();
    b->progress_last_ns = b->start_ns;
    if (!b->total_jobs)
        sq_timer_start(b->loop, &b->deadline, (uint64_t)(b->duration_s * 1000.0));
    if (lg_progress_wanted())
        sq_timer_start(b->loop, &b->progress, 1000);
    for (unsigned i = 0; i < b->conns; i++) {
        bconn *bc = &b->bc[i];
        if (!bc->conn)
            continue;
        send_setup(bc, b->start_ns);
        refill(bc, b->start_ns);
    }
}

static void on_connect(sq_conn *c, int err, void *data)
{
    bconn *bc = data;
    bench *b = bc->b;
    b->connecting--;
    if (err) {
        lg_error(&b->errors, "conn %u: connect to %s:%u: %s", bc->index, b->host, b->port,
                 sq_strerror(err));
    } else if (b->done) {
        sq_conn_set_handlers(c, &bench_handlers, bc);
        bc->conn = c;
        b->open++;
        sq_conn_close(c);
    } else {
        sq_conn_set_handlers(c, &bench_handlers, bc);
        bc->conn = c;
        b->open++;
    }
    if (b->connecting == 0 && !b->started)
        start_run(b);
}

static void finish(bench *b)
{
    if (b->done)
        return;
    b->done = true;
    b->end_ns = lg_now_ns();
    sq_timer_stop(b->loop, &b->deadline);
    sq_timer_stop(b->loop, &b->progress);
    lg_progress_end();
    for (unsigned i = 0; i < b->conns; i++)
        if (b->bc[i].conn)
            sq_conn_close(b->bc[i].conn);
    if (b->open == 0 && b->connecting == 0)
        sq_loop_stop(b->loop);
    else
        sq_timer_start(b->loop, &b->linger, 3000);
}

/* --- Options and report ------------------------------------------------------ */

static void usage(FILE *f)
{
    fputs("usage: synq-bench [options]\n"
          "Load generator for the beanstalkd protocol (synqd, beanstalkd).\n"
          "\n"
          "  -h HOST         server address (default 127.0.0.1)\n"
          "  -p PORT         server port (default 11300)\n"
          "  -c CONNS        connections (default 50)\n"
          "  -P PIPELINE     commands in flight per connection (default 16)\n"
          "  -d SECONDS      run this long (default 10)\n"
          "  -n TOTAL_JOBS   run until this many jobs are done instead\n"
          "  -s BODY_BYTES   job body size (default 100)\n"
          "  -t TUBE[,TUBE]  tubes; connection i uses tube i mod count\n"
          "                  (default synq-bench; synq-bench-empty for reserve-timeout)\n"
          "  -w WORKLOAD     put | cycle | produce-consume | reserve-timeout (default cycle)\n"
          "      put              put only; a job = one INSERTED\n"
          "      cycle            put, reserve, delete per job, pipelined per connection\n"
          "      produce-consume  half the connections put, half reserve+delete\n"
          "                       on the same tubes; a job = one DELETED\n"
          "      reserve-timeout  reserve-with-timeout 0 on an empty tube;\n"
          "                       a job = one TIMED_OUT\n"
          "  --help          this text\n"
          "\n"
          "Every reply is validated; the exit status is 1 when any error was seen.\n"
          "Prints per-command latency and, last on stdout, one line:\n"
          "  RESULT workload=.. conns=.. pipeline=.. body=.. jobs=.. secs=.. jobs_per_s=..\n"
          "         ops=.. ops_per_s=.. p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=.. "
          "errors=..\n",
          f);
}

static int parse_tubes(bench *b, char *list)
{
    b->ntubes = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        size_t len = strlen(t);
        if (b->ntubes == MAX_TUBES || len == 0 || len > MAX_TUBE_NAME ||
            strpbrk(t, " \r\n") != NULL) {
            fprintf(stderr, "invalid -t: at most %d tube names of 1..%d bytes, no spaces\n",
                    MAX_TUBES, MAX_TUBE_NAME);
            return -1;
        }
        b->tubes[b->ntubes++] = t;
    }
    if (b->ntubes == 0) {
        fputs("invalid -t: no tube named\n", stderr);
        return -1;
    }
    return 0;
}

static int parse_options(bench *b, int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'H'}, {0, 0, 0, 0}};
    uint64_t v;
    bool tubes_given = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "h:p:c:P:d:n:s:t:w:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            b->host = optarg;
            break;
        case 'p':
            if (lg_parse_u64("-p", optarg, 1, 65535, &v) < 0)
                return -1;
            b->port = (uint16_t)v;
            break;
        case 'c':
            if (lg_parse_u64("-c", optarg, 1, 100000, &v) < 0)
                return -1;
            b->conns = (unsigned)v;
            break;
        case 'P':
            if (lg_parse_u64("-P", optarg, 1, 100000, &v) < 0)
                return -1;
            b->pipeline = (unsigned)v;
            break;
        case 'd':
            if (lg_parse_secs("-d", optarg, &b->duration_s) < 0)
                return -1;
            break;
        case 'n':
            if (lg_parse_u64("-n", optarg, 1, UINT64_MAX / 2, &b->total_jobs) < 0)
                return -1;
            break;
        case 's':
            if (lg_parse_u64("-s", optarg, 0, MAX_BODY_BYTES, &v) < 0)
                return -1;
            b->body_bytes = (size_t)v;
            break;
        case 't':
            if (parse_tubes(b, optarg) < 0)
                return -1;
            tubes_given = true;
            break;
        case 'w': {
            unsigned i = 0;
            while (i < 4 && strcmp(optarg, workload_names[i]) != 0)
                i++;
            if (i == 4) {
                fprintf(stderr, "invalid -w '%s' (see --help)\n", optarg);
                return -1;
            }
            b->workload = (enum workload)i;
            break;
        }
        case 'H':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "unexpected argument '%s' (see --help)\n", argv[optind]);
        return -1;
    }
    if (!tubes_given) {
        b->tubes[0] = b->workload == WL_RESERVE_TIMEOUT ? "synq-bench-empty" : "synq-bench";
        b->ntubes = 1;
    }
    if (b->workload == WL_PRODUCE_CONSUME) {
        /* Every tube needs a producer and a consumer, or -n could never be
         * reached (jobs pile up where nobody reserves). */
        if (b->conns < 2 || b->ntubes > b->conns / 2) {
            fputs("produce-consume needs -c >= 2 and at most -c/2 tubes\n", stderr);
            return -1;
        }
    }
    return 0;
}

static int setup_conns(bench *b)
{
    b->bc = calloc(b->conns, sizeof *b->bc);
    if (!b->bc)
        return -1;
    unsigned producers = b->conns / 2;
    for (unsigned i = 0; i < b->conns; i++) {
        bconn *bc = &b->bc[i];
        bc->b = b;
        bc->index = i;
        unsigned tube_index = i;
        switch (b->workload) {
        case WL_PUT:
            bc->role = ROLE_PRODUCER;
            break;
        case WL_CYCLE:
            bc->role = ROLE_CYCLER;
            break;
        case WL_PRODUCE_CONSUME:
            bc->role = i < producers ? ROLE_PRODUCER : ROLE_CONSUMER;
            tube_index = i < producers ? i : i - producers;
            break;
        case WL_RESERVE_TIMEOUT:
            bc->role = ROLE_TIMEOUTER;
            break;
        }
        bc->tube = b->tubes[tube_index % b->ntubes];
        /* Per slot at most two commands wait at once (put+reserve, or
         * reserve then delete), plus the setup commands. */
        bc->ring_cap = 2 * b->pipeline + SETUP_OPS;
        bc->ring_sent_ns = calloc(bc->ring_cap, sizeof *bc->ring_sent_ns);
        bc->ring_kind = calloc(bc->ring_cap, sizeof *bc->ring_kind);
        /* At most one delete per reserve in flight, i.e. per slot. */
        bc->deletes = malloc((size_t)b->pipeline * (7 + MAX_ID_DIGITS + 2));
        if (!bc->ring_sent_ns || !bc->ring_kind || !bc->deletes)
            return -1;
    }
    return 0;
}

static void report(const bench *b)
{
    double secs = b->started && b->end_ns > b->start_ns ? (double)(b->end_ns - b->start_ns) / 1e9
                                                         : 0.0;
    hist all;
    hist_init(&all);
    printf("synq-bench: %s on %s:%u, %u conns, pipeline %u, body %zu bytes, %u tube(s)\n",
           workload_names[b->workload], b->host, b->port, b->conns, b->pipeline, b->body_bytes,
           b->ntubes);
    for (unsigned k = OP_FIRST_TIMED; k < OP_KINDS; k++) {
        lg_print_latency_line(stdout, op_names[k], &b->op_hist[k]);
        hist_merge(&all, &b->op_hist[k]);
    }
    lg_print_latency_line(stdout, "all commands", &all);
    printf("RESULT workload=%s conns=%u pipeline=%u body=%zu jobs=%llu secs=%.2f "
           "jobs_per_s=%.1f ops=%llu ops_per_s=%.1f",
           workload_names[b->workload], b->conns, b->pipeline, b->body_bytes,
           (unsigned long long)b->jobs, secs, secs > 0 ? (double)b->jobs / secs : 0.0,
           (unsigned long long)b->ops, secs > 0 ? (double)b->ops / secs : 0.0);
    lg_print_percentiles(stdout, &all);
    printf(" errors=%llu\n", (unsigned long long)b->errors.count);
}

int main(int argc, char **argv)
{
    static bench b = {
        .host = "127.0.0.1",
        .port = 11300,
        .conns = 50,
        .pipeline = 16,
        .duration_s = 10.0,
        .body_bytes = 100,
        .workload = WL_CYCLE,
    };
    if (parse_options(&b, argc, argv) < 0)
        return 2;
    if (build_runs(&b) < 0 || setup_conns(&b) < 0) {
        fputs("synq-bench: out of memory\n", stderr);
        return 2;
    }
    for (unsigned k = 0; k < OP_KINDS; k++)
        hist_init(&b.op_hist[k]);
    int rc = sq_loop_new(&b.loop);
    if (rc < 0) {
        fprintf(stderr, "synq-bench: sq_loop_new: %s\n", sq_strerror(rc));
        return 2;
    }
    sq_timer_init(&b.deadline, on_deadline, &b);
    sq_timer_init(&b.progress, on_progress, &b);
    sq_timer_init(&b.linger, on_linger, &b);

    sq_conn_opts opts;
    sq_conn_opts_default(&opts);
    b.connecting = b.conns;
    for (unsigned i = 0; i < b.conns; i++) {
        rc = sq_tcp_connect(b.loop, b.host, b.port, &opts, 5000, on_connect, &b.bc[i]);
        if (rc < 0) {
            /* Reported now; the callback will not run for this one. */
            b.connecting--;
            lg_error(&b.errors, "conn %u: sq_tcp_connect %s:%u: %s", i, b.host, b.port,
                     sq_strerror(rc));
        }
    }
    if (b.connecting == 0)
        start_run(&b);
    if (!b.done || b.open > 0)
        rc = sq_loop_run(b.loop);
    if (rc < 0)
        lg_error(&b.errors, "sq_loop_run: %s", sq_strerror(rc));
    report(&b);
    /* Connections still open here ignored our close for the linger time;
     * freeing the loop under them would break its contract, and the
     * process is exiting anyway. */
    if (b.open == 0) {
        sq_timer_stop(b.loop, &b.linger);
        sq_loop_free(b.loop);
    }
    return b.errors.count > 0 ? 1 : 0;
}
