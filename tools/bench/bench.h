/*
 * synq-bench's shared state: the options, the per-connection state machine
 * (see bench.c for the model) and the pre-built command runs. bench.c runs
 * the load; bench_cli.c parses the command line, builds the runs and the
 * connections, and prints the report.
 */
#ifndef SYNQ_TOOLS_BENCH_H
#define SYNQ_TOOLS_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synq/tcp.h"
#include "synq/timer.h"
#include "synq/tls.h"

#include "hist.h"
#include "loadgen.h"
#include "login.h"

#define MAX_TUBES 64
#define MAX_TUBE_NAME 200        /* beanstalkd's limit */
#define MAX_REPLY_LINE 256       /* no reply we expect is longer */
#define MAX_BODY_BYTES (1 << 20) /* -s limit */
#define MAX_ID_DIGITS 20
#define SETUP_OPS 4 /* auth, use, watch, ignore */

enum workload { WL_PUT, WL_CYCLE, WL_PRODUCE_CONSUME, WL_RESERVE_TIMEOUT, WL_CONNECT };
#define WORKLOADS 5
extern const char *const workload_names[WORKLOADS];

enum role { ROLE_PRODUCER, ROLE_CYCLER, ROLE_CONSUMER, ROLE_TIMEOUTER, ROLE_CONNECTOR };

enum op_kind {
    OP_AUTH,
    OP_USE,
    OP_WATCH,
    OP_IGNORE,
    OP_PUT,
    OP_RESERVE,
    OP_RESERVE_TIMEOUT,
    OP_DELETE
};
#define OP_KINDS 8
#define OP_FIRST_TIMED OP_PUT /* setup commands are not measured */
extern const char *const op_names[OP_KINDS];

typedef struct bench bench;

typedef struct bconn {
    bench *b;
    sq_conn *conn; /* NULL until connected and after close */
    bool aborted;  /* reset by us; waiting for on_close */
    unsigned index;
    enum role role;
    const char *tube;
    unsigned tube_index;
    unsigned busy;       /* slots in flight */
    uint64_t connect_ns; /* when its connect started (a connector's job counts from it) */
    /* FIFO of commands awaiting their reply: when each was sent (in --rate
     * mode a chain's first commands count from their scheduled time) and
     * when the job chain it belongs to started. */
    uint64_t *ring_sent_ns, *ring_chain_ns;
    uint8_t *ring_kind;
    unsigned ring_cap, ring_head, ring_len;
    /* Delete commands gathered while parsing one batch of replies. */
    char *deletes;
    size_t deletes_len;
} bconn;

/* One per run: its fields are grouped by purpose, not packed by size. */
struct bench { /* NOLINT(clang-analyzer-optin.performance.Padding) */
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
    double rate_per_s; /* --rate: jobs started per second, open loop; 0: closed loop */
    bool json, verbose;
    sq_tls_ctx *tls;      /* --tls: connections speak TLS with it; NULL: plain */
    const char *tls_name; /* --tls-name: the name the server's certificate must carry */
    const char *user;     /* --user: auth_line goes first on every connection; NULL: none */
    char auth_line[LOGIN_LINE_MAX + 1];
    size_t auth_len;

    sq_loop *loop;
    sq_conn_opts conn_opts;
    size_t in_limit; /* connections' input limit: the largest reply we can hold */
    bconn *bc;
    unsigned connecting, open;
    bool started, done;
    uint64_t start_ns, end_ns;
    uint64_t jobs, ops, issued;
    uint64_t settled;     /* job chains ended, successfully or not (ends -n runs) */
    uint64_t tls_resumed; /* TLS handshakes that resumed a session (--tls-resume) */
    /* produce-consume with -n: each tube's share of the jobs, and the puts
     * and reserves sent on it (see refill()). */
    uint64_t tube_quota[MAX_TUBES], tube_puts[MAX_TUBES], tube_reserves[MAX_TUBES];
    lg_errors errors;
    hist op_hist[OP_KINDS];
    hist job_hist; /* a job chain's start (scheduled, with --rate) to its end */
    /* --rate: jobs started so far, each at start_ns + k / rate_per_s, and
     * the most any was sent after its time. */
    uint64_t paced, pace_late_max_ns;
    unsigned pace_next_conn; /* where the next tick starts handing out jobs */

    /* Pre-built command runs: pipeline copies of one unit each. */
    char *body;
    char *put_run, *cycle_run, *reserve_run, *rwt_run;
    size_t put_len, cycle_len, reserve_len, rwt_len;

    sq_timer deadline, progress, linger, watchdog, pacer;
    uint64_t watchdog_ops;
    unsigned watchdog_idle_s;
    uint64_t progress_last_jobs, progress_last_ns;
};

/* Parses argv into b (defaults already set). Returns 0, or -1 after
 * printing why; --help prints the usage and exits 0. */
int bench_parse_options(bench *b, int argc, char **argv);

/* Builds the command runs and the connections' state (rings, buffers).
 * Returns 0 or -1 when out of memory. Allocated once, for the whole run. */
int bench_prepare(bench *b);

/* Jobs due by now_ns under --rate (scheduled at or before it), capped by
 * -n; 0 before the run starts. */
uint64_t bench_jobs_due(const bench *b, uint64_t now_ns);

/* Prints the per-command latency summary and the RESULT line on stdout, or
 * with --json one JSON object instead (bench_report.c). */
void bench_report(const bench *b);

#endif
