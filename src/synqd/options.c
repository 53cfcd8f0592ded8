/*
 * options: synqd's command line (see options.h). The one deliberate difference from
 * beanstalkd's: the default listen address is 127.0.0.1, not 0.0.0.0.
 */
#include "options.h"

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "proto.h"
#include "replica.h"
#include "synq/loop.h"
#include "synq/version.h"

/* After SIGTERM or SIGINT, how long the workers get to finish the jobs they hold
 * (--shutdown-grace), and the longest that may be asked for (a day). */
#define SYNQD_DEFAULT_SHUTDOWN_GRACE_S 10u
#define SYNQD_MAX_SHUTDOWN_GRACE_S 86400u

/* -s rounds the segment size up to a multiple of this. */
#define SEGMENT_ROUND_BYTES 4096u

/* "epoll (default), io_uring, poll": what this build has. */
const char *synqd_backend_list(void)
{
    static char buf[128];
    size_t n = 0;
    const char *const *names = sq_loop_backends();
    for (size_t i = 0; names[i] && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s%s", i ? ", " : "", names[i],
                              i ? "" : " (default)");
    return buf;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Use: synqd [OPTIONS]\n"
            "\n"
            "Options (beanstalkd-compatible):\n"
            " -b, --wal-dir DIR        write-ahead log directory (durability on)\n"
            " -f, --fsync-ms MS        fsync at most every MS milliseconds (default %d);\n"
            "                          -f0: every change is on disk before its reply\n"
            " -F, --no-fsync           never fsync\n"
            " -l, --listen ADDR        listen on address (default 127.0.0.1)\n"
            " -p, --port PORT          listen on port (default %d); -p 0 with --tls-port:\n"
            "                          no plain TCP\n"
            " -u, --user USER          become user and its groups after binding, before\n"
            "                          the log is opened\n"
            " -z, --max-job-size BYTES maximum job size (default %u, at most %u)\n"
            " -s, --segment-size BYTES size of each log segment (default %u),\n"
            "                          rounded up to a multiple of %u\n"
            "     --http [ADDR:]PORT   serve the web console and /metrics over HTTP\n"
            "                          (docs/tools.md; ADDR defaults to 127.0.0.1)\n"
            "     --http-token-file FILE  the console API's bearer token (needed off loopback)\n"
            "     --http-tls yes|no    serve --http over TLS only, with the TLS files\n"
            "                          (default no)\n"
            "     --metrics ADDR:PORT  the same as --http (docs/metrics.md)\n"
            "     --metrics-max-tubes N  tubes given per-tube metrics in one scrape\n"
            "                          (default %u; 0: all)\n"
            "     --metrics-tubes GLOB[,GLOB]  only these tubes get per-tube metrics\n"
            "     --max-memory BYTES   refuse puts (OUT_OF_MEMORY) once jobs would take more\n"
            "                          (bodies plus %u bytes each); default no limit\n"
            "     --io-backend NAME    the kernel interface the event loop waits on:\n"
            "                          %s\n"
            "     --shutdown-grace S   after SIGTERM, wait up to S seconds for reserved jobs\n"
            "                          to be deleted, released or buried (default %u)\n"
            "\n"
            "TLS (docs/security.md; SIGHUP reloads the files):\n"
            "     --tls-port PORT      also serve TLS on this port (same -l address)\n"
            "     --tls-cert FILE      the server's certificate chain (PEM)\n"
            "     --tls-key FILE       its private key (PEM)\n"
            "     --tls-ca FILE        CAs client certificates are checked against (PEM)\n"
            "     --tls-auth-clients yes|no|optional  require a client certificate\n"
            "                          (default yes: needs --tls-ca)\n"
            "     --tls-protocols \"TLSv1.2 TLSv1.3\"  the versions offered (the default)\n"
            "     --tls-ciphersuites LIST  TLS 1.3 suites (default OpenSSL's)\n"
            "     --tls-ktls yes|no    kernel TLS offload where the kernel has it (default no)\n"
            "\n"
            "Cluster (docs/cluster.md; -b DIR then holds the node's Raft state):\n"
            "     --node ID            be cluster node ID (a positive integer)\n"
            "     --peers ID=HOST:PORT,...  every node's Raft address, this one's included\n"
            "                          (the same list on every node)\n"
            "     --election-timeout MS  Raft's election timeout (default 1000)\n"
            "     --snapshot-entries N  snapshot the store every N Raft entries\n"
            "                          (default 8192)\n"
            "     --join               a new node: do not bootstrap, wait for the leader's\n"
            "                          cluster-add (synq cluster add)\n"
            "     --cluster-tls yes|no  Raft links between nodes over mutual TLS with\n"
            "                          --tls-cert/--tls-key, peers verified by --tls-ca\n"
            "     --cluster-tls-name NAME  (needed with --cluster-tls yes) every peer's\n"
            "                          certificate must name NAME; relayed clients keep\n"
            "                          their address and certificate (SIGHUP reloads\n"
            "                          the TLS files for new links)\n"
            "\n"
            "Authentication (docs/security.md):\n"
            "     --users FILE         clients must authenticate (auth, or a client\n"
            "                          certificate) as a user of FILE, with its rights;\n"
            "                          SIGHUP reloads it; the console API logs users in\n"
            "                          with HTTP Basic\n"
            "     --insecure-listen    serve -l on a non-loopback address without --users\n"
            "                          (refused otherwise)\n"
            "     --metrics-token-file FILE  scrapes must send this bearer token\n"
            "\n"
            "Overload limits (docs/operations.md):\n"
            "     --output-soft-limit BYTES  a connection's commands wait while its unsent\n"
            "                          replies exceed this (default %u)\n"
            "     --output-limit BYTES  reset a connection whose unsent replies would exceed\n"
            "                          this (default %u)\n"
            "     --output-total-limit BYTES  all connections' unsent replies; past it\n"
            "                          each runs one command at a time (default %u; 0: none)\n"
            "     --output-timeout-ms MS  close a connection whose replies made no progress\n"
            "                          for this long (default %u; 0 = never)\n"
            "     --pass-commands N    most commands one connection runs per loop pass\n"
            "                          (default %u)\n"
            " -c, -n                   accepted for compatibility (the log is always compacted)\n"
            " -v, --version            show version information\n"
            " -V, --verbose            increase verbosity\n"
            " -h, --help               show this help\n"
            "\n"
            "-z, -s and --max-memory take bytes, or a whole number with a unit: k, K, KiB,\n"
            "M, MiB, G, GiB (powers of 1024) or KB, MB, GB (of 1000), as 64MiB.\n"
            "\n"
            "Under systemd (LISTEN_PID, LISTEN_FDS) synqd serves the socket it is passed\n"
            "and ignores -l and -p; with NOTIFY_SOCKET it reports READY=1 once it serves.\n",
            SERVER_DEFAULT_FSYNC_MS, SERVER_DEFAULT_PORT, SERVER_DEFAULT_MAX_JOB_BYTES,
            SERVER_MAX_JOB_BYTES_LIMIT, SERVER_DEFAULT_SEGMENT_BYTES, SEGMENT_ROUND_BYTES,
            METRICS_DEFAULT_MAX_TUBES, SERVER_JOB_OVERHEAD_BYTES, synqd_backend_list(),
            SYNQD_DEFAULT_SHUTDOWN_GRACE_S, SERVER_DEFAULT_OUT_SOFT_BYTES,
            SERVER_DEFAULT_OUT_LIMIT_BYTES, SERVER_DEFAULT_OUT_TOTAL_BYTES,
            SERVER_DEFAULT_OUT_TIMEOUT_MS, SERVER_DEFAULT_PASS_COMMANDS);
}

/* "ADDR:PORT" or "[IPV6]:PORT" into host (NUL-terminated) and port. */
static int parse_host_port(const char *spec, char *host, size_t host_len, uint16_t *port)
{
    const char *colon = strrchr(spec, ':');
    uint64_t v;
    if (!colon || parse_u64(colon + 1, 65535, &v) != 0)
        return -1;
    const char *h = spec;
    size_t n = (size_t)(colon - spec);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    if (n == 0 || n >= host_len)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = (uint16_t)v;
    return 0;
}

/* Parses arg as a number in [min, max] for the option flag; says so on
 * stderr when it is not ("synqd: -p: invalid port: x"). */
static bool number_option(const char *flag, const char *what, const char *arg, uint64_t min,
                          uint64_t max, uint64_t *v)
{
    if (parse_u64(arg, max, v) == 0 && *v >= min)
        return true;
    fprintf(stderr, "synqd: %s: invalid %s: %s\n", flag, what, arg);
    return false;
}

/* Parses arg as a size in bytes (plain, or with a unit: parse.h) in [min, max] for the option
 * flag; says what is wrong on stderr when it is not. */
static bool size_option(const char *flag, const char *arg, uint64_t min, uint64_t max, uint64_t *v)
{
    int rc = parse_size(arg, max, v);
    if (rc == 0 && *v >= min)
        return true;
    if (rc == PARSE_SIZE_BAD)
        fprintf(stderr, "synqd: %s: invalid size: %s (bytes, or a whole number with a unit: %s)\n",
                flag, arg, PARSE_SIZE_UNITS);
    else
        fprintf(stderr,
                "synqd: %s: size out of range: %s (from %" PRIu64 " to %" PRIu64 " bytes)\n", flag,
                arg, min, max);
    return false;
}

/* Long options without a short form (getopt_long answers these values). */
enum {
    OPT_OUT_SOFT = 256,
    OPT_OUT_LIMIT,
    OPT_OUT_TOTAL,
    OPT_OUT_TIMEOUT,
    OPT_PASS_COMMANDS,
    OPT_METRICS_MAX_TUBES,
    OPT_METRICS_TUBES,
    OPT_HTTP_TOKEN_FILE,
    OPT_HTTP_TLS,
    OPT_SHUTDOWN_GRACE,
    OPT_TLS_PORT,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_TLS_CA,
    OPT_TLS_AUTH_CLIENTS,
    OPT_TLS_PROTOCOLS,
    OPT_TLS_CIPHERSUITES,
    OPT_TLS_KTLS,
    OPT_NODE,
    OPT_PEERS,
    OPT_ELECTION_TIMEOUT,
    OPT_SNAPSHOT_ENTRIES,
    OPT_JOIN,
    OPT_CLUSTER_TLS,
    OPT_CLUSTER_TLS_NAME,
    OPT_USERS,
    OPT_INSECURE_LISTEN,
    OPT_METRICS_TOKEN_FILE,
};

/* apply_option()'s answer when parsing goes on. */
#define NEXT_OPTION (-1)

/* The --tls-* options (see apply_option). */
static int apply_tls_option(synqd_tls *t, int c, const char *arg)
{
    uint64_t v;
    switch (c) {
    case OPT_TLS_PORT:
        if (!number_option("--tls-port", "port", arg, 1, 65535, &v))
            return SYNQD_EXIT_USAGE;
        t->port = (uint16_t)v;
        t->on = true;
        return NEXT_OPTION;
    case OPT_HTTP_TLS:
        if (strcmp(arg, "yes") != 0 && strcmp(arg, "no") != 0) {
            fprintf(stderr, "synqd: --http-tls: expected yes or no, got %s\n", arg);
            return SYNQD_EXIT_USAGE;
        }
        t->http = strcmp(arg, "yes") == 0;
        return NEXT_OPTION;
    case OPT_TLS_CERT:
        t->opts.cert_file = arg;
        return NEXT_OPTION;
    case OPT_TLS_KEY:
        t->opts.key_file = arg;
        return NEXT_OPTION;
    case OPT_TLS_CA:
        t->opts.ca_file = arg;
        return NEXT_OPTION;
    case OPT_TLS_AUTH_CLIENTS:
        if (!synqd_tls_parse_auth(arg, &t->opts.verify)) {
            fprintf(stderr, "synqd: --tls-auth-clients: expected yes, no or optional, got %s\n",
                    arg);
            return SYNQD_EXIT_USAGE;
        }
        return NEXT_OPTION;
    case OPT_TLS_PROTOCOLS:
        t->opts.protocols = arg;
        return NEXT_OPTION;
    case OPT_TLS_CIPHERSUITES:
        t->opts.ciphersuites = arg;
        return NEXT_OPTION;
    case OPT_TLS_KTLS:
        if (strcmp(arg, "yes") != 0 && strcmp(arg, "no") != 0) {
            fprintf(stderr, "synqd: --tls-ktls: expected yes or no, got %s\n", arg);
            return SYNQD_EXIT_USAGE;
        }
        t->opts.ktls = strcmp(arg, "yes") == 0;
        return NEXT_OPTION;
    default:
        usage(stderr);
        return SYNQD_EXIT_USAGE;
    }
}

/* --cluster-tls and --cluster-tls-name, then the client port's TLS options. */
static int apply_cluster_tls_option(synqd_options *opt, int c, const char *arg)
{
    switch (c) {
    case OPT_CLUSTER_TLS:
        if (strcmp(arg, "yes") != 0 && strcmp(arg, "no") != 0) {
            fprintf(stderr, "synqd: --cluster-tls: expected yes or no, got %s\n", arg);
            return SYNQD_EXIT_USAGE;
        }
        opt->server.cluster_tls = strcmp(arg, "yes") == 0;
        return NEXT_OPTION;
    case OPT_CLUSTER_TLS_NAME:
        opt->server.cluster_tls_name = arg;
        return NEXT_OPTION;
    default:
        return apply_tls_option(&opt->tls, c, arg);
    }
}

/* --node, --peers, --join, --election-timeout, --snapshot-entries; the rest is cluster
 * TLS's and TLS's. */
static int apply_cluster_option(synqd_options *opt, int c, const char *arg)
{
    server_opts *o = &opt->server;
    uint64_t v = 0;
    switch (c) {
    case OPT_NODE:
        if (!number_option("--node", "node id", arg, 1, UINT32_MAX, &v))
            return SYNQD_EXIT_USAGE;
        o->node_id = v;
        return NEXT_OPTION;
    case OPT_PEERS:
        o->peers = arg;
        return NEXT_OPTION;
    case OPT_JOIN:
        o->join = true;
        return NEXT_OPTION;
    case OPT_ELECTION_TIMEOUT:
        if (!number_option("--election-timeout", "milliseconds", arg, 50, 60000, &v))
            return SYNQD_EXIT_USAGE;
        o->election_timeout_ms = (uint32_t)v;
        return NEXT_OPTION;
    case OPT_SNAPSHOT_ENTRIES:
        if (!number_option("--snapshot-entries", "entries", arg, 16, 1u << 24, &v))
            return SYNQD_EXIT_USAGE;
        o->snapshot_entries = (uint32_t)v;
        return NEXT_OPTION;
    default:
        return apply_cluster_tls_option(opt, c, arg);
    }
}

/* Applies the option c (getopt_long's answer) with its argument arg.
 * Returns NEXT_OPTION, or the status to exit with right away (-h, -v, an
 * invalid value: the message is printed). */
static int apply_option(synqd_options *opt, int c, const char *arg)
{
    server_opts *o = &opt->server;
    uint64_t v;
    switch (c) {
    case 'b':
        o->wal_dir = arg;
        return NEXT_OPTION;
    case 'f':
        if (!number_option("-f", "milliseconds", arg, 0, UINT32_MAX, &v))
            return SYNQD_EXIT_USAGE;
        o->fsync_ms = (uint32_t)v;
        o->fsync_never = false;
        return NEXT_OPTION;
    case 'F':
        o->fsync_never = true;
        return NEXT_OPTION;
    case 'l':
        o->listen_addr = arg;
        opt->listen_given = true;
        return NEXT_OPTION;
    case 'p':
        if (!number_option("-p", "port", arg, 0, 65535, &v))
            return SYNQD_EXIT_USAGE;
        o->port = (uint16_t)v;
        opt->port_given = true;
        return NEXT_OPTION;
    case 'u':
        opt->user = arg;
        return NEXT_OPTION;
    case 'z':
        if (!size_option("-z", arg, 0, UINT64_MAX, &v))
            return SYNQD_EXIT_USAGE;
        if (v > SERVER_MAX_JOB_BYTES_LIMIT) {
            fprintf(stderr, "synqd: maximum job size was set to %u\n", SERVER_MAX_JOB_BYTES_LIMIT);
            v = SERVER_MAX_JOB_BYTES_LIMIT;
        }
        o->max_job_bytes = (size_t)v;
        return NEXT_OPTION;
    case 's':
        if (!size_option("-s", arg, 1, UINT64_MAX / 2, &v))
            return SYNQD_EXIT_USAGE;
        o->segment_bytes =
            (v + SEGMENT_ROUND_BYTES - 1) / SEGMENT_ROUND_BYTES * SEGMENT_ROUND_BYTES;
        return NEXT_OPTION;
    case 'c':
    case 'n':
        fprintf(stderr, "synqd: -%c is accepted for compatibility; the log is always compacted\n",
                c);
        return NEXT_OPTION;
    case 'v':
        printf("synqd %s\n", SYNQ_VERSION);
        return SYNQD_EXIT_OK;
    case 'V':
        o->verbose++;
        return NEXT_OPTION;
    case 'm':
        if (!size_option("--max-memory", arg, 1, UINT64_MAX, &v))
            return SYNQD_EXIT_USAGE;
        o->max_memory = v;
        return NEXT_OPTION;
    case 'M':
        /* A bare port is on loopback, like -l's default. */
        if (!strchr(arg, ':') && parse_u64(arg, 65535, &v) == 0) {
            snprintf(opt->metrics_host, sizeof opt->metrics_host, "127.0.0.1");
            opt->metrics_opts.port = (uint16_t)v;
        } else if (parse_host_port(arg, opt->metrics_host, sizeof opt->metrics_host,
                                   &opt->metrics_opts.port)) {
            fprintf(stderr, "synqd: --http/--metrics: expected [ADDR:]PORT, got %s\n", arg);
            return SYNQD_EXIT_USAGE;
        }
        opt->metrics = true;
        return NEXT_OPTION;
    case OPT_METRICS_MAX_TUBES:
        if (!number_option("--metrics-max-tubes", "count", arg, 0, UINT32_MAX, &v))
            return SYNQD_EXIT_USAGE;
        opt->metrics_opts.max_tubes = (uint32_t)v;
        return NEXT_OPTION;
    case OPT_METRICS_TUBES:
        opt->metrics_opts.tube_patterns = arg;
        return NEXT_OPTION;
    case OPT_HTTP_TOKEN_FILE:
        opt->metrics_opts.token_file = arg;
        return NEXT_OPTION;
    case 'I':
        opt->io_backend = arg;
        return NEXT_OPTION;
    case OPT_OUT_SOFT:
        if (!number_option("--output-soft-limit", "size", arg, 4096, SIZE_MAX / 4, &v))
            return SYNQD_EXIT_USAGE;
        o->out_soft_bytes = (size_t)v;
        return NEXT_OPTION;
    case OPT_OUT_LIMIT:
        if (!number_option("--output-limit", "size", arg, 4096, SIZE_MAX / 4, &v))
            return SYNQD_EXIT_USAGE;
        o->out_limit_bytes = (size_t)v;
        return NEXT_OPTION;
    case OPT_OUT_TOTAL:
        if (!number_option("--output-total-limit", "size", arg, 0, SIZE_MAX / 4, &v))
            return SYNQD_EXIT_USAGE;
        o->out_total_bytes = (size_t)v;
        return NEXT_OPTION;
    case OPT_OUT_TIMEOUT:
        if (!number_option("--output-timeout-ms", "milliseconds", arg, 0, UINT32_MAX, &v))
            return SYNQD_EXIT_USAGE;
        o->out_timeout_ms = (uint32_t)v;
        return NEXT_OPTION;
    case OPT_PASS_COMMANDS:
        if (!number_option("--pass-commands", "count", arg, 1, UINT32_MAX, &v))
            return SYNQD_EXIT_USAGE;
        o->pass_commands = (uint32_t)v;
        return NEXT_OPTION;
    case OPT_SHUTDOWN_GRACE:
        if (!number_option("--shutdown-grace", "seconds", arg, 0, SYNQD_MAX_SHUTDOWN_GRACE_S, &v))
            return SYNQD_EXIT_USAGE;
        opt->shutdown_grace_s = (uint32_t)v;
        return NEXT_OPTION;
    case OPT_USERS:
        opt->users_file = arg;
        return NEXT_OPTION;
    case OPT_INSECURE_LISTEN:
        o->insecure_listen = true;
        return NEXT_OPTION;
    case OPT_METRICS_TOKEN_FILE:
        opt->token_file = arg;
        return NEXT_OPTION;
    case 'h':
        usage(stdout);
        return SYNQD_EXIT_OK;
    default:
        return apply_cluster_option(opt, c, arg);
    }
}

/* --node needs --peers naming it and -b for the Raft state; --peers needs --node. */
static bool cluster_options_valid(const server_opts *o)
{
    if (!o->node_id && !o->peers && !o->join)
        return true;
    if (!o->node_id || !o->peers || !o->wal_dir) {
        fprintf(stderr, "synqd: a cluster node needs --node, --peers and -b together\n");
        return false;
    }
    char err[160];
    if (replica_check_peers(o->peers, o->node_id, err, sizeof err) != 0) {
        fprintf(stderr, "synqd: --peers: %s\n", err);
        return false;
    }
    return true;
}

/* With a log, every put the protocol accepts (-z, a 200-byte tube name) must fit in one segment
 * (-s): a log refuses a record bigger than its segments, and the server would then refuse that
 * put as if the log had failed. -s and -z can come in either order, so this is checked once all
 * options are read. */
static bool segment_fits_largest_put(const server_opts *o)
{
    if (!o->wal_dir)
        return true;
    uint64_t have = wal_segment_bytes(o->segment_bytes);
    uint64_t need = wal_min_segment_bytes(PROTO_MAX_TUBE_NAME, 0, o->max_job_bytes);
    if (have >= need)
        return true;
    const uint32_t max_bytes = WAL_MAX_SEGMENT_BYTES;
    if (need > max_bytes) {
        fprintf(stderr,
                "synqd: -z %zu is too big for a log: the largest put would take %" PRIu64
                " bytes, over the largest segment (%u bytes)\n",
                o->max_job_bytes, need, max_bytes);
        return false;
    }
    fprintf(stderr,
            "synqd: segments of %" PRIu64 " bytes (-s) are too small for -z %zu: the largest "
            "put takes %" PRIu64 " bytes of a segment; use -s %" PRIu64 " or more, or a "
            "smaller -z\n",
            have, o->max_job_bytes, need,
            (need + SEGMENT_ROUND_BYTES - 1) / SEGMENT_ROUND_BYTES * SEGMENT_ROUND_BYTES);
    return false;
}

/* Fills *opt from the command line. Returns true to run the server, false
 * to exit with *status (help, version, or a bad command line). */
bool synqd_parse_options(int argc, char **argv, synqd_options *opt, int *status)
{
    static const struct option longopts[] = {
        {"wal-dir", required_argument, NULL, 'b'},
        {"fsync-ms", required_argument, NULL, 'f'},
        {"no-fsync", no_argument, NULL, 'F'},
        {"listen", required_argument, NULL, 'l'},
        {"port", required_argument, NULL, 'p'},
        {"user", required_argument, NULL, 'u'},
        {"max-job-size", required_argument, NULL, 'z'},
        {"segment-size", required_argument, NULL, 's'},
        {"version", no_argument, NULL, 'v'},
        {"verbose", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {"metrics", required_argument, NULL, 'M'},
        {"http", required_argument, NULL, 'M'},
        {"http-token-file", required_argument, NULL, OPT_HTTP_TOKEN_FILE},
        {"http-tls", required_argument, NULL, OPT_HTTP_TLS},
        {"metrics-max-tubes", required_argument, NULL, OPT_METRICS_MAX_TUBES},
        {"metrics-tubes", required_argument, NULL, OPT_METRICS_TUBES},
        {"max-memory", required_argument, NULL, 'm'},
        {"io-backend", required_argument, NULL, 'I'},
        {"output-soft-limit", required_argument, NULL, OPT_OUT_SOFT},
        {"output-limit", required_argument, NULL, OPT_OUT_LIMIT},
        {"output-total-limit", required_argument, NULL, OPT_OUT_TOTAL},
        {"output-timeout-ms", required_argument, NULL, OPT_OUT_TIMEOUT},
        {"pass-commands", required_argument, NULL, OPT_PASS_COMMANDS},
        {"shutdown-grace", required_argument, NULL, OPT_SHUTDOWN_GRACE},
        {"tls-port", required_argument, NULL, OPT_TLS_PORT},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {"tls-ca", required_argument, NULL, OPT_TLS_CA},
        {"tls-auth-clients", required_argument, NULL, OPT_TLS_AUTH_CLIENTS},
        {"tls-protocols", required_argument, NULL, OPT_TLS_PROTOCOLS},
        {"tls-ciphersuites", required_argument, NULL, OPT_TLS_CIPHERSUITES},
        {"tls-ktls", required_argument, NULL, OPT_TLS_KTLS},
        {"node", required_argument, NULL, OPT_NODE},
        {"peers", required_argument, NULL, OPT_PEERS},
        {"election-timeout", required_argument, NULL, OPT_ELECTION_TIMEOUT},
        {"snapshot-entries", required_argument, NULL, OPT_SNAPSHOT_ENTRIES},
        {"join", no_argument, NULL, OPT_JOIN},
        {"cluster-tls", required_argument, NULL, OPT_CLUSTER_TLS},
        {"cluster-tls-name", required_argument, NULL, OPT_CLUSTER_TLS_NAME},
        {"users", required_argument, NULL, OPT_USERS},
        {"insecure-listen", no_argument, NULL, OPT_INSECURE_LISTEN},
        {"metrics-token-file", required_argument, NULL, OPT_METRICS_TOKEN_FILE},
        {NULL, 0, NULL, 0},
    };
    memset(opt, 0, sizeof *opt);
    server_opts_default(&opt->server);
    metrics_opts_default(&opt->metrics_opts);
    opt->metrics_opts.host = opt->metrics_host;
    opt->shutdown_grace_s = SYNQD_DEFAULT_SHUTDOWN_GRACE_S;
    synqd_tls_default(&opt->tls);
    int c;
    while ((c = getopt_long(argc, argv, "b:f:Fl:p:u:z:s:cnvVh", longopts, NULL)) != -1) {
        if ((*status = apply_option(opt, c, optarg)) != NEXT_OPTION)
            return false;
    }
    if (optind < argc) {
        fprintf(stderr, "synqd: unknown argument: %s\n", argv[optind]);
        usage(stderr);
        *status = SYNQD_EXIT_USAGE;
        return false;
    }
    if (!segment_fits_largest_put(&opt->server) || !synqd_tls_check(&opt->tls) ||
        !cluster_options_valid(&opt->server)) {
        *status = SYNQD_EXIT_USAGE;
        return false;
    }
    if (opt->tls.http && !opt->metrics) {
        fprintf(stderr, "synqd: --http-tls yes needs --http [ADDR:]PORT\n");
        *status = SYNQD_EXIT_USAGE;
        return false;
    }
    if (opt->port_given && opt->server.port == 0) {
        if (!opt->tls.on) {
            fprintf(stderr, "synqd: -p 0 turns plain TCP off, which needs --tls-port\n");
            *status = SYNQD_EXIT_USAGE;
            return false;
        }
        opt->server.plain_off = true;
    }
    opt->server.tls_port = opt->tls.port;
    if (opt->server.cluster_tls) {
        const sq_tls_opts *t = &opt->tls.opts;
        if (!opt->server.node_id || !t->cert_file || !t->ca_file) {
            fprintf(stderr, "synqd: --cluster-tls yes needs --node, --tls-cert and --tls-ca "
                            "(the cluster CA)\n");
            *status = SYNQD_EXIT_USAGE;
            return false;
        }
        /* --tls-ca also verifies the client port's certificates: a client's certificate from
         * the same CA would pass for a node's (and could speak Raft). Only a name the CA
         * issues to nodes alone tells them apart. */
        if (!opt->server.cluster_tls_name || !*opt->server.cluster_tls_name) {
            fprintf(stderr, "synqd: --cluster-tls yes needs --cluster-tls-name NAME, a name the "
                            "CA gives only to nodes' certificates (without it any certificate "
                            "of --tls-ca, a client's too, would pass for a node)\n");
            *status = SYNQD_EXIT_USAGE;
            return false;
        }
        opt->server.cluster_tls_cert = t->cert_file;
        opt->server.cluster_tls_key = t->key_file ? t->key_file : t->cert_file;
        opt->server.cluster_tls_ca = t->ca_file;
    }
    return true;
}
