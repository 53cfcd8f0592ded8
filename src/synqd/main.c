/*
 * synqd's main: parses the command line (options.c), then runs the server on one loop until
 * SIGTERM or SIGINT (finishing reserved jobs within --shutdown-grace). SIGUSR1 enters drain
 * mode, SIGUSR2 leaves it, SIGHUP reloads the TLS files and --users. Started by systemd, it
 * serves the socket it was passed (socket activation: -l and -p are then ignored, as by
 * beanstalkd) and reports readiness once the log is replayed (systemd.h).
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "auth_setup.h"
#include "metrics.h"
#include "options.h"
#include "server.h"
#include "synq/loop.h"
#include "synq/timer.h"
#include "systemd.h"
#include "tls_setup.h"

/* Allocations from this size up get their own mapping (see main). */
#define MMAP_THRESHOLD_BYTES (256 * 1024)

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
    /* setuid() as root sets all three ids; a way back would mean it did not. */
    if (pw->pw_uid != 0 && setuid(0) == 0) {
        fprintf(stderr, "synqd: becoming user %s failed: root could be regained\n", name);
        return -1;
    }
    return 0;
}

/* Once the jobs are finished (or the grace is over), how long clients get to receive
 * their last replies before the connections still open are reset. */
#define LAST_REPLIES_GRACE_MS 1000

/* Takes the listening socket systemd passed, if any, in place of -l and -p
 * (beanstalkd's warning for each of them included). Returns SYNQD_EXIT_OK,
 * or the status to exit with (the cause is printed). */
static int adopt_listen_socket(synqd_options *opt)
{
    server_opts *o = &opt->server;
    if (systemd_listen_fd(&o->listen_fd) != 0)
        return SYNQD_EXIT_FAILED;
    if (o->listen_fd < 0)
        return SYNQD_EXIT_OK;
    if (opt->listen_given)
        fprintf(stderr, "synqd: inherited listen fd; ignoring option: -l %s\n", o->listen_addr);
    if (opt->port_given)
        fprintf(stderr, "synqd: inherited listen fd; ignoring option: -p %u\n", (unsigned)o->port);
    return SYNQD_EXIT_OK;
}

/* Makes the event loop on the backend asked for (--io-backend, else
 * SQ_LOOP_BACKEND, else the build's default). Returns SYNQD_EXIT_OK, or the
 * status to exit with (the message is printed). */
static int open_loop(const synqd_options *opt, sq_loop **loop)
{
    const char *name = opt->io_backend;
    int err = sq_loop_new_backend(loop, name);
    if (err == -ENOENT) {
        fprintf(stderr, "synqd: %s%s: not in this build (it has %s)\n",
                name ? "--io-backend " : "SQ_LOOP_BACKEND=",
                name ? name : getenv("SQ_LOOP_BACKEND"), synqd_backend_list());
        return SYNQD_EXIT_USAGE;
    }
    if (err) {
        fprintf(stderr, "synqd: creating the event loop (%s): %s\n",
                name ? name : "default backend", sq_strerror(err));
        return SYNQD_EXIT_FAILED;
    }
    if (opt->server.verbose)
        fprintf(stderr, "synqd: event loop on %s\n", sq_loop_backend(*loop));
    return SYNQD_EXIT_OK;
}

/* Starts the server and the metrics endpoint (both bind before privileges
 * are dropped), becomes -u's user, and only then opens and replays the log:
 * the log is the least trusted input synqd reads, and what it creates there
 * (the directory, the lock, the segments) must belong to the user that will
 * open it again at the next start. 0 or a negative errno; what was started
 * is in *srv and *mx either way, for stop_services(). */
static int start_services(sq_loop *loop, synqd_options *opt, server **srv, metrics **mx)
{
    int err = 0;
    sq_tls_ctx *tls = NULL; /* --tls-port's and --http-tls's configuration */
    if ((opt->tls.on || opt->tls.http) && (err = synqd_tls_load(&opt->tls, "TLS", &tls)) != 0)
        return err;
    if ((err = synqd_auth_load(opt->users_file, opt->token_file, &opt->server.users,
                               &opt->metrics_token)) != 0) {
        sq_tls_ctx_free(tls);
        return err;
    }
    if (opt->token_file)
        opt->metrics_opts.token = &opt->metrics_token;
    opt->server.tls = opt->tls.on ? tls : NULL;
    opt->metrics_opts.tls = opt->tls.http ? tls : NULL;
    err = server_start(loop, &opt->server, srv);
    opt->server.tls = NULL;
    if (err == 0 && opt->metrics)
        err = metrics_start(loop, *srv, &opt->metrics_opts, mx);
    /* The listeners hold their own references. */
    sq_tls_ctx_free(tls);
    opt->metrics_opts.tls = NULL;
    if (err)
        return err;
    if (opt->metrics) {
        if (opt->server.verbose)
            fprintf(stderr, "synqd: http (console, metrics) on %s:%u\n", opt->metrics_host,
                    metrics_port(*mx));
    }
    if (opt->user && become_user(opt->user) != 0)
        return -EPERM;
    return server_serve(*srv);
}

/*
 * Graceful shutdown. The first SIGTERM or SIGINT quiesces the server (server_quiesce: no
 * accepts, put answers DRAINING, no job handed out) and the loop runs on while jobs are
 * reserved, so the workers holding them can delete, release or bury them, for at most
 * --shutdown-grace seconds. The loop stops once none is reserved or the grace is over; the
 * jobs still reserved then are ready in the log, so a restart with -b hands them out again.
 * A second SIGTERM or SIGINT stops it at once.
 */
typedef struct {
    server *srv;
    metrics *mx;            /* --http, or NULL: its TLS reloads on SIGHUP too */
    const synqd_tls *tls;   /* the --tls-* flags, for SIGHUP */
    const char *users_file; /* --users, for SIGHUP; NULL without */
    uint32_t grace_s;
    sq_timer grace_timer;
    bool stopping; /* the first signal came: quiesced, waiting for reserved jobs */
    bool hooked;   /* check_quiet is a before-wait hook */
    bool exit_now; /* a second signal: reset the connections rather than let them finish */
} shutdown_state;

static void check_quiet_hook(sq_loop *loop, void *data);

static void stop_loop(sq_loop *loop, shutdown_state *sd)
{
    sq_timer_stop(loop, &sd->grace_timer);
    if (sd->hooked) {
        sq_loop_remove_before_wait(loop, check_quiet_hook, sd);
        sd->hooked = false;
    }
    sq_loop_stop(loop);
}

/* After every loop pass while stopping: the last reserved job was finished. */
static void check_quiet_hook(sq_loop *loop, void *data)
{
    shutdown_state *sd = data;
    if (server_reserved_jobs(sd->srv) == 0) {
        fprintf(stderr, "synqd: no job is reserved any more: exiting\n");
        stop_loop(loop, sd);
    }
}

static void on_grace_over(sq_loop *loop, sq_timer *t)
{
    shutdown_state *sd = t->data;
    fprintf(stderr,
            "synqd: --shutdown-grace %u s over with %" PRIu64
            " jobs still reserved: exiting (the log has them as ready)\n",
            sd->grace_s, server_reserved_jobs(sd->srv));
    stop_loop(loop, sd);
}

static void on_terminate(sq_loop *loop, int signo, void *data)
{
    shutdown_state *sd = data;
    if (sd->stopping) {
        fprintf(stderr, "synqd: signal %d again: exiting now\n", signo);
        sd->exit_now = true;
        stop_loop(loop, sd);
        return;
    }
    sd->stopping = true;
    systemd_notify("STOPPING=1");
    server_quiesce(sd->srv);
    uint64_t held = server_reserved_jobs(sd->srv);
    if (held == 0 || sd->grace_s == 0) {
        fprintf(stderr, "synqd: signal %d: shutting down\n", signo);
        stop_loop(loop, sd);
        return;
    }
    fprintf(stderr,
            "synqd: signal %d: shutting down once the %" PRIu64
            " reserved jobs are finished (at most %u s; the same signal again exits now)\n",
            signo, held, sd->grace_s);
    int err = sq_timer_start(loop, &sd->grace_timer, (uint64_t)sd->grace_s * 1000);
    if (err == 0 && (err = sq_loop_add_before_wait(loop, check_quiet_hook, sd)) == 0)
        sd->hooked = true;
    if (err) {
        fprintf(stderr, "synqd: waiting for reserved jobs: %s: exiting now\n", sq_strerror(err));
        stop_loop(loop, sd);
    }
}

static void on_drain(sq_loop *loop, int signo, void *data)
{
    (void)loop;
    shutdown_state *sd = data;
    bool on = signo == SIGUSR1;
    if (!on && server_quiescing(sd->srv)) {
        fprintf(stderr, "synqd: SIGUSR2: shutting down, staying in drain mode\n");
        return;
    }
    fprintf(stderr, "synqd: %s: %s drain mode\n", on ? "SIGUSR1" : "SIGUSR2",
            on ? "entering" : "leaving");
    server_set_draining(sd->srv, on);
}

/* SIGHUP: the --users file and the TLS files are read again. Open sessions keep their user
 * by name with its new rules (or are logged out when it is gone); connections accepted from
 * then on get the new certificates, the open ones keep theirs (on a --cluster-tls node, the
 * Raft links and the relay made from then on too). A file that does not load
 * changes nothing (the old one stays in force) and is logged with the file (and line). */
static void on_reload(sq_loop *loop, int signo, void *data)
{
    (void)loop;
    (void)signo;
    shutdown_state *sd = data;
    if (sd->users_file)
        (void)synqd_users_reload(sd->users_file, sd->srv);
    if (!sd->tls->on && !sd->tls->http) {
        if (!sd->users_file)
            fprintf(stderr, "synqd: SIGHUP: nothing to reload (no --tls-port, no --http-tls, "
                            "no --users)\n");
        return;
    }
    sq_tls_ctx *ctx;
    if (synqd_tls_load(sd->tls, "SIGHUP: reloading TLS, keeping the configuration serving", &ctx) !=
        0)
        return;
    bool ok = (!sd->tls->on || server_reload_tls(sd->srv, ctx) == 0) &&
              (!sd->tls->http || !sd->mx || metrics_reload_tls(sd->mx, ctx) == 0) &&
              server_reload_cluster_tls(sd->srv) == 0;
    if (ok)
        fprintf(stderr, "synqd: SIGHUP: TLS certificates reloaded\n");
    sq_tls_ctx_free(ctx);
}

/* The signals synqd handles, each with its callback. */
static const struct {
    int signo;
    sq_signal_cb cb;
} handled_signals[] = {
    {SIGTERM, on_terminate}, {SIGINT, on_terminate}, {SIGUSR1, on_drain},
    {SIGUSR2, on_drain},     {SIGHUP, on_reload},
};
#define HANDLED_SIGNALS (sizeof handled_signals / sizeof handled_signals[0])

/* Runs the loop until SIGTERM or SIGINT stops it (see shutdown_state). 0 or a negative
 * errno, already reported. */
static int run_until_signal(sq_loop *loop, shutdown_state *sd)
{
    int err = 0;
    size_t watched = 0;
    sq_timer_init(&sd->grace_timer, on_grace_over, sd);
    while (watched < HANDLED_SIGNALS && err == 0) {
        err = sq_loop_watch_signal(loop, handled_signals[watched].signo,
                                   handled_signals[watched].cb, sd);
        if (err == 0)
            watched++;
    }
    if (err)
        fprintf(stderr, "synqd: watching signals: %s\n", sq_strerror(err));
    else if ((err = sq_loop_run(loop)) != 0)
        fprintf(stderr, "synqd: event loop failed: %s\n", sq_strerror(err));
    sq_timer_stop(loop, &sd->grace_timer);
    if (sd->hooked)
        sq_loop_remove_before_wait(loop, check_quiet_hook, sd);
    sd->hooked = false;
    while (watched > 0)
        sq_loop_unwatch_signal(loop, handled_signals[--watched].signo);
    return err;
}

/* Stops what start_services() started (either may be NULL) and frees the
 * loop; with exit_now the connections are reset at once. */
static void stop_services(sq_loop *loop, server *srv, metrics *mx, bool exit_now)
{
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
        uint64_t give_up_ms = sq_loop_now_ms(loop) + (exit_now ? 0 : LAST_REPLIES_GRACE_MS);
        while (!server_idle(srv) && sq_loop_now_ms(loop) < give_up_ms)
            sq_loop_run_once(loop, 50);
        if (!server_idle(srv)) {
            server_abort_sessions(srv);
            sq_loop_run_once(loop, 0);
        }
        server_free(srv);
    }
    sq_loop_free(loop);
}

/* Every connection is a descriptor: take all the kernel allows this process (the soft
 * RLIMIT_NOFILE up to the hard one, as the distribution's defaults are often 1024 of a
 * million). A failure only leaves the limit as it was. */
static void raise_fd_limit(int verbose)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "synqd: getrlimit(RLIMIT_NOFILE): %s\n", strerror(errno));
        return;
    }
    if (rl.rlim_cur == rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        fprintf(stderr, "synqd: setrlimit(RLIMIT_NOFILE, %llu): %s\n",
                (unsigned long long)rl.rlim_max, strerror(errno));
    else if (verbose)
        fprintf(stderr, "synqd: descriptor limit raised from %llu to %llu\n",
                (unsigned long long)was, (unsigned long long)rl.rlim_max);
}

int main(int argc, char **argv)
{
    synqd_options opt;
    int status;
    if (!synqd_parse_options(argc, argv, &opt, &status))
        return status;
    opt.server.argv = argv;

    /* A peer that vanishes must not kill the server on write. */
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(opt.server.verbose);
    /* Output buffers grow to megabytes under a burst of replies and shrink once it drained
     * (the engine gives the memory back). glibc raises its mmap threshold each time such a
     * block is freed, after which the next ones come from the heap and their pages stay
     * resident for good; a fixed threshold keeps big buffers in their own mappings, which
     * free() returns to the kernel. */
    (void)mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);

    if ((status = adopt_listen_socket(&opt)) != SYNQD_EXIT_OK)
        return status;
    sq_loop *loop;
    if ((status = open_loop(&opt, &loop)) != SYNQD_EXIT_OK)
        return status;
    server *srv = NULL;
    metrics *mx = NULL;
    shutdown_state sd = {
        .grace_s = opt.shutdown_grace_s, .tls = &opt.tls, .users_file = opt.users_file};
    int err = start_services(loop, &opt, &srv, &mx);
    if (err == 0) {
        /* The log is replayed and the socket served: what Type=notify
         * units wait for before starting what comes after synqd. */
        systemd_notify("READY=1");
        sd.srv = srv;
        sd.mx = mx;
        err = run_until_signal(loop, &sd);
    }
    stop_services(loop, srv, mx, sd.exit_now);
    return err ? SYNQD_EXIT_FAILED : SYNQD_EXIT_OK;
}
