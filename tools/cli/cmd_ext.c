/*
 * synq CLI: synqd's extension commands (flush, jobs, move, tube-set,
 * tube-info) and tail, which follows a tube.
 *
 * Each maps onto one extension line of docs/protocol.md "Extensions". A
 * beanstalkd answers those lines UNKNOWN_COMMAND or BAD_FORMAT; ext_refused()
 * turns that into a message saying the server lacks the extension, exit 3.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* list-jobs pages at most this many jobs (the server's bound). */
#define EXT_PAGE_MAX 1000
/* What synq jobs prints without --count or --all. */
#define EXT_JOBS_DEFAULT 100

/* Reports reply, which is not the one wanted. UNKNOWN_COMMAND and
 * BAD_FORMAT to a well-formed line mean the server does not have the
 * extension (beanstalkd); say so rather than "unexpected reply". */
static int ext_request_reply(cli *c, const char *what, const char *reply)
{
    if (strcmp(reply, "UNKNOWN_COMMAND") == 0 || strcmp(reply, "BAD_FORMAT") == 0) {
        cli_err(c, "%s: %s answered %s: it does not have synqd's extensions\n", what, c->addr,
                reply);
        return CLI_FAIL;
    }
    return cli_reply_error(c, what, reply);
}

/* Sends the line, requires reply word `want` and sets *rest to what follows.
 */
static int ext_request(cli *c, const char *what, const char *want, char **rest, const char *line)
{
    int rc;
    char *reply;
    if ((rc = cli_sendf(c, "%s", line)) || (rc = cli_read_line(c, &reply, 0)))
        return rc;
    size_t n = strlen(want);
    if (strncmp(reply, want, n) == 0 && (reply[n] == '\0' || reply[n] == ' ')) {
        if (rest)
            *rest = reply + n + (reply[n] == ' ');
        return CLI_OK;
    }
    return ext_request_reply(c, what, reply);
}

/* Checks a --state value against the states a command accepts. */
static int check_state(const char *cmd, const char *state, const char *const *allowed)
{
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(state, allowed[i]) == 0)
            return CLI_OK;
    return cli_usage_error(cmd, "invalid state '%s'", state);
}

/* Prints a count reply ("FLUSHED n", "MOVED n") as n or {"key": n}. */
static void print_count(const cli *c, const char *key, const char *n)
{
    if (!n)
        n = "0";
    if (c->json)
        printf("{\"%s\": %s}\n", key, n);
    else
        printf("%s\n", n);
}

/* Options shared by flush, jobs and move. */
typedef struct ext_opts {
    const char *tube;
    const char *state;
    uint64_t after, count, max;
    bool all;
} ext_opts;

static int ext_opt(cli *c, const char *cmd, int opt, void *ctx)
{
    ext_opts *o = ctx;
    switch (opt) {
    case 't':
        return cli_tube_opt(c, cmd, opt, &o->tube);
    case 'S':
        o->state = optarg;
        return CLI_OK;
    case 'A':
        return cli_parse_u64(cmd, "id", optarg, UINT64_MAX, &o->after);
    case 'n':
        return cli_parse_u64(cmd, "count", optarg, UINT64_MAX, &o->count);
    case 'a':
        o->all = true;
        return CLI_OK;
    case 'm':
        return cli_parse_u64(cmd, "max", optarg, UINT32_MAX, &o->max);
    default:
        return cli_usage_error(cmd, "bad option");
    }
}

/* --- flush ---------------------------------------------------------------- */

int cmd_flush(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"tube", required_argument, NULL, 't'},
        {"state", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    static const char *const states[] = {"ready", "delayed", "buried", "all", NULL};
    ext_opts o = {.state = "all"};
    char *tube, *rest = NULL;
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS "t:", longopts, ext_opt, &o);
    if (rc || (rc = cli_tube_arg(argv[0], argc, argv, o.tube, &tube)) ||
        (rc = check_state(argv[0], o.state, states)))
        return rc;
    char line[256];
    snprintf(line, sizeof line, "flush-tube %s %s", tube, o.state);
    if ((rc = cli_connect(c)) || (rc = ext_request(c, "flush", "FLUSHED", &rest, line)))
        return rc;
    print_count(c, "flushed", rest);
    return CLI_OK;
}

/* --- jobs ----------------------------------------------------------------- */

static const char *const job_fields[] = {"id",        "pri",    "age",      "delay",
                                         "time-left", "size",   "reserves", "timeouts",
                                         "releases",  "buries", "kicks",    NULL};

/* Prints one list-jobs entry: items[from, to) of the page, the first being
 * "- id: N" (a list item "id: N") and the others "  key: value". */
static void print_job_entry(const cli *c, const cli_yaml *y, size_t from, size_t to)
{
    if (c->json)
        fputc('{', stdout);
    for (size_t i = from; i < to; i++) {
        const char *key = i == from ? "id" : y->items[i].key + 2;
        const char *val = i == from ? y->items[i].val + 4 : y->items[i].val;
        if (c->json) {
            out_json_str(stdout, key, strlen(key));
            fputs(": ", stdout);
            out_json_scalar(stdout, val);
            fputs(i + 1 < to ? ", " : "", stdout);
        } else {
            printf(i + 1 < to ? "%-9s " : "%s", val);
        }
    }
    fputs(c->json ? "}\n" : "\n", stdout);
}

/* Walks one page; sets *n_jobs and *last_id. CLI_FAIL on an entry that does
 * not look like list-jobs's (so a change of format is noticed). */
static int print_page(cli *c, const cli_yaml *y, uint64_t *n_jobs, uint64_t *last_id)
{
    *n_jobs = 0;
    for (size_t i = 0; i < y->n;) {
        const cli_kv *kv = &y->items[i];
        if (kv->key || strncmp(kv->val, "id: ", 4) != 0 ||
            cli_parse_u64("jobs", "id", kv->val + 4, UINT64_MAX, last_id) != CLI_OK) {
            cli_err(c, "jobs: malformed list-jobs entry from %s\n", c->addr);
            return CLI_FAIL;
        }
        size_t end = i + 1;
        while (end < y->n && y->items[end].key && strncmp(y->items[end].key, "  ", 2) == 0)
            end++;
        print_job_entry(c, y, i, end);
        (*n_jobs)++;
        i = end;
    }
    return CLI_OK;
}

int cmd_jobs(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"tube", required_argument, NULL, 't'},
        {"state", required_argument, NULL, 'S'},
        {"after", required_argument, NULL, 'A'},
        {"count", required_argument, NULL, 'n'},
        {"all", no_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    static const char *const states[] = {"ready", "delayed", "buried", "reserved", NULL};
    ext_opts o = {.state = "ready", .count = UINT64_MAX};
    char *tube;
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS "t:n:", longopts, ext_opt, &o);
    if (rc || (rc = cli_tube_arg(argv[0], argc, argv, o.tube, &tube)) ||
        (rc = check_state(argv[0], o.state, states)))
        return rc;
    if (o.all && o.count != UINT64_MAX)
        return cli_usage_error(argv[0], "choose one of --count, --all");
    uint64_t left = o.all ? UINT64_MAX : o.count == UINT64_MAX ? EXT_JOBS_DEFAULT : o.count;
    if ((rc = cli_connect(c)))
        return rc;
    if (!c->json)
        for (size_t i = 0; job_fields[i]; i++)
            printf(job_fields[i + 1] ? "%-9s " : "%s\n", job_fields[i]);
    uint64_t after = o.after;
    while (left > 0) {
        uint64_t page = left < EXT_PAGE_MAX ? left : EXT_PAGE_MAX;
        char line[320];
        snprintf(line, sizeof line, "list-jobs %s %s %llu %llu", tube, o.state,
                 (unsigned long long)after, (unsigned long long)page);
        /* An empty page is "--- []", which the flat parser reads as empty. */
        cli_yaml y;
        if ((rc = cli_yaml_request(c, "jobs", &y, "%s", line)))
            return rc;
        uint64_t got = 0;
        rc = print_page(c, &y, &got, &after);
        cli_yaml_free(&y);
        if (rc || got == 0)
            return rc;
        left -= got;
    }
    return CLI_OK;
}

/* --- move ----------------------------------------------------------------- */

int cmd_move(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"state", required_argument, NULL, 'S'},
        {"max", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    static const char *const states[] = {"ready", "delayed", "buried", NULL};
    ext_opts o = {.state = "buried", .max = UINT32_MAX};
    char *rest = NULL;
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS, longopts, ext_opt, &o);
    if (rc || (rc = check_state(argv[0], o.state, states)))
        return rc;
    if (argc - optind != 2)
        return cli_usage_error(argv[0], "expected FROM and TO tubes");
    const char *from = argv[optind], *to = argv[optind + 1];
    if ((rc = cli_check_tube(argv[0], from)) || (rc = cli_check_tube(argv[0], to)))
        return rc;
    char line[512];
    snprintf(line, sizeof line, "move-jobs %s %s %s %llu", from, to, o.state,
             (unsigned long long)o.max);
    if ((rc = cli_connect(c)) || (rc = ext_request(c, "move", "MOVED", &rest, line)))
        return rc;
    print_count(c, "moved", rest);
    return CLI_OK;
}

/* --- tube-set, tube-info -------------------------------------------------- */

int cmd_tube_set(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL, NULL);
    if (rc)
        return rc;
    if (argc - optind != 3)
        return cli_usage_error(argv[0], "expected TUBE NAME VALUE");
    const char *tube = argv[optind], *name = argv[optind + 1], *value = argv[optind + 2];
    if ((rc = cli_check_tube(argv[0], tube)))
        return rc;
    if (strpbrk(name, " \r\n") || strpbrk(value, " \r\n") || !*name || !*value)
        return cli_usage_error(argv[0], "NAME and VALUE are single words");
    char line[512];
    snprintf(line, sizeof line, "tube-set %s %s %s", tube, name, value);
    if ((rc = cli_connect(c)))
        return rc;
    char *reply;
    if ((rc = cli_sendf(c, "%s", line)) || (rc = cli_read_line(c, &reply, 0)))
        return rc;
    if (strcmp(reply, "SET") == 0)
        return CLI_OK;
    if (strcmp(reply, "BAD_FORMAT") == 0) {
        /* The line is well formed, so the server refused the setting (or,
         * beanstalkd, does not know tube-set: it answers UNKNOWN_COMMAND). */
        cli_err(c, "tube-set: %s refused '%s %s': unknown setting or bad value\n", c->addr, name,
                value);
        return CLI_NO;
    }
    return ext_request_reply(c, "tube-set", reply);
}

int cmd_tube_info(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"tube", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *opt_tube = NULL;
    char *tube;
    int rc =
        cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS "t:", longopts, cli_tube_opt, &opt_tube);
    if (rc || (rc = cli_tube_arg(argv[0], argc, argv, opt_tube, &tube)))
        return rc;
    cli_yaml y;
    if ((rc = cli_connect(c)) || (rc = cli_yaml_request(c, "tube-info", &y, "tube-info %s", tube)))
        return rc;
    out_yaml_doc(stdout, &y, c->json);
    cli_yaml_free(&y);
    return CLI_OK;
}

/* --- tail ----------------------------------------------------------------- */

static volatile sig_atomic_t tail_stop;

static void on_tail_signal(int sig)
{
    (void)sig;
    tail_stop = 1;
}

int cmd_tail(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"tube", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *opt_tube = NULL;
    char *tube;
    int rc =
        cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS "t:", longopts, cli_tube_opt, &opt_tube);
    if (rc || (rc = cli_tube_arg(argv[0], argc, argv, opt_tube, &tube)))
        return rc;
    if ((rc = cli_connect(c)) || (rc = cli_watch_only(c, &tube, 1)))
        return rc;
    /* No SA_RESTART: the flag is looked at between one-second waits, so
     * Ctrl-C ends the loop within a second, never between printing a job
     * and deleting it. */
    struct sigaction sa = {.sa_handler = on_tail_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!tail_stop) {
        char *line;
        if ((rc = cli_sendf(c, "reserve-with-timeout 1")) || (rc = cli_read_line(c, &line, 1000)))
            return rc;
        if (strcmp(line, "TIMED_OUT") == 0 || strcmp(line, "DEADLINE_SOON") == 0)
            continue;
        cli_job job;
        if ((rc = cli_read_job(c, "tail", "RESERVED", line, &job)))
            return rc;
        out_job(c, &job);
        fflush(stdout);
        char what[64];
        snprintf(what, sizeof what, "tail: delete %llu", (unsigned long long)job.id);
        rc = cli_request(c, what, "DELETED", NULL, "delete %llu", (unsigned long long)job.id);
        free(job.body);
        if (rc)
            return rc;
    }
    return CLI_OK;
}
