/*
 * synq CLI: the statistics commands (stats, stats-tube, stats-job, tubes,
 * top).
 *
 * The server reports everything as flat YAML; text output prints it as
 * "key: value" lines, --json as one object. tubes is list-tubes followed by
 * stats-tube per tube, shown as a table; a tube can disappear between the
 * two (the server drops an empty, unwatched tube), so NOT_FOUND there just
 * skips it. top repeats that every interval and turns the server's
 * cumulative cmd-* counters into per-second rates from the difference
 * between two frames over the monotonic time between them.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static void print_yaml(const cli *c, const cli_yaml *y)
{
    if (c->json) {
        out_json_yaml(stdout, y);
        putchar('\n');
        return;
    }
    for (size_t i = 0; i < y->n; i++) {
        if (y->items[i].key)
            printf("%s: %s\n", y->items[i].key, y->items[i].val);
        else
            printf("%s\n", y->items[i].val);
    }
}

int cmd_stats(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL, NULL);
    if (rc)
        return rc;
    if (argc - optind > 1)
        return cli_usage_error(argv[0], "at most one KEY");
    const char *key = optind < argc ? argv[optind] : NULL;
    cli_yaml y;
    if ((rc = cli_connect(c)) || (rc = cli_yaml_request(c, "stats", &y, "stats")))
        return rc;
    if (!key) {
        print_yaml(c, &y);
    } else {
        const char *v = cli_yaml_get(&y, key);
        if (!v) {
            fprintf(stderr, "synq: stats: the server reports no '%s'\n", key);
            rc = CLI_NO;
        } else if (c->json) {
            printf("{");
            out_json_str(stdout, key, strlen(key));
            printf(": ");
            out_json_scalar(stdout, v);
            printf("}\n");
        } else {
            printf("%s\n", v);
        }
    }
    cli_yaml_free(&y);
    return rc;
}

int cmd_stats_tube(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL, NULL);
    if (rc)
        return rc;
    if (argc - optind != 1)
        return cli_usage_error(argv[0], "expected one TUBE");
    const char *tube = argv[optind];
    char what[256];
    snprintf(what, sizeof what, "stats-tube %s", tube);
    cli_yaml y;
    if ((rc = cli_check_tube(argv[0], tube)) || (rc = cli_connect(c)) ||
        (rc = cli_yaml_request(c, what, &y, "stats-tube %s", tube)))
        return rc;
    print_yaml(c, &y);
    cli_yaml_free(&y);
    return CLI_OK;
}

int cmd_stats_job(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL, NULL);
    if (rc)
        return rc;
    if (argc - optind != 1)
        return cli_usage_error(argv[0], "expected one job ID");
    uint64_t id;
    char what[64];
    cli_yaml y;
    if ((rc = cli_parse_id(argv[0], argv[optind], &id)))
        return rc;
    snprintf(what, sizeof what, "stats-job %llu", (unsigned long long)id);
    if ((rc = cli_connect(c)) ||
        (rc = cli_yaml_request(c, what, &y, "stats-job %llu", (unsigned long long)id)))
        return rc;
    print_yaml(c, &y);
    cli_yaml_free(&y);
    return CLI_OK;
}

/* --- tubes table --------------------------------------------------------- */

/* The table's columns: heading and the stats-tube key it shows. */
static const struct {
    const char *heading;
    const char *key;
} columns[] = {
    {"TUBE", "name"},
    {"READY", "current-jobs-ready"},
    {"RESERVED", "current-jobs-reserved"},
    {"DELAYED", "current-jobs-delayed"},
    {"BURIED", "current-jobs-buried"},
    {"URGENT", "current-jobs-urgent"},
    {"WAITING", "current-waiting"},
    {"PAUSED", "pause-time-left"},
};
#define N_COLUMNS (sizeof columns / sizeof columns[0])

typedef struct tube_set {
    cli_yaml *tubes; /* one stats-tube reply per tube */
    size_t n;
} tube_set;

static void tube_set_free(tube_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        cli_yaml_free(&s->tubes[i]);
    free(s->tubes);
    s->tubes = NULL;
    s->n = 0;
}

static int tube_set_fetch(cli *c, tube_set *s)
{
    cli_yaml list;
    int rc = cli_yaml_request(c, "list-tubes", &list, "list-tubes");
    if (rc)
        return rc;
    s->n = 0;
    s->tubes = calloc(list.n ? list.n : 1, sizeof *s->tubes);
    if (!s->tubes) {
        cli_yaml_free(&list);
        fprintf(stderr, "synq: out of memory\n");
        return CLI_FAIL;
    }
    for (size_t i = 0; i < list.n && rc == CLI_OK; i++) {
        char *line;
        if ((rc = cli_sendf(c, "stats-tube %s", list.items[i].val)) ||
            (rc = cli_read_line(c, &line, 0)))
            break;
        if (strcmp(line, "NOT_FOUND") == 0)
            continue; /* dropped since list-tubes */
        bool ok = strncmp(line, "OK ", 3) == 0;
        char *end = line;
        errno = 0;
        unsigned long long n = ok ? strtoull(line + 3, &end, 10) : 0;
        if (!ok || errno || *end) {
            rc = cli_reply_error(c, "stats-tube", line);
            break;
        }
        char *data;
        if ((rc = cli_read_body(c, (size_t)n, &data)))
            break;
        if (cli_yaml_parse(data, (size_t)n, &s->tubes[s->n]) < 0) {
            fprintf(stderr, "synq: stats-tube: malformed YAML from %s\n", c->addr);
            rc = CLI_FAIL;
            break;
        }
        s->n++;
    }
    cli_yaml_free(&list);
    if (rc)
        tube_set_free(s);
    return rc;
}

static const char *cell(const cli_yaml *t, size_t col)
{
    const char *v = cli_yaml_get(t, columns[col].key);
    return v ? v : "-";
}

static void print_table(FILE *f, const tube_set *s)
{
    int width[N_COLUMNS];
    for (size_t col = 0; col < N_COLUMNS; col++) {
        width[col] = (int)strlen(columns[col].heading);
        for (size_t i = 0; i < s->n; i++) {
            int w = (int)strlen(cell(&s->tubes[i], col));
            if (w > width[col])
                width[col] = w;
        }
    }
    /* Names left-aligned, counts right-aligned, two spaces between. */
    for (size_t col = 0; col < N_COLUMNS; col++)
        fprintf(f, col ? "  %*s" : "%-*s", width[col], columns[col].heading);
    fputc('\n', f);
    for (size_t i = 0; i < s->n; i++) {
        for (size_t col = 0; col < N_COLUMNS; col++)
            fprintf(f, col ? "  %*s" : "%-*s", width[col], cell(&s->tubes[i], col));
        fputc('\n', f);
    }
}

static void print_tubes_json(FILE *f, const tube_set *s)
{
    fputc('[', f);
    for (size_t i = 0; i < s->n; i++) {
        if (i)
            fputs(", ", f);
        out_json_yaml(f, &s->tubes[i]);
    }
    fputc(']', f);
}

int cmd_tubes(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL, NULL);
    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    tube_set s;
    if ((rc = cli_connect(c)) || (rc = tube_set_fetch(c, &s)))
        return rc;
    if (c->json) {
        print_tubes_json(stdout, &s);
        putchar('\n');
    } else
        print_table(stdout, &s);
    tube_set_free(&s);
    return CLI_OK;
}

/* --- top ----------------------------------------------------------------- */

static volatile sig_atomic_t top_stop;

static void on_sigint(int sig)
{
    (void)sig;
    top_stop = 1;
}

typedef struct top_opts {
    double interval_s;
    uint64_t count; /* 0: until Ctrl-C */
} top_opts;

static int top_opt(cli *c, const char *cmd, int opt, void *ctx)
{
    (void)c;
    top_opts *o = ctx;
    char *end;
    switch (opt) {
    case 'I':
        errno = 0;
        o->interval_s = strtod(optarg, &end);
        if (errno || *end || end == optarg || !(o->interval_s >= 0.05 && o->interval_s <= 3600))
            return cli_usage_error(cmd, "invalid --interval '%s' (0.05 to 3600 seconds)", optarg);
        return CLI_OK;
    case 'n':
        return cli_parse_u64(cmd, "count", optarg, UINT32_MAX, &o->count);
    default:
        return cli_usage_error(cmd, "bad option");
    }
}

/* Counters the rates come from; reserve counts both reserve commands. */
typedef struct top_counters {
    double at_s;
    uint64_t put, reserve, del;
    bool valid;
} top_counters;

static uint64_t stat_u64(const cli_yaml *y, const char *key)
{
    const char *v = cli_yaml_get(y, key);
    return v ? strtoull(v, NULL, 10) : 0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Rate of a counter between two frames; a counter that went backwards (the
 * server restarted) gives 0 rather than a huge bogus number. */
static double rate(uint64_t now, uint64_t before, double dt)
{
    return now >= before && dt > 0 ? (double)(now - before) / dt : 0.0;
}

static void top_frame(const cli *c, const cli_yaml *st, const tube_set *s, const top_counters *now,
                      const top_counters *prev)
{
    double dt = now->at_s - prev->at_s;
    double put = rate(now->put, prev->put, dt), res = rate(now->reserve, prev->reserve, dt),
           del = rate(now->del, prev->del, dt);
    if (c->json) {
        printf("{\"server\": ");
        out_json_str(stdout, c->addr, strlen(c->addr));
        if (prev->valid)
            printf(", \"put_per_s\": %.1f, \"reserve_per_s\": %.1f, \"delete_per_s\": %.1f", put,
                   res, del);
        printf(", \"tubes\": ");
        print_tubes_json(stdout, s);
        printf("}\n");
        return;
    }
    if (isatty(STDOUT_FILENO))
        fputs("\033[H\033[2J", stdout);
    printf("synq top  %s  up %ss  connections %s  jobs %s\n", c->addr,
           cli_yaml_get(st, "uptime") ? cli_yaml_get(st, "uptime") : "?",
           cli_yaml_get(st, "current-connections") ? cli_yaml_get(st, "current-connections") : "?",
           cli_yaml_get(st, "total-jobs") ? cli_yaml_get(st, "total-jobs") : "?");
    if (prev->valid)
        printf("put/s %.1f  reserve/s %.1f  delete/s %.1f\n\n", put, res, del);
    else
        printf("put/s -  reserve/s -  delete/s -\n\n");
    print_table(stdout, s);
}

int cmd_top(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"interval", required_argument, NULL, 'I'},
        {"count", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    top_opts o = {.interval_s = 1.0};
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS "n:", longopts, top_opt, &o);
    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_connect(c)))
        return rc;
    /* No SA_RESTART: Ctrl-C must cut the sleep short, not wait it out. */
    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    top_counters prev = {0};
    for (uint64_t frame = 0; !top_stop && (o.count == 0 || frame < o.count); frame++) {
        cli_yaml st;
        tube_set s;
        if ((rc = cli_yaml_request(c, "stats", &st, "stats")))
            return rc;
        if ((rc = tube_set_fetch(c, &s))) {
            cli_yaml_free(&st);
            return rc;
        }
        top_counters now = {
            .at_s = mono_s(),
            .put = stat_u64(&st, "cmd-put"),
            .reserve = stat_u64(&st, "cmd-reserve") + stat_u64(&st, "cmd-reserve-with-timeout"),
            .del = stat_u64(&st, "cmd-delete"),
            .valid = true,
        };
        top_frame(c, &st, &s, &now, &prev);
        fflush(stdout);
        prev = now;
        cli_yaml_free(&st);
        tube_set_free(&s);
        if (o.count && frame + 1 >= o.count)
            break;
        struct timespec left = {.tv_sec = (time_t)o.interval_s,
                                .tv_nsec =
                                    (long)((o.interval_s - (double)(time_t)o.interval_s) * 1e9)};
        while (!top_stop && nanosleep(&left, &left) < 0 && errno == EINTR)
            ;
    }
    return CLI_OK;
}
