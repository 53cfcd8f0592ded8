/*
 * synqd: the command line. It accepts beanstalkd's flags with their
 * meaning (so an init script can swap the binary unchanged) plus long
 * options, then runs the server on one loop until SIGTERM or SIGINT.
 * SIGUSR1 enters drain mode.
 *
 * The one deliberate difference: the default listen address is 127.0.0.1,
 * not 0.0.0.0. Exposing a queue to the network should be a choice.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "server.h"
#include "synq_version.h"
#include "synq/loop.h"

/* "epoll (default), io_uring, poll": what this build has. */
static const char *backend_list(void)
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
            " -p, --port PORT          listen on port (default %d)\n"
            " -u, --user USER          become user and group after binding\n"
            " -z, --max-job-size BYTES maximum job size (default %u, at most %u)\n"
            " -s, --segment-size BYTES size of each log segment (default %u),\n"
            "                          rounded up to a multiple of 4096\n"
            "     --metrics ADDR:PORT  serve Prometheus metrics over HTTP (docs/metrics.md)\n"
            "     --max-memory BYTES   refuse puts (OUT_OF_MEMORY) once jobs would take more\n"
            "                          (bodies plus %u bytes each); default no limit\n"
            "     --io-backend NAME    the kernel interface the event loop waits on:\n"
            "                          %s\n"
            " -c, -n                   accepted for compatibility (the log is always compacted)\n"
            " -v, --version            show version information\n"
            " -V, --verbose            increase verbosity\n"
            " -h, --help               show this help\n",
            SERVER_DEFAULT_FSYNC_MS, SERVER_DEFAULT_PORT, SERVER_DEFAULT_MAX_JOB_BYTES,
            SERVER_MAX_JOB_BYTES_LIMIT, SERVER_DEFAULT_SEGMENT_BYTES, SERVER_JOB_OVERHEAD_BYTES,
            backend_list());
}

/* Parses a whole decimal number into *out; rejects signs, garbage and
 * overflow past max. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
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

static int become_user(const char *name)
{
    struct passwd *pw = getpwnam(name);
    if (!pw) {
        fprintf(stderr, "synqd: getpwnam(\"%s\"): no such user\n", name);
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        fprintf(stderr, "synqd: becoming user %s failed: %s\n", name, strerror(errno));
        return -1;
    }
    return 0;
}

typedef struct {
    server *srv;
} signal_ctx;

static void on_terminate(sq_loop *loop, int signo, void *data)
{
    signal_ctx *ctx = data;
    fprintf(stderr, "synqd: signal %d: shutting down\n", signo);
    server_shutdown(ctx->srv);
    sq_loop_stop(loop);
}

static void on_drain(sq_loop *loop, int signo, void *data)
{
    (void)loop;
    (void)signo;
    signal_ctx *ctx = data;
    fprintf(stderr, "synqd: SIGUSR1: entering drain mode\n");
    server_set_draining(ctx->srv, true);
}

int main(int argc, char **argv)
{
    server_opts o;
    server_opts_default(&o);
    const char *user = NULL;
    const char *metrics_spec = NULL;
    const char *io_backend = NULL;
    char metrics_host[256];
    uint16_t metrics_port_num = 0;

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
        {"max-memory", required_argument, NULL, 'm'},
        {"io-backend", required_argument, NULL, 'I'},
        {NULL, 0, NULL, 0},
    };
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, "b:f:Fl:p:u:z:s:cnvVh", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            o.wal_dir = optarg;
            break;
        case 'f':
            if (parse_u64(optarg, UINT32_MAX, &v) != 0) {
                fprintf(stderr, "synqd: -f: invalid milliseconds: %s\n", optarg);
                return 5;
            }
            o.fsync_ms = (uint32_t)v;
            o.fsync_never = false;
            break;
        case 'F':
            o.fsync_never = true;
            break;
        case 'l':
            o.listen_addr = optarg;
            break;
        case 'p':
            if (parse_u64(optarg, 65535, &v) != 0) {
                fprintf(stderr, "synqd: -p: invalid port: %s\n", optarg);
                return 5;
            }
            o.port = (uint16_t)v;
            break;
        case 'u':
            user = optarg;
            break;
        case 'z':
            if (parse_u64(optarg, UINT64_MAX, &v) != 0) {
                fprintf(stderr, "synqd: -z: invalid size: %s\n", optarg);
                return 5;
            }
            if (v > SERVER_MAX_JOB_BYTES_LIMIT) {
                fprintf(stderr, "synqd: maximum job size was set to %u\n",
                        SERVER_MAX_JOB_BYTES_LIMIT);
                v = SERVER_MAX_JOB_BYTES_LIMIT;
            }
            o.max_job_bytes = (size_t)v;
            break;
        case 's':
            if (parse_u64(optarg, UINT64_MAX / 2, &v) != 0 || v == 0) {
                fprintf(stderr, "synqd: -s: invalid size: %s\n", optarg);
                return 5;
            }
            o.segment_bytes = (v + 4095) / 4096 * 4096;
            break;
        case 'c':
        case 'n':
            fprintf(stderr, "synqd: -%c is accepted for compatibility; the log is always "
                            "compacted\n", c);
            break;
        case 'v':
            printf("synqd %s\n", SYNQ_VERSION);
            return 0;
        case 'V':
            o.verbose++;
            break;
        case 'm':
            if (parse_u64(optarg, UINT64_MAX, &v) != 0 || v == 0) {
                fprintf(stderr, "synqd: --max-memory: invalid size: %s\n", optarg);
                return 5;
            }
            o.max_memory = v;
            break;
        case 'M':
            if (parse_host_port(optarg, metrics_host, sizeof metrics_host, &metrics_port_num)) {
                fprintf(stderr, "synqd: --metrics: expected ADDR:PORT, got %s\n", optarg);
                return 5;
            }
            metrics_spec = optarg;
            break;
        case 'I':
            io_backend = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 5;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "synqd: unknown argument: %s\n", argv[optind]);
        usage(stderr);
        return 5;
    }

    /* A peer that vanishes must not kill the server on write. */
    signal(SIGPIPE, SIG_IGN);

    sq_loop *loop;
    int err = sq_loop_new_backend(&loop, io_backend);
    if (err == -ENOENT) {
        fprintf(stderr, "synqd: %s%s: not in this build (it has %s)\n",
                io_backend ? "--io-backend " : "SQ_LOOP_BACKEND=",
                io_backend ? io_backend : getenv("SQ_LOOP_BACKEND"), backend_list());
        return 5;
    }
    if (err) {
        fprintf(stderr, "synqd: creating the event loop (%s): %s\n",
                io_backend ? io_backend : "default backend", sq_strerror(err));
        return 1;
    }
    if (o.verbose)
        fprintf(stderr, "synqd: event loop on %s\n", sq_loop_backend(loop));
    server *srv = NULL;
    metrics *mx = NULL;
    signal_ctx ctx = {NULL};
    if ((err = server_start(loop, &o, &srv)) != 0)
        goto done;
    ctx.srv = srv;
    /* Before dropping privileges, like the protocol port. */
    if (metrics_spec) {
        if ((err = metrics_start(loop, srv, metrics_host, metrics_port_num, &mx)) != 0)
            goto done;
        if (o.verbose)
            fprintf(stderr, "synqd: metrics on %s:%u\n", metrics_host, metrics_port(mx));
    }
    if (user && become_user(user) != 0) {
        err = -EPERM;
        goto done;
    }
    if ((err = sq_loop_watch_signal(loop, SIGTERM, on_terminate, &ctx)) != 0 ||
        (err = sq_loop_watch_signal(loop, SIGINT, on_terminate, &ctx)) != 0 ||
        (err = sq_loop_watch_signal(loop, SIGUSR1, on_drain, &ctx)) != 0) {
        fprintf(stderr, "synqd: watching signals: %s\n", sq_strerror(err));
        goto done;
    }

    err = sq_loop_run(loop);
    if (err)
        fprintf(stderr, "synqd: event loop failed: %s\n", sq_strerror(err));

done:
    sq_loop_unwatch_signal(loop, SIGTERM);
    sq_loop_unwatch_signal(loop, SIGINT);
    sq_loop_unwatch_signal(loop, SIGUSR1);
    /* Resets open scrapes; their close callbacks (which free the endpoint)
     * run in the next iteration, which the line after guarantees even when
     * the server is already idle. */
    metrics_stop(mx);
    sq_loop_run_once(loop, 0);
    if (srv) {
        server_shutdown(srv);
        /* Give clients a moment to receive their last replies, then reset
         * the connections that are still open. */
        sq_loop_update_time(loop);
        uint64_t give_up_ms = sq_loop_now_ms(loop) + 1000;
        while (!server_idle(srv) && sq_loop_now_ms(loop) < give_up_ms)
            sq_loop_run_once(loop, 50);
        if (!server_idle(srv)) {
            server_abort_sessions(srv);
            sq_loop_run_once(loop, 0);
        }
        server_free(srv);
    }
    sq_loop_free(loop);
    return err ? 1 : 0;
}
