/*
 * synq-bench's command line, setup and report (the load itself is in
 * bench.c). Everything allocated here is allocated once, before the run,
 * so the run itself allocates nothing per operation.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synq/version.h"

#include "bench.h"

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

/* --- Options and report ------------------------------------------------------ */

static void usage(FILE *f)
{
    fputs("usage: synq-bench [options]\n"
          "Load generator for the beanstalkd protocol (synqd, beanstalkd).\n"
          "\n"
          "  -H HOST[:PORT]  server address, and port if given ([ADDR]:PORT for IPv6;\n"
          "                  default 127.0.0.1)\n"
          "  -p PORT         server port (default 11300)\n"
          "  -c CONNS        connections (default 50)\n"
          "  -P PIPELINE     commands in flight per connection (default 16)\n"
          "  -d SECONDS      run this long (default 10)\n"
          "  -n TOTAL_JOBS   run until this many jobs are done instead\n"
          "  -s BODY_BYTES   job body size (default 100)\n"
          "  -t TUBE[,TUBE]  tubes; connection i uses tube i mod count\n"
          "                  (default synq-bench; synq-bench-empty for reserve-timeout)\n"
          "  -w WORKLOAD     put | cycle | produce-consume | reserve-timeout | connect\n"
          "                  (default cycle)\n"
          "      put              put only; a job = one INSERTED\n"
          "      cycle            put, reserve, delete per job, pipelined per connection\n"
          "      produce-consume  half the connections put, half reserve+delete\n"
          "                       on the same tubes; a job = one DELETED\n"
          "      reserve-timeout  reserve-with-timeout 0 on an empty tube;\n"
          "                       a job = one TIMED_OUT\n"
          "      connect          connect (with --tls: handshake), use TUBE, close, again;\n"
          "                       a job = one connection; -P does not apply\n"
          "  --tls           speak TLS (the server's certificate is verified)\n"
          "  --tls-ca FILE   CAs (PEM) to verify it with (default: the system's)\n"
          "  --tls-name NAME the name its certificate must carry (default: not checked)\n"
          "  --tls-cert FILE, --tls-key FILE  a client certificate and its key (PEM)\n"
          "  --tls-resume    offer the last session the server gave (TLS 1.3 ticket) in\n"
          "                  every new connection: resumed handshakes (default: full)\n"
          "  --user USER     log in as USER (synqd --users): 'auth USER PASSWORD' goes\n"
          "                  first on every connection (not timed; a refused login ends\n"
          "                  the run)\n"
          "  --password-file FILE  USER's password: the file's first line (default: env\n"
          "                  SYNQ_PASSWORD; never on the command line)\n"
          "  -r, --rate N    open loop: start N jobs a second, on a fixed schedule\n"
          "                  whatever the replies do (default: closed loop, each\n"
          "                  connection keeps -P in flight). Latency counts from each\n"
          "                  job's scheduled time, so a server that falls behind shows\n"
          "                  it (no coordinated omission); -P bounds what is in flight\n"
          "                  per connection, and a due job waits for a free slot.\n"
          "                  produce-consume paces its producers only.\n"
          "  --json          print one JSON object (parameters and results) instead\n"
          "  -V, --verbose   show the progress line even when stderr is not a terminal\n"
          "  -v, --version   print the version\n"
          "  -h, --help      this text\n"
          "\n"
          "Every reply is validated; the exit status is 1 when any error was seen,\n"
          "2 on a bad command line.\n"
          "Prints per-command latency, the job latency (a job's start to its last\n"
          "reply) and, last on stdout, one line:\n"
          "  RESULT workload=.. conns=.. pipeline=.. body=.. jobs=.. secs=.. jobs_per_s=..\n"
          "         ops=.. ops_per_s=.. p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=.. "
          "errors=..\n"
          "with --rate followed by rate=.. achieved_per_s=.. backlog=.. (due, never sent),\n"
          "with --tls by tls_resumed=.. (handshakes that resumed a session).\n"
          "--json prints instead:\n"
          "  {\"tool\": \"synq-bench\", \"version\", \"workload\", \"host\", \"port\",\n"
          "   \"conns\", \"pipeline\", \"body_bytes\", \"tubes\": [..], \"duration_s\" or\n"
          "   \"total_jobs\", \"rate_per_s\" (null: closed loop), \"jobs\", \"secs\",\n"
          "   \"jobs_per_s\", \"ops\", \"ops_per_s\", \"achieved_per_s\", \"backlog\",\n"
          "   \"latency_us\": {\"count\", \"mean\", \"p50\", \"p90\", \"p99\", \"p999\", \"max\"}\n"
          "   (all commands, as RESULT), \"job_latency_us\": {..},\n"
          "   \"commands\": {\"put\": {..}, ..}, \"tls\": true|false, \"tls_resumed\",\n"
          "   \"errors\"}\n",
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

int bench_parse_options(bench *b, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},
        {"verbose", no_argument, NULL, 'V'},
        {"json", no_argument, NULL, 'J'},
        {"rate", required_argument, NULL, 'r'},
        {"tls", no_argument, NULL, 'T'},
        {"tls-ca", required_argument, NULL, 'A'},
        {"tls-name", required_argument, NULL, 'N'},
        {"tls-cert", required_argument, NULL, 'C'},
        {"tls-key", required_argument, NULL, 'K'},
        {"tls-resume", no_argument, NULL, 'R'},
        {"user", required_argument, NULL, 'u'},
        {"password-file", required_argument, NULL, 'F'},
        {0, 0, 0, 0},
    };
    bool tls = false;
    sq_tls_opts tls_opts = {0};
    const char *password_file = NULL;
    const lg_common common_opts = {&b->host, &b->port, &b->conns, &b->pipeline, &b->duration_s};
    uint64_t v;
    bool tubes_given = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "H:p:c:P:d:n:s:t:w:r:hvV", longopts, NULL)) != -1) {
        int common = lg_common_option(&common_opts, opt, optarg);
        if (common < 0)
            return -1;
        if (common > 0)
            continue;
        switch (opt) {
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
            while (i < WORKLOADS && strcmp(optarg, workload_names[i]) != 0)
                i++;
            if (i == WORKLOADS) {
                fprintf(stderr, "invalid -w '%s' (see --help)\n", optarg);
                return -1;
            }
            b->workload = (enum workload)i;
            break;
        }
        case 'r':
            if (lg_parse_u64("--rate", optarg, 1, 10000000, &v) < 0)
                return -1;
            b->rate_per_s = (double)v;
            break;
        case 'J':
            b->json = true;
            break;
        case 'T':
            tls = true;
            break;
        case 'A':
            tls_opts.ca_file = optarg;
            break;
        case 'N':
            b->tls_name = optarg;
            break;
        case 'C':
            tls_opts.cert_file = optarg;
            break;
        case 'K':
            tls_opts.key_file = optarg;
            break;
        case 'R':
            tls_opts.session_resume = true;
            break;
        case 'u':
            b->user = optarg;
            break;
        case 'F':
            password_file = optarg;
            break;
        case 'V':
            b->verbose = true;
            lg_progress_forced = true;
            break;
        case 'v':
            printf("synq-bench %s\n", SYNQ_VERSION);
            exit(0);
        case 'h':
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
    if (password_file && !b->user) {
        fputs("--password-file needs --user USER\n", stderr);
        return -1;
    }
    char why[256];
    if (b->user &&
        login_line(b->user, password_file, b->auth_line, &b->auth_len, why, sizeof why) != 0) {
        fprintf(stderr, "%s\n", why);
        return -1;
    }
    if (tls_opts.session_resume && !tls) {
        fputs("--tls-resume needs --tls\n", stderr);
        return -1;
    }
    if (b->workload == WL_CONNECT && b->rate_per_s > 0) {
        fputs("--rate does not apply to -w connect (each connection does one job at a time)\n",
              stderr);
        return -1;
    }
    if (tls && sq_tls_client_new(&tls_opts, &b->tls) < 0) {
        fprintf(stderr, "synq-bench: TLS: %s\n", sq_tls_last_error());
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
    if (b->ntubes == 0)
        return -1; /* bench_parse_options() always names one; the division below needs it */
    b->bc = calloc(b->conns, sizeof *b->bc);
    if (!b->bc)
        return -1;
    unsigned producers = b->conns / 2;
    for (unsigned t = 0; t < b->ntubes; t++)
        b->tube_quota[t] = b->total_jobs / b->ntubes + (t < b->total_jobs % b->ntubes);
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
        case WL_CONNECT:
            bc->role = ROLE_CONNECTOR;
            break;
        }
        bc->tube_index = tube_index % b->ntubes;
        bc->tube = b->tubes[bc->tube_index];
        /* Per slot at most two commands wait at once (put+reserve, or
         * reserve then delete), plus the setup commands. */
        bc->ring_cap = 2 * b->pipeline + SETUP_OPS;
        bc->ring_sent_ns = calloc(bc->ring_cap, sizeof *bc->ring_sent_ns);
        bc->ring_chain_ns = calloc(bc->ring_cap, sizeof *bc->ring_chain_ns);
        bc->ring_kind = calloc(bc->ring_cap, sizeof *bc->ring_kind);
        /* At most one delete per reserve in flight, i.e. per slot. */
        bc->deletes = malloc((size_t)b->pipeline * (7 + MAX_ID_DIGITS + 2));
        if (!bc->ring_sent_ns || !bc->ring_chain_ns || !bc->ring_kind || !bc->deletes)
            return -1;
    }
    return 0;
}

int bench_prepare(bench *b)
{
    return build_runs(b) == 0 && setup_conns(b) == 0 ? 0 : -1;
}
