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
 *   connector connect (and TLS handshake), use, close, again  (workload connect)
 * A slot is freed when its chain ends (INSERTED for a producer, DELETED
 * for cycler and consumer, TIMED_OUT for a timeouter) or on an error
 * reply; a connector's when its one `use` is answered (it then closes and
 * connects anew: a job is one connection's whole life). After each batch of replies, all free slots
 * are refilled with one write of a pre-built run of commands, so the tool costs one memcpy per
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
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synq/loop.h"
#include "synq/tcp.h"
#include "synq/timer.h"

#include "bench.h"

const char *const workload_names[WORKLOADS] = {"put", "cycle", "produce-consume", "reserve-timeout",
                                               "connect"};
const char *const op_names[OP_KINDS] = {
    "auth", "use", "watch", "ignore", "put", "reserve", "reserve-with-timeout", "delete"};

static void finish(bench *b);
static void start_connect(bench *b, bconn *bc);

/* --- The in-flight ring ---------------------------------------------- */

static void ring_push(bconn *bc, enum op_kind kind, uint64_t sent_ns, uint64_t chain_ns)
{
    /* ring_cap covers setup plus two commands per slot; the slot
     * accounting guarantees it never overflows. */
    unsigned at = (bc->ring_head + bc->ring_len) % bc->ring_cap;
    bc->ring_sent_ns[at] = sent_ns;
    bc->ring_chain_ns[at] = chain_ns;
    bc->ring_kind[at] = (uint8_t)kind;
    bc->ring_len++;
}

static bool ring_pop(bconn *bc, enum op_kind *kind, uint64_t *sent_ns, uint64_t *chain_ns)
{
    if (bc->ring_len == 0)
        return false;
    *kind = (enum op_kind)bc->ring_kind[bc->ring_head];
    *sent_ns = bc->ring_sent_ns[bc->ring_head];
    *chain_ns = bc->ring_chain_ns[bc->ring_head];
    bc->ring_head = (bc->ring_head + 1) % bc->ring_cap;
    bc->ring_len--;
    return true;
}

/* --- Sending ----------------------------------------------------------- */

static void conn_abort(bconn *bc)
{
    bc->aborted = true;
    sq_conn_abort(bc->conn);
}

static void conn_write(bconn *bc, const void *bytes, size_t len)
{
    if (bc->aborted)
        return;
    int rc = sq_conn_write(bc->conn, bytes, len);
    if (rc < 0) {
        lg_error(&bc->b->errors, "conn %u: sq_conn_write: %s", bc->index, sq_strerror(rc));
        conn_abort(bc);
    }
}

static void send_setup(bconn *bc, uint64_t now)
{
    char cmd[3 * (MAX_TUBE_NAME + 16)];
    size_t len = 0;
    /* A connector's whole exchange is one `use`, answered even for "default". */
    bool is_default = strcmp(bc->tube, "default") == 0 && bc->role != ROLE_CONNECTOR;
    bool uses = bc->role == ROLE_PRODUCER || bc->role == ROLE_CYCLER || bc->role == ROLE_CONNECTOR;
    bool watches = bc->role != ROLE_PRODUCER && bc->role != ROLE_CONNECTOR;
    if (uses && !is_default) {
        len += (size_t)snprintf(cmd + len, sizeof cmd - len, "use %s\r\n", bc->tube);
        ring_push(bc, OP_USE, now, bc->role == ROLE_CONNECTOR ? bc->connect_ns : now);
    }
    if (watches && !is_default) {
        len += (size_t)snprintf(cmd + len, sizeof cmd - len, "watch %s\r\nignore default\r\n",
                                bc->tube);
        ring_push(bc, OP_WATCH, now, now);
        ring_push(bc, OP_IGNORE, now, now);
    }
    if (len > 0)
        conn_write(bc, cmd, len);
}

uint64_t bench_jobs_due(const bench *b, uint64_t now_ns)
{
    if (!b->started || now_ns < b->start_ns)
        return 0;
    /* Job k is due at start_ns + k / rate, so job 0 at the start. */
    uint64_t due = (uint64_t)((double)(now_ns - b->start_ns) * b->rate_per_s / 1e9) + 1;
    return b->total_jobs && due > b->total_jobs ? b->total_jobs : due;
}

/* Whether a connection's new chains follow --rate. Consumers of
 * produce-consume stay closed loop: they take what the paced producers put. */
static bool paced(const bconn *bc)
{
    return bc->b->rate_per_s > 0 && bc->role != ROLE_CONSUMER;
}

/* The pacer ticks every millisecond (the engine's timer resolution), so it
 * hands out the jobs due within the next tick too: sending those a little
 * early keeps the timer's granularity out of the latency, which counts from
 * the real send for them (a reply cannot come before its send). */
#define PACE_LOOKAHEAD_NS 1000000u

/* Jobs due by the next pacer tick. */
static uint64_t pace_due(const bench *b, uint64_t now)
{
    return bench_jobs_due(b, now + PACE_LOOKAHEAD_NS);
}

/* Takes the next paced job and returns the time its latency counts from:
 * its scheduled time, or now if that is still ahead. */
static uint64_t pace_take(bench *b, uint64_t now)
{
    uint64_t at = b->start_ns + (uint64_t)((double)b->paced * 1e9 / b->rate_per_s);
    b->paced++;
    if (now > at && now - at > b->pace_late_max_ns)
        b->pace_late_max_ns = now - at;
    return at > now ? now : at;
}

/* Fills every free slot with one write; in --rate mode only with the jobs
 * that are due. A due job that finds every slot busy waits for one, and its
 * latency still counts from when it was due: the queueing a slow server
 * causes is measured, not omitted. */
static void refill(bconn *bc, uint64_t now)
{
    bench *b = bc->b;
    if (b->done || !bc->conn || bc->aborted || bc->role == ROLE_CONNECTOR)
        return;
    unsigned free_slots = b->pipeline - bc->busy;
    if (paced(bc)) {
        uint64_t due = pace_due(b, now);
        uint64_t owed = due > b->paced ? due - b->paced : 0;
        if (owed < free_slots)
            free_slots = (unsigned)owed;
    }
    uint64_t left = UINT64_MAX;
    if (b->total_jobs && b->workload == WL_PRODUCE_CONSUME) {
        /* beanstalkd answers a connection's commands in order, so a delete
         * queued behind a reserve that blocks waits with it. If consumers
         * sent more reserves than jobs will ever come to their tube, the
         * last deletes would never run and the run would never end. So
         * each tube gets a quota, and exactly that many puts and reserves
         * are sent on it: every reserve then finds its job. */
        uint64_t *sent = bc->role == ROLE_PRODUCER ? &b->tube_puts[bc->tube_index]
                                                   : &b->tube_reserves[bc->tube_index];
        left = b->tube_quota[bc->tube_index] - *sent;
        if (left < free_slots)
            free_slots = (unsigned)left;
        *sent += free_slots;
    } else if (b->total_jobs) {
        left = b->total_jobs - b->issued;
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
    bool pace = paced(bc);
    for (unsigned i = 0; i < free_slots; i++) {
        uint64_t at = pace ? pace_take(b, now) : now;
        switch (bc->role) {
        case ROLE_PRODUCER:
            ring_push(bc, OP_PUT, at, at);
            break;
        case ROLE_CYCLER:
            ring_push(bc, OP_PUT, at, at);
            ring_push(bc, OP_RESERVE, at, at);
            break;
        case ROLE_CONSUMER:
            ring_push(bc, OP_RESERVE, at, at);
            break;
        case ROLE_TIMEOUTER:
        case ROLE_CONNECTOR: /* never here: refill returned */
            ring_push(bc, OP_RESERVE_TIMEOUT, at, at);
            break;
        }
    }
    bc->busy += free_slots;
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
#define HAS_PREFIX(line, len, lit) has_prefix((line), (len), (lit), sizeof(lit) - 1)
#define IS_LINE(line, len, lit)                                                                    \
    ((len) == sizeof(lit) - 1 && memcmp((line), (lit), sizeof(lit) - 1) == 0)

/* A run of 1..MAX_ID_DIGITS decimal digits starting at p (within len);
 * returns its length, 0 if there is none. */
static size_t digits(const char *p, size_t len)
{
    size_t n = 0;
    while (n < len && n <= MAX_ID_DIGITS && p[n] >= '0' && p[n] <= '9')
        n++;
    return n > MAX_ID_DIGITS ? 0 : n;
}

static void unexpected(bconn *bc, enum op_kind kind, const char *line, size_t len, const char *why)
{
    char text[96];
    lg_printable(text, sizeof text, line, len);
    lg_error(&bc->b->errors, "conn %u: %s: unexpected reply \"%s\"%s%s", bc->index, op_names[kind],
             text, why ? ": " : "", why ? why : "");
}

static void log_in_refused(bconn *bc, const char *line, size_t len)
{
    bench *b = bc->b;
    char text[96];
    lg_printable(text, sizeof text, line, len);
    const char *why = IS_LINE(line, len, "BAD_AUTH")
                          ? "a wrong user or password, or too many failed logins from this "
                            "address in the last minute"
                      : IS_LINE(line, len, "UNKNOWN_COMMAND")
                          ? "the server has no users to log in to (synqd without --users): "
                            "drop --user"
                          : "not a reply auth has";
    lg_error(&b->errors, "conn %u: auth as '%s' refused (%s): %s; stopping the run", bc->index,
             b->user, text, why);
    conn_abort(bc);
    finish(b);
}

/* Checks one reply (line without CRLF, body if RESERVED) against the
 * command it answers and advances the connection's state. */
static void handle_reply(bconn *bc, enum op_kind kind, const char *line, size_t len,
                         const char *body, uint64_t body_len, uint64_t chain_ns, uint64_t now)
{
    bench *b = bc->b;
    bool ok = false, chain_ends = true, job_done = false;
    switch (kind) {
    case OP_AUTH:
        ok = IS_LINE(line, len, "OK_AUTH");
        chain_ends = false;
        if (!ok) {
            /* Every command after it would be refused: a run without the login measures
             * nothing, so it ends here. */
            log_in_refused(bc, line, len);
            return;
        }
        break;
    case OP_USE:
        ok = HAS_PREFIX(line, len, "USING ");
        /* A connector's `use` is its job: the connection's life ends with it. */
        chain_ends = false;
        job_done = ok && bc->role == ROLE_CONNECTOR;
        if (bc->role == ROLE_CONNECTOR) {
            b->ops++;
            b->settled++;
        }
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
            unexpected(bc, kind, line, len,
                       "job body differs from what synq-bench puts "
                       "(the tube holds foreign jobs? use a fresh -t)");
            ok = true; /* counted; still delete it so the run goes on */
        }
        if (ok) {
            size_t id_len = digits(line + 9, len - 9);
            queue_delete(bc, line + 9, id_len);
            ring_push(bc, OP_DELETE, lg_now_ns(), chain_ns);
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
                   kind == OP_RESERVE_TIMEOUT && body ? "the tube is not empty"
                   : IS_LINE(line, len, "NOT_AUTHORIZED")
                       ? (b->user ? "the user has not the right this needs on the tube"
                                  : "the server wants a login first: give --user USER")
                       : NULL);
    if (kind >= OP_FIRST_TIMED)
        b->ops++;
    if (kind >= OP_FIRST_TIMED && chain_ends) {
        bc->busy--;
        /* In produce-consume a job is settled by its consumer. */
        if (!(b->workload == WL_PRODUCE_CONSUME && bc->role == ROLE_PRODUCER))
            b->settled++;
    }
    if (job_done) {
        b->jobs++;
        hist_record(&b->job_hist, now - chain_ns);
    }
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
        int64_t body_len =
            HAS_PREFIX(line, line_len, "RESERVED ") ? reserved_bytes(line, line_len) : 0;
        if (body_len < 0 || (uint64_t)body_len + used + 2 > b->in_limit) {
            unexpected(bc, OP_RESERVE, line, line_len,
                       "malformed RESERVED line, or a body too big to buffer");
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
        uint64_t sent_ns, chain_ns;
        if (!ring_pop(bc, &kind, &sent_ns, &chain_ns)) {
            unexpected(bc, OP_PUT, line, line_len, "reply to no command");
            return -1;
        }
        if (kind >= OP_FIRST_TIMED)
            hist_record(&b->op_hist[kind], now - sent_ns);
        handle_reply(bc, kind, line, line_len, body, (uint64_t)body_len, chain_ns, now);
        pos += used;
    }
    return (ssize_t)pos;
}

/* --- Connection callbacks ------------------------------------------------ */

static void on_read(sq_conn *c, sq_buf *in)
{
    bconn *bc = sq_conn_data(c);
    bench *b = bc->b;
    if (b->done || bc->aborted) {
        sq_buf_consume(in, sq_buf_len(in));
        return;
    }
    uint64_t now = lg_now_ns();
    bc->deletes_len = 0;
    ssize_t used = parse_replies(bc, sq_buf_peek(in), sq_buf_len(in), now);
    if (used < 0) {
        sq_buf_consume(in, sq_buf_len(in));
        conn_abort(bc);
        return;
    }
    sq_buf_consume(in, (size_t)used);
    if (bc->role == ROLE_CONNECTOR && bc->ring_len == 0) {
        sq_conn_close(c); /* on_close connects anew */
        if (b->total_jobs && b->settled >= b->total_jobs)
            finish(b);
        return;
    }
    if (bc->deletes_len > 0)
        conn_write(bc, bc->deletes, bc->deletes_len);
    if (b->total_jobs && b->settled >= b->total_jobs) {
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
    if (!b->done && bc->role == ROLE_CONNECTOR && !err && !bc->aborted && bc->ring_len == 0) {
        start_connect(b, bc); /* the close we asked for: the next connection */
    } else if (!b->done) {
        /* A connection we reset ourselves was reported when we did. */
        if (!bc->aborted)
            lg_error(&b->errors, "conn %u: connection closed during the run: %s", bc->index,
                     err ? sq_strerror(err) : "closed by the server");
        if (b->open == 0)
            finish(b);
    } else if (b->open == 0 && b->connecting == 0) {
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

/* Ends a run that stopped making progress (a server that stopped
 * answering, or replies lost to errors in an -n run), rather than hang. */
#define WATCHDOG_IDLE_S 5
static void on_watchdog(sq_loop *loop, sq_timer *t)
{
    bench *b = t->data;
    if (b->ops != b->watchdog_ops) {
        b->watchdog_ops = b->ops;
        b->watchdog_idle_s = 0;
    } else if (++b->watchdog_idle_s >= WATCHDOG_IDLE_S) {
        lg_error(&b->errors, "no reply for %d s; giving up", WATCHDOG_IDLE_S);
        finish(b);
        return;
    }
    sq_timer_start(loop, t, 1000);
}

/* --rate: hands the jobs due since the last tick to the connections with
 * free slots, starting one further each tick so no connection is favoured. */
static void on_pacer(sq_loop *loop, sq_timer *t)
{
    bench *b = t->data;
    if (b->conns == 0)
        return; /* -c is at least 1; this keeps the modulo below defined regardless */
    uint64_t now = lg_now_ns();
    for (unsigned i = 0; i < b->conns && b->paced < pace_due(b, now); i++)
        refill(&b->bc[(b->pace_next_conn + i) % b->conns], now);
    b->pace_next_conn = (b->pace_next_conn + 1) % b->conns;
    if (!b->done)
        sq_timer_start(loop, t, 1);
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
    b->start_ns = lg_now_ns();
    if (b->open == 0) {
        finish(b);
        return;
    }
    b->progress_last_ns = b->start_ns;
    if (!b->total_jobs)
        sq_timer_start(b->loop, &b->deadline, (uint64_t)(b->duration_s * 1000.0));
    if (lg_progress_wanted())
        sq_timer_start(b->loop, &b->progress, 1000);
    sq_timer_start(b->loop, &b->watchdog, 1000);
    if (b->rate_per_s > 0)
        sq_timer_start(b->loop, &b->pacer, 1);
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
        if (sq_conn_tls_resumed(c))
            b->tls_resumed++;
        if (b->user) { /* first on the connection: every command after it runs as the user */
            conn_write(bc, b->auth_line, b->auth_len);
            ring_push(bc, OP_AUTH, lg_now_ns(), lg_now_ns());
        }
        if (b->started && bc->role == ROLE_CONNECTOR)
            send_setup(bc, lg_now_ns());
    }
    if (b->connecting == 0 && !b->started)
        start_run(b);
    else if (b->connecting == 0 && b->done && b->open == 0)
        sq_loop_stop(b->loop);
}

/* Connects bc (anew, for a connector); the outcome comes to on_connect. */
static void start_connect(bench *b, bconn *bc)
{
    if (b->total_jobs && b->issued >= b->total_jobs)
        return;
    bc->aborted = false;
    bc->connect_ns = lg_now_ns();
    if (bc->role == ROLE_CONNECTOR)
        b->issued++;
    b->connecting++;
    int rc = b->tls
                 ? sq_tcp_connect_tls(b->loop, b->host, b->port, &b->conn_opts, 5000, b->tls,
                                      b->tls_name, on_connect, bc)
                 : sq_tcp_connect(b->loop, b->host, b->port, &b->conn_opts, 5000, on_connect, bc);
    if (rc < 0) {
        /* Reported now; the callback will not run for this one. */
        b->connecting--;
        lg_error(&b->errors, "conn %u: sq_tcp_connect %s:%u: %s", bc->index, b->host, b->port,
                 sq_strerror(rc));
    }
}

static void finish(bench *b)
{
    if (b->done)
        return;
    b->done = true;
    b->end_ns = lg_now_ns();
    sq_timer_stop(b->loop, &b->deadline);
    sq_timer_stop(b->loop, &b->progress);
    sq_timer_stop(b->loop, &b->watchdog);
    sq_timer_stop(b->loop, &b->pacer);
    lg_progress_end();
    for (unsigned i = 0; i < b->conns; i++)
        if (b->bc[i].conn)
            sq_conn_close(b->bc[i].conn);
    if (b->open == 0 && b->connecting == 0)
        sq_loop_stop(b->loop);
    else
        sq_timer_start(b->loop, &b->linger, 3000);
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
    if (bench_parse_options(&b, argc, argv) < 0)
        return 2;
    if (bench_prepare(&b) < 0) {
        fputs("synq-bench: out of memory\n", stderr);
        return 2;
    }
    for (unsigned k = 0; k < OP_KINDS; k++)
        hist_init(&b.op_hist[k]);
    hist_init(&b.job_hist);
    int rc = sq_loop_new(&b.loop);
    if (rc < 0) {
        fprintf(stderr, "synq-bench: sq_loop_new: %s\n", sq_strerror(rc));
        return 2;
    }
    sq_timer_init(&b.deadline, on_deadline, &b);
    sq_timer_init(&b.progress, on_progress, &b);
    sq_timer_init(&b.linger, on_linger, &b);
    sq_timer_init(&b.watchdog, on_watchdog, &b);
    sq_timer_init(&b.pacer, on_pacer, &b);

    sq_conn_opts_default(&b.conn_opts);
    /* A RESERVED reply is parsed only once whole, so input must hold one. */
    if (b.conn_opts.in_limit < 2 * b.body_bytes + MAX_REPLY_LINE)
        b.conn_opts.in_limit = 2 * b.body_bytes + MAX_REPLY_LINE;
    b.in_limit = b.conn_opts.in_limit;
    for (unsigned i = 0; i < b.conns; i++)
        start_connect(&b, &b.bc[i]);
    if (b.connecting == 0)
        start_run(&b);
    rc = 0;
    if (!b.done || b.open > 0)
        rc = sq_loop_run(b.loop);
    if (rc < 0)
        lg_error(&b.errors, "sq_loop_run: %s", sq_strerror(rc));
    bench_report(&b);
    /* Connections still open here ignored our close for the linger time;
     * freeing the loop under them would break its contract, and the
     * process is exiting anyway. */
    if (b.open == 0) {
        sq_timer_stop(b.loop, &b.linger);
        sq_loop_free(b.loop);
        sq_tls_ctx_free(b.tls); /* the connections held references until they closed */
    }
    return b.errors.count > 0 ? 1 : 0;
}
