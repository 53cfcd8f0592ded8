/*
 * metrics_doc: the exposition document, a slice per call (contract and consistency in
 * metrics_doc.h). The server-wide families are a few dozen lines and go out in the first
 * slice; what grows with the server is the per-tube families, so those are the ones cut into
 * slices, each family one walk of the tubes by store_tube_scan (whose cursor is a slot index
 * and a creation number, so store changes between slices cannot make it return a freed tube
 * or one tube twice).
 */
#include "metrics_doc.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "procstat.h"
#include "proto.h"
#include "stats.h"
#include "synq/version.h"

enum {
    PART_GLOBAL = 0,
    PART_TUBE_FIRST = 1,              /* PART_TUBE_FIRST + f for tube family f */
    PART_DONE = PART_TUBE_FIRST + 13, /* TF_COUNT_ families */
};

/* Appends stop at the first error, which is kept: the formatting code reads
 * as a list of metrics instead of a list of error checks. */
typedef struct writer {
    sq_buf *out;
    int err;
} writer;

typedef struct label {
    const char *key;
    const char *value;
    size_t value_len;
} label;

static void put_bytes(writer *w, const char *s, size_t len)
{
    if (!w->err)
        w->err = sq_buf_append(w->out, s, len);
}

static void put_str(writer *w, const char *s)
{
    put_bytes(w, s, strlen(s));
}

/* The first byte in [p, end) that a label value must escape, or end. Three
 * memchr scans beat a byte loop: tube names (the long label values) never
 * hold any of the three, so this is the whole cost of escaping them. */
static const char *next_to_escape(const char *p, const char *end)
{
    static const char specials[] = {'\\', '"', '\n'};
    for (size_t k = 0; k < sizeof specials; k++) {
        const char *q = memchr(p, specials[k], (size_t)(end - p));
        if (q)
            end = q;
    }
    return end;
}

int metrics_escape_label(sq_buf *out, const char *s, size_t len)
{
    const char *p = s, *end = s + len;
    for (;;) {
        const char *q = next_to_escape(p, end);
        int err = sq_buf_append(out, p, (size_t)(q - p));
        if (err || q == end)
            return err;
        err = sq_buf_append(out, *q == '\\' ? "\\\\" : *q == '"' ? "\\\"" : "\\n", 2);
        if (err)
            return err;
        p = q + 1;
    }
}

/* "# HELP" and "# TYPE" for a family; its samples must follow at once,
 * since the format wants every sample of a family in one group. */
static void family(writer *w, const char *name, const char *type, const char *help)
{
    if (!w->err)
        w->err = sq_buf_printf(w->out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k="v",...} value */
static void sample(writer *w, const char *name, const label *labels, size_t nlabels, uint64_t v)
{
    put_str(w, name);
    for (size_t i = 0; i < nlabels; i++) {
        put_str(w, i == 0 ? "{" : ",");
        put_str(w, labels[i].key);
        put_bytes(w, "=\"", 2);
        if (!w->err)
            w->err = metrics_escape_label(w->out, labels[i].value, labels[i].value_len);
        put_bytes(w, "\"", 1);
    }
    if (nlabels)
        put_bytes(w, "}", 1);
    if (!w->err)
        w->err = sq_buf_printf(w->out, " %" PRIu64 "\n", v);
}

static void metric(writer *w, const char *name, const char *type, const char *help, uint64_t v)
{
    family(w, name, type, help);
    sample(w, name, NULL, 0, v);
}

static void metric_labelled(writer *w, const char *name, const char *key, const char *value,
                            uint64_t v)
{
    label l = {key, value, strlen(value)};
    sample(w, name, &l, 1, v);
}

static void sample_double(writer *w, const char *name, double v)
{
    put_str(w, name);
    if (!w->err)
        w->err = sq_buf_printf(w->out, " %.6f\n", v);
}

/* The server-wide fields of beanstalkd's `stats`, under the names the messagebird exporter
 * gives them (the field with '-' made '_'; all gauges, as that exporter types them), so the
 * dashboards and alerts written for it read synqd unchanged. */
static void format_beanstalkd_stats(writer *w, const synqd_snapshot *snap, const store_stats *ss,
                                    const procstat *ps)
{
    metric(w, "current_jobs_urgent", "gauge", "Ready jobs with priority below 1024.", ss->urgent);
    metric(w, "current_jobs_ready", "gauge", "Jobs in the ready queues.", ss->ready);
    metric(w, "current_jobs_reserved", "gauge", "Jobs reserved by all clients.", ss->reserved);
    metric(w, "current_jobs_delayed", "gauge", "Delayed jobs.", ss->delayed);
    metric(w, "current_jobs_buried", "gauge", "Buried jobs.", ss->buried);
    const synqd_counters *c = &snap->counters;
    for (int t = 0; t < CMD_COUNT_; t++) {
        const char *stat = proto_cmd_stat_name((proto_cmd_type)t);
        if (!stat || strncmp(stat, "cmd-", 4) != 0)
            continue;
        char name[64], help[96];
        size_t n = strlen(stat);
        if (n >= sizeof name)
            continue;
        memcpy(name, stat, n + 1);
        for (char *dash = name; (dash = strchr(dash, '-')) != NULL;) /* cmd-put -> cmd_put */
            *dash = '_';
        (void)snprintf(help, sizeof help, "Cumulative number of %s commands.", stat + 4);
        metric(w, name, "gauge", help, c->cmd_counts[t]);
    }
    metric(w, "job_timeouts", "gauge", "Reservations ended by the job's time-to-run running out.",
           ss->job_timeouts);
    metric(w, "total_jobs", "gauge",
           "Jobs put since the server started, plus jobs restored from the log.", ss->total_jobs);
    metric(w, "max_job_size", "gauge", "Largest job body accepted, in bytes (-z).",
           snap->max_job_bytes);
    metric(w, "current_tubes", "gauge", "Tubes that exist.", ss->tubes);
    metric(w, "current_connections", "gauge", "Open protocol connections.", c->current_connections);
    metric(w, "current_producers", "gauge", "Open connections that have issued a put.",
           c->current_producers);
    metric(w, "current_workers", "gauge", "Open connections that have issued a reserve.",
           c->current_workers);
    metric(w, "current_waiting", "gauge", "Connections waiting in reserve for a job.", ss->waiting);
    metric(w, "total_connections", "gauge", "Protocol connections accepted.", c->total_connections);
    metric(w, "uptime", "gauge", "Seconds since the server started.", snap->uptime_s);
    family(w, "rusage_utime", "gauge", "CPU seconds spent in user mode.");
    sample_double(w, "rusage_utime", ps->user_s);
    family(w, "rusage_stime", "gauge", "CPU seconds spent in the kernel.");
    sample_double(w, "rusage_stime", ps->system_s);
    const synqd_binlog_stats *bs = &snap->binlog;
    metric(w, "binlog_oldest_index", "gauge", "Index of the oldest log segment kept.",
           bs->oldest_index);
    metric(w, "binlog_current_index", "gauge", "Index of the log segment being appended to.",
           bs->current_index);
    metric(w, "binlog_records_migrated", "gauge",
           "Records rewritten into newer segments by compaction.", bs->records_migrated);
    metric(w, "binlog_records_written", "gauge", "Records appended to the write-ahead log.",
           bs->records_written);
    metric(w, "binlog_max_size", "gauge", "Size of a log segment, in bytes.", bs->max_size);
}

/* The families every Prometheus client library exports for its process. */
static void format_process(writer *w, const procstat *ps)
{
    family(w, "process_cpu_seconds_total", "counter", "User and system CPU time spent, seconds.");
    sample_double(w, "process_cpu_seconds_total", ps->user_s + ps->system_s);
    if (!ps->has_proc)
        return;
    metric(w, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
           ps->resident_bytes);
    metric(w, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
           ps->virtual_bytes);
    family(w, "process_start_time_seconds", "gauge",
           "Start time of the process since the Unix epoch, seconds.");
    sample_double(w, "process_start_time_seconds", ps->start_time_s);
    metric(w, "process_open_fds", "gauge", "Open file descriptors.", ps->open_fds);
    if (ps->max_fds)
        metric(w, "process_max_fds", "gauge", "The soft limit on open file descriptors.",
               ps->max_fds);
}

/* name_bucket{le="..."} cumulative, then name_sum and name_count. */
static void format_histogram(writer *w, const char *name, const char *help, const histogram *h)
{
    family(w, name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= h->n && !w->err; i++) {
        cumulative += h->counts[i];
        if (i < h->n)
            w->err = sq_buf_printf(w->out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
                                   (double)h->bounds[i] * h->unit, cumulative);
        else
            w->err =
                sq_buf_printf(w->out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cumulative);
    }
    if (!w->err)
        w->err = sq_buf_printf(w->out, "%s_sum %.6f\n%s_count %" PRIu64 "\n", name,
                               (double)h->sum * h->unit, name, h->count);
}

/* synq_command_duration_seconds{command="..."}: one histogram per command of the command
 * table (a bounded label set), printed once the command has run, so an idle server's scrape
 * does not carry 39 empty histograms. */
static void format_command_histograms(writer *w, const synqd_histograms *hs)
{
    static const char name[] = "synq_command_duration_seconds";
    family(w, name, "histogram",
           "Time from a command's input in hand (its line; a put's body) to its reply queued.");
    for (int t = 0; t < CMD_COUNT_ && !w->err; t++) {
        const histogram *h = &hs->command_us[t];
        if (!h->count)
            continue;
        const char *cmd = proto_cmds[t].name;
        int len = (int)proto_cmds[t].name_len;
        if (len > 0 && cmd[len - 1] == ' ')
            len--;
        uint64_t cumulative = 0;
        for (size_t i = 0; i <= h->n && !w->err; i++) {
            cumulative += h->counts[i];
            char le[32];
            if (i < h->n)
                (void)snprintf(le, sizeof le, "%g", (double)h->bounds[i] * h->unit);
            else
                memcpy(le, "+Inf", 5);
            w->err = sq_buf_printf(w->out, "%s_bucket{command=\"%.*s\",le=\"%s\"} %" PRIu64 "\n",
                                   name, len, cmd, le, cumulative);
        }
        if (!w->err)
            w->err = sq_buf_printf(
                w->out, "%s_sum{command=\"%.*s\"} %.6f\n%s_count{command=\"%.*s\"} %" PRIu64 "\n",
                name, len, cmd, (double)h->sum * h->unit, name, len, cmd, h->count);
    }
}

static void format_histograms(writer *w, const synqd_histograms *hs, bool has_log)
{
    format_command_histograms(w, hs);
    format_histogram(w, "synq_job_wait_seconds",
                     "Age of a job each time it is reserved: put to reserve, delays and "
                     "earlier reservations included.",
                     &hs->job_wait_ms);
    format_histogram(w, "synq_job_run_seconds",
                     "Time from a job's reserve to its delete, of each reserved job deleted.",
                     &hs->job_run_ms);
    if (!has_log)
        return;
    format_histogram(w, "synq_fsync_duration_seconds",
                     "Time one group commit spent making the log durable (fdatasync).",
                     &hs->fsync_us);
    format_histogram(w, "synq_fsync_batch_records",
                     "Records one group commit's fdatasync made durable.", &hs->fsync_records);
}

/* Each time an overload limit bit (docs/operations.md). */
static void format_overload(writer *w, const synqd_counters *c, const synqd_overload_stats *o)
{
    metric(w, "synq_pass_budget_yields_total", "counter",
           "Times a connection stopped running commands for this loop pass (--pass-commands).",
           c->budget_yields);
    metric(w, "synq_output_soft_limit_total", "counter",
           "Times a connection's commands waited for its unsent replies to drain "
           "(--output-soft-limit, or --output-total-limit).",
           c->output_stops);
    metric(w, "synq_output_total_limit_total", "counter",
           "Times a connection was held because all connections' unsent replies passed "
           "--output-total-limit.",
           o->output_total_stops);
    metric(w, "synq_output_closed_total", "counter",
           "Connections closed for their unsent replies (--output-limit, --output-timeout-ms).",
           o->output_closes);
    metric(w, "synq_accept_emfile_total", "counter",
           "accept() failures for lack of file descriptors.", o->accept_emfile);
    metric(w, "synq_accept_shed_total", "counter",
           "Connections accepted and closed at once because descriptors ran out.", o->accept_shed);
    metric(w, "synq_tls_handshake_failures_total", "counter",
           "TLS connections closed before their handshake completed (refused certificate, "
           "not TLS, --tls-port handshake timeout).",
           o->tls_handshake_failures);
    metric(w, "synq_tls_ktls_connections_total", "counter",
           "TLS connections whose records the kernel encrypts (--tls-ktls yes, a kernel with "
           "the tls module).",
           o->tls_ktls);
    metric(w, "synq_malloc_trims_total", "counter",
           "Times freed heap memory was given back to the kernel after many tubes or "
           "connections went away.",
           o->malloc_trims);
}

/* What `stats-log` adds to the beanstalkd binlog fields. */
static void format_binlog(writer *w, const synqd_binlog_stats *bs)
{
    family(w, "synq_binlog_bytes", "gauge",
           "Bytes in log segments: live records still needed, dead ones awaiting compaction.");
    metric_labelled(w, "synq_binlog_bytes", "kind", "live", bs->bytes_live);
    metric_labelled(w, "synq_binlog_bytes", "kind", "dead", bs->bytes_dead);
    metric(w, "synq_binlog_fsyncs_total", "counter", "fdatasync calls made by the log.",
           bs->fsyncs);
}

/* The per-tube families, in document order: the fields of `stats-tube` under the
 * messagebird exporter's names ("tube_" and the field with '-' made '_', label tube). */
enum tube_field {
    TF_URGENT,
    TF_READY,
    TF_RESERVED,
    TF_DELAYED,
    TF_BURIED,
    TF_TOTAL_JOBS,
    TF_USING,
    TF_WATCHING,
    TF_WAITING,
    TF_CMD_DELETE,
    TF_CMD_PAUSE_TUBE,
    TF_PAUSE,
    TF_PAUSE_TIME_LEFT,
    TF_COUNT_
};

static const struct {
    const char *name, *help;
} tube_families[TF_COUNT_] = {
    [TF_URGENT] = {"tube_current_jobs_urgent", "Ready jobs in the tube with priority below 1024."},
    [TF_READY] = {"tube_current_jobs_ready", "Jobs in the tube's ready queue."},
    [TF_RESERVED] = {"tube_current_jobs_reserved", "Jobs of the tube reserved by clients."},
    [TF_DELAYED] = {"tube_current_jobs_delayed", "Delayed jobs in the tube."},
    [TF_BURIED] = {"tube_current_jobs_buried", "Buried jobs in the tube."},
    [TF_TOTAL_JOBS] = {"tube_total_jobs", "Jobs put into the tube since it was created."},
    [TF_USING] = {"tube_current_using", "Open connections using the tube."},
    [TF_WATCHING] = {"tube_current_watching", "Open connections watching the tube."},
    [TF_WAITING] = {"tube_current_waiting", "Connections waiting in reserve on the tube."},
    [TF_CMD_DELETE] = {"tube_cmd_delete", "Delete commands for jobs of the tube."},
    [TF_CMD_PAUSE_TUBE] = {"tube_cmd_pause_tube", "Pause-tube commands for the tube."},
    [TF_PAUSE] = {"tube_pause", "Seconds the tube was paused for (0 when not paused)."},
    [TF_PAUSE_TIME_LEFT] = {"tube_pause_time_left", "Seconds until the tube is unpaused."},
};

static uint64_t tube_field_value(const tube_stats *ts, int f)
{
    switch ((enum tube_field)f) {
    case TF_URGENT:
        return ts->urgent;
    case TF_READY:
        return ts->ready;
    case TF_RESERVED:
        return ts->reserved;
    case TF_DELAYED:
        return ts->delayed;
    case TF_BURIED:
        return ts->buried;
    case TF_TOTAL_JOBS:
        return ts->total_jobs;
    case TF_USING:
        return ts->using;
    case TF_WATCHING:
        return ts->watching;
    case TF_WAITING:
        return ts->waiting;
    case TF_CMD_DELETE:
        return ts->cmd_delete;
    case TF_CMD_PAUSE_TUBE:
        return ts->cmd_pause_tube;
    case TF_PAUSE:
        return ts->pause_s;
    case TF_PAUSE_TIME_LEFT:
        return ts->pause_time_left_s > 0 ? (uint64_t)ts->pause_time_left_s : 0;
    case TF_COUNT_:
        break;
    }
    return 0;
}

/* Whether --metrics-tubes lets the tube in: no patterns, or one of the comma-separated
 * globs matches its whole name. */
static bool tube_allowed(const char *patterns, const char *name)
{
    if (!patterns || !*patterns)
        return true;
    char one[METRICS_MAX_PATTERN_BYTES + 1];
    for (const char *p = patterns; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len > 0 && len < sizeof one) {
            memcpy(one, p, len);
            one[len] = '\0';
            if (fnmatch(one, name, 0) == 0)
                return true;
        }
        p += len + (comma ? 1 : 0);
    }
    return false;
}

static void format_global(writer *w, server *srv)
{
    synqd_snapshot snap;
    server_snapshot(srv, &snap);
    const store *st = server_store(srv);
    store_stats ss;
    store_get_stats(st, &ss);
    procstat ps;
    procstat_read(&ps);

    format_beanstalkd_stats(w, &snap, &ss, &ps);
    format_process(w, &ps);
    format_overload(w, &snap.counters, &snap.overload);
    metric(w, "synq_draining", "gauge", "1 in drain mode (SIGUSR1: put answers DRAINING).",
           ss.draining ? 1 : 0);
    family(w, "synq_build_info", "gauge",
           "Always 1; the labels say which synqd this is and what its event loop waits on.");
    const char *backend = snap.io_backend;
    label info[2] = {{"version", SYNQ_VERSION, strlen(SYNQ_VERSION)},
                     {"io_backend", backend, strlen(backend)}};
    sample(w, "synq_build_info", info, 2, 1);
    metric(w, "synq_job_memory_bytes", "gauge",
           "Memory counted for the jobs held (bodies plus a fixed cost each): what "
           "--max-memory bounds.",
           snap.job_memory);
    metric(w, "synq_job_memory_limit_bytes", "gauge",
           "The --max-memory bound; 0 when there is none.", snap.max_memory);
    store_memory sm;
    store_get_memory(st, &sm);
    family(w, "synq_store_memory_bytes", "gauge",
           "Bytes the job store holds, by part: job records (slab chunks), the id directory, "
           "the ready sets, the delay heaps and TTR FIFOs.");
    metric_labelled(w, "synq_store_memory_bytes", "part", "records", sm.records);
    metric_labelled(w, "synq_store_memory_bytes", "part", "directory", sm.directory);
    metric_labelled(w, "synq_store_memory_bytes", "part", "ready", sm.ready);
    metric_labelled(w, "synq_store_memory_bytes", "part", "heaps", sm.heaps);
    /* The log's own families exist only with -b, as `stats-log`: a zero would read as "a log
     * that never wrote", which is a different thing from "no log". */
    if (snap.has_log)
        format_binlog(w, &snap.binlog);
    format_histograms(w, snap.hist, snap.has_log);
}

void metrics_doc_begin(metrics_doc *d, server *srv, uint32_t max_tubes, const char *tube_patterns)
{
    memset(d, 0, sizeof *d);
    d->srv = srv;
    d->max_tubes = max_tubes;
    d->tube_patterns = tube_patterns;
    d->part = PART_GLOBAL;
}

static void tube_family_head(writer *w, int f)
{
    family(w, tube_families[f].name, "gauge", tube_families[f].help);
}

/* One slice of the current tube family. Returns true when the family is complete. The first
 * family walks every tube, so that it can count the ones left out; the later ones stop at the
 * cap. */
static bool tube_family_slice(metrics_doc *d, writer *w, size_t stop_bytes)
{
    const store *st = server_store(d->srv);
    int fam = d->part - PART_TUBE_FIRST;
    uint32_t slots_left = METRICS_DOC_SLOTS_PER_CALL;
    while (!w->err && sq_buf_len(w->out) < stop_bytes) {
        bool capped = d->max_tubes && d->reported >= d->max_tubes;
        if (capped && fam > 0)
            return true;
        const tube *t = store_tube_scan_next(st, &d->scan, &slots_left);
        if (!t)
            return store_tube_scan_done(&d->scan);
        tube_stats ts;
        tube_get_stats(st, t, &ts);
        bool in = !capped && tube_allowed(d->tube_patterns, ts.name);
        if (fam == 0 && !in)
            d->omitted++;
        if (!in)
            continue;
        label l = {"tube", ts.name, ts.name_len};
        sample(w, tube_families[fam].name, &l, 1, tube_field_value(&ts, fam));
        d->reported++;
    }
    return false;
}

int metrics_doc_next(metrics_doc *d, sq_buf *out, size_t stop_bytes)
{
    writer w = {out, 0};
    if (d->part == PART_GLOBAL) {
        format_global(&w, d->srv);
        d->part = PART_TUBE_FIRST;
        d->reported = 0;
        store_tube_scan_begin(server_store(d->srv), &d->scan);
        tube_family_head(&w, 0);
    }
    while (!w.err && d->part < PART_DONE && sq_buf_len(out) < stop_bytes) {
        if (!tube_family_slice(d, &w, stop_bytes))
            break; /* out is full enough, or this call's slots are spent */
        if (++d->part == PART_DONE) {
            /* Last, since only the first tube family's walk knows it. */
            metric(&w, "synq_metrics_tubes_omitted", "gauge",
                   "Tubes this scrape gave no per-tube series (--metrics-tubes, "
                   "--metrics-max-tubes).",
                   d->omitted);
            break;
        }
        /* Every family walks from the same begin, so "created after the begin" means the
         * same moment for all of them. */
        store_tube_scan_restart(&d->scan);
        d->reported = 0;
        tube_family_head(&w, d->part - PART_TUBE_FIRST);
    }
    if (w.err)
        return w.err;
    return d->part == PART_DONE ? 0 : 1;
}

int metrics_format(server *srv, uint32_t max_tubes, const char *tube_patterns, sq_buf *out)
{
    metrics_doc d;
    metrics_doc_begin(&d, srv, max_tubes, tube_patterns);
    int r;
    while ((r = metrics_doc_next(&d, out, SIZE_MAX)) > 0)
        ;
    return r;
}
