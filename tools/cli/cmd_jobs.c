/*
 * synq CLI: the job commands (put, reserve, delete, release, bury, kick,
 * kick-job, touch, peek, pause, drain, raw).
 *
 * Each command parses its options, connects, runs its requests and reports
 * through the helpers in conn.c, returning the exit code. The protocol ties a
 * reservation to the connection that made it, and synq's connection lives
 * only as long as the command, so release and bury first take the job with
 * reserve-job (which beanstalkd 1.12 and synqd accept for ready, delayed and
 * buried jobs) and then act on it within the same connection.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define MAX_U32 UINT64_C(4294967295)

/* Reads all of standard input into *out (malloc'd). */
static int read_stdin(char **out, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fprintf(stderr, "synq: out of memory reading standard input\n");
            return CLI_FAIL;
        }
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0)
            break;
        if (n == cap) {
            cap *= 2;
            char *p = realloc(buf, cap);
            if (!p)
                free(buf);
            buf = p;
        }
    }
    if (ferror(stdin)) {
        fprintf(stderr, "synq: put: cannot read standard input\n");
        free(buf);
        return CLI_FAIL;
    }
    *out = buf;
    *len = n;
    return CLI_OK;
}

/* --- put ----------------------------------------------------------------- */

typedef struct put_opts {
    const char *tube;
    uint64_t pri, delay_s, ttr_s;
    bool lines;
    const char *unique_key; /* put-unique's key, or NULL for put */
} put_opts;

static int put_opt(cli *c, const char *cmd, int opt, void *ctx)
{
    (void)c;
    put_opts *o = ctx;
    switch (opt) {
    case 't':
        o->tube = optarg;
        return cli_check_tube(cmd, optarg);
    case 'P':
        return cli_parse_u64(cmd, "priority", optarg, MAX_U32, &o->pri);
    case 'D':
        return cli_parse_u64(cmd, "delay", optarg, MAX_U32, &o->delay_s);
    case 'R':
        return cli_parse_u64(cmd, "ttr", optarg, MAX_U32, &o->ttr_s);
    case 'L':
        o->lines = true;
        return CLI_OK;
    case 'U': {
        /* put-unique's key rules (docs/protocol.md): no space or control byte. */
        size_t n = strlen(optarg);
        bool ok = n >= 1 && n <= 200;
        for (size_t i = 0; ok && i < n; i++)
            ok = (unsigned char)optarg[i] > 0x20 && optarg[i] != 0x7f;
        if (!ok)
            return cli_usage_error(cmd, "invalid key '%s' (1-200 bytes, no space or control)",
                                   optarg);
        o->unique_key = optarg;
        return CLI_OK;
    }
    default:
        return cli_usage_error(cmd, "bad option");
    }
}

/* Puts one job and prints its id. */
static int put_one(cli *c, const put_opts *o, const char *body, size_t len)
{
    char head[384];
    int n = snprintf(head, sizeof head, "%s%s%s %llu %llu %llu %zu\r\n",
                     o->unique_key ? "put-unique" : "put", o->unique_key ? " " : "",
                     o->unique_key ? o->unique_key : "", (unsigned long long)o->pri,
                     (unsigned long long)o->delay_s, (unsigned long long)o->ttr_s, len);
    int rc;
    if ((rc = cli_send(c, head, (size_t)n)) || (rc = cli_send(c, body, len)) ||
        (rc = cli_send(c, "\r\n", 2)))
        return rc;
    char *line, *rest;
    if ((rc = cli_read_line(c, &line, 0)))
        return rc;
    /* EXISTS <id>: the job holding the key; printed like a new id, so a
     * script gets the job either way and tells the cases apart by status. */
    bool exists = o->unique_key && strncmp(line, "EXISTS ", 7) == 0;
    if (!exists && strncmp(line, "INSERTED ", 9) != 0) {
        if (o->unique_key && strcmp(line, "UNKNOWN_COMMAND") == 0)
            cli_err(c, "put --unique: %s has no put-unique (not synqd?)\n", c->addr);
        return o->unique_key && strcmp(line, "UNKNOWN_COMMAND") == 0
                   ? CLI_FAIL
                   : cli_reply_error(c, "put", line);
    }
    rest = line + (exists ? 7 : 9);
    if (c->json)
        printf("{\"id\": %s%s}\n", rest, exists ? ", \"exists\": true" : "");
    else
        printf("%s\n", rest);
    if (exists && c->verbose)
        fprintf(stderr, "synq: put: job %s already holds key '%s'\n", rest, o->unique_key);
    return exists ? CLI_NO : CLI_OK;
}

int cmd_put(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"tube", required_argument, NULL, 't'},
        {"pri", required_argument, NULL, 'P'},
        {"delay", required_argument, NULL, 'D'},
        {"ttr", required_argument, NULL, 'R'},
        {"lines", no_argument, NULL, 'L'},
        {"unique", required_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    put_opts o = {.pri = 1024, .ttr_s = 60};
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS "t:", longopts, put_opt, &o);
    if (rc)
        return rc;
    if (argc - optind > 1)
        return cli_usage_error(argv[0], "one BODY at most (quote it, or use '-' for stdin)");
    const char *arg = optind < argc ? argv[optind] : NULL;
    if (o.lines && arg)
        return cli_usage_error(argv[0], "--lines reads standard input; no BODY allowed");
    if (o.lines && o.unique_key)
        return cli_usage_error(argv[0], "choose one of --lines, --unique (one key, one job)");
    if ((rc = cli_connect(c)) || (rc = cli_use(c, o.tube)))
        return rc;

    if (o.lines) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while (rc == CLI_OK && (n = getline(&line, &cap, stdin)) >= 0) {
            if (n > 0 && line[n - 1] == '\n')
                n--;
            if (n > 0 && line[n - 1] == '\r')
                n--;
            rc = put_one(c, &o, line, (size_t)n);
        }
        free(line);
        return rc;
    }
    if (arg && strcmp(arg, "-") != 0)
        return put_one(c, &o, arg, strlen(arg));
    char *body;
    size_t len;
    if ((rc = read_stdin(&body, &len)))
        return rc;
    rc = put_one(c, &o, body, len);
    free(body);
    return rc;
}

/* --- acting on a job held by this connection ----------------------------- */

/* The priority of job id, from stats-job. */
int cli_job_pri(cli *c, const char *what, uint64_t id, uint64_t *pri)
{
    cli_yaml y;
    int rc = cli_yaml_request(c, what, &y, "stats-job %llu", (unsigned long long)id);
    if (rc)
        return rc;
    const char *v = cli_yaml_get(&y, "pri");
    char *end;
    if (v)
        *pri = strtoull(v, &end, 10);
    if (!v || *end) {
        fprintf(stderr, "synq: %s: stats-job from %s has no valid pri\n", what, c->addr);
        rc = CLI_FAIL;
    }
    cli_yaml_free(&y);
    return rc;
}

typedef enum { ACT_NONE, ACT_DELETE, ACT_BURY, ACT_RELEASE } job_action;

/* Deletes, buries or releases a job this connection has reserved. pri < 0
 * keeps the job's own priority. */
static int act_on(cli *c, const char *what, uint64_t id, job_action act, int64_t pri,
                  uint64_t delay_s)
{
    unsigned long long jid = (unsigned long long)id;
    uint64_t p = (uint64_t)pri;
    int rc;
    switch (act) {
    case ACT_NONE:
        return CLI_OK;
    case ACT_DELETE:
        return cli_request(c, what, "DELETED", NULL, "delete %llu", jid);
    case ACT_BURY:
        if (pri < 0 && (rc = cli_job_pri(c, what, id, &p)))
            return rc;
        return cli_request(c, what, "BURIED", NULL, "bury %llu %llu", jid, (unsigned long long)p);
    case ACT_RELEASE:
        if (pri < 0 && (rc = cli_job_pri(c, what, id, &p)))
            return rc;
        return cli_request(c, what, "RELEASED", NULL, "release %llu %llu %llu", jid,
                           (unsigned long long)p, (unsigned long long)delay_s);
    }
    return CLI_FAIL;
}

/* --- reserve ------------------------------------------------------------- */

typedef struct reserve_opts {
    char **tubes;
    size_t n_tubes;
    int64_t timeout_s; /* < 0: wait forever */
    job_action act;
    uint64_t batch; /* 0: plain reserve; else reserve-batch's max */
} reserve_opts;

static int set_action(const char *cmd, job_action *act, job_action want)
{
    if (*act != ACT_NONE && *act != want)
        return cli_usage_error(cmd, "choose one of --delete, --bury, --release");
    *act = want;
    return CLI_OK;
}

static int reserve_opt(cli *c, const char *cmd, int opt, void *ctx)
{
    (void)c;
    reserve_opts *o = ctx;
    uint64_t v;
    int rc;
    switch (opt) {
    case 't':
        o->tubes[o->n_tubes++] = optarg;
        return cli_check_tube(cmd, optarg);
    case 'T':
        if ((rc = cli_parse_u64(cmd, "timeout", optarg, MAX_U32, &v)))
            return rc;
        o->timeout_s = (int64_t)v;
        return CLI_OK;
    case 'd':
        return set_action(cmd, &o->act, ACT_DELETE);
    case 'b':
        return set_action(cmd, &o->act, ACT_BURY);
    case 'r':
        return set_action(cmd, &o->act, ACT_RELEASE);
    case 'B':
        if ((rc = cli_parse_u64(cmd, "batch size", optarg, 1000, &o->batch)))
            return rc;
        return o->batch ? CLI_OK : cli_usage_error(cmd, "invalid batch size '0' (1-1000)");
    default:
        return cli_usage_error(cmd, "bad option");
    }
}

/* Beyond ~24 days a wait is as good as forever and would not fit an int. */
static int reply_wait_ms(int64_t timeout_s)
{
    return timeout_s >= 0 && timeout_s < 2000000 ? (int)(timeout_s * 1000) : -1;
}

/* reserve --batch: reserve-batch, every job printed before any is acted on
 * (so a failing delete loses no body). Without --timeout the wait is the
 * longest the command takes, which is as good as forever. */
static int reserve_batch(cli *c, const reserve_opts *o)
{
    int64_t timeout_s = o->timeout_s >= 0 ? o->timeout_s : (int64_t)MAX_U32;
    char *line, *rest, *end;
    int rc;
    if ((rc = cli_sendf(c, "reserve-batch %llu %lld", (unsigned long long)o->batch,
                        (long long)timeout_s)) ||
        (rc = cli_read_line(c, &line, reply_wait_ms(o->timeout_s))))
        return rc;
    if (strncmp(line, "RESERVED_BATCH ", 15) != 0) {
        if (strcmp(line, "BAD_FORMAT") == 0 || strcmp(line, "UNKNOWN_COMMAND") == 0) {
            cli_err(c, "reserve --batch: %s has no reserve-batch (not synqd?)\n", c->addr);
            return CLI_FAIL;
        }
        return cli_reply_error(c, "reserve --batch", line);
    }
    rest = line + 15;
    unsigned long long n = strtoull(rest, &end, 10);
    if (*rest < '0' || *rest > '9' || *end || n > o->batch) {
        cli_err(c, "reserve --batch: malformed reply from %s: '%s'\n", c->addr, line);
        return CLI_FAIL;
    }
    uint64_t *ids = calloc(n ? n : 1, sizeof *ids);
    if (!ids) {
        cli_err(c, "out of memory for %llu job ids\n", n);
        return CLI_FAIL;
    }
    for (unsigned long long i = 0; i < n && rc == CLI_OK; i++) {
        cli_job job;
        if ((rc = cli_read_line(c, &line, 0)) ||
            (rc = cli_read_job(c, "reserve --batch", "RESERVED", line, &job)))
            break;
        out_job(c, &job);
        ids[i] = job.id;
        free(job.body);
    }
    fflush(stdout);
    for (unsigned long long i = 0; i < n && rc == CLI_OK; i++)
        rc = act_on(c, "reserve --batch", ids[i], o->act, -1, 0);
    free(ids);
    return rc;
}

int cmd_reserve(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"tube", required_argument, NULL, 't'},
        {"timeout", required_argument, NULL, 'T'},
        {"delete", no_argument, NULL, 'd'},
        {"bury", no_argument, NULL, 'b'},
        {"release", no_argument, NULL, 'r'},
        {"batch", required_argument, NULL, 'B'},
        {NULL, 0, NULL, 0},
    };
    /* Every -t takes two argv slots, so argc bounds the tube count. */
    reserve_opts o = {.tubes = calloc((size_t)argc, sizeof(char *)), .timeout_s = -1};
    if (!o.tubes)
        return CLI_FAIL;
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS "t:", longopts, reserve_opt, &o);
    if (rc == CLI_OK && optind < argc)
        rc = cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    if (rc == CLI_OK && !(rc = cli_connect(c)))
        rc = cli_watch_only(c, o.tubes, o.n_tubes);
    free(o.tubes);
    if (rc)
        return rc;

    if (o.batch)
        return reserve_batch(c, &o);
    if (o.timeout_s >= 0)
        rc = cli_sendf(c, "reserve-with-timeout %lld", (long long)o.timeout_s);
    else
        rc = cli_sendf(c, "reserve");
    char *line;
    int extra_ms = reply_wait_ms(o.timeout_s);
    if (rc || (rc = cli_read_line(c, &line, extra_ms)))
        return rc;
    cli_job job;
    if ((rc = cli_read_job(c, "reserve", "RESERVED", line, &job)))
        return rc;
    out_job(c, &job);
    /* Print before acting so a failed delete never loses a job's body. */
    fflush(stdout);
    rc = act_on(c, "reserve", job.id, o.act, -1, 0);
    free(job.body);
    return rc;
}

/* --- delete, release, bury, kick-job, touch ----------------------------- */

int cmd_delete(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL, NULL);
    if (rc)
        return rc;
    if (optind >= argc)
        return cli_usage_error(argv[0], "which job? (synq delete ID...)");
    uint64_t id;
    for (int i = optind; i < argc; i++)
        if ((rc = cli_parse_id(argv[0], argv[i], &id)))
            return rc;
    if ((rc = cli_connect(c)))
        return rc;
    int worst = CLI_OK;
    for (int i = optind; i < argc; i++) {
        char what[64];
        snprintf(what, sizeof what, "delete %s", argv[i]);
        rc = cli_request(c, what, "DELETED", NULL, "delete %s", argv[i]);
        if (rc == CLI_FAIL)
            return rc; /* the connection is unusable; stop */
        if (rc > worst)
            worst = rc;
    }
    return worst;
}

typedef struct id_opts {
    int64_t pri; /* < 0: keep */
    uint64_t delay_s;
} id_opts;

static int id_opt(cli *c, const char *cmd, int opt, void *ctx)
{
    (void)c;
    id_opts *o = ctx;
    uint64_t v;
    int rc;
    switch (opt) {
    case 'P':
        if ((rc = cli_parse_u64(cmd, "priority", optarg, MAX_U32, &v)))
            return rc;
        o->pri = (int64_t)v;
        return CLI_OK;
    case 'D':
        return cli_parse_u64(cmd, "delay", optarg, MAX_U32, &o->delay_s);
    default:
        return cli_usage_error(cmd, "bad option");
    }
}

/* Parses "CMD ID" plus the options in longopts; exactly one ID. */
static int parse_id_cmd(cli *c, int argc, char **argv, const struct option *longopts, id_opts *o,
                        uint64_t *id)
{
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS, longopts, id_opt, o);
    if (rc)
        return rc;
    if (argc - optind != 1)
        return cli_usage_error(argv[0], "expected exactly one job ID");
    return cli_parse_id(argv[0], argv[optind], id);
}

/* Takes job id with reserve-job, then applies act within this connection. */
static int take_and_act(cli *c, const char *cmd, uint64_t id, job_action act, const id_opts *o)
{
    char what[64];
    snprintf(what, sizeof what, "%s %llu", cmd, (unsigned long long)id);
    int rc;
    char *line;
    if ((rc = cli_connect(c)) || (rc = cli_sendf(c, "reserve-job %llu", (unsigned long long)id)) ||
        (rc = cli_read_line(c, &line, 0)))
        return rc;
    cli_job job;
    if ((rc = cli_read_job(c, what, "RESERVED", line, &job)))
        return rc;
    free(job.body);
    return act_on(c, what, id, act, o->pri, o->delay_s);
}

int cmd_release(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"pri", required_argument, NULL, 'P'},
        {"delay", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    id_opts o = {.pri = -1};
    uint64_t id;
    int rc = parse_id_cmd(c, argc, argv, longopts, &o, &id);
    return rc ? rc : take_and_act(c, argv[0], id, ACT_RELEASE, &o);
}

int cmd_bury(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"pri", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    id_opts o = {.pri = -1};
    uint64_t id;
    int rc = parse_id_cmd(c, argc, argv, longopts, &o, &id);
    return rc ? rc : take_and_act(c, argv[0], id, ACT_BURY, &o);
}

/* Commands that are one request on one ID: kick-job, touch. */
static int simple_id_cmd(cli *c, int argc, char **argv, const char *verb, const char *want)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    id_opts o = {.pri = -1};
    uint64_t id;
    int rc = parse_id_cmd(c, argc, argv, longopts, &o, &id);
    if (rc || (rc = cli_connect(c)))
        return rc;
    char what[64];
    snprintf(what, sizeof what, "%s %llu", argv[0], (unsigned long long)id);
    return cli_request(c, what, want, NULL, "%s %llu", verb, (unsigned long long)id);
}

int cmd_kick_job(cli *c, int argc, char **argv)
{
    return simple_id_cmd(c, argc, argv, "kick-job", "KICKED");
}

int cmd_touch(cli *c, int argc, char **argv)
{
    return simple_id_cmd(c, argc, argv, "touch", "TOUCHED");
}
