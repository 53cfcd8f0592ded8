/*
 * synq-bench's report: the human summary ending in the RESULT line, or with
 * --json one JSON object with the same figures (and the run's parameters)
 * for scripts that would rather not parse text. Latencies are microseconds
 * from the histograms' nanoseconds; the RESULT percentiles and the JSON's
 * "latency_us" are over every timed command, "job_latency_us" over whole
 * jobs (from the chain's first send, or its scheduled time under --rate, to
 * its last reply).
 */
#include <stdio.h>

#include "synq/version.h"

#include "bench.h"

static double run_secs(const bench *b)
{
    return b->started && b->end_ns > b->start_ns ? (double)(b->end_ns - b->start_ns) / 1e9 : 0.0;
}

/* Jobs that were due under --rate but never sent: a backlog the server (or
 * -c x -P slots) could not take. */
static uint64_t backlog(const bench *b)
{
    uint64_t due = b->rate_per_s > 0 ? bench_jobs_due(b, b->end_ns) : 0;
    return due > b->paced ? due - b->paced : 0;
}

static void json_latency(FILE *f, const hist *h)
{
    fprintf(f,
            "{\"count\": %llu, \"mean\": %.1f, \"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, "
            "\"p999\": %.1f, \"max\": %.1f}",
            (unsigned long long)h->count, hist_mean(h) / 1e3, (double)hist_percentile(h, 50) / 1e3,
            (double)hist_percentile(h, 90) / 1e3, (double)hist_percentile(h, 99) / 1e3,
            (double)hist_percentile(h, 99.9) / 1e3, (double)hist_percentile(h, 100) / 1e3);
}

/* Tube names are 1..200 bytes without blanks or CR/LF (parse_tubes), but
 * may hold '"' or '\\' or other bytes, so they are escaped. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void report_json(const bench *b, const hist *all, double secs)
{
    FILE *f = stdout;
    fprintf(f, "{\"tool\": \"synq-bench\", \"version\": \"%s\", \"workload\": \"%s\", \"host\": ",
            SYNQ_VERSION, workload_names[b->workload]);
    json_str(f, b->host);
    fprintf(f, ", \"port\": %u, \"conns\": %u, \"pipeline\": %u, \"body_bytes\": %zu, \"tubes\": [",
            b->port, b->conns, b->pipeline, b->body_bytes);
    for (unsigned i = 0; i < b->ntubes; i++) {
        if (i)
            fputs(", ", f);
        json_str(f, b->tubes[i]);
    }
    fputs("], ", f);
    if (b->total_jobs)
        fprintf(f, "\"total_jobs\": %llu, ", (unsigned long long)b->total_jobs);
    else
        fprintf(f, "\"duration_s\": %g, ", b->duration_s);
    if (b->rate_per_s > 0)
        fprintf(f, "\"rate_per_s\": %.0f, ", b->rate_per_s);
    else
        fputs("\"rate_per_s\": null, ", f);
    double jobs_per_s = secs > 0 ? (double)b->jobs / secs : 0.0;
    fprintf(f,
            "\"jobs\": %llu, \"secs\": %.3f, \"jobs_per_s\": %.1f, \"ops\": %llu, "
            "\"ops_per_s\": %.1f, \"achieved_per_s\": %.1f, \"backlog\": %llu, "
            "\"pace_late_max_us\": %.1f, \"latency_us\": ",
            (unsigned long long)b->jobs, secs, jobs_per_s, (unsigned long long)b->ops,
            secs > 0 ? (double)b->ops / secs : 0.0, jobs_per_s, (unsigned long long)backlog(b),
            (double)b->pace_late_max_ns / 1e3);
    json_latency(f, all);
    fputs(", \"job_latency_us\": ", f);
    json_latency(f, &b->job_hist);
    fputs(", \"commands\": {", f);
    for (unsigned k = OP_FIRST_TIMED, first = 1; k < OP_KINDS; k++) {
        if (b->op_hist[k].count == 0)
            continue;
        fprintf(f, "%s\"%s\": ", first ? "" : ", ", op_names[k]);
        json_latency(f, &b->op_hist[k]);
        first = 0;
    }
    fprintf(f, "}, \"tls\": %s, \"tls_resumed\": %llu, \"errors\": %llu}\n",
            b->tls ? "true" : "false", (unsigned long long)b->tls_resumed,
            (unsigned long long)b->errors.count);
}

void bench_report(const bench *b)
{
    double secs = run_secs(b);
    hist all;
    hist_init(&all);
    for (unsigned k = OP_FIRST_TIMED; k < OP_KINDS; k++)
        hist_merge(&all, &b->op_hist[k]);
    if (b->json) {
        report_json(b, &all, secs);
        return;
    }
    printf("synq-bench: %s on %s:%u, %u conns, pipeline %u, body %zu bytes, %u tube(s)",
           workload_names[b->workload], b->host, b->port, b->conns, b->pipeline, b->body_bytes,
           b->ntubes);
    if (b->rate_per_s > 0)
        printf(", open loop at %.0f jobs/s", b->rate_per_s);
    putchar('\n');
    for (unsigned k = OP_FIRST_TIMED; k < OP_KINDS; k++)
        lg_print_latency_line(stdout, op_names[k], &b->op_hist[k]);
    lg_print_latency_line(stdout, "all commands", &all);
    lg_print_latency_line(stdout, "job", &b->job_hist);
    printf("RESULT workload=%s conns=%u pipeline=%u body=%zu jobs=%llu secs=%.2f "
           "jobs_per_s=%.1f ops=%llu ops_per_s=%.1f",
           workload_names[b->workload], b->conns, b->pipeline, b->body_bytes,
           (unsigned long long)b->jobs, secs, secs > 0 ? (double)b->jobs / secs : 0.0,
           (unsigned long long)b->ops, secs > 0 ? (double)b->ops / secs : 0.0);
    lg_print_percentiles(stdout, &all);
    printf(" errors=%llu", (unsigned long long)b->errors.count);
    if (b->rate_per_s > 0)
        printf(" rate=%.0f achieved_per_s=%.1f backlog=%llu", b->rate_per_s,
               secs > 0 ? (double)b->jobs / secs : 0.0, (unsigned long long)backlog(b));
    if (b->tls)
        printf(" tls_resumed=%llu", (unsigned long long)b->tls_resumed);
    putchar('\n');
}
