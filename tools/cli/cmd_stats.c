/*
 * synq CLI: the statistics commands (stats, stats-tube, stats-job, tubes).
 *
 * The server reports everything as flat YAML; text output prints it as
 * "key: value" lines, --json as one object. tubes is list-tubes followed by
 * stats-tube per tube, shown as a table; a tube can disappear between the
 * two (the server drops an empty, unwatched tube), so NOT_FOUND there just
 * skips it. top (cmd_top.c) shares the fetching.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

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
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"tube", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *opt_tube = NULL;
    int rc =
        cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS "t:", longopts, cli_tube_opt, &opt_tube);
    if (rc)
        return rc;
    char *tube = NULL;
    if ((rc = cli_tube_arg(argv[0], argc, argv, opt_tube, &tube)))
        return rc;
    char what[256];
    snprintf(what, sizeof what, "stats-tube %s", tube);
    cli_yaml y;
    if ((rc = cli_connect(c)) || (rc = cli_yaml_request(c, what, &y, "stats-tube %s", tube)))
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

void cli_tubes_free(cli_tubes *s)
{
    for (size_t i = 0; i < s->n; i++)
        cli_yaml_free(&s->tubes[i]);
    free(s->tubes);
    s->tubes = NULL;
    s->n = 0;
}

int cli_tubes_fetch(cli *c, cli_tubes *s)
{
    cli_yaml list;
    int rc = cli_yaml_request(c, "list-tubes", &list, "list-tubes");
    if (rc)
        return rc;
    s->n = 0;
    s->tubes = calloc(list.n ? list.n : 1, sizeof *s->tubes);
    if (!s->tubes) {
        cli_yaml_free(&list);
        cli_err(c, "out of memory");
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
            cli_err(c, "stats-tube: malformed YAML from %s", c->addr);
            rc = CLI_FAIL;
            break;
        }
        s->n++;
    }
    cli_yaml_free(&list);
    if (rc)
        cli_tubes_free(s);
    return rc;
}

static const char *cell(const cli_yaml *t, size_t col)
{
    const char *v = cli_yaml_get(t, columns[col].key);
    return v ? v : "-";
}

static void print_table(FILE *f, const cli_tubes *s)
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

void cli_tubes_json(FILE *f, const cli_tubes *s)
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
    cli_tubes s;
    if ((rc = cli_connect(c)) || (rc = cli_tubes_fetch(c, &s)))
        return rc;
    if (c->json) {
        cli_tubes_json(stdout, &s);
        putchar('\n');
    } else
        print_table(stdout, &s);
    cli_tubes_free(&s);
    return CLI_OK;
}
