/*
 * synq top: the server's state and rates and a table of its tubes,
 * refreshed every interval.
 *
 * Model. Each refresh is "stats" plus every tube's "stats-tube" over the one
 * connection; rates are the change of the server's cumulative counters
 * (cmd-put, cmd-reserve + cmd-reserve-with-timeout, cmd-delete,
 * job-timeouts; per tube total-jobs and cmd-delete) over the monotonic time
 * between two refreshes. The protocol has no per-tube reserve or timeout
 * counter, so those two rates exist for the server only.
 *
 * When the connection fails (the server restarted, say) top shows
 * "reconnecting…" with the reason over the last data it had and tries again
 * every interval; the first refresh after a reconnect has no rates, since
 * the counters may have started over.
 *
 * On a terminal (stdout a tty, no --json) top owns the screen (term.h):
 * the header lines stay, the tube rows fill what is left of the window and
 * the last one says how many did not fit; keys sort and quit. Anywhere else
 * it prints plain frames, one unless -n says otherwise, so it can be
 * scripted. The first connection must succeed, or top exits 3 like every
 * other command.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "term.h"

/* The table's columns, in order; the first is the tube name. */
enum top_col {
    COL_TUBE,
    COL_READY,
    COL_RESERVED,
    COL_DELAYED,
    COL_BURIED,
    COL_JOBS,
    COL_WAITING,
    COL_WATCHING,
    COL_USING,
    COL_PUT_S,
    COL_DELETE_S,
    COL_PAUSED,
    N_TOP_COLS
};

static const char *const col_heading[N_TOP_COLS] = {
    "TUBE",    "READY",    "RESERVED", "DELAYED", "BURIED",   "JOBS",
    "WAITING", "WATCHING", "USING",    "PUT/S",   "DELETE/S", "PAUSED",
};
/* The --sort names: the headings in lower case. */
static const char *const col_name[N_TOP_COLS] = {
    "tube",    "ready",    "reserved", "delayed", "buried",   "jobs",
    "waiting", "watching", "using",    "put/s",   "delete/s", "paused",
};

typedef struct top_row {
    char name[208]; /* tube names are at most 200 bytes */
    double v[N_TOP_COLS];
    bool has_rates;
    uint64_t total_jobs, cmd_delete; /* the counters the tube's rates come from */
} top_row;

/* Counters the server-wide rates come from; reserve counts both reserves. */
typedef struct top_counters {
    double at_s;
    uint64_t put, reserve, del, timeouts;
    bool valid;
} top_counters;

typedef struct top {
    double interval_s;
    uint64_t count; /* frames to show; 0: until quit */
    bool count_given;
    int sort_col;
    bool reverse; /* of the column's natural order (numbers descending, names A-Z) */
    /* The last data. */
    top_row *rows, *prev_rows; /* prev_rows: the refresh before, sorted by name */
    size_t n_rows, n_prev;
    top_counters now, prev;
    char uptime[32], connections[32];
    uint64_t jobs;
    bool draining;
    bool connected;
    char error[512]; /* why we are reconnecting */
} top;

static int top_opt(cli *c, const char *cmd, int opt, void *ctx)
{
    (void)c;
    top *t = ctx;
    char *end;
    switch (opt) {
    case 'I':
        errno = 0;
        t->interval_s = strtod(optarg, &end);
        if (errno || *end || end == optarg || !(t->interval_s >= 0.05 && t->interval_s <= 3600))
            return cli_usage_error(cmd, "invalid --interval '%s' (0.05 to 3600 seconds)", optarg);
        return CLI_OK;
    case 'n':
        t->count_given = true;
        return cli_parse_u64(cmd, "count", optarg, UINT32_MAX, &t->count);
    case 'O':
        t->count_given = true;
        t->count = 1;
        return CLI_OK;
    case 's':
        for (int i = 0; i < N_TOP_COLS; i++)
            if (strcmp(optarg, col_name[i]) == 0) {
                t->sort_col = i;
                return CLI_OK;
            }
        return cli_usage_error(cmd, "invalid --sort '%s' (a column: tube, ready, ..., paused)",
                               optarg);
    case 'r':
        t->reverse = true;
        return CLI_OK;
    default:
        return cli_usage_error(cmd, "bad option");
    }
}

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

/* Rate of a counter between two refreshes; a counter that went backwards
 * (the server restarted, the tube was dropped and came back) gives 0 rather
 * than a huge bogus number. */
static double rate(uint64_t now, uint64_t before, double dt)
{
    return now >= before && dt > 0 ? (double)(now - before) / dt : 0.0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const top_row *)a)->name, ((const top_row *)b)->name);
}

/* Builds one row per tube, with rates where the tube was also in the
 * refresh before. */
static int top_rows(top *t, const cli_tubes *s)
{
    top_row *rows = calloc(s->n ? s->n : 1, sizeof *rows);
    if (!rows) {
        fprintf(stderr, "synq: top: out of memory\n");
        return CLI_FAIL;
    }
    double dt = t->now.at_s - t->prev.at_s;
    for (size_t i = 0; i < s->n; i++) {
        const cli_yaml *y = &s->tubes[i];
        top_row *r = &rows[i];
        const char *name = cli_yaml_get(y, "name");
        snprintf(r->name, sizeof r->name, "%s", name ? name : "?");
        static const char *const keys[N_TOP_COLS] = {
            [COL_READY] = "current-jobs-ready",     [COL_RESERVED] = "current-jobs-reserved",
            [COL_DELAYED] = "current-jobs-delayed", [COL_BURIED] = "current-jobs-buried",
            [COL_WAITING] = "current-waiting",      [COL_WATCHING] = "current-watching",
            [COL_USING] = "current-using",          [COL_PAUSED] = "pause-time-left",
        };
        for (int col = 0; col < N_TOP_COLS; col++)
            if (keys[col])
                r->v[col] = (double)stat_u64(y, keys[col]);
        r->v[COL_JOBS] =
            r->v[COL_READY] + r->v[COL_RESERVED] + r->v[COL_DELAYED] + r->v[COL_BURIED];
        r->total_jobs = stat_u64(y, "total-jobs");
        r->cmd_delete = stat_u64(y, "cmd-delete");
        const top_row *before =
            t->prev.valid ? bsearch(r, t->prev_rows, t->n_prev, sizeof *r, by_name) : NULL;
        if (before) {
            r->has_rates = true;
            r->v[COL_PUT_S] = rate(r->total_jobs, before->total_jobs, dt);
            r->v[COL_DELETE_S] = rate(r->cmd_delete, before->cmd_delete, dt);
        }
    }
    free(t->prev_rows);
    free(t->rows);
    /* This refresh, by name, is the next one's "before". */
    t->prev_rows = malloc((s->n ? s->n : 1) * sizeof *rows);
    if (!t->prev_rows) {
        free(rows);
        t->rows = NULL;
        t->n_rows = t->n_prev = 0;
        fprintf(stderr, "synq: top: out of memory\n");
        return CLI_FAIL;
    }
    memcpy(t->prev_rows, rows, s->n * sizeof *rows);
    qsort(t->prev_rows, s->n, sizeof *rows, by_name);
    t->rows = rows;
    t->n_rows = t->n_prev = s->n;
    return CLI_OK;
}

/* One refresh over the connection. On failure the caller reconnects. */
static int top_refresh(cli *c, top *t, cli_tubes *s)
{
    cli_yaml st;
    int rc = cli_yaml_request(c, "stats", &st, "stats");
    if (rc)
        return rc;
    if ((rc = cli_tubes_fetch(c, s))) {
        cli_yaml_free(&st);
        return rc;
    }
    t->prev = t->now;
    t->now = (top_counters){
        .at_s = mono_s(),
        .put = stat_u64(&st, "cmd-put"),
        .reserve = stat_u64(&st, "cmd-reserve") + stat_u64(&st, "cmd-reserve-with-timeout"),
        .del = stat_u64(&st, "cmd-delete"),
        .timeouts = stat_u64(&st, "job-timeouts"),
        .valid = true,
    };
    const char *v = cli_yaml_get(&st, "uptime");
    snprintf(t->uptime, sizeof t->uptime, "%s", v ? v : "?");
    v = cli_yaml_get(&st, "current-connections");
    snprintf(t->connections, sizeof t->connections, "%s", v ? v : "?");
    t->jobs = stat_u64(&st, "current-jobs-ready") + stat_u64(&st, "current-jobs-reserved") +
              stat_u64(&st, "current-jobs-delayed") + stat_u64(&st, "current-jobs-buried");
    v = cli_yaml_get(&st, "draining");
    t->draining = v && strcmp(v, "true") == 0;
    cli_yaml_free(&st);
    return top_rows(t, s);
}

/* --- sorting and drawing ------------------------------------------------ */

/* qsort has no context argument; top is single-threaded. */
static int sort_col_for_qsort;
static bool reverse_for_qsort;

/* Numbers largest first, names A to Z; reverse flips that. Ties go by name,
 * A first, whatever the direction, so rows do not jump between refreshes. */
static int row_order(const void *pa, const void *pb)
{
    const top_row *a = pa, *b = pb;
    int col = sort_col_for_qsort;
    int d = col == COL_TUBE ? strcmp(a->name, b->name)
                            : (a->v[col] < b->v[col]) - (a->v[col] > b->v[col]);
    if (d == 0)
        return strcmp(a->name, b->name);
    return reverse_for_qsort ? -d : d;
}

static void top_sort(top *t)
{
    sort_col_for_qsort = t->sort_col;
    reverse_for_qsort = t->reverse;
    if (t->rows)
        qsort(t->rows, t->n_rows, sizeof *t->rows, row_order);
}

static void cell(char *out, size_t cap, const top_row *r, int col)
{
    if (col == COL_TUBE)
        snprintf(out, cap, "%s", r->name);
    else if (col == COL_PUT_S || col == COL_DELETE_S)
        snprintf(out, cap, r->has_rates ? "%.1f" : "-", r->v[col]);
    else
        snprintf(out, cap, "%.0f", r->v[col]);
}

/* The output of one frame: lines, each cut to the window's width. */
typedef struct frame {
    FILE *out;
    bool screen;    /* drawing on the terminal: clear each line's rest */
    unsigned cols;  /* 0: no width limit */
    unsigned rows;  /* 0: no height limit */
    unsigned lines; /* written so far */
    bool last_full; /* the last line written filled the width */
    const char *ellipsis;
} frame;

static void frame_line(frame *f, const char *text)
{
    if (f->rows && f->lines >= f->rows)
        return;
    if (f->lines > 0)
        fputs(f->screen && !f->last_full ? "\033[K\n" : "\n", f->out);
    /* Count columns as UTF-8 characters (the ellipsis is one). */
    size_t len = 0;
    unsigned used = 0;
    for (; text[len]; len++) {
        if (((unsigned char)text[len] & 0xC0) != 0x80) {
            if (f->cols && used == f->cols)
                break;
            used++;
        }
    }
    fwrite(text, 1, len, f->out);
    /* A line that fills the width leaves the cursor on its last column, and
     * clearing from there would erase that column. */
    f->last_full = f->cols && used == f->cols;
    f->lines++;
}

static void frame_end(frame *f)
{
    if (f->screen)
        /* The last line stays open (a newline there would scroll); below it,
         * what an earlier, longer frame left is cleared. */
        fputs(!f->last_full ? "\033[K\033[J" : f->lines < f->rows ? "\n\033[J" : "", f->out);
    else
        fputc('\n', f->out);
}

/* The header: the same lines on the screen and in plain frames, plus the
 * keys line on the screen. */
static void draw_header(frame *f, const cli *c, const top *t)
{
    char line[1024];
    if (!t->connected)
        snprintf(line, sizeof line, "synq top  %s  reconnecting%s (%s)", c->addr, f->ellipsis,
                 t->error);
    else
        snprintf(line, sizeof line, "synq top  %s  up %ss  connections %s  jobs %llu  tubes %zu%s",
                 c->addr, t->uptime, t->connections, (unsigned long long)t->jobs, t->n_rows,
                 t->draining ? "  DRAINING" : "");
    frame_line(f, line);
    double dt = t->now.at_s - t->prev.at_s;
    if (t->connected && t->prev.valid)
        snprintf(line, sizeof line, "put/s %.1f  reserve/s %.1f  delete/s %.1f  timeouts/s %.1f",
                 rate(t->now.put, t->prev.put, dt), rate(t->now.reserve, t->prev.reserve, dt),
                 rate(t->now.del, t->prev.del, dt), rate(t->now.timeouts, t->prev.timeouts, dt));
    else
        snprintf(line, sizeof line, "put/s -  reserve/s -  delete/s -  timeouts/s -");
    frame_line(f, line);
    if (f->screen) {
        bool asc = (t->sort_col == COL_TUBE) != t->reverse;
        snprintf(line, sizeof line, "sort %s %s   keys: s/S sort column  r reverse  q quit",
                 col_name[t->sort_col], asc ? "ascending" : "descending");
        frame_line(f, line);
    }
    frame_line(f, "");
}

static void draw_table(frame *f, const top *t)
{
    size_t show = t->n_rows;
    if (f->rows) {
        /* Header lines already written, the heading, then the rows. */
        unsigned left = f->rows > f->lines + 1 ? f->rows - f->lines - 1 : 0;
        if (show > left)
            show = left > 0 ? left - 1 : 0; /* the last line says how many are missing */
    }
    int width[N_TOP_COLS];
    char text[256];
    for (int col = 0; col < N_TOP_COLS; col++) {
        width[col] = (int)strlen(col_heading[col]);
        for (size_t i = 0; i < show; i++) {
            cell(text, sizeof text, &t->rows[i], col);
            if ((int)strlen(text) > width[col])
                width[col] = (int)strlen(text);
        }
    }
    char line[N_TOP_COLS * 260];
    size_t at = 0;
    /* Names left-aligned, numbers right-aligned, two spaces between. */
    for (int col = 0; col < N_TOP_COLS; col++)
        at += (size_t)snprintf(line + at, sizeof line - at, col ? "  %*s" : "%-*s", width[col],
                               col_heading[col]);
    frame_line(f, line);
    for (size_t i = 0; i < show; i++) {
        at = 0;
        for (int col = 0; col < N_TOP_COLS; col++) {
            cell(text, sizeof text, &t->rows[i], col);
            at += (size_t)snprintf(line + at, sizeof line - at, col ? "  %*s" : "%-*s", width[col],
                                   text);
        }
        frame_line(f, line);
    }
    if (show < t->n_rows) {
        snprintf(line, sizeof line, "%s %zu more tube%s", f->ellipsis, t->n_rows - show,
                 t->n_rows - show == 1 ? "" : "s");
        frame_line(f, line);
    }
}

static void draw_json(const cli *c, const top *t, const cli_tubes *s)
{
    printf("{\"server\": ");
    out_json_str(stdout, c->addr, strlen(c->addr));
    if (!t->connected) {
        printf(", \"reconnecting\": true, \"error\": ");
        out_json_str(stdout, t->error, strlen(t->error));
        printf("}\n");
        return;
    }
    printf(", \"draining\": %s, \"jobs\": %llu", t->draining ? "true" : "false",
           (unsigned long long)t->jobs);
    double dt = t->now.at_s - t->prev.at_s;
    if (t->prev.valid)
        printf(", \"put_per_s\": %.1f, \"reserve_per_s\": %.1f, \"delete_per_s\": %.1f, "
               "\"timeouts_per_s\": %.1f",
               rate(t->now.put, t->prev.put, dt), rate(t->now.reserve, t->prev.reserve, dt),
               rate(t->now.del, t->prev.del, dt), rate(t->now.timeouts, t->prev.timeouts, dt));
    printf(", \"tubes\": ");
    cli_tubes_json(stdout, s);
    printf("}\n");
}

/* UTF-8 "…" where the locale says UTF-8, "..." elsewhere. */
static const char *ellipsis(void)
{
    const char *vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return strstr(v, "UTF-8") || strstr(v, "utf8") || strstr(v, "UTF8") ||
                           strstr(v, "utf-8")
                       ? "\xe2\x80\xa6"
                       : "...";
    }
    return "...";
}

static void draw(const cli *c, top *t, const term *tm, const char *dots)
{
    frame f = {.out = stdout, .screen = tm->screen, .ellipsis = dots};
    if (tm->screen) {
        f.rows = tm->rows;
        f.cols = tm->cols;
        fputs("\033[H", stdout);
    }
    top_sort(t);
    draw_header(&f, c, t);
    draw_table(&f, t);
    frame_end(&f);
    fflush(stdout);
}

/* --- the loop ----------------------------------------------------------- */

/* One refresh, reconnecting first if needed; failures only change what the
 * header says. */
static void top_tick(cli *c, top *t, cli_tubes *s)
{
    cli_tubes_free(s);
    if (!t->connected) {
        if (cli_connect(c) != CLI_OK) {
            snprintf(t->error, sizeof t->error, "%s", c->last_error);
            return;
        }
        t->connected = true;
        t->now.valid = false; /* the counters may have started over */
    }
    if (top_refresh(c, t, s) != CLI_OK) {
        snprintf(t->error, sizeof t->error, "%s", c->last_error);
        cli_close(c);
        t->connected = false;
    }
}

/* Applies a key; returns false to quit. */
static bool top_key(top *t, int key)
{
    switch (key) {
    case 'q':
    case 'Q':
    case 3: /* Ctrl-C: the terminal's signal characters are off */
    case 4: /* Ctrl-D */
    case -1:
        return false;
    case 's':
    case '>':
        t->sort_col = (t->sort_col + 1) % N_TOP_COLS;
        return true;
    case 'S':
    case '<':
        t->sort_col = (t->sort_col + N_TOP_COLS - 1) % N_TOP_COLS;
        return true;
    case 'r':
        t->reverse = !t->reverse;
        return true;
    default:
        return true;
    }
}

static void top_run(cli *c, top *t, term *tm)
{
    const char *dots = ellipsis();
    cli_tubes s = {0};
    for (uint64_t frames = 0; !term_stop_requested();) {
        top_tick(c, t, &s);
        if (c->json) {
            draw_json(c, t, &s);
            fflush(stdout); /* a frame a refresh, also into a pipe */
        } else
            draw(c, t, tm, dots);
        if (t->count && ++frames >= t->count)
            break;
        double next_s = mono_s() + t->interval_s;
        for (double left_s; !term_stop_requested() && (left_s = next_s - mono_s()) > 0;) {
            int key = term_wait_key(tm, (int)(left_s * 1000.0) + 1);
            if (term_resized() && tm->screen) {
                term_size(tm);
                draw(c, t, tm, dots);
            }
            if (key == 0)
                continue;
            if (!top_key(t, key)) {
                cli_tubes_free(&s);
                return;
            }
            draw(c, t, tm, dots);
        }
    }
    cli_tubes_free(&s);
}

int cmd_top(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"interval", required_argument, NULL, 'I'},
        {"count", required_argument, NULL, 'n'},
        {"once", no_argument, NULL, 'O'},
        {"sort", required_argument, NULL, 's'},
        {"reverse", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    top t = {.interval_s = 1.0, .sort_col = COL_JOBS};
    int rc = cli_parse_opts(c, argc, argv, CLI_COMMON_SHORTOPTS "n:s:r", longopts, top_opt, &t);
    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    bool interactive = !c->json && isatty(STDOUT_FILENO);
    if (!t.count_given && !interactive)
        t.count = 1; /* a script gets one frame, not a stream it must kill */
    if ((rc = cli_connect(c)))
        return rc;
    t.connected = true;
    term_signals();
    term tm = {0};
    if (interactive) {
        /* Errors go in the header while the screen is ours, not across it. */
        c->keep_errors = true;
        term_open(&tm);
    }
    top_run(c, &t, &tm);
    term_close(&tm);
    c->keep_errors = false;
    free(t.rows);
    free(t.prev_rows);
    return CLI_OK;
}
