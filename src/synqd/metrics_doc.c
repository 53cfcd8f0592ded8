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
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "proto.h"
#include "stats.h"
#include "synq/version.h"

enum {
    PART_GLOBAL = 0,
    PART_TUBE_FIRST = 1, /* PART_TUBE_FIRST + f for tube family f */
    PART_DONE = PART_TUBE_FIRST + 4,
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

static void format_jobs(writer *w, const store_stats *ss)
{
    family(w, "synq_jobs", "gauge",
           "Jobs by state (urgent: ready jobs with priority below 1024, a subset of ready).");
    metric_labelled(w, "synq_jobs", "state", "ready", ss->ready);
    metric_labelled(w, "synq_jobs", "state", "reserved", ss->reserved);
    metric_labelled(w, "synq_jobs", "state", "delayed", ss->delayed);
    metric_labelled(w, "synq_jobs", "state", "buried", ss->buried);
    metric_labelled(w, "synq_jobs", "state", "urgent", ss->urgent);
    metric(
        w, "synq_jobs_total", "counter",
        "Jobs put since the server started, plus jobs restored from the log (total-jobs of stats).",
        ss->total_jobs);
    metric(w, "synq_job_timeouts_total", "counter",
           "Reservations that ended because the job's time-to-run ran out.", ss->job_timeouts);
}

static void format_commands(writer *w, const synqd_counters *c)
{
    family(w, "synq_commands_total", "counter",
           "Protocol commands received, as the cmd-* counters of stats.");
    for (int t = 0; t < CMD_COUNT_; t++) {
        const char *name = proto_cmd_stat_name((proto_cmd_type)t);
        if (name && strncmp(name, "cmd-", 4) == 0)
            metric_labelled(w, "synq_commands_total", "cmd", name + 4, c->cmd_counts[t]);
    }
}

static void format_clients(writer *w, const synqd_counters *c, const store_stats *ss)
{
    metric(w, "synq_connections", "gauge", "Open protocol connections.", c->current_connections);
    metric(w, "synq_connections_total", "counter", "Protocol connections accepted.",
           c->total_connections);
    metric(w, "synq_producers", "gauge", "Open connections that have issued a put.",
           c->current_producers);
    metric(w, "synq_workers", "gauge", "Open connections that have issued a reserve.",
           c->current_workers);
    metric(w, "synq_waiting", "gauge", "Connections waiting in reserve for a job.", ss->waiting);
    metric(w, "synq_tubes", "gauge", "Tubes that exist.", ss->tubes);
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
    metric(w, "synq_malloc_trims_total", "counter",
           "Times freed heap memory was given back to the kernel after many tubes or "
           "connections went away.",
           o->malloc_trims);
}

static void format_binlog(writer *w, const synqd_binlog_stats *bs)
{
    metric(w, "synq_binlog_records_written_total", "counter",
           "Records appended to the write-ahead log.", bs->records_written);
    metric(w, "synq_binlog_records_migrated_total", "counter",
           "Records rewritten into newer segments by compaction.", bs->records_migrated);
    family(w, "synq_binlog_bytes", "gauge",
           "Bytes in log segments: live records still needed, dead ones awaiting compaction.");
    metric_labelled(w, "synq_binlog_bytes", "kind", "live", bs->bytes_live);
    metric_labelled(w, "synq_binlog_bytes", "kind", "dead", bs->bytes_dead);
    metric(w, "synq_binlog_fsyncs_total", "counter", "fdatasync calls made by the log.",
           bs->fsyncs);
    metric(w, "synq_binlog_current_index", "gauge", "Index of the segment being appended to.",
           bs->current_index);
    metric(w, "synq_binlog_oldest_index", "gauge", "Index of the oldest segment kept.",
           bs->oldest_index);
}

/* The families whose samples are one per tube, in document order; synq_tube_jobs has five
 * samples per tube (one per state), the others one. */
static const struct {
    const char *name, *type, *help;
} tube_families[] = {
    {"synq_tube_jobs", "gauge", "Jobs in the tube by state (urgent is a subset of ready)."},
    {"synq_tube_paused", "gauge", "1 while the tube is paused (pause-tube), else 0."},
    {"synq_tube_waiting", "gauge", "Connections waiting in reserve on the tube."},
    {"synq_tube_jobs_total", "counter", "Jobs put into the tube since it was created."},
};

static void tube_lines(writer *w, const store *st, const tube *t, int fam)
{
    static const char *const states[] = {"ready", "reserved", "delayed", "buried", "urgent"};
    tube_stats ts;
    tube_get_stats(st, t, &ts);
    if (fam == 0) {
        const uint64_t counts[] = {ts.ready, ts.reserved, ts.delayed, ts.buried, ts.urgent};
        for (size_t k = 0; k < sizeof states / sizeof states[0]; k++) {
            label l[2] = {{"tube", ts.name, ts.name_len}, {"state", states[k], strlen(states[k])}};
            sample(w, tube_families[0].name, l, 2, counts[k]);
        }
        return;
    }
    uint64_t v = fam == 1 ? (ts.pause_s > 0) : fam == 2 ? ts.waiting : ts.total_jobs;
    label l = {"tube", ts.name, ts.name_len};
    sample(w, tube_families[fam].name, &l, 1, v);
}

static void format_global(writer *w, server *srv, uint32_t max_tubes)
{
    synqd_snapshot snap;
    server_snapshot(srv, &snap);
    const store *st = server_store(srv);
    store_stats ss;
    store_get_stats(st, &ss);

    format_jobs(w, &ss);
    format_commands(w, &snap.counters);
    format_clients(w, &snap.counters, &ss);
    format_overload(w, &snap.counters, &snap.overload);
    metric(w, "synq_metrics_tubes_omitted", "gauge",
           "Tubes left out of this scrape's per-tube series by --metrics-max-tubes.",
           max_tubes && ss.tubes > max_tubes ? ss.tubes - max_tubes : 0);
    metric(w, "synq_uptime_seconds", "gauge", "Seconds since the server started.", snap.uptime_s);
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
    /* The log's families exist only with -b, as its fields in `stats`: a
     * zero would read as "a log that never wrote", which is a different
     * thing from "no log". */
    if (snap.has_log)
        format_binlog(w, &snap.binlog);
}

void metrics_doc_begin(metrics_doc *d, server *srv, uint32_t max_tubes)
{
    memset(d, 0, sizeof *d);
    d->srv = srv;
    d->max_tubes = max_tubes;
    d->part = PART_GLOBAL;
}

/* One slice of the current tube family. Returns true when the family is complete. */
static bool tube_family_slice(metrics_doc *d, writer *w, size_t stop_bytes)
{
    const store *st = server_store(d->srv);
    int fam = d->part - PART_TUBE_FIRST;
    uint32_t slots_left = METRICS_DOC_SLOTS_PER_CALL;
    while (!w->err && sq_buf_len(w->out) < stop_bytes) {
        if (d->max_tubes && d->reported >= d->max_tubes)
            return true;
        const tube *t = store_tube_scan_next(st, &d->scan, &slots_left);
        if (!t)
            return store_tube_scan_done(&d->scan);
        tube_lines(w, st, t, fam);
        d->reported++;
    }
    return false;
}

int metrics_doc_next(metrics_doc *d, sq_buf *out, size_t stop_bytes)
{
    writer w = {out, 0};
    if (d->part == PART_GLOBAL) {
        format_global(&w, d->srv, d->max_tubes);
        d->part = PART_TUBE_FIRST;
        d->reported = 0;
        store_tube_scan_begin(server_store(d->srv), &d->scan);
        family(&w, tube_families[0].name, tube_families[0].type, tube_families[0].help);
    }
    while (!w.err && d->part < PART_DONE && sq_buf_len(out) < stop_bytes) {
        if (!tube_family_slice(d, &w, stop_bytes))
            break; /* out is full enough, or this call's slots are spent */
        if (++d->part == PART_DONE)
            break;
        /* Every family walks from the same begin, so "created after the begin" means the
         * same moment for all four. */
        store_tube_scan_restart(&d->scan);
        d->reported = 0;
        int f = d->part - PART_TUBE_FIRST;
        family(&w, tube_families[f].name, tube_families[f].type, tube_families[f].help);
    }
    if (w.err)
        return w.err;
    return d->part == PART_DONE ? 0 : 1;
}

int metrics_format(server *srv, uint32_t max_tubes, sq_buf *out)
{
    metrics_doc d;
    metrics_doc_begin(&d, srv, max_tubes);
    int r;
    while ((r = metrics_doc_next(&d, out, SIZE_MAX)) > 0)
        ;
    return r;
}
