/*
 * synq CLI: operator commands (kick, peek, pause, drain, raw).
 *
 * drain is reserve-with-timeout 0 in a loop: the server answers TIMED_OUT as
 * soon as the watched tube has no ready job, so the loop ends by itself and
 * never waits on delayed jobs. Without --delete or --bury the jobs stay
 * reserved by this connection until synq exits, which is what keeps the loop
 * from seeing the same job twice; the server then returns them to ready.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* --- kick ---------------------------------------------------------------- */

/* The tube's current-jobs-buried; a tube that does not exist has none. A
 * job buried between this and the kick waits for the next kick; a buried job
 * kicked meanwhile makes the kick take delayed ones only if none is left. */
static int count_buried(cli *c, const char *tube, uint64_t *n)
{
    cli_yaml y;
    const char *name = tube ? tube : "default";
    /* NOT_FOUND is an answer here (no buried job), not an error to print. */
    bool keep = c->keep_errors;
    c->keep_errors = true;
    int rc = cli_yaml_request(c, "kick", &y, "stats-tube %s", name);
    c->keep_errors = keep;
    if (rc == CLI_NO && strstr(c->last_error, "not found")) {
        *n = 0;
        return CLI_OK;
    }
    if (rc) {
        if (!keep)
            fprintf(stderr, "synq: %s\n", c->last_error);
        return rc;
    }
    const char *v = cli_yaml_get(&y, "current-jobs-buried");
    char *end;
    if (v)
        *n = strtoull(v, &end, 10);
    if (v && *n > UINT32_MAX)
        *n = UINT32_MAX; /* kick's count is 32 bits; the next kick takes the rest */
    if (!v || *end) {
        cli_err(c, "kick: stats-tube %s from %s has no valid current-jobs-buried\n", name, c->addr);
        rc = CLI_FAIL;
    }
    cli_yaml_free(&y);
    return rc;
}

int cmd_kick(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"tube", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *tube = NULL;
    int rc =
        cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS "t:", longopts, cli_tube_opt, &tube);
    if (rc)
        return rc;
    if (argc - optind > 1)
        return cli_usage_error(argv[0], "expected at most the number of jobs to kick");
    uint64_t n = 0;
    bool all_buried = argc - optind == 0;
    if (!all_buried && (rc = cli_parse_u64(argv[0], "count", argv[optind], UINT32_MAX, &n)))
        return rc;
    char *rest;
    if ((rc = cli_connect(c)) || (all_buried && (rc = count_buried(c, tube, &n))))
        return rc;
    /* kick 0 is not sent: with no buried job, kick N would kick delayed ones. */
    if (all_buried && n == 0) {
        rest = "0";
    } else if ((rc = cli_use(c, tube)) ||
               (rc = cli_request(c, "kick", "KICKED", &rest, "kick %llu", (unsigned long long)n))) {
        return rc;
    }
    if (c->json)
        printf("{\"kicked\": %s}\n", rest);
    else
        printf("%s\n", rest);
    return CLI_OK;
}

/* --- peek ---------------------------------------------------------------- */

typedef struct peek_opts {
    const char *tube;
    const char *state; /* "ready", "delayed", "buried" or NULL */
} peek_opts;

static int peek_opt(cli *c, const char *cmd, int opt, void *ctx)
{
    (void)c;
    peek_opts *o = ctx;
    const char *state = opt == 'r'   ? "ready"
                        : opt == 'd' ? "delayed"
                        : opt == 'b' ? "buried"
                                     : NULL;
    if (opt == 't') {
        o->tube = optarg;
        return cli_check_tube(cmd, optarg);
    }
    if (!state)
        return cli_usage_error(cmd, "bad option");
    if (o->state && strcmp(o->state, state) != 0)
        return cli_usage_error(cmd, "choose one of --ready, --delayed, --buried");
    o->state = state;
    return CLI_OK;
}

int cmd_peek(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"tube", required_argument, NULL, 't'},
        {"ready", no_argument, NULL, 'r'},
        {"delayed", no_argument, NULL, 'd'},
        {"buried", no_argument, NULL, 'b'},
        {NULL, 0, NULL, 0},
    };
    peek_opts o = {0};
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS "t:", longopts, peek_opt, &o);
    if (rc)
        return rc;
    int npos = argc - optind;
    uint64_t id = 0;
    if (o.state ? npos != 0 : npos != 1)
        return cli_usage_error(argv[0], "give either one job ID or one of --ready, --delayed, "
                                        "--buried");
    if (!o.state && o.tube)
        return cli_usage_error(argv[0], "-t applies to --ready, --delayed and --buried");
    if (!o.state && (rc = cli_parse_id(argv[0], argv[optind], &id)))
        return rc;
    if ((rc = cli_connect(c)) || (rc = cli_use(c, o.tube)))
        return rc;

    char what[64];
    if (o.state) {
        snprintf(what, sizeof what, "peek --%s", o.state);
        rc = cli_sendf(c, "peek-%s", o.state);
    } else {
        snprintf(what, sizeof what, "peek %llu", (unsigned long long)id);
        rc = cli_sendf(c, "peek %llu", (unsigned long long)id);
    }
    char *line;
    cli_job job;
    if (rc || (rc = cli_read_line(c, &line, 0)) ||
        (rc = cli_read_job(c, what, "FOUND", line, &job)))
        return rc;
    out_job(c, &job);
    free(job.body);
    return CLI_OK;
}

/* --- pause --------------------------------------------------------------- */

int cmd_pause(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"tube", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *tube = NULL;
    int rc =
        cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS "t:", longopts, cli_tube_opt, &tube);
    if (rc)
        return rc;
    if (!tube)
        return cli_usage_error(argv[0], "which tube? (synq pause -t TUBE SECONDS)");
    if (argc - optind != 1)
        return cli_usage_error(argv[0], "expected the pause length in seconds");
    uint64_t delay_s;
    if ((rc = cli_parse_u64(argv[0], "seconds", argv[optind], UINT32_MAX, &delay_s)))
        return rc;
    char what[256];
    snprintf(what, sizeof what, "pause %s", tube);
    if ((rc = cli_connect(c)))
        return rc;
    return cli_request(c, what, "PAUSED", NULL, "pause-tube %s %llu", tube,
                       (unsigned long long)delay_s);
}

/* --- drain --------------------------------------------------------------- */

typedef struct drain_opts {
    const char *tube;
    const char *verb; /* "delete", "bury" or NULL: only print */
} drain_opts;

static int drain_opt(cli *c, const char *cmd, int opt, void *ctx)
{
    drain_opts *o = ctx;
    if (opt == 't')
        return cli_tube_opt(c, cmd, opt, &o->tube);
    const char *want = opt == 'd' ? "delete" : opt == 'b' ? "bury" : NULL;
    if (!want)
        return cli_usage_error(cmd, "bad option");
    if (o->verb && strcmp(o->verb, want) != 0)
        return cli_usage_error(cmd, "choose one of --delete, --bury");
    o->verb = want;
    return CLI_OK;
}

int cmd_drain(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"tube", required_argument, NULL, 't'},
        {"delete", no_argument, NULL, 'd'},
        {"bury", no_argument, NULL, 'b'},
        {NULL, 0, NULL, 0},
    };
    drain_opts o = {0};
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS "t:", longopts, drain_opt, &o);
    if (rc)
        return rc;
    char *tube_arg = NULL;
    if ((rc = cli_tube_arg(argv[0], argc, argv, o.tube, &tube_arg)))
        return rc;
    char **tube = &tube_arg;
    const char *verb = o.verb;
    if ((rc = cli_connect(c)) || (rc = cli_watch_only(c, tube, 1)))
        return rc;

    uint64_t count = 0;
    for (;;) {
        char *line;
        if ((rc = cli_sendf(c, "reserve-with-timeout 0")) || (rc = cli_read_line(c, &line, 0)))
            return rc;
        if (strcmp(line, "TIMED_OUT") == 0)
            break;
        cli_job job;
        if ((rc = cli_read_job(c, "drain", "RESERVED", line, &job)))
            return rc;
        out_job(c, &job);
        /* Printed before it is deleted, so an interrupted drain loses nothing
         * that was not shown. */
        fflush(stdout);
        if (verb) {
            char what[64];
            snprintf(what, sizeof what, "drain: %s %llu", verb, (unsigned long long)job.id);
            uint64_t pri = 0;
            if (strcmp(verb, "delete") == 0)
                rc = cli_request(c, what, "DELETED", NULL, "delete %llu",
                                 (unsigned long long)job.id);
            else if (!(rc = cli_job_pri(c, what, job.id, &pri)))
                rc = cli_request(c, what, "BURIED", NULL, "bury %llu %llu",
                                 (unsigned long long)job.id, (unsigned long long)pri);
        }
        free(job.body);
        if (rc)
            return rc;
        count++;
    }
    if (c->verbose)
        fprintf(stderr, "synq: drain %s: %llu job%s %s\n", *tube, (unsigned long long)count,
                count == 1 ? "" : "s",
                verb ? (strcmp(verb, "delete") ? "buried" : "deleted")
                     : "printed (back to ready when synq exits)");
    return CLI_OK;
}

/* --- raw ----------------------------------------------------------------- */

/* The data length announced by a reply line that carries data ("OK n",
 * "RESERVED id n", "FOUND id n"), or -1 when the reply has no data. */
static long long reply_data_len(const char *line)
{
    if (strncmp(line, "OK ", 3) != 0 && strncmp(line, "RESERVED ", 9) != 0 &&
        strncmp(line, "FOUND ", 6) != 0)
        return -1;
    const char *last = strrchr(line, ' ') + 1;
    char *end;
    long long n = strtoll(last, &end, 10);
    return *last >= '0' && *last <= '9' && *end == '\0' ? n : -1;
}

/* Whether a command line is followed by a data line (put, put-unique). */
static bool takes_data(const char *line)
{
    return strncmp(line, "put ", 4) == 0 || strncmp(line, "put-unique ", 11) == 0;
}

static bool is_error_word(const char *line)
{
    static const char *const errors[] = {
        "NOT_FOUND",     "TIMED_OUT",      "DEADLINE_SOON", "JOB_TOO_BIG", "DRAINING",
        "OUT_OF_MEMORY", "INTERNAL_ERROR", "NOT_IGNORED",   "BAD_FORMAT",  "UNKNOWN_COMMAND",
        "EXPECTED_CRLF", "NOT_AUTHORIZED", "BAD_AUTH",
    };
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (strcmp(line, errors[i]) == 0)
            return true;
    return false;
}

/* Reads and prints one reply line and its data, if any. */
static int raw_line_and_data(cli *c, char **line_out, int extra_ms)
{
    char *line;
    int rc;
    if ((rc = cli_read_line(c, &line, extra_ms)))
        return rc;
    printf("%s\r\n", line);
    *line_out = line;
    long long n = reply_data_len(line);
    if (n < 0)
        return CLI_OK;
    char *data;
    if ((rc = cli_read_body(c, (size_t)n, &data)))
        return rc;
    fwrite(data, 1, (size_t)n, stdout);
    printf("\r\n");
    return CLI_OK;
}

/* Reads and prints one whole reply: a line, its data, and for
 * RESERVED_BATCH the job blocks that follow. Sets *refused on an error word.
 * Each waits at most --timeout, reserves too (raise it for a long reserve). */
static int raw_reply(cli *c, bool *refused)
{
    char *line;
    int rc = raw_line_and_data(c, &line, 0);
    if (rc)
        return rc;
    if (is_error_word(line))
        *refused = true;
    if (strncmp(line, "RESERVED_BATCH ", 15) != 0)
        return CLI_OK;
    char *end;
    unsigned long long n = strtoull(line + 15, &end, 10);
    if (*end) {
        cli_err(c, "raw: malformed reply from %s: '%s'\n", c->addr, line);
        return CLI_FAIL;
    }
    for (unsigned long long i = 0; i < n && rc == CLI_OK; i++)
        rc = raw_line_and_data(c, &line, 0);
    return rc;
}

int cmd_raw(cli *c, int argc, char **argv)
{
    /* No option parsing: data lines may start with '-' and must go to the
     * server untouched. A lone --help is the one exception: no protocol
     * command is spelled that way. */
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        cli_command_help(stdout, argv[0]);
        return CLI_HELP_SHOWN;
    }
    if (argc < 2)
        return cli_usage_error(argv[0],
                               "expected a protocol line, e.g. synq raw 'stats-tube default'");
    int rc;
    if ((rc = cli_connect(c)))
        return rc;
    /* Everything is sent first (pipelined), so the replies come back in order
     * whatever the commands are; a put's data line is not a command. */
    int n_cmds = 0;
    for (int i = 1; i < argc; i++) {
        if ((rc = cli_send(c, argv[i], strlen(argv[i]))) || (rc = cli_send(c, "\r\n", 2)))
            return rc;
        n_cmds++;
        if (takes_data(argv[i]) && i + 1 < argc) {
            i++;
            if ((rc = cli_send(c, argv[i], strlen(argv[i]))) || (rc = cli_send(c, "\r\n", 2)))
                return rc;
        }
    }
    bool refused = false;
    for (int i = 0; i < n_cmds; i++) {
        if ((rc = raw_reply(c, &refused)))
            return rc;
    }
    return refused ? CLI_NO : CLI_OK;
}
